"""Create the platform's Kafka topics, idempotently."""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from confluent_kafka.admin import AdminClient, NewTopic

from fraud_common.settings import PlatformSettings
from fraud_contracts import online

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str]


def topic_specs(settings: PlatformSettings) -> list[TopicSpec]:
    """Raw transactions (keyed by user, 10 partitions), the DLQ and the labels topic.

    The raw topic keeps the online feature state's retention (fraud_contracts.online): the
    streaming feature job rebuilds the state from it after a wipe of Redis."""
    keep_forever = {"retention.ms": "-1"}
    return [
        TopicSpec(
            settings.kafka_topic_raw,
            settings.kafka_raw_partitions,
            {"retention.ms": str(online.RETENTION_MS)},
        ),
        TopicSpec(settings.kafka_topic_dlq, 3, keep_forever),
        TopicSpec(settings.kafka_topic_labels, 3, keep_forever),
    ]


def ensure_topics(settings: PlatformSettings, timeout: float = 30.0) -> dict[str, str]:
    """Create missing topics; report existing ones whose partition count differs."""
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    existing = admin.list_topics(timeout=timeout).topics
    done: dict[str, str] = {}
    missing: list[NewTopic] = []
    for spec in topic_specs(settings):
        if spec.name in existing:
            have = len(existing[spec.name].partitions)
            if have != spec.partitions:
                raise RuntimeError(
                    f"topic {spec.name} has {have} partitions, expected {spec.partitions}"
                )
            done[spec.name] = "exists"
        else:
            missing.append(
                NewTopic(
                    spec.name,
                    num_partitions=spec.partitions,
                    replication_factor=1,
                    config=spec.config,
                )
            )
    if missing:
        for name, future in admin.create_topics(missing, operation_timeout=timeout).items():
            future.result()
            done[name] = "created"
    for name, state in done.items():
        log.info("kafka topic ready", topic=name, state=state)
    return done
