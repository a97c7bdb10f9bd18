#!/usr/bin/env bash
# Configures and builds into ./build (or $BUILD_DIR), warnings as errors.
# BUILD_TYPE picks the CMake build type (RelWithDebInfo unless set).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build}"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" -DVPCD_WERROR=ON >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
