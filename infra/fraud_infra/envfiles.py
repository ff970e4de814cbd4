"""Read ``versions.env`` and ``.env`` the way docker compose does (KEY=VALUE lines)."""

from __future__ import annotations

import os
from pathlib import Path

from fraud_common.paths import repo_root


def parse_env_file(path: Path) -> dict[str, str]:
    """Parse ``KEY=VALUE`` lines; blank lines and ``#`` comments are ignored."""
    values: dict[str, str] = {}
    for lineno, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if "=" not in line:
            raise ValueError(f"{path}:{lineno}: expected KEY=VALUE, got {raw!r}")
        key, value = line.split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def platform_env(require_dotenv: bool = True) -> dict[str, str]:
    """Versions, then ``.env``, then the process environment (highest precedence)."""
    root = repo_root()
    env = parse_env_file(root / "versions.env")
    dotenv = root / ".env"
    if dotenv.is_file():
        env.update(parse_env_file(dotenv))
    elif require_dotenv:
        raise FileNotFoundError(f"{dotenv} is missing: run `make init` first")
    env.update(os.environ)
    return env
