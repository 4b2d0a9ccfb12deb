#!/usr/bin/env bash
# Run the platform with its embedded defaults: SQLite under instance/, in-process
# scheduler and media engine, demo data. Serves http://127.0.0.1:5000
set -euo pipefail
cd "$(dirname "$0")/.."
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
