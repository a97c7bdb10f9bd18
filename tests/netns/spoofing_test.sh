#!/usr/bin/env bash
# A root process inside a subnet namespace can neither borrow another
# subnet's address (a private subnet getting NATed out as a public one) nor
# reach another subnet at layer 2, past the router.
source "$(dirname "$0")/lib.sh"

prod_lab
start_server vpc-prod.db 10.10.2.2 8080

table=$(ip netns exec vpc-prod nft list table bridge vpcd)
assert_contains "$table" '"s-web" . 10.10.1.2' "bridge table pins s-web to 10.10.1.2"
assert_contains "$table" 'iifname . ip saddr != @port_addrs drop' "anti-spoofing rule listed as nft shows it"

# The experiments run with vpcd stopped (the network stays up): a running
# vpcd would remove the hand-added address as drift before it could be used.
stop_daemon
spoof() {  # prints what the server saw, if anything arrived
  ip netns exec vpc-prod.db curl -s --max-time 2 --interface 10.10.1.77 "http://$SERVER_ADDR/" || true
}
# The private subnet takes a public subnet's address as a second address.
ip -n vpc-prod.db addr add 10.10.1.77/24 dev eth0
# db's gateway entry is made fresh with its own address first: the check below
# is then about the IP rule, not about an ARP request sent from the borrowed
# address (which the table drops too, leaving the entry INCOMPLETE).
ip -n vpc-prod.db neigh flush dev eth0
ip netns exec vpc-prod.db ping -c1 -W2 -I 10.10.2.2 10.10.2.1 >/dev/null || fail "db cannot ping its gateway"
before=$(internet_packets)
assert_eq "" "$(spoof)" "db cannot reach the internet with a borrowed public address"
assert_eq "$before" "$(internet_packets)" "no spoofed packet arrived at the internet"
# Control: without the bridge table, the same trick gets out. The check above
# can fail.
ip netns exec vpc-prod nft delete table bridge vpcd
ip -n vpc-prod.db neigh flush dev eth0  # may be INCOMPLETE from the dropped attempt
assert_eq "$UPLINK_ADDR" "$(spoof)" "control: without anti-spoofing the borrowed address is NATed out"

# The web subnet tries to reach db directly on the bridge (on-link route).
start_daemon  # restores the table (and removes the borrowed address)
wait_until 5 bash -c "! ip -n vpc-prod.db addr show dev eth0 | grep -q 10.10.1.77" || fail "borrowed address not removed"
stop_daemon
ip -n vpc-prod.web route add 10.10.2.0/24 dev eth0 metric 5
if tcp_connect vpc-prod.web 10.10.2.2 8080; then fail "web reached db at layer 2"; else pass "no layer-2 path between subnets"; fi
ip netns exec vpc-prod nft delete table bridge vpcd
ip -n vpc-prod.web neigh flush dev eth0
if tcp_connect vpc-prod.web 10.10.2.2 8080; then pass "control: without the table, layer 2 reaches db"; else fail "control failed"; fi
ip -n vpc-prod.web route del 10.10.2.0/24 dev eth0 metric 5
start_daemon

# The honest paths still work: through the router, and out through NAT.
assert_eq "10.10.1.2" "$(fetch vpc-prod.web http://10.10.2.2:8080/)" "web -> db through the router"
assert_eq "$UPLINK_ADDR" "$(fetch vpc-prod.web "http://$SERVER_ADDR/")" "web -> internet"
# ARP for the gateway works from every port (input chain, allowed sender).
assert_contains "$(ip -n vpc-prod.db neigh show 10.10.2.1)" "lladdr" "db resolved its gateway"
finish
