"""Where the repository, the download cache and the native stack's state live.

One rule for every tool: the cache (downloads, keyed by version) is outside the
repository so a fresh clone reuses it; the state (data, logs, sockets) is one
directory that ``make local-clean`` removes.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def repo_root() -> Path:
    """The repository root: ``FRAUD_REPO`` or the ancestor holding ``versions.env``."""
    env = os.environ.get("FRAUD_REPO")
    if env:
        return Path(env).resolve()
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "versions.env").is_file():
            return parent
    raise RuntimeError("cannot find the repository root (no versions.env above this file)")


def cache_dir() -> Path:
    """Download cache, shared by every clone: ``FRAUD_CACHE_DIR`` or ``~/.cache/fraud-platform``."""
    env = os.environ.get("FRAUD_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "fraud-platform"


def state_dir() -> Path:
    """The native stack's one state directory (data, logs, supervisor socket).

    ``FRAUD_STATE_DIR`` wins. Otherwise ``<repo>/.state``; when running as root the
    directory is placed under ``/var/tmp`` instead, because PostgreSQL refuses to run
    as root and the unprivileged ``postgres`` account usually cannot traverse a root
    home directory. The name keeps clones apart.
    """
    env = os.environ.get("FRAUD_STATE_DIR")
    if env:
        return Path(env)
    root = repo_root()
    if os.geteuid() == 0:
        # Keyed by the clone's path and its .env: data initialised with one set of
        # secrets (e.g. the PostgreSQL superuser password) is unusable with another, so
        # a fresh clone at a reused path (CI) must not inherit an older clone's state.
        dotenv = root / ".env"
        secret = ""
        if dotenv.is_file():
            from fraud_infra.envfiles import parse_env_file

            secret = parse_env_file(dotenv).get("POSTGRES_PASSWORD", "")
        digest = hashlib.sha256(f"{root}\0{secret}".encode()).hexdigest()[:8]
        return Path("/var/tmp/fraud-platform") / f"{root.name}-{digest}"
    return root / ".state"
