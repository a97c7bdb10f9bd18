#!/usr/bin/env bash
# Times vpcd on one VPC with N subnets (half public), inside the sandbox of
# scripts/sandbox.sh: build through the API, restart on the intact kernel,
# teardown. Prints a Markdown table. Usage: bench/build_teardown.sh [N ...]
# (default 50 200). A starting point for issue 8's bench/run, which adds the
# baselines (ip/nft scripts) and the other rows.
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
export VPCD_BIN_DIR="${VPCD_BIN_DIR:-$ROOT/build}"
source "$ROOT/scripts/sandbox.sh"

ms_since() { python3 -c "import sys; print(round((float(sys.argv[2]) - float(sys.argv[1])) * 1000))" "$1" "$EPOCHREALTIME"; }
echo "| subnets | build (ms) | per subnet (ms) | kernel calls | restart to ready (ms) | restart kernel calls | teardown (ms) |"
echo "|---|---|---|---|---|---|---|"
for n in "${@:-50 200}"; do
  for size in $n; do
    rm -rf "$STATE"
    start_daemon
    api POST /v1/vpcs '{"name":"bench","cidr":"10.0.0.0/8"}' >/dev/null
    before=$(kernel_mutations)
    start=$EPOCHREALTIME
    for i in $(seq 1 "$size"); do
      type=$([[ $((i % 2)) -eq 0 ]] && echo public || echo private)
      code=$(api POST /v1/vpcs/bench/subnets "{\"name\":\"s$i\",\"cidr\":\"10.$((i / 256)).$((i % 256)).0/24\",\"type\":\"$type\"}" | cut -d' ' -f1)
      [[ $code == 201 ]] || { echo "subnet $i: HTTP $code" >&2; exit 1; }
    done
    build=$(ms_since "$start")
    calls=$(( $(kernel_mutations) - before ))
    stop_daemon
    start=$EPOCHREALTIME
    start_daemon
    restart=$(ms_since "$start")
    restart_calls=$(kernel_mutations)
    start=$EPOCHREALTIME
    vpcctl vpc delete bench >/dev/null
    teardown=$(ms_since "$start")
    stop_daemon
    echo "| $size | $build | $(python3 -c "print(round($build / $size, 2))") | $calls | $restart | $restart_calls | $teardown |"
  done
done
