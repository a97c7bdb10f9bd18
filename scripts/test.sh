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
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure

# The sanitizer build (clang, ASan + UBSan, and the libFuzzer targets;
# docs/fuzzing.md): the unit tests, the netns suites that drive the most of
# the daemon, the HTTP limits, and each fuzz target for VPCD_FUZZ_SECONDS.
# Every report goes to a file of its own; any file at all fails the run,
# whatever the exit code of the process that wrote it (a daemon's leak
# report at exit would otherwise only reach its log).
san="${BUILD_DIR:-build}-san"
BUILD_DIR="$san" TARGETS="vpcd vpcctl unit_tests fuzz_http_api fuzz_bodies fuzz_files fuzz_kernel_replies" \
  CMAKE_ARGS="-DCMAKE_CXX_COMPILER=clang++ -DVPCD_SANITIZE=ON -DVPCD_FUZZ=ON -DVPCD_FUZZ_SECONDS=${VPCD_FUZZ_SECONDS:-20}" \
  scripts/build.sh
reports=$(mktemp -d /tmp/vpcd-sanitizer.XXXXXX)
status=0
ASAN_OPTIONS="detect_leaks=1:log_path=$reports/asan" UBSAN_OPTIONS="print_stacktrace=1:log_path=$reports/ubsan" \
  ctest --test-dir "$san" --output-on-failure \
  -R '^(unit|netns\.(user_story|policy|instance|restart)|dryrun|http_limits|fuzz\..*)$' || status=$?
if compgen -G "$reports/*" >/dev/null; then
  cat "$reports"/* >&2
  echo "sanitizers: the reports above (kept in $reports)" >&2
  exit 1
fi
rm -rf "$reports"
exit "$status"
