#!/usr/bin/env bash
# Set up what the tests need (the venv with the test extras, Debian's nginx for the serving tests and
# chromium for the status page's browser test), then run lint, types and the test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

# nginx: the serving and client tests run against it too; chromium: the status page's browser
# test. Each is installed from Debian's packages when it is missing and apt can be used (root, or
# sudo without a password); otherwise those tests are skipped with a one-line reason.
apt_install() {  # apt_install PACKAGE COMMAND-IT-PROVIDES WHAT-NEEDS-IT
  if [ -x "$2" ] || ! command -v apt-get >/dev/null 2>&1; then return 0; fi
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo -n"; fi
  if [ -z "$sudo" ] || sudo -n true 2>/dev/null; then
    echo "test.sh: installing $1 (Debian) for $3" >&2
    $sudo apt-get install -y -q "$1" >/dev/null 2>&1 \
      || { $sudo apt-get update -q >/dev/null 2>&1 && $sudo apt-get install -y -q "$1" >/dev/null 2>&1; } \
      || echo "test.sh: could not install $1; $3 will be skipped" >&2
  fi
}
apt_install nginx-light /usr/sbin/nginx "the nginx tests"
apt_install chromium /usr/bin/chromium "the status page's browser test"

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[test]'
.venv/bin/python -m ruff check src tests benchmarks
.venv/bin/python -m ruff format --check src tests benchmarks
.venv/bin/python -m mypy src
exec .venv/bin/python -m pytest "$@"
