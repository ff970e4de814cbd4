"""``fraud-evaluate``: score a model version on its test window; the gate sets staging.

    fraud-evaluate                        the latest version of the registered model
    fraud-evaluate --version 3 --auc-threshold 0.85

The test window is the version's own (its ``test_start``/``test_end`` tags); the data is
rebuilt from the same source (the simulator with the version's recorded seed and dates,
or the gold mart). The current production version is scored on the very same rows. Gate:
the candidate gets the staging alias when its AUC >= the threshold (default 0.90,
``TRAINING_AUC_THRESHOLD``) and neither its AUC nor its average precision is below
production's (minus ``--tolerance``). Prints AUC, AP and CP@100 of both, labelled with
the protocol they were measured under (the platform's: its label delay, its data). The
Handbook's published rows are printed in a separate table, beside only figures measured
under the Handbook's own protocol: the latest ``fraud-train --protocol handbook`` run of
the experiment, if any. Exit status: 0 when the gate passed, 1 when it did not. The
aliases are those of :mod:`fraud_contracts.names`.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import mlflow
import pandas as pd
import structlog
from mlflow.entities.model_registry import ModelVersion

from fraud_common.logs import configure_logging
from fraud_contracts import features, names
from training import data, registry
from training.metrics import HANDBOOK_BASELINES, METRIC_NAMES, evaluate, table
from training.settings import TrainingSettings
from training.split import Window, apply

log = structlog.get_logger("evaluate")


@dataclass(frozen=True)
class Decision:
    passed: bool
    reasons: list[str] = field(default_factory=list)


def gate(
    candidate: dict[str, float],
    production: dict[str, float] | None,
    auc_threshold: float,
    tolerance: float = 0.0,
) -> Decision:
    """Staging needs AUC >= threshold and no regression against production on AUC and AP."""
    reasons = []
    if not candidate["auc"] >= auc_threshold:
        reasons.append(f"AUC {candidate['auc']:.4f} < threshold {auc_threshold:.4f}")
    if production is not None:
        for metric in ("auc", "average_precision"):
            if not candidate[metric] >= production[metric] - tolerance:
                reasons.append(
                    f"{metric} {candidate[metric]:.4f} is worse than production's "
                    f"{production[metric]:.4f}"
                )
    return Decision(not reasons, reasons)


def test_frame(
    version: ModelVersion, settings: TrainingSettings, explicit: set[str]
) -> pd.DataFrame:
    """The version's test rows, from the data it was trained on (unless overridden)."""
    tags = version.tags
    if tags.get("data_source") == "simulator" and "source" not in explicit:
        overrides: dict[str, Any] = {
            "source": "simulator",
            "simulator_mode": tags.get("simulator_mode", "platform"),
            "seed": int(tags["simulator_seed"]),
            "days": int(tags["simulator_days"]),
            "start_date": date.fromisoformat(tags["simulator_start"]),
            "label_delay_seconds": float(tags["simulator_label_delay_seconds"]),
        }
        settings = settings.model_copy(
            update={k: v for k, v in overrides.items() if k not in explicit}
        )
    frame = data.load(settings)
    return apply(frame, Window.from_tags(tags)).test


def score(name: str, version: ModelVersion, test: pd.DataFrame, k: int) -> dict[str, float]:
    model = registry.load_model(name, version.version)
    p = model.predict_proba(data.inputs(test))[:, 1]
    return evaluate(test, p, features.LABEL, k=k).headline()


def latest_handbook_run(settings: TrainingSettings) -> dict[str, Any] | None:
    """Test metrics and id of the experiment's latest Handbook-protocol run, if any."""
    experiment = mlflow.get_experiment_by_name(settings.experiment)
    if experiment is None:
        return None
    runs = mlflow.search_runs(
        [experiment.experiment_id],
        filter_string="tags.protocol = 'handbook' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=5,
        output_format="list",
    )
    for r in runs:
        m = r.data.metrics
        if all(f"test_{k}" in m for k in METRIC_NAMES):
            return {
                "run_id": r.info.run_id,
                "model": r.data.tags.get("best_model", "?"),
                "scores": {k: m[f"test_{k}"] for k in METRIC_NAMES},
                "seed": r.data.tags.get("simulator_seed", "?"),
            }
    return None


def run(settings: TrainingSettings, version: str | None, explicit: set[str]) -> dict[str, Any]:
    c = registry.client(settings)
    name = settings.model_name
    candidate = registry.get_version(c, name, version)
    fingerprint = candidate.tags.get(names.FEATURE_FINGERPRINT_TAG)
    if fingerprint != features.fingerprint():
        raise ValueError(
            f"version {candidate.version} was trained with feature fingerprint {fingerprint}, "
            f"this code has {features.fingerprint()}"
        )
    test = test_frame(candidate, settings, explicit)
    scores = score(name, candidate, test, settings.top_k)
    production = registry.version_by_alias(c, name, names.ALIAS_PRODUCTION)
    prod_scores = None
    if production is not None and str(production.version) != str(candidate.version):
        prod_scores = score(name, production, test, settings.top_k)
    decision = gate(scores, prod_scores, settings.auc_threshold, settings.gate_tolerance)
    for metric, value in scores.items():
        c.set_model_version_tag(name, candidate.version, f"eval_{metric}", f"{value:.6f}")
    c.set_model_version_tag(
        name, candidate.version, "gate", "passed" if decision.passed else "failed"
    )
    c.set_model_version_tag(
        name, candidate.version, "gate_reasons", "; ".join(decision.reasons) or "-"
    )
    if decision.passed and (
        production is None or str(production.version) != str(candidate.version)
    ):
        c.set_registered_model_alias(name, names.ALIAS_STAGING, candidate.version)
    log.info(
        "evaluated",
        version=candidate.version,
        test_rows=len(test),
        passed=decision.passed,
        reasons=decision.reasons,
        production=production.version if production else None,
    )
    return {
        "version": candidate.version,
        "scores": scores,
        "production_version": production.version if production else None,
        "production_scores": prod_scores,
        "protocol": candidate.tags.get("protocol", "platform"),
        "handbook_run": latest_handbook_run(settings),
        "decision": decision,
        "is_production": production is not None
        and str(production.version) == str(candidate.version),
    }


def report(result: dict[str, Any], settings: TrainingSettings) -> str:
    rows = {f"{settings.model_name} v{result['version']}": result["scores"]}
    if result["production_scores"] is not None:
        rows[f"production (v{result['production_version']})"] = result["production_scores"]
    protocol = (
        f"{result['protocol']} protocol: {features.LABEL_DELAY_DAYS}-day label delay, "
        "this platform's data; not comparable with the Handbook's rows"
    )
    handbook_rows = {}
    hb = result.get("handbook_run")
    if hb is not None:
        handbook_rows[f"{hb['model']} (run {hb['run_id'][:8]}, seed {hb['seed']})"] = hb["scores"]
    handbook_rows.update(HANDBOOK_BASELINES)
    handbook_note = (
        "platform row: `fraud-train --protocol handbook` on the simulator's Handbook mode"
        if hb is not None
        else "no Handbook-protocol run in this experiment yet: `fraud-train --protocol "
        "handbook`; seed-averaged figures: `make bench-model`"
    )
    decision: Decision = result["decision"]
    if result["is_production"]:
        verdict = f"version {result['version']} is already in production"
    elif decision.passed:
        verdict = (
            f"gate PASSED: alias '{names.ALIAS_STAGING}' -> version {result['version']}; "
            "next: fraud-promote"
        )
    else:
        verdict = "gate FAILED: " + "; ".join(decision.reasons)
    return (
        f"Registered model ({protocol}):\n{table(rows)}\n(AUC threshold "
        f"{settings.auc_threshold:.2f}; same test window for these rows)\n\n"
        f"Handbook protocol (7-day label delay, train 7 d, test 7 d; Handbook rows are its "
        f"published figures on its data):\n{table(handbook_rows)}\n({handbook_note})\n\n"
        f"{verdict}\n"
    )


def parse_args(argv: list[str] | None) -> tuple[dict[str, Any], str | None]:
    p = argparse.ArgumentParser(
        prog="fraud-evaluate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    registry.add_data_options(p)
    p.add_argument("--version", help="model version (default: the latest)")
    p.add_argument("--auc-threshold", type=float)
    p.add_argument("--tolerance", dest="gate_tolerance", type=float)
    args = registry.present(p.parse_args(argv))
    version = args.pop("version", None)
    return args, version


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    args, version = parse_args(argv)
    settings = TrainingSettings(**args)
    try:
        result = run(settings, version, set(args))
    except LookupError as err:
        log.error(str(err))
        return 2
    sys.stdout.write(report(result, settings))
    mlflow.end_run()
    return 0 if result["decision"].passed else 1


if __name__ == "__main__":
    sys.exit(main())
