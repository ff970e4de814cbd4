"""``fraud_pipeline`` survives bad data (issue 17): the bad-data drill, end to end.

Into the session's lakehouse (38 simulated days in bronze, silver and gold), the records
of :mod:`fraud_testing.drill` — one of each kind of bad data, each with where it must end
— are sent through Kafka in the contract's wire format and landed by the bronze writer;
then one ``fraud_pipeline`` run goes through Airflow's REST API (real dbt on Trino, the
quarantine report). Every record is followed to bronze, the DLQ or a quarantine, the
features of the drill's rows and of a sample of the history are recomputed from bronze,
and the online state the streaming feature job keeps (the test stack's feature-stream)
is read back as the scoring API reads it.

The drill adds rows to the shared lakehouse: this module's name puts it after the phase's
tests that compare the lakehouse with the backfill's exact counts (test_dbt_*,
test_quarantine*); the drill's transactions belong to users and a terminal of their own,
so the features of the history's rows do not change for the tests after it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

import pytest
from trino_helpers import bronze_history, query

from fraud_common.settings import PlatformSettings
from fraud_common.trino import sql_literal
from fraud_contracts import dlq
from fraud_contracts.features import (
    FEATURE_NAMES,
    TERMINAL_FEATURES,
    USER_RECORD,
    TransactionContext,
    reference_features,
    reference_records,
    to_ms,
)
from fraud_contracts.names import MART_FRAUD_FEATURES
from fraud_infra.airflow_client import AirflowClient
from fraud_infra.backfill import land
from fraud_infra.bootstrap import start_run
from fraud_infra.stack import Stack
from fraud_testing import drill
from fraud_testing.lakehouse import Lakehouse
from fraud_testing.stack import consume_all
from serving.feature_store import RedisFeatureStore, StoredFeatures

log = logging.getLogger(__name__)

PIPELINE = "fraud_pipeline"
#: one run on 2 cores takes a few minutes; retries with backoff can add several more
RUN_TIMEOUT_SECONDS = 40 * 60


@dataclass(frozen=True)
class DrillRun:
    plan: drill.Plan
    sent: list[drill.Sent]
    run_id: str
    run: dict[str, Any]
    seconds: float


def land_drill(stack: Stack, settings: PlatformSettings, sent: list[drill.Sent]) -> None:
    """Into bronze: the running bronze writer's next batches, else the writer once."""
    info = stack.process_info("bronze-writer")
    if info is None or info.get("statename") != "RUNNING":
        land({k: v for k, v in stack.env.items() if k.isupper()})
        return
    wanted = [s.record for s in sent if s.record.expected.layer == drill.BRONZE]
    deadline = time.monotonic() + 300
    while len(bronze_rows(settings, wanted)) < len(wanted):
        assert time.monotonic() < deadline, "the running bronze writer did not land the drill"
        time.sleep(5)


def bronze_rows(settings: PlatformSettings, records: list[drill.Record]) -> list[dict[str, Any]]:
    """The bronze rows of ``records`` (each looked up in its own table: a label for a
    history transaction must not find that transaction)."""
    selects = []
    for table in (drill.TRANSACTIONS, drill.LABELS):
        ids = sorted({r.transaction_id for r in records if r.table == table})
        if ids:
            listed = ", ".join(sql_literal(i) for i in ids)
            selects.append(
                f"SELECT '{table}' AS tbl, transaction_id, kafka_topic, kafka_partition, "
                f"kafka_offset FROM bronze.{table} WHERE transaction_id IN ({listed})"
            )
    return query(settings, " UNION ALL ".join(selects))


def trigger_and_wait(airflow: AirflowClient, note: str) -> tuple[str, dict[str, Any]]:
    """One ``fraud_pipeline`` run through the REST API, started as ``make demo`` starts
    one (:func:`fraud_infra.bootstrap.start_run`: the scheduler's own run when unpausing
    makes one, else a triggered run), waited for; a DAG that was paused is paused again
    after, without the runs the schedule added meanwhile."""
    dag = airflow.wait_for_dag(PIPELINE)
    was_paused = bool(dag["is_paused"])
    earlier_runs = {run["dag_run_id"] for run in airflow.runs(PIPELINE)}
    run_id = start_run(airflow, PIPELINE, note)
    try:
        run = airflow.wait_for_run(PIPELINE, run_id, timeout=RUN_TIMEOUT_SECONDS, poll=2.0)
    finally:
        if was_paused:  # back as it was, without the runs the schedule added meanwhile
            airflow.set_paused(PIPELINE, True)
            airflow.discard_scheduled_runs(PIPELINE, keep=earlier_runs | {run_id})
    return run_id, run


@pytest.fixture(scope="module")
def drill_run(
    airflow: AirflowClient,
    airflow_stack: Stack,
    lakehouse: Lakehouse,
    bronze_writer: Stack,
    settings: PlatformSettings,
) -> DrillRun:
    """The bad-data drill's records sent to Kafka, landed, and one ``fraud_pipeline`` run
    over the history plus them, through Airflow."""
    (template,) = query(settings, "SELECT * FROM bronze.transactions LIMIT 1")
    template["event_time"] = to_ms(template["event_time"])
    (history,) = query(
        settings,
        "SELECT t.transaction_id, t.user_id, to_unixtime(t.event_time) * 1000 AS event_time "
        "FROM bronze.transactions t WHERE NOT EXISTS (SELECT 1 FROM bronze.fraud_labels l "
        "WHERE l.transaction_id = t.transaction_id) ORDER BY t.event_time LIMIT 1",
    )
    history["event_time"] = int(history["event_time"])
    plan = drill.plan(template, history)
    sent = drill.send(settings, plan.records)
    log.info("drill %s: %d records sent", plan.tag, len(sent))
    land_drill(bronze_writer, settings, sent)
    t0 = time.monotonic()
    run_id, run = trigger_and_wait(
        airflow, f"bad-data drill {plan.tag} over {lakehouse.backfill.transactions} rows"
    )
    seconds = time.monotonic() - t0
    log.info("%s run %s: %s in %.0fs", PIPELINE, run_id, run["state"], seconds)
    assert run["state"] == "success", (
        f"{PIPELINE} run {run_id} {run['state']}:\n" + airflow.explain(PIPELINE, run_id)
    )
    return DrillRun(plan, sent, run_id, run, seconds)


def drill_ids(d: DrillRun) -> set[str]:
    return {s.record.transaction_id for s in d.sent}


@pytest.mark.e2e
@pytest.mark.timeout(RUN_TIMEOUT_SECONDS + 900)
def test_a_fraud_pipeline_run_over_bad_data_succeeds_and_reports_its_quarantines(
    airflow: AirflowClient, drill_run: DrillRun
) -> None:
    states = {
        ti["task_id"]: (ti["state"], ti["try_number"])
        for ti in airflow.task_instances(PIPELINE, drill_run.run_id)
    }
    assert {state for state, _ in states.values()} == {"success"}, states
    assert len(states) == 7  # the six steps and report_quarantine
    text = airflow.task_log(
        PIPELINE, drill_run.run_id, "report_quarantine", states["report_quarantine"][1]
    )
    (line,) = [ln for ln in text.splitlines() if "quarantine sizes" in ln]
    # key=value (console) or "key": value (JSON), whichever LOG_FORMAT the task has
    sizes = {k: int(v) for k, v in re.findall(r'"?\b(\w+)"?\s*[=:]\s*(\d+)\b', line)}
    assert sizes["orphan_labels"] >= 2, line
    assert sizes["duplicate_labels"] >= 1, line
    assert sizes["unknown_merchant_transactions"] >= 5, line
    assert sizes["tests_warned"] >= 3, line


@pytest.mark.e2e
def test_nothing_is_lost_every_record_is_in_bronze_or_the_dlq_once(
    drill_run: DrillRun, settings: PlatformSettings
) -> None:
    produced = {(s.topic, s.partition, s.offset): s.record for s in drill_run.sent}
    assert len(produced) == len(drill_run.plan.records)
    landed = [
        (r["kafka_topic"], r["kafka_partition"], r["kafka_offset"])
        for r in bronze_rows(settings, drill_run.plan.records)
    ]
    dlq = dlq_reasons(settings, set(produced))
    assert len(landed) == len(set(landed))  # nothing twice in bronze
    assert set(landed).isdisjoint(dlq)
    assert set(landed) | set(dlq) == set(produced), "a drill record is neither in bronze nor DLQ"
    for position, record in produced.items():
        where = drill.DLQ if position in dlq else drill.BRONZE
        assert where == record.expected.layer, (record.name, where)
        if where == drill.DLQ:
            assert record.expected.reason in dlq[position].split(","), (record.name, dlq[position])
    # every transaction of bronze went on to silver and gold, once
    accepted = {
        r.transaction_id
        for r in drill_run.plan.records
        if r.table == drill.TRANSACTIONS and r.expected.layer == drill.BRONZE
    }
    listed = ", ".join(sql_literal(i) for i in sorted(accepted))
    for table in ("silver.int_transactions_enriched", f"gold.{MART_FRAUD_FEATURES}"):
        got = query(
            settings, f"SELECT transaction_id FROM {table} WHERE transaction_id IN ({listed})"
        )
        assert sorted(r["transaction_id"] for r in got) == sorted(accepted), table


def dlq_reasons(
    settings: PlatformSettings, positions: set[tuple[str, int, int]]
) -> dict[tuple[str, int, int], str]:
    """DLQ reason of each of ``positions`` (source topic, partition, offset) routed there."""
    found: dict[tuple[str, int, int], str] = {}
    for msg in consume_all(settings.kafka_bootstrap_servers, settings.kafka_topic_dlq):
        h = dlq.parse(msg.headers())
        if dlq.SOURCE_PARTITION not in h:
            continue  # the producer's own rejections: no source position
        key = (h[dlq.SOURCE_TOPIC], int(h[dlq.SOURCE_PARTITION]), int(h[dlq.SOURCE_OFFSET]))
        if key in positions:
            assert key not in found, f"{key} routed to the DLQ twice"
            found[key] = h[dlq.REASON]
    return found


@pytest.mark.e2e
def test_every_unmatched_record_is_quarantined_with_its_reason(
    drill_run: DrillRun, settings: PlatformSettings
) -> None:
    expected = {
        (r.expected.quarantine, r.transaction_id, r.expected.quarantine_reason)
        for r in drill_run.plan.records
        if r.expected.quarantine
    }
    listed = ", ".join(sql_literal(i) for i in sorted(drill_ids(drill_run)))
    found = {
        (table, row["transaction_id"], row["reason"])
        for table in {q for q, _, _ in expected}
        for row in query(
            settings,
            f"SELECT transaction_id, reason FROM silver.{table} "
            f"WHERE transaction_id IN ({listed}) AND resolved_at IS NULL"
            if table != "quarantine_duplicate_labels"
            else f"SELECT transaction_id, reason FROM silver.{table} "
            f"WHERE transaction_id IN ({listed})",
        )
    }
    assert found == expected
    (terminal,) = query(
        settings,
        "SELECT merchant_name, merchant_category, is_known_merchant, count(*) AS n "
        "FROM silver.int_transactions_enriched "
        f"WHERE merchant_id = {sql_literal(drill_run.plan.terminal)} GROUP BY 1, 2, 3",
    )
    assert terminal == {
        "merchant_name": "Drill Kiosk",
        "merchant_category": "retail",
        "is_known_merchant": False,
        "n": 5,
    }


@pytest.mark.e2e
def test_late_chargebacks_label_their_training_rows_and_a_second_report_changes_nothing(
    drill_run: DrillRun, settings: PlatformSettings
) -> None:
    plan = drill_run.plan
    want = {
        plan.history_transaction: "compromised_terminal",
        plan.named("old_45d").transaction_id: "compromised_customer",
        plan.named("twice").transaction_id: "card_testing",
    }
    listed = ", ".join(sql_literal(i) for i in want)
    rows = query(
        settings,
        f"SELECT transaction_id, is_fraud, fraud_scenario, label_reported_at "
        f"FROM gold.{MART_FRAUD_FEATURES} WHERE transaction_id IN ({listed})",
    )
    assert {r["transaction_id"]: (r["is_fraud"], r["fraud_scenario"]) for r in rows} == {
        tx: (1, scenario) for tx, scenario in want.items()
    }
    twice = next(r for r in rows if r["transaction_id"] == plan.named("twice").transaction_id)
    first_report = plan.named("twice_label_1").value["reported_at"]
    assert to_ms(twice["label_reported_at"]) == first_report  # the first report wins


def same(got: Any, want: Any) -> bool:
    """Equal values (to 1e-9: the online state computes them in Redis, not with fsum)."""
    flat_got = [v for pair in got for part in pair for v in (part or ())]
    flat_want = [v for pair in want for part in pair for v in part]
    return len(flat_got) == len(flat_want) and flat_got == pytest.approx(
        flat_want, rel=1e-9, abs=1e-9
    )


@pytest.mark.e2e
def test_features_stay_point_in_time_and_reach_redis(
    drill_run: DrillRun, settings: PlatformSettings
) -> None:
    plan = drill_run.plan
    accepted = [
        r.transaction_id
        for r in plan.records
        if r.table == drill.TRANSACTIONS and r.expected.layer == drill.BRONZE
    ]
    columns = ", ".join(FEATURE_NAMES)
    select = f"SELECT transaction_id, user_id, merchant_id, event_time, amount, is_international, {columns} FROM gold.{MART_FRAUD_FEATURES} "  # noqa: E501
    listed = ", ".join(sql_literal(i) for i in accepted)
    rows = query(settings, select + f"WHERE transaction_id IN ({listed})")
    # and a sample of the history's rows, computed by earlier runs
    rows += query(
        settings,
        select + f"WHERE merchant_id <> {sql_literal(plan.terminal)} "
        "ORDER BY xxhash64(to_utf8(transaction_id)) LIMIT 60",
    )
    history = bronze_history(
        settings, users={r["user_id"] for r in rows}, terminals={r["merchant_id"] for r in rows}
    )
    wrong = {}
    for row in rows:
        tx = TransactionContext(row["amount"], bool(row["is_international"]), row["event_time"])
        expected = reference_features(
            tx, history.by_user[row["user_id"]], history.by_terminal[row["merchant_id"]]
        )
        got = {n: float(row[n]) for n in FEATURE_NAMES}
        if got != pytest.approx(expected, rel=1e-9, abs=1e-9):
            wrong[row["transaction_id"]] = {n: (got[n], expected[n]) for n in FEATURE_NAMES
                                            if got[n] != pytest.approx(expected[n])}  # fmt: skip
    assert not wrong, wrong
    late = [r for r in rows if r["transaction_id"] in plan.extra["late"]]
    assert sorted(r["user_tx_count_30d"] for r in late) == [0.0, 1.0, 2.0]

    # the online state (the streaming feature job's) holds the drill's users and terminal:
    # what the scoring API reads for them now is the contract's definition over bronze
    store = RedisFeatureStore(
        settings.redis_host,
        settings.redis_port,
        password=settings.redis_password.get_secret_value(),
        read_timeout=5.0,
    )
    now = dt.datetime.now(dt.UTC)
    online_history = bronze_history(settings, users=plan.users, terminals={plan.terminal})

    async def read_now() -> list[StoredFeatures]:
        try:
            return [await store.read(user, plan.terminal, now) for user in plan.users]
        finally:
            await store.close()

    deadline = time.monotonic() + 60  # the job applies each record within seconds
    while True:
        found = asyncio.run(read_now())
        expected_online = [
            reference_records(
                TransactionContext(1.0, False, now),
                online_history.by_user[user],
                online_history.by_terminal[plan.terminal],
            )
            for user in plan.users
        ]
        want = [
            (
                tuple(u.values[n] for n in USER_RECORD),
                tuple(m.values[n] for n in TERMINAL_FEATURES),
            )
            for u, m in expected_online
        ]
        got = [(f.user, f.terminal) for f in found]
        if same(got, want) or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert same(got, want), (got, want)
    # within 30 days of now: the three late ones and the recent one (not the 45-day-old)
    terminal_count = TERMINAL_FEATURES.index("terminal_tx_count_30d")
    assert want[0][1][terminal_count] == 4.0
    assert want[0][0][USER_RECORD.index("user_tx_count_30d")] == 3.0
