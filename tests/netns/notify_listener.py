"""A stand-in for systemd's notification socket: records every sd_notify
datagram, and at READY=1 asks the API at once whether it answers.

  notify_listener.py NOTIFY_SOCKET API_SOCKET LOG
Ends at STOPPING=1 or after 60 s."""
import socket
import sys
import time

notify_path, api_path, log_path = sys.argv[1:4]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(notify_path)
s.settimeout(0.5)
deadline = time.monotonic() + 60
with open(log_path, "w", buffering=1) as log:
    while time.monotonic() < deadline:
        try:
            message = s.recv(4096).decode()
        except socket.timeout:
            continue
        for line in message.split("\n"):
            log.write(line + "\n")
        if "READY=1" in message.split("\n"):
            api = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                api.connect(api_path)
                api.sendall(b"GET /v1/health HTTP/1.1\r\nHost: vpcd\r\nConnection: close\r\n\r\n")
                log.write("health after READY: " + api.recv(64).decode().split("\r\n")[0] + "\n")
            except OSError as e:
                log.write(f"health after READY: {e}\n")
        if "STOPPING=1" in message.split("\n"):
            break
