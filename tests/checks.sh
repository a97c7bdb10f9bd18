# Shared by the tests that run outside the netns sandbox (dryrun, units,
# permissions, package): a scratch directory removed at exit, a daemon they
# start ended by its pid ($PID), and the check helpers.
# Usage: source tests/checks.sh NAME   (WORK becomes /tmp/vpcd-NAME.XXXXXX)
set -euo pipefail
: "${VPCD_BIN_DIR:?VPCD_BIN_DIR must point at the build directory}"
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/poll.sh"
WORK=$(mktemp -d "/tmp/vpcd-$1.XXXXXX")
PID=""
ON_EXIT=()  # extra commands to run first at exit
checks_cleanup() {
  for hook in "${ON_EXIT[@]}"; do $hook || true; done
  if [[ -n "$PID" ]]; then kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; fi
  rm -rf "$WORK"
}
trap checks_cleanup EXIT

FAILURES=0
pass() { echo "ok: $*"; }
fail() {
  echo "FAIL: $*"
  FAILURES=$((FAILURES + 1))
}
check() {  # description command...
  local what=$1
  shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}
assert_eq() {  # expected actual message
  if [[ "$1" == "$2" ]]; then pass "$3"; else fail "$3: expected [$1], got [$2]"; fi
}
assert_contains() {  # haystack needle message
  if [[ "$1" == *"$2"* ]]; then pass "$3"; else fail "$3: [$2] not in [$1]"; fi
}
assert_not_contains() {
  if [[ "$1" != *"$2"* ]]; then pass "$3"; else fail "$3: [$2] found in [$1]"; fi
}
finish() {
  if ((FAILURES != 0)); then
    echo "$FAILURES check(s) failed"
    exit 1
  fi
  echo "all checks passed"
}
