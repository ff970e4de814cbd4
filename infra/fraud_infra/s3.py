"""S3 client for the platform's object store (s3proxy natively and in compose)."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from fraud_infra.settings import PlatformSettings


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
