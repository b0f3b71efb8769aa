#!/usr/bin/env bash
# Set up what the tests need (the venv with the test extras, and Debian's nginx for the
# serving tests), then run lint, types and the test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

# nginx: the serving and client tests run against it too. Installed from Debian's packages when
# it is missing and apt can be used (root, or sudo without a password); otherwise those tests are
# skipped with a one-line reason.
if [ ! -x /usr/sbin/nginx ] && command -v apt-get >/dev/null 2>&1; then
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo -n"; fi
  if [ -z "$sudo" ] || sudo -n true 2>/dev/null; then
    echo "test.sh: installing nginx-light (Debian) for the serving tests" >&2
    $sudo apt-get install -y -q nginx-light >/dev/null 2>&1 \
      || { $sudo apt-get update -q >/dev/null 2>&1 && $sudo apt-get install -y -q nginx-light >/dev/null 2>&1; } \
      || echo "test.sh: could not install nginx-light; the nginx tests will be skipped" >&2
  fi
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[test]'
.venv/bin/python -m ruff check src tests benchmarks
.venv/bin/python -m ruff format --check src tests benchmarks
.venv/bin/python -m mypy src
exec .venv/bin/python -m pytest "$@"
