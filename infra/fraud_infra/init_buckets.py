"""Create the platform's bucket through the S3 API (never a vendor CLI), idempotently."""

from __future__ import annotations

import structlog
from botocore.exceptions import ClientError

from fraud_common.s3 import s3_client
from fraud_common.settings import PlatformSettings

log = structlog.get_logger(__name__)


def ensure_buckets(settings: PlatformSettings) -> dict[str, str]:
    client = s3_client(settings)
    bucket = settings.s3_bucket
    try:
        client.head_bucket(Bucket=bucket)
        state = "exists"
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") not in {"404", "NoSuchBucket", "NotFound"}:
            raise
        client.create_bucket(Bucket=bucket)
        state = "created"
    log.info("s3 bucket ready", bucket=bucket, state=state)
    return {bucket: state}
