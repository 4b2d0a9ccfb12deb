#!/usr/bin/env bash
# Run the platform with its embedded defaults: SQLite under instance/, in-process
# scheduler and media engine, demo data. Serves http://127.0.0.1:5000
#
# scripts/run.sh --production [ARGS]: the production topology instead (README "Production mode"):
# PostgreSQL, Redis, coturn, nginx with TLS, gunicorn web processes, the media and scheduler
# processes, each with its own config under instance/production; serves https://127.0.0.1:8443.
# ARGS go to `python -m deploy.stack up` (--web N, --dir, --https-port, --http-port, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--production" ]; then
  shift
  scripts/install-system-deps.sh --production
  scripts/setup-venv.sh requirements.txt
  exec .venv/bin/python -m deploy.stack up "$@"
fi
scripts/install-system-deps.sh
scripts/setup-venv.sh requirements.txt
export FLASK_APP=webapp
py=.venv/bin/python
$py -m flask db upgrade
if [ ! -e content/samples/law-basics.json ]; then
  echo "building sample courses (a minute or two, once)…"
  $py -m content.build_samples --out content/samples
fi
for manifest in content/samples/*.json; do
  slug=$(basename "$manifest" .json)
  [ -e "instance/media/$slug/master.m3u8" ] || $py -m flask content import "$manifest" --overwrite
done
$py -m flask demo load
echo "portal: http://127.0.0.1:${PORT:-5000}"
exec $py -m webapp --host 127.0.0.1 --port "${PORT:-5000}"
