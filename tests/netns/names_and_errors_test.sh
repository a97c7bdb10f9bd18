#!/usr/bin/env bash
# Long and hostile names, exact API errors, and "a rejected request changes
# nothing on disk or in the kernel".
source "$(dirname "$0")/lib.sh"

start_server internet "$SERVER_ADDR" 80
start_daemon

assert_eq "660" "$(stat -c %a "$SOCK")" "socket is mode 0660"
assert_eq '200 {"status":"ok"}' "$(api GET /v1/health)" "health"

# 63-character names work end to end; interface names still fit 15 chars.
long_vpc=$(printf 'v%.0s' {1..62})x
long_subnet=$(printf 's%.0s' {1..62})y
vpcctl vpc create "$long_vpc" --cidr 10.40.0.0/16 >/dev/null
vpcctl subnet create "$long_vpc" "$long_subnet" --cidr 10.40.1.0/24 --public >/dev/null
assert_eq "$UPLINK_ADDR" "$(fetch "vpc-$long_vpc.$long_subnet" "http://$SERVER_ADDR/")" "63-character names: traffic flows"
max_len=$( (ip -o link; ip -n "vpc-$long_vpc" -o link) | awk -F': ' '{sub(/@.*/, "", $2); print length($2)}' | sort -n | tail -1)
[[ $max_len -le 15 ]] && pass "every interface name fits IFNAMSIZ ($max_len)" || fail "interface name of $max_len chars"
assert_contains "$(ip -o link | grep "alias vpcd:transit:$long_vpc")" "t-vvvvvv_" "shortened transit name, full name in the alias"

# Two VPCs whose long names differ only at the end get distinct links.
vpcctl vpc create "${long_vpc%x}z" --cidr 10.41.0.0/16 >/dev/null
assert_eq "2" "$(ip -o link | grep -c 'alias vpcd:transit:vvvvvv')" "two long VPC names, two transit links"

# Two VPCs may both have a subnet called `public`.
for vpc in alpha beta; do
  vpcctl vpc create "$vpc" --cidr 10.50.0.0/16 >/dev/null
  vpcctl subnet create "$vpc" public --cidr 10.50.1.0/24 --public >/dev/null
done
assert_eq "$UPLINK_ADDR" "$(fetch vpc-alpha.public "http://$SERVER_ADDR/")" "alpha/public works"
assert_eq "$UPLINK_ADDR" "$(fetch vpc-beta.public "http://$SERVER_ADDR/")" "beta/public works"

# From here on, every request is refused, and nothing may change.
snapshot() {
  (cd "$STATE" && find . -type f -name '*.json' -exec md5sum {} + | sort)
  ip netns list
  ip -br link
  kernel_mutations
}
before=$(snapshot)

check_error() {  # expected-code expected-field method path [body]
  local code=$1 field=$2
  shift 2
  local out
  out=$(api "$@")
  assert_eq "$code" "${out%% *}" "$* -> $code"
  if [[ -n "$field" ]]; then
    assert_eq "$field" "$(json_field 'd["error"].get("field","")' <<<"${out#* }")" "$* names field $field"
  fi
  assert_eq "$code" "$(json_field 'd["error"]["code"]' <<<"${out#* }")" "$* error.code"
}
for bad in 'a;rm -rf /' '../x' 'Prod' '-x' 'x-' 'a b' 'a.b' "$(printf 'a%.0s' {1..64})" ''; do
  body=$(python3 -c 'import json,sys; print(json.dumps({"name": sys.argv[1], "cidr": "10.60.0.0/16"}))' "$bad")
  check_error 400 name POST /v1/vpcs "$body"
done
check_error 400 name POST /v1/vpcs/alpha/subnets '{"name":"../../etc","cidr":"10.50.9.0/24"}'
check_error 400 "" POST /v1/vpcs '{"name": "x", '
check_error 400 "" POST /v1/vpcs '[1,2]'
check_error 400 colour POST /v1/vpcs '{"name":"x","cidr":"10.60.0.0/16","colour":"red"}'
check_error 400 cidr POST /v1/vpcs '{"name":"x","cidr":"10.60.0.1/16"}'
check_error 400 cidr POST /v1/vpcs '{"name":"x","cidr":"10.60.0.0/29"}'
check_error 400 cidr POST /v1/vpcs '{"name":"x","cidr":"10.0.0.0/7"}'
check_error 400 cidr POST /v1/vpcs '{"name":"x","cidr":"banana"}'
check_error 400 mtu POST /v1/vpcs '{"name":"x","cidr":"10.60.0.0/16","mtu":70000}'
check_error 400 cidr POST /v1/vpcs/alpha/subnets '{"name":"tiny","cidr":"10.50.9.0/30"}'
check_error 400 type POST /v1/vpcs/alpha/subnets '{"name":"dmz","cidr":"10.50.9.0/24","type":"dmz"}'
check_error 404 "" GET /v1/vpcs/nope
check_error 404 "" POST /v1/vpcs/nope/subnets '{"name":"web","cidr":"10.10.1.0/24"}'
check_error 404 "" GET /v1/vpcs/alpha/subnets/nope
check_error 404 "" DELETE /v1/vpcs/alpha/subnets/nope
check_error 404 "" DELETE /v1/vpcs/nope
check_error 404 "" GET /v1/nothing
check_error 405 "" PUT /v1/vpcs/alpha
check_error 409 cidr POST /v1/vpcs '{"name":"alpha","cidr":"10.51.0.0/16"}'
check_error 422 cidr POST /v1/vpcs/alpha/subnets '{"name":"out","cidr":"10.99.1.0/24"}'

# The exact error body of the issue's example.
vpcctl subnet create alpha api --cidr 10.50.2.0/25 >/dev/null
before=$(snapshot)
assert_eq '409 {"error":{"code":409,"status":"ALREADY_EXISTS","message":"subnet web: cidr 10.50.2.0/24 overlaps subnet api 10.50.2.0/25","field":"cidr"}}' \
  "$(api POST /v1/vpcs/alpha/subnets '{"name":"web","cidr":"10.50.2.0/24"}')" "overlap: exact error body"
# A namespace of someone else's under one of our names: 409, untouched.
ip netns add vpc-taken
check_error 409 name POST /v1/vpcs '{"name":"taken","cidr":"10.70.0.0/16"}'
ip netns del vpc-taken
after=$(snapshot)
assert_eq "$before" "$after" "rejected requests changed nothing on disk or in the kernel"

# The CLI reports errors on stderr with a non-zero exit.
if out=$(vpcctl vpc create 'Bad' --cidr 10.0.0.0/16 2>&1); then fail "vpcctl accepted a bad name"; fi
assert_contains "$out" "error: name: \"Bad\" is not a valid name" "vpcctl prints the API error"
finish
