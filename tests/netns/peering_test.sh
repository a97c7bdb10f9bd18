#!/usr/bin/env bash
# Peering: request -> accept -> a layer-3 link with allow-lists; never
# transitive; deleting it isolates again. Real TCP between listeners in every
# subnet namespace.
source "$(dirname "$0")/lib.sh"

start_daemon
lab_vpc() {  # name second-octet
  vpcctl vpc create "$1" --cidr "10.$2.0.0/16" >/dev/null
  vpcctl subnet create "$1" pub --cidr "10.$2.1.0/24" --public >/dev/null
  vpcctl subnet create "$1" priv --cidr "10.$2.2.0/24" --private >/dev/null
  start_server "vpc-$1.pub" "10.$2.1.2" 8080
  start_server "vpc-$1.priv" "10.$2.2.2" 8080
}
lab_vpc a 10
lab_vpc b 20
# reach FROM-NS ADDR: prints the source address the listener saw, or nothing
reach() { fetch "$1" "http://$2:8080/"; }
expect_reach() { assert_eq "$3" "$(reach "$1" "$2")" "$1 -> $2"; }
expect_blocked() { assert_eq "" "$(reach "$1" "$2")" "$1 -/-> $2"; }

expect_blocked vpc-a.pub 10.20.1.2
expect_blocked vpc-b.pub 10.10.1.2

# A request does nothing in the kernel until it is accepted.
out=$(api POST /v1/peerings '{"name":"a-b","vpc":"a","peer_vpc":"b","allowed_cidrs":{"a":["10.10.1.0/24"],"b":["10.20.0.0/16"]}}')
assert_eq "201" "${out%% *}" "request: 201"
assert_eq "pending-acceptance" "$(json_field 'd["state"]' <<<"${out#* }")" "request is pending"
expect_blocked vpc-a.pub 10.20.1.2
assert_not_contains "$(ip -n vpc-a -br link)" "p-b" "pending: no link"

out=$(api POST /v1/peerings/a-b/accept)
assert_eq "active" "$(json_field 'd["state"]' <<<"${out#* }")" "accept -> active"
assert_contains "$(ip -n vpc-a -d link show p-b)" "veth" "p-b in router a"
assert_contains "$(ip -n vpc-b link show p-a)" "alias vpcd:peer:a-b" "p-a in router b, marked"
assert_contains "$(ip -n vpc-a route show proto 211)" "10.20.0.0/16 via" "a routes b's allow-list"
assert_eq "1" "$(ip -n vpc-b route show proto 211 | grep -c 'dev p-a')" "b routes only a's allow-list"
assert_contains "$(ip -n vpc-b route show proto 211)" "10.10.1.0/24 via" "b's route is a's allowed /24"
# Allowed pairs connect, with the real source address (no NAT between peers).
expect_reach vpc-a.pub 10.20.1.2 10.10.1.2
expect_reach vpc-a.pub 10.20.2.2 10.10.1.2
expect_reach vpc-b.pub 10.10.1.2 10.20.1.2
expect_reach vpc-b.priv 10.10.1.2 10.20.2.2
# a.priv is outside a's allow-list: unreachable both ways.
expect_blocked vpc-a.priv 10.20.1.2
expect_blocked vpc-b.pub 10.10.2.2
# Even a route added by hand in router b cannot pass the rules.
ip -n vpc-b route add 10.10.2.0/24 dev p-a
expect_blocked vpc-b.pub 10.10.2.2
ip -n vpc-b route del 10.10.2.0/24 dev p-a

# Delete: isolated again, nothing of the peering remains.
assert_eq "200" "$(api DELETE /v1/peerings/a-b | cut -d' ' -f1)" "delete: 200"
expect_blocked vpc-a.pub 10.20.1.2
assert_not_contains "$(ip -n vpc-a -br link)" "p-b" "link gone"
assert_eq "" "$(ip -n vpc-a route show proto 211 | grep 10.20 || true)" "route gone"
assert_not_contains "$(ip netns exec vpc-a nft list table inet vpcd)" "a-b-" "peering sets gone"

# Full-CIDR peering reaches every subnet both ways.
vpcctl peering request ab --vpc a --peer-vpc b >/dev/null
vpcctl peering accept ab >/dev/null
expect_reach vpc-a.priv 10.20.2.2 10.10.2.2
expect_reach vpc-b.priv 10.10.2.2 10.20.2.2
expect_reach vpc-a.pub 10.20.2.2 10.10.1.2
# Private subnets still reach nothing outside: the peering is no way out.
assert_eq "" "$(fetch vpc-b.priv http://198.51.100.1/)" "b.priv still has no internet"

# VPC delete is refused while peered, naming the peering.
assert_contains "$(api DELETE /v1/vpcs/a)" "has peering ab (active)" "vpc delete blocked while peered"

# Reconcile rebuilds the peering link after the routers are deleted by hand.
ip netns del vpc-a
ip netns del vpc-b
wait_until 10 bash -c "'$VPCCTL_BIN' --socket '$SOCK' plan | grep -q converged" || fail "not rebuilt"
expect_reach vpc-a.priv 10.20.2.2 10.10.2.2

# The drift watch repairs a peering link deleted by hand (both ends go).
ip -n vpc-a link del p-b
wait_until 10 bash -c "'$VPCCTL_BIN' --socket '$SOCK' plan | grep -q converged" || fail "peering link not repaired"
expect_reach vpc-b.priv 10.10.2.2 10.20.2.2

# Never transitive: A-B and B-C do not give A-C.
lab_vpc c 30
vpcctl peering request bc --vpc b --peer-vpc c >/dev/null
vpcctl peering accept bc >/dev/null
expect_reach vpc-b.pub 10.30.1.2 10.20.1.2
expect_reach vpc-c.pub 10.20.1.2 10.30.1.2
expect_blocked vpc-a.pub 10.30.1.2
expect_blocked vpc-c.pub 10.10.1.2
# ... not even with routes added by hand in a and c toward b.
ip -n vpc-a route add 10.30.0.0/16 dev p-b
ip -n vpc-c route add 10.10.0.0/16 dev p-b
expect_blocked vpc-a.pub 10.30.1.2
expect_blocked vpc-c.pub 10.10.1.2
ip -n vpc-a route del 10.30.0.0/16 dev p-b
ip -n vpc-c route del 10.10.0.0/16 dev p-b

# A triangle works pairwise, each pair on its own link.
vpcctl peering request ca --vpc c --peer-vpc a >/dev/null
vpcctl peering accept ca >/dev/null
expect_reach vpc-a.pub 10.30.1.2 10.10.1.2
expect_reach vpc-c.priv 10.10.2.2 10.30.2.2
assert_contains "$(ip -n vpc-a route show 10.30.0.0/16)" "dev p-c" "a reaches c directly"
assert_contains "$(ip -n vpc-a route show 10.20.0.0/16)" "dev p-b" "a reaches b directly"

# Refused with 409, and nothing changes.
vpcctl vpc create d --cidr 10.10.0.0/16 >/dev/null   # same CIDR as a: legal unpeered
vpcctl vpc create e --cidr 10.20.0.0/16 >/dev/null   # same CIDR as b
snapshot() { (ls "$STATE/peerings"; ip netns exec vpc-a nft list ruleset; ip -n vpc-a route; ip -n vpc-a -br link) 2>&1; }
before=$(snapshot)
check_refused() {  # code body description
  local out
  out=$(api POST /v1/peerings "$2")
  assert_eq "$1" "${out%% *}" "$3: $1"
}
check_refused 409 '{"name":"self","vpc":"a","peer_vpc":"a"}' "peering a VPC with itself"
check_refused 409 '{"name":"again","vpc":"b","peer_vpc":"a"}' "a second peering between a and b"
check_refused 409 '{"name":"ad","vpc":"a","peer_vpc":"d"}' "overlapping VPC CIDRs"
check_refused 409 '{"name":"ae","vpc":"a","peer_vpc":"e"}' "a would route 10.20/16 to b and e"
check_refused 422 '{"name":"out","vpc":"d","peer_vpc":"e","allowed_cidrs":{"d":["10.99.0.0/16"]}}' "allowed cidr outside its VPC"
check_refused 404 '{"name":"nope","vpc":"a","peer_vpc":"zz"}' "unknown peer VPC"
check_refused 400 '{"name":"x","vpc":"a","peer_vpc":"c","allowed_cidrs":{"q":["10.10.0.0/16"]}}' "allow-list for a third VPC"
check_refused 400 '{"name":"x","vpc":"a","peer_vpc":"c","colour":1}' "unknown field"
assert_eq "$before" "$(snapshot)" "refused requests changed nothing"

# Reject: kept for listing, never programmed, cannot be accepted later.
vpcctl peering request de --vpc d --peer-vpc e >/dev/null
assert_eq "rejected" "$(vpcctl peering reject de -o json | json_field 'd["state"]')" "reject -> rejected"
assert_contains "$(api POST /v1/peerings/de/accept)" "is rejected" "a rejected peering cannot be accepted"
assert_not_contains "$(ip -n vpc-d -br link)" "p-e" "rejected: no link"
assert_contains "$(vpcctl peering list)" "de    d    e         rejected" "rejected peering listed"

# Expiry of pending requests.
api DELETE /v1/peerings/de >/dev/null
vpcctl peering request de2 --vpc d --peer-vpc e --expires-in 1 >/dev/null
expired() { [[ "$(vpcctl peering show de2 -o json | json_field 'd["state"]')" == expired ]]; }
wait_until 5 expired && pass "pending request expires" || fail "request did not expire"
assert_contains "$(api POST /v1/peerings/de2/accept)" "is expired" "an expired request cannot be accepted"

# State survives a restart; the links come back converged.
stop_daemon
start_daemon
assert_eq "0" "$(kernel_mutations)" "restart with peerings: no kernel call"
expect_reach vpc-c.priv 10.10.2.2 10.30.2.2
finish
