# shellcheck shell=bash
# Shared by the bench/ sections, sourced first: it moves the section into a
# sandbox of its own (scripts/sandbox.sh re-runs it there). Every figure is
# recorded as "section<TAB>row<TAB>value" in $BENCH_OUT (bench/run sets it; a
# section run alone gets its own), and bench/report.py turns the lines into
# medians, ranges and ratios.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export VPCD_BIN_DIR="${VPCD_BIN_DIR:-$ROOT/build}"
source "$ROOT/scripts/sandbox.sh"
BENCH="$ROOT/bench"
BENCH_OUT="${BENCH_OUT:-$WORK/results.tsv}"
SECTION="${SECTION:-$(basename "$0" .sh)}"

now() { echo "$EPOCHREALTIME"; }
ms() { python3 -c "import sys; print(round((float(sys.argv[2]) - float(sys.argv[1])) * 1000, 2))" "$1" "$2"; }
ms_since() { ms "$1" "$(now)"; }
record() { printf '%s\t%s\t%s\n' "$SECTION" "$1" "$2" >>"$BENCH_OUT"; }

timed() {  # CMD... -> ms of wall time
  local start
  start=$(now)
  "$@" >/dev/null
  ms_since "$start"
}

# One subnet request: subnet s<I> in VPC $1 with CIDR $3, public when I is even.
subnet_request() {
  local type=private
  (($2 % 2 == 0)) && type=public
  echo "POST /v1/vpcs/$1/subnets {\"name\":\"s$2\",\"cidr\":\"$3\",\"type\":\"$type\"}"
}

# N requests creating one VPC "bench" (10.0.0.0/8) with N subnets, half public.
subnet_requests() {
  echo 'POST /v1/vpcs {"name":"bench","cidr":"10.0.0.0/8"}'
  for i in $(seq 1 "$1"); do subnet_request bench "$i" "10.$((i / 256)).$((i % 256)).0/24"; done
}

# iperf3 from namespace $1 to server $3 in namespace $2: TCP Gbit/s, or with
# "udp" as $4 the 64-byte datagrams per second that arrived.
iperf() {
  local client=$1 serverNs=$2 addr=$3 mode=${4:-tcp} server
  ip netns exec "$serverNs" iperf3 -s -1 -B "$addr" >/dev/null 2>&1 &
  server=$!
  wait_until 5 ip netns exec "$serverNs" bash -c "ss -ltn | grep -q '$addr:5201'"
  if [[ $mode == udp ]]; then
    ip netns exec "$client" iperf3 -c "$addr" -u -l 64 -b 0 -t "${IPERF_SECONDS:-2}" -J |
      python3 -c "import json,sys; e=json.load(sys.stdin)['end']['sum']; print(round((e['packets'] - e['lost_packets']) / e['seconds']))"
  else
    ip netns exec "$client" iperf3 -c "$addr" -t "${IPERF_SECONDS:-2}" -J |
      python3 -c "import json,sys; print(round(json.load(sys.stdin)['end']['sum_received']['bits_per_second'] / 1e9, 2))"
  fi
  wait "$server" 2>/dev/null || true
}

# ratio LABEL NUMERATOR-ROW DENOMINATOR-ROW TARGET: printed by report.py.
ratio() { printf '%s\t#ratio\t%s|%s|%s|%s\n' "$SECTION" "$1" "$2" "$3" "$4" >>"$BENCH_OUT"; }

# Waits (up to 30 s) until the daemon has used no CPU for a second: the
# kernel's deferred notifications of what was just built (link watch, carrier
# changes) have arrived and been handled, so a timed request meets a quiet
# host rather than the tail of the build.
settle() {
  local last="" same=0 cpu
  for _ in $(seq 150); do
    cpu=$(awk '{print $14 + $15}' "/proc/$DAEMON_PID/stat")
    if [[ $cpu == "$last" ]]; then
      ((++same >= 5)) && return 0
    else
      same=0
      last=$cpu
    fi
    sleep 0.2
  done
}
