# A throwaway sandbox for running vpcd for real without touching the host:
# sourcing this re-executes the calling script in a private network + mount
# namespace, mounts a tmpfs over /run/netns there, and builds a fake
# "internet": a namespace at 198.51.100.1 behind a veth uplink (uplink0,
# 198.51.100.2) that carries the sandbox's default route. Every packet stays
# inside; everything vanishes when the script exits.
#
# Used by the netns tests (tests/netns/lib.sh) and the demo (scripts/demo.sh).
set -euo pipefail

if [[ $EUID -ne 0 ]]; then
  echo "SKIP: this needs root (it creates namespaces inside a private sandbox)"
  exit 77
fi
if [[ -z "${VPCD_IN_SANDBOX:-}" ]]; then
  exec env VPCD_IN_SANDBOX=1 unshare --net --mount --propagation private -- bash "$0" "$@"
fi

: "${VPCD_BIN_DIR:?VPCD_BIN_DIR must point at the build directory}"
SANDBOX_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VPCD="$VPCD_BIN_DIR/vpcd"
VPCCTL_BIN="$VPCD_BIN_DIR/vpcctl"
WORK="$(mktemp -d /tmp/vpcd-sandbox.XXXXXX)"
# Traversable (not listable): the VPC resolvers, which run as nobody, read
# their hosts files in $WORK/run/dns.
chmod 0711 "$WORK"
mkdir -m 0755 "$WORK/run"
SOCK="$WORK/vpcd.sock"
STATE="$WORK/state"
SERVER_ADDR=198.51.100.1
UPLINK_ADDR=198.51.100.2
DAEMON_PID=""
CHILD_PIDS=()
ON_EXIT=()  # extra commands to run first at exit

# Instance commands outlive the daemon by design (a restart adopts them); a
# sandbox ends those it caused to be started, each by the pid and start time
# the daemon recorded, with their process group.
end_instance_commands() {
  [[ -d "$STATE/instances" ]] || return 0
  python3 - "$STATE/instances" <<'PY'
import glob, json, os, signal, sys
for path in glob.glob(sys.argv[1] + "/*.json"):
    inst = json.load(open(path))["instance"]
    pid, start = inst.get("pid", 0), inst.get("pid_start_time", 0)
    try:
        stat = open(f"/proc/{pid}/stat").read()
    except OSError:
        continue
    if pid > 0 and int(stat[stat.rindex(")") + 2:].split()[19]) == start:
        os.killpg(pid, signal.SIGKILL)
PY
}

# The VPC resolvers vpcd started (dnsmasq, one per VPC), by their pid records,
# and the fake internet's resolver.
end_resolvers() {
  local record pid start
  for record in "$WORK"/run/dns/*.pid "$WORK/upstream-dns.pid"; do
    [[ -f $record && $record != *.dnsmasq.pid ]] || continue
    read -r pid start <"$record" || true
    [[ -n $pid && -d /proc/$pid ]] || continue
    if [[ -z $start || $(awk '{print $22}' "/proc/$pid/stat") == "$start" ]]; then kill "$pid" || true; fi
  done
}

sandbox_cleanup() {
  local rc=$?
  for hook in "${ON_EXIT[@]}"; do $hook "$rc" || true; done
  stop_daemon || true
  end_instance_commands || true
  end_resolvers || true
  for pid in "${CHILD_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
  return "$rc"
}
trap sandbox_cleanup EXIT

mkdir -p /run/netns
mount -t tmpfs vpcd-sandbox-netns /run/netns
# The namespaces' /etc files (hosts, resolv.conf) stay in the sandbox too.
[[ -d /etc/netns ]] || mkdir /etc/netns
mount -t tmpfs vpcd-sandbox-etc-netns /etc/netns
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

source "$SANDBOX_LIB_DIR/poll.sh"

# The fake internet's resolver at $SERVER_ADDR: example.test is the server,
# every other name is NXDOMAIN at once. The VPC resolvers forward to it.
if command -v dnsmasq >/dev/null; then
  ip netns exec internet dnsmasq --conf-file=/dev/null --no-resolv --no-hosts \
    --listen-address="$SERVER_ADDR" --bind-interfaces --address=/example.test/"$SERVER_ADDR" \
    --address=/#/ --pid-file="$WORK/upstream-dns.pid" --user=root
  # dnsmasq forks into the background; it is ended by its pid file at exit.
fi

vpcctl() { "$VPCCTL_BIN" --socket "$SOCK" "$@"; }

# api METHOD PATH [BODY]: prints "<status> <body>"
api() {
  local args=(-s -o "$WORK/body" -w '%{http_code}' --unix-socket "$SOCK" -X "$1" "http://vpcd$2")
  if [[ $# -ge 3 ]]; then args+=(-H 'Content-Type: application/json' --data-binary "$3"); fi
  local code
  code=$(curl "${args[@]}")
  echo "$code $(tr -d '\n' <"$WORK/body")"
}

json_field() {  # JSON on stdin, python expression on `d`
  python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"
}

# Mutating kernel calls the running daemon made since it started.
kernel_mutations() { vpcctl status -o json | json_field 'd["kernel_mutations"]'; }

start_daemon() {
  "$VPCD" --socket "$SOCK" --state-dir "$STATE" --run-dir "$WORK/run" \
    --dns-upstream "$SERVER_ADDR" "$@" \
    >>"$WORK/vpcd.log" 2>&1 &
  DAEMON_PID=$!
  if ! wait_until 10 vpcctl health; then
    echo "vpcd did not come up:" >&2
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

# start_server NS ADDR PORT: an HTTP server that answers with the client address
start_server() {
  ip netns exec "$1" python3 "$SANDBOX_LIB_DIR/echo_server.py" "$2" "$3" >/dev/null 2>&1 &
  CHILD_PIDS+=($!)
  if ! wait_until 15 ip netns exec "$1" bash -c "echo > /dev/tcp/$2/$3"; then
    echo "server $2:$3 in $1 did not start" >&2
    exit 1
  fi
}

# fetch NS URL: prints the body, or nothing on failure (2 s limit)
fetch() { ip netns exec "$1" curl -s --max-time 2 "$2" || true; }

internet_packets() {
  ip netns exec internet nft list counter inet count arrived | grep -o 'packets [0-9]*' | cut -d' ' -f2
}
