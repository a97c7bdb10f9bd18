#!/usr/bin/env bash
# Baseline (b) for the lab row: the namespaces, links, addresses, routes and
# tables of bench/lab.sh's lab (V VPCs of S subnets, half public, and I
# instances with one NIC each) written as one `ip -batch` for the host, one
# per namespace and one `nft -f` per router. Usage: lab_batch.sh WORKDIR V S I
# (writes the files and lab_batch.run, the commands that apply them).
set -euo pipefail
W=$1 V=$2 S=$3 I=$4
per=$((I / V))
: >"$W/host.batch"
: >"$W/lab_batch.run"
for v in $(seq 1 "$V"); do
  R=bl-v$v
  {
    echo "netns add $R"
    for i in $(seq 1 "$S"); do echo "netns add bl-v$v-s$i"; done
    for k in $(seq 1 "$per"); do echo "netns add bl-v$v-i$k"; done
    echo "link add t-bl$v type veth peer name uplink netns $R"
    echo "addr add 169.254.64.$((v * 4 + 1))/30 dev t-bl$v"
    echo "link set t-bl$v up"
  } >>"$W/host.batch"
  {
    echo "link set lo up"
    echo "addr add 169.254.64.$((v * 4 + 2))/30 dev uplink"
    echo "link set uplink up"
    echo "route add default via 169.254.64.$((v * 4 + 1))"
    echo "link add br0 type bridge"
    echo "link set br0 up"
    for i in $(seq 1 "$S"); do
      echo "link add s-$i type veth peer name eth0 netns bl-v$v-s$i"
      echo "link set s-$i master br0"
      echo "link set s-$i up"
      echo "addr add 10.$v.$i.1/24 dev br0"
    done
    for k in $(seq 1 "$per"); do
      echo "link add n-$k type veth peer name eth0 netns bl-v$v-i$k"
      echo "link set n-$k master br0"
      echo "link set n-$k up"
    done
  } >"$W/v$v.batch"
  for i in $(seq 1 "$S"); do
    printf 'link set lo up\naddr add 10.%s.%s.2/24 dev eth0\nlink set eth0 up\nroute add default via 10.%s.%s.1\n' \
      "$v" "$i" "$v" "$i" >"$W/v$v-s$i.batch"
  done
  for k in $(seq 1 "$per"); do
    printf 'link set lo up\naddr add 10.%s.%s.10/24 dev eth0\nlink set eth0 up\nroute add default via 10.%s.%s.1\n' \
      "$v" "$k" "$v" "$k" >"$W/v$v-i$k.batch"
  done
  {
    echo "table inet vpcd {"
    echo "  set public { type ipv4_addr; flags interval; elements = {"
    for i in $(seq 2 2 "$S"); do echo "    10.$v.$i.0/24,"; done
    echo "  } }"
    echo "  chain post { type nat hook postrouting priority 100; oifname \"uplink\" ip saddr @public masquerade; }"
    echo "}"
  } >"$W/v$v.nft"
done
{
  echo "ip -batch $W/host.batch"
  for v in $(seq 1 "$V"); do
    echo "ip -n bl-v$v -batch $W/v$v.batch"
    for i in $(seq 1 "$S"); do echo "ip -n bl-v$v-s$i -batch $W/v$v-s$i.batch"; done
    for k in $(seq 1 "$per"); do echo "ip -n bl-v$v-i$k -batch $W/v$v-i$k.batch"; done
    echo "ip netns exec bl-v$v nft -f $W/v$v.nft"
  done
} >"$W/lab_batch.run"
