"""Malformed variants for the DLQ path: each kind fails where it should."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, date, datetime

import pytest

from fraud_contracts.avro import (
    NotAvroError,
    SchemaValidationError,
    Transaction,
    decode,
    encode,
    transaction_schema,
    validate,
)
from fraud_simulator.simulator import Simulator, to_millis
from producer.malformed import MALFORMED_KINDS, Malformed, Malformer, quality_problems

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def records() -> list[Transaction]:
    return [e.transaction for e in Simulator(11).day(date(2025, 4, 1))[:5_000]]


def _now() -> int:
    return to_millis(datetime.now(UTC))


def test_fraction_and_kinds(records: list[Transaction]) -> None:
    malformer = Malformer(seed=1, fraction=0.1)
    out = [m for r in records if (m := malformer.maybe(r)) is not None]
    assert 400 < len(out) < 600  # 10 % of 5,000
    kinds = {m.kind for m in out}
    assert kinds == set(MALFORMED_KINDS)
    assert all(Malformer(1, 0.0).maybe(r) is None for r in records[:500])
    only = Malformer(seed=1, fraction=1.0, kinds=["not_avro"])
    assert {only.corrupt(r).kind for r in records[:50]} == {"not_avro"}
    with pytest.raises(ValueError):
        Malformer(1, 1.5)
    with pytest.raises(ValueError):
        Malformer(1, 0.5, kinds=["bogus"])  # type: ignore[list-item]


def test_same_seed_same_variants(records: list[Transaction]) -> None:
    def run(seed: int) -> list[Malformed | None]:
        m = Malformer(seed, 0.2)
        return [m.maybe(r) for r in records[:1_000]]

    first = run(3)
    assert repr(first) == repr(run(3))  # repr: NaN amounts compare unequal to themselves
    assert repr(first) != repr(run(4))


def test_bad_values_are_valid_avro_but_break_quality_rules(records: list[Transaction]) -> None:
    malformer = Malformer(seed=2, fraction=1.0, kinds=["bad_value"])
    defects = set()
    for r in records[:300]:
        m = malformer.corrupt(r)
        assert m.record is not None and m.payload is None
        validate(m.record)
        data = encode(m.record, transaction_schema(), 1)
        assert decode(data, {1: transaction_schema()})[0] == 1
        assert quality_problems(m.record, _now()), m.defect
        defects.add(m.defect)
    assert len(defects) == 7
    assert all(quality_problems(r, _now()) == [] for r in records)


def test_wrong_types_fail_avro(records: list[Transaction]) -> None:
    malformer = Malformer(seed=3, fraction=1.0, kinds=["wrong_type"])
    defects = set()
    for r in records[:300]:
        m = malformer.corrupt(r)
        assert m.record is not None
        with pytest.raises(SchemaValidationError) as err:
            validate(m.record)
        with pytest.raises(SchemaValidationError):
            encode(m.record, transaction_schema(), 1)
        if m.defect.startswith("missing_field:"):
            assert err.value.field == m.defect.split(":")[1]
        defects.add(m.defect.split(":")[0])
    assert defects == {
        "amount_as_string",
        "event_time_as_string",
        "is_international_as_string",
        "missing_field",
    }


def test_not_avro_payloads_fail_to_decode(records: list[Transaction]) -> None:
    malformer = Malformer(seed=4, fraction=1.0, kinds=["not_avro"])
    defects = set()
    for r in records[:300]:
        m = malformer.corrupt(r)
        assert m.record is None and m.payload
        with pytest.raises(NotAvroError):
            decode(m.payload, {1: transaction_schema()})
        defects.add(m.defect)
    assert defects == {"random_bytes", "json_text"}


def test_variants_get_fresh_ids_and_leave_the_source_alone(records: list[Transaction]) -> None:
    malformer = Malformer(seed=5, fraction=1.0, kinds=["bad_value", "wrong_type"])
    for r in records[:200]:
        before = copy.deepcopy(r)
        m = malformer.corrupt(r)
        assert r == before
        assert m.record is not None
        new_id = m.record.get("transaction_id")
        if new_id is not None:
            assert new_id != r["transaction_id"]
            assert str(uuid.UUID(new_id)) == new_id
