#!/usr/bin/env bash
# Installs dependencies, builds, and runs every test: unit tests (no root)
# and netns tests (root; each in its own private sandbox, never on the host).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $EUID -eq 0 ]]; then
  scripts/install-deps.sh
else
  echo "not root: skipping the dependency install; netns tests will be skipped"
fi
# One build, Release (-O3, warnings as errors): the tests run what a packager
# builds and ships. (A second, RelWithDebInfo build only for the tests took
# about a quarter of CI's time; the sanitizer build below keeps debug info.)
scripts/build.sh
# clang-format is part of the build's contract: the tree must be formatted.
if ! git ls-files '*.h' '*.cpp' | xargs clang-format --dry-run -Werror; then
  echo "clang-format: the places above need formatting (run clang-format -i on them)" >&2
  exit 1
fi

# Every test, then the sanitizer build's (scripts/sanitize.sh: clang, ASan +
# UBSan, the fuzz targets), the second even when the first failed. Two at a
# time (VPCD_TEST_JOBS): each netns test has a sandbox of its own and most of
# a test's time is spent waiting on packets and timers, so two in parallel
# take half the time on the project's two cores (about 7 minutes instead of 13).
status=0
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j "${VPCD_TEST_JOBS:-2}" || status=$?
scripts/sanitize.sh || status=$?
exit "$status"
