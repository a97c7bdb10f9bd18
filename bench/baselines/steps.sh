#!/usr/bin/env bash
# Baseline (a): the kernel objects vpcd builds for one VPC of N subnets (half
# public), one `ip`/`nft` command per step, as the public vpcctl scripts do.
# Usage: steps.sh build|teardown-links|teardown-netns N
set -euo pipefail
N=$2
R=bl-vpc
case $1 in
  build)
    ip netns add $R
    ip -n $R link set lo up
    ip link add t-bl type veth peer name uplink netns $R
    ip addr add 169.254.64.1/30 dev t-bl
    ip link set t-bl up
    ip -n $R addr add 169.254.64.2/30 dev uplink
    ip -n $R link set uplink up
    ip -n $R route add default via 169.254.64.1
    ip -n $R link add br0 type bridge
    ip -n $R link set br0 up
    ip netns exec $R sysctl -qw net.ipv4.ip_forward=1
    ip netns exec $R nft add table inet vpcd
    ip netns exec $R nft add set inet vpcd public '{ type ipv4_addr; flags interval; }'
    ip netns exec $R nft add chain inet vpcd post '{ type nat hook postrouting priority 100; }'
    ip netns exec $R nft add rule inet vpcd post oifname uplink ip saddr @public masquerade
    for i in $(seq 1 "$N"); do
      net="10.$((i / 256)).$((i % 256))"
      ip netns add "bl-s$i"
      ip -n "bl-s$i" link set lo up
      ip -n $R link add "s-$i" type veth peer name eth0 netns "bl-s$i"
      ip -n $R link set "s-$i" master br0
      ip -n $R link set "s-$i" up
      ip -n $R addr add "$net.1/24" dev br0
      ip -n "bl-s$i" addr add "$net.2/24" dev eth0
      ip -n "bl-s$i" link set eth0 up
      ip -n "bl-s$i" route add default via "$net.1"
      if ((i % 2 == 0)); then ip netns exec $R nft add element inet vpcd public "{ $net.0/24 }"; fi
    done
    ;;
  teardown-links)  # every link deleted one by one, then the namespaces
    for i in $(seq 1 "$N"); do ip -n $R link del "s-$i"; done
    ip link del t-bl
    for i in $(seq 1 "$N"); do ip netns del "bl-s$i"; done
    ip netns del $R
    ;;
  teardown-netns)  # namespaces deleted: their links go with them
    for i in $(seq 1 "$N"); do ip netns del "bl-s$i"; done
    ip netns del $R
    ;;
esac
