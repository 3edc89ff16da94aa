#!/usr/bin/env bash
# Builds the camera's interpreter, MicroPython 1.26.1 with ffi, once per
# machine (cached outside git):
#   bin/micropython          x86-64, VARIANT=standard, system libffi
#   bin/mpy-cross            the compiler whose .mpy files 1.26.1 loads
#   bin/micropython-armhf    32-bit ARM, musl, libffi linked in (like the
#                            camera's yi-hack/bin/python3), run under qemu-arm
#   bin/micropython-mipsel   32-bit little-endian MIPS, musl, libffi linked
#                            in, run under qemu-mipsel
# The source, first found: $MICROPYTHON_SOURCE (a tarball of the v1.26.1
# tree); ../shared/micropython/micropython-1.26.1-unix.tar.xz beside the
# checkout (the team's machines); else the official v1.26.1 release tarball,
# downloaded once into the cache and checked against its sha256
# ($MICROPYTHON_URL names a mirror of that same file).
# Prints the folder holding bin/: micropython-1.26.1-KEY in the cache, KEY
# naming the source and these build steps, so checkouts of other versions
# keep builds of their own; a build is made in a scratch folder and renamed
# into place once whole. Needs the Debian packages run-tests.sh installs.
# YIHTTPD_CACHE moves the cache (default ~/.cache/yihttpd).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${YIHTTPD_CACHE:-$HOME/.cache/yihttpd}
release_url=https://github.com/micropython/micropython/releases/download/v1.26.1/micropython-1.26.1.tar.xz
# The release's own tarball (lib/ submodules included: mbedtls, berkeley-db,
# micropython-lib), as GitHub serves it for v1.26.1.
release_sha256=12be6514df6272c0fcb328122b534af6b12abdd52435c19f40ee1707cc43ac98

shared_tar=$repo/../shared/micropython/micropython-1.26.1-unix.tar.xz
if [ -n "${MICROPYTHON_SOURCE:-}" ]; then
  source_tar=$MICROPYTHON_SOURCE
  [ -f "$source_tar" ] || { echo "build-micropython: MICROPYTHON_SOURCE=$source_tar is not a file" >&2; exit 1; }
elif [ -f "$shared_tar" ]; then
  source_tar=$shared_tar
else
  source_tar=$cache/micropython-1.26.1.tar.xz
  if [ ! -f "$source_tar" ]; then
    url=${MICROPYTHON_URL:-$release_url}
    echo "build-micropython: downloading $url" >&2
    mkdir -p "$cache"
    curl -fsSL --retry 3 -o "$source_tar.part" "$url" || {
      rm -f "$source_tar.part"
      echo "build-micropython: could not download $url; set MICROPYTHON_SOURCE to a v1.26.1 tarball" >&2
      exit 1; }
    if ! echo "$release_sha256  $source_tar.part" | sha256sum -c --quiet - >/dev/null 2>&1; then
      rm -f "$source_tar.part"
      echo "build-micropython: $url is not the v1.26.1 release (sha256 differs from $release_sha256)" >&2
      exit 1
    fi
    mv "$source_tar.part" "$source_tar"
  fi
fi

# A build is reused only for the same source and the same build steps.
key=$(cat "$source_tar" "$0" | sha256sum | cut -c1-16)
done_dir=$cache/micropython-1.26.1-$key
if [ -f "$done_dir/key" ]; then
  echo "$done_dir"
  exit 0
fi

started=$(date +%s)
out=$cache/micropython-1.26.1-building-$$
# A failed build leaves nothing but the end of its log on stderr.
trap 'status=$?; [ $status = 0 ] || tail -n 40 "$out/build.log" >&2 2>/dev/null; rm -rf "$out"' EXIT
mkdir -p "$out/unpacked" "$out/bin"
tar -xJf "$source_tar" -C "$out/unpacked"
# The release tarball holds micropython-1.26.1/, the team's cut the tree itself.
src=$(dirname "$(find "$out/unpacked" -maxdepth 2 -type d -name mpy-cross | head -1)")
log="$out/build.log"
jobs=$(nproc)

echo "build-micropython: mpy-cross and x86-64 (log: $log)" >&2
make -C "$src/mpy-cross" -j"$jobs" >>"$log" 2>&1
make -C "$src/ports/unix" -j"$jobs" VARIANT=standard >>"$log" 2>&1
cp "$src/mpy-cross/build/mpy-cross" "$out/bin/mpy-cross"
cp "$src/ports/unix/build-standard/micropython" "$out/bin/micropython"
"$out/bin/micropython" -c "import ffi"

# A 32-bit musl build like the camera's: ARCH (armhf, mipsel), Debian's
# multiarch triplet for its libffi, musl's gcc wrapper, the binutils prefix,
# qemu. ffi needs dlopen, so the binary stays dynamic (as the camera's is)
# with Debian's static libffi linked in. musl lacks sys/cdefs.h, which
# berkeley-db includes (a 10-line stand-in), and the kernel's asm/ headers,
# of which MIPS's ffitarget.h wants asm/sgidefs.h (the kernel's own copy).
build_musl() {
  local arch=$1 triplet=$2 musl_gcc=$3 cross=$4 qemu=$5
  local dir="$out/$arch"
  echo "build-micropython: $arch musl" >&2
  mkdir -p "$dir/ffi/include" "$dir/ffi/lib" "$dir/compat/sys" "$dir/root/lib"
  cp "/usr/include/$triplet/ffi.h" "/usr/include/$triplet/ffitarget.h" "$dir/ffi/include/"
  cp "/usr/lib/$triplet/libffi.a" "$dir/ffi/lib/"
  cat > "$dir/compat/sys/cdefs.h" <<'EOF'
#ifndef COMPAT_SYS_CDEFS_H
#define COMPAT_SYS_CDEFS_H
#define __P(protos) protos
#define __BEGIN_DECLS
#define __END_DECLS
#endif
EOF
  if [ -f "/usr/$triplet/include/asm/sgidefs.h" ]; then
    mkdir -p "$dir/compat/asm"
    cp "/usr/$triplet/include/asm/sgidefs.h" "$dir/compat/asm/"
  fi
  make -C "$src/ports/unix" -j"$jobs" VARIANT=standard BUILD="build-$arch-musl" \
       CC="$musl_gcc" CROSS_COMPILE="$cross" PKG_CONFIG_LIBDIR=/nonexistent \
       CFLAGS_EXTRA="-I$dir/ffi/include -I$dir/compat" \
       LDFLAGS_MOD="-L$dir/ffi/lib -lffi" >>"$log" 2>&1
  cp "$src/ports/unix/build-$arch-musl/micropython" "$dir/micropython"
  # The musl loader is musl's libc itself; qemu finds it under -L.
  local loader
  loader=$(sed -n 's/.*-dynamic-linker \([^ ]*\).*/\1/p' "/usr/lib/${musl_gcc%-gcc}/musl-gcc.specs")
  cp -L "$loader" "$dir/root$loader"
  "$qemu" -L "$dir/root" "$dir/micropython" -c "import ffi"
  # Where the build will be once renamed into place (a copy of this script runs anywhere).
  cat > "$out/bin/micropython-$arch" <<EOF
#!/bin/sh
# MicroPython 1.26.1 for $arch (musl), under user-mode qemu.
exec $qemu -L "$done_dir/$arch/root" "$done_dir/$arch/micropython" "\$@"
EOF
  chmod +x "$out/bin/micropython-$arch"
}
build_musl armhf arm-linux-gnueabihf arm-linux-musleabihf-gcc arm-linux-gnueabihf- qemu-arm
build_musl mipsel mipsel-linux-gnu mipsel-linux-musl-gcc mipsel-linux-gnu- qemu-mipsel

rm -rf "$out/unpacked"
echo "$key" > "$out/key"
# Another run may have finished the same build meanwhile: its copy stays.
mv -T "$out" "$done_dir" 2>/dev/null || true
echo "build-micropython: built in $(( $(date +%s) - started )) s" >&2
echo "$done_dir"
