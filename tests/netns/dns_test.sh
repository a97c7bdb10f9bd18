#!/usr/bin/env bash
# Instances and subnet hosts that behave like machines: a resolver per VPC
# (dnsmasq, supervised by vpcd in the router) that knows the VPC's names and
# forwards the rest to an upstream (a fake one in the fake internet), resolv.conf
# and hosts files for every namespace vpcd makes, and a hostname per instance.
source "$(dirname "$0")/lib.sh"

HOST_NAME=$(hostname)
prod_lab
resolver_pid() { cut -d' ' -f1 "$WORK/run/dns/prod.pid" 2>/dev/null; }
lookup() { ip netns exec "$1" getent hosts "$2" | awk '{print $1, $2}'; }
serial() { cat "$STATE/serial/$1.log" 2>/dev/null; }

# The most common first program: it looks up its own host at start, and
# once waited ~10 s for a resolver it could not reach.
start=$EPOCHREALTIME
api POST /v1/instances '{"name":"api","subnet":"prod/web","command":["python3","-m","http.server","8080"]}' >/dev/null
if wait_until 2 tcp_connect vm-api 10.10.1.3 8080; then
  pass "python3 -m http.server listens $(python3 -c "print(round(($EPOCHREALTIME - $start) * 1000))") ms after its create"
else
  fail "python3 -m http.server did not listen within 2 s"
fi

# Names, from a subnet host through `ip netns exec` (its resolv.conf), in
# the public and the private subnet. The resolver learns them just after the
# create has answered (docs/instances.md): the first lookup may wait for it.
knows_api() { [[ "$(lookup vpc-prod.web api)" == "10.10.1.3 api.prod.internal" ]]; }
wait_until 3 knows_api || true
for ns in vpc-prod.web vpc-prod.db; do
  assert_eq "10.10.1.3 api.prod.internal" "$(lookup $ns api)" "$ns: api resolves (short name, search domain)"
  assert_eq "10.10.1.3 api.prod.internal" "$(lookup $ns api.prod.internal)" "$ns: api.prod.internal resolves"
  assert_eq "10.10.2.2 db.prod.internal" "$(lookup $ns db.prod.internal)" "$ns: a subnet host resolves"
  assert_eq "10.10.1.3 api.prod.internal" "$(lookup $ns 10.10.1.3)" "$ns: reverse lookup (PTR)"
  assert_eq "198.51.100.1 example.test" "$(lookup $ns example.test)" "$ns: an outside name through the upstream"
done
assert_eq "" "$(lookup vpc-prod.db nosuch.invalid)" "an unknown name is not found"
before=$(internet_packets)
assert_eq "" "$(fetch vpc-prod.db "http://$SERVER_ADDR/")" "the private subnet still reaches no internet address"
assert_eq "$before" "$(internet_packets)" "not one packet of it arrived"

# Inside an instance's command: its hostname, its own name, the others'.
api POST /v1/instances '{"name":"worker","subnet":"prod/db","command":["bash","-c","hostname; hostname -f; getent hosts api; echo done"]}' >/dev/null
wait_until 5 grep -q '^done' "$STATE/serial/worker.log" || true
out=$(serial worker)
assert_contains "$out" $'\nworker\n' "the command's hostname is the instance's name"
assert_contains "$out" "worker.prod.internal" "hostname -f answers the qualified name"
assert_contains "$out" "10.10.1.3       api.prod.internal" "another instance resolves inside a command"
assert_eq "$HOST_NAME" "$(hostname)" "the host's own hostname is untouched"
assert_contains "$(cat /etc/netns/vm-worker/resolv.conf)" "nameserver 10.10.2.1" "resolv.conf names the gateway"

# The resolver listens only inside the VPC: on the bridge's gateways (and the
# router's loopback), not on its uplink.
listening=$(ip netns exec vpc-prod ss -Hlun 'sport = :53' | awk '{print $4}' | sort | tr '\n' ' ')
assert_contains "$listening" "10.10.1.1:53" "listens on the web gateway"
assert_contains "$listening" "10.10.2.1:53" "listens on the db gateway"
assert_not_contains "$listening" "169.254." "not on the transit link"
assert_not_contains "$listening" "0.0.0.0:53" "not on every address"

# Killed by hand: back, and answering.
running_for_2s() { wait_until 3 test "$(($(date +%s) - $(stat -c %Y "$WORK/run/dns/prod.pid")))" -ge 2; }
running_for_2s || true
old=$(resolver_pid)
kill -9 "$old"
if wait_until 2 bash -c "[[ -n \$(cut -d' ' -f1 '$WORK/run/dns/prod.pid') && \$(cut -d' ' -f1 '$WORK/run/dns/prod.pid') != $old ]]"; then
  pass "the resolver killed by hand is started again ($old -> $(resolver_pid))"
else
  fail "the resolver was not started again"
fi
wait_until 3 bash -c "ip netns exec vpc-prod.db getent hosts api >/dev/null" && pass "and answers" || fail "no answer after the restart"

# The router deleted by hand: rebuilt as drift, and its resolver with it
# (the old process would serve the old namespace).
# (Until then the old process keeps the unnamed namespace, and its links, alive.)
old=$(resolver_pid)
ip netns del vpc-prod
wait_until 10 bash -c "[[ ! -e /proc/$old ]]" && pass "the old resolver ended" || fail "resolver $old still runs"
if wait_until 10 bash -c "[[ \$(cut -d' ' -f1 '$WORK/run/dns/prod.pid') != $old ]] && ip netns exec vpc-prod.db getent hosts api >/dev/null"; then
  pass "names resolve again in the rebuilt router ($old -> $(resolver_pid))"
else
  fail "no resolver in the rebuilt router"
fi

# Names follow the instances: a new one resolves, a deleted one does not.
api POST /v1/instances '{"name":"late","subnet":"prod/db"}' >/dev/null
wait_until 3 bash -c "ip netns exec vpc-prod.web getent hosts late >/dev/null" && pass "a new instance resolves" ||
  fail "the new instance late does not resolve"
api DELETE /v1/instances/late >/dev/null
wait_until 3 bash -c "! ip netns exec vpc-prod.web getent hosts late >/dev/null" && pass "a deleted one no longer does" ||
  fail "late still resolves after its delete"
assert_eq "" "$(ls /etc/netns | grep -w vm-late || true)" "its /etc/netns files went with it"

# The files are vpcd's: removed or edited by hand, written back.
good_resolv=$(cat /etc/netns/vm-api/resolv.conf)
good_hosts=$(cat /etc/netns/vpc-prod.web/hosts)
rm /etc/netns/vm-api/resolv.conf
wait_until 2 test -f /etc/netns/vm-api/resolv.conf && pass "a resolv.conf removed by hand is written again" ||
  fail "vm-api/resolv.conf not repaired"
assert_eq "$good_resolv" "$(cat /etc/netns/vm-api/resolv.conf 2>/dev/null)" "with its content"
echo "10.99.99.99 intruder" >>/etc/netns/vpc-prod.web/hosts
hosts_back() { [[ "$(cat /etc/netns/vpc-prod.web/hosts)" == "$good_hosts" ]]; }
wait_until 2 hosts_back && pass "a hosts file edited by hand is restored" || fail "vpc-prod.web/hosts not restored"
rm -rf /etc/netns/vpc-prod.db
wait_until 2 test -f /etc/netns/vpc-prod.db/resolv.conf && pass "a namespace's directory removed by hand comes back" ||
  fail "vpc-prod.db's files not repaired"
assert_eq "10.10.1.3 api.prod.internal" "$(lookup vpc-prod.db api)" "and names resolve there again"
assert_contains "$(cat "$WORK/vpcd.log")" "drift repair: /etc/netns/vm-api/resolv.conf was changed or removed by hand" "the repair is logged"
# Again after the repair: the rewritten directory is watched too.
rm /etc/netns/vpc-prod.db/hosts
wait_until 2 test -f /etc/netns/vpc-prod.db/hosts && pass "and repaired again" || fail "the second removal was not repaired"

# The user's own namespaces are not touched.
ip netns add mine
assert_eq "" "$(ls /etc/netns | grep -w mine || true)" "no files for a namespace that is not vpcd's"
ip netns del mine

# A restart adopts the running resolver; deleting the VPC ends it.
pid=$(resolver_pid)
stop_daemon
start_daemon
assert_eq "$pid" "$(resolver_pid)" "the restarted daemon adopted the resolver"
assert_eq "10.10.1.3 api.prod.internal" "$(lookup vpc-prod.db api)" "still answering"
api DELETE /v1/instances/api >/dev/null
api DELETE /v1/instances/worker >/dev/null
vpcctl vpc create other --cidr 10.30.0.0/16 >/dev/null
vpcctl subnet delete prod web >/dev/null
vpcctl subnet delete prod db >/dev/null
vpcctl vpc delete prod >/dev/null
wait_until 3 bash -c "[[ ! -e /proc/$pid ]]" && pass "deleting the VPC ended its resolver" || fail "resolver $pid outlived its VPC"
assert_eq "" "$(ls "$WORK/run/dns" | grep '^prod\.' | grep -v log || true)" "its files are gone"
assert_eq "" "$(ls /etc/netns)" "no namespace files are left"

finish
