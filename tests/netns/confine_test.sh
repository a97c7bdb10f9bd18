#!/usr/bin/env bash
# What root inside vpcd's namespaces can and cannot do (docs/security.md):
# an instance's command, as root, tries vpcd's socket, its state directory
# (another instance's files among them), the token file, undoing the mount
# that hides them and entering the host's namespaces; each fails, while its
# own network stays its to change. Root in a subnet host's namespace is
# refused by the API too. The host's root keeps the whole API.
source "$(dirname "$0")/lib.sh"

TOKEN="$WORK/token"
echo secret-token >"$TOKEN"
start_daemon --token-file "$TOKEN"
vpcctl vpc create prod --cidr 10.10.0.0/16 >/dev/null
vpcctl subnet create prod web --cidr 10.10.1.0/24 --public >/dev/null
vpcctl instance create other --nic prod/web -- sleep 600 >/dev/null
[[ -f "$STATE/instances/other.json" ]] || fail "the other instance has no state file at $STATE/instances/other.json"

# The probe runs as the instance's own command; what it prints is its serial output.
cat >"$WORK/probe.sh" <<PROBE
try() { if "\$@" >/dev/null 2>&1; then echo "ALLOWED: \$*"; else echo "refused: \$*"; fi; }
echo "api: \$(curl -s --max-time 2 --unix-socket '$SOCK' http://vpcd/v1/vpcs)"
echo "state: [\$(ls -A '$STATE' 2>&1)]"
try cat '$STATE/instances/other.json'
echo "token: [\$(cat '$TOKEN' 2>&1)]"
try umount '$STATE'
try mount -t tmpfs x /mnt
try nsenter --net=/proc/1/ns/net true
try nsenter --mount=/proc/1/ns/mnt true
try cat /proc/1/root/'$STATE'/instances/other.json
try ip addr add 192.0.2.99/32 dev lo
echo "bounding: \$(grep CapBnd /proc/self/status)"
echo probe-done
PROBE
vpcctl instance create root --nic prod/web -- bash "$WORK/probe.sh" >/dev/null
out=""
serial() { out=$(vpcctl instance serial root 2>&1); [[ "$out" == *probe-done* ]]; }
wait_until 15 serial || fail "the probe did not finish: $out"

assert_contains "$out" "not served to processes inside vpcd's namespaces (vm-root)" \
  "root in an instance reaches the socket but the API refuses it, naming the namespace"
assert_not_contains "$out" '"items"' "... and answers nothing"
assert_contains "$out" "state: []" "vpcd's state directory is empty from inside"
assert_contains "$out" "refused: cat $STATE/instances/other.json" "another instance's file cannot be read"
assert_contains "$out" "token: []" "the token file reads empty"
assert_contains "$out" "refused: umount $STATE" "the hiding mount cannot be undone"
assert_contains "$out" "refused: mount -t tmpfs" "no mount at all"
assert_contains "$out" "refused: nsenter --net=/proc/1/ns/net" "no way back into the host's network"
assert_contains "$out" "refused: nsenter --mount=/proc/1/ns/mnt" "nor its mount namespace"
assert_contains "$out" "refused: cat /proc/1/root/" "nor its files through /proc/1/root"
assert_contains "$out" "ALLOWED: ip addr add 192.0.2.99/32 dev lo" "its own network is still its own to change"
assert_contains "$(ip -n vm-root addr show dev lo)" "192.0.2.99/32" "the address is on the instance's loopback"

# Root in a subnet host's namespace: refused, reads included.
out=$(ip netns exec vpc-prod.web curl -s --max-time 2 --unix-socket "$SOCK" http://vpcd/v1/vpcs)
assert_contains "$out" "vpc-prod.web" "root in a subnet's namespace is refused, naming it"
assert_contains "$out" '"code":403' "... with a 403"
# The host's root: the whole API, as before.
assert_contains "$(vpcctl vpc list)" "prod" "the host's root still has the API"
assert_contains "$(cat "$STATE/instances/other.json")" '"other"' "and the state is intact"
finish
