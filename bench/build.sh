#!/usr/bin/env bash
# Rows 1 and 2 of bench/run: one VPC with N subnets (half public) built
# through the API (one keep-alive client, first request to last 2xx) against
# (a) one ip/nft command per step and (b) one `ip -batch` per namespace plus
# one `nft -f`; torn down with one DELETE against per-link and namespace
# deletion. Usage: bench/build.sh RUNS N...
source "$(dirname "$0")/lib.sh"
RUNS=${1:-5}
shift || true

batch_build() {  # N -> ms for ip -batch (host, router, each subnet) + nft -f
  local n=$1 start
  mkdir -p "$WORK/batch"
  bash "$BENCH/baselines/batch.sh" "$WORK/batch" "$n"
  start=$(now)
  ip -batch "$WORK/batch/host.batch"
  ip -n bl-vpc -batch "$WORK/batch/router.batch"
  for i in $(seq 1 "$n"); do ip -n "bl-s$i" -batch "$WORK/batch/s$i.batch"; done
  ip netns exec bl-vpc nft -f "$WORK/batch/router.nft"
  ms_since "$start"
}

for n in "${@:-50 200}"; do
  subnet_requests "$n" >"$WORK/requests"
  for _ in $(seq "$RUNS"); do
    rm -rf "$STATE"
    start_daemon
    build=$(python3 "$BENCH/api_client.py" "$SOCK" <"$WORK/requests")
    record "vpcd build, N=$n (ms)" "$build"
    record "vpcd build per subnet, N=$n (ms)" "$(python3 -c "print($build / $n)")"
    record "vpcd teardown, N=$n (ms)" "$(timed vpcctl vpc delete bench)"
    stop_daemon
    record "(a) one command per step: build, N=$n (ms)" "$(timed bash "$BENCH/baselines/steps.sh" build "$n")"
    record "(a) per-link deletion, N=$n (ms)" "$(timed bash "$BENCH/baselines/steps.sh" teardown-links "$n")"
    record "(b) ip -batch + nft -f: build, N=$n (ms)" "$(batch_build "$n")"
    record "namespace deletion, N=$n (ms)" "$(timed bash "$BENCH/baselines/steps.sh" teardown-netns "$n")"
  done
  ratio "(a) build / vpcd build, N=$n" "(a) one command per step: build, N=$n (ms)" "vpcd build, N=$n (ms)" "≥ 25"
  ratio "(b) build / vpcd build, N=$n" "(b) ip -batch + nft -f: build, N=$n (ms)" "vpcd build, N=$n (ms)" "> 1"
  ratio "per-link deletion / vpcd teardown, N=$n" "(a) per-link deletion, N=$n (ms)" "vpcd teardown, N=$n (ms)" "≥ 50"
done
