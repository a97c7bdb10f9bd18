#!/usr/bin/env bash
# The uplink follows the host's default route without a restart: moved to a
# second "internet" behind uplink1, VPC egress leaves there (NATed to
# uplink1's address); with no default route, status and reach say so and
# egress resumes when one comes back; an address change on the uplink is
# followed by the NAT; a pinned uplink (--uplink) stays; a start with no
# default route serves and follows the first one.
source "$(dirname "$0")/lib.sh"

# A second upstream: internet2 at 203.0.113.1 behind uplink1 (203.0.113.2),
# serving at 192.0.2.1 (reachable only through it).
ip netns add internet2
ip link add uplink1 type veth peer name eth0 netns internet2
ip addr add 203.0.113.2/24 dev uplink1
ip link set uplink1 up
ip -n internet2 addr add 203.0.113.1/24 dev eth0
ip -n internet2 addr add 192.0.2.1/32 dev lo
ip -n internet2 link set eth0 up
ip -n internet2 link set lo up
start_server internet2 192.0.2.1 80

status_field() { vpcctl status -o json | json_field "d[\"$1\"]"; }
uplink_is() { [[ $(status_field uplink) == "$1" ]]; }
fetches_as() { [[ $(fetch vpc-prod.web "$1") == "$2" ]]; }  # URL, the source the server saw

prod_lab
assert_eq "uplink0" "$(status_field uplink)" "the uplink is the default route's device"
assert_eq "False" "$(status_field uplink_pinned)" "not pinned without --uplink"
assert_eq "$UPLINK_ADDR" "$(fetch vpc-prod.web "http://$SERVER_ADDR/")" "egress leaves by uplink0"

# The default route moves to uplink1: egress follows, NATed to its address.
# The time printed is until the host's NAT names uplink1 (a fetch tried
# earlier would wait out its own timeout and say nothing about vpcd).
nat_on() { nft list table ip vpcd | grep -q "oifname \"$1\" masquerade"; }
start_us=${EPOCHREALTIME/[.,]/}
ip route replace default via 203.0.113.1 dev uplink1
if wait_until 10 nat_on uplink1; then
  now_us=${EPOCHREALTIME/[.,]/}
  pass "the host's NAT follows the default route to uplink1 in $(((now_us - start_us) / 1000)) ms"
else
  fail "the host's NAT did not follow the default route to uplink1"
fi
wait_until 10 fetches_as http://192.0.2.1/ 203.0.113.2 ||
  fail "egress did not follow the default route to uplink1: [$(fetch vpc-prod.web http://192.0.2.1/)]"
pass "egress leaves by uplink1, NATed to its address"
assert_eq "uplink1" "$(status_field uplink)" "status names the new uplink"
assert_eq "1" "$(status_field uplink_moves)" "one move counted"
assert_contains "$(nft list table ip vpcd)" 'oifname "uplink1" masquerade' "host NAT on uplink1"
assert_not_contains "$(nft list table ip vpcd)" 'oifname "uplink0"' "no NAT left on uplink0"
assert_eq "1" "$(sysctl -n net.ipv4.conf.uplink1.forwarding)" "forwarding on uplink1"
assert_contains "$(cat "$WORK/vpcd.log")" "uplink moved from uplink0 to uplink1" "the move is logged"
assert_eq "[]" "$(vpcctl plan -o json | json_field 'd["actions"]')" "plan converged after the move"

# No default route: status says so, reach names it, nothing is NATed.
ip route del default
wait_until 10 uplink_is "" || fail "status still names an uplink with no default route"
assert_eq "no default route" "$(status_field uplink_state)" "status: no default route"
assert_not_contains "$(nft list table ip vpcd)" "masquerade" "no NAT without an uplink"
rc=0
vpcctl reach prod/web "$SERVER_ADDR" --port 80 -o json >"$WORK/reach.json" || rc=$?
assert_eq "1 no_uplink" "$rc $(json_field 'd["blocked_by"]["kind"]' <"$WORK/reach.json")" \
  "reach: blocked by no_uplink, confirmed by the probe"
assert_contains "$(vpcctl status)" "uplink: none (no default route)" "vpcctl status says none"

# A default route again: egress resumes.
ip route add default via "$SERVER_ADDR" dev uplink0
wait_until 10 fetches_as "http://$SERVER_ADDR/" "$UPLINK_ADDR" || fail "egress did not resume"
pass "egress resumes by uplink0"
assert_contains "$(cat "$WORK/vpcd.log")" "uplink is uplink0: the default route is back" "logged"

# A new address on the uplink: masquerade takes the address of the moment.
sysctl -qw net.ipv4.conf.uplink0.promote_secondaries=1
ip addr add 198.51.100.3/24 dev uplink0
ip addr del "$UPLINK_ADDR/24" dev uplink0
ip route add default via "$SERVER_ADDR" dev uplink0 2>/dev/null || true
wait_until 10 fetches_as "http://$SERVER_ADDR/" 198.51.100.3 ||
  fail "egress does not use the uplink's new address: [$(fetch vpc-prod.web "http://$SERVER_ADDR/")]"
pass "egress leaves as the uplink's new address"
assert_eq "uplink0" "$(status_field uplink)" "an address change is no move"

# Pinned: --uplink uplink0 stays when the default route moves.
stop_daemon
start_daemon --uplink uplink0
assert_eq "True" "$(status_field uplink_pinned)" "pinned with --uplink"
ip route replace default via 203.0.113.1 dev uplink1
# Hand-made damage after the route change: once it is repaired, the pass
# that saw the route change is over too.
nft delete table ip vpcd
wait_until 10 nft list table ip vpcd || fail "the host table was not repaired"
assert_eq "uplink0" "$(status_field uplink)" "a pinned uplink does not follow"
assert_contains "$(nft list table ip vpcd)" 'oifname "uplink0" masquerade' "NAT stays on uplink0"

# A start with no default route serves, and follows the first one.
stop_daemon
ip route del default
start_daemon
assert_eq "" "$(status_field uplink)" "started with no uplink"
assert_contains "$(cat "$WORK/vpcd.log")" "no default route: VPCs reach no internet" "start says why"
ip route add default via 203.0.113.1 dev uplink1
wait_until 10 fetches_as http://192.0.2.1/ 203.0.113.2 || fail "egress did not start on uplink1"
pass "the first default route is followed"
assert_eq "uplink1" "$(status_field uplink)" "status names it"
finish
