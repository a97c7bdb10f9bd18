#!/usr/bin/env bash
# The lab row of bench/run: a lab of 4 VPCs x 50 subnets (half public) and 20
# instances applied from an empty host with one `vpcctl lab apply`, applied
# again (kernel calls counted), and destroyed; against (b) ip -batch + nft -f
# building the same namespaces, links, addresses, routes and tables, and
# against deleting those namespaces by hand. Also the daemon's RSS holding
# the lab. Usage: bench/lab.sh RUNS
source "$(dirname "$0")/lib.sh"
RUNS=${1:-5}
V=4 S=50 I=20
rss() { awk '/^VmRSS/ {print $2 / 1024}' "/proc/$DAEMON_PID/status"; }

python3 - "$V" "$S" "$I" >"$WORK/lab.json" <<'PY'
import json, sys
V, S, I = map(int, sys.argv[1:])
vpcs = [{"name": "v%d" % v, "cidr": "10.%d.0.0/16" % v,
         "subnets": [{"name": "s%d" % i, "cidr": "10.%d.%d.0/24" % (v, i),
                      "type": "public" if i % 2 == 0 else "private"} for i in range(1, S + 1)]}
        for v in range(1, V + 1)]
per = I // V
instances = [{"name": "i%d-%d" % (v, k), "nics": [{"subnet": "v%d/s%d" % (v, k)}]}
             for v in range(1, V + 1) for k in range(1, per + 1)]
print(json.dumps({"name": "bench", "vpcs": vpcs, "instances": instances}))
PY

mkdir -p "$WORK/batch"
bash "$BENCH/baselines/lab_batch.sh" "$WORK/batch" "$V" "$S" "$I"
for _ in $(seq "$RUNS"); do
  # Each build follows the other's teardown: the kernel's deferred
  # namespace clean-up weighs on both alike.
  record "(b) ip -batch + nft -f: the lab's objects (ms)" "$(timed bash "$WORK/batch/lab_batch.run")"
  start=$(now)
  for ns in $(ip netns list | cut -d' ' -f1 | grep '^bl-'); do ip netns del "$ns"; done
  ip link del t-bl1 2>/dev/null || true  # gone with its peer's namespace
  record "namespace deletion of the same (ms)" "$(ms_since "$start")"
  rm -rf "$STATE"
  start_daemon
  apply=$(timed vpcctl lab apply -f "$WORK/lab.json")
  record "vpcd lab apply, ${V}x$S subnets + $I instances (ms)" "$apply"
  record "vpcd lab apply per subnet (ms)" "$(python3 -c "print($apply / ($V * $S))")"
  before=$(kernel_mutations)
  record "vpcd lab re-apply (ms)" "$(timed vpcctl lab apply -f "$WORK/lab.json")"
  record "vpcd lab re-apply: kernel calls" "$(($(kernel_mutations) - before))"
  record "daemon RSS holding the lab (MiB)" "$(rss)"
  record "vpcd lab destroy (ms)" "$(timed vpcctl lab destroy bench)"
  stop_daemon
done
ratio "(b) build / vpcd lab apply" "(b) ip -batch + nft -f: the lab's objects (ms)" \
  "vpcd lab apply, ${V}x$S subnets + $I instances (ms)" "≥ 1.43 (apply ≤ 0.7× of (b))"
ratio "namespace deletion / vpcd lab destroy" "namespace deletion of the same (ms)" \
  "vpcd lab destroy (ms)" "≥ 0.91 (destroy ≤ 1.1×)"
