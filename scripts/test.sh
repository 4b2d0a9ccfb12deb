#!/usr/bin/env bash
# Run the whole test suite (unit, integration on real SQLite and on a throw-away PostgreSQL
# cluster the run starts itself, real Chromium browser tests).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-system-deps.sh --test
scripts/setup-venv.sh requirements-dev.txt
# Tests run in a private network namespace (scripts/in-netns.sh): their traffic
# stays on addresses the run itself created; the installs above need the network.
# --durations: the slowest tests in every run's log, to keep the suite inside CI's 45 minutes.
exec scripts/in-netns.sh .venv/bin/python -m pytest --durations=30 "$@"
