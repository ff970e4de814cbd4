"""The live scorer goes on past records it cannot score (issue 17: bad data loses nothing
and stops nothing).

In CI a NaN amount on ``transactions.raw`` (valid Avro, bound for the DLQ) made
``requests`` refuse to serialise the body; the scorer took that for "API unreachable",
restarted from its last commit and hit the same record again, so live scoring stalled
until the test ended. These tests feed the scorer real wire-format records (the
contract's encoder and schema) with a fake API.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from prometheus_client import REGISTRY

from fraud_contracts.avro import Transaction, encode, transaction_schema
from fraud_testing.wire import FOREIGN_SCHEMAS, sample_transaction
from serving.live_scorer import LiveScorer, LiveScorerSettings, request_body, request_payload

pytestmark = pytest.mark.unit

SCHEMA_ID = 7


def transaction(**changes: Any) -> Transaction:
    return sample_transaction(**changes)  # type: ignore[return-value]


class FakeMessage:
    def __init__(self, value: bytes, offset: int) -> None:
        self._value, self._offset = value, offset

    def value(self) -> bytes:
        return self._value

    def offset(self) -> int:
        return self._offset


class FakeResponse:
    def __init__(self, status_code: int, body: dict[str, Any]) -> None:
        self.status_code, self._body = status_code, body
        self.text = json.dumps(body)

    def json(self) -> dict[str, Any]:
        return self._body

    def raise_for_status(self) -> None:  # pragma: no cover - only for 5xx
        raise AssertionError("no 5xx expected")


class FakeApi:
    """Answers every ``/predict`` like the API does for a valid body."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    def post(self, url: str, *, data: bytes, headers: dict[str, str], timeout: float) -> Any:
        assert url.endswith("/predict")
        assert headers["Content-Type"] == "application/json"
        self.bodies.append(json.loads(data))
        return FakeResponse(200, {"risk_tier": "low"})


def scorer_with(api: FakeApi) -> LiveScorer:
    """A scorer without its Kafka consumer (``score`` is per message)."""
    scorer = object.__new__(LiveScorer)
    scorer.settings = LiveScorerSettings(api_url="http://api.invalid", metrics_port=0)
    scorer.lookup = {SCHEMA_ID: transaction_schema()}  # type: ignore[assignment]
    scorer.http = api  # type: ignore[assignment]
    return scorer


def count(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_request_body_carries_the_api_fields() -> None:
    body = request_body(transaction(channel="atm"))
    assert body["amount"] == 57.3
    assert body["event_time"].startswith("2026-")
    assert "channel" not in body  # the API scores an ATM withdrawal without a channel
    assert json.loads(request_payload(transaction())) == request_body(transaction())


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"amount": math.nan}, "Out of range float"),
        ({"amount": math.inf}, "Out of range float"),
        ({"amount": -math.inf}, "Out of range float"),
        ({"event_time": 2**62}, "event_time"),
    ],
    ids=["nan-amount", "inf-amount", "minus-inf-amount", "event-time-past-the-calendar"],
)
def test_a_record_without_a_json_form_has_no_payload(changes: dict[str, Any], why: str) -> None:
    with pytest.raises(ValueError, match=why):
        request_payload(transaction(**changes))


def test_the_scorer_counts_an_unscorable_record_and_scores_the_next_one() -> None:
    api = FakeApi()
    scorer = scorer_with(api)
    schema = transaction_schema()
    rejected = count("fraud_live_scorer_rejected_total", reason="not_scorable")
    scored = count("fraud_live_scorer_scored_total", risk_tier="low")
    stream = [
        encode(transaction(transaction_id="a", amount=math.nan), schema, SCHEMA_ID),
        encode(transaction(transaction_id="b", amount=math.inf), schema, SCHEMA_ID),
        b'{"not": "avro"}',
        encode(transaction(transaction_id="c"), schema, SCHEMA_ID),
    ]
    for offset, value in enumerate(stream):
        scorer.score(FakeMessage(value, offset))  # type: ignore[arg-type]

    assert [b["transaction_id"] for b in api.bodies] == ["c"]
    assert count("fraud_live_scorer_rejected_total", reason="not_scorable") - rejected == 2
    assert count("fraud_live_scorer_scored_total", risk_tier="low") - scored == 1


#: valid Avro records that are not transactions: foreign ones, and the transaction's own
#: schema with an amount that is always null
NOT_TRANSACTIONS: list[dict[str, Any]] = [
    *FOREIGN_SCHEMAS,
    {
        "type": "record",
        "name": "NullAmount",
        "fields": [
            *[f for f in transaction_schema()["fields"] if f["name"] != "amount"],
            {"name": "amount", "type": "null"},
        ],
    },
]


def test_records_of_other_schemas_are_counted_and_the_next_transaction_is_scored() -> None:
    """A fraud label sent to the raw topic once stopped live scoring for good (KeyError
    'amount', and a restart met the same record): every valid record of another schema,
    random ones included, is counted and passed over."""
    from fastavro import parse_schema
    from fastavro.utils import generate_many

    from fraud_contracts.avro import fraud_label_schema

    api = FakeApi()
    scorer = scorer_with(api)
    schemas = {SCHEMA_ID + 1: fraud_label_schema()}
    schemas.update(
        {SCHEMA_ID + 2 + i: parse_schema(schema) for i, schema in enumerate(NOT_TRANSACTIONS)}
    )
    scorer.lookup = {SCHEMA_ID: transaction_schema(), **schemas}  # type: ignore[assignment]
    stream = [
        encode(record, schema, schema_id)
        for schema_id, schema in schemas.items()
        for record in generate_many(schema, 20)
    ]
    stream.append(encode({**transaction(transaction_id="ok")}, transaction_schema(), SCHEMA_ID))
    before = count("fraud_live_scorer_rejected_total", reason="not_a_transaction")
    for offset, value in enumerate(stream):
        scorer.score_or_skip(FakeMessage(value, offset))  # type: ignore[arg-type]

    assert [b["transaction_id"] for b in api.bodies] == ["ok"]
    rejected = count("fraud_live_scorer_rejected_total", reason="not_a_transaction") - before
    assert rejected == len(stream) - 1


def test_random_transactions_are_scored_or_counted_never_raised() -> None:
    from fastavro.utils import generate_many

    api = FakeApi()
    scorer = scorer_with(api)
    reasons = ("not_a_transaction", "not_scorable", "error")
    before = sum(count("fraud_live_scorer_rejected_total", reason=r) for r in reasons)
    records = list(generate_many(transaction_schema(), 200))
    for offset, record in enumerate(records):
        value = encode(record, transaction_schema(), SCHEMA_ID)
        scorer.score_or_skip(FakeMessage(value, offset))  # type: ignore[arg-type]
    after = sum(count("fraud_live_scorer_rejected_total", reason=r) for r in reasons)
    assert len(api.bodies) + (after - before) == len(records)


def test_an_unforeseen_failure_skips_the_record_and_an_unreachable_api_still_stops() -> None:
    import requests

    class Broken(FakeApi):
        def post(self, url: str, **kwargs: Any) -> Any:
            raise self.error

    api = Broken()
    scorer = scorer_with(api)
    value = encode(transaction(), transaction_schema(), SCHEMA_ID)
    before = count("fraud_live_scorer_rejected_total", reason="error")
    api.error = RuntimeError("a bug")  # type: ignore[attr-defined]
    scorer.score_or_skip(FakeMessage(value, 0))  # type: ignore[arg-type]
    assert count("fraud_live_scorer_rejected_total", reason="error") - before == 1
    api.error = requests.ConnectionError("down")  # type: ignore[attr-defined]
    with pytest.raises(requests.ConnectionError):  # resumed from the last commit by main()
        scorer.score_or_skip(FakeMessage(value, 1))  # type: ignore[arg-type]
