#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/).

Each seed is the target's selector byte and an input: the repository's own
examples (labs, policies) and hand-made requests, state files, config files
and kernel messages, so that every parser starts from something it accepts.
Run it again after adding examples; the files it writes are committed.
Inputs of past findings live beside them as regression-* files and are kept.
"""
import json
import pathlib
import random
import struct
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "fuzz" / "corpus"


def put(target, name, data):
    d = OUT / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


def labs():
    for f in sorted((ROOT / "labs").glob("*.yaml")):
        yield f.stem, json.dumps(yaml.safe_load(f.read_text()))


def policies():
    for f in sorted((ROOT / "policies" / "examples").glob("*.json")):
        yield f.stem, f.read_text()


# --- bodies: selector % 7 picks the JSON parser; 0xf0.. filter, 0xf8.. batch
VPC = '{"name": "prod", "cidr": "10.10.0.0/16", "mtu": 1500}'
SUBNET = '{"name": "web", "cidr": "10.10.1.0/24", "type": "public"}'
PEERING = ('{"name": "p", "vpc": "prod", "peer_vpc": "shared",'
           ' "allowed_cidrs": {"prod": ["10.10.1.0/24"]}}')
INSTANCE = ('{"name": "api", "nics": [{"subnet": "prod/web"}, {"subnet": "prod/db",'
            ' "ip": "10.10.2.10"}], "command": ["python3", "-m", "http.server"],'
            ' "labels": {"role": "api"}, "tags": ["web"]}')
NIC = '{"subnet": "prod/web", "ip": "10.10.1.9", "primary": true}'
FILTERS = ['(name eq ".*\\bnet-1\\b.*")(mtu eq 1460)', 'name ne "x.*"',
           '(routingConfig.routingMode eq REGIONAL)', '(subnetworks eq "a")']
BATCH = ('multipart/mixed; boundary="===b=="\n--===b==\nContent-Type: application/http\n'
         'Content-ID: <r1>\n\nGET /compute/v1/projects/p/zones/us-central1-a HTTP/1.1\n\n'
         '\n--===b==--\n')


def bodies():
    for i, body in enumerate([VPC, SUBNET, PEERING]):
        put("bodies", f"json-{i}", bytes([i]) + body.encode())
    for name, text in policies():
        put("bodies", f"policy-{name}", bytes([3]) + text.encode())
    put("bodies", "instance", bytes([4]) + INSTANCE.encode())
    put("bodies", "nic", bytes([5]) + NIC.encode())
    for name, text in labs():
        put("bodies", f"lab-{name}", bytes([6]) + text.encode())
    for i, f in enumerate(FILTERS):
        put("bodies", f"filter-{i}", bytes([0xf0]) + f.encode())
    put("bodies", "batch", bytes([0xf8]) + BATCH.encode())


# --- http_api: selector bit 0 = token client, then the raw request
def request(method, target, body="", ctype="application/json"):
    head = f"{method} {target} HTTP/1.1\r\nHost: vpcd\r\n"
    if body:
        head += f"Content-Type: {ctype}\r\nContent-Length: {len(body.encode())}\r\n"
    return (head + "\r\n" + body).encode()


def http_api():
    reqs = {
        "vpc": request("POST", "/v1/vpcs", VPC),
        "subnet": request("POST", "/v1/vpcs/prod/subnets", SUBNET),
        "peering": request("POST", "/v1/peerings", PEERING),
        "instance": request("POST", "/v1/instances", INSTANCE),
        "list": request("GET", "/v1/vpcs?limit=5"),
        "status": request("GET", "/v1/status"),
        "plan": request("GET", "/v1/plan"),
        "reach": request("POST", "/v1/reachability",
                         '{"from": "prod/web", "to": "prod/db", "port": 80, "proto": "tcp"}'),
        "gce-zones": request("GET", "/compute/v1/projects/p/zones?filter=name%20eq%20us.*"),
        "gce-agg": request("GET", "/compute/v1/projects/p/aggregated/machineTypes?maxResults=3"),
        "gce-batch": request("POST", "/batch/compute/v1", BATCH.split("\n", 1)[1],
                             BATCH.split("\n", 1)[0]),
    }
    for name, text in policies():
        reqs[f"policy-{name}"] = request("PUT", f"/v1/policies/{name}", text)
    for name, text in labs():
        reqs[f"lab-{name}"] = request("PUT", f"/v1/labs/{name}", text)
        reqs[f"lab-plan-{name}"] = request("PUT", f"/v1/labs/{name}?dry_run=1", text)
    for i, (name, data) in enumerate(sorted(reqs.items())):
        put("http_api", name, bytes([i & 1]) + data)


# --- files: selector % 10: 0-5 state files by kind, 6 config, 7 roles, 8 port forward,
# 9 impairment
def state(kind, body):
    return json.dumps({"schema_version": 2, "kind": kind, kind: body}).encode()


def files():
    seeds = {
        "vpc": (0, state("vpc", {"name": "a", "cidr": "10.0.0.0/16", "transit_index": 3,
                                 "mtu": 1500})),
        "subnet": (1, state("subnet", {"name": "s", "cidr": "10.0.1.0/24",
                                       "type": "private", "index": 0})),
        "peering": (2, state("peering", {"name": "p", "vpc": "a", "peer_vpc": "b",
                                         "state": "active", "index": 0})),
        "policy": (3, state("policy", json.loads(next(policies())[1]))),
        "instance": (4, state("instance", {"name": "i", "status": "running",
                                           "nics": [{"subnet": "a/s", "ip": "10.0.1.5"}]})),
        "lab": (5, state("lab", {"name": "l", "document": {}})),
        "config": (6, json.dumps({"socket": "/run/vpcd.sock", "uplink": "eth0",
                                  "transit_pool": "169.254.64.0/18", "log_level": "info",
                                  "dns_upstreams": ["192.0.2.53"], "listen": "127.0.0.1:8080",
                                  "api_timeout_s": 30}).encode()),
        "roles": (7, json.dumps({"users": {"alice": ["vpc:read", "subnet:*@blue"]},
                                 "groups": {"ops": ["*"]}}).encode()),
        "port-forward": (8, state("port_forward", {
            "name": "f", "protocol": "tcp", "listen_port": 8080, "listen_address": "192.0.2.7",
            "target": "api/eth1", "target_port": 80, "vpc": "a", "subnet": "s",
            "target_ip": "10.0.1.5", "created_at": 1, "instance": {"name": "api", "nic": "eth1"},
            "lab": "l"})),
        "impairment": (9, state("impairment", {
            "name": "i", "target": "a/s", "direction": "in", "delay_ms": 2.5, "jitter_ms": 1,
            "loss_percent": 5, "rate_kbit": 512, "enabled": True, "duration_s": 60,
            "resolved": {"kind": "subnet", "vpc": "a", "subnet": "s", "instance": "", "nic": "",
                         "peering": "", "peer_vpc": ""},
            "enabled_at": 1, "created_at": 1, "lab": "l"})),
    }
    for name, (sel, data) in seeds.items():
        put("files", name, bytes([sel]) + data)


# --- kernel_replies: 0 extended ack, 1 NFLOG datagram, 2 nftables objects,
# 3 conntrack messages
def attr(t, payload):
    n = 4 + len(payload)
    return struct.pack("=HH", n, t) + payload + b"\0" * ((4 - n % 4) % 4)


def s(text):
    return text.encode() + b"\0"


def msg(mtype, flags, payload):
    return struct.pack("=IHHII", 16 + len(payload), mtype, flags, 1, 0) + payload


NFGEN = struct.pack("=BBH", 2, 0, 0)  # AF_INET, version 0, res_id


def kernel_replies():
    inner = struct.pack("=IHHII", 40, 16, 5, 7, 0)
    err = struct.pack("=i", -17) + inner + attr(1, s("File exists"))
    put("kernel_replies", "extack", bytes([0]) + msg(2, 0x300, err))
    ip = bytes([0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 10, 10, 2, 2, 10, 10, 1, 2])
    tcp = struct.pack(">HH", 40112, 22) + b"\0" * 16
    log = NFGEN + attr(10, s("vpcd deny ")) + attr(9, ip + tcp)
    put("kernel_replies", "nflog", bytes([1]) + msg(0x400, 0, log) * 2)
    # A connection's end (IPCTNL_MSG_CT_DELETE), with its tuples, counters
    # and id, then the end of a dump.
    def nested(t, payload):
        return attr(t | 0x8000, payload)

    def tuple_(t, src, dst, sp, dp):
        ips = nested(1, attr(1, bytes(src)) + attr(2, bytes(dst)))
        proto = nested(2, attr(1, bytes([6])) + attr(2, struct.pack(">H", sp))
                       + attr(3, struct.pack(">H", dp)))
        return nested(t, ips + proto)
    counters = lambda t, p, b: nested(t, attr(1, struct.pack(">Q", p)) + attr(2, struct.pack(">Q", b)))
    ct = (NFGEN + tuple_(1, [10, 10, 1, 2], [10, 10, 2, 2], 40000, 8080)
          + tuple_(2, [10, 10, 2, 2], [10, 10, 1, 2], 8080, 40000)
          + counters(9, 6, 398) + counters(10, 4, 1200) + attr(12, struct.pack(">I", 77)))
    put("kernel_replies", "conntrack", bytes([3]) + msg(0x102, 0, ct) + msg(3, 2, b"\0" * 4))
    # An nftables dump the kernel flagged interrupted (NLM_F_MULTI |
    # NLM_F_DUMP_INTR), then its end: the reading of a reply buffer (0xff).
    put("kernel_replies", "replies-dump-intr",
        bytes([0xff]) + msg(0x0a00, 0x12, b"\0" * 4) + msg(3, 2, b"\0" * 4))
    # The nftables objects are drawn from the bytes after the selector (2):
    # any bytes make an object, so a few fixed random streams seed them.
    rng = random.Random(7)
    for i in range(4):
        put("kernel_replies", f"nft-{i}", bytes([2]) + bytes(rng.randrange(256)
                                                            for _ in range(64 + 64 * i)))

if __name__ == "__main__":
    for f in OUT.glob("*/*"):
        if not f.name.startswith("regression-"):
            f.unlink()
    bodies()
    http_api()
    files()
    kernel_replies()
    print(f"seeds written under {OUT}", file=sys.stderr)
