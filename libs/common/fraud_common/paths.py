"""Where the repository checkout and the download cache are.

The cache (downloads, keyed by version) is outside the repository so that a fresh clone
reuses it. Services never need either when their configuration comes from the
environment; these are the defaults for running from a checkout.
"""

from __future__ import annotations

import os
from pathlib import Path


def repo_root() -> Path:
    """The repository root: ``FRAUD_REPO`` or the ancestor holding ``versions.env``."""
    env = os.environ.get("FRAUD_REPO")
    if env:
        return Path(env).resolve()
    for start in (Path(__file__).resolve(), Path.cwd()):
        for parent in (start, *start.parents):
            if (parent / "versions.env").is_file():
                return parent
    raise RuntimeError("cannot find the repository root (no versions.env above here)")


def cache_dir() -> Path:
    """Download cache, shared by every clone: ``FRAUD_CACHE_DIR`` or ``~/.cache/fraud-platform``."""
    env = os.environ.get("FRAUD_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "fraud-platform"
