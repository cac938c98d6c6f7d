#!/usr/bin/env bash
# Makes (once) a Python venv with TensorBoard for scripts/check-tensorboard.py and prints its
# python. TB_VENV overrides the folder (default /tmp/tb-venv).
set -euo pipefail
venv=${TB_VENV:-/tmp/tb-venv}
if ! "$venv/bin/python" -c 'import tensorboard' >/dev/null 2>&1; then
  command -v python3 >/dev/null || { echo "tensorboard-venv: python3 is not installed" >&2; exit 1; }
  python3 -m venv "$venv" >&2 || { echo "tensorboard-venv: python3 -m venv failed (install python3-venv)" >&2; exit 1; }
  "$venv/bin/pip" install --quiet tensorboard >&2 || { echo "tensorboard-venv: pip install tensorboard failed" >&2; exit 1; }
fi
echo "$venv/bin/python"
