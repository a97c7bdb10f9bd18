#!/usr/bin/env bash
# Row 5 of bench/run: iperf3 TCP throughput and 64-byte UDP datagrams per
# second on three paths built by vpcd — between two subnets of a VPC, from a
# public subnet through both NATs to the fake internet, across a peering —
# and on the same paths built by hand (bench/baselines/paths.sh), each pair
# run back to back, alternating which goes first. Usage: bench/dataplane.sh RUNS
source "$(dirname "$0")/lib.sh"
RUNS=${1:-5}

start_daemon --log-level warning
vpcctl vpc create a --cidr 10.10.0.0/16 >/dev/null
vpcctl subnet create a web --cidr 10.10.1.0/24 --public >/dev/null
vpcctl subnet create a db --cidr 10.10.2.0/24 >/dev/null
vpcctl vpc create b --cidr 10.20.0.0/16 >/dev/null
vpcctl subnet create b app --cidr 10.20.1.0/24 >/dev/null
vpcctl peering request ab --vpc a --peer-vpc b >/dev/null
vpcctl peering accept ab >/dev/null
bash "$BENCH/baselines/paths.sh" uplink0

# path label, then vpcd's client, server namespace, address; then by hand.
PATHS=(
  "between subnets|vpc-a.web|vpc-a.db|10.10.2.2|ha-web|ha-db|10.110.2.2"
  "through NAT to the internet|vpc-a.web|internet|$SERVER_ADDR|ha-web|internet|$SERVER_ADDR"
  "across a peering|vpc-a.web|vpc-b.app|10.20.1.2|ha-web|hb-app|10.120.1.2"
)
for spec in "${PATHS[@]}"; do
  IFS='|' read -r label vc vs va hc hs ha <<<"$spec"
  for mode in tcp udp; do
    unit=$([[ $mode == tcp ]] && echo "TCP Gbit/s" || echo "UDP 64 B, datagrams/s")
    for i in $(seq "$RUNS"); do
      if ((i % 2)); then
        record "vpcd, $label: $unit" "$(iperf "$vc" "$vs" "$va" "$mode")"
        record "by hand, $label: $unit" "$(iperf "$hc" "$hs" "$ha" "$mode")"
      else
        record "by hand, $label: $unit" "$(iperf "$hc" "$hs" "$ha" "$mode")"
        record "vpcd, $label: $unit" "$(iperf "$vc" "$vs" "$va" "$mode")"
      fi
    done
    ratio "vpcd / by hand, $label, $mode" "vpcd, $label: $unit" "by hand, $label: $unit" "≥ 0.90"
  done
done
