#!/usr/bin/env bash
# Installs what the tests need (Debian packages when missing, pinned PyPI
# packages in .venv), then runs the whole suite on CPython and MicroPython.
# Extra arguments go to pytest, e.g. ./run-tests.sh -k records
set -euo pipefail
cd "$(dirname "$0")"

DEBIAN_PACKAGES="wget curl tar bzip2 mosquitto mosquitto-clients chromium chromium-driver busybox dash"
missing=""
for pkg in $DEBIAN_PACKAGES; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  echo "run-tests: installing Debian packages:$missing"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q -r requirements-dev.txt

export PATH="$PWD/.venv/bin:$PATH"
exec .venv/bin/python -m pytest "$@"
