#!/usr/bin/env bash
# Baseline for the data-plane row: the three paths of bench/dataplane.sh
# built by hand with ip/nft, as a careful user would: a router namespace per
# VPC with a bridge, one namespace per subnet, a transit veth to the host
# with masquerade at the router and at the host, a veth between the two
# routers with routes. No isolation rules (vpcd's bridge and forward filters
# are what the comparison prices). Addresses 10.110/16 (VPC a: web .1, db .2)
# and 10.120/16 (VPC b: app .1); transit 169.254.100.0/30; peering
# 169.254.100.4/30. Usage: paths.sh UPLINK
set -euo pipefail
UPLINK=$1
for ns in ha hb ha-web ha-db hb-app; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
for r in ha hb; do
  ip -n "$r" link add br0 type bridge
  ip -n "$r" link set br0 up
  ip netns exec "$r" sysctl -qw net.ipv4.ip_forward=1
done
subnet() {  # ROUTER NS PORT NET
  ip -n "$1" link add "$3" type veth peer name eth0 netns "$2"
  ip -n "$1" link set "$3" master br0 up
  ip -n "$1" addr add "$4.1/24" dev br0
  ip -n "$2" addr add "$4.2/24" dev eth0
  ip -n "$2" link set eth0 up
  ip -n "$2" route add default via "$4.1"
}
subnet ha ha-web s-web 10.110.1
subnet ha ha-db s-db 10.110.2
subnet hb hb-app s-app 10.120.1
ip link add t-ha type veth peer name uplink netns ha
ip addr add 169.254.100.1/30 dev t-ha
ip link set t-ha up
sysctl -qw net.ipv4.conf.t-ha.forwarding=1 "net.ipv4.conf.$UPLINK.forwarding=1"
ip -n ha addr add 169.254.100.2/30 dev uplink
ip -n ha link set uplink up
ip -n ha route add default via 169.254.100.1
ip netns exec ha nft -f - <<'NFT'
table ip hand {
  chain post {
    type nat hook postrouting priority 100;
    ip saddr 10.110.1.0/24 oifname "uplink" masquerade
  }
}
NFT
nft -f - <<NFT
table ip hand {
  chain post {
    type nat hook postrouting priority 100;
    ip saddr 169.254.100.0/30 oifname "$UPLINK" masquerade
  }
}
NFT
ip -n ha link add p-hb type veth peer name p-ha netns hb
ip -n ha addr add 169.254.100.5/30 dev p-hb
ip -n hb addr add 169.254.100.6/30 dev p-ha
ip -n ha link set p-hb up
ip -n hb link set p-ha up
ip -n ha route add 10.120.0.0/16 via 169.254.100.6
ip -n hb route add 10.110.0.0/16 via 169.254.100.5
