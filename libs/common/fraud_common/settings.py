"""Connection settings of the platform's engines, read from the environment.

The endpoint defaults every component's settings start from, and
:class:`PlatformSettings`, the settings of tools that talk to several engines at once
(the launcher's init jobs, dbt's wrapper, tests). Defaults are the native stack's
loopback addresses from the service map; compose overrides the hosts through
environment variables. Secrets have no defaults.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from fraud_contracts.names import TOPIC_DLQ, TOPIC_LABELS, TOPIC_RAW

#: Defaults shared by every component's settings: the native stack's loopback addresses
#: from the service map.
KAFKA_BOOTSTRAP_SERVERS = "127.0.0.1:9092"
SCHEMA_REGISTRY_URL = "http://127.0.0.1:8081/apis/ccompat/v7"
S3_ENDPOINT_URL = "http://127.0.0.1:9000"


class PlatformSettings(BaseSettings):
    """Endpoints and credentials of Kafka, the registry, S3, Postgres, Redis and Trino."""

    # The process environment wins; ``.env`` of the working directory (the repository's,
    # written by ``make init``) fills in the rest, so commands run from a plain shell.
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    kafka_bootstrap_servers: str = KAFKA_BOOTSTRAP_SERVERS
    kafka_topic_raw: str = TOPIC_RAW
    kafka_topic_dlq: str = TOPIC_DLQ
    kafka_topic_labels: str = TOPIC_LABELS
    kafka_raw_partitions: int = Field(default=10, ge=1)

    schema_registry_url: str = SCHEMA_REGISTRY_URL

    s3_endpoint_url: str = S3_ENDPOINT_URL
    s3_access_key: SecretStr
    s3_secret_key: SecretStr
    s3_bucket: str = "fraud-platform"
    s3_region: str = "us-east-1"

    postgres_host: str = "127.0.0.1"
    postgres_port: int = 5432
    postgres_user: str = "postgres"
    postgres_password: SecretStr

    redis_host: str = "127.0.0.1"
    redis_port: int = 6379
    redis_password: SecretStr

    trino_host: str = "127.0.0.1"
    trino_port: int = 8085
    trino_catalog: str = "delta"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> PlatformSettings:
        """Settings from an explicit mapping (e.g. the native stack's environment), not
        from the process environment or ``.env``."""
        fields = cls.model_fields
        return cls.model_validate({k.lower(): v for k, v in env.items() if k.lower() in fields})

    def postgres_dsn(
        self, dbname: str = "postgres", user: str | None = None, password: str | None = None
    ) -> str:
        """A libpq connection string (key=value form, so no URL escaping is needed)."""
        pw = password if password is not None else self.postgres_password.get_secret_value()
        return (
            f"host={self.postgres_host} port={self.postgres_port} dbname={dbname} "
            f"user={user or self.postgres_user} password={pw} connect_timeout=5"
        )
