#!/usr/bin/env bash
# GET /v1/metrics against the real kernel: promtool accepts the format, and
# the values move as a user would check them: objects created, requests
# answered, a policy rule's packets after real connections, a drift repair
# after a hand-made change, the uplink's state.
source "$(dirname "$0")/lib.sh"

PROMTOOL=${PROMTOOL:-/usr/local/libexec/vpcd/promtool}
[[ -x $PROMTOOL ]] || PROMTOOL=$(command -v promtool || true)
if [[ -z $PROMTOOL ]]; then
  echo "SKIP: promtool not found (scripts/install-deps.sh unpacks it)"
  exit 77
fi

metrics() { curl -s --unix-socket "$SOCK" http://vpcd/v1/metrics; }
# metric SERIES: its value as exposed ("vpcd_vpcs", 'vpcd_subnets{type="public"}')
metric() { metrics | awk -v s="$1" '$1 == s { print $2 }'; }
metric_is() { [[ $(metric "$1") == "$2" ]]; }

prod_lab
DB=10.10.2.2
start_server vpc-prod.db $DB 5432
cat >"$WORK/db-in.json" <<'JSON'
{"name": "db-in", "applies_to": ["prod/db"], "default_ingress": "deny",
 "ingress": [{"priority": 100, "action": "allow", "protocol": "tcp", "ports": ["5432"],
              "sources": ["10.10.1.0/24"]}]}
JSON
vpcctl policy apply -f "$WORK/db-in.json" >/dev/null

metrics >"$WORK/metrics.txt"
if "$PROMTOOL" check metrics <"$WORK/metrics.txt" >"$WORK/promtool.out" 2>&1; then
  pass "promtool check metrics accepts the output"
else
  fail "promtool check metrics: $(cat "$WORK/promtool.out")"
fi
assert_contains "$(curl -s -o /dev/null -w '%{content_type}' --unix-socket "$SOCK" http://vpcd/v1/metrics)" \
  "text/plain; version=0.0.4" "the exposition format's content type"
assert_eq "1" "$(metric vpcd_vpcs)" "one VPC"
assert_eq "1" "$(metric 'vpcd_subnets{type="public"}')" "one public subnet"
assert_eq "1" "$(metric 'vpcd_subnets{type="private"}')" "one private subnet"
assert_eq "1" "$(metric vpcd_policies)" "one policy"
assert_eq "1" "$(metric vpcd_uplink_up)" "the uplink is up"
assert_eq "2" "$(metric 'vpcd_api_requests_total{code="201",method="POST",route="/v1/vpcs/{}/subnets"}')" \
  "two subnet creations counted under one route"
assert_eq "1" "$(metric 'vpcd_reconcile_passes_total{result="ok",trigger="start"}')" "the start-up pass"
assert_eq "$(kernel_mutations)" "$(metric vpcd_kernel_mutations_total)" "kernel mutations as status says"

# Three connections allowed by the rule: its entry counts their first packets.
for _ in 1 2 3; do tcp_connect vpc-prod.web $DB 5432 || fail "web cannot reach db:5432"; done
assert_eq "3" "$(metric 'vpcd_policy_rule_packets_total{policy="db-in",rule="ingress[0]"}')" \
  "the rule counted three new connections"
if [[ $(metric 'vpcd_policy_rule_bytes_total{policy="db-in",rule="ingress[0]"}') -gt 0 ]]; then
  pass "and their bytes"
else
  fail "no bytes counted for the rule"
fi

# A hand-made change repaired: one more router repair.
before=$(metric 'vpcd_drift_repairs_total{kind="router"}')
ip netns exec vpc-prod nft delete table inet vpcd
wait_until 10 metric_is 'vpcd_drift_repairs_total{kind="router"}' "$((before + 1))" ||
  fail "the router repair was not counted: $(metric 'vpcd_drift_repairs_total{kind="router"}')"
pass "the drift repair is counted"
metrics | "$PROMTOOL" check metrics >/dev/null 2>&1 || fail "promtool refuses the output after traffic"
finish
