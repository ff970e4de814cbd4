"""``fraud-init``: the initialisation shared by compose (one-shot jobs) and the native stack.

fraud-init postgres   roles + databases per component
fraud-init topics     Kafka topics
fraud-init buckets    S3 bucket
fraud-init trino      Trino schemas bronze/silver/gold (dbt registers the bronze tables)
fraud-init env        write .env with generated secrets (make init)
fraud-init jmx-agent  the JMX exporter java agent for compose's Kafka (jmx_agent.py)
fraud-init prometheus-config
                      the native Prometheus' configuration directory (init_prometheus.py)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from fraud_common.logs import configure_logging
from fraud_common.settings import PlatformSettings
from fraud_infra import dotenv_init, init_prometheus, jmx_agent
from fraud_infra.init_buckets import ensure_buckets
from fraud_infra.init_postgres import ensure_databases
from fraud_infra.init_topics import ensure_topics
from fraud_infra.init_trino import ensure_schemas


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="fraud-init", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "what",
        choices=[
            "postgres",
            "topics",
            "buckets",
            "trino",
            "all",
            "env",
            "jmx-agent",
            "prometheus-config",
        ],
    )
    args = parser.parse_args(argv)
    configure_logging()
    if args.what == "env":
        return dotenv_init.main()
    if args.what == "jmx-agent":
        return jmx_agent.main()
    if args.what == "prometheus-config":
        return init_prometheus.main()
    settings = PlatformSettings()  # type: ignore[call-arg]  # secrets come from the environment
    steps: dict[str, Callable[[PlatformSettings], dict[str, str]]] = {
        "postgres": ensure_databases,
        "topics": ensure_topics,
        "buckets": ensure_buckets,
        "trino": ensure_schemas,
    }
    chosen = list(steps) if args.what == "all" else [args.what]
    for name in chosen:
        steps[name](settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
