# wait_until SECONDS CMD...: runs CMD until it succeeds or SECONDS pass (then
# returns 1). SECONDS may be a fraction (0.5); the deadline is exact, from
# the clock in microseconds, not bash's whole-second $SECONDS (with which a
# deadline of 1 could end at once). The only pause in the test tooling is
# the poll interval here.
wait_until() {
  local limit_us now
  limit_us=$(awk -v s="$1" 'BEGIN { printf "%d", s * 1000000 }')
  now=${EPOCHREALTIME/[.,]/}
  local deadline=$((now + limit_us))
  shift
  until "$@" >/dev/null 2>&1; do
    now=${EPOCHREALTIME/[.,]/}
    if ((now >= deadline)); then return 1; fi
    sleep 0.02
  done
}
