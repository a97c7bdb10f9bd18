#!/usr/bin/env bash
# The issue's user story: a VPC with a public and a private subnet, real HTTP
# to a server beyond the uplink, and a delete that leaves nothing behind.
source "$(dirname "$0")/lib.sh"

# The story, with the CLI (prod_lab in lib.sh runs these very commands):
#   vpcctl vpc create prod --cidr 10.10.0.0/16
#   vpcctl subnet create prod web --cidr 10.10.1.0/24 --public
#   vpcctl subnet create prod db --cidr 10.10.2.0/24 --private
prod_lab

# Kernel objects, as a user would list them.
assert_contains "$(ip netns list)" "vpc-prod.web" "subnet namespace exists"
assert_contains "$(ip -n vpc-prod.web -br addr show eth0)" "10.10.1.2/24" "web eth0 holds .2"
assert_contains "$(ip -n vpc-prod.web route show default)" "default via 10.10.1.1 dev eth0 proto 211" \
  "web default route via the gateway, vpcd's protocol"
assert_contains "$(ip -n vpc-prod -br addr show br0)" "10.10.1.1/24 10.10.2.1/24" "gateways on br0"
assert_contains "$(ip -n vpc-prod -d link show s-web)" "master br0" "subnet port on the bridge"
assert_contains "$(ip -n vpc-prod link show s-web)" "alias vpcd:port:prod/web" "port carries the marker"
assert_contains "$(ip link show t-prod)" "alias vpcd:transit:prod" "transit link carries the marker"
assert_eq "1" "$(ip netns exec vpc-prod sysctl -n net.ipv4.ip_forward)" "router forwards"
assert_contains "$(ip netns exec vpc-prod nft list set inet vpcd public)" "10.10.1.0/24" "public set"
assert_not_contains "$(ip netns exec vpc-prod nft list set inet vpcd public)" "10.10.2.0" "private not in public set"
assert_contains "$(nft list table ip vpcd)" "ip saddr 169.254.64.0/18 oifname \"uplink0\" masquerade" \
  "host masquerades the transit pool"

# Public subnet: real HTTP, source NATed to the uplink address.
assert_eq "$UPLINK_ADDR" "$(fetch vpc-prod.web "http://$SERVER_ADDR/")" "web reaches the internet as the uplink"

# Private subnet: fails, and not one packet arrives at the internet side.
before=$(internet_packets)
assert_eq "" "$(fetch vpc-prod.db "http://$SERVER_ADDR/")" "db cannot reach the internet"
ip netns exec vpc-prod.db ping -c 3 -i 0.2 -W 1 "$SERVER_ADDR" >/dev/null 2>&1 || true
after=$(internet_packets)
assert_eq "$before" "$after" "no packet from the private subnet arrived at the internet"
# The counter does count: the same path from the public subnet moves it.
fetch vpc-prod.web "http://$SERVER_ADDR/" >/dev/null
[[ $(internet_packets) -gt $after ]] && pass "internet counter counts public traffic" ||
  fail "internet counter did not move for public traffic"

# Inside the VPC, web and db reach each other through the router.
start_server vpc-prod.db 10.10.2.2 8080
assert_eq "10.10.1.2" "$(fetch vpc-prod.web http://10.10.2.2:8080/)" "web -> db inside the VPC, unNATed"
start_server vpc-prod.web 10.10.1.2 8080
assert_eq "10.10.2.2" "$(fetch vpc-prod.db http://10.10.1.2:8080/)" "db -> web inside the VPC"

# The CLI: list, show as JSON.
assert_contains "$(vpcctl vpc list)" "prod  10.10.0.0/16  1500" "vpc list"
show=$(vpcctl vpc show prod -o json)
assert_eq "vpc-prod" "$(json_field 'd["router_namespace"]' <<<"$show")" "show: router namespace"
assert_eq "web:public:10.10.1.1:10.10.1.2:vpc-prod.web db:private:10.10.2.1:10.10.2.2:vpc-prod.db" \
  "$(json_field '" ".join(":".join([s["name"],s["type"],s["gateway"],s["address"],s["namespace"]]) for s in d["subnets"])' <<<"$show")" \
  "show: subnets with gateway, address and namespace"
assert_eq "web db" "$(vpcctl subnet list prod -o json | json_field '" ".join(s["name"] for s in d["items"])')" \
  "subnet list"
assert_eq "10.10.2.2" "$(vpcctl subnet show prod db -o json | json_field 'd["address"]')" "subnet show"
assert_contains "$(vpcctl plan)" "converged" "plan is empty"

# Subnets come and go as set elements (docs/benchmarks.md), not a new table:
# the table's handle stays, and the public set follows, ranges merged.
table_handle() { ip netns exec vpc-prod nft -a list table inet vpcd | sed -n 's/.*# handle \([0-9]*\).*/\1/p' | head -1; }
h0=$(table_handle)
br_mac() { ip -n vpc-prod link show br0 | awk '/link\/ether/ {print $2}'; }
mac0=$(br_mac)
vpcctl subnet create prod web2 --cidr 10.10.3.0/24 --public >/dev/null
vpcctl subnet create prod edge --cidr 10.10.0.0/24 --public >/dev/null  # merges with web
public_set() { ip netns exec vpc-prod nft list set inet vpcd public | tr -d '\n\t ' | sed 's/.*elements={\([^}]*\)}.*/\1/'; }
assert_eq "10.10.0.0/23,10.10.3.0/24" "$(public_set)" "adjacent public subnets merge into one range"
vpcctl subnet delete prod edge >/dev/null  # the range shrinks again
assert_eq "10.10.1.0/24,10.10.3.0/24" "$(public_set)" "a deleted public subnet leaves the set"
assert_eq "$h0" "$(table_handle)" "the router table was changed in place, not replaced"
assert_eq "$UPLINK_ADDR" "$(fetch vpc-prod.web2 "http://$SERVER_ADDR/")" "the new public subnet reaches the internet"
# A bridge picks the lowest MAC of its ports unless given one: hosts' ARP
# entries for their gateway would go stale each time a port came or went.
assert_eq "$mac0" "$(br_mac)" "br0 keeps its MAC while ports come and go"
# The ports' own MACs are random, so whether a new port would have been the
# lowest is chance; that the MAC was set (3: NET_ADDR_SET), not chosen by the
# bridge, is not.
assert_eq 3 "$(ip netns exec vpc-prod cat /sys/class/net/br0/addr_assign_type)" "br0's MAC is set, never re-picked"
assert_eq "$UPLINK_ADDR" "$(fetch vpc-prod.web "http://$SERVER_ADDR/")" "web still reaches the internet at once"
vpcctl subnet delete prod web2 >/dev/null
assert_contains "$(vpcctl plan)" "converged" "plan is empty after the changes"

# Delete a subnet, then the VPC: nothing of prod remains.
vpcctl subnet delete prod db >/dev/null
assert_not_contains "$(ip netns list)" "vpc-prod.db" "subnet namespace gone"
assert_not_contains "$(ip -n vpc-prod -br link)" "s-db" "subnet port gone"
assert_not_contains "$(ip -n vpc-prod -br addr show br0)" "10.10.2.1" "subnet gateway gone"
vpcctl vpc delete prod >/dev/null
assert_not_contains "$(ip netns list)" "vpc-" "no vpc namespace left"
assert_not_contains "$(ip -br link)" "t-prod" "no transit link left"
assert_eq "" "$(ip route show proto 211)" "no vpcd route left in the host"
assert_eq "" "$(nft list tables | grep vpcd || true)" "no vpcd nft table left"
assert_eq "" "$(ls "$STATE/vpcs")" "no state file left"
assert_contains "$(ip netns list)" "internet" "others' namespaces untouched"
assert_eq "1" "$(ip netns exec internet nft list tables | grep -c count)" "others' nft tables untouched"
finish
