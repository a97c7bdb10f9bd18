#!/usr/bin/env bash
# vpcd as a system service (issue 7), in the sandbox: the config file under
# the flags, sd_notify (READY=1 only once the API answers, STATUS=, WATCHDOG=1,
# STOPPING=1), socket activation with a passed descriptor, and a SIGTERM that
# leaves traffic flowing for the restarted daemon to adopt.
source "$(dirname "$0")/lib.sh"
HERE="$(cd "$(dirname "$0")" && pwd)"

echo "== config file, flags on top"
cat >"$WORK/vpcd.json" <<JSON
{"socket": "$WORK/from-file.sock", "state_dir": "$STATE", "log_level": "notice"}
JSON
"$VPCD" --config "$WORK/vpcd.json" --socket "$SOCK" >>"$WORK/vpcd.log" 2>&1 &
DAEMON_PID=$!
wait_until 10 vpcctl health || fail "vpcd with a config file did not come up"
vpcctl vpc create prod --cidr 10.10.0.0/16 >/dev/null
vpcctl subnet create prod web --cidr 10.10.1.0/24 --public >/dev/null
[[ -e $SOCK && ! -e $WORK/from-file.sock ]] && pass "--socket overrides the file's socket" || fail "socket"
[[ -f $STATE/vpcs/prod.json ]] && pass "state_dir from the file" || fail "state_dir"
assert_not_contains "$(cat "$WORK/vpcd.log")" "<6>" "log_level notice drops info lines"
stop_daemon
echo '{"state_dir": 7}' >"$WORK/bad.json"
out=$("$VPCD" --config "$WORK/bad.json" --socket "$SOCK" 2>&1 || true)
assert_eq '<3>vpcd: config '"$WORK"'/bad.json: "state_dir" must be a string' "$out" "a bad config names the key"

echo "== sd_notify"
python3 "$HERE/notify_listener.py" "$WORK/notify.sock" "$SOCK" "$WORK/notify.log" &
LISTENER=$!
CHILD_PIDS+=("$LISTENER")
wait_until 5 test -S "$WORK/notify.sock"
NOTIFY_SOCKET="$WORK/notify.sock" WATCHDOG_USEC=100000 start_daemon
wait_until 5 grep -q "health after READY" "$WORK/notify.log"
notes=$(cat "$WORK/notify.log")
assert_contains "$notes" "STATUS=reconciling 1 VPCs" "STATUS while reconciling"
assert_contains "$notes" "STATUS=ready: 1 VPCs, 1 subnets, 0 instances" "STATUS when ready"
assert_contains "$notes" "health after READY: HTTP/1.1 200 OK" "the API answers as soon as READY=1 arrives"
[[ $(grep -n 'STATUS=reconciling' "$WORK/notify.log" | cut -d: -f1) -lt $(grep -n '^READY=1' "$WORK/notify.log" | cut -d: -f1) ]] &&
  pass "READY=1 after the reconcile" || fail "READY=1 came before the reconcile"
wait_until 5 bash -c "(( \$(grep -c '^WATCHDOG=1' '$WORK/notify.log') >= 3 ))" &&
  pass "WATCHDOG=1 every half WATCHDOG_USEC" || fail "no watchdog pings"

echo "== SIGTERM leaves the network up"
start_server internet "$SERVER_ADDR" 80
assert_eq "$UPLINK_ADDR" "$(fetch vpc-prod.web "http://$SERVER_ADDR/")" "traffic before the stop"
stop_daemon
wait "$LISTENER" && pass "STOPPING=1 on SIGTERM (the listener ended on it)" || fail "no STOPPING=1"
assert_contains "$(cat "$WORK/notify.log")" "STOPPING=1" "STOPPING=1 recorded"
assert_eq "$UPLINK_ADDR" "$(fetch vpc-prod.web "http://$SERVER_ADDR/")" "traffic while vpcd is down"
start_daemon
assert_eq 0 "$(kernel_mutations)" "the restarted daemon changes nothing"
stop_daemon

echo "== socket activation"
systemd-socket-activate -l "$WORK/activated.sock" \
  "$VPCD" --socket "$WORK/unused.sock" --state-dir "$STATE" >>"$WORK/vpcd.log" 2>&1 &
DAEMON_PID=$!  # systemd-socket-activate execs vpcd in its place: same pid
wait_until 5 test -S "$WORK/activated.sock"
out=$(curl -s --unix-socket "$WORK/activated.sock" http://vpcd/v1/vpcs)
assert_contains "$out" '"name":"prod"' "served on the passed descriptor"
[[ ! -e $WORK/unused.sock ]] && pass "no socket of its own when one is passed" || fail "made its own socket"
stop_daemon
[[ -S $WORK/activated.sock ]] && pass "the passed socket's file stays (systemd owns it)" || fail "socket file removed"

echo "== in a mount namespace of its own, as under the hardened unit"
# systemd gives the unit a mount namespace that is a slave of the host's:
# mounts made inside never reach the host. With --mount-ns naming the host's
# namespace, the names vpcd mounts are the host's, and come back inside.
mount --make-shared /run/netns
unshare --mount --propagation slave -- "$VPCD" --socket "$SOCK" --state-dir "$WORK/state2" \
  --mount-ns "/proc/$$/ns/mnt" >>"$WORK/vpcd.log" 2>&1 &
DAEMON_PID=$!
wait_until 10 vpcctl health || fail "vpcd in its own mount namespace did not come up"
vpcctl vpc create lab --cidr 10.30.0.0/16 >/dev/null
vpcctl subnet create lab app --cidr 10.30.1.0/24 --public >/dev/null
assert_eq "$UPLINK_ADDR" "$(fetch vpc-lab.app "http://$SERVER_ADDR/")" \
  "ip netns exec outside vpcd's mount namespace enters the subnet, and traffic flows"
vpcctl vpc delete lab >/dev/null 2>&1 || { vpcctl subnet delete lab app >/dev/null; vpcctl vpc delete lab >/dev/null; }
assert_eq "" "$(ip netns list | grep lab || true)" "deletes unmount the names outside too"
stop_daemon

finish
