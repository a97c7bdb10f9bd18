# Shared set-up for the netns tests. Each test script sources this first; it
# re-executes the script inside a private network + mount namespace, so no
# link, namespace, rule or packet of the test ever reaches the real host.
#
# Inside the sandbox:
#   /run/netns      a tmpfs, private to the sandbox
#   internet        a namespace standing for the outside world, 198.51.100.1,
#                   reached through the veth "uplink0" (198.51.100.2), which
#                   carries the sandbox's default route
#   $WORK           state dir, socket and logs of the daemon under test
set -euo pipefail

if [[ $EUID -ne 0 ]]; then
  echo "SKIP: the netns tests need root (they create namespaces inside a private sandbox)"
  exit 77
fi
if [[ -z "${VPCD_IN_SANDBOX:-}" ]]; then
  exec env VPCD_IN_SANDBOX=1 unshare --net --mount --propagation private -- bash "$0" "$@"
fi

: "${VPCD_BIN_DIR:?VPCD_BIN_DIR must point at the build directory}"
TESTS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VPCD="$VPCD_BIN_DIR/vpcd"
VPCCTL_BIN="$VPCD_BIN_DIR/vpcctl"
WORK="$(mktemp -d /tmp/vpcd-netns-test.XXXXXX)"
SOCK="$WORK/vpcd.sock"
STATE="$WORK/state"
SERVER_ADDR=198.51.100.1
UPLINK_ADDR=198.51.100.2
DAEMON_PID=""
CHILD_PIDS=()
FAILURES=0

cleanup() {
  local rc=$?
  stop_daemon || true
  for pid in "${CHILD_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  if [[ $rc -ne 0 || $FAILURES -ne 0 ]]; then
    echo "--- daemon log ($WORK/vpcd.log) ---"
    tail -n 40 "$WORK/vpcd.log" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p /run/netns
mount -t tmpfs vpcd-test-netns /run/netns
ip link set lo up
ip netns add internet
ip link add uplink0 type veth peer name eth0 netns internet
ip addr add "$UPLINK_ADDR/24" dev uplink0
ip link set uplink0 up
ip -n internet addr add "$SERVER_ADDR/24" dev eth0
ip -n internet link set eth0 up
ip -n internet link set lo up
ip route add default via "$SERVER_ADDR"
# Every IPv4 packet that reaches the fake internet is counted here.
ip netns exec internet nft -f - <<'NFT'
table inet count {
  counter arrived {}
  chain input { type filter hook prerouting priority -300; meta nfproto ipv4 counter name arrived; }
}
NFT

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

# wait_until SECONDS CMD...: polls CMD until it succeeds or the deadline passes.
wait_until() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then return 1; fi
    sleep 0.05
  done
}

vpcctl() { "$VPCCTL_BIN" --socket "$SOCK" "$@"; }

# api METHOD PATH [BODY]: prints "<status> <body>"
api() {
  local args=(-s -o "$WORK/body" -w '%{http_code}' --unix-socket "$SOCK" -X "$1" "http://vpcd$2")
  if [[ $# -ge 3 ]]; then args+=(-H 'Content-Type: application/json' --data-binary "$3"); fi
  local code
  code=$(curl "${args[@]}")
  echo "$code $(tr -d '\n' <"$WORK/body")"
}

start_daemon() {
  "$VPCD" --socket "$SOCK" --state-dir "$STATE" "$@" >>"$WORK/vpcd.log" 2>&1 &
  DAEMON_PID=$!
  if ! wait_until 10 vpcctl health; then
    fail "vpcd did not come up"
    cat "$WORK/vpcd.log" >&2
    exit 1
  fi
}

stop_daemon() {
  if [[ -n "$DAEMON_PID" ]]; then
    kill -TERM "$DAEMON_PID" 2>/dev/null || true
    wait "$DAEMON_PID" 2>/dev/null || true
    DAEMON_PID=""
  fi
}

# start_server NS ADDR PORT: the echo server (answers with the client address)
start_server() {
  ip netns exec "$1" python3 "$TESTS_DIR/echo_server.py" "$2" "$3" >/dev/null 2>&1 &
  CHILD_PIDS+=($!)
  if ! wait_until 15 ip netns exec "$1" bash -c "echo > /dev/tcp/$2/$3"; then
    fail "server $2:$3 in $1 did not start"
    exit 1
  fi
}

# fetch NS URL: prints the body, or nothing on failure (2 s limit)
fetch() { ip netns exec "$1" curl -s --max-time 2 "$2" || true; }

# tcp_connect NS ADDR PORT: succeeds when a TCP connection is accepted
tcp_connect() { ip netns exec "$1" timeout 2 bash -c "echo > /dev/tcp/$2/$3" 2>/dev/null; }

internet_packets() {
  ip netns exec internet nft -j list counter inet count arrived |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print([o["counter"]["packets"] for o in d["nftables"] if "counter" in o][0])'
}

json_field() {  # JSON on stdin, python expression on `d`
  python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"
}

finish() {
  if [[ $FAILURES -ne 0 ]]; then
    echo "$FAILURES check(s) failed"
    exit 1
  fi
  echo "all checks passed"
}
