"""A small client for the Confluent Schema Registry REST API.

The platform's registry (Apicurio natively and in compose, or Confluent's own) is
spoken to only through this API, so either implementation works. Retries on
connection errors and 5xx answers come from urllib3's ``Retry``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, cast

import requests
from fastavro import parse_schema
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
ParsedSchema = dict[str, Any]


class RegistryError(RuntimeError):
    """The registry answered with an error (status and message kept)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"schema registry answered {status}: {message}")
        self.status = status
        self.message = message


class SchemaRejectedError(RegistryError):
    """The registry refused a schema (incompatible with the subject's history, or invalid)."""


def _session(retries: int) -> requests.Session:
    session = requests.Session()
    retry = Retry(
        total=retries,
        connect=retries,
        read=retries,
        backoff_factor=0.3,
        status_forcelist=(500, 502, 503, 504),
        allowed_methods=frozenset({"GET", "POST", "PUT", "DELETE"}),
    )
    session.mount("http://", HTTPAdapter(max_retries=retry))
    session.mount("https://", HTTPAdapter(max_retries=retry))
    session.headers.update({"Content-Type": CONTENT_TYPE, "Accept": CONTENT_TYPE})
    return session


@dataclass
class SchemaRegistry:
    """Register, fetch and check Avro schemas by subject and id."""

    url: str
    timeout: float = 10.0
    retries: int = 5
    _http: requests.Session = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.url = self.url.rstrip("/")
        self._http = _session(self.retries)

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        resp = self._http.request(
            method,
            self.url + path,
            timeout=self.timeout,
            data=json.dumps(body) if body is not None else None,
        )
        if resp.status_code >= 400:
            try:
                message = str(resp.json().get("message", resp.text))
            except ValueError:
                message = resp.text
            error = SchemaRejectedError if resp.status_code in (409, 422) else RegistryError
            raise error(resp.status_code, message)
        return resp.json() if resp.content else None

    def set_compatibility(self, subject: str, level: str = "BACKWARD") -> None:
        self._call("PUT", f"/config/{subject}", {"compatibility": level})

    def register(self, subject: str, schema: str) -> int:
        """Register (or find) ``schema`` under ``subject``; returns its global id."""
        answer = self._call(
            "POST", f"/subjects/{subject}/versions", {"schema": schema, "schemaType": "AVRO"}
        )
        return int(answer["id"])

    def is_compatible(self, subject: str, schema: str) -> bool:
        answer = self._call(
            "POST",
            f"/compatibility/subjects/{subject}/versions/latest",
            {"schema": schema, "schemaType": "AVRO"},
        )
        return bool(answer.get("is_compatible"))

    def schema_by_id(self, schema_id: int) -> str:
        return str(self._call("GET", f"/schemas/ids/{schema_id}")["schema"])

    def versions(self, subject: str) -> list[int]:
        return [int(v) for v in self._call("GET", f"/subjects/{subject}/versions")]


class CachedSchemaLookup:
    """Parsed writer schemas by id, fetched once from the registry (ids are immutable).

    Usable as the ``schema_lookup`` of :func:`producer.avro.decode`: returns ``None``
    for an id the registry does not know (404), raises on other registry errors.
    """

    def __init__(self, registry: SchemaRegistry) -> None:
        self._registry = registry
        self._get = lru_cache(maxsize=1024)(self._fetch)

    def _fetch(self, schema_id: int) -> ParsedSchema | None:
        try:
            text = self._registry.schema_by_id(schema_id)
        except RegistryError as err:
            if err.status == 404:
                return None
            raise
        return cast(ParsedSchema, parse_schema(json.loads(text)))

    def __call__(self, schema_id: int) -> ParsedSchema | None:
        return self._get(schema_id)
