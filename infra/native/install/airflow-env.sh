# Sourced after common.sh: where Airflow's own virtual environment lives.
# The venv is keyed by Airflow's version and the hash of the pinned requirements, so a
# changed requirements.txt gets a fresh environment and an unchanged one is reused.
AIRFLOW_REQUIREMENTS="$repo/phase3-transforms/airflow/requirements.txt"
[[ -f "$AIRFLOW_REQUIREMENTS" ]] || die "$AIRFLOW_REQUIREMENTS is missing"
AIRFLOW_VENV="$CACHE/airflow-$AIRFLOW_VERSION-$(sha256sum "$AIRFLOW_REQUIREMENTS" | cut -c1-12)"
export AIRFLOW_REQUIREMENTS AIRFLOW_VENV
