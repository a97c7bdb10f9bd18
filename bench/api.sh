#!/usr/bin/env bash
# Row 6a of bench/run: GET /v1/vpcs on a lab of 5 VPCs with 4 subnets each,
# from 1, 8 and 64 concurrent clients (bench/api_load.py, one keep-alive
# connection each, 2 s per run): requests per second, p50 and p99 latency.
# Usage: bench/api.sh RUNS
source "$(dirname "$0")/lib.sh"
RUNS=${1:-5}

start_daemon --log-level warning
for v in 1 2 3 4 5; do
  vpcctl vpc create "lab$v" --cidr "10.$v.0.0/16" >/dev/null
  for s in 1 2 3 4; do vpcctl subnet create "lab$v" "s$s" --cidr "10.$v.$s.0/24" >/dev/null; done
done
for clients in 1 8 64; do
  for _ in $(seq "$RUNS"); do
    read -r rps p50 p99 < <(python3 "$BENCH/api_load.py" "$SOCK" "$clients" 2 /v1/vpcs)
    record "GET /v1/vpcs, $clients clients: requests/s" "$rps"
    record "GET /v1/vpcs, $clients clients: p50 (ms)" "$p50"
    record "GET /v1/vpcs, $clients clients: p99 (ms)" "$p99"
  done
done
