# wait_until SECONDS CMD...: runs CMD until it succeeds or SECONDS pass (then
# returns 1). The only pause in the test tooling is the poll interval here.
wait_until() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then return 1; fi
    sleep 0.05
  done
}
