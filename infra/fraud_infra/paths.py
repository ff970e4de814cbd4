"""Where the native stack's state lives (data, logs, sockets): one directory that
``make local-clean`` removes. The checkout and the download cache are
:mod:`fraud_common.paths`'s."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from fraud_common.paths import repo_root
from fraud_infra.envfiles import parse_env_file


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
            secret = parse_env_file(dotenv).get("POSTGRES_PASSWORD", "")
        digest = hashlib.sha256(f"{root}\0{secret}".encode()).hexdigest()[:8]
        return Path("/var/tmp/fraud-platform") / f"{root.name}-{digest}"
    return root / ".state"
