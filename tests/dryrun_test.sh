#!/usr/bin/env bash
# `vpcd --dry-run`: the whole daemon against the in-memory kernel. Needs no
# root and must not touch the kernel: run as any user.
set -euo pipefail
: "${VPCD_BIN_DIR:?}"
source "$(dirname "$0")/../scripts/poll.sh"
WORK=$(mktemp -d /tmp/vpcd-dryrun.XXXXXX)
SOCK="$WORK/vpcd.sock"
PID=""
cleanup() {
  [[ -n "$PID" ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
FAILURES=0
check() {  # description command...
  local what=$1
  shift
  if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; FAILURES=$((FAILURES + 1)); fi
}
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
check "the fake kernel did the work" bash -c "'$VPCD_BIN_DIR/vpcctl' --socket '$SOCK' status -o json | grep -q '\"kernel_mutations\": [1-9]'"
stop
start
check "state survives a restart" bash -c "'$VPCD_BIN_DIR/vpcctl' --socket '$SOCK' subnet show dry web | grep -q 10.90.1.0/24"
check "no namespace directory was made" test ! -e "$WORK/netns"
check "no host namespace appeared" test "$netns_before" == "$(ls /run/netns 2>/dev/null | sort || true)"
stop
if [[ $FAILURES -ne 0 ]]; then
  cat "$WORK/log"
  exit 1
fi
echo "all checks passed"
