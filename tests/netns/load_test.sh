#!/usr/bin/env bash
# 64 concurrent clients creating and deleting subnets (adjacent CIDRs),
# instances and policies in 4 VPCs: no 5xx, no lost update (the final state
# is what the acknowledged requests add up to, in the API and in the
# kernel), the plan empty afterwards, and file descriptors and memory back to
# where they were. LOAD_SECONDS (default 60) sets the length.
source "$(dirname "$0")/lib.sh"

start_daemon
for i in 0 1 2 3; do vpcctl vpc create "c$i" --cidr "10.$((i * 16)).0.0/12" >/dev/null; done
fds() { ls "/proc/$DAEMON_PID/fd" | wc -l; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$DAEMON_PID/status"; }
load() {  # SECONDS -> the clients' report
  python3 "$(dirname "$0")/load_clients.py" "$SOCK" 64 "$1" 4 --instances --policies
}

# Everything the clients left, deleted: what the daemon holds then is what
# it holds for good, whichever objects a round happened to leave (each live
# subnet keeps a namespace handle and two sockets).
empty_vpcs() {
  local i name
  for name in $(vpcctl instance list -o json | json_field '" ".join(i["name"] for i in d["items"])'); do
    vpcctl instance delete "$name" >/dev/null
  done
  for name in $(vpcctl policy list -o json | json_field '" ".join(p["name"] for p in d["items"])'); do
    vpcctl policy delete "$name" >/dev/null
  done
  for i in 0 1 2 3; do
    for name in $(vpcctl subnet list "c$i" -o json | json_field '" ".join(s["name"] for s in d["items"])'); do
      vpcctl subnet delete "c$i" "$name" >/dev/null
    done
  done
}

# A short round first, so that the baseline includes what the daemon keeps
# for good (caches, the allocator's arenas).
load 5 >"$WORK/warmup.json"
empty_vpcs
FDS=$(fds) RSS=$(rss_kb)
load "${LOAD_SECONDS:-60}" >"$WORK/load.json"
report() { json_field "$1" <"$WORK/load.json"; }

echo "load: $(report 'd["requests"]') requests, codes $(report 'd["codes"]'), latency ms $(report 'd["latency_ms"]')"
assert_eq 0 "$(report 'sum(n for c, n in d["codes"].items() if c.startswith("5"))')" \
  "no 5xx answer under load $(report 'd["server_errors"][:3]')"
[[ $(report 'd["requests"]') -gt 500 ]] && pass "the clients were served throughout" ||
  fail "only $(report 'd["requests"]') requests answered"

# No lost update: the API and the kernel hold exactly what was acknowledged.
subnets=$(for i in 0 1 2 3; do vpcctl subnet list "c$i" -o json | json_field "' '.join('c$i/' + s['name'] for s in d['items'])"; done | tr ' ' '\n' | grep . | sort | tr '\n' ' ')
assert_eq "$(report '" ".join(d["expected"]["subnets"]) + " "')" "$subnets" "the subnets are those the acknowledged requests leave"
assert_eq "$(report '" ".join(d["expected"]["instances"])')" \
  "$(vpcctl instance list -o json | json_field '" ".join(sorted(i["name"] for i in d["items"]))')" "the instances likewise"
assert_eq "$(report '" ".join(d["expected"]["policies"])')" \
  "$(vpcctl policy list -o json | json_field '" ".join(sorted(p["name"] for p in d["items"]))')" "the policies likewise"
expected_ns=$(report '" ".join(sorted(["vpc-c%d" % i for i in range(4)] + ["vpc-" + s.replace("/", ".") for s in d["expected"]["subnets"]] + ["i-" + i for i in d["expected"]["instances"]]))')
actual_ns=$(ip netns list | awk '$1 != "internet" {print $1}' | sort | tr '\n' ' ' | sed 's/ $//')
assert_eq "$expected_ns" "$actual_ns" "the kernel holds exactly those namespaces"
[[ $(vpcctl plan -o json | json_field 'd["converged"]') == True ]] && pass "plan is empty" ||
  fail "plan after the load: $(vpcctl plan | head -5)"

# Nothing leaks: with the VPCs emptied again, descriptors as before (a few
# either way: sockets of the namespaces last touched), memory within 20 %
# (allocator slack); a leak per request would be hundreds here.
empty_vpcs
fds_now=$(fds)
((fds_now <= FDS + 8)) && pass "file descriptors $FDS -> $fds_now" ||
  fail "file descriptors grew: $FDS -> $fds_now over $(report 'd["requests"]') requests: $(
    for f in /proc/"$DAEMON_PID"/fd/*; do readlink "$f"; done | sed 's/[0-9]\+/N/g' | sort | uniq -c | tr '\n' ' ')"
rss=$(rss_kb)
((rss <= RSS * 12 / 10 + 4096)) && pass "RSS ${RSS} kB -> ${rss} kB" || fail "RSS grew: ${RSS} kB -> ${rss} kB"

finish
