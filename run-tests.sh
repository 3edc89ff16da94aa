#!/usr/bin/env bash
# Installs what the tests need (Debian packages when missing, pinned PyPI
# packages in .venv), builds the camera's MicroPython 1.26.1 once (x86-64,
# 32-bit ARM and 32-bit little-endian MIPS, cached outside git:
# tools/build-micropython.sh), then runs the whole suite on CPython and
# MicroPython 1.26.1, and the arch-marked modules on ARM and MIPS under qemu.
# Extra arguments go to pytest, e.g. ./run-tests.sh -k records
set -euo pipefail
cd "$(dirname "$0")"

# Test programs; the C toolchains, armhf and mipsel libffi and musl, and the
# user-mode qemu that build and run MicroPython 1.26.1 like the camera's.
FOREIGN_ARCHITECTURES="armhf mipsel"
DEBIAN_PACKAGES="wget curl tar bzip2 jq mosquitto mosquitto-clients chromium chromium-driver busybox dash
  build-essential pkg-config libffi-dev
  gcc-arm-linux-gnueabihf libc6-dev-armhf-cross libffi-dev:armhf musl-dev:armhf
  gcc-mipsel-linux-gnu libc6-dev-mipsel-cross libffi-dev:mipsel musl-dev:mipsel qemu-user"
# A name without :ARCH is the machine's own (dpkg finds it ambiguous once a
# foreign instance is installed too, as libffi-dev's is).
host_arch=$(dpkg --print-architecture)
missing=""
for pkg in $DEBIAN_PACKAGES; do
  dpkg -s "$pkg" >/dev/null 2>&1 || dpkg -s "$pkg:$host_arch" >/dev/null 2>&1 || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  # As root the packages are installed; otherwise through sudo, or the
  # commands are named for whoever may run them.
  if [ "$(id -u)" = 0 ]; then
    as_root=""
  elif command -v sudo >/dev/null 2>&1; then
    as_root="sudo"
  else
    echo "run-tests: missing Debian packages:$missing" >&2
    echo "run-tests: as root, run:" >&2
    for arch in $FOREIGN_ARCHITECTURES; do echo "  dpkg --add-architecture $arch" >&2; done
    echo "  apt-get update && apt-get install -y$missing" >&2
    exit 1
  fi
  echo "run-tests: installing Debian packages:$missing"
  for arch in $FOREIGN_ARCHITECTURES; do
    dpkg --print-foreign-architectures | grep -qx "$arch" || $as_root dpkg --add-architecture "$arch"
  done
  $as_root apt-get update -qq
  $as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
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
# The whole suite's time is a figure that matters (README, "The suite's time"):
# a run of all of it (no arguments but -q) that takes longer than the budget
# fails, so a change that slows it down is seen when it is made.
budget=${YIHTTPD_SUITE_BUDGET:-360}
started=$(date +%s)
.venv/bin/python -m pytest "$@"
took=$(( $(date +%s) - started ))
if [ "$*" = "" ] || [ "$*" = "-q" ]; then
  echo "run-tests: the suite took ${took} s (budget ${budget} s)"
  if [ "$took" -gt "$budget" ]; then
    echo "run-tests: over the budget: find what made it slower (pytest --durations=30)" >&2
    exit 1
  fi
fi
