#!/usr/bin/env bash
# Coexistence with another firewall (issue 7), in the sandbox: a Docker-like
# table ip filter whose FORWARD chain drops by policy after jumping to
# DOCKER-USER (what iptables-nft makes of Docker's rules) is detected and
# reported with the exact chain; with --docker-compat vpcd's transit link is
# accepted in DOCKER-USER, traffic flows, and the accepts go with the last VPC.
# Then a firewalld-like table (a final reject), another nftables table and
# legacy iptables: each reported with its fix, and the fixes that can run
# here are run and let traffic through.
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
stop_daemon
nft delete table ip filter

# fix_of BLOCKER: the fix GET /v1/status gives for it.
fix_of() {
  api GET /v1/status >/dev/null
  json_field "[f['fix'] for f in d['forward_blocker_fixes'] if f['blocker'] == '$1'][0]" <"$WORK/body"
}

echo "== a firewalld-like table: accept policy, reject at the end"
nft -f - <<'NFT'
table inet firewalld {
  chain filter_FORWARD {
    type filter hook forward priority filter + 10; policy accept;
    ct state established,related accept
    ct state invalid drop
    reject with icmpx admin-prohibited
  }
}
NFT
start_daemon
vpcctl vpc create prod --cidr 10.10.0.0/16 >/dev/null
vpcctl subnet create prod web --cidr 10.10.1.0/24 --public >/dev/null
assert_eq "" "$(fetch vpc-prod.web "http://$SERVER_ADDR/")" "the final reject blocks the VPC"
fw="table inet firewalld chain filter_FORWARD (rule: reject)"
assert_eq "firewall-cmd --permanent --zone=trusted --add-source=169.254.64.0/18 && firewall-cmd --reload" \
  "$(fix_of "$fw")" "firewalld's fix, in firewall-cmd"
assert_contains "$(vpcctl status)" "forwarded traffic is dropped by $fw" "vpcctl status names it"
api GET /v1/status >/dev/null
assert_eq "[\"$fw\"]" "$(json_field 'json.dumps(d["forward_blockers"])' <"$WORK/body")" \
  "only the reject: its conditional drop (ct state invalid) is no blocker"
stop_daemon
nft delete table inet firewalld

echo "== another nftables table: its printed fix, run, lets traffic through"
nft -f - <<'NFT'
table inet edge {
  chain forward { type filter hook forward priority filter; policy accept; counter drop; }
}
NFT
start_daemon
assert_eq "" "$(fetch vpc-prod.web "http://$SERVER_ADDR/")" "an unconditional drop blocks the VPC"
fix=$(fix_of "table inet edge chain forward (rule: drop)")
assert_contains "$fix" "nft insert rule inet edge forward ip saddr 169.254.64.0/18 accept" "nft's fix"
bash -c "$fix"
assert_eq "$UPLINK_ADDR" "$(fetch vpc-prod.web "http://$SERVER_ADDR/")" "after the fix, traffic flows"
stop_daemon
nft delete table inet edge

echo "== legacy iptables (x_tables): FORWARD policy DROP"
if [[ -r /proc/net/ip_tables_names ]] && command -v iptables-legacy >/dev/null; then
  iptables-legacy -P FORWARD DROP
  start_daemon
  assert_eq "" "$(fetch vpc-prod.web "http://$SERVER_ADDR/")" "the legacy policy blocks the VPC"
  legacy="iptables-legacy table filter chain FORWARD (policy DROP)"
  fix=$(fix_of "$legacy")
  assert_contains "$fix" "iptables-legacy -I FORWARD -s 169.254.64.0/18 -j ACCEPT" "iptables-legacy's fix"
  assert_contains "$(cat "$WORK/vpcd.log")" "dropped by $legacy; VPCs cannot reach the uplink. Fix: iptables-legacy" \
    "the log gives it too"
  bash -c "$fix"
  assert_eq "$UPLINK_ADDR" "$(fetch vpc-prod.web "http://$SERVER_ADDR/")" "after the fix, traffic flows"
  iptables-legacy -F FORWARD
  iptables-legacy -P FORWARD ACCEPT
else
  echo "skipped: this kernel has no legacy iptables (no /proc/net/ip_tables_names)"
fi

finish
