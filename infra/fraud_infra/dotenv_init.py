"""``make init``: write ``.env`` from ``.env.example`` with freshly generated secrets.

Every variable whose value is empty in ``.env.example`` is a secret and gets a new
random value. An existing ``.env`` is kept as it is; keys added to the example since
it was written are appended (secrets generated), so running this twice is harmless.
"""

from __future__ import annotations

import base64
import secrets
import string
import sys
from pathlib import Path

from fraud_common.paths import repo_root
from fraud_infra.envfiles import parse_env_file

_ALNUM = string.ascii_uppercase + string.digits


def generate_secret(name: str) -> str:
    """A random value of the shape the consuming engine expects for ``name``, never
    starting with ``-`` (a command line would read it as an option: ``airflow users
    reset-password --password -bJ4…`` failed in CI)."""
    while (value := _random_value(name)).startswith("-"):
        pass
    return value


def _random_value(name: str) -> str:
    if name.endswith("FERNET_KEY"):
        return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    if name == "S3_ACCESS_KEY":
        return "".join(secrets.choice(_ALNUM) for _ in range(20))
    if name.endswith("SECRET_KEY"):
        return secrets.token_urlsafe(42)
    return secrets.token_urlsafe(24)


def render(example: Path, existing: dict[str, str]) -> tuple[str, list[str]]:
    """The new ``.env`` text for ``example``; returns the text and the generated keys."""
    out: list[str] = []
    generated: list[str] = []
    for raw in example.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            out.append(raw)
            continue
        key, default = (part.strip() for part in line.split("=", 1))
        if key in existing:
            value = existing[key]
        elif default == "":
            value = generate_secret(key)
            generated.append(key)
        else:
            value = default
        out.append(f"{key}={value}")
    known = {ln.split("=", 1)[0].strip() for ln in out if "=" in ln and not ln.startswith("#")}
    extra = [f"{k}={v}" for k, v in existing.items() if k not in known]
    if extra:
        out += [
            "",
            "# ---------------------------------------------------------------- local additions",
        ]
        out += extra
    return "\n".join(out) + "\n", generated


def main() -> int:
    root = repo_root()
    example, target = root / ".env.example", root / ".env"
    existing = parse_env_file(target) if target.is_file() else {}
    text, generated = render(example, existing)
    if target.is_file() and target.read_text() == text:
        sys.stderr.write(".env is up to date\n")
        return 0
    target.write_text(text)
    target.chmod(0o600)
    sys.stderr.write(
        f"wrote {target.name}; generated {len(generated)} secret(s): "
        f"{', '.join(generated) or '-'}\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
