#!/usr/bin/env bash
# The systemd files in systemd/: the units pass `systemd-analyze verify`
# (with ExecStart pointed at the built binary, which must exist for it), and
# sysusers.d/tmpfiles.d entries do what they say, applied to a scratch root.
source "$(dirname "$0")/checks.sh" units
SRC="$(cd "$(dirname "$0")/../systemd" && pwd)"
BIN="$(cd "$VPCD_BIN_DIR" && pwd)"

cp "$SRC/vpcd.service" "$SRC/vpcd.socket" "$WORK/"
sed -i "s|/usr/sbin/vpcd|$BIN/vpcd|" "$WORK/vpcd.service"
check "systemd-analyze verify vpcd.service vpcd.socket" \
  bash -c "out=\$(systemd-analyze verify '$WORK/vpcd.service' '$WORK/vpcd.socket' 2>&1); echo \"\$out\"; [[ -z \$out ]]"
check "Type=notify, on-failure restarts" grep -qx 'Type=notify' "$SRC/vpcd.service"
check "the socket is root:vpcd 0660" bash -c "grep -qx 'SocketMode=0660' '$SRC/vpcd.socket' && grep -qx 'SocketGroup=vpcd' '$SRC/vpcd.socket'"

mkdir -p "$WORK/root/etc"
: >"$WORK/root/etc/group"
: >"$WORK/root/etc/passwd"
if [[ $EUID -eq 0 ]]; then
  check "sysusers creates group vpcd" \
    bash -c "systemd-sysusers --root='$WORK/root' '$SRC/vpcd.sysusers' && grep -q '^vpcd:' '$WORK/root/etc/group'"
fi
check "tmpfiles makes the state dir 0700 and the socket dir" \
  bash -c "systemd-tmpfiles --root='$WORK/root' --create '$SRC/vpcd.tmpfiles' &&
           [[ \$(stat -c %a '$WORK/root/var/lib/vpcd') == 700 && -d '$WORK/root/run/vpcd' ]]"
# The example config, pointed at scratch paths, brings a (dry-run) vpcd up.
sed "s|/var/lib/vpcd|$WORK/state|; s|/run/vpcd/vpcd.sock|$WORK/v.sock|" "$SRC/vpcd.json" >"$WORK/vpcd.json"
"$BIN/vpcd" --config "$WORK/vpcd.json" --dry-run >"$WORK/log" 2>&1 &
PID=$!
check "the example config is accepted by vpcd" wait_until 10 curl -sf --unix-socket "$WORK/v.sock" http://vpcd/v1/health
finish
