"""Drives `vpcctl instance console` as a user at a terminal would.

usage: console_drive.py ROWS COLS VPCCTL ARGS... -- SEND EXPECT [SEND EXPECT ...]

Runs vpcctl on a pseudo-terminal of ROWS x COLS, types each SEND followed
by Enter, and waits (5 s each) until the screen shows EXPECT (a regular
expression) in what came after it was typed; then types Ctrl-] and waits
for vpcctl to detach and exit. Prints the transcript; exits 0 only when
every EXPECT was seen and vpcctl exited 0 saying it detached.
"""

import fcntl
import os
import pty
import re
import select
import struct
import sys
import termios
import time


def read_until(fd, pattern, deadline, seen):
    while time.monotonic() < deadline:
        if pattern is not None and re.search(pattern, seen[0]):
            return True
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        try:
            data = os.read(fd, 4096)
        except OSError:
            return pattern is None
        if not data:
            return pattern is None
        seen[0] += data.decode(errors="replace")
    return pattern is not None and re.search(pattern, seen[0]) is not None


def main():
    rows, cols = int(sys.argv[1]), int(sys.argv[2])
    split = sys.argv.index("--")
    command, script = sys.argv[3:split], sys.argv[split + 1 :]
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(command[0], command)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    transcript = [""]
    ok = read_until(fd, r"detach with Ctrl-\]", time.monotonic() + 5, transcript)
    for send, expect in zip(script[0::2], script[1::2]):
        after = [""]
        os.write(fd, send.encode() + b"\r")
        found = read_until(fd, expect, time.monotonic() + 5, after)
        transcript[0] += after[0]
        if not found:
            print(f"not seen after typing {send!r}: {expect!r}")
            ok = False
            break
    os.write(fd, b"\x1d")
    rest = [""]
    read_until(fd, None, time.monotonic() + 5, rest)
    transcript[0] += rest[0]
    _, status = os.waitpid(pid, 0)
    print(transcript[0].replace("\r", ""))
    detached = "Detached from the console" in rest[0]
    if not detached or os.waitstatus_to_exitcode(status) != 0:
        print(f"vpcctl did not detach cleanly (exit {os.waitstatus_to_exitcode(status)})")
        ok = False
    sys.exit(0 if ok else 1)


main()
