# Shared set-up for the netns tests: the sandbox of scripts/sandbox.sh (a
# private network + mount namespace with a fake internet behind uplink0), plus
# assertions. Each test script sources this first.
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/../../scripts" && pwd)/sandbox.sh"

FAILURES=0
show_log_on_failure() {
  if [[ $1 -ne 0 || $FAILURES -ne 0 ]]; then
    echo "--- daemon log ($WORK/vpcd.log) ---"
    tail -n 40 "$WORK/vpcd.log" 2>/dev/null || true
  fi
}
ON_EXIT+=(show_log_on_failure)

fail() {
  echo "FAIL: $*" >&2
  FAILURES=$((FAILURES + 1))
}
pass() { echo "ok: $*"; }

assert_eq() {  # expected actual message
  if [[ "$1" == "$2" ]]; then pass "$3"; else fail "$3: expected [$1], got [$2]"; fi
}
assert_contains() {  # haystack needle message
  if [[ "$1" == *"$2"* ]]; then pass "$3"; else fail "$3: [$2] not in [$1]"; fi
}
assert_not_contains() {
  if [[ "$1" != *"$2"* ]]; then pass "$3"; else fail "$3: [$2] found in [$1]"; fi
}

# tcp_connect NS ADDR PORT: succeeds when a TCP connection is accepted
tcp_connect() { ip netns exec "$1" timeout 2 bash -c "echo > /dev/tcp/$2/$3" 2>/dev/null; }

# The lab most tests start from: the internet server, a daemon, and VPC prod
# with a public subnet web (10.10.1.0/24) and a private subnet db
# (10.10.2.0/24). Arguments go to the daemon.
prod_lab() {
  start_server internet "$SERVER_ADDR" 80
  start_daemon "$@"
  vpcctl vpc create prod --cidr 10.10.0.0/16 >/dev/null
  vpcctl subnet create prod web --cidr 10.10.1.0/24 --public >/dev/null
  vpcctl subnet create prod db --cidr 10.10.2.0/24 --private >/dev/null
}

finish() {
  if [[ $FAILURES -ne 0 ]]; then
    echo "$FAILURES check(s) failed"
    exit 1
  fi
  echo "all checks passed"
}
