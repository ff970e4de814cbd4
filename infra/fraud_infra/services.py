"""The native stack's declarative service list (``infra/native/services.yaml``)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fraud_infra.envfiles import parse_env_file

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand(text: str, env: Mapping[str, str]) -> str:
    """Substitute ``${VAR}`` and ``${VAR:-default}`` (compose's syntax); an unknown
    variable without a default is an error, never an empty string."""

    def sub(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name not in env and default is not None:
            return default
        if name not in env:
            raise KeyError(f"variable ${{{name}}} is not defined (versions.env, .env or stack)")
        return env[name]

    return _VAR.sub(sub, text)


@dataclass(frozen=True)
class Readiness:
    kind: str  # "tcp" | "http" | "cmd"
    target: str


@dataclass(frozen=True)
class Service:
    name: str
    command: str
    ready: Readiness
    groups: tuple[str, ...] = ()
    install: str | None = None
    setup: str | None = None
    init: str | None = None
    user: str | None = None
    ports: tuple[int, ...] = ()
    depends_on: tuple[str, ...] = ()
    timeout: float = 60.0
    stopsignal: str = "TERM"
    url: str | None = None
    environment: Mapping[str, str] = field(default_factory=dict)


def _service(name: str, raw: Mapping[str, Any], env: Mapping[str, str]) -> Service:
    ready_raw = raw["ready"]
    if not isinstance(ready_raw, dict) or len(ready_raw) != 1:
        raise ValueError(f"{name}: ready must be one of {{tcp|http|cmd: ...}}")
    kind, target = next(iter(ready_raw.items()))
    if kind not in {"tcp", "http", "cmd"}:
        raise ValueError(f"{name}: unknown readiness kind {kind!r}")

    def opt(key: str) -> str | None:
        value = raw.get(key)
        return expand(str(value), env) if value is not None else None

    return Service(
        name=name,
        command=expand(str(raw["command"]), env),
        ready=Readiness(kind, expand(str(target), env)),
        groups=tuple(raw.get("groups", ())),
        install=opt("install"),
        setup=opt("setup"),
        init=opt("init"),
        user=raw.get("user"),
        ports=tuple(int(p) for p in raw.get("ports", ())),
        depends_on=tuple(raw.get("depends_on", ())),
        timeout=float(raw.get("timeout", 60)),
        stopsignal=str(raw.get("stopsignal", "TERM")),
        url=opt("url"),
        environment=_environment(raw, env),
    )


def _environment(raw: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, str]:
    """``env_file`` (shared with compose) overlaid by ``environment``."""
    values: dict[str, str] = {}
    if raw.get("env_file"):
        path = Path(env.get("REPO", ".")) / str(raw["env_file"])
        values.update(parse_env_file(path))
    values.update({k: expand(str(v), env) for k, v in raw.get("environment", {}).items()})
    return values


def load_services(path: Path, env: Mapping[str, str]) -> dict[str, Service]:
    """Parse and validate the service list: unknown dependencies and cycles are errors."""
    doc = yaml.safe_load(path.read_text())
    services = {name: _service(name, raw, env) for name, raw in doc["services"].items()}
    for svc in services.values():
        for dep in svc.depends_on:
            if dep not in services:
                raise ValueError(f"{svc.name} depends on unknown service {dep!r}")
    start_order(services, services)  # raises on cycles
    return services


def start_order(services: Mapping[str, Service], wanted: Iterable[str]) -> list[str]:
    """Dependencies first (depth-first topological order) for the wanted services."""
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in order:
            return
        if name in visiting:
            raise ValueError(f"dependency cycle through {name!r}")
        visiting.add(name)
        for dep in services[name].depends_on:
            visit(dep)
        visiting.discard(name)
        order.append(name)

    for name in wanted:
        visit(name)
    return order


def select(services: Mapping[str, Service], names: Iterable[str]) -> list[str]:
    """Resolve service and group names to services (with their dependencies), in order."""
    chosen: list[str] = []
    for name in names:
        if name in services:
            chosen.append(name)
            continue
        members = [s.name for s in services.values() if name in s.groups]
        if not members:
            raise KeyError(f"no service or group named {name!r}; known: {', '.join(services)}")
        chosen += members
    return start_order(services, chosen)
