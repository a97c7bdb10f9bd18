#!/usr/bin/env bash
# Row 4 of bench/run, policy scale (issue 5), inside the sandbox:
#  - apply time of one policy of N rules (distinct /24 sources and ports)
#    through the API, against `nft -f` loading the same N entries as one
#    concatenated interval map in a table of its own (the fastest
#    command-line path), alternating (ABBA);
#  - TCP throughput (iperf3) from web to db, which has the N-rule policy, and
#    to db2, which has none, run in pairs; and to db2 again with the same N
#    rules as an iptables linear chain in the router (what a script of
#    iptables commands builds).
# Usage: bench/policy.sh RUNS [N] (default N = 10000).
source "$(dirname "$0")/lib.sh"
RUNS=${1:-5}
N=${2:-10000}

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

# nft -f runs in the sandbox's own namespace (no `ip netns exec` in the
# timing) into a table of its own, deleted after each run.
put_vpcd() {
  api DELETE /v1/policies/big >/dev/null
  # curl as a user runs it: wall time of the process, like nft -f.
  local start=$EPOCHREALTIME code
  code=$(curl -s -o "$WORK/body" -w '%{http_code}' --unix-socket "$SOCK" -X PUT \
    -H 'Content-Type: application/json' --data-binary "@$WORK/big.json" http://vpcd/v1/policies/big)
  record "vpcd apply of $N rules (PUT, compile + one transaction), ms" "$(ms_since "$start")"
  [[ $code == 201 ]] || { echo "PUT: HTTP $code: $(cat "$WORK/body")" >&2; exit 1; }
}
load_nft() {
  local start=$EPOCHREALTIME
  nft -f "$WORK/big.nft"
  record "nft -f of the same entries as one map, ms" "$(ms_since "$start")"
  nft delete table inet bench
}
# Alternating, in both orders (ABBA), so that drifts in machine load and
# whatever the first of a pair pays are shared by both sides.
for i in $(seq "$RUNS"); do
  if ((i % 2)); then put_vpcd; load_nft; else load_nft; put_vpcd; fi
done
record "entries in the compiled map" "$(ip netns exec vpc-prod nft list map inet vpcd in_db_l4 | grep -c ' : ')"
ratio "vpcd apply / nft -f" "vpcd apply of $N rules (PUT, compile + one transaction), ms" \
  "nft -f of the same entries as one map, ms" "≤ 1.5"

bare="TCP web -> db2 (no policy), Gbit/s"
with="TCP web -> db ($N-rule policy), Gbit/s"
for i in $(seq "$RUNS"); do
  if ((i % 2)); then
    record "$bare" "$(iperf vpc-prod.web vpc-prod.db2 10.10.3.2)"
    record "$with" "$(iperf vpc-prod.web vpc-prod.db 10.10.2.2)"
  else
    record "$with" "$(iperf vpc-prod.web vpc-prod.db 10.10.2.2)"
    record "$bare" "$(iperf vpc-prod.web vpc-prod.db2 10.10.3.2)"
  fi
done
ratio "throughput kept with the policy" "$with" "$bare" "≥ 0.95"

# The same rules as an iptables linear chain that every forwarded packet of
# the router walks (none matches the test flow), then the flow again.
python3 - "$N" >"$WORK/linear.rules" <<'PY'
import sys
n = int(sys.argv[1])
print("*filter\n:FORWARD ACCEPT [0:0]\n:linear - [0:0]\n-A FORWARD -j linear")
for i in range(n):
    src = f"{11 + i // 65536}.{(i // 256) % 256}.{i % 256}.0/24"
    print(f"-A linear -s {src} -p tcp --dport {1000 + i % 60000} -j {'ACCEPT' if i % 2 else 'DROP'}")
print("COMMIT")
PY
ip netns exec vpc-prod iptables-restore <"$WORK/linear.rules"
linear="TCP web -> db2 through an iptables linear chain of $N rules, Gbit/s"
for _ in $(seq "$RUNS"); do record "$linear" "$(iperf vpc-prod.web vpc-prod.db2 10.10.3.2)"; done
ratio "throughput kept with the iptables linear chain" "$linear" "$bare" "(baseline)"
