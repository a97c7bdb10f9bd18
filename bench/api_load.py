"""Load on vpcd's API socket: CLIENTS processes, each on one keep-alive
connection, send `GET PATH` back to back for SECONDS. Prints requests per
second over all clients and the p50 and p99 latency in milliseconds.

  api_load.py SOCKET CLIENTS SECONDS PATH"""
import multiprocessing
import socket
import statistics
import sys
import time


def client(path, sock_path, seconds, start_at, out):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock_path)
    request = f"GET {path} HTTP/1.1\r\nHost: vpcd\r\n\r\n".encode()
    latencies = []
    while time.time() < start_at:
        time.sleep(0.001)
    end = start_at + seconds
    buf = b""
    while time.time() < end:
        t0 = time.perf_counter()
        s.sendall(request)
        while b"\r\n\r\n" not in buf:
            buf += s.recv(65536)
        head, _, buf = buf.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise SystemExit(f"answer: {head[:80]!r}")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        while len(buf) < length:
            buf += s.recv(65536)
        buf = buf[length:]
        latencies.append(time.perf_counter() - t0)
    out.put(latencies)


def main():
    sock_path, clients, seconds, path = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    out = multiprocessing.Queue()
    start_at = time.time() + 0.5 + clients * 0.01  # every client connected first
    procs = [multiprocessing.Process(target=client, args=(path, sock_path, seconds, start_at, out))
             for _ in range(clients)]
    for p in procs:
        p.start()
    latencies = []
    for _ in procs:
        latencies += out.get()
    for p in procs:
        p.join()
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(f"{len(latencies) / seconds:.0f} {statistics.median(latencies) * 1000:.3f} {p99 * 1000:.3f}")


if __name__ == "__main__":
    main()
