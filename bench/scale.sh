#!/usr/bin/env bash
# Rows 7 and 8 of bench/run (issue 14: a request costs what it changes, not
# what the host holds).
#  7. creating one subnet in a fresh VPC (one request, through the socket)
#     with 10 subnets already on the host against 1,000 (5 VPCs x 200);
#  8. replacing a policy in one VPC with no other policy on the host against
#     with 1,000 policy rules in each of the other VPCs.
#  9. beside row 7, the kernel's own floor for a subnet (../shared/bench/
#     nl_floor.c: netns + veth + addresses + route over libnl, serially) on an
#     empty host and on the host holding the 1,000 subnets: what any tool pays.
# Each timed request is repeated K times (create, then delete) and the median
# kept. Usage: bench/scale.sh RUNS [BIG] (default 1000 subnets).
source "$(dirname "$0")/lib.sh"
RUNS=${1:-5}
BIG=${2:-1000}
K=9

# VPCs v1..vV with PER subnets each, half public; 10.<v>.<i>.0/24.
host_requests() {
  local vpcs=$1 per=$2
  for v in $(seq 1 "$vpcs"); do
    echo "POST /v1/vpcs {\"name\":\"v$v\",\"cidr\":\"10.$v.0.0/16\"}"
    for i in $(seq 1 "$per"); do subnet_request "v$v" "$i" "10.$v.$i.0/24"; done
  done
  echo 'POST /v1/vpcs {"name":"fresh","cidr":"10.200.0.0/16"}'
}

# A policy on v<v>/s1 with N ingress rules, each its own /32 and port.
policy_body() {
  python3 - "$1" "$2" <<'PY'
import json, sys
vpc, n = sys.argv[1], int(sys.argv[2])
rules = [{"priority": i, "action": "allow", "protocol": "tcp", "ports": [str(1000 + i)],
          "sources": [f"192.0.{i // 250}.{i % 250}/32"]} for i in range(n)]
print(json.dumps({"applies_to": [f"{vpc}/s1"], "ingress": rules}))
PY
}

# The median of K single requests (ms); each creates then removes, so every
# repetition meets the same host.
median_request() {  # METHOD PATH BODY UNDO-METHOD UNDO-PATH [UNDO-BODY]
  local times=()
  for _ in $(seq "$K"); do
    printf '%s %s %s\n' "$1" "$2" "$3" >"$WORK/one"
    times+=("$(python3 "$BENCH/api_client.py" "$SOCK" <"$WORK/one")")
    printf '%s %s %s\n' "$4" "$5" "${6:-}" | python3 "$BENCH/api_client.py" "$SOCK" >/dev/null
  done
  printf '%s\n' "${times[@]}" | sort -n | sed -n "$(((K + 1) / 2))p"
}

# The kernel floor: 20 subnets built by nl_floor, microseconds per subnet ->
# milliseconds. It runs in a network namespace of its own (it picks fixed
# interface indexes, taken on a populated host) beside the same netns
# directory; its namespaces it removes itself, its bridge goes with its own.
FLOOR_SRC="$ROOT/../shared/bench/nl_floor.c"
FLOOR=""
read -ra NL_FLAGS <<<"$(pkg-config --cflags --libs libnl-route-3.0)"
if [[ -f $FLOOR_SRC ]] && cc -O2 -o "$WORK/nl_floor" "$FLOOR_SRC" "${NL_FLAGS[@]}"; then
  FLOOR="$WORK/nl_floor"
else
  echo "scale: no $FLOOR_SRC (or it does not build): the kernel-floor rows are left out" >&2
fi
floor_ms() {
  unshare --net "$FLOOR" 20 subnet |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["build_per_iter_us"] / 1000)'
}

subnet_create() {
  median_request POST /v1/vpcs/fresh/subnets '{"name":"new","cidr":"10.200.1.0/24","type":"public"}' \
    DELETE /v1/vpcs/fresh/subnets/new
}

for _ in $(seq "$RUNS"); do
  if [[ -n $FLOOR ]]; then record "kernel floor per subnet, empty host (ms)" "$(floor_ms)"; fi
  rm -rf "$STATE"
  start_daemon
  host_requests 1 10 | python3 "$BENCH/api_client.py" "$SOCK" >/dev/null
  settle
  record "subnet create, 10 subnets on the host (ms)" "$(subnet_create)"
  stop_daemon

  rm -rf "$STATE"
  start_daemon
  host_requests 5 $((BIG / 5)) | python3 "$BENCH/api_client.py" "$SOCK" >/dev/null
  settle
  record "subnet create, $BIG subnets on the host (ms)" "$(subnet_create)"
  if [[ -n $FLOOR ]]; then
    record "kernel floor per subnet, $BIG subnets on the host (ms)" "$(floor_ms)"
  fi

  policy_body v1 100 >"$WORK/p1"
  mine=$(median_request PUT /v1/policies/mine "$(cat "$WORK/p1")" DELETE /v1/policies/mine)
  record "policy change in v1, no other policy (ms)" "$mine"
  for v in 2 3 4 5; do
    policy_body "v$v" 1000 >"$WORK/p$v"
    printf 'PUT /v1/policies/other%s %s\n' "$v" "$(cat "$WORK/p$v")" |
      python3 "$BENCH/api_client.py" "$SOCK" >/dev/null
  done
  settle
  mine=$(median_request PUT /v1/policies/mine "$(cat "$WORK/p1")" DELETE /v1/policies/mine)
  record "policy change in v1, 4,000 rules in other VPCs (ms)" "$mine"
  stop_daemon
done
ratio "subnet create: $BIG / 10 subnets on the host" "subnet create, $BIG subnets on the host (ms)" \
  "subnet create, 10 subnets on the host (ms)" "≤ 1.2"
ratio "policy change: 4,000 other rules / none" "policy change in v1, 4,000 rules in other VPCs (ms)" \
  "policy change in v1, no other policy (ms)" "≤ 1.2"
if [[ -n $FLOOR ]]; then
  ratio "kernel floor: $BIG subnets on the host / empty" \
    "kernel floor per subnet, $BIG subnets on the host (ms)" "kernel floor per subnet, empty host (ms)" "(reference)"
fi
