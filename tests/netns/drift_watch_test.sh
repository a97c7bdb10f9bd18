#!/usr/bin/env bash
# The drift watch keeps what a pass did not look at (issue 14): a change made
# by hand to one namespace while vpcd's pass over another one ends is still
# reported as drift, not dropped with the pass's own notifications; and a
# bridge port's own notifications are not drift.
source "$(dirname "$0")/lib.sh"

ip netns add vpc-one
ip netns add vpc-two
out=$("$VPCD_BIN_DIR/tests/drift_watch_probe" /run/netns vpc-one vpc-two) && rc=0 || rc=$?
assert_eq "0 vpc-two" "$rc $out" "a change outside the pass is reported after the pass ends"

# A bridge port's own flags (AF_BRIDGE link messages, none of which vpcd
# sets) are no drift: the kernel sends such a message for every port long
# after a build, and each once made a pass over the port's whole VPC.
ip -n vpc-one link add br0 type bridge
ip -n vpc-one link add p0 type veth peer name p1
ip -n vpc-one link set p0 master br0
out=$("$VPCD_BIN_DIR/tests/drift_watch_probe" /run/netns vpc-one vpc-two bridge) && rc=0 || rc=$?
assert_eq "0 vpc-two" "$rc $out" "a bridge port's flag change is not drift; a change beside it is"
ip netns del vpc-one
ip netns del vpc-two
finish
