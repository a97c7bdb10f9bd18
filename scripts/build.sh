#!/usr/bin/env bash
# Configures and builds into ./build (or $BUILD_DIR), warnings as errors.
# BUILD_TYPE picks the CMake build type (Release, what is shipped, unless
# set; RelWithDebInfo for a debugger);
# CMAKE_ARGS adds configure options (the compiler, sanitizers); TARGETS
# builds only those targets (all unless set).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build}"
# shellcheck disable=SC2086  # CMAKE_ARGS and TARGETS are lists of words
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" -DVPCD_WERROR=ON \
  ${CMAKE_ARGS:-} >/dev/null
targets=()
for t in ${TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$BUILD_DIR" -j"$(nproc)" "${targets[@]}"
