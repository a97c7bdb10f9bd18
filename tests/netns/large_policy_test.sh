#!/usr/bin/env bash
# Policies of 10,000 and 100,000 rules on a subnet that already has one: the
# kernel takes every batch whatever its size (once a 500 "Message too long"
# that left the new policy shown but not enforced), an edit of one rule
# changes a few entries instead of refilling the map, and traffic follows.
source "$(dirname "$0")/lib.sh"

prod_lab
WEB=10.10.1.2
for port in 80 9000 9001; do start_server vpc-prod.web $WEB $port; done
probe() { if tcp_connect vpc-prod.db $WEB "$1"; then echo open; else echo blocked; fi; }
verdicts() { echo "$(probe 80) $(probe 9000) $(probe 9001)"; }
converged() { [[ $(vpcctl plan -o json | json_field 'd["converged"]') == True ]]; }
l4_entries() { ip netns exec vpc-prod nft list map inet vpcd in_web_l4 | grep -o ' : ' | wc -l; }

api PUT /v1/policies/small '{"applies_to":["prod/web"],"default_ingress":"deny","ingress":[{"priority":100,"action":"allow","protocol":"tcp","ports":["80"],"sources":["10.0.0.0/8"]}]}' >/dev/null
assert_eq "open blocked blocked" "$(verdicts)" "the small policy: 80 open, the rest denied"

# big N PORT: N rules, each denying one port to a /24 of its own (the first
# one db's subnet and PORT), then an allow of every port from anywhere.
big() {
  python3 - "$1" "$2" >"$WORK/big.json" <<'PY'
import json, sys
n, port = int(sys.argv[1]), sys.argv[2]
rules = [{"priority": 100 + i % 60000, "action": "deny", "protocol": "tcp",
          "ports": [str(1000 + i % 60000)],
          "sources": [f"{11 + (i >> 16)}.{(i >> 8) & 255}.{i & 255}.0/24"]} for i in range(1, n)]
rules.insert(0, {"priority": 100, "action": "deny", "protocol": "tcp", "ports": [port],
                 "sources": ["10.10.2.0/24"]})
rules.append({"priority": 65000, "action": "allow", "protocol": "tcp", "ports": ["1-65535"],
              "sources": ["0.0.0.0/0"]})
json.dump({"applies_to": ["prod/web"], "default_ingress": "deny", "ingress": rules}, sys.stdout)
PY
}
put_big() {  # NAME -> HTTP status, with the body in $WORK/out
  curl -s -o "$WORK/out" -w '%{http_code}' --unix-socket "$SOCK" -X PUT \
    -H 'Content-Type: application/json' --data-binary @"$WORK/big.json" "http://vpcd/v1/policies/$1"
}
enforced() { vpcctl policy show "$1" -o json | json_field 'd["enforced"]'; }

big 10000 9000
assert_eq 201 "$(put_big big)" "10,000 rules beside an existing policy: 201 ($(head -c 200 "$WORK/out"))"
assert_eq True "$(enforced big)" "the 10,000-rule policy is enforced"
assert_eq "open blocked open" "$(verdicts)" "db:9000 denied by rule 0, 9001 allowed by the final rule"
entries=$(l4_entries)
[[ $entries -ge 10000 && $entries -lt 10100 ]] && pass "the final allow is not cut into pieces: $entries entries" ||
  fail "in_web_l4 holds $entries entries"
converged && pass "plan is empty" || fail "plan after the 10,000-rule policy"

# One rule edited: the same PUT with rule 0 on 9001. The entries that did not
# change stay in the kernel as they were: their counters keep counting
# (a map flushed and refilled would start them from zero).
stat_of() { vpcctl policy stats "$1" -o json | json_field "[r['packets'] for r in d['rules'] if r['rule']=='$2'][0]"; }
counted=$(stat_of small 'ingress[0]')
[[ $counted -gt 0 ]] && pass "db:80 counted by the small policy's rule ($counted packets)" ||
  fail "no packets counted on small:ingress[0]"
big 10000 9001
assert_eq 200 "$(put_big big)" "one rule of 10,000 edited: 200"
kept=$(stat_of small 'ingress[0]')
[[ $kept -ge $counted ]] && pass "the unchanged entries kept their counters ($kept packets)" ||
  fail "counters reset by the edit: $counted -> $kept"
assert_eq "open open blocked" "$(verdicts)" "now 9000 is allowed and 9001 denied"

# A refused or failed change must never be repeated as a no-op: the same PUT
# again answers 200 and the kernel still holds it.
assert_eq 200 "$(put_big big)" "the identical PUT again: 200"
assert_eq "open open blocked" "$(verdicts)" "verdicts unchanged"

# 100,000 rules replace it.
api DELETE /v1/policies/big >/dev/null
big 100000 9000
assert_eq 201 "$(put_big huge)" "100,000 rules: 201 ($(head -c 200 "$WORK/out"))"
assert_eq True "$(enforced huge)" "the 100,000-rule policy is enforced"
assert_eq "open blocked open" "$(verdicts)" "db:9000 denied among 100,000 rules"
entries=$(l4_entries)
[[ $entries -ge 100000 ]] && pass "$entries entries in the kernel" || fail "in_web_l4 holds $entries entries"
converged && pass "plan is empty" || fail "plan after the 100,000-rule policy"
assert_eq error-free "$(vpcctl status -o json | json_field '"error-free" if all(v["last_error"] == "" for v in d["vpcs"]) else d')" "no VPC in error"

finish
