#!/usr/bin/env bash
# An instance's command on a console: a pseudo-terminal held by a console
# keeper, so programs line-buffer as on a real terminal; its output in the
# serial log (followed live by `vpcctl instance serial --follow`); and
# `vpcctl instance console` attached to it interactively, surviving a restart
# of the daemon.
source "$(dirname "$0")/lib.sh"

prod_lab
get() { curl -s --unix-socket "$SOCK" "http://vpcd$1"; }
serial() { get "/v1/instances/$1/serial-output" | python3 -c 'import json,sys; print(json.load(sys.stdin)["contents"], end="")'; }
shown() { get "/v1/instances/$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$2"; }
pid_of() { shown "$1" command_pid; }
drive() { python3 "$(dirname "$0")/console_drive.py" "$@"; }

echo "== output line-buffered on the terminal"
# Python buffers print() in 8 KiB blocks when its output is a file; on a
# terminal, line by line. No flush here, and the daemon's environment (where
# PYTHONUNBUFFERED may be set) does not reach the command.
api POST /v1/instances '{"name":"ticker","subnet":"prod/web","command":["python3","-c","import time\nwhile True:\n    print(\"tick\", time.monotonic())\n    time.sleep(0.1)"]}' >/dev/null
has_tick() { serial ticker | grep -q '^tick'; }
if wait_until 1 has_tick; then
  pass "a line printed every 100 ms without flushing is in the serial output within a second"
else
  fail "no tick in the serial output after 1 s: [$(serial ticker)]"
fi
pid=$(pid_of ticker)
environment=$(tr '\0' '\n' <"/proc/$pid/environ")
assert_not_contains "$environment" "PYTHONUNBUFFERED" "the command does not get the daemon's environment"
assert_contains "$environment" "TERM=" "it gets a terminal type"
assert_contains "$(readlink /proc/"$pid"/fd/1)" "/dev/pts/" "its standard output is a terminal"
assert_eq "$(readlink /proc/"$pid"/fd/0)" "$(readlink /proc/"$pid"/fd/1)" "so is its input, the same one"
assert_not_contains "$(serial ticker)" $'\r' "the log has plain line endings"

echo "== serial --follow"
"$VPCCTL_BIN" --socket "$SOCK" instance serial ticker --follow >"$WORK/follow" &
follower=$!
CHILD_PIDS+=("$follower")
ticks() { grep -c '^tick' "$WORK/follow" || true; }
ticks_at_least() { test "$(ticks)" -ge "$1"; }
wait_until 2 ticks_at_least 1 || true
first=$(ticks)
if wait_until 2 ticks_at_least $((first + 5)); then
  pass "vpcctl instance serial --follow streams new lines as they are written"
else
  fail "serial --follow: $(ticks) lines after 2 s"
fi
api POST /v1/instances/ticker/stop '{}' >/dev/null
ended() { grep -q -- "--- vpcd: ended by signal 15 (Terminated)" "$WORK/follow"; }
wait_until 2 ended && pass "the follower sees how the command ended (and follows on: a start writes more)" ||
  fail "the follower did not see the end: $(tail -n 2 "$WORK/follow")"
assert_contains "$(serial ticker)" "--- vpcd: ended by signal 15 (Terminated)" "the log says how the command ended"
kill "$follower" 2>/dev/null || true

echo "== consoles that come and go while the command prints"
api POST /v1/instances '{"name":"chatty","subnet":"prod/web","command":["python3","-c","import time\nwhile True:\n    print(\"x\" * 200)\n    time.sleep(0.005)"]}' >/dev/null
wait_until 2 test -S "$STATE/serial/chatty.console" || true
chatty_pid=$(pid_of chatty)
python3 - "$SOCK" <<'PY'
import socket, sys
for _ in range(20):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    s.sendall(b"POST /v1/instances/chatty/console HTTP/1.1\r\nHost: vpcd\r\nConnection: Upgrade\r\nUpgrade: vpcd-console\r\n\r\n")
    s.recv(65536)
    s.close()  # gone while output is on its way to it
PY
assert_eq "running $chatty_pid" "$(shown chatty command_state) $(pid_of chatty)" "20 consoles gone mid-output: the command and its terminal go on"
api DELETE /v1/instances/chatty >/dev/null

echo "== console: typed input, answers, the terminal's size"
api POST /v1/instances '{"name":"shell","subnet":"prod/db","command":["/bin/sh"]}' >/dev/null
wait_until 2 test -S "$STATE/serial/shell.console" || true
out=$(drive 40 100 "$VPCCTL_BIN" --socket "$SOCK" instance console shell -- \
  'echo hello-$((40+2))' 'hello-42' \
  'stty size' '40 100' \
  'hostname' 'shell' \
  'KEPT=before-restart' '' 2>&1) && rc=0 || rc=$?
assert_eq 0 "$rc" "console round-trips input and detaches with Ctrl-] ($(echo "$out" | tail -n 3 | tr '\n' ' '))"
assert_contains "$out" "Detached from the console of shell" "vpcctl says it detached"
assert_contains "$(serial shell)" "hello-42" "what the console showed is in the serial log"
shell_pid=$(pid_of shell)
assert_eq "running" "$(shown shell command_state)" "the command goes on after a detach"

echo "== the console outlives a restart of the daemon"
stop_daemon
start_daemon
assert_eq "$shell_pid" "$(pid_of shell)" "the shell was adopted, not started again"
out=$(drive 24 80 "$VPCCTL_BIN" --socket "$SOCK" instance console shell -- \
  'echo kept=$KEPT' 'kept=before-restart' 2>&1) && rc=0 || rc=$?
assert_eq 0 "$rc" "the same shell answers on the console after the restart ($(echo "$out" | tail -n 3 | tr '\n' ' '))"

echo "== a reset: the next keeper serves, the log in order"
api POST /v1/instances/ticker/start '{}' >/dev/null
api POST /v1/instances/ticker/reset '{}' >/dev/null
attach_reads_tick() {
  python3 - "$SOCK" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(2)
s.connect(sys.argv[1])
s.sendall(b"POST /v1/instances/ticker/console HTTP/1.1\r\nHost: vpcd\r\nConnection: Upgrade\r\nUpgrade: vpcd-console\r\n\r\n")
data = b""
while b"tick" not in data:
    data += s.recv(4096)
PY
}
wait_until 3 attach_reads_tick && pass "after a reset the console is the new run's" || fail "no console after the reset"
order=$(serial ticker | grep -- '^--- vpcd:' | tail -n 2 | cut -c1-22)
assert_eq $'--- vpcd: ended by sig\n--- vpcd: starting pyt' "$order" "the old run's end is logged before the new run's start"
api POST /v1/instances/ticker/stop '{}' >/dev/null

echo "== refused"
status_of() { curl -s -o "$WORK/err" -w '%{http_code}' --unix-socket "$SOCK" "$@"; }
field_of() { python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["error"]; print(e.get("field",""), e["message"])' "$WORK/err"; }
assert_eq 400 "$(status_of -X POST http://vpcd/v1/instances/shell/console)" "without Upgrade: 400"
assert_contains "$(field_of)" "Upgrade Upgrade: the console is a byte stream" "names the Upgrade header"
assert_eq 400 "$(status_of -X POST -H 'Connection: Upgrade' -H 'Upgrade: vpcd-console' 'http://vpcd/v1/instances/shell/console?rows=0')" "rows=0: 400"
assert_contains "$(field_of)" "rows rows: must be a number from 1 to 1000" "names rows"
assert_eq 404 "$(status_of -X POST -H 'Connection: Upgrade' -H 'Upgrade: vpcd-console' http://vpcd/v1/instances/nosuch/console)" "no such instance: 404"
assert_eq 409 "$(status_of -X POST -H 'Connection: Upgrade' -H 'Upgrade: vpcd-console' http://vpcd/v1/instances/ticker/console)" "a stopped instance: 409"
assert_contains "$(field_of)" "not running" "says it is not running"
api POST /v1/instances '{"name":"idle","subnet":"prod/db"}' >/dev/null
assert_eq 409 "$(status_of -X POST -H 'Connection: Upgrade' -H 'Upgrade: vpcd-console' http://vpcd/v1/instances/idle/console)" "an instance without a command: 409"
assert_contains "$(field_of)" "has no command" "says it has none"
err=$("$VPCCTL_BIN" --socket "$SOCK" instance console idle 2>&1) && rc=0 || rc=$?
assert_eq 1 "$rc" "vpcctl instance console of it exits 1"
assert_contains "$err" "error: instance idle has no command" "and prints the daemon's message"

echo "== the command ends: the console closes"
# A client of its own: attached (its typing answered), then the stop.
exec 3< <(python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"POST /v1/instances/shell/console HTTP/1.1\r\nHost: vpcd\r\nConnection: Upgrade\r\nUpgrade: vpcd-console\r\n\r\n")
data = b""
while b"attached-2" not in data:
    chunk = s.recv(4096)
    if not chunk:
        break
    data += chunk
    if data.startswith(b"HTTP/1.1 101") and b"\r\n\r\n" in data and b"echo" not in data:
        s.sendall(b"echo attached-$((1+1))\n")
print("attached" if b"attached-2" in data else "not-attached", flush=True)
while True:
    chunk = s.recv(4096)
    if not chunk:
        break
    data += chunk
print("ended by signal" in data.decode(errors="replace"), flush=True)
' "$SOCK")
read -r -t 5 attached <&3 || true
assert_eq "attached" "$attached" "a second client attaches and is answered"
api POST /v1/instances/shell/stop '{}' >/dev/null
read -r -t 10 ended <&3 || true
assert_eq "True" "$ended" "a console attached when the instance stops hears how it ended, then EOF"
assert_eq "" "$(ls "$STATE/serial" | grep 'shell.console' || true)" "the keeper removed its socket"

finish
