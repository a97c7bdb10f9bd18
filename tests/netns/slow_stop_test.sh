#!/usr/bin/env bash
# A command that ignores SIGTERM holds only the request that stops it: while
# its stop waits out the grace (5 s, then SIGKILL), other clients' requests
# are answered and a hand-made change to the kernel is repaired. A start
# during a stop's grace waits for the old command; a delete answers once the
# command and every link of the instance are gone.
source "$(dirname "$0")/lib.sh"

prod_lab
field() { json_field "$1" <"$WORK/body"; }
status_of() { api GET "/v1/instances/$1" >/dev/null && field 'd["status"]'; }
pid_of() { api GET "/v1/instances/$1" >/dev/null && field 'd.get("command_pid") or ""'; }
gone() { [[ ! -e /proc/$1 ]] || [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) == Z ]]; }
has_router_table() { ip netns exec vpc-prod nft list table inet vpcd >/dev/null 2>&1; }
# A stop (or delete) in the background: its answer lands in a file once sent.
in_background() {  # NAME METHOD PATH
  rm -f "$WORK/$1.out" "$WORK/$1.done"
  (curl -s --unix-socket "$SOCK" -X "$2" "http://vpcd$3" >"$WORK/$1.out"; touch "$WORK/$1.done") &
  CHILD_PIDS+=($!)
}
answered() { [[ -e "$WORK/$1.done" ]]; }
stopping() { [[ $(status_of "$1") == STOPPING ]]; }

# The whole process group ignores SIGTERM (SIG_IGN is inherited by exec).
STUBBORN='["sh","-c","trap \"\" TERM; echo up; while :; do sleep 0.1; done"]'
out=$(api POST /v1/instances '{"name":"stubborn","nics":[{"subnet":"prod/web"}],"command":'"$STUBBORN"'}')
assert_eq 201 "${out%% *}" "create stubborn"
pid1=$(pid_of stubborn)
[[ -n $pid1 ]] || fail "stubborn's command has no pid"

echo "== stop: the grace runs out on the loop, not in front of other clients"
in_background stop POST /v1/instances/stubborn/stop
wait_until 5 stopping stubborn ||
  fail "stubborn is not shown STOPPING during its grace"
out=$(api POST /v1/vpcs/prod/subnets '{"name":"during","cidr":"10.10.7.0/24"}')
assert_eq 201 "${out%% *}" "another client's create is answered during the stop"
if answered stop; then fail "the stop answered before its command ended"; else pass "the stop is still waiting"; fi
ip netns exec vpc-prod nft delete table inet vpcd
wait_until 4 has_router_table && pass "a hand-made change is repaired during the stop" ||
  fail "the drift repair waited for the stop"
if answered stop; then fail "the stop answered before the repair"; else pass "the stop is still waiting"; fi
wait_until 15 answered stop || fail "the stop never answered"
assert_eq "STOPPED exited" "$(json_field 'd["status"] + " " + d["command_state"]' <"$WORK/stop.out")" \
  "the stop's answer, once the command is gone"
gone "$pid1" && pass "SIGKILL ended the command after the grace" || fail "the command survived its stop"

echo "== a start during a stop's grace starts the new command after the old one ended"
api POST /v1/instances/stubborn/start >/dev/null
pid2=$(pid_of stubborn)
[[ -n $pid2 && $pid2 != "$pid1" ]] || fail "start: no new command ($pid1 -> $pid2)"
in_background stop2 POST /v1/instances/stubborn/stop
wait_until 5 stopping stubborn ||
  fail "not STOPPING"
out=$(api POST /v1/instances/stubborn/start)
assert_eq "200 RUNNING" "${out%% *} $(field 'd["status"]')" "start answered"
gone "$pid2" && pass "the old command had ended when the start answered" ||
  fail "two commands at once: $pid2 still running"
pid3=$(field 'd.get("command_pid") or ""')
[[ -n $pid3 && $pid3 != "$pid2" ]] && pass "a new command ($pid3)" || fail "no new command after the start"
wait_until 15 answered stop2 || fail "the second stop never answered"

echo "== delete: answered once the command and the instance's links are gone"
in_background delete DELETE /v1/instances/stubborn
out=$(api GET /v1/vpcs/prod)
assert_eq 200 "${out%% *}" "a read is answered during the delete's grace"
wait_until 15 answered delete || fail "the delete never answered"
gone "$pid3" && pass "the command ended" || fail "the command survived the delete"
assert_not_contains "$(ip -n vpc-prod -o link show)" "stubborn" "no link of the instance is left in the router"
assert_not_contains "$(ip netns list)" "vm-stubborn" "its namespace is gone"
out=$(api GET /v1/instances/stubborn)
assert_eq 404 "${out%% *}" "the instance is gone"
finish
