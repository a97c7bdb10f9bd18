"""Replays API requests over one keep-alive connection to vpcd's socket, as
a client library would, and prints the milliseconds from the first request
to the last 2xx answer. Stdin: one request per line, "METHOD PATH [JSON]".
Exits 1 at the first answer that is not 2xx.

  api_client.py SOCKET < requests"""
import http.client
import socket
import sys
import time


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("vpcd")
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


requests = [line.rstrip("\n").split(" ", 2) for line in sys.stdin if line.strip()]
conn = UnixConnection(sys.argv[1])
start = time.monotonic()
for method, path, *body in requests:
    headers = {"Content-Type": "application/json"} if body else {}
    conn.request(method, path, body=body[0] if body else None, headers=headers)
    answer = conn.getresponse()
    data = answer.read()
    if not 200 <= answer.status < 300:
        sys.exit(f"{method} {path}: {answer.status} {data.decode(errors='replace')}")
print(f"{(time.monotonic() - start) * 1000:.1f}")
