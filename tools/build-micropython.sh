#!/usr/bin/env bash
# Builds the camera's interpreter, MicroPython 1.26.1 with ffi, from the
# source in ../shared/micropython, once per machine (cached outside git):
#   bin/micropython         x86-64, VARIANT=standard, system libffi
#   bin/mpy-cross           the compiler whose .mpy files 1.26.1 loads
#   bin/micropython-armhf   32-bit ARM, musl, libffi linked in (like the
#                           camera's yi-hack/bin/python3), run under qemu-arm
# Prints the folder holding bin/. Needs the Debian packages run-tests.sh
# installs. YIHTTPD_CACHE moves the cache (default ~/.cache/yihttpd).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
source_tar=${MICROPYTHON_SOURCE:-$repo/../shared/micropython/micropython-1.26.1-unix.tar.xz}
out=${YIHTTPD_CACHE:-$HOME/.cache/yihttpd}/micropython-1.26.1
[ -f "$source_tar" ] || { echo "build-micropython: no source at $source_tar" >&2; exit 1; }

# The cache is reused only for the same source and the same build steps.
key=$(cat "$source_tar" "$0" | sha256sum | cut -d' ' -f1)
if [ -f "$out/key" ] && [ "$(cat "$out/key")" = "$key" ]; then
  echo "$out"
  exit 0
fi

started=$(date +%s)
rm -rf "$out"
mkdir -p "$out/src" "$out/bin" "$out/armhf/ffi/include" "$out/armhf/ffi/lib" \
         "$out/armhf/compat/sys" "$out/armhf/root/lib"
tar -xJf "$source_tar" -C "$out/src"
log="$out/build.log"
jobs=$(nproc)

echo "build-micropython: mpy-cross and x86-64 (log: $log)" >&2
make -C "$out/src/mpy-cross" -j"$jobs" >>"$log" 2>&1
make -C "$out/src/ports/unix" -j"$jobs" VARIANT=standard >>"$log" 2>&1

# armhf musl: Debian's armhf libffi linked statically (ffi needs dlopen, so
# the binary stays dynamic, as the camera's is), and the 10-line
# sys/cdefs.h that berkeley-db includes and musl lacks.
echo "build-micropython: armhf musl" >&2
cp /usr/include/arm-linux-gnueabihf/ffi.h /usr/include/arm-linux-gnueabihf/ffitarget.h \
   "$out/armhf/ffi/include/"
cp /usr/lib/arm-linux-gnueabihf/libffi.a "$out/armhf/ffi/lib/"
cat > "$out/armhf/compat/sys/cdefs.h" <<'EOF'
#ifndef COMPAT_SYS_CDEFS_H
#define COMPAT_SYS_CDEFS_H
#define __P(protos) protos
#define __BEGIN_DECLS
#define __END_DECLS
#endif
EOF
make -C "$out/src/ports/unix" -j"$jobs" VARIANT=standard BUILD=build-armhf-musl \
     CC=arm-linux-musleabihf-gcc CROSS_COMPILE=arm-linux-gnueabihf- \
     PKG_CONFIG_LIBDIR=/nonexistent \
     CFLAGS_EXTRA="-I$out/armhf/ffi/include -I$out/armhf/compat" \
     LDFLAGS_MOD="-L$out/armhf/ffi/lib -lffi" >>"$log" 2>&1

cp "$out/src/mpy-cross/build/mpy-cross" "$out/bin/mpy-cross"
cp "$out/src/ports/unix/build-standard/micropython" "$out/bin/micropython"
cp "$out/src/ports/unix/build-armhf-musl/micropython" "$out/armhf/micropython"
# The musl loader is musl's libc itself; qemu-arm finds it under -L.
cp -L /lib/ld-musl-armhf.so.1 "$out/armhf/root/lib/ld-musl-armhf.so.1"
cat > "$out/bin/micropython-armhf" <<EOF
#!/bin/sh
# MicroPython 1.26.1 for 32-bit ARM (musl), under user-mode qemu.
exec qemu-arm -L "$out/armhf/root" "$out/armhf/micropython" "\$@"
EOF
chmod +x "$out/bin/micropython-armhf"

"$out/bin/micropython" -c "import ffi" && "$out/bin/micropython-armhf" -c "import ffi"
rm -rf "$out/src"
echo "$key" > "$out/key"
echo "build-micropython: built in $(( $(date +%s) - started )) s" >&2
echo "$out"
