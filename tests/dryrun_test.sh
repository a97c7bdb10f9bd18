#!/usr/bin/env bash
# `vpcd --dry-run`: the whole daemon against the in-memory kernel. Needs no
# root and must not touch the kernel: run as any user.
source "$(dirname "$0")/checks.sh" dryrun
SOCK="$WORK/vpcd.sock"
vpcctl() { "$VPCD_BIN_DIR/vpcctl" --socket "$SOCK" "$@"; }
start() {
  "$VPCD_BIN_DIR/vpcd" --dry-run --socket "$SOCK" --state-dir "$WORK/state" --netns-dir "$WORK/netns" \
    >>"$WORK/log" 2>&1 &
  PID=$!
  wait_until 10 vpcctl health || { cat "$WORK/log"; exit 1; }
}
stop() { kill "$PID"; wait "$PID" || true; PID=""; }

netns_before=$(ls /run/netns 2>/dev/null | sort || true)
start
check "create a VPC" vpcctl vpc create dry --cidr 10.90.0.0/16
check "create a subnet" vpcctl subnet create dry web --cidr 10.90.1.0/24 --public
check "plan is converged against the fake kernel" bash -c "'$VPCD_BIN_DIR/vpcctl' --socket '$SOCK' plan | grep -q converged"
check "status says dry run" bash -c "'$VPCD_BIN_DIR/vpcctl' --socket '$SOCK' status -o json | grep -q '\"dry_run\": true'"
check "state file written" test -f "$WORK/state/vpcs/dry.json"
check "a second subnet" vpcctl subnet create dry web2 --cidr 10.90.2.0/24
# Its command would listen if it ran: in a dry run it must not.
check "an instance with two NICs" vpcctl instance create box --nic dry/web --nic dry/web2=10.90.2.9 -- \
  python3 -m http.server --bind 127.0.0.1 18099
check "its lifecycle" bash -c "'$VPCD_BIN_DIR/vpcctl' --socket '$SOCK' instance stop box >/dev/null && '$VPCD_BIN_DIR/vpcctl' --socket '$SOCK' instance start box | grep -q RUNNING"
check "no command runs in a dry run" bash -c "! pgrep -f 'http.serve[r] --bind 127.0.0.1 18099' >/dev/null"
check "no hosts file is written in a dry run" test ! -e /etc/netns/vm-box
check "instance delete" vpcctl instance delete box
check "the fake kernel did the work" bash -c "'$VPCD_BIN_DIR/vpcctl' --socket '$SOCK' status -o json | grep -q '\"kernel_mutations\": [1-9]'"
# The policy examples: valid against the schema, and accepted by vpcd.
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
check "policy examples match the JSON Schema" /usr/bin/python3 -c '
import glob, json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
for f in sorted(glob.glob(sys.argv[2] + "/*.json")):
    jsonschema.validate(json.load(open(f)), schema, cls=jsonschema.Draft202012Validator)
' "$ROOT/policies/policy.schema.json" "$ROOT/policies/examples"
check "the schema rejects a bad port" /usr/bin/python3 -c '
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
doc = {"applies_to": ["prod/web"], "ingress": [{"priority": 1, "action": "allow", "ports": [True]}]}
sys.exit(0 if not jsonschema.Draft202012Validator(schema).is_valid(doc) else 1)
' "$ROOT/policies/policy.schema.json"
check "create VPC prod for the examples" vpcctl vpc create prod --cidr 10.10.0.0/16
check "create prod/web" vpcctl subnet create prod web --cidr 10.10.1.0/24 --public
check "create prod/db" vpcctl subnet create prod db --cidr 10.10.2.0/24
for example in "$ROOT"/policies/examples/*.json; do
  check "vpcd accepts $(basename "$example")" vpcctl policy apply -f "$example"
done
check "the plan is converged with the policies compiled" bash -c "'$VPCD_BIN_DIR/vpcctl' --socket '$SOCK' plan | grep -q converged"
stop
start
check "state survives a restart" bash -c "'$VPCD_BIN_DIR/vpcctl' --socket '$SOCK' subnet show dry web | grep -q 10.90.1.0/24"
check "no namespace directory was made" test ! -e "$WORK/netns"
check "no host namespace appeared" test "$netns_before" == "$(ls /run/netns 2>/dev/null | sort || true)"
stop
((FAILURES == 0)) || cat "$WORK/log"
finish
