"""An Avro record through Kafka, its schema registered in the registry and read back by id."""

from __future__ import annotations

import json
import uuid

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from fraud_common.settings import PlatformSettings
from fraud_contracts.avro import decode, encode
from fraud_contracts.registry import CachedSchemaLookup, SchemaRegistry, SchemaRejectedError

pytestmark = pytest.mark.integration


def probe_schema(name: str, extra_fields: list[dict[str, object]] | None = None) -> str:
    fields: list[dict[str, object]] = [
        {"name": "id", "type": "string"},
        {"name": "amount", "type": "double"},
    ]
    return json.dumps(
        {
            "type": "record",
            "name": name,
            "namespace": "test.roundtrip",
            "fields": fields + (extra_fields or []),
        }
    )


def test_avro_record_round_trips_through_kafka_and_registry(settings: PlatformSettings) -> None:
    registry = SchemaRegistry(settings.schema_registry_url)
    run = uuid.uuid4().hex[:8]
    topic, subject = f"test.roundtrip.{run}", f"test.roundtrip.{run}-value"
    schema_text = probe_schema(f"Probe{run}")
    schema_id = registry.register(subject, schema_text)
    assert registry.versions(subject)  # the subject exists with at least one version
    assert registry.register(subject, schema_text) == schema_id  # idempotent

    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result()
    try:
        lookup = CachedSchemaLookup(registry)
        writer_schema = lookup(schema_id)
        assert writer_schema is not None
        record = {"id": run, "amount": 12.5}
        producer = Producer(
            {
                "bootstrap.servers": settings.kafka_bootstrap_servers,
                "enable.idempotence": True,
                "acks": "all",
            }
        )
        producer.produce(topic, key=run.encode(), value=encode(record, writer_schema, schema_id))
        assert producer.flush(15) == 0

        consumer = Consumer(
            {
                "bootstrap.servers": settings.kafka_bootstrap_servers,
                "group.id": f"roundtrip-{run}",
                "auto.offset.reset": "earliest",
            }
        )
        consumer.subscribe([topic])
        try:
            msg = None
            for _ in range(30):
                msg = consumer.poll(1.0)
                if msg is not None and msg.error() is None:
                    break
            assert msg is not None and msg.error() is None, "no message consumed within 30 s"
            value = msg.value()
            assert value is not None
            got_id, got = decode(value, CachedSchemaLookup(registry))  # fresh cache: by id
        finally:
            consumer.close()
        assert (got_id, got) == (schema_id, record)
        assert msg.key() == run.encode()
    finally:
        admin.delete_topics([topic])


def test_registry_enforces_backward_compatibility(settings: PlatformSettings) -> None:
    registry = SchemaRegistry(settings.schema_registry_url)
    run = uuid.uuid4().hex[:8]
    subject = f"test.compat.{run}-value"
    registry.set_compatibility(subject, "BACKWARD")
    registry.register(subject, probe_schema(f"Compat{run}"))
    with_default = probe_schema(
        f"Compat{run}", [{"name": "note", "type": ["null", "string"], "default": None}]
    )
    registry.register(subject, with_default)
    required = probe_schema(f"Compat{run}", [{"name": "must", "type": "string"}])
    with pytest.raises(SchemaRejectedError):
        registry.register(subject, required)
    assert len(registry.versions(subject)) == 2
