#!/usr/bin/env bash
# The backtrader peer: installs backtrader from PyPI into a virtualenv and
# runs bt_bench.py on a directory of CSV files. Prints its JSON on stdout.
#   bench/vs-backtrader/run.sh DATA_DIR [--tracked-only]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${BT_VENV:-${CARGO_TARGET_DIR:-$here/../../target}/bt-venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" >&2
fi
if ! "$venv/bin/python" -c "import backtrader" 2>/dev/null; then
  "$venv/bin/pip" install --quiet "backtrader==1.9.78.123" >&2
fi
exec "$venv/bin/python" "$here/bt_bench.py" --data "$@"
