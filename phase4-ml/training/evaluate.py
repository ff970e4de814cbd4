"""``fraud-evaluate``: score a model version on its test window; the gate sets staging.

    fraud-evaluate                        the latest version of the registered model
    fraud-evaluate --version 3 --auc-threshold 0.85

The test window is the version's own (its ``test_start``/``test_end`` tags); the data is
rebuilt from the same source (the simulator with the version's recorded seed and dates,
or the gold mart). The current production version is scored on the very same rows. Gate:
the candidate gets the staging alias when its AUC >= the threshold (default 0.90,
``TRAINING_AUC_THRESHOLD``) and neither its AUC nor its average precision is below
production's (minus ``--tolerance``). Prints AUC, AP and CP@100 next to the Handbook's
published baselines. Exit status: 0 when the gate passed, 1 when it did not. The aliases
are those of :mod:`fraud_contracts.names`.
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
from training.metrics import HANDBOOK_BASELINES, evaluate, table
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
        "decision": decision,
        "is_production": production is not None
        and str(production.version) == str(candidate.version),
    }


def report(result: dict[str, Any], settings: TrainingSettings) -> str:
    rows = {f"{settings.model_name} v{result['version']}": result["scores"]}
    if result["production_scores"] is not None:
        rows[f"production (v{result['production_version']})"] = result["production_scores"]
    rows.update(HANDBOOK_BASELINES)
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
        f"{table(rows)}\n(AUC threshold {settings.auc_threshold:.2f}; same test window for all "
        f"rows of this run, Handbook rows are its published figures)\n{verdict}\n"
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
