#!/usr/bin/env bash
# Run the whole test suite (unit, integration on real SQLite, real Chromium browser tests).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-system-deps.sh --test
scripts/setup-venv.sh requirements-dev.txt
exec .venv/bin/python -m pytest "$@"
