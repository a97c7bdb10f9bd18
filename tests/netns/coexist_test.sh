#!/usr/bin/env bash
# Coexistence with another firewall (issue 7), in the sandbox: a Docker-like
# table ip filter whose FORWARD chain drops by policy after jumping to
# DOCKER-USER (what iptables-nft makes of Docker's rules) is detected and
# reported with the exact chain; with --docker-compat vpcd's transit link is
# accepted in DOCKER-USER, traffic flows, and the accepts go with the last VPC.
source "$(dirname "$0")/lib.sh"

start_server internet "$SERVER_ADDR" 80
# The other firewall, in the sandbox's namespace (never the host's).
nft -f - <<'NFT'
table ip filter {
  chain DOCKER-USER { counter return; }
  chain FORWARD { type filter hook forward priority filter; policy drop; counter jump DOCKER-USER; }
}
NFT
user_rules() { nft -a list chain ip filter DOCKER-USER | grep -c 'comment "vpcd"' || true; }

echo "== detected and reported"
start_daemon
vpcctl vpc create prod --cidr 10.10.0.0/16 >/dev/null
vpcctl subnet create prod web --cidr 10.10.1.0/24 --public >/dev/null
assert_eq "" "$(fetch vpc-prod.web "http://$SERVER_ADDR/")" "the other table's FORWARD drop blocks the VPC"
api GET /v1/status >/dev/null
assert_eq '["table ip filter chain FORWARD (policy drop)"] off' \
  "$(json_field 'json.dumps(d["forward_blockers"]) + " " + d["docker_compat"]["docker_user"]' <"$WORK/body")" \
  "GET /v1/status names the blocking chain"
assert_contains "$(cat "$WORK/vpcd.log")" "<4>forwarded traffic is dropped by table ip filter chain FORWARD (policy drop)" \
  "and the log says so"
assert_eq 0 "$(user_rules)" "nothing of vpcd in the other table without --docker-compat"
stop_daemon

echo "== --docker-compat"
start_daemon --docker-compat
assert_eq "$UPLINK_ADDR" "$(fetch vpc-prod.web "http://$SERVER_ADDR/")" "traffic flows past the FORWARD drop"
assert_eq 2 "$(user_rules)" "an accept in and out for t-prod, marked vpcd"
assert_contains "$(nft list chain ip filter DOCKER-USER)" 'iifname "t-prod" accept comment "vpcd"' "the exact rule"
assert_contains "$(nft list chain ip filter FORWARD)" "policy drop" "the other table's policy is untouched"
stop_daemon
start_daemon --docker-compat
assert_eq 0 "$(kernel_mutations)" "a restart finds the accepts in place and changes nothing"
nft flush chain ip filter DOCKER-USER
wait_until 5 bash -c "nft list chain ip filter DOCKER-USER | grep -q 'oifname \"t-prod\" accept comment \"vpcd\"'" && pass "accepts restored after the other tool flushed its chain" ||
  fail "accepts not restored"
vpcctl subnet delete prod web >/dev/null
vpcctl vpc delete prod >/dev/null
assert_eq 0 "$(user_rules)" "the accepts go with the last VPC"
assert_contains "$(nft list table ip filter)" "chain DOCKER-USER" "the other table itself is left alone"

finish
