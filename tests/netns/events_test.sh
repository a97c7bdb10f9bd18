#!/usr/bin/env bash
# The event stream against the real kernel: `vpcctl events` following from
# before the first request sees, in order, the creates, a command that exits
# on its own, a drift repair after a hand-made change, and an instance
# stop; a replay with ?since= and a type filter; a bad filter refused.
source "$(dirname "$0")/lib.sh"

start_daemon
# From the start: events at or after this second are replayed, then followed.
vpcctl events --since "$(date +%s)" -o json >"$WORK/events.ndjson" 2>"$WORK/events.err" &
CHILD_PIDS+=($!)
has_event() { grep "\"action\":\"$2\"" "$WORK/events.ndjson" | grep -q "\"type\":\"$1\""; }

vpcctl vpc create prod --cidr 10.10.0.0/16 >/dev/null
vpcctl subnet create prod web --cidr 10.10.1.0/24 --public >/dev/null
vpcctl instance create job --nic prod/web -- sh -c 'echo working; exit 3' >/dev/null
wait_until 10 has_event instance command_exited || fail "no command_exited event for job"
vpcctl instance create api --nic prod/web -- sleep 600 >/dev/null
ip netns exec vpc-prod nft delete table inet vpcd
wait_until 10 has_event drift repaired || fail "no drift event after a hand-made change"
vpcctl instance stop api >/dev/null
wait_until 10 has_event instance status || fail "no status event for the stop"
wait_until 10 bash -c "grep -q '\"to\":\"STOPPED\"' '$WORK/events.ndjson'" || fail "no stopped event"

# The order a user saw them in, as "type action name [to]"; the commands'
# starts and the provisioning -> running steps left out.
seen=$(python3 - "$WORK/events.ndjson" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["action"] == "command_started" or e["details"].get("to") == "RUNNING":
        continue
    name = e["name"]
    if e["type"] == "drift":  # other namespaces' late events may share the repair
        name = "vpc-prod" if "vpc-prod" in name.split(", ") else name
    print(" ".join(x for x in (e["type"], e["action"], name, e["details"].get("to", "")) if x))
PY
)
expected="vpc create prod
subnet create prod/web
instance create job
instance command_exited job
instance create api
drift repaired vpc-prod
instance status api STOPPED"
assert_eq "$expected" "$seen" "creates, a command exit, a drift repair and a stop, in order"
assert_not_contains "$(grep command_exited "$WORK/events.ndjson")" '"name":"api"' \
  "a command the daemon stops is no exit event"

# Replay and filter, without following.
since=$(($(date +%s) - 600))
replayed=$(vpcctl events --since "$since" --type subnet --no-follow -o json)
assert_eq "1" "$(grep -c . <<<"$replayed")" "a replay filtered by type"
assert_contains "$replayed" '"name":"prod/web"' "the subnet's create, replayed"
assert_contains "$(vpcctl events --no-follow --since "$since" --type drift)" "  drift  repaired  " \
  "the table output"
assert_eq "400" "$(api GET '/v1/events?type=nope' | cut -d' ' -f1)" "an unknown type is a 400"
finish
