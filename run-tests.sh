#!/usr/bin/env bash
# Installs what the tests need (Debian packages when missing, pinned PyPI
# packages in .venv), builds the camera's MicroPython 1.26.1 once (x86-64
# and 32-bit ARM, cached outside git: tools/build-micropython.sh), then runs
# the whole suite on CPython and MicroPython 1.26.1, and the armhf-marked
# modules on ARM under qemu-arm. Extra arguments go to pytest,
# e.g. ./run-tests.sh -k records
set -euo pipefail
cd "$(dirname "$0")"

# Test programs; the C toolchains, armhf libffi and musl, and qemu-arm that
# build and run MicroPython 1.26.1 like the camera's.
DEBIAN_PACKAGES="wget curl tar bzip2 jq mosquitto mosquitto-clients chromium chromium-driver busybox dash
  build-essential pkg-config libffi-dev gcc-arm-linux-gnueabihf libc6-dev-armhf-cross
  libffi-dev:armhf musl-dev:armhf qemu-user"
missing=""
for pkg in $DEBIAN_PACKAGES; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  echo "run-tests: installing Debian packages:$missing"
  dpkg --print-foreign-architectures | grep -qx armhf || dpkg --add-architecture armhf
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q -r requirements-dev.txt

micropython_dir=$(tools/build-micropython.sh)
# The camera's interpreter as `micropython` in the venv (on PATH below, and for
# a developer who activates .venv): a small script, so it follows a rebuild.
printf '#!/bin/sh\nexec %s/bin/micropython "$@"\n' "$micropython_dir" > .venv/bin/micropython
chmod +x .venv/bin/micropython

export PATH="$PWD/.venv/bin:$PATH"
exec .venv/bin/python -m pytest "$@"
