#!/usr/bin/env bash
# The API's HTTP limits (docs/security.md) against a dry-run daemon: no root.
source "$(dirname "$0")/checks.sh" http
SOCK="$WORK/vpcd.sock"
"$VPCD_BIN_DIR/vpcd" --dry-run --socket "$SOCK" --state-dir "$WORK/state" --netns-dir "$WORK/netns" \
  --api-timeout 1 --api-max-connections 4 >>"$WORK/log" 2>&1 &
PID=$!
wait_until 10 "$VPCD_BIN_DIR/vpcctl" --socket "$SOCK" health || { cat "$WORK/log"; exit 1; }
check "every limit answers with a JSON error" /usr/bin/python3 "$(dirname "$0")/http_limits_test.py" "$SOCK"
check "the daemon is still up" "$VPCD_BIN_DIR/vpcctl" --socket "$SOCK" health
finish
