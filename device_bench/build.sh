#!/usr/bin/env bash
# Build arc_runner.  Usage: device_bench/build.sh host|aarch64 [BUILD_DIR]
#   host:    against the executorch wheel installed in this Python; system sentencepiece + nlohmann-json.
#   aarch64: cross-compiled with g++-aarch64-linux-gnu against the linux-aarch64 executorch wheel and
#            Debian's arm64 sentencepiece, both fetched into the build folder. The result folder
#            (arc_runner + lib/) runs under qemu-aarch64 or on an aarch64 device.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
target="${1:-host}"
build="${2:-$here/build-$target}"
py="${ARC_PYTHON:-python3}"
et_version="$("$py" -c 'import importlib.metadata as m; print(m.version("executorch"))')"
mkdir -p "$build"

if [ "$target" = host ]; then
  et_root="$("$py" -c 'import importlib.util as u; print(list(u.find_spec("executorch").submodule_search_locations)[0])')"
  cmake -S "$here" -B "$build" -DEXECUTORCH_ROOT="$et_root" -DCMAKE_BUILD_TYPE=Release > "$build/configure.log"
elif [ "$target" = aarch64 ]; then
  deps="${ARC_DEPS_DIR:-$build/deps}"
  mkdir -p "$deps"
  if [ ! -d "$deps/executorch" ]; then
    "$py" -m pip download -q --no-deps --only-binary=:all: --platform manylinux_2_28_aarch64 --python-version 3.11 \
      "executorch==$et_version" -d "$deps/wheel"
    "$py" -m zipfile -e "$deps"/wheel/executorch-*.whl "$deps/unpacked"
    mv "$deps/unpacked/executorch" "$deps/executorch" && rm -rf "$deps/unpacked" "$deps/wheel"
  fi
  if [ ! -d "$deps/sentencepiece" ]; then
    (cd "$deps" && apt-get download libsentencepiece-dev:arm64 libsentencepiece0:arm64)
    for deb in "$deps"/libsentencepiece*.deb; do dpkg -x "$deb" "$deps/sentencepiece"; done
    rm -f "$deps"/libsentencepiece*.deb
  fi
  sp="$deps/sentencepiece/usr"
  cmake -S "$here" -B "$build" -DCMAKE_TOOLCHAIN_FILE="$here/cmake/aarch64-linux-gnu.toolchain.cmake" \
    -DEXECUTORCH_ROOT="$deps/executorch" -DSENTENCEPIECE_INCLUDE_DIR="$sp/include" \
    -DSENTENCEPIECE_LIBRARY="$sp/lib/aarch64-linux-gnu/libsentencepiece.so" \
    -DCMAKE_PREFIX_PATH=/usr -DCMAKE_BUILD_TYPE=Release > "$build/configure.log"
else
  echo "usage: $0 host|aarch64 [BUILD_DIR]" >&2
  exit 2
fi
cmake --build "$build" -j"$(nproc)" > "$build/build.log"

# Collect the runtime libraries beside the binary ($ORIGIN/lib rpath): the folder is self-contained.
out="$build/dist"
rm -rf "$out" && mkdir -p "$out/lib"
cp "$build/arc_runner" "$out/"
if [ "$target" = host ]; then
  et_lib="$et_root/lib"
else
  et_lib="$deps/executorch/lib"
  cp -P "$deps"/sentencepiece/usr/lib/aarch64-linux-gnu/libsentencepiece.so* "$out/lib/"
fi
for lib in executorch executorch_kernels_optimized executorch_kernels_quantized executorch_backend_xnnpack \
           executorch_threadpool executorch_etdump; do
  [ -f "$et_lib/lib$lib.so" ] && cp "$et_lib/lib$lib.so" "$out/lib/"
done
echo "$out/arc_runner"
