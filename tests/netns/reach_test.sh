#!/usr/bin/env bash
# vpcctl reach and lab verify with real packets: every kind of blocked_by
# answered by the model and confirmed by a probe (exit 1), reachable paths
# through a peering and through NAT (exit 0), a probe answered by vpcd where
# nothing listens, a probe to the user's own service (which keeps working),
# a foreign nftables table that drops what the model allows (exit 2, named),
# a wrong question (exit 3), and lab verify on the examples with one
# expectation made false (exit 1 naming it).
source "$(dirname "$0")/lib.sh"
LABS="$(cd "$(dirname "$0")/../../labs" && pwd)"

start_server internet "$SERVER_ADDR" 80
start_daemon
vpcctl lab apply -f "$LABS/shop.yaml" >/dev/null
# Around the lab: a VPC peered with shared (prod -> third is not
# transitive), one with a pending request from prod, one with none.
vpcctl vpc create third --cidr 10.30.0.0/16 >/dev/null
vpcctl subnet create third x --cidr 10.30.1.0/24 >/dev/null
vpcctl peering request st --vpc shared --peer-vpc third >/dev/null
vpcctl peering accept st >/dev/null
vpcctl vpc create lone --cidr 10.40.0.0/16 >/dev/null
vpcctl subnet create lone y --cidr 10.40.1.0/24 >/dev/null
vpcctl peering request pl --vpc prod --peer-vpc lone >/dev/null
wait_until 10 tcp_connect vm-pg 10.10.2.20 5432 || fail "pg does not listen"

# reach_is EXIT KIND ARGS...: the exit status, and blocked_by's kind ("-": none)
reach_is() {
  local want=$1 kind=$2 rc=0
  shift 2
  vpcctl reach "$@" -o json >"$WORK/reach.json" || rc=$?
  local got
  got=$(json_field 'd["blocked_by"]["kind"] if d["blocked_by"] else "-"' <"$WORK/reach.json")
  if [[ $rc -eq $want && $got == "$kind" ]]; then
    pass "reach $* -> exit $rc, $kind"
  else
    fail "reach $*: expected exit $want and $kind, got exit $rc and $got: $(head -c 600 "$WORK/reach.json")"
  fi
}
reach_is 0 - prod/web pg --port 5432
assert_contains "$(json_field 'd["counted"]' <"$WORK/reach.json")" "rule db-in:ingress[0]" \
  "... and which rule let it through"
reach_is 1 policy_default prod/web pg --port 6432
assert_contains "$(json_field 'd["counted"]' <"$WORK/reach.json")" "default drop of chain in_db" \
  "vpcd's counters show where the probe stopped: db's ingress default"
assert_eq "timed out" "$(json_field 'd["probe"]["outcome"]' <"$WORK/reach.json")" \
  "... the probe's packets were dropped"
api PUT /v1/policies/web-out '{"applies_to":["prod/web"],"default_egress":"allow","egress":[{"priority":10,"action":"deny","protocol":"tcp","ports":["5432"],"destinations":["10.10.2.20/32"]}]}' >/dev/null
reach_is 1 policy_rule prod/web pg --port 5432
assert_eq "web-out egress[0] 10" "$(json_field 'd["blocked_by"]["policy"] + " " + d["blocked_by"]["rule"] + " " + str(d["blocked_by"]["priority"])' <"$WORK/reach.json")" \
  "... naming the policy, rule and priority"
api DELETE /v1/policies/web-out >/dev/null
reach_is 1 private_egress prod/db "$SERVER_ADDR" --port 80

# A probe waiting for an answer that never comes does not hold the daemon:
# while its SYN is unanswered in vpc-prod.db, other requests are served.
vpcctl reach prod/db "$SERVER_ADDR" --port 80 -o json >"$WORK/waiting.json" 2>&1 &
waiting=$!
CHILD_PIDS+=("$waiting")
in_flight() { ip netns exec vpc-prod.db ss -Htn state syn-sent dst "$SERVER_ADDR" | grep -q .; }
if wait_until 5 in_flight; then
  vpcctl vpc list >/dev/null || fail "the API did not answer during a probe"
  if in_flight; then pass "the API answers while a probe waits"; else
    fail "the probe ended before the API answered: the daemon waited for it"
  fi
else
  fail "the waiting probe's SYN never showed"
fi
wait "$waiting" || true
assert_eq private_egress "$(json_field 'd["blocked_by"]["kind"]' <"$WORK/waiting.json")" \
  "and the waiting probe's answer comes when it is done"
reach_is 0 - prod/web "$SERVER_ADDR" --port 80
assert_eq "10.10.1.2 -> 169.254.64.2; 169.254.64.2 -> the address of uplink0" \
  "$(json_field '"; ".join(n["before"] + " -> " + n["after"] for n in d["nat"])' <"$WORK/reach.json")" \
  "NAT steps of the public subnet and the host"
assert_eq "destination" "$(json_field 'd["probe"]["answered_by"]' <"$WORK/reach.json")" \
  "... answered by the internet server itself"
reach_is 0 - shared/tools prod/web --port 7777
assert_contains "$(cat "$WORK/reach.json")" "dev p-prod (peering prod-shared)" "the path crosses the peering link"
assert_eq "vpcd connected" "$(json_field 'd["probe"]["answered_by"] + " " + d["probe"]["outcome"]' <"$WORK/reach.json")" \
  "nothing listens on 7777: vpcd answered the handshake there"
if ip netns exec vpc-prod.web ss -ltn | grep -q ":7777"; then fail "vpcd's listener outlived the probe"; else
  pass "vpcd's listener is gone after the probe"; fi
reach_is 1 peering_allow_list prod/db shared/tools --port 22
reach_is 1 non_transitive prod/web third/x --port 22
reach_is 1 peering_not_active prod/web lone/y --port 22
reach_is 1 no_peering third/x lone/y --port 22
reach_is 1 anti_spoofing prod/web pg --port 5432 --source-address 10.10.1.77
reach_is 1 no_host prod/web 10.10.1.200 --port 80
vpcctl instance stop pg >/dev/null
reach_is 1 stopped_instance prod/web pg --port 5432
vpcctl instance start pg >/dev/null
wait_until 10 tcp_connect vm-pg 10.10.2.20 5432 || fail "pg does not listen again"
reach_is 0 - shared/tools prod/web --proto icmp
reach_is 1 policy_default prod/web pg --proto icmp
reach_is 0 - prod/web api --proto udp --port 9999

# The user's own service: probed, not disturbed.
reach_is 0 - prod/web api --port 8080
assert_eq "destination" "$(json_field 'd["probe"]["answered_by"]' <"$WORK/reach.json")" "api's own server answered"
assert_contains "$(fetch vpc-prod.web http://10.10.1.3:8080/)" "Directory listing" "api's server still serves"

# A foreign table in the router drops what the model allows: they disagree.
ip netns exec vpc-prod nft add table inet intruder
ip netns exec vpc-prod nft add chain inet intruder block '{ type filter hook forward priority -5; policy drop; }'
reach_is 2 - prod/web pg --port 5432
assert_contains "$(json_field 'd["disagreement"]["foreign_chains"]' <"$WORK/reach.json")" \
  "table inet intruder chain block (policy drop)" "the disagreement names the foreign chain"
assert_eq "[]" "$(json_field 'd["counted"]' <"$WORK/reach.json")" \
  "... and vpcd's rules counted none of the probe's packets (dropped before them)"
out=$(vpcctl reach prod/web pg --port 5432 || true)
assert_contains "$out" "DISAGREE" "the table output says so plainly"
ip netns exec vpc-prod nft delete table inet intruder
reach_is 0 - prod/web pg --port 5432

# A wrong question.
rc=0
vpcctl reach nowhere pg --port 1 2>"$WORK/err" || rc=$?
assert_eq 3 "$rc" "an unknown endpoint exits 3"
assert_contains "$(cat "$WORK/err")" "from: nowhere" "... naming it"

# lab verify: the examples hold; one expectation made false fails, named.
for f in "$LABS"/hub-spoke.yaml "$LABS"/range.yaml; do
  name=$(/usr/bin/python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["name"])' "$f")
  vpcctl lab apply -f "$f" >/dev/null
done
for name in shop hub-spoke range; do
  wait_until 15 bash -c "'$VPCCTL_BIN' --socket '$SOCK' lab verify $name >/dev/null" ||
    true  # the instances' servers may still be starting
  rc=0
  out=$(vpcctl lab verify "$name") || rc=$?
  assert_eq 0 "$rc" "lab verify $name: every expectation holds"
done
sed 's/{from: web, to: db, port: 5432, reach: false}/{from: web, to: db, port: 5432, reach: true}/' \
  "$LABS/range.yaml" >"$WORK/range.yaml"
out=$(vpcctl lab plan -f "$WORK/range.yaml" --reach)
assert_contains "$out" "web -> db tcp/5432: unreachable -> unreachable (expected reachable, DOES NOT HOLD)" \
  "lab plan --reach says before applying that the expectation will not hold"
vpcctl lab apply -f "$WORK/range.yaml" >/dev/null
rc=0
out=$(vpcctl lab verify range) || rc=$?
assert_eq 1 "$rc" "lab verify with a false expectation exits 1"
assert_contains "$(grep FAIL <<<"$out")" "web" "... the failing row names it"
assert_contains "$(grep FAIL <<<"$out")" "backend-in" "... with what blocks it"
assert_eq 1 "$(grep -c FAIL <<<"$out")" "... and only it fails"
finish
