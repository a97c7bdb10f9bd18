#!/usr/bin/env bash
# Labs with real traffic: apply from empty, re-apply without a kernel call,
# an edit that adds, changes and removes (the untouched instance keeps its
# process), a refused document that changes nothing, names owned by someone
# else, export -> apply as a no-op, destroy leaving nothing, and every
# example in labs/ applied, checked against its `expect:` and destroyed.
source "$(dirname "$0")/lib.sh"
HERE="$(cd "$(dirname "$0")" && pwd)"
LABS="$(cd "$HERE/../../labs" && pwd)"

start_server internet "$SERVER_ADDR" 80
start_daemon

# wait_listening LABFILE: every instance command `python3 -m http.server P`
# of the lab answers on its first NIC.
wait_listening() {
  local ns ip port
  while read -r ns ip port; do
    wait_until 10 tcp_connect "$ns" "$ip" "$port" || fail "$ns: nothing listens on $ip:$port"
  done < <(/usr/bin/python3 - "$1" "$SOCK" <<'PY'
import json, subprocess, sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
for i in doc.get("instances", []):
    cmd = i.get("command", [])
    if cmd[1:3] != ["-m", "http.server"]:
        continue
    shown = json.loads(subprocess.run(["curl", "-sf", "--unix-socket", sys.argv[2],
                                       "http://vpcd/v1/instances/" + i["name"]],
                                      capture_output=True, text=True, check=True).stdout)
    print("vm-%s %s %s" % (i["name"], shown["nics"][0]["ip"], cmd[3]))
PY
)
}
expect_ok() {  # LABFILE
  if /usr/bin/python3 "$HERE/lab_expect.py" "$1" "$SOCK"; then
    pass "$(basename "$1"): every expectation holds with real traffic"
  else
    fail "$(basename "$1"): an expectation does not hold"
  fi
}
snapshot() {  # what a refused apply must leave as it was
  ip netns list | sort
  find "$STATE" -type f ! -name vpcd.lock ! -name "audit.log*" -print0 | sort -z | xargs -0 md5sum
  ip netns exec vpc-prod nft list ruleset 2>/dev/null
}
field() { vpcctl instance show "$1" -o json | json_field "d['$2']"; }

# --- apply from empty ---
out=$(vpcctl lab apply -f "$LABS/shop.yaml")
assert_contains "$out" "+ vpc prod" "apply lists what it creates"
assert_contains "$out" "+ instance pg" "... the instances too"
assert_contains "$out" "+ port_forward shop-web" "... and the port forward"
for ns in vpc-prod vpc-prod.web vpc-prod.db vpc-shared vpc-shared.tools vm-api vm-pg; do
  assert_contains "$(ip netns list)" "$ns" "namespace $ns exists"
done
assert_eq "shop" "$(vpcctl vpc show prod -o json | json_field 'd["lab"]')" "vpc prod records its lab"
wait_listening "$LABS/shop.yaml"
assert_contains "$(fetch vpc-prod.web http://10.10.1.3:8080/)" "Directory listing" \
  "web reaches api's server across the router"
assert_contains "$(fetch internet "http://$UPLINK_ADDR:8080/")" "Directory listing" \
  "the internet reaches api through the lab's port forward"
expect_ok "$LABS/shop.yaml"

# --- re-apply: nothing to do, no kernel call ---
before=$(kernel_mutations)
assert_contains "$(vpcctl lab apply -f "$LABS/shop.yaml")" "no changes" "re-apply: no changes"
assert_eq "$before" "$(kernel_mutations)" "re-apply makes no kernel call"

# --- an edit: adds, changes, removes ---
pg_pid=$(field pg command_pid)
api_pid=$(field api command_pid)
/usr/bin/python3 - "$LABS/shop.yaml" "$WORK/shop2.yaml" <<'PY'
import sys, yaml
d = yaml.safe_load(open(sys.argv[1]))
d["vpcs"][0]["subnets"].append({"name": "cache", "cidr": "10.10.3.0/24"})
d["instances"].append({"name": "cache", "nics": [{"subnet": "prod/cache", "ip": "10.10.3.10"}]})
d["policies"][0]["ingress"][0]["ports"] = ["5432", "6432"]
d["instances"][0]["command"] = ["python3", "-m", "http.server", "8081"]
d["port_forwards"][0]["target_port"] = 8081
del d["peerings"]
yaml.safe_dump(d, open(sys.argv[2], "w"))
PY
out=$(vpcctl lab apply -f "$WORK/shop2.yaml")
assert_contains "$out" "+ subnet prod/cache" "the edit adds a subnet"
assert_contains "$out" "+ instance cache" "... and an instance"
assert_contains "$out" "~ policy db-in" "... changes a policy"
assert_contains "$out" "~ instance api" "... changes an instance's command"
assert_contains "$out" "- peering prod-shared" "... removes a peering"
assert_contains "$out" "-/+ port_forward shop-web" "... replaces a forward whose port changed"
assert_not_contains "$out" "pg" "the untouched instance is not in the plan"
assert_eq "$pg_pid" "$(field pg command_pid)" "pg keeps its process"
kill -0 "$pg_pid" 2>/dev/null || fail "pg's process is gone"
kill -0 "$api_pid" 2>/dev/null && fail "api's old command still runs"
wait_until 10 tcp_connect vm-api 10.10.1.3 8081 || fail "api's new command does not listen"
assert_contains "$(fetch internet "http://$UPLINK_ADDR:8080/")" "Directory listing" \
  "the host's 8080 now leads to api's 8081"
if ip -n vpc-prod link show p-shared >/dev/null 2>&1; then fail "peering link still there"; else
  pass "the peering link is gone"; fi
assert_contains "$(ip netns list)" "vm-cache" "the new instance's namespace exists"
if [[ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]]; then
  assert_eq 0 "$(ip netns exec vpc-prod cat /proc/sys/net/bridge/bridge-nf-call-iptables)" \
    "br_netfilter: bridged frames kept out of the router's IP hooks"
fi
cat >"$WORK/expect2.yaml" <<'EOF2'
expect:
  - {from: prod/web, to: pg, port: 6432, reach: true}
  - {from: prod/web, to: pg, port: 7000, reach: false}
  - {from: cache, to: pg, port: 5432, reach: false}
  - {from: shared/tools, to: prod/web, port: 80, reach: false}
  # inside one subnet frames are bridged, never routed: no policy applies
  - {from: prod/db, to: pg, port: 5432, reach: true}
EOF2
expect_ok "$WORK/expect2.yaml"

# --- a refused document changes nothing ---
sed 's|{name: db, cidr: 10.10.2.0/24, type: private}|{name: db, cidr: 10.10.1.128/25, type: private}|' \
  "$LABS/shop.yaml" >"$WORK/bad.yaml"
grep -q "10.10.1.128/25" "$WORK/bad.yaml" || fail "bad.yaml was not made"
seen=$(snapshot)
before=$(kernel_mutations)
if vpcctl lab apply -f "$WORK/bad.yaml" 2>"$WORK/err"; then fail "an overlapping subnet was applied"; fi
assert_contains "$(cat "$WORK/err")" "vpcs[0].subnets[1].cidr" "the error names the document path"
line=$(grep -n "10.10.1.128/25" "$WORK/bad.yaml" | cut -d: -f1)
assert_contains "$(cat "$WORK/err")" "bad.yaml:$line:" "... and the line in the file"
assert_eq "$seen" "$(snapshot)" "state files, namespaces and rules are as they were"
assert_eq "$before" "$(kernel_mutations)" "no kernel call"

# --- names owned by someone else ---
vpcctl vpc create hand --cidr 10.60.0.0/16 >/dev/null
printf 'name: grab\nvpcs:\n  - {name: hand, cidr: 10.60.0.0/16}\n' >"$WORK/grab.yaml"
vpcctl lab apply -f "$WORK/grab.yaml" 2>"$WORK/err" && fail "a lab took a hand-made VPC"
assert_contains "$(cat "$WORK/err")" "made outside any lab" "a hand-made VPC is refused"
sed 's/^name: shop/name: rival/' "$LABS/shop.yaml" >"$WORK/rival.yaml"
vpcctl lab apply -f "$WORK/rival.yaml" 2>"$WORK/err" && fail "a lab took another lab's VPC"
assert_contains "$(cat "$WORK/err")" "belongs to lab shop" "another lab's VPC is refused"
vpcctl subnet delete prod db 2>"$WORK/err" && fail "the plain API deleted a lab's subnet"
assert_contains "$(cat "$WORK/err")" "belongs to lab shop" "the plain API leaves a lab's subnet"
assert_eq "" "$(vpcctl lab list -o json | json_field '[l["name"] for l in d["items"] if l["name"] != "shop"] or ""')" \
  "no lab was recorded for the refused documents"

# --- export, then apply: a no-op ---
vpcctl lab export shop >"$WORK/exported.yaml"
before=$(kernel_mutations)
assert_contains "$(vpcctl lab apply -f "$WORK/exported.yaml")" "no changes" "export re-applies as a no-op"
assert_eq "$before" "$(kernel_mutations)" "... without a kernel call"

# --- the graph ---
vpcctl lab graph shop --format svg >"$WORK/shop.svg"
assert_contains "$(head -c 400 "$WORK/shop.svg")" "<svg" "graph renders SVG"
assert_contains "$(cat "$WORK/shop.svg")" "vpc prod" "... with the VPCs in it"

# --- destroy leaves nothing of the lab, and the rest as it was ---
out=$(vpcctl lab destroy shop)
assert_contains "$out" "- vpc prod" "destroy lists what it removed"
assert_eq "internet vpc-hand" "$(ip netns list | cut -d' ' -f1 | sort | xargs)" \
  "only the hand-made VPC's namespace and the sandbox's remain"
kill -0 "$pg_pid" 2>/dev/null && fail "pg's process outlived its lab"
assert_eq "$STATE/vpcs/hand.json" "$(find "$STATE/vpcs" -type f)" \
  "only the hand-made VPC's state file remains"
assert_eq "" "$(find "$STATE/labs" "$STATE/instances" "$STATE/policies" "$STATE/peerings" -type f)" \
  "no lab, instance, policy or peering file remains"
assert_not_contains "$(nft list table ip vpcd)" "t-prod" "the host's NAT table no longer names prod"
assert_eq "" "$(find /etc/netns -mindepth 1 -maxdepth 1 ! -name vpc-hand)" \
  "no /etc/netns entry of the lab remains"

# --- every example ---
for f in "$LABS"/*.yaml; do
  [[ "$(basename "$f")" == shop.yaml ]] && continue
  name=$(/usr/bin/python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["name"])' "$f")
  vpcctl lab apply -f "$f" >/dev/null || { fail "$f does not apply"; continue; }
  wait_listening "$f"
  expect_ok "$f"
  assert_contains "$(vpcctl lab apply -f "$f")" "no changes" "$name: re-apply is a no-op"
  vpcctl lab destroy "$name" >/dev/null || fail "$name does not destroy"
  assert_eq "internet vpc-hand" "$(ip netns list | cut -d' ' -f1 | sort | xargs)" "$name: destroy leaves nothing"
done
finish
