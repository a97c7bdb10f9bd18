#!/usr/bin/env bash
# Two VPCs with the same CIDR both work at once; no VPC reaches another's
# addresses.
source "$(dirname "$0")/lib.sh"

start_server internet "$SERVER_ADDR" 80
start_daemon

for vpc in blue green; do
  vpcctl vpc create "$vpc" --cidr 10.10.0.0/16 >/dev/null
  vpcctl subnet create "$vpc" web --cidr 10.10.1.0/24 --public >/dev/null
done
vpcctl vpc create other --cidr 10.30.0.0/16 >/dev/null
vpcctl subnet create other app --cidr 10.30.1.0/24 --public >/dev/null

assert_eq "$UPLINK_ADDR" "$(fetch vpc-blue.web "http://$SERVER_ADDR/")" "blue reaches the internet"
assert_eq "$UPLINK_ADDR" "$(fetch vpc-green.web "http://$SERVER_ADDR/")" "green, same CIDR, reaches it too"
assert_contains "$(ip -n vpc-blue.web -br addr show eth0)" "10.10.1.2/24" "blue web is 10.10.1.2"
assert_contains "$(ip -n vpc-green.web -br addr show eth0)" "10.10.1.2/24" "green web is 10.10.1.2 as well"

# Each VPC has its own transit /30.
assert_contains "$(ip -br addr show t-blue)" "169.254.64.1/30" "blue transit"
assert_contains "$(ip -br addr show t-green)" "169.254.64.5/30" "green transit"

# blue -> other's subnet: refused by routing (blue has no route to 10.30/16
# but its default, and the host drops what is not NATed back), and not one
# packet reaches other's subnet namespace.
ip netns exec vpc-other.app nft -f - <<'NFT'
table inet count {
  counter seen {}
  chain in { type filter hook prerouting priority -300; meta nfproto ipv4 tcp dport 8080 counter name seen; }
}
NFT
start_server vpc-other.app 10.30.1.2 8080
seen() { ip netns exec vpc-other.app nft list counter inet count seen | grep -o 'packets [0-9]*' | cut -d' ' -f2; }
before=$(seen)
if tcp_connect vpc-blue.web 10.30.1.2 8080; then fail "blue reached other's subnet"; else pass "blue cannot reach other's subnet"; fi
# other's router listens on its transit address; the host must not carry
# blue's packets there (a listener, so "refused" cannot pass for "blocked").
start_server vpc-other 169.254.64.10 8080
if tcp_connect vpc-blue.web 169.254.64.10 8080; then fail "blue reached other's router"; else pass "blue cannot reach other's router"; fi
if tcp_connect vpc-blue 169.254.64.10 8080; then fail "blue's router reached other's router"; else pass "blue's router cannot reach other's router"; fi
assert_eq "169.254.64.9" "$(curl -s --max-time 2 http://169.254.64.10:8080/ || true)" "the host itself still reaches other's router"
assert_eq "$before" "$(seen)" "no packet from blue arrived in other's subnet"
# The counter counts: traffic from inside `other` moves it.
tcp_connect vpc-other 10.30.1.2 8080 || fail "router of other cannot reach its own subnet"
[[ $(seen) -gt $before ]] && pass "other's counter counts" || fail "other's counter did not move"

# Deleting green leaves blue working.
vpcctl vpc delete green >/dev/null
assert_eq "$UPLINK_ADDR" "$(fetch vpc-blue.web "http://$SERVER_ADDR/")" "blue unaffected by green's deletion"
assert_not_contains "$(ip netns list)" "vpc-green" "green gone"
finish
