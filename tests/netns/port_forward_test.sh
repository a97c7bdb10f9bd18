#!/usr/bin/env bash
# Port forwards with real traffic: a client on the fake internet reaches a
# private subnet's host through the host's uplink address, and the backend
# sees the client's own address; the private host still starts nothing
# outside; a policy denying the port still blocks it; the host itself, the
# same VPC and another VPC reach it through the host's address (hairpin);
# UDP; conflicts and missing targets; drift and a restart; deletion.
source "$(dirname "$0")/lib.sh"

prod_lab
vpcctl vpc create other --cidr 10.30.0.0/16 >/dev/null
vpcctl subnet create other pub --cidr 10.30.1.0/24 --public >/dev/null
WEB=10.10.1.2 DB=10.10.2.2
start_server vpc-prod.db $DB 8080
start_server vpc-prod.web $WEB 80

# from NS [ADDR:PORT]: what the backend saw as the client, through the forward
from() { fetch "$1" "http://${2:-$UPLINK_ADDR:8080}/"; }
from_host() { curl -s --max-time 2 "http://${1:-$UPLINK_ADDR:8080}/" || true; }

assert_eq "" "$(from internet)" "no forward: nothing listens on the host's port 8080"
out=$(api POST /v1/port-forwards '{"name":"db-http","listen_port":8080,"target":"prod/db"}')
assert_eq 201 "${out%% *}" "a forward to the private subnet's host is created"
assert_contains "$out" '"target_ip":"10.10.2.2"' "prod/db resolves to its host's address"
assert_contains "$out" '"target_port":8080' "target_port defaults to listen_port"
assert_contains "$out" '"enforced":true' "and is enforced"

assert_eq "$SERVER_ADDR" "$(from internet)" \
  "a client on the internet reaches the private host; the backend sees its real address"
assert_eq "" "$(fetch vpc-prod.db "http://$SERVER_ADDR/")" \
  "the private host still reaches nothing outside on its own"
assert_eq "$UPLINK_ADDR" "$(from_host)" "the host itself reaches the forward at its own address"
assert_eq "$UPLINK_ADDR" "$(from_host "$UPLINK_ADDR:8080")" "(again: conntrack kept nothing stale)"
assert_eq "" "$(from_host 127.0.0.1:8080)" "127.0.0.1 is not forwarded (the host's loopback stays local)"
same=$(from vpc-prod.web)
assert_contains "$same" "169.254." "a host of the same VPC reaches it through the host's address"
other=$(from vpc-other.pub)
assert_contains "$other" "169.254." "a host of another VPC reaches it through the host's address"
assert_eq "$(from vpc-prod.web)" "$same" "hairpin sources are the host's end of prod's transit link"

# A forward to an address in a VPC, on another port (vpc:address).
out=$(api POST /v1/port-forwards \
  '{"name":"web-alt","listen_port":8081,"target":"prod:10.10.1.2","target_port":80}')
assert_eq 201 "${out%% *}" "a forward to prod:10.10.1.2 port 80 is created"
assert_eq "$SERVER_ADDR" "$(from internet "$UPLINK_ADDR:8081")" "8081 on the host reaches web:80"

# One listen address only: other addresses of the host do not forward.
ip addr add 198.51.100.9/24 dev uplink0
out=$(api POST /v1/port-forwards \
  '{"name":"web-one","listen_port":8082,"listen_address":"198.51.100.9","target":"prod/web","target_port":80}')
assert_eq 201 "${out%% *}" "a forward on one address is created"
assert_eq "$SERVER_ADDR" "$(from internet 198.51.100.9:8082)" "it answers on its address"
assert_eq "" "$(from internet "$UPLINK_ADDR:8082")" "and not on the host's other address"

# UDP: a datagram to the host's port reaches the target and is answered.
ip netns exec vpc-prod.db python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.10.2.2", 5300))
while True:
    data, peer = s.recvfrom(100)
    s.sendto(peer[0].encode(), peer)
' &
CHILD_PIDS+=($!)
out=$(api POST /v1/port-forwards '{"name":"db-udp","protocol":"udp","listen_port":5300,"target":"prod/db"}')
assert_eq 201 "${out%% *}" "a UDP forward is created"
udp_answer() {
  ip netns exec internet python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.5)
s.sendto(b"hi", (sys.argv[1], 5300))
print(s.recvfrom(100)[0].decode())' "$UPLINK_ADDR" 2>/dev/null
}
udp_seen() { [[ $(udp_answer) == "$SERVER_ADDR" ]]; }
if wait_until 10 udp_seen; then pass "UDP reaches the target, which sees the client's address"; else
  fail "UDP through the forward: [$(udp_answer)]"; fi

# The kernel says what the API says.
host_table=$(nft list table ip vpcd)
assert_contains "$host_table" "map forwards_any" "the host's table holds the forward map"
assert_contains "$host_table" "tcp . 8080 : 169.254." "tcp/8080 leads to a router's transit address"
assert_contains "$host_table" "198.51.100.9 . tcp . 8082" "the one-address forward is keyed by its address"
router_table=$(ip netns exec vpc-prod nft list table inet vpcd)
assert_contains "$router_table" "tcp . 8080 : 10.10.2.2 . 8080" "the router maps tcp/8080 to db:8080"
assert_contains "$router_table" "tcp . 8081 : 10.10.1.2 . 80" "and tcp/8081 to web:80"

# Conflicts and bad input change nothing.
mutations=$(kernel_mutations)
files=$(find "$STATE" -type f ! -name vpcd.lock ! -name "audit.log*" -print0 | sort -z | xargs -0 md5sum)
tables="$(nft list table ip vpcd; ip netns exec vpc-prod nft list table inet vpcd)"
out=$(api POST /v1/port-forwards '{"name":"again","listen_port":8080,"target":"prod/web"}')
assert_eq 409 "${out%% *}" "the same protocol and port again is a conflict"
assert_contains "$out" "db-http" "naming the forward that holds it"
assert_contains "$out" '"field":"listen_port"' "and the field"
out=$(api POST /v1/port-forwards '{"name":"db-http","listen_port":8080,"target":"prod/db"}')
assert_eq 200 "${out%% *}" "the identical forward again is a 200"
out=$(api POST /v1/port-forwards '{"name":"ghost","listen_port":9000,"target":"nope"}')
assert_eq 404 "${out%% *}" "a missing target is a 404"
assert_contains "$out" '"field":"target"' "naming the field target"
out=$(api POST /v1/port-forwards '{"name":"bad","listen_port":70000,"target":"prod/db"}')
assert_eq 400 "${out%% *}" "a port out of range is a 400"
assert_contains "$out" '"field":"listen_port"' "naming listen_port"
out=$(api DELETE /v1/vpcs/prod/subnets/db)
assert_eq 409 "${out%% *}" "a subnet a forward leads into is not deleted"
assert_contains "$out" "db-http" "the refusal names the forward"
assert_not_contains "$(vpcctl forward list)" "ghost" "nothing was made by the refusals"
assert_eq "$mutations" "$(kernel_mutations)" "the refusals made no kernel call"
assert_eq "$files" "$(find "$STATE" -type f ! -name vpcd.lock ! -name "audit.log*" -print0 | sort -z | xargs -0 md5sum)" \
  "nor changed a state file"
assert_eq "$tables" "$(nft list table ip vpcd; ip netns exec vpc-prod nft list table inet vpcd)" \
  "and the tables are as they were"

# A policy on the target still applies: deny 8080 into db, allow 22.
cat >"$WORK/db-in.json" <<'JSON'
{"applies_to": ["prod/db"], "default_ingress": "deny",
 "ingress": [{"priority": 100, "action": "allow", "protocol": "tcp", "ports": ["22"]}]}
JSON
out=$(api PUT /v1/policies/db-in "$(cat "$WORK/db-in.json")")
assert_eq 201 "${out%% *}" "a policy denying 8080 into db is put"
assert_eq "" "$(from internet)" "the forward does not bypass the policy"
rc=0
out=$(vpcctl reach "$SERVER_ADDR" forward/db-http) || rc=$?
assert_eq 1 "$rc" "vpcctl reach: unreachable through the forward"
assert_contains "$out" "blocked by: policy_default: ingress of prod/db" "... and says which policy blocks it"
assert_contains "$out" "dnat (port forward db-http)" "... after both stages of DNAT"
api DELETE /v1/policies/db-in >/dev/null
assert_eq "$SERVER_ADDR" "$(from internet)" "without the policy the forward works again"
rc=0
out=$(vpcctl reach "$SERVER_ADDR" forward/db-http) || rc=$?
assert_eq 0 "$rc" "vpcctl reach: reachable through the forward without the policy"
assert_contains "$out" "delivered to 10.10.2.2" "... delivered to the target"

# Drift: the host's map emptied and the router's prerouting rule removed by
# hand come back.
nft flush map ip vpcd forwards_any
handle=$(ip netns exec vpc-prod nft -a list chain inet vpcd prerouting | grep dnat | grep -o '[0-9]*$')
ip netns exec vpc-prod nft delete rule inet vpcd prerouting handle "$handle"
works() { [[ $(from internet) == "$SERVER_ADDR" ]]; }
if wait_until 10 works; then pass "the forward is repaired after hand-made damage"; else
  fail "the forward was not repaired"; fi

# A restart keeps it.
stop_daemon
start_daemon
assert_eq "db-http db-udp web-alt web-one" "$(vpcctl forward list -o json | json_field '" ".join(f["name"] for f in d["items"])')" \
  "the forwards are kept across a restart"
assert_eq "$SERVER_ADDR" "$(from internet)" "and work after it"
assert_contains "$(vpcctl forward show db-http)" "10.10.2.2:8080" "vpcctl forward show"

# Deleted: the port no longer answers, and the host's forward maps go with the last.
assert_contains "$(vpcctl forward delete db-http)" "deleted port forward db-http" "vpcctl forward delete"
assert_eq "" "$(from internet)" "a deleted forward no longer answers"
for f in db-udp web-alt web-one; do vpcctl forward delete $f >/dev/null; done
assert_not_contains "$(nft list table ip vpcd)" "forwards" "the host's table has no forward maps left"
assert_not_contains "$(ip netns exec vpc-prod nft list table inet vpcd)" "dnat" "nor the router a dnat"
assert_eq "[]" "$(vpcctl plan -o json | json_field 'd["actions"]')" "plan converged"
finish
