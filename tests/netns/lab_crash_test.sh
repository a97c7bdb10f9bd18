#!/usr/bin/env bash
# A crash in the middle of a lab's apply: vpcd is killed (SIGKILL) right
# after its Nth mutating kernel call while labs/shop.yaml is applied, at
# crash points spread over the whole apply. The lab's state was written
# before the kernel was touched (one journaled commit), so each restart
# converges to the whole lab: the plan is empty, re-applying changes nothing,
# every expectation holds with real traffic, and destroy leaves nothing.
source "$(dirname "$0")/lib.sh"
HERE="$(cd "$(dirname "$0")" && pwd)"
LAB="$HERE/../../labs/shop.yaml"
POINTS=${LAB_CRASH_POINTS:-10}

start_server internet "$SERVER_ADDR" 80

start_daemon
vpcctl lab apply -f "$LAB" >/dev/null || fail "clean apply failed"
ops=$(kernel_mutations)
vpcctl lab destroy shop >/dev/null
stop_daemon
if [[ $ops -gt 40 ]]; then pass "a clean apply takes $ops mutating kernel calls"; else
  fail "implausible call count $ops"; fi

for k in $(seq 1 "$POINTS"); do
  n=$((ops * k / (POINTS + 1)))
  rm -rf "$STATE"
  VPCD_FAULT_AFTER_OPS=$n start_daemon
  if vpcctl lab apply -f "$LAB" >/dev/null 2>&1; then
    fail "n=$n: the apply finished; no crash was injected"
    stop_daemon
    continue
  fi
  wait "$DAEMON_PID" 2>/dev/null || true  # it killed itself
  DAEMON_PID=""
  start_daemon  # no fault now: the start-up reconcile repairs
  vpcctl plan | grep -q converged || fail "n=$n: not converged after restart"
  assert_contains "$(vpcctl lab apply -f "$LAB")" "no changes" "n=$n: the whole lab was there after the restart"
  wait_until 10 tcp_connect vm-pg 10.10.2.20 5432 || fail "n=$n: pg's command did not come back"
  /usr/bin/python3 "$HERE/lab_expect.py" "$LAB" "$SOCK" >/dev/null || fail "n=$n: an expectation fails"
  vpcctl lab destroy shop >/dev/null || fail "n=$n: destroy failed"
  assert_eq "internet" "$(ip netns list | cut -d' ' -f1 | xargs)" "n=$n: destroy left nothing"
  stop_daemon
done
finish
