"""Reading the bronze tables without Spark: delta-rs (the ``deltalake`` package) on S3.

delta-rs speaks S3 through the ``object_store`` crate; the options that point it at the
platform's store are ``fraud_common.s3.delta_storage_options`` (shared with the tests and
benchmarks). Bronze is written by Spark only; delta-rs only reads it here.
"""

from __future__ import annotations

from fraud_common.s3 import delta_storage_options

__all__ = ["delta_rs_uri", "delta_storage_options"]


def delta_rs_uri(location: str) -> str:
    """The ``s3://`` URI delta-rs expects for a Spark ``s3a://`` location."""
    return "s3://" + location.removeprefix("s3a://") if location.startswith("s3a://") else location
