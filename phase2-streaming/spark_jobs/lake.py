"""Reading the bronze tables without Spark: delta-rs (the ``deltalake`` package) on S3.

delta-rs speaks S3 through the ``object_store`` crate: the options below point it at
the platform's store (path-style, plain HTTP on the loopback/compose network). Readers
need nothing else. A delta-rs *writer* on a store without conditional puts also needs
``AWS_S3_ALLOW_UNSAFE_RENAME`` (no concurrent writers then); bronze is written by Spark
only, so the option is set for completeness of local tools, not for the streaming job.
"""

from __future__ import annotations

from spark_jobs.settings import StreamingSettings


def delta_storage_options(settings: StreamingSettings) -> dict[str, str]:
    """``storage_options`` for ``deltalake.DeltaTable`` on the platform's S3 store."""
    return {
        "AWS_ENDPOINT_URL": settings.s3_endpoint_url,
        "AWS_ACCESS_KEY_ID": settings.s3_access_key.get_secret_value(),
        "AWS_SECRET_ACCESS_KEY": settings.s3_secret_key.get_secret_value(),
        "AWS_REGION": settings.s3_region,
        "AWS_ALLOW_HTTP": str(settings.s3_endpoint_url.startswith("http://")).lower(),
        "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": "false",
        "AWS_S3_ALLOW_UNSAFE_RENAME": "true",
    }


def delta_rs_uri(location: str) -> str:
    """The ``s3://`` URI delta-rs expects for a Spark ``s3a://`` location."""
    return "s3://" + location.removeprefix("s3a://") if location.startswith("s3a://") else location
