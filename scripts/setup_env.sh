#!/usr/bin/env bash
# Create (or reuse) .venv with depth_net and its test dependencies installed.
# torch/torchvision are pinned to the pair that works on these machines.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
STAMP=.venv/.depth_net_installed
if [ ! -f "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ]; then
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q "torch==2.14.1" "torchvision==0.29.1"
    .venv/bin/python -m pip install -q -e ".[dev]"
    touch "$STAMP"
fi
