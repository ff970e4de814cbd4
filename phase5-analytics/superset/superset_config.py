"""Superset's configuration, shared by the native stack and compose.

Loaded by Superset (SUPERSET_CONFIG_PATH) inside its own environment, never by the
platform's. Every setting that differs between the launchers or is secret comes from
the environment (the native stack and compose both read ``.env``); a missing one stops
start-up with an error naming it.

Required:
    SUPERSET_SECRET_KEY     Flask secret key (signs sessions, encrypts connection secrets)
    SUPERSET_DB_PASSWORD    password of the ``superset`` role (metadata database)
Optional:
    SUPERSET_DB_HOST / SUPERSET_DB_PORT   metadata database server (127.0.0.1:5432)
    SUPERSET_HOME           state directory (uploads, the init's marker); Superset's default
    SUPERSET_WEBSERVER_PORT  port (8088)
"""

from __future__ import annotations

import os
from datetime import timedelta


def _required(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise RuntimeError(f"{name} is not set: run `make init` (it is generated into .env)")
    return value


SECRET_KEY = _required("SUPERSET_SECRET_KEY")
SQLALCHEMY_DATABASE_URI = "postgresql+psycopg2://superset:{password}@{host}:{port}/superset".format(
    password=_required("SUPERSET_DB_PASSWORD"),
    host=os.environ.get("SUPERSET_DB_HOST", "127.0.0.1"),
    port=os.environ.get("SUPERSET_DB_PORT", "5432"),
)
SQLALCHEMY_TRACK_MODIFICATIONS = False

# CSRF protection on every form and state-changing API call (the REST API takes the
# token from /api/v1/security/csrf_token/).
WTF_CSRF_ENABLED = True
WTF_CSRF_TIME_LIMIT = int(timedelta(hours=8).total_seconds())
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# Served over plain HTTP on 127.0.0.1 only (a reverse proxy would terminate TLS).
SESSION_COOKIE_SECURE = False
TALISMAN_ENABLED = True
TALISMAN_CONFIG = {
    "content_security_policy": {
        "base-uri": ["'self'"],
        "default-src": ["'self'"],
        "img-src": ["'self'", "blob:", "data:"],
        "worker-src": ["'self'", "blob:"],
        "connect-src": ["'self'"],
        "object-src": "'none'",
        "style-src": ["'self'", "'unsafe-inline'"],
        "script-src": ["'self'", "'strict-dynamic'"],
    },
    "content_security_policy_nonce_in": ["script-src"],
    "force_https": False,
    "session_cookie_secure": False,
}

SUPERSET_WEBSERVER_PORT = int(os.environ.get("SUPERSET_WEBSERVER_PORT", "8088"))
SUPERSET_WEBSERVER_TIMEOUT = 120
SQLLAB_TIMEOUT = 120
SQLLAB_ASYNC_TIME_LIMIT_SEC = 300
# No example data, no telemetry, no outbound calls.
SUPERSET_LOAD_EXAMPLES = False
SCARF_ANALYTICS = False
PREVENT_UNSAFE_DB_CONNECTIONS = False  # the platform's own Postgres, by design
ROW_LIMIT = 10000
SQL_MAX_ROW = 100000
DISPLAY_MAX_ROW = 10000

# Small in-process caches: one gunicorn worker pair, no Redis dependency for BI.
CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 300}
DATA_CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 60}
FILTER_STATE_CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 3600}
EXPLORE_FORM_DATA_CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 3600}
RATELIMIT_STORAGE_URI = "memory://"

FEATURE_FLAGS = {
    "DASHBOARD_RBAC": False,
    "ENABLE_TEMPLATE_PROCESSING": False,
}
