"""The SparkSession of the jobs, configured by ``infra/spark/spark-defaults.conf``.

The conf file is the single Spark configuration of both launchers. Natively, pyspark
starts ``spark-submit``, which reads ``$SPARK_CONF_DIR/spark-defaults.conf``; this module
points ``SPARK_CONF_DIR`` at ``infra/spark`` (unless already set, as in the compose
image) and adds only what depends on the environment: the master, the S3 endpoint and
keys, the Ivy cache directory and the Python of the workers.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import structlog
from pyspark.sql import SparkSession

from fraud_common.logs import configure_logging
from fraud_common.paths import repo_root
from spark_jobs.settings import StreamingSettings

log = structlog.get_logger(__name__)


def spark_conf_dir(settings: StreamingSettings) -> Path:
    """Directory holding spark-defaults.conf: setting, ``SPARK_CONF_DIR``, or the repo's."""
    if settings.spark_conf_dir:
        return Path(settings.spark_conf_dir)
    env = os.environ.get("SPARK_CONF_DIR")
    if env:
        return Path(env)
    return Path(repo_root()) / "infra" / "spark"


def runtime_conf(settings: StreamingSettings, conf_dir: Path) -> dict[str, str]:
    """Settings that depend on the environment (endpoints, secrets, cache paths)."""
    conf = {
        "spark.jars.ivy": settings.ivy_path(),
        "spark.jars.ivySettings": str(conf_dir / "ivysettings.xml"),
        "spark.pyspark.python": sys.executable,
        "spark.pyspark.driver.python": sys.executable,
        "spark.hadoop.fs.s3a.endpoint": settings.s3_endpoint_url,
        "spark.hadoop.fs.s3a.endpoint.region": settings.s3_region,
        "spark.hadoop.fs.s3a.access.key": settings.s3_access_key.get_secret_value(),
        "spark.hadoop.fs.s3a.secret.key": settings.s3_secret_key.get_secret_value(),
        "spark.hadoop.fs.s3a.connection.ssl.enabled": str(
            settings.s3_endpoint_url.startswith("https")
        ).lower(),
    }
    if settings.driver_host:
        conf["spark.driver.host"] = settings.driver_host
        conf["spark.driver.bindAddress"] = "0.0.0.0"  # noqa: S104 — inside its container
    return conf


def build_session(settings: StreamingSettings, app_name: str | None = None) -> SparkSession:
    """Create (or return the running) SparkSession for the jobs."""
    conf_dir = spark_conf_dir(settings)
    if not (conf_dir / "spark-defaults.conf").is_file():
        raise FileNotFoundError(f"{conf_dir}/spark-defaults.conf is missing")
    os.environ["SPARK_CONF_DIR"] = str(conf_dir)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    Path(settings.ivy_path()).mkdir(parents=True, exist_ok=True)
    builder = SparkSession.builder.appName(app_name or settings.app_name).master(settings.master)
    for key, value in runtime_conf(settings, conf_dir).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    log.info(
        "spark session ready",
        version=spark.version,
        master=settings.master,
        conf_dir=str(conf_dir),
        ui=spark.sparkContext.uiWebUrl,
    )
    return spark


def _packages(conf_dir: Path) -> str:
    """The ``spark.jars.packages`` line of spark-defaults.conf ("" without one)."""
    for line in (conf_dir / "spark-defaults.conf").read_text().splitlines():
        key, _, value = line.strip().partition(" ")
        if key == "spark.jars.packages":
            return value.strip()
    return ""


def resolved_marker(settings: StreamingSettings, conf_dir: Path) -> Path:
    """A file in the Ivy cache that says these exact packages were resolved there."""
    digest = hashlib.sha256(_packages(conf_dir).encode()).hexdigest()[:16]
    return Path(settings.ivy_path()) / f"resolved-{digest}"


def main() -> int:
    """``python -m spark_jobs.session``: resolve the connector jars into the Ivy cache.

    An install step: starts and stops a session, so that a first real start does not
    wait for Maven Central; once the packages of spark-defaults.conf are resolved (a
    marker in the cache, keyed by them), it returns at once.
    """
    configure_logging()
    settings = StreamingSettings()  # type: ignore[call-arg]  # secrets come from the env
    marker = resolved_marker(settings, spark_conf_dir(settings))
    if marker.is_file():
        log.info("connector jars already resolved", ivy=settings.ivy_path())
        return 0
    build_session(settings, app_name="fraud-jar-resolver").stop()
    marker.write_text(_packages(spark_conf_dir(settings)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
