#!/usr/bin/env bash
# The TCP listener (--listen): the same API as the socket, to clients that
# send the token; the token file made at first start; 401 in Google's shape
# before any body is read. On the sandbox's own loopback.
source "$(dirname "$0")/lib.sh"

TOKEN_FILE="$WORK/etc/token"
LISTEN=127.0.0.1:8787
URL="http://$LISTEN"
start_daemon --listen "$LISTEN" --token-file "$TOKEN_FILE"
# curl_tcp ARGS...: status code, the body in $WORK/tcp_body
curl_tcp() { curl -s -o "$WORK/tcp_body" -w '%{http_code}' "$@"; }
body_field() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$WORK/tcp_body" "$1"; }

echo "== the token file made at first start"
token=$(cat "$TOKEN_FILE")
[[ $token =~ ^[0-9a-f]{64}$ ]] && pass "32 random bytes as 64 hex digits" || fail "token [$token]"
assert_eq 640 "$(stat -c %a "$TOKEN_FILE")" "mode 0640"
group=$(getent group vpcd | cut -d: -f3 || true)
assert_eq "0 ${group:-0}" "$(stat -c '%u %g' "$TOKEN_FILE")" "root's, group of the API group (where it exists)"
assert_eq "$LISTEN" "$(ss -Hltn "sport = :8787" | awk '{print $4}')" "listens on the address asked for, nowhere else"

echo "== without the token, or a wrong one: 401, Google's shape"
assert_eq 401 "$(curl_tcp "$URL/v1/vpcs")" "no Authorization: 401"
assert_eq "401 UNAUTHENTICATED required Authorization" \
  "$(body_field 'd["error"]["code"], d["error"]["status"], d["error"]["errors"][0]["reason"], d["error"]["errors"][0]["location"]' | tr -d "(),'")" \
  "error.code, status, errors[0].reason and location"
assert_contains "$(curl -s -D - -o /dev/null "$URL/v1/vpcs" | tr -d '\r')" 'WWW-Authenticate: Bearer realm="vpcd"' "WWW-Authenticate names the scheme"
assert_eq 401 "$(curl_tcp -H "Authorization: Bearer ${token}x" "$URL/v1/vpcs")" "a wrong token: 401"
assert_eq "authError" "$(body_field 'd["error"]["errors"][0]["reason"]')" "reason authError"
assert_eq 401 "$(curl_tcp -H "Authorization: Basic $token" "$URL/v1/vpcs")" "another scheme: 401"
head -c 10000000 /dev/zero >"$WORK/big"
assert_eq 401 "$(curl_tcp -X POST -H 'Content-Type: application/json' --data-binary @"$WORK/big" "$URL/v1/vpcs")" \
  "a 10 MB body without the token: 401"
assert_eq 401 "$(curl_tcp -X POST -H 'Content-Type: application/json' -d '{"name":"x","cidr":"10.9.0.0/16"}' "$URL/v1/vpcs")" \
  "a mutation without the token: 401"
assert_eq "" "$(ip netns list | grep -w vpc-x || true)" "and changes nothing"

echo "== with the token: the same API and the same objects"
auth=(-H "Authorization: Bearer $token")
assert_eq 201 "$(curl_tcp "${auth[@]}" -X POST -H 'Content-Type: application/json' -d '{"name":"prod","cidr":"10.10.0.0/16"}' "$URL/v1/vpcs")" "POST /v1/vpcs over TCP: 201"
assert_eq 201 "$(curl_tcp "${auth[@]}" -X POST -H 'Content-Type: application/json' -d '{"name":"web","cidr":"10.10.1.0/24","type":"public"}' "$URL/v1/vpcs/prod/subnets")" "a subnet: 201"
assert_contains "$(vpcctl subnet list prod)" "web" "vpcctl over the socket sees it"
assert_eq 200 "$(curl_tcp -H "authorization: bearer $token" "$URL/v1/vpcs/prod")" "header and scheme in any case"
assert_eq "10.10.0.0/16" "$(body_field 'd["cidr"]')" "GET over TCP shows it"
assert_eq 400 "$(curl_tcp "${auth[@]}" -X POST -H 'Content-Type: application/json' -d '{"name":"bad","cidr":"nope"}' "$URL/v1/vpcs")" "errors keep the API's shape"
assert_eq cidr "$(body_field 'd["error"]["field"]')" "naming the field"
log=$(cat "$WORK/vpcd.log")
assert_contains "$log" "POST /v1/vpcs token -> 201" "the log says the token was the caller"
assert_contains "$log" "POST /v1/vpcs from 127.0.0.1:" "a refused attempt is logged with where it came from"
assert_contains "$log" "-> 401: a wrong token" "and why"
assert_not_contains "$log" "$token" "and never the token itself"
ip netns exec vpc-prod.web true && pass "the subnet is real" || fail "no namespace vpc-prod.web"
audit=$(cat "$STATE/audit.log")
assert_contains "$audit" '"via":"token","method":"POST","target":"/v1/vpcs","status":201' "the audit log names the token as the caller"
assert_not_contains "$audit" "$token" "and never holds the token"

echo "== a restart keeps the token; a bad token file or address stops the start"
stop_daemon
start_daemon --listen "$LISTEN" --token-file "$TOKEN_FILE"
assert_eq "$token" "$(cat "$TOKEN_FILE")" "the existing token is used, not replaced"
assert_eq 200 "$(curl_tcp "${auth[@]}" "$URL/v1/vpcs")" "and still accepted"
stop_daemon
refused() {  # ARGS...: the daemon refuses to start; prints its message
  local out rc=0
  out=$(timeout 10 "$VPCD" --socket "$WORK/other.sock" --state-dir "$WORK/other-state" --dry-run "$@" 2>&1) || rc=$?
  echo "$rc $out"
}
chmod 0644 "$TOKEN_FILE"
assert_contains "$(refused --listen "$LISTEN" --token-file "$TOKEN_FILE")" "readable by everyone (mode 0644); make it 0640 or 0600" "a world-readable token file"
: >"$WORK/empty-token"
chmod 0600 "$WORK/empty-token"
assert_contains "$(refused --listen "$LISTEN" --token-file "$WORK/empty-token")" "token file $WORK/empty-token: is empty" "an empty token file"
assert_contains "$(refused --listen 127.0.0.1)" '--listen: "127.0.0.1" has no port' "an address without a port"
assert_contains "$(refused --listen nohost:80)" '--listen: "nohost:80" is not an IP address and port' "a name instead of an address"
assert_contains "$(refused --listen 127.0.0.1:70000)" "has no port from 1 to 65535" "a port out of range"

finish
