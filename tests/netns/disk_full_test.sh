#!/usr/bin/env bash
# The state directory on a small tmpfs that fills up: a mutation answers 507
# naming the cause, the kernel is not touched, the previous state files are
# intact and no temporary file is left; once space is back, requests succeed,
# and a restart sees only what was acknowledged.
source "$(dirname "$0")/lib.sh"

SMALL="$WORK/small"
mkdir -p "$SMALL"
mount -t tmpfs -o size=512k vpcd-test-small "$SMALL"
unmount_small() {
  stop_daemon || true
  umount "$SMALL" || true
}
ON_EXIT+=(unmount_small)
STATE="$SMALL/state"  # sandbox.sh's start_daemon and cleanup use $STATE
start_daemon
vpcctl vpc create prod --cidr 10.10.0.0/16 >/dev/null
vpcctl subnet create prod web --cidr 10.10.1.0/24 --public >/dev/null
state_files() { (cd "$STATE" && find . -type f ! -name lock ! -name "audit.log*" | sort | xargs sha256sum); }
BEFORE=$(state_files)
MUTATIONS=$(kernel_mutations)

# Fill it: dd stops at ENOSPC.
dd if=/dev/zero of="$SMALL/filler" bs=4k 2>/dev/null || true
r=$(api POST /v1/vpcs/prod/subnets '{"name":"db","cidr":"10.10.2.0/24"}')
assert_eq 507 "${r%% *}" "a subnet on a full disk: 507"
assert_contains "$r" "INSUFFICIENT_STORAGE" "the status word"
assert_contains "$r" "No space left on device" "the cause"
r=$(api PUT /v1/policies/web '{"applies_to":["prod/web"],"ingress":[{"priority":1,"action":"allow","protocol":"tcp","ports":["80"]}]}')
assert_eq 507 "${r%% *}" "a policy on a full disk: 507"
r=$(api POST /v1/vpcs '{"name":"dev","cidr":"10.20.0.0/16"}')
assert_eq 507 "${r%% *}" "a VPC on a full disk: 507"
assert_eq "$MUTATIONS" "$(kernel_mutations)" "the kernel was not touched"
assert_eq "" "$(ip netns list | grep -E 'vpc-prod.db|vpc-dev' || true)" "no namespace for what was refused"
assert_eq "$BEFORE" "$(state_files)" "the previous state files are intact"
assert_eq "" "$(find "$STATE" -name '*.tmp')" "no temporary file is left"
assert_eq "web" "$(vpcctl subnet list prod -o json | json_field '" ".join(s["name"] for s in d["items"])')" "the API shows the state as it was"

# Space back: the same requests succeed.
rm "$SMALL/filler"
r=$(api POST /v1/vpcs/prod/subnets '{"name":"db","cidr":"10.10.2.0/24"}')
assert_eq 201 "${r%% *}" "once space is back, the subnet is created"
r=$(api POST /v1/vpcs '{"name":"dev","cidr":"10.20.0.0/16"}')
assert_eq 201 "${r%% *}" "and the VPC"

# A restart reads exactly what was acknowledged (no journal of a refused change).
stop_daemon
start_daemon
assert_eq "dev prod" "$(vpcctl vpc list -o json | json_field '" ".join(sorted(v["name"] for v in d["items"]))')" "after restart: the VPCs acknowledged"
assert_eq "db web" "$(vpcctl subnet list prod -o json | json_field '" ".join(sorted(s["name"] for s in d["items"]))')" "after restart: the subnets acknowledged"
assert_eq "[]" "$(api GET /v1/policies | cut -d' ' -f2- | json_field 'd["items"]')" "the refused policy never existed"
[[ $(vpcctl plan -o json | json_field 'd["converged"]') == True ]] && pass "plan is empty" || fail "plan after restart"

finish
