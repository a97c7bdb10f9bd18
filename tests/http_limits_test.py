"""What the API's HTTP server takes from a client, against a dry-run vpcd
started with --api-timeout 1 --api-max-connections 4: each limit answered
with the API's JSON error and the connection closed; an idle connection
closed quietly; normal keep-alive requests unaffected.

Usage: http_limits_test.py SOCKET"""
import json
import socket
import sys
import time

SOCK = sys.argv[1]
failures = 0


def check(ok, what):
    global failures
    print(("ok: " if ok else "FAIL: ") + what)
    failures += 0 if ok else 1


def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(SOCK)
    return s


def answer(s):
    """(status, JSON body or None) of one response, read until the server closes
    or the body is complete; (None, None) when it closes with no answer."""
    data = b""
    while True:
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            break
        if not chunk:
            break
        data += chunk
        head, sep, body = data.partition(b"\r\n\r\n")
        if sep:
            length = [int(l.split(b":")[1]) for l in head.split(b"\r\n")
                      if l.lower().startswith(b"content-length:")]
            if length and len(body) >= length[0]:
                break
    if not data:
        return None, None
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    try:
        return status, json.loads(body)
    except ValueError:
        return status, None


def closed(s):
    try:
        return s.recv(1) == b""
    except (ConnectionResetError, socket.timeout):
        return False


def expect_error(request, status, word, what, body_bytes=0):
    s = connect()
    s.sendall(request)
    try:
        if body_bytes:
            s.sendall(b"x" * body_bytes)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server answered and closed before the body was all sent
    got, body = answer(s)
    check(got == status and body and body["error"]["status"] == word and body["error"]["code"] == status,
          "%s: %s %s (got %s %s)" % (what, status, word, got, body))
    check(closed(s), what + ": the connection is closed after it")
    s.close()


# Normal use: two requests on one keep-alive connection.
s = connect()
for _ in range(2):
    s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: vpcd\r\n\r\n")
    status, body = answer(s)
    check(status == 200 and body == {"status": "ok"}, "keep-alive: GET /v1/health answers 200")
s.close()

big = 17 * 1024 * 1024
expect_error(b"PUT /v1/policies/x HTTP/1.1\r\nHost: vpcd\r\nContent-Type: application/json\r\n"
             b"Content-Length: %d\r\n\r\n" % big, 413, "PAYLOAD_TOO_LARGE", "a 17 MiB body",
             body_bytes=big)
expect_error(b"GET /v1/health HTTP/1.1\r\nHost: vpcd\r\nX-Junk: " + b"a" * 20000 + b"\r\n\r\n",
             431, "HEADER_TOO_LARGE", "a 20 KiB header")
expect_error(b"GET /v1/" + b"a" * 9000 + b" HTTP/1.1\r\nHost: vpcd\r\n\r\n", 414, "URI_TOO_LONG",
             "a 9 KiB target")
expect_error(b"HELLO THERE\r\n\r\n", 400, "INVALID_ARGUMENT", "not HTTP")

# Bytes that are not UTF-8 in a body and in a path (found by the fuzz
# targets: the error message quoting them once ended the daemon).
s = connect()
bad = b'{"applies_to": ["\xb5"]}'
s.sendall(b"PUT /v1/policies/x HTTP/1.1\r\nHost: vpcd\r\nContent-Type: application/json\r\n"
          b"Content-Length: %d\r\n\r\n%s" % (len(bad), bad))
status, body = answer(s)
check(status == 400 and body["error"]["field"] == "applies_to[0]",
      "a body that is not UTF-8: 400 naming applies_to[0] (got %s %s)" % (status, body))
s.sendall(b"GET /v1/vpcs/\xff\xfe HTTP/1.1\r\nHost: vpcd\r\n\r\n")
status, body = answer(s)
check(status == 404, "a path that is not UTF-8: 404 on the same connection (got %s)" % status)
s.close()

# A request that never finishes arriving: 408 after the timeout.
start = time.monotonic()
expect_error(b"GET /v1/health HTTP/1.1\r\nHost: vpcd\r\n", 408, "REQUEST_TIMEOUT",
             "a header that never ends")
check(time.monotonic() - start < 4, "... answered within the 1 s timeout (and a margin)")

# An idle connection is closed without an answer.
s = connect()
status, _ = answer(s)
check(status is None, "an idle connection is closed quietly after the timeout")
s.close()

# The connection bound: four idle connections served, the fifth refused.
held = [connect() for _ in range(4)]
s = connect()  # accepted after the four: the listen queue is first come, first served
status, body = answer(s)
check(status == 503 and body["error"]["status"] == "SERVICE_UNAVAILABLE",
      "a fifth connection past the bound of 4: 503 (got %s)" % status)
s.close()
for h in held:
    h.close()
deadline = time.monotonic() + 5
ok = False
while time.monotonic() < deadline and not ok:
    s = connect()
    s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: vpcd\r\n\r\n")
    status, _ = answer(s)
    s.close()
    ok = status == 200
check(ok, "once they close, new connections are served again")
sys.exit(1 if failures else 0)
