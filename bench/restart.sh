#!/usr/bin/env bash
# Rows 3 and 6b of bench/run: vpcd restarted with N subnets in state (one VPC,
# nothing drifted): time from exec to READY=1 (sd_notify, as systemd sees it)
# and the mutating kernel calls it made, against one full dump of the same
# objects (bench/dump.py); the daemon's resident memory holding them.
# Usage: bench/restart.sh RUNS [N] (default N = 1000).
source "$(dirname "$0")/lib.sh"
RUNS=${1:-5}
N=${2:-1000}

rss() { awk '/^VmRSS/ {print $2 / 1024}' "/proc/$DAEMON_PID/status"; }

# Waits for READY=1 on a notification socket; prints the wall-clock time.
ready_time() {
  python3 - "$1" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(120)
while b"READY=1" not in s.recv(4096).split(b"\n"):
    pass
print(f"{time.time():.6f}")
PY
}

subnet_requests "$N" >"$WORK/requests"
start_daemon
python3 "$BENCH/api_client.py" "$SOCK" <"$WORK/requests" >/dev/null
record "daemon RSS after building $N subnets (MiB)" "$(rss)"
stop_daemon
for _ in $(seq "$RUNS"); do
  rm -f "$WORK/notify"
  ready_time "$WORK/notify" >"$WORK/ready" &
  waiter=$!
  wait_until 5 test -S "$WORK/notify"
  start=$(now)
  NOTIFY_SOCKET="$WORK/notify" start_daemon
  wait "$waiter"
  record "restart to READY with $N subnets (ms)" "$(ms "$start" "$(cat "$WORK/ready")")"
  record "mutating kernel calls at restart" "$(kernel_mutations)"
  record "daemon RSS after restart with $N subnets (MiB)" "$(rss)"
  stop_daemon
  record "one full dump of the same objects (ms)" "$(python3 "$BENCH/dump.py" /run/netns | cut -d' ' -f1)"
done
ratio "restart to READY / one full dump" "restart to READY with $N subnets (ms)" \
  "one full dump of the same objects (ms)" "≤ 2"
