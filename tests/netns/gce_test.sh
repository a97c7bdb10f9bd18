#!/usr/bin/env bash
# The Compute Engine API driven by the real gcloud CLI, unchanged, pointed at
# vpcd's TCP listener on the sandbox's loopback: what it serves so far
# (projects, regions, zones, machine types, operations, batches, filter=,
# errors in GCE's words). One gcloud run per scenario: each costs a second.
if ! command -v gcloud >/dev/null; then
  echo "SKIP: gcloud (Google Cloud SDK) is not installed"
  exit 77
fi
source "$(dirname "$0")/lib.sh"

TOKEN_FILE="$WORK/token"
start_daemon --listen 127.0.0.1:8787 --token-file "$TOKEN_FILE"

# gcloud's own configuration, written as `gcloud config set` would (each
# `config set` is a run of its own).
export CLOUDSDK_CONFIG="$WORK/gcloud"
mkdir -p "$CLOUDSDK_CONFIG/configurations"
printf default >"$CLOUDSDK_CONFIG/active_config"  # no newline: gcloud reads it as is
cat >"$CLOUDSDK_CONFIG/configurations/config_default" <<EOF
[core]
project = lab
disable_prompts = true
disable_usage_reporting = true
[api_endpoint_overrides]
compute = http://127.0.0.1:8787/compute/v1/
[auth]
access_token_file = $TOKEN_FILE
[component_manager]
disable_update_check = true
EOF
# g ARGS...: gcloud compute ARGS; stdout in $WORK/out, stderr in $WORK/err, the exit code echoed
g() {
  local rc=0
  gcloud compute "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
  echo "$rc"
}
out() { tr '\t' ' ' <"$WORK/out"; }

echo "== regions, zones, machine types"
assert_eq 0 "$(g regions list --format='value(name,status,quotas[0].metric)')" "gcloud compute regions list"
assert_eq "$(printf '%s UP CPUS\n' asia-east1 europe-west1 us-central1 us-east1 us-west1)" "$(out | sort)" \
  "the five regions, UP, with a CPU quota"
assert_eq 0 "$(g zones list --filter=region:us-central1 --format='value(name)')" "zones list --filter (sent as filter=)"
assert_eq "us-central1-a us-central1-b us-central1-c" "$(out | sort | tr '\n' ' ' | sed 's/ $//')" \
  "only the region's three zones: vpcd applies the filter"
assert_eq 0 "$(g zones describe europe-west1-b --format='value(region.basename(),status)')" "zones describe"
assert_eq "europe-west1 UP" "$(out)" "its region and status"
assert_eq 0 "$(g machine-types describe e2-medium --zone=us-central1-a --format='value(guestCpus,memoryMb,zone)')" \
  "machine-types describe"
assert_eq "2 4096 us-central1-a" "$(out)" "e2-medium: 2 CPUs, 4 GB"
assert_eq 0 "$(g machine-types list --zones=us-central1-a,us-east1-b --format='value(name,zone)')" \
  "machine-types list in two zones (one batch request)"
assert_eq 26 "$(out | wc -l)" "13 types in each zone"
assert_contains "$(out)" "n2-standard-8 us-east1-b" "from both zones"
assert_contains "$(cat "$WORK/vpcd.log")" "POST /batch/compute/v1 token -> 200" "gcloud sent them as one batch"
assert_eq 0 "$(g machine-types list --filter='zone:asia-east1-c AND name~^n1' --format='value(name)')" \
  "machine-types list, aggregated over every zone"
assert_eq "n1-standard-1 n1-standard-2 n1-standard-4 n1-standard-8" "$(out | sort | tr '\n' ' ' | sed 's/ $//')" \
  "filtered to one zone's n1 types"
assert_eq 0 "$(g operations list)" "operations list"
assert_contains "$(cat "$WORK/err")" "Listed 0 items." "no operation yet: nothing here has changed"

echo "== errors, as gcloud prints them"
assert_eq 1 "$(g regions describe nope)" "a region that does not exist: exit 1"
assert_contains "$(cat "$WORK/err")" "The resource 'projects/lab/regions/nope' was not found" "GCE's message"
assert_eq 1 "$(g machine-types describe e2-huge --zone=us-west1-a)" "a machine type that does not exist"
assert_contains "$(cat "$WORK/err")" "The resource 'projects/lab/zones/us-west1-a/machineTypes/e2-huge' was not found" \
  "names its path"
assert_eq 1 "$(g networks list)" "networks: not served yet, and said so"
assert_contains "$(cat "$WORK/err")" "vpcd serves projects, regions, zones, machine types and operations" \
  "instead of an empty list that would claim there are none"
cp "$TOKEN_FILE" "$WORK/good-token"
echo wrong >"$WORK/bad-token"
sed -i "s|access_token_file = .*|access_token_file = $WORK/bad-token|" "$CLOUDSDK_CONFIG/configurations/config_default"
assert_eq 1 "$(g regions list)" "a wrong token: refused"
assert_contains "$(cat "$WORK/err")" "Request had invalid authentication credentials" "gcloud prints the 401's message"

echo "== health"
assert_eq '"compute-engine" "healthy"' \
  "$(curl -s -H "Authorization: Bearer $(cat "$WORK/good-token")" http://127.0.0.1:8787/compute/health | python3 -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps(d["service"]), json.dumps(d["status"]))')" \
  "GET /compute/health"

finish
