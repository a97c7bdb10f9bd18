#!/usr/bin/env bash
# Policy scale (issue 5), inside the sandbox of scripts/sandbox.sh:
#  - apply time of one policy of N rules (distinct /24 sources and ports)
#    through the API, against `nft -f` loading the same N entries as one
#    concatenated interval map in a table of its own (the fastest
#    command-line path), each the median and min-max of RUNS runs;
#  - TCP throughput (iperf3, 3 s) from web to db, which has the N-rule
#    policy, and to db2, which has none, runs alternating so that both see
#    the same machine load.
# Prints Markdown. Usage: bench/policy_scale.sh [N] [RUNS] (default 10000 5).
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
export VPCD_BIN_DIR="${VPCD_BIN_DIR:-$ROOT/build}"
source "$ROOT/scripts/sandbox.sh"
N=${1:-10000}
RUNS=${2:-5}

stats() {  # numbers... -> "median (min-max)"
  python3 -c "import statistics,sys; v=sorted(float(x) for x in sys.argv[1:]); print(f'{statistics.median(v):.1f} ({v[0]:.1f}-{v[-1]:.1f})')" "$@"
}
ms_since() { python3 -c "import sys; print((float(sys.argv[2]) - float(sys.argv[1])) * 1000)" "$1" "$EPOCHREALTIME"; }

# The policy: N rules on prod/db, then the rule that lets iperf3 in.
python3 - "$N" >"$WORK/big.json" <<'PY'
import json, sys
n = int(sys.argv[1])
rules = [{"priority": i, "action": "allow" if i % 2 else "deny", "protocol": "tcp",
          "ports": [str(1000 + i % 60000)],
          "sources": [f"{11 + i // 65536}.{(i // 256) % 256}.{i % 256}.0/24"]} for i in range(n)]
rules.append({"priority": n, "action": "allow", "protocol": "tcp", "ports": ["5201"],
              "sources": ["10.10.1.0/24"]})
print(json.dumps({"applies_to": ["prod/db"], "default_ingress": "deny", "ingress": rules}))
PY
# The same entries for nft -f: one map, one line per element.
python3 - "$N" >"$WORK/big.nft" <<'PY'
import sys
n = int(sys.argv[1])
print("table inet bench {\n  chain deny { }\n  map m {\n    type ipv4_addr . inet_proto . inet_service : verdict\n    flags interval\n    counter\n    elements = {")
print(",\n".join(f"      {11 + i // 65536}.{(i // 256) % 256}.{i % 256}.0/24 . tcp . {1000 + i % 60000} : {'accept' if i % 2 else 'drop'}" for i in range(n)))
print("    }\n  }\n  chain c { type filter hook forward priority 10; ip saddr . meta l4proto . th dport vmap @m; }\n}")
PY

start_daemon
vpcctl vpc create prod --cidr 10.10.0.0/16 >/dev/null
vpcctl subnet create prod web --cidr 10.10.1.0/24 --public >/dev/null
vpcctl subnet create prod db --cidr 10.10.2.0/24 >/dev/null
vpcctl subnet create prod db2 --cidr 10.10.3.0/24 >/dev/null

iperf() {  # SUBNET ADDR -> Gbit/s from web
  ip netns exec "vpc-prod.$1" iperf3 -s -1 -B "$2" >/dev/null 2>&1 &
  local server=$!
  wait_until 5 ip netns exec "vpc-prod.$1" bash -c "ss -ltn | grep -q $2:5201"
  ip netns exec vpc-prod.web iperf3 -c "$2" -t 3 -J |
    python3 -c "import json,sys; print(json.load(sys.stdin)['end']['sum_received']['bits_per_second'] / 1e9)"
  wait "$server" 2>/dev/null || true
}

# nft -f runs in the sandbox's own namespace (no `ip netns exec` in the
# timing) into a table of its own, deleted after each run.
put_vpcd() {
  api DELETE /v1/policies/big >/dev/null
  # curl as a user runs it: wall time of the process, like nft -f.
  local start=$EPOCHREALTIME code
  code=$(curl -s -o "$WORK/body" -w '%{http_code}' --unix-socket "$SOCK" -X PUT \
    -H 'Content-Type: application/json' --data-binary "@$WORK/big.json" http://vpcd/v1/policies/big)
  vpcd_ms+=("$(ms_since "$start")")
  [[ $code == 201 ]] || { echo "PUT: HTTP $code: $(cat "$WORK/body")" >&2; exit 1; }
}
load_nft() {
  local start=$EPOCHREALTIME
  nft -f "$WORK/big.nft"
  nft_ms+=("$(ms_since "$start")")
  nft delete table inet bench
}
# Alternating, in both orders (ABBA), so that drifts in machine load and
# whatever the first of a pair pays are shared by both sides.
vpcd_ms=() nft_ms=() bare=() with=()
for i in $(seq "$RUNS"); do
  if ((i % 2)); then put_vpcd; load_nft; else load_nft; put_vpcd; fi
done
elements=$(ip netns exec vpc-prod nft list map inet vpcd in_db_l4 | grep -c ' : ')
for i in $(seq "$RUNS"); do
  if ((i % 2)); then
    bare+=("$(iperf db2 10.10.3.2)")
    with+=("$(iperf db 10.10.2.2)")
  else
    with+=("$(iperf db 10.10.2.2)")
    bare+=("$(iperf db2 10.10.3.2)")
  fi
done

median() { python3 -c "import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))" "$@"; }
echo "| policy of $N rules | value |"
echo "|---|---|"
echo "| vpcd apply (PUT, compile + one nft transaction), ms | $(stats "${vpcd_ms[@]}") |"
echo "| nft -f, same entries as one map, ms | $(stats "${nft_ms[@]}") |"
echo "| ratio vpcd / nft -f (medians) | $(python3 -c "print(round($(median "${vpcd_ms[@]}") / $(median "${nft_ms[@]}"), 2))") |"
echo "| entries in the compiled map | $elements |"
echo "| TCP web -> db2 (no policy), Gbit/s | $(stats "${bare[@]}") |"
echo "| TCP web -> db ($N-rule policy), Gbit/s | $(stats "${with[@]}") |"
echo "| throughput kept (medians) | $(python3 -c "print(f'{100 * $(median "${with[@]}") / $(median "${bare[@]}"):.1f} %')") |"
# Each pair ran back to back, so its ratio is the least disturbed by the
# machine's load drifting over the run.
pairs=$(python3 -c "import statistics,sys; n=len(sys.argv)//2; w=sys.argv[1:n+1]; b=sys.argv[n+1:]; print(f'{100 * statistics.median(float(x) / float(y) for x, y in zip(w, b)):.1f} %')" "${with[@]}" "${bare[@]}")
echo "| throughput kept (median of the per-pair ratios) | $pairs |"
