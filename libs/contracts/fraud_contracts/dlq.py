"""The DLQ record format, the same for every stage that routes a record to the DLQ.

A record on ``transactions.dlq`` carries, as value, the original bytes (or, when no
bytes existed, the producer's best-effort JSON of the record), and these headers, all
UTF-8 text:

=========================  =======================================================
``dlq.reason``             why: one reason code, or several comma-separated
                           (``schema_validation``, ``quality``, ``delivery_failed``,
                           ``not_avro``, ``unknown_schema_id``, ``undecodable``, or a
                           quality rule's name such as ``amount_not_positive_finite``)
``dlq.detail``             human-readable error text (at most 1,000 characters)
``dlq.stage``              who routed it: ``producer`` or ``streaming``
``dlq.source.topic``       the topic the record was meant for or read from
``dlq.timestamp``          when it was routed, milliseconds since the epoch
=========================  =======================================================

and, where the stage knows them, ``dlq.field`` (the schema field that did not fit),
``dlq.rules`` (the producer's failed quality rules), ``dlq.stream`` (the streaming job's
stream), ``dlq.source.partition``, ``dlq.source.offset``, ``dlq.source.timestamp`` (ms),
``dlq.schema_id``, ``dlq.batch_id`` and ``dlq.ingested_at`` (ms). The streaming job
keys its records ``<topic>:<partition>:<offset>`` of the source record (unique).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

REASON: Final = "dlq.reason"
DETAIL: Final = "dlq.detail"
STAGE: Final = "dlq.stage"
SOURCE_TOPIC: Final = "dlq.source.topic"
TIMESTAMP: Final = "dlq.timestamp"
#: headers every DLQ record carries
REQUIRED: Final = (REASON, DETAIL, STAGE, SOURCE_TOPIC, TIMESTAMP)

FIELD: Final = "dlq.field"
RULES: Final = "dlq.rules"
STREAM: Final = "dlq.stream"
SOURCE_PARTITION: Final = "dlq.source.partition"
SOURCE_OFFSET: Final = "dlq.source.offset"
SOURCE_TIMESTAMP: Final = "dlq.source.timestamp"
SCHEMA_ID: Final = "dlq.schema_id"
BATCH_ID: Final = "dlq.batch_id"
INGESTED_AT: Final = "dlq.ingested_at"

STAGE_PRODUCER: Final = "producer"
STAGE_STREAMING: Final = "streaming"
DETAIL_MAX_CHARS: Final = 1000


def headers(
    reason: str,
    detail: str,
    stage: str,
    source_topic: str,
    timestamp_ms: int,
    extra: Mapping[str, str] | None = None,
) -> list[tuple[str, bytes]]:
    """Kafka headers of one DLQ record (the required ones first, then ``extra``)."""
    values = {
        REASON: reason,
        DETAIL: detail[:DETAIL_MAX_CHARS],
        STAGE: stage,
        SOURCE_TOPIC: source_topic,
        TIMESTAMP: str(timestamp_ms),
        **(extra or {}),
    }
    return [(k, v.encode()) for k, v in values.items()]


def parse(raw: Iterable[tuple[str, bytes | None]] | None) -> dict[str, str]:
    """Headers of a consumed DLQ record as text; raises if a required one is missing."""
    out = {k: (v or b"").decode("utf-8", "replace") for k, v in raw or ()}
    missing = [name for name in REQUIRED if name not in out]
    if missing:
        raise ValueError(f"not a DLQ record of the platform: missing {', '.join(missing)}")
    return out


def reasons(parsed: Mapping[str, str]) -> list[str]:
    """The reason codes of a parsed record."""
    return [r for r in parsed[REASON].split(",") if r]
