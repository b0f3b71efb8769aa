#!/usr/bin/env bash
# Set up a venv with the test extras and run lint, types and the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[test]'
.venv/bin/python -m ruff check src tests benchmarks
.venv/bin/python -m ruff format --check src tests benchmarks
.venv/bin/python -m mypy src
exec .venv/bin/python -m pytest "$@"
