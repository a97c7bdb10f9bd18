#!/usr/bin/env bash
# Builds and tests with the sanitizers (scripts/test.sh runs it last).
set -euo pipefail
cd "$(dirname "$0")/.."
# The sanitizer build (clang, ASan + UBSan, and the libFuzzer targets;
# docs/fuzzing.md): the unit tests, the netns suites that drive the most of
# the daemon, the HTTP limits, and each fuzz target for VPCD_FUZZ_SECONDS.
# Every report goes to a file of its own; any file at all fails the run,
# whatever the exit code of the process that wrote it (a daemon's leak
# report at exit would otherwise only reach its log).
san="${BUILD_DIR:-build}-san"
# RelWithDebInfo: a report names the file and line (build.sh's default,
# Release, has no debug information).
BUILD_DIR="$san" BUILD_TYPE=RelWithDebInfo TARGETS="vpcd vpcctl unit_tests fuzz_http_api fuzz_bodies fuzz_files fuzz_kernel_replies" \
  CMAKE_ARGS="-DCMAKE_CXX_COMPILER=clang++ -DVPCD_SANITIZE=ON -DVPCD_FUZZ=ON -DVPCD_FUZZ_SECONDS=${VPCD_FUZZ_SECONDS:-20}" \
  scripts/build.sh
reports=$(mktemp -d /tmp/vpcd-sanitizer.XXXXXX)
status=0
ASAN_OPTIONS="detect_leaks=1:log_path=$reports/asan" UBSAN_OPTIONS="print_stacktrace=1:log_path=$reports/ubsan" \
  ctest --test-dir "$san" --output-on-failure -j "${VPCD_TEST_JOBS:-2}" \
  -R '^(unit|netns\.(user_story|policy|instance|restart)|dryrun|http_limits|fuzz\..*)$' || status=$?
if compgen -G "$reports/*" >/dev/null; then
  cat "$reports"/* >&2
  echo "sanitizers: the reports above (kept in $reports)" >&2
  exit 1
fi
rm -rf "$reports"
exit "$status"
