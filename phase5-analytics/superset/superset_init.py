"""Superset's init, after ``superset db upgrade`` and ``superset init`` (superset-init.sh).

Runs inside Superset's own environment (``python superset_init.py``), the same for the
native stack and compose, and is idempotent:

1. the admin (SUPERSET_ADMIN_USER / SUPERSET_ADMIN_PASSWORD) is created when missing; an
   existing one only gets its password reset when it no longer matches ``.env``;
2. the assets bundle (``assets/``: the two database connections, the datasets, charts and
   the three dashboards, Superset's v1 export format) is imported with overwrite, the
   connections' URIs rendered from the environment (TRINO_HOST/TRINO_PORT,
   POSTGRES_HOST/POSTGRES_PORT) and the read-only role's password
   (PREDICTIONS_READER_DB_PASSWORD) passed to the import. The import is skipped when the
   rendered bundle's digest equals the one recorded by the last import (a row of
   Superset's ``key_value`` store) and every dashboard of the bundle exists, so a re-run
   writes nothing.

A missing variable stops the init with its name.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ASSETS = Path(os.environ.get("SUPERSET_ASSETS_DIR", HERE / "assets"))
#: the key_value row recording the digest of the last imported bundle
DIGEST_KEY = uuid.uuid5(uuid.NAMESPACE_URL, "fraud-platform/superset/assets-digest")


def required(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        sys.exit(f"superset-init: {name} is not set (run `make init`; it lives in .env)")
    return value


def database_uris() -> dict[str, str]:
    """Database file stem -> the URI for this launcher (the password stays masked)."""
    trino = f"{os.environ.get('TRINO_HOST', '127.0.0.1')}:{os.environ.get('TRINO_PORT', '8085')}"
    pg = f"{os.environ.get('POSTGRES_HOST', '127.0.0.1')}:{os.environ.get('POSTGRES_PORT', '5432')}"
    return {
        "lakehouse_trino": f"trino://superset@{trino}/delta",
        "prediction_log": f"postgresql+psycopg2://predictions_reader:XXXXXXXXXX@{pg}/predictions",
    }


def rendered_bundle() -> dict[str, str]:
    """The bundle's files (path under the zip root -> YAML), URIs set for this launcher."""
    if not (ASSETS / "metadata.yaml").is_file():
        sys.exit(f"superset-init: no assets bundle in {ASSETS}")
    uris = database_uris()
    contents: dict[str, str] = {}
    for path in sorted(ASSETS.rglob("*.yaml")):
        rel = path.relative_to(ASSETS).as_posix()
        text = path.read_text()
        if rel.startswith("databases/"):
            config = yaml.safe_load(text)
            config["sqlalchemy_uri"] = uris[path.stem]
            text = yaml.safe_dump(config, sort_keys=False)
        contents[rel] = text
    return contents


def ensure_admin() -> str:
    from superset import db, security_manager
    from werkzeug.security import check_password_hash

    username = required("SUPERSET_ADMIN_USER")
    password = required("SUPERSET_ADMIN_PASSWORD")
    user = security_manager.find_user(username=username)
    if user is None:
        role = security_manager.find_role("Admin")
        created = security_manager.add_user(
            username, "Superset", "Admin", f"{username}@fraud-platform.local", role, password
        )
        if not created:
            sys.exit(f"superset-init: could not create the admin user {username}")
        db.session.commit()
        return "created"
    if not check_password_hash(user.password, password):
        security_manager.reset_password(user.id, password)
        db.session.commit()
        return "password reset"
    return "unchanged"


def _stored_digest() -> str | None:
    from superset import db
    from superset.key_value.models import KeyValueEntry

    entry = db.session.query(KeyValueEntry).filter_by(uuid=DIGEST_KEY).one_or_none()
    if entry is None:
        return None
    value = json.loads(entry.value)
    return str(value.get("digest"))


def _store_digest(digest: str) -> None:
    from superset import db
    from superset.key_value.models import KeyValueEntry

    entry = db.session.query(KeyValueEntry).filter_by(uuid=DIGEST_KEY).one_or_none()
    payload = json.dumps({"digest": digest}).encode()
    if entry is None:
        entry = KeyValueEntry(resource="app", uuid=DIGEST_KEY, value=payload)
        db.session.add(entry)
    else:
        entry.value = payload
    db.session.commit()


#: how the bundle is imported; part of the digest, so a change of it imports again
IMPORTER = "datasets, charts, then dashboards, overwriting"


def _subset(contents: dict[str, str], kinds: tuple[str, ...], kind: str) -> dict[str, str]:
    """The bundle's files of ``kinds`` as an export of ``kind`` (its metadata.yaml type)."""
    files = {p: t for p, t in contents.items() if p.split("/", 1)[0] in kinds}
    metadata = yaml.safe_load(contents["metadata.yaml"])
    files["metadata.yaml"] = yaml.safe_dump({**metadata, "type": kind})
    return files


def ensure_assets(contents: dict[str, str], password: str, username: str) -> str:
    from flask import g
    from superset import db, security_manager
    from superset.commands.chart.importers.dispatcher import ImportChartsCommand
    from superset.commands.dashboard.importers.dispatcher import ImportDashboardsCommand
    from superset.commands.dataset.importers.dispatcher import ImportDatasetsCommand
    from superset.models.dashboard import Dashboard

    digest = hashlib.sha256(
        json.dumps(contents, sort_keys=True).encode()
        + hashlib.sha256(password.encode()).digest()
        + IMPORTER.encode()
    ).hexdigest()
    wanted = {
        yaml.safe_load(text)["uuid"]
        for path, text in contents.items()
        if path.startswith("dashboards/")
    }
    present = {
        str(u) for (u,) in db.session.query(Dashboard.uuid).filter(Dashboard.uuid.in_(wanted))
    }
    if _stored_digest() == digest and present == wanted:
        return "unchanged"
    passwords = {path: password for path in contents if path == "databases/prediction_log.yaml"}
    g.user = security_manager.find_user(username=username)
    # A dashboard import never overwrites the datasets and charts it brings (Superset keeps
    # existing ones, in case other dashboards use them): import those first, overwriting,
    # so a changed dataset query or chart reaches a platform that imported an older bundle.
    ImportDatasetsCommand(
        _subset(contents, ("databases", "datasets"), "SqlaTable"),
        passwords=passwords,
        overwrite=True,
    ).run()
    ImportChartsCommand(
        _subset(contents, ("databases", "datasets", "charts"), "Slice"),
        passwords=passwords,
        overwrite=True,
    ).run()
    ImportDashboardsCommand(dict(contents), passwords=passwords, overwrite=True).run()
    _store_digest(digest)
    return "imported"


def main() -> int:
    password = required("PREDICTIONS_READER_DB_PASSWORD")
    username = required("SUPERSET_ADMIN_USER")
    required("SUPERSET_ADMIN_PASSWORD")
    contents = rendered_bundle()

    from superset.app import create_app

    app = create_app()
    with app.app_context():
        admin = ensure_admin()
        assets = ensure_assets(contents, password, username)
    counts: dict[str, Any] = {}
    for path in contents:
        kind = path.split("/", 1)[0]
        counts[kind] = counts.get(kind, 0) + 1
    print(f"superset-init: admin {username} {admin}; assets {assets} ({counts})")  # noqa: T201 - the init reports on stdout
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
