"""docker compose's own view of the compose file, without a Docker engine.

Both come from the Go module ``compose-go`` (the library behind ``docker compose``), at
one pinned version, and nothing of it is vendored:

- ``compose_spec_schema()``: the Compose Specification JSON schema, file
  ``schema/compose-spec.json`` of the module. ``go mod download -json`` fetches the module
  from the Go module proxy into the Go module cache (outside the repository, reused by
  every later run), verifies it against the Go checksum database and prints the directory
  it was unpacked to.
- ``compose_go_loader()``: a tiny program built against the same module that loads a
  project exactly as ``docker compose config`` does (env files, interpolation, schema,
  profiles and the semantic checks the schema cannot express). It is built once into the
  download cache, keyed by version.

Without a ``go`` command the checks fail with a message saying so; nothing is skipped.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fraud_common.paths import cache_dir

COMPOSE_GO_MODULE = "github.com/compose-spec/compose-go/v2"
#: A release the Go proxy serves (``go list -m -versions github.com/compose-spec/compose-go/v2``).
COMPOSE_GO_VERSION = "v2.16.2"
#: The module's go.sum hash; a different download is refused.
COMPOSE_GO_SUM = "h1:pTp1DqQwJzFd85GzlWsSszKA1ABrV/ySqsClujIcWA8="
SCHEMA_IN_MODULE = "schema/compose-spec.json"
DOWNLOAD_TIMEOUT_S = 600


class SchemaUnavailableError(RuntimeError):
    """The compose-go module (and so the schema or the loader) could not be obtained."""


def _go() -> str:
    go = shutil.which("go")
    if go is None:
        raise SchemaUnavailableError(
            "the `go` command is not on PATH: it is needed to fetch "
            f"{COMPOSE_GO_MODULE}@{COMPOSE_GO_VERSION} (Compose Specification schema and "
            "loader); install Go, e.g. apt-get install golang-go, or put /usr/local/go/bin "
            "on PATH"
        )
    return go


def _go_env() -> dict[str, str]:
    # Outside any Go module or workspace, so nothing of the repository is touched.
    return {**os.environ, "GO111MODULE": "on", "GOWORK": "off"}


@functools.cache
def compose_spec_path() -> Path:
    """Path of ``compose-spec.json`` inside the downloaded compose-go module."""
    go = _go()
    ref = f"{COMPOSE_GO_MODULE}@{COMPOSE_GO_VERSION}"
    env = _go_env()
    with tempfile.TemporaryDirectory(prefix="compose-schema-") as cwd:
        try:
            proc = subprocess.run(
                [go, "mod", "download", "-json", ref],
                cwd=cwd,
                env=env,
                capture_output=True,
                text=True,
                timeout=DOWNLOAD_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise SchemaUnavailableError(
                f"`go mod download {ref}` did not finish in {DOWNLOAD_TIMEOUT_S} s"
            ) from exc
    try:
        info: dict[str, Any] = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise SchemaUnavailableError(
            f"`go mod download -json {ref}` failed (exit {proc.returncode}): "
            f"{proc.stderr.strip() or proc.stdout.strip()}"
        ) from exc
    if info.get("Error") or proc.returncode != 0:
        raise SchemaUnavailableError(
            f"`go mod download -json {ref}` failed: {info.get('Error') or proc.stderr.strip()}"
        )
    if info.get("Sum") != COMPOSE_GO_SUM:
        raise SchemaUnavailableError(
            f"{ref} has checksum {info.get('Sum')!r}, expected {COMPOSE_GO_SUM!r}"
        )
    path = Path(info["Dir"]) / SCHEMA_IN_MODULE
    if not path.is_file():
        raise SchemaUnavailableError(f"{ref} has no {SCHEMA_IN_MODULE} (looked in {path})")
    return path


@functools.cache
def compose_spec_schema() -> dict[str, Any]:
    """The Compose Specification JSON schema (draft 2020-12) as a dict."""
    schema: dict[str, Any] = json.loads(compose_spec_path().read_text())
    return schema


# ------------------------------------------------------------------ loader
_LOADER_GO = """\
// Loads a compose project the way `docker compose config` does and prints its services.
package main

import (
\t"context"
\t"encoding/json"
\t"flag"
\t"fmt"
\t"os"
\t"strings"

\t"github.com/compose-spec/compose-go/v2/cli"
)

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func main() {
\tvar envFiles, profiles list
\tworkdir := flag.String("workdir", ".", "project directory")
\tflag.Var(&envFiles, "env-file", "env file (repeatable, later wins)")
\tflag.Var(&profiles, "profile", "profile to enable (repeatable)")
\tflag.Parse()
\topts, err := cli.NewProjectOptions(flag.Args(),
\t\tcli.WithWorkingDirectory(*workdir),
\t\tcli.WithEnvFiles(envFiles...),
\t\tcli.WithDotEnv,
\t\tcli.WithProfiles(profiles),
\t)
\tif err == nil {
\t\tvar out []byte
\t\tif p, lerr := opts.LoadProject(context.Background()); lerr != nil {
\t\t\terr = lerr
\t\t} else if out, err = json.Marshal(map[string]any{"services": p.ServiceNames()}); err == nil {
\t\t\tfmt.Println(string(out))
\t\t\treturn
\t\t}
\t}
\tfmt.Fprintln(os.Stderr, err)
\tos.Exit(1)
}
"""


@dataclass(frozen=True)
class LoadResult:
    """What compose-go made of a project: the enabled services, or its error."""

    ok: bool
    services: list[str]
    error: str


@functools.cache
def compose_go_loader() -> Path:
    """The loader binary, built once per compose-go version into the download cache."""
    go = _go()
    home: Path = cache_dir() / f"compose-go-loader-{COMPOSE_GO_VERSION}"
    binary = home / "compose-loader"
    if binary.is_file():
        return binary
    env = _go_env()
    with tempfile.TemporaryDirectory(prefix="compose-loader-") as tmp:
        src = Path(tmp)
        (src / "go.mod").write_text(
            f"module fraudplatform/composeloader\n\ngo 1.24\n\n"
            f"require {COMPOSE_GO_MODULE} {COMPOSE_GO_VERSION}\n"
        )
        (src / "main.go").write_text(_LOADER_GO)
        home.mkdir(parents=True, exist_ok=True)
        partial = home / f".compose-loader.{os.getpid()}"
        for cmd in ([go, "mod", "tidy"], [go, "build", "-o", str(partial), "."]):
            proc = subprocess.run(
                cmd,
                cwd=src,
                env=env,
                capture_output=True,
                text=True,
                timeout=DOWNLOAD_TIMEOUT_S,
                check=False,
            )
            if proc.returncode != 0:
                raise SchemaUnavailableError(
                    f"building the compose-go loader failed at `{' '.join(cmd[1:])}`: "
                    f"{proc.stderr.strip()}"
                )
        partial.replace(binary)
    return binary


def load_project(
    compose_file: Path, workdir: Path, env_files: Sequence[Path], profiles: Sequence[str]
) -> LoadResult:
    """Load a project with compose-go, as ``docker compose --env-file ... --profile ...``."""
    cmd = [str(compose_go_loader()), "-workdir", str(workdir)]
    for env_file in env_files:
        cmd += ["-env-file", str(env_file)]
    for profile in profiles:
        cmd += ["-profile", profile]
    cmd.append(str(compose_file))
    # An empty environment: only the env files count, as with a clean shell.
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False, env={})
    if proc.returncode != 0:
        return LoadResult(ok=False, services=[], error=proc.stderr.strip())
    services: list[str] = json.loads(proc.stdout)["services"]
    return LoadResult(ok=True, services=sorted(services), error="")
