"""Concurrent clients on vpcd's API socket: CLIENTS threads, each on its own
keep-alive connection, for SECONDS. Each client owns a few names and cycles
them through create and delete — subnets with adjacent CIDRs in VPCS VPCs,
and (with --instances, --policies) instances and policies on them — so that
what every acknowledged request adds up to is known exactly.

  load_clients.py SOCKET CLIENTS SECONDS VPCS [--instances] [--policies]

Prints one JSON object: requests, statuses by code, the 5xx answers (first
few), latency percentiles (ms), and `expected`: the subnets, instances and
policies that must exist afterwards."""
import http.client
import json
import socket
import sys
import threading
import time


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("vpcd", timeout=60)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(60)
        self.sock.connect(self.path)


class Client:
    def __init__(self, sock, n, vpcs, instances, policies):
        self.conn = UnixConnection(sock)
        self.n, self.vpc = n, f"c{n % vpcs}"
        self.instances, self.policies = instances, policies
        self.latencies, self.codes, self.errors = [], {}, []
        # What exists now, by this client's acknowledged requests.
        self.subnets, self.live_instances, self.live_policies = set(), set(), set()

    def call(self, method, path, body=None):
        data = json.dumps(body) if body is not None else None
        headers = {"Content-Type": "application/json"} if data else {}
        t0 = time.perf_counter()
        self.conn.request(method, path, body=data, headers=headers)
        r = self.conn.getresponse()
        text = r.read().decode()
        self.latencies.append((time.perf_counter() - t0) * 1000)
        self.codes[r.status] = self.codes.get(r.status, 0) + 1
        if r.status >= 500 and len(self.errors) < 5:
            self.errors.append(f"{method} {path} -> {r.status} {text[:300]}")
        return r.status

    def subnet(self, k):
        # Two subnets per client, next to each other and to the neighbours'.
        index = (self.n // 4) * 2 + k
        return f"s{self.n}x{k}", f"10.{self.n % 4 * 16 + index // 256}.{index % 256}.0/24"

    def cycle(self, k):
        name, cidr = self.subnet(k)
        ok = lambda status: status in (200, 201)
        if ok(self.call("POST", f"/v1/vpcs/{self.vpc}/subnets", {"name": name, "cidr": cidr})):
            self.subnets.add(f"{self.vpc}/{name}")
        inst, pol = f"i{self.n}x{k}", f"p{self.n}x{k}"
        if self.instances and ok(self.call("POST", "/v1/instances", {
                "name": inst, "nics": [{"subnet": f"{self.vpc}/{name}"}]})):
            self.live_instances.add(inst)
        if self.policies and ok(self.call("PUT", f"/v1/policies/{pol}", {
                "applies_to": [f"{self.vpc}/{name}"], "default_ingress": "deny",
                "ingress": [{"priority": 100, "action": "allow", "protocol": "tcp",
                             "ports": [str(1000 + self.n)], "sources": ["10.0.0.0/8"]}]})):
            self.live_policies.add(pol)
        # Delete in the order the API requires (policy and NICs before the subnet).
        if pol in self.live_policies and ok(self.call("DELETE", f"/v1/policies/{pol}")):
            self.live_policies.discard(pol)
        if inst in self.live_instances and ok(self.call("DELETE", f"/v1/instances/{inst}")):
            self.live_instances.discard(inst)
        if f"{self.vpc}/{name}" in self.subnets and ok(
                self.call("DELETE", f"/v1/vpcs/{self.vpc}/subnets/{name}")):
            self.subnets.discard(f"{self.vpc}/{name}")

    def run(self, until):
        k = 0
        while time.monotonic() < until:
            self.cycle(k % 2)
            k += 1
        # The last round leaves one subnet standing, so the final state is
        # not simply empty: create it again, acknowledged.
        name, cidr = self.subnet(0)
        if self.call("POST", f"/v1/vpcs/{self.vpc}/subnets", {"name": name, "cidr": cidr}) in (200, 201):
            self.subnets.add(f"{self.vpc}/{name}")


def main():
    sock, clients, seconds, vpcs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
    instances, policies = "--instances" in sys.argv, "--policies" in sys.argv
    pool = [Client(sock, n, vpcs, instances, policies) for n in range(clients)]
    until = time.monotonic() + seconds
    threads = [threading.Thread(target=c.run, args=(until,)) for c in pool]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    latencies = sorted(x for c in pool for x in c.latencies)
    codes = {}
    for c in pool:
        for code, count in c.codes.items():
            codes[str(code)] = codes.get(str(code), 0) + count
    pct = lambda p: round(latencies[min(len(latencies) - 1, int(len(latencies) * p))], 1)
    print(json.dumps({
        "requests": len(latencies),
        "codes": codes,
        "server_errors": [e for c in pool for e in c.errors][:10],
        "latency_ms": {"p50": pct(0.5), "p90": pct(0.9), "p99": pct(0.99), "max": round(latencies[-1], 1)},
        "expected": {
            "subnets": sorted(s for c in pool for s in c.subnets),
            "instances": sorted(i for c in pool for i in c.live_instances),
            "policies": sorted(p for c in pool for p in c.live_policies),
        },
    }))


if __name__ == "__main__":
    main()
