#!/usr/bin/env bash
# Baseline (b): the same objects as steps.sh, written as one `ip -batch` for
# the host, one per namespace, and one `nft -f` (the fastest command-line
# path). Usage: batch.sh WORKDIR N  (writes the files, then times nothing:
# bench/run times the apply).
set -euo pipefail
W=$1 N=$2
R=bl-vpc
{
  echo "netns add $R"
  for i in $(seq 1 "$N"); do echo "netns add bl-s$i"; done
  echo "link add t-bl type veth peer name uplink netns $R"
  echo "addr add 169.254.64.1/30 dev t-bl"
  echo "link set t-bl up"
} >"$W/host.batch"
{
  echo "link set lo up"
  echo "addr add 169.254.64.2/30 dev uplink"
  echo "link set uplink up"
  echo "route add default via 169.254.64.1"
  echo "link add br0 type bridge"
  echo "link set br0 up"
  for i in $(seq 1 "$N"); do
    net="10.$((i / 256)).$((i % 256))"
    echo "link add s-$i type veth peer name eth0 netns bl-s$i"
    echo "link set s-$i master br0"
    echo "link set s-$i up"
    echo "addr add $net.1/24 dev br0"
  done
} >"$W/router.batch"
for i in $(seq 1 "$N"); do
  net="10.$((i / 256)).$((i % 256))"
  printf 'link set lo up\naddr add %s.2/24 dev eth0\nlink set eth0 up\nroute add default via %s.1\n' \
    "$net" "$net" >"$W/s$i.batch"
done
{
  echo "table inet vpcd {"
  echo "  set public { type ipv4_addr; flags interval; elements = {"
  for i in $(seq 2 2 "$N"); do echo "    10.$((i / 256)).$((i % 256)).0/24,"; done
  echo "  } }"
  echo "  chain post { type nat hook postrouting priority 100; oifname \"uplink\" ip saddr @public masquerade; }"
  echo "}"
} >"$W/router.nft"
