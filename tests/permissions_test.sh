#!/usr/bin/env bash
# API permissions (issue 7), on a dry-run vpcd (no kernel involved): reads for
# anyone who can connect, changes for root, the API group and roles-file
# grants; a denied call is a 403 naming the permission and changes nothing;
# every call is logged with the caller's uid and pid. Needs root to act as
# other users (setpriv).
if [[ $EUID -ne 0 ]]; then
  echo "SKIP: this needs root (it calls the API as other users)"
  exit 77
fi
source "$(dirname "$0")/checks.sh" perms
chmod 755 "$WORK"
SOCK="$WORK/vpcd.sock"

# as USER GROUPS METHOD PATH [BODY]: "<code> <body>" of the call made as USER
# (primary group nogroup, supplementary GROUPS: a gid list or "none").
as() {
  local groups=(--clear-groups)
  [[ $2 != none ]] && groups=(--groups "$2")
  local args=(-s -w '\n%{http_code}' --unix-socket "$SOCK" -X "$3" "http://vpcd$4")
  [[ $# -ge 5 ]] && args+=(-H 'Content-Type: application/json' --data-binary "$5")
  local out
  out=$(setpriv --reuid="$1" --regid=nogroup "${groups[@]}" curl "${args[@]}")
  echo "${out##*$'\n'} ${out%$'\n'*}"
}
start() {
  "$VPCD_BIN_DIR/vpcd" --dry-run --socket "$SOCK" --state-dir "$WORK/state" \
    --netns-dir "$WORK/netns" --api-group users --roles-file "$WORK/roles.json" "$@" >>"$WORK/log" 2>&1 &
  PID=$!
  # Answering: the socket was given to the API group before serving began.
  wait_until 10 "$VPCD_BIN_DIR/vpcctl" --socket "$SOCK" health || { cat "$WORK/log"; exit 1; }
  stat -c '%G %a' "$SOCK" >"$WORK/sock.mode"
  chmod 0666 "$SOCK"  # as a SocketMode that lets everyone connect would
}
stop() { kill "$PID"; wait "$PID" || true; PID=""; }

cat >"$WORK/roles.json" <<'JSON'
{"users": {"nobody": ["vpc:create"]}, "groups": {"nogroup": ["subnet:*"]}}
JSON
start
users_gid=$(getent group users | cut -d: -f3)
assert_eq "users 660" "$(cat "$WORK/sock.mode")" \
  "vpcd gives the socket it creates to the API group, mode 0660"

out=$(as nobody none GET /v1/vpcs)
assert_eq 200 "${out%% *}" "anyone who can connect may read"
out=$(as daemon none POST /v1/vpcs '{"name":"prod","cidr":"10.10.0.0/16"}')
assert_eq "403" "${out%% *}" "a user without a grant may not create"
assert_eq '{"error":{"code":403,"status":"PERMISSION_DENIED","message":"uid 1 (daemon) may not vpc:create: it needs root, group users, or a grant in the roles file"}}' \
  "${out#* }" "the 403 names the permission"
[[ ! -e $WORK/state/vpcs/prod.json ]] && pass "a denied call changes nothing" || fail "state written"
out=$(as nobody none POST /v1/vpcs '{"name":"prod","cidr":"10.10.0.0/16"}')
assert_eq 201 "${out%% *}" "a user grant: nobody may vpc:create"
out=$(as nobody none DELETE /v1/vpcs/prod)
assert_eq 403 "${out%% *}" "... but not vpc:delete"
out=$(as nobody none POST /v1/vpcs/prod/subnets '{"name":"web","cidr":"10.10.1.0/24"}')
assert_eq 201 "${out%% *}" "a group grant with a wildcard: nogroup may subnet:*"
out=$(as daemon none POST /v1/instances '{"name":"x","subnet":"prod/web"}')
assert_eq 403 "${out%% *}" "instance:create denied"
out=$(as daemon "$users_gid" POST /v1/instances '{"name":"x","subnet":"prod/web"}')
assert_eq 201 "${out%% *}" "members of the API group may do everything"
out=$(as daemon "$users_gid" POST /v1/instances/x/stop)
assert_eq 200 "${out%% *}" "... including instance:stop"
# The groups are the ones the client had when it connected: here the
# connecting process is gone before its request is read (its child sends it
# on the inherited socket), so nothing can be looked up by its pid any more.
out=$(setpriv --reuid=daemon --regid=nogroup --groups "$users_gid" /usr/bin/python3 - "$SOCK" <<'PY'
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
r, w = os.pipe()
if os.fork() == 0:
    os.close(w)
    os.read(r, 1)  # returns when the parent has exited
    s.sendall(b"POST /v1/instances/x/start HTTP/1.1\r\nHost: vpcd\r\nContent-Length: 0\r\n\r\n")
    print(s.recv(65536).split(b"\r\n")[0].decode())
    sys.exit(0)
PY
)
assert_eq "HTTP/1.1 200 OK" "$out" "groups are taken when the client connects (SO_PEERGROUPS), not looked up by pid later"
out=$(as root none DELETE /v1/instances/x)
assert_eq 200 "${out%% *}" "root may do everything"
log=$(cat "$WORK/log")
[[ $log == *"<5>POST /v1/vpcs uid=1 pid="*" -> 403: uid 1 (daemon) may not vpc:create"* ]] &&
  pass "denials are logged with uid and pid" || fail "no audit line for the denial"
[[ $log == *"<6>POST /v1/vpcs uid=65534 pid="*" -> 201"* ]] &&
  pass "changes are logged with uid and pid" || fail "no audit line for the change"
# The audit log: a JSON line per change asked for, refusals included.
audit() { python3 -c 'import json,sys
for l in open(sys.argv[1]):
    d = json.loads(l)
    print(d["via"], d.get("user"), d["method"], d["target"], d["status"], d.get("error", "-"))' "$WORK/state/audit.log"; }
assert_contains "$(audit)" "socket daemon POST /v1/vpcs 403 uid 1 (daemon) may not vpc:create" "the audit log records a refusal, with who and why"
assert_contains "$(audit)" "socket nobody POST /v1/vpcs 201 -" "and a change"
assert_not_contains "$(audit)" "GET" "reads are not in it"
assert_eq 600 "$(stat -c %a "$WORK/state/audit.log")" "it is root's alone"
stop

# Grants scoped to VPCs: nobody may do everything in blue and nothing
# elsewhere; daemon may accept peerings into green.
cat >"$WORK/roles.json" <<'JSON'
{"users": {"nobody": ["*@blue"], "daemon": ["peering:accept@green", "peering:reject@green"]}}
JSON
rm -rf "$WORK/state"
start
for v in blue:10.1 green:10.2 red:10.3; do
  as root none POST /v1/vpcs '{"name":"'"${v%%:*}"'","cidr":"'"${v#*:}"'.0.0/16"}' >/dev/null
done
as root none POST /v1/vpcs/green/subnets '{"name":"app","cidr":"10.2.1.0/24"}' >/dev/null
out=$(as nobody none POST /v1/vpcs/blue/subnets '{"name":"web","cidr":"10.1.1.0/24"}')
assert_eq 201 "${out%% *}" "a grant scoped to blue: a subnet in blue"
out=$(as nobody none POST /v1/vpcs/green/subnets '{"name":"web","cidr":"10.2.2.0/24"}')
assert_eq '403 {"error":{"code":403,"status":"PERMISSION_DENIED","message":"uid 65534 (nobody) may not subnet:create on VPC green: its grant covers VPC blue only"}}' \
  "$out" "not in green: 403 naming the VPC and the grant"
[[ ! -e $WORK/state/vpcs/green/subnets/web.json && $(as root none GET /v1/vpcs/green/subnets) != *'"web"'* ]] &&
  pass "and nothing changed" || fail "green/web was made"
out=$(as nobody none POST /v1/vpcs '{"name":"blue2","cidr":"10.4.0.0/16"}')
assert_eq 403 "${out%% *}" "no other VPC may be created (vpc:create on blue2)"
out=$(as nobody none DELETE /v1/vpcs/red)
assert_eq 403 "${out%% *}" "nor another deleted"
out=$(as nobody none PUT /v1/policies/web-in '{"applies_to":["blue/web"],"default_ingress":"deny"}')
assert_eq 201 "${out%% *}" "a policy on blue's subnets"
out=$(as nobody none PUT /v1/policies/app-in '{"applies_to":["blue/web","green/app"],"default_ingress":"deny"}')
assert_eq 403 "${out%% *}" "a policy reaching into green: 403"
out=$(as nobody none POST /v1/instances '{"name":"b1","subnet":"blue/web"}')
assert_eq 201 "${out%% *}" "an instance in blue"
out=$(as nobody none POST /v1/instances '{"name":"b2","nics":[{"subnet":"blue/web"},{"subnet":"green/app"}]}')
assert_eq 403 "${out%% *}" "an instance with a NIC in green: 403"
as root none POST /v1/instances '{"name":"g1","subnet":"green/app"}' >/dev/null
out=$(as nobody none POST /v1/instances/g1/stop)
assert_eq 403 "${out%% *}" "green's instance cannot be stopped from blue"
assert_contains "$(as root none GET /v1/instances/g1)" '"status":"RUNNING"' "and still runs"

# A peering: requested from blue, accepted only from green.
out=$(as nobody none POST /v1/peerings '{"name":"bg","vpc":"blue","peer_vpc":"green"}')
assert_eq 201 "${out%% *}" "blue requests a peering with green"
out=$(as nobody none POST /v1/peerings/bg/accept)
assert_eq 403 "${out%% *}" "the requester cannot accept it on its own say-so"
assert_contains "${out#* }" "may not peering:accept on VPC green" "the accept acts on the peer VPC"
out=$(as daemon none POST /v1/peerings/bg/accept)
assert_eq "200 active" "${out%% *} $(echo "${out#* }" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')" \
  "someone allowed on green accepts it"
as root none POST /v1/peerings '{"name":"rb","vpc":"red","peer_vpc":"blue"}' >/dev/null
out=$(as daemon none POST /v1/peerings/rb/reject)
assert_eq 403 "${out%% *}" "green's grant does not reach blue's peerings"
out=$(as nobody none POST /v1/peerings/rb/reject)
assert_eq 200 "${out%% *}" "blue, the peer side, may reject red's request"
stop

echo '{"users": {"nobody": ["vpc:create@Not_A_Name"]}}' >"$WORK/roles.json"
out=$("$VPCD_BIN_DIR/vpcd" --dry-run --socket "$SOCK" --state-dir "$WORK/state" --roles-file "$WORK/roles.json" 2>&1 || true)
assert_eq '<3>vpcd: roles file '"$WORK"'/roles.json: users.nobody: "vpc:create@Not_A_Name": after @ comes the name of a VPC (resource:verb@vpc)' \
  "$out" "a scope that is not a VPC name keeps vpcd from starting"

echo '{"users": {"nobody": ["vpc:fly", "dns:create"]}}' >"$WORK/roles.json"
out=$("$VPCD_BIN_DIR/vpcd" --dry-run --socket "$SOCK" --state-dir "$WORK/state" --roles-file "$WORK/roles.json" 2>&1 || true)
assert_eq '<3>vpcd: roles file '"$WORK"'/roles.json: users.nobody: "vpc:fly" is not a permission (vpc: create, delete, or *)' \
  "$out" "a bad roles file keeps vpcd from starting, naming the entry"

finish
