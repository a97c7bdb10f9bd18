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
scripts/build.sh
# A Release build too (-O3, warnings as errors): what a packager builds and
# ships (the daemon and the CLI) must build cleanly, not only the developers'
# RelWithDebInfo.
BUILD_DIR="${BUILD_DIR:-build}-release" BUILD_TYPE=Release TARGETS="vpcd vpcctl" scripts/build.sh
# clang-format is part of the build's contract: the tree must be formatted.
if ! git ls-files '*.h' '*.cpp' | xargs clang-format --dry-run -Werror; then
  echo "clang-format: the places above need formatting (run clang-format -i on them)" >&2
  exit 1
fi

# Every test, then the sanitizer build's (scripts/sanitize.sh: clang, ASan +
# UBSan, the fuzz targets), the second even when the first failed.
status=0
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure || status=$?
scripts/sanitize.sh || status=$?
exit "$status"
