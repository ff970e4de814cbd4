"""The import layering of ``make lint`` (import-linter contracts in pyproject.toml).

The real tree keeps every contract; a copy of a phase with one planted forbidden import
breaks the check, naming the contract and the import.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fraud_common.paths import repo_root

pytestmark = pytest.mark.unit

PHASE_PACKAGES = {
    "producer": "phase1-ingestion/producer",
    "spark_jobs": "phase2-streaming/spark_jobs",
    "transforms": "phase3-transforms/transforms",
    "training": "phase4-ml/training",
    "serving": "phase4-ml/serving",
}

LOWER_LAYERS = {
    "fraud_infra": "infra/fraud_infra",
    "fraud_contracts": "libs/contracts/fraud_contracts",
    "fraud_common": "libs/common/fraud_common",
}


def lint_imports(pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if pythonpath is not None:  # shadows the installed (editable) package of the same name
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath), env.get("PYTHONPATH")]))
    return subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), "--no-cache", "--no-logo"],
        cwd=repo_root(),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_tree_keeps_every_contract() -> None:
    result = lint_imports()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("package", "planted", "contract"),
    [
        ("producer", "import fraud_infra.stack", "Phases import neither the launcher"),
        ("spark_jobs", "import producer.main", "Phases are independent of each other"),
        ("serving", "import training.train", "The scoring API does not import training"),
        ("transforms", "import fraud_testing.lakehouse", "Phases import neither the launcher"),
        ("fraud_contracts", "import fraud_common.settings", "Layers:"),
        ("fraud_common", "import serving.main", "Contracts, common library and simulator"),
        ("fraud_infra", "import transforms.dbt", "The launcher starts the phases"),
    ],
)
def test_a_planted_forbidden_import_fails_the_check(
    tmp_path: Path, package: str, planted: str, contract: str
) -> None:
    copy = tmp_path / package
    shutil.copytree(repo_root() / {**PHASE_PACKAGES, **LOWER_LAYERS}[package], copy)
    module = copy / "planted_violation.py"
    module.write_text(f'"""A forbidden import, planted by the test."""\n\n{planted}  # noqa\n')
    result = lint_imports(tmp_path)
    assert result.returncode != 0, result.stdout
    broken = [line for line in result.stdout.splitlines() if line.endswith("BROKEN")]
    assert any(line.startswith(contract) for line in broken), result.stdout
    assert f"{package}.planted_violation" in result.stdout
