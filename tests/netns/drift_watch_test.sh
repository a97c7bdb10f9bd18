#!/usr/bin/env bash
# The drift watch keeps what a pass did not look at (issue 14): a change made
# by hand to one namespace while vpcd's pass over another one ends is still
# reported as drift, not dropped with the pass's own notifications.
source "$(dirname "$0")/lib.sh"

ip netns add vpc-one
ip netns add vpc-two
out=$("$VPCD_BIN_DIR/tests/drift_watch_probe" /run/netns vpc-one vpc-two) && rc=0 || rc=$?
assert_eq "0 vpc-two" "$rc $out" "a change outside the pass is reported after the pass ends"
ip netns del vpc-one
ip netns del vpc-two
finish
