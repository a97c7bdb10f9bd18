#!/usr/bin/env bash
# Installs, builds, and runs vpcd with a small lab inside a throwaway sandbox
# (private network + mount namespace, fake internet behind a veth uplink),
# showing traffic. Nothing on the host changes.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
if [[ -z "${VPCD_IN_SANDBOX:-}" ]]; then
  "$ROOT/scripts/install-deps.sh" >/dev/null
  "$ROOT/scripts/build.sh" >/dev/null
fi
export VPCD_BIN_DIR="${VPCD_BIN_DIR:-$ROOT/build}"
source "$ROOT/scripts/sandbox.sh"

show() {
  echo "\$ $*"
  local rc=0
  "$@" >"$WORK/out" 2>&1 || rc=$?
  sed 's/^/  /' "$WORK/out"
  if [[ $rc -ne 0 ]]; then echo "  (failed: exit $rc)"; fi
}

echo "== a fake internet at $SERVER_ADDR (an HTTP server that echoes the client's address)"
start_server internet "$SERVER_ADDR" 80
echo "== vpcd, uplink = uplink0 (the sandbox's default route)"
start_daemon
show vpcctl vpc create prod --cidr 10.10.0.0/16
show vpcctl subnet create prod web --cidr 10.10.1.0/24 --public
show vpcctl subnet create prod db --cidr 10.10.2.0/24 --private
show vpcctl vpc show prod
echo
echo "== public subnet -> internet (the server sees the uplink's address: NAT twice)"
show ip netns exec vpc-prod.web curl -s --max-time 2 "http://$SERVER_ADDR/"
echo "== private subnet -> internet (must fail; packets counted at the internet)"
before=$(internet_packets)
show ip netns exec vpc-prod.db curl -s --max-time 2 "http://$SERVER_ADDR/"
echo "  packets that arrived from the private subnet: $(( $(internet_packets) - before ))"
echo "== inside the VPC: web -> db"
start_server vpc-prod.db 10.10.2.2 8080
show ip netns exec vpc-prod.web curl -s --max-time 2 http://10.10.2.2:8080/
echo
echo "== what vpcd built"
show ip netns list
show ip -n vpc-prod -br addr
show ip netns exec vpc-prod nft list table inet vpcd
show vpcctl plan
echo "== delete"
show vpcctl vpc delete prod
show ip netns list
echo
echo "== a whole environment from one file: labs/shop.yaml (two VPCs, a peering, a policy, two instances, a port forward, a flow log)"
show vpcctl lab apply -f "$ROOT/labs/shop.yaml"
wait_until 10 ip netns exec vpc-prod.web bash -c "echo > /dev/tcp/10.10.1.3/8080" || true
echo "== web -> instance api's HTTP server (python3 -m http.server 8080 in vm-api)"
show ip netns exec vpc-prod.web curl -s -o /dev/null -w "HTTP %{http_code} from %{remote_ip}\n" --max-time 2 http://10.10.1.3:8080/
echo "== the internet -> the host's port 8080 -> api (port forward shop-web); api sees the client's own address"
show ip netns exec internet curl -s -o /dev/null -w "HTTP %{http_code} from %{remote_ip}\n" --max-time 2 "http://$UPLINK_ADDR:8080/"
echo "== web -> pg:5432 is allowed by policy db-in; web -> pg:6432 is dropped by it (no refusal comes back)"
show ip netns exec vpc-prod.web timeout 2 bash -c "echo > /dev/tcp/10.10.2.20/5432 && echo connected"
show ip netns exec vpc-prod.web timeout 2 bash -c "echo > /dev/tcp/10.10.2.20/6432 && echo connected"
echo "== the lab's flow log of VPC prod: the connections above (each way), the dropped one as REJECT"
rejected_logged() { vpcctl flow-logs prod --tail 100 | grep -q " 6432 6 .* REJECT OK"; }
wait_until 5 rejected_logged || true
show vpcctl flow-logs prod --tail 8
echo "== applying the same file again changes nothing"
show vpcctl lab apply -f "$ROOT/labs/shop.yaml"
show vpcctl lab show shop
echo "== destroy: everything the lab made goes, nothing else"
show vpcctl lab destroy shop
show ip netns list
echo "== done; the sandbox disappears with this script"
