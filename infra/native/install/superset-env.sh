# Sourced after common.sh: where Superset's own virtual environment lives.
# The venv is keyed by Superset's version and the hash of the pinned requirements, so a
# changed requirements.txt gets a fresh environment and an unchanged one is reused.
SUPERSET_REQUIREMENTS="$repo/phase5-analytics/superset/requirements.txt"
[[ -f "$SUPERSET_REQUIREMENTS" ]] || die "$SUPERSET_REQUIREMENTS is missing"
SUPERSET_VENV="$CACHE/superset-$SUPERSET_VERSION-$(sha256sum "$SUPERSET_REQUIREMENTS" | cut -c1-12)"
export SUPERSET_REQUIREMENTS SUPERSET_VENV
