"""S3 client for the platform's object store (s3proxy natively and in compose)."""

from __future__ import annotations

from typing import Any, Protocol

import boto3
from botocore.config import Config
from pydantic import SecretStr

from fraud_common.settings import PlatformSettings


class S3Settings(Protocol):
    """The S3 fields every component's settings carry (platform, streaming, ...)."""

    s3_endpoint_url: str
    s3_access_key: SecretStr
    s3_secret_key: SecretStr
    s3_region: str


def s3_client(settings: PlatformSettings) -> Any:
    """A boto3 S3 client with path-style addressing and short timeouts.

    Checksums are only sent when an operation requires them: recent AWS SDKs add
    CRC trailers by default, which S3-compatible stores such as s3proxy reject.
    """
    config = Config(
        s3={"addressing_style": "path"},
        connect_timeout=5,
        read_timeout=30,
        retries={"max_attempts": 3, "mode": "standard"},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        aws_access_key_id=settings.s3_access_key.get_secret_value(),
        aws_secret_access_key=settings.s3_secret_key.get_secret_value(),
        region_name=settings.s3_region,
        config=config,
    )


def delta_storage_options(settings: S3Settings) -> dict[str, str]:
    """``storage_options`` for delta-rs (``deltalake``) on the platform's S3 store.

    Path-style, plain HTTP on the loopback/compose network. A delta-rs *writer* on a
    store without conditional puts also needs ``AWS_S3_ALLOW_UNSAFE_RENAME`` (so: one
    writer per table at a time).
    """
    return {
        "AWS_ENDPOINT_URL": settings.s3_endpoint_url,
        "AWS_ACCESS_KEY_ID": settings.s3_access_key.get_secret_value(),
        "AWS_SECRET_ACCESS_KEY": settings.s3_secret_key.get_secret_value(),
        "AWS_REGION": settings.s3_region,
        "AWS_ALLOW_HTTP": str(settings.s3_endpoint_url.startswith("http://")).lower(),
        "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": "false",
        "AWS_S3_ALLOW_UNSAFE_RENAME": "true",
    }
