#!/usr/bin/env bash
# Crash safety: vpcd is killed (SIGKILL) right after its Nth mutating kernel
# call while a VPC with three subnets is being built, for every N; each time a
# restart converges the kernel to the state files and traffic flows.
source "$(dirname "$0")/lib.sh"

start_server internet "$SERVER_ADDR" 80

build_lab() {  # stops at the first failure (the daemon died)
  vpcctl vpc create prod --cidr 10.10.0.0/16 >/dev/null 2>&1 &&
    vpcctl subnet create prod web --cidr 10.10.1.0/24 --public >/dev/null 2>&1 &&
    vpcctl subnet create prod app --cidr 10.10.2.0/24 --public >/dev/null 2>&1 &&
    vpcctl subnet create prod db --cidr 10.10.3.0/24 --private >/dev/null 2>&1
}

# How many mutating kernel calls a clean build takes: each is a crash point.
start_daemon
build_lab || fail "clean build failed"
ops=$(kernel_mutations)
vpcctl vpc delete prod >/dev/null
stop_daemon
[[ $ops -gt 10 ]] && pass "a clean build takes $ops mutating kernel calls" || fail "implausible call count $ops"

crashed=0
for n in $(seq 1 "$ops"); do
  rm -rf "$STATE"
  VPCD_FAULT_AFTER_OPS=$n start_daemon
  if build_lab; then
    # The build needed fewer than n calls (the uplink's forwarding sysctl is
    # only set by the very first build): nothing crashed. Clean up with a
    # daemon that has no fault armed.
    stop_daemon
    start_daemon
    vpcctl vpc delete prod >/dev/null || fail "n=$n: delete failed"
    stop_daemon
    continue
  fi
  wait "$DAEMON_PID" 2>/dev/null || true  # it killed itself
  DAEMON_PID=""
  crashed=$((crashed + 1))
  start_daemon  # no fault now: the start-up reconcile repairs
  build_lab || fail "n=$n: re-running the lab after restart failed"
  if ! vpcctl plan | grep -q converged; then fail "n=$n: not converged after restart"; vpcctl plan >&2; fi
  [[ "$(fetch vpc-prod.web "http://$SERVER_ADDR/")" == "$UPLINK_ADDR" ]] || fail "n=$n: web has no internet"
  [[ "$(fetch vpc-prod.app "http://$SERVER_ADDR/")" == "$UPLINK_ADDR" ]] || fail "n=$n: app has no internet"
  [[ -z "$(fetch vpc-prod.db "http://$SERVER_ADDR/")" ]] || fail "n=$n: db reached the internet"
  vpcctl vpc delete prod >/dev/null || fail "n=$n: delete failed"
  stop_daemon
done
[[ $crashed -gt 10 ]] && pass "crashed and recovered at $crashed injected steps" || fail "only $crashed crashes"
[[ $FAILURES -eq 0 ]] && pass "every crash point converged with traffic flowing"
assert_not_contains "$(ip netns list)" "vpc-" "nothing left after the last delete"
finish
