#!/usr/bin/env bash
# Firewall policies with real listeners on every port probed: allow/deny by
# port and by source, egress, priorities and ties, statefulness, counters,
# logging, tamper resistance, the seed format, and refused documents.
source "$(dirname "$0")/lib.sh"

prod_lab
vpcctl vpc create partner --cidr 10.20.0.0/16 >/dev/null
vpcctl subnet create partner app --cidr 10.20.1.0/24 --private >/dev/null
vpcctl peering request pp --vpc prod --peer-vpc partner >/dev/null
vpcctl peering accept pp >/dev/null

WEB=10.10.1.2 DB=10.10.2.2 APP=10.20.1.2
for port in 80 8080 22; do start_server vpc-prod.web $WEB $port; done
for port in 25 80 9000 9001; do start_server vpc-prod.db $DB $port; done

# probe FROM_NS ADDR PORT: "open" or "blocked" (every port has a listener, so
# a failure is the firewall, never a refused connection).
probe() { if tcp_connect "$1" "$2" "$3"; then echo open; else echo blocked; fi; }
expect() {  # open|blocked FROM_NS ADDR PORT message
  assert_eq "$1" "$(probe "$2" "$3" "$4")" "$5"
}
# The verdicts of the web policy, in one line, for comparing formats.
web_verdicts() {
  echo "$(probe vpc-prod.db $WEB 80) $(probe vpc-prod.db $WEB 8080) $(probe vpc-prod.db $WEB 22)" \
    "$(probe vpc-prod.web $DB 25) $(probe vpc-prod.web $DB 80)"
}
stat_of() {  # POLICY RULE-PATH -> packets
  vpcctl policy stats "$1" -o json | json_field "[r['packets'] for r in d['rules'] if r['rule']=='$2'][0]"
}
converged() { [[ $(vpcctl plan -o json | json_field 'd["converged"]') == True ]]; }

# No policy: open inside the VPC and across the peering, as before.
expect open vpc-prod.db $WEB 22 "without a policy, db reaches web:22"
expect open vpc-partner.app $DB 80 "without a policy, the peer reaches db:80"

# --- vpcd format: allow 80/8080, deny 22 (logged), egress deny 25 -----------
cat >"$WORK/web.json" <<'JSON'
{
  "name": "web",
  "applies_to": ["prod/web"],
  "default_ingress": "deny",
  "default_egress": "allow",
  "ingress": [
    {"priority": 100, "action": "allow", "protocol": "tcp", "ports": ["80", "8080"], "sources": ["0.0.0.0/0"], "description": "http"},
    {"priority": 200, "action": "deny", "protocol": "tcp", "ports": ["22"], "sources": ["10.0.0.0/8"], "log": true}
  ],
  "egress": [
    {"priority": 100, "action": "deny", "protocol": "tcp", "ports": ["25"], "destinations": ["0.0.0.0/0"]}
  ]
}
JSON
assert_contains "$(vpcctl policy apply -f "$WORK/web.json")" "prod/web" "policy web applied"
VPCD_VERDICTS=$(web_verdicts)
assert_eq "open open blocked blocked open" "$VPCD_VERDICTS" "80/8080 open, 22 blocked; egress 25 blocked, 80 passes"
expect open vpc-partner.app $WEB 80 "the peer reaches web:80 (sources 0.0.0.0/0)"
[[ $(stat_of web 'ingress[0]') -gt 0 ]] && pass "counter of the allow rule moved" || fail "ingress[0] counter"
[[ $(stat_of web 'ingress[1]') -gt 0 ]] && pass "counter of the deny rule moved" || fail "ingress[1] counter"
[[ $(stat_of web 'egress[0]') -gt 0 ]] && pass "counter of the egress deny moved" || fail "egress[0] counter"
if wait_until 5 grep -q "firewall vpc-prod: vpcd web:ingress\[1\] deny: 10.10.2.2:[0-9]* -> 10.10.1.2:22 tcp" "$WORK/vpcd.log"; then
  pass "a logging rule's matches reach the daemon log, naming policy and rule"
else
  fail "no log line for web:ingress[1]"
fi
listing=$(ip netns exec vpc-prod nft list table inet vpcd)
assert_contains "$listing" 'ip saddr . meta l4proto . th dport vmap @in_web_l4' "one map lookup per direction"
assert_contains "$listing" 'comment "web:ingress[1]"' "entries name their rule"
assert_eq "" "$(ip netns exec vpc-prod.web nft list ruleset)" "nothing of the policy lives in the subnet namespace"

# --- tampering ----------------------------------------------------------------
ip netns exec vpc-prod.web nft flush ruleset
expect blocked vpc-prod.db $WEB 22 "a root flush inside the subnet namespace changes nothing"
ip netns exec vpc-prod nft flush ruleset
wait_until 5 converged && pass "a flush in the router is repaired" || fail "router not repaired"
expect blocked vpc-prod.db $WEB 22 "after the repair, 22 is blocked again"
expect open vpc-prod.db $WEB 80 "after the repair, 80 is open"

# --- source scope, statefulness: db takes new connections only from the VPC --
cat >"$WORK/inner.json" <<'JSON'
{"applies_to": ["prod/db"], "default_ingress": "deny", "default_egress": "deny",
 "ingress": [{"priority": 100, "action": "allow", "sources": ["10.10.0.0/16"]}]}
JSON
vpcctl policy apply -f "$WORK/inner.json" --name inner >/dev/null
expect open vpc-prod.web $DB 80 "web (10.10.0.0/16) reaches db:80; the reply passes despite default_egress deny"
expect blocked vpc-partner.app $DB 80 "the peered VPC's host is outside 10.10.0.0/16: blocked"
expect blocked vpc-prod.db $WEB 80 "db opens nothing (default_egress deny)"

# --- priorities: lower first; on a tie, deny wins ---------------------------
put_rule() {  # NAME PRIORITY ACTION PORT
  api PUT "/v1/policies/$1" "{\"applies_to\":[\"prod/db\"],\"default_ingress\":\"allow\",\"ingress\":[{\"priority\":$2,\"action\":\"$3\",\"protocol\":\"tcp\",\"ports\":[\"$4\"]}]}" >/dev/null
}
put_rule tie-allow 50 allow 9000
put_rule tie-deny 50 deny 9000
expect blocked vpc-prod.web $DB 9000 "allow and deny at priority 50 on one port: deny wins"
vpcctl policy delete tie-deny >/dev/null
expect open vpc-prod.web $DB 9000 "with the deny gone, the allow applies"
api PUT /v1/policies/order '{"applies_to":["prod/db"],"ingress":[
  {"priority":10,"action":"deny","protocol":"tcp","ports":["9001"],"sources":["10.10.1.0/24"]},
  {"priority":20,"action":"allow","protocol":"tcp","ports":["9001"]}]}' >/dev/null
expect blocked vpc-prod.web $DB 9001 "priority 10 deny beats priority 20 allow"
api PUT /v1/policies/order '{"applies_to":["prod/db"],"ingress":[
  {"priority":30,"action":"deny","protocol":"tcp","ports":["9001"],"sources":["10.10.1.0/24"]},
  {"priority":20,"action":"allow","protocol":"tcp","ports":["9001"]}]}' >/dev/null
expect open vpc-prod.web $DB 9001 "replaced: priority 20 allow now comes first"
for p in inner tie-allow order; do vpcctl policy delete $p >/dev/null; done

# --- the seed format gives the same verdicts ---------------------------------
vpcctl policy delete web >/dev/null
assert_eq "open open open open open" "$(web_verdicts)" "no policy left: everything open again"
cat >"$WORK/seed-web.json" <<'JSON'
{"subnet": "10.10.1.0/24",
 "ingress": [{"port": 80, "protocol": "tcp", "action": "allow"},
             {"port": "8080", "protocol": "tcp", "action": "allow"},
             {"port": 22, "protocol": "tcp", "action": "deny"}],
 "egress": [{"port": 25, "protocol": "tcp", "action": "deny"},
            {"port": "any", "protocol": "any", "action": "allow"}]}
JSON
out=$(vpcctl policy apply -f "$WORK/seed-web.json" -o json)
assert_eq "seed-web seed prod/web" "$(echo "$out" | json_field 'd["name"], d["format"], d["applies_to"][0]' | tr -d "(),'")" \
  "seed document named after its file, its CIDR resolved to prod/web"
assert_eq "$VPCD_VERDICTS" "$(web_verdicts)" "the seed format gives the same verdicts as the vpcd format"

# --- refused documents: 400/404/409 naming the field, nothing changed --------
vpcctl vpc create dup --cidr 10.10.0.0/16 >/dev/null
vpcctl subnet create dup web --cidr 10.10.1.0/24 >/dev/null
before_files=$(ls "$STATE/policies")
before_mut=$(kernel_mutations)
refused() {  # BODY CODE FIELD message
  local reply
  reply=$(api PUT /v1/policies/bad "$1")
  assert_eq "$2 $3" "${reply%% *} $(echo "${reply#* }" | json_field 'd["error"].get("field", "")')" "$4"
}
refused '{"applies_to":["prod/web"],"ingress":[{"priority":1,"action":"allow"},{"priority":2,"action":"deny","protocol":"tcp","ports":["70000"]}]}' \
  400 'ingress[1].ports[0]' 'port 70000 refused with its path'
assert_contains "$(cat "$WORK/body")" '"70000\" is not a port or range' "the message quotes the bad value"
refused '{"applies_to":["prod/web"],"egress":[{"priority":1,"action":"allow","protocol":"gre"}]}' \
  400 'egress[0].protocol' 'unknown protocol refused'
refused '{"applies_to":["prod/web"],"ingress":[{"priority":1,"action":"allow","sources":["10.0.0.1/8"]}]}' \
  400 'ingress[0].sources[0]' 'host bits in a source refused'
refused '{"applies_to":["prod/web"],"ingress":[{"priority":1,"action":"allow","protocol":"icmp","ports":["1"]}]}' \
  400 'ingress[0].ports' 'ports on icmp refused'
refused '{"applies_to":["prod/nope"]}' 404 'applies_to[0]' 'unknown subnet refused'
refused '[{"subnet":"10.10.2.0/24"},{"subnet":"10.10.2.0/24","ingress":[{"port":"x","action":"allow"}]}]' \
  400 '[1].ingress[0].port' 'seed list: the bad rule named by its path'
refused '{"subnet":"10.10.1.0/24","ingress":[{"port":80,"action":"allow"}]}' \
  409 'subnet' 'a CIDR matching subnets in two VPCs asks for vpc/subnet'
assert_contains "$(cat "$WORK/body")" "name the subnet as vpc/subnet" "the 409 says how to name it"
assert_eq "$before_files" "$(ls "$STATE/policies")" "refused documents wrote no state"
assert_eq "$before_mut" "$(kernel_mutations)" "refused documents made no kernel call"
reply=$(api DELETE /v1/vpcs/prod/subnets/web)
assert_eq 409 "${reply%% *}" "a subnet with a policy cannot be deleted"
assert_contains "$reply" "seed-web" "the 409 names the policy"

# --- restart: the policy is state, and nothing needs redoing -----------------
stop_daemon
start_daemon
assert_eq 0 "$(kernel_mutations)" "restart with the policy in place: no kernel call"
expect blocked vpc-prod.db $WEB 22 "after restart, 22 is still blocked"
assert_eq "seed-web" "$(vpcctl policy list -o json | json_field 'd["items"][0]["name"]')" "the policy survived the restart"

finish
