#!/usr/bin/env bash
# Flow logs with real packets: a counted UDP stream appears with its exact
# 5-tuple, packets and bytes (the receiver counts the same), a TCP
# connection with both of its ways, a denied UDP stream and a denied TCP
# probe as REJECT; the records stream with ?follow=1 and `vpcctl flow-logs
# --follow`; switching the log off takes the drop logging out of the
# firewall; bad input changes nothing; the log survives a restart.
# shellcheck disable=SC2015  # `check && pass || fail`: pass only prints, it never fails
source "$(dirname "$0")/lib.sh"

prod_lab
WEB=10.10.1.2 DB=10.10.2.2
start_server vpc-prod.db $DB 8080
# A UDP receiver on db:9000 that writes how many datagrams it got.
ip netns exec vpc-prod.db python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 9000))
n = 0
while True:
    s.recv(2048)
    n += 1
    with open(sys.argv[2], "w") as f:
        f.write(str(n))
' $DB "$WORK/udp-count" &
CHILD_PIDS+=($!)
# send_udp SPORT DPORT COUNT SIZE: COUNT datagrams of SIZE bytes web -> db
send_udp() {
  ip netns exec vpc-prod.web python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
for _ in range(int(sys.argv[5])):
    s.sendto(b"x" * int(sys.argv[6]), (sys.argv[3], int(sys.argv[4])))
' $WEB "$1" $DB "$2" "$3" "$4"
}
api PUT /v1/policies/db-in '{"applies_to":["prod/db"],"default_ingress":"deny","ingress":[
  {"priority":100,"action":"allow","protocol":"tcp","ports":["8080"],"sources":["10.10.1.0/24"]},
  {"priority":110,"action":"allow","protocol":"udp","ports":["9000"],"sources":["10.10.1.0/24"]},
  {"priority":120,"action":"deny","protocol":"tcp","ports":["5432"]}]}' >/dev/null

# Bad input changes nothing.
out=$(api PUT /v1/flow-logs/x '{"target":"nope"}')
assert_eq 404 "${out%% *}" "a flow log on a VPC that does not exist is 404"
assert_contains "$out" '"field":"target"' "naming the field"
out=$(api PUT /v1/flow-logs/x '{"target":"prod","aggregation_s":0}')
assert_eq 400 "${out%% *}" "aggregation_s 0 is refused"
assert_contains "$out" '"field":"aggregation_s"' "naming the field"
assert_eq '200 {"items":[]}' "$(api GET /v1/flow-logs)" "and no flow log was stored"

out=$(api PUT /v1/flow-logs/prod-all '{"target":"prod","aggregation_s":1}')
assert_eq 201 "${out%% *}" "PUT /v1/flow-logs/prod-all creates it"
assert_eq 1 "$(ip netns exec vpc-prod cat /proc/sys/net/netfilter/nf_conntrack_acct)" \
  "the router counts packets and bytes per connection (sysctl)"
assert_contains "$(ip netns exec vpc-prod nft list chain inet vpcd flow_drop)" "group 8 drop" \
  "the firewall's drops also go to the flow log (nft)"

# record SRC DST SPORT DPORT PROTO ACTION: "packets bytes" summed over the
# records of that flow (a flow spans several 1 s windows).
record() {
  vpcctl flow-logs prod --tail 1000 |
    awk -v k="$1 $2 $3 $4 $5" -v a="$6" '$4" "$5" "$6" "$7" "$8 == k && $13 == a {
      p += $9; b += $10; n++ } END { if (n) print p, b }'
}
# record_is SRC DST SPORT DPORT PROTO ACTION "PACKETS BYTES"
record_is() { [[ "$(record "$1" "$2" "$3" "$4" "$5" "$6")" == "$7" ]]; }
# has_line PATTERN: some record matches the extended regexp
has_line() { vpcctl flow-logs prod --tail 1000 | grep -Eq "$1"; }
# tcp_port: the source port of the logged connection web -> db:8080
tcp_port() {
  vpcctl flow-logs prod --tail 1000 |
    awk -v w=$WEB -v d=$DB '$4 == w && $5 == d && $7 == 8080 && $8 == 6 { print $6; exit }'
}
send_udp 40001 9000 7 100
wait_until 5 grep -qx 7 "$WORK/udp-count" && pass "the receiver got 7 datagrams" ||
  fail "UDP receiver count: $(cat "$WORK/udp-count" 2>/dev/null)"
# 7 x (20 IPv4 + 8 UDP + 100) bytes.
wait_until 10 record_is $WEB $DB 40001 9000 17 ACCEPT "7 896" &&
  pass "the UDP stream is one ACCEPT flow of 7 packets, 896 bytes" ||
  fail "UDP record: [$(record $WEB $DB 40001 9000 17 ACCEPT)]"
line=$(vpcctl flow-logs prod --tail 1000 | grep " $WEB $DB 40001 9000 17 " | head -1)
assert_contains "$line" "2 prod prod/web $WEB $DB 40001 9000 17 " \
  "version 2, the VPC, the interface of the sender"
assert_contains "$line" " ACCEPT OK" "action and log-status"

send_udp 40002 9999 3 50
wait_until 10 record_is $WEB $DB 40002 9999 17 REJECT "3 234" &&
  pass "a denied UDP stream is REJECT: 3 packets, 234 bytes" ||
  fail "denied UDP record: [$(record $WEB $DB 40002 9999 17 REJECT)]"

assert_eq "$WEB" "$(fetch vpc-prod.web http://$DB:8080/)" "web fetches from db:8080"
tcp_logged() { [[ -n "$(tcp_port)" ]]; }
wait_until 10 tcp_logged
tcp=$(tcp_port)
[[ -n $tcp ]] && pass "the TCP connection is logged, web:$tcp -> db:8080" || fail "no TCP record"
wait_until 10 has_line " $DB $WEB 8080 $tcp 6 [0-9]+ [0-9]+ [0-9]+ [0-9]+ ACCEPT OK" &&
  pass "and its answers as a flow of their own, db:8080 -> web:$tcp" || fail "no TCP reply record"
read -r p b <<<"$(record $WEB $DB "$tcp" 8080 6 ACCEPT)"
[[ $p -ge 4 && $b -gt $((p * 40)) ]] && pass "the request way carried $p packets, $b bytes" ||
  fail "TCP request counts: [$p $b]"

tcp_connect vpc-prod.web $DB 5432 && fail "db:5432 is denied" || pass "db:5432 is denied"
wait_until 10 has_line " $WEB $DB [0-9]+ 5432 6 [0-9]+ [0-9]+ [0-9]+ [0-9]+ REJECT OK" &&
  pass "the denied TCP probe is a REJECT record" || fail "no REJECT record for 5432"

metric() {  # the value of a metric line matching $1
  curl -s --unix-socket "$SOCK" http://vpcd/v1/metrics | awk -v m="$1" 'index($0, m) == 1 { print $2 }'
}
n=$(metric 'vpcd_flow_records_total{action="REJECT",vpc="prod"}')
[[ -n $n && ${n%.*} -ge 2 ]] && pass "the metrics count the REJECT records written ($n)" ||
  fail "vpcd_flow_records_total REJECT: [$n]"

# Following: new records as they are written.
curl -s -N --unix-socket "$SOCK" "http://vpcd/v1/vpcs/prod/flow-logs?follow=1&tail=1" \
  >"$WORK/follow" 2>/dev/null &
FOLLOW=$!
CHILD_PIDS+=("$FOLLOW")
"$VPCCTL_BIN" --socket "$SOCK" flow-logs prod --follow >"$WORK/follow-cli" 2>&1 &
CHILD_PIDS+=($!)
send_udp 40003 9000 2 10
wait_until 10 grep -q " $WEB $DB 40003 9000 17 2 76 " "$WORK/follow" &&
  pass "GET ?follow=1 streams the new record" || fail "follow: $(cat "$WORK/follow")"
wait_until 10 grep -q " $WEB $DB 40003 9000 17 2 76 " "$WORK/follow-cli" &&
  pass "vpcctl flow-logs --follow prints it" || fail "vpcctl follow: $(cat "$WORK/follow-cli")"
kill "$FOLLOW" 2>/dev/null || true

# The records are a file under the state directory, headed by the fields.
assert_eq "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status" \
  "$(head -1 "$STATE/flow-records/prod.log")" "the record file starts with the field names"

# Across a peering: both VPCs' logs hold the flow, each naming its own end.
vpcctl vpc create shared --cidr 10.20.0.0/16 >/dev/null
vpcctl subnet create shared tools --cidr 10.20.1.0/24 >/dev/null
vpcctl peering request ps --vpc prod --peer-vpc shared >/dev/null
vpcctl peering accept ps >/dev/null
api PUT /v1/flow-logs/shared-all '{"target":"shared","aggregation_s":1}' >/dev/null
ip netns exec vpc-prod.web python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.10.1.2", 40007))
for _ in range(2):
    s.sendto(b"y" * 20, ("10.20.1.2", 7))
'
shared_line() { vpcctl flow-logs shared --tail 1000 | grep -q "^2 shared shared/tools $WEB 10.20.1.2 40007 7 17 2 96 "; }
wait_until 10 shared_line && pass "shared's log has the flow from prod, at its own subnet" ||
  fail "shared's log: $(vpcctl flow-logs shared --tail 5)"
wait_until 10 record_is $WEB 10.20.1.2 40007 7 17 ACCEPT "2 96" &&
  pass "and prod's log has it too" || fail "prod's log across the peering"
api DELETE /v1/flow-logs/shared-all >/dev/null

# A subnet's own flow log: the subnet is not deleted under it.
out=$(api PUT /v1/flow-logs/web-log '{"target":"prod/web"}')
assert_eq 201 "${out%% *}" "a flow log of one subnet"
out=$(api DELETE /v1/vpcs/prod/subnets/web)
assert_eq 409 "${out%% *}" "a subnet with a flow log is not deleted"
assert_contains "$out" "flow logs (web-log)" "and the error names it"
assert_eq 200 "$(api DELETE /v1/flow-logs/web-log | cut -d' ' -f1)" "the subnet's flow log deleted"

# The router deleted by hand: vpcd lets go of it (its sockets would keep
# it alive, links and all), makes it again, and collects there again.
ip netns del vpc-prod
wait_until 10 tcp_connect vpc-prod.web $DB 8080 && pass "the router deleted by hand is repaired" ||
  fail "no path web -> db after the router was deleted"
send_udp 40006 9000 5 10
wait_until 10 record_is $WEB $DB 40006 9000 17 ACCEPT "5 190" &&
  pass "and the new router's flows are logged (5 packets, 190 bytes)" ||
  fail "after the repair: [$(record $WEB $DB 40006 9000 17 ACCEPT)]"

# Restart: the log is kept and collects again.
stop_daemon
start_daemon
assert_contains "$(api GET /v1/flow-logs/prod-all)" '"enabled":true' "the flow log survives a restart"
send_udp 40005 9000 4 20
wait_until 10 record_is $WEB $DB 40005 9000 17 ACCEPT "4 192" &&
  pass "after the restart new flows are logged (4 packets, 192 bytes)" ||
  fail "after restart: [$(record $WEB $DB 40005 9000 17 ACCEPT)]"

# Off: the firewall no longer copies drops; the values are kept.
assert_contains "$(vpcctl flow-log disable prod-all)" "off" "vpcctl flow-log disable switches it off"
out=$(api GET /v1/flow-logs/prod-all)
assert_contains "$out" '"aggregation_s":1' "keeping its values"
assert_contains "$out" '"enabled":false' "and the API says it is off"
assert_not_contains "$(ip netns exec vpc-prod nft list table inet vpcd)" "group 8" \
  "off: no drop is logged to the flow log group (nft)"
assert_contains "$(vpcctl flow-log list)" "prod-all" "vpcctl flow-log list shows it"
assert_eq 200 "$(api DELETE /v1/flow-logs/prod-all | cut -d' ' -f1)" "DELETE removes it"
finish
