#!/usr/bin/env bash
# Re-running creates is a no-op; a restart on an intact kernel changes
# nothing; a restart after every namespace was deleted rebuilds them all.
source "$(dirname "$0")/lib.sh"

start_server internet "$SERVER_ADDR" 80
start_daemon

lab() {
  vpcctl vpc create prod --cidr 10.10.0.0/16 --mtu 1460 >/dev/null
  vpcctl subnet create prod web --cidr 10.10.1.0/24 --public >/dev/null
  vpcctl subnet create prod db --cidr 10.10.2.0/24 --private >/dev/null
}
lab
assert_eq "$UPLINK_ADDR" "$(fetch vpc-prod.web "http://$SERVER_ADDR/")" "traffic flows"
assert_contains "$(ip -n vpc-prod.web link show eth0)" "mtu 1460" "VPC MTU on the subnet NIC"
assert_contains "$(ip -n vpc-prod link show br0)" "mtu 1460" "VPC MTU on the bridge"

# Every create again: 200 with the same object, and no kernel call at all.
before=$(kernel_mutations)
assert_eq "200" "$(api POST /v1/vpcs '{"name":"prod","cidr":"10.10.0.0/16","mtu":1460}' | cut -d' ' -f1)" \
  "re-create vpc: 200"
assert_eq "200" "$(api POST /v1/vpcs/prod/subnets '{"name":"web","cidr":"10.10.1.0/24","type":"public"}' | cut -d' ' -f1)" \
  "re-create subnet: 200"
lab
assert_eq "$before" "$(kernel_mutations)" "re-running every create made no kernel call"
assert_contains "$(api POST /v1/vpcs '{"name":"prod","cidr":"10.11.0.0/16"}')" '409 {"error":{"code":409' \
  "same name, other cidr: 409"
assert_contains "$(api POST /v1/vpcs/prod/subnets '{"name":"web","cidr":"10.10.1.0/24"}')" '"field":"type"' \
  "same subnet, other type: 409 naming type"

# Restart on an intact kernel: zero changes, zero mutating calls, traffic
# never cut (the stop leaves the network up).
stop_daemon
assert_eq "$UPLINK_ADDR" "$(fetch vpc-prod.web "http://$SERVER_ADDR/")" "traffic flows with the daemon stopped"
start_daemon
assert_eq "0" "$(kernel_mutations)" "restart on an intact kernel: no mutating kernel call"
assert_eq "0" "$(vpcctl status -o json | json_field 'd["startup"]["changes"]')" "restart: no change reported"
assert_contains "$(vpcctl plan)" "converged" "plan empty after restart"

# A reboot, as far as the network goes: every namespace and process in them
# (the VPC resolver) gone, state kept.
stop_daemon
end_resolvers
for ns in vpc-prod vpc-prod.web vpc-prod.db; do ip netns del "$ns"; done
wait_until 5 bash -c '! ip link show t-prod' || fail "t-prod did not go with its namespace"
assert_eq "" "$(fetch vpc-prod.web "http://$SERVER_ADDR/" 2>/dev/null)" "nothing works with namespaces gone"
start_daemon
assert_contains "$(ip netns list)" "vpc-prod.web" "namespaces rebuilt"
assert_eq "$UPLINK_ADDR" "$(fetch vpc-prod.web "http://$SERVER_ADDR/")" "traffic flows again after rebuild"
assert_eq "" "$(fetch vpc-prod.db "http://$SERVER_ADDR/")" "private subnet still blocked after rebuild"
assert_contains "$(vpcctl plan)" "converged" "plan empty after rebuild"

# Partly gone: one subnet namespace and the router's nft table.
ip netns del vpc-prod.web
ip netns exec vpc-prod nft delete table inet vpcd
stop_daemon
start_daemon
assert_eq "$UPLINK_ADDR" "$(fetch vpc-prod.web "http://$SERVER_ADDR/")" "partial loss repaired at start"
assert_contains "$(ip netns exec vpc-prod nft list tables)" "inet vpcd" "router table restored"

# Another transit pool and an explicit uplink: existing VPCs are renumbered
# by the start-up reconcile, and traffic flows through the new addresses.
stop_daemon
start_daemon --uplink uplink0 --transit-pool 10.255.0.0/24
assert_contains "$(ip -br addr show t-prod)" "10.255.0.1/30" "transit link renumbered from the new pool"
assert_contains "$(ip -n vpc-prod route show default)" "via 10.255.0.1" "router default route follows"
assert_eq "$UPLINK_ADDR" "$(fetch vpc-prod.web "http://$SERVER_ADDR/")" "traffic flows through the new pool"
assert_contains "$(vpcctl plan)" "converged" "plan empty after renumbering"
assert_contains "$(nft list table ip vpcd)" "ip saddr 10.255.0.0/24" "host NAT follows the pool"

# A damaged state file: the start names it, leaves that VPC's kernel objects
# as they are (traffic keeps flowing), refuses requests on it with a 409,
# and serves the rest; once the file is repaired, the VPC is served again.
stop_daemon
cp "$STATE/vpcs/prod.json" "$WORK/prod.json.good"
head -c 60 "$WORK/prod.json.good" >"$STATE/vpcs/prod.json"
start_daemon --uplink uplink0 --transit-pool 10.255.0.0/24
assert_contains "$(cat "$WORK/vpcd.log")" "cannot read state file $STATE/vpcs/prod.json: [json.exception.parse_error.101] parse error at line" \
  "start-up names the damaged file and what is wrong"
assert_eq "0" "$(kernel_mutations)" "damaged file: no kernel call at start"
assert_contains "$(ip netns list)" "vpc-prod.web" "the held VPC's namespaces stay"
assert_contains "$(ip -br addr show t-prod)" "10.255.0.1/30" "its transit link stays"
assert_eq "$UPLINK_ADDR" "$(fetch vpc-prod.web "http://$SERVER_ADDR/")" "its traffic still flows"
assert_contains "$(vpcctl plan)" "converged" "plan: nothing to do while held"
assert_contains "$(vpcctl status)" "held vpc prod: state file $STATE/vpcs/prod.json" "status names the held VPC and its file"
out=$(api GET /v1/vpcs/prod)
assert_eq "409" "${out%% *}" "GET of the held VPC: 409"
assert_contains "$out" "prod.json" "the 409 names the file"
assert_eq "409" "$(api POST /v1/vpcs/prod/subnets '{"name":"x","cidr":"10.10.9.0/24"}' | cut -d' ' -f1)" \
  "a subnet in the held VPC: 409"
vpcctl vpc create fresh --cidr 10.60.0.0/16 >/dev/null
assert_contains "$(ip -br addr show t-fresh)" "10.255.0.5/30" "another VPC is served, on a /30 the held one does not use"
stop_daemon
cp "$WORK/prod.json.good" "$STATE/vpcs/prod.json"
start_daemon --uplink uplink0 --transit-pool 10.255.0.0/24
assert_eq "200" "$(api GET /v1/vpcs/prod | cut -d' ' -f1)" "repaired file: the VPC is served again"
assert_eq "0" "$(kernel_mutations)" "repaired file: its kernel objects were already right"
vpcctl vpc delete fresh >/dev/null

# Orphans of ours (no state file) are removed; look-alikes without the
# marker are not.
ip netns add vpc-lookalike
ip link add t-lookalike type veth peer name x-lookalike
stop_daemon
mv "$STATE/vpcs/prod.json" "$WORK/prod.json.saved"
start_daemon
assert_not_contains "$(ip netns list)" "vpc-prod" "orphaned namespaces removed"
assert_not_contains "$(ip -br link)" "t-prod" "orphaned transit link removed"
assert_contains "$(ip netns list)" "vpc-lookalike" "unmarked namespace left alone"
assert_contains "$(ip -br link)" "t-lookalike" "unmarked link left alone"

# Many subnets: sets far larger than one netlink message are complete, and a
# restart still finds everything equal (regression: a set's elements once went
# in one oversized message that was silently cut).
vpcctl vpc create many --cidr 10.100.0.0/16 >/dev/null
# 300 ports and 150 public ranges: each set is over 8 KiB of elements.
for i in $(seq 1 300); do
  type=$([[ $((i % 2)) -eq 0 ]] && echo public || echo private)
  cidr="10.100.$((i / 4)).$((i % 4 * 64))/26"
  code=$(api POST /v1/vpcs/many/subnets "{\"name\":\"s$i\",\"cidr\":\"$cidr\",\"type\":\"$type\"}" | cut -d' ' -f1)
  [[ $code == 201 ]] || fail "subnet s$i: $code"
done
assert_eq "300" "$(ip netns exec vpc-many nft -j list set bridge vpcd port_addrs | json_field 'len([o for o in d["nftables"] if "set" in o][0]["set"]["elem"])')" \
  "port_addrs holds all 300 ports"
assert_eq "150" "$(ip netns exec vpc-many nft -j list set inet vpcd public | json_field 'len([o for o in d["nftables"] if "set" in o][0]["set"]["elem"])')" \
  "public set holds all 150 public subnets"
assert_eq "10.100.75.2" "$(fetch vpc-many.s300 http://10.100.74.194:1/ >/dev/null; ip -n vpc-many neigh show dev br0 10.100.75.2 | cut -d' ' -f1)" \
  "the last port is not cut off by anti-spoofing (its ARP reached the router)"
stop_daemon
start_daemon
assert_eq "0" "$(kernel_mutations)" "restart with 300 subnets: no kernel call"

# A second daemon on the same state directory refuses to start.
if "$VPCD" --socket "$WORK/second.sock" --state-dir "$STATE" >"$WORK/second.log" 2>&1; then
  fail "second daemon started"
else
  assert_contains "$(cat "$WORK/second.log")" "in use by another vpcd (pid $DAEMON_PID)" "second daemon refused"
fi
finish
