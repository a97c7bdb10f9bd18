"""Checks a lab file's `expect:` entries with real TCP connections inside
the sandbox: from the source's namespace to the target's address. To a
port forward (`forward/NAME`), from the fake internet (bound to the row's
client address) to the host's listen address and port. A connection that is
accepted or refused (RST) reached the target; one that times out or finds no
route did not.

Usage: lab_expect.py LABFILE SOCKET"""
import json
import socket
import subprocess
import sys

import yaml

lab_file, sock = sys.argv[1], sys.argv[2]
doc = yaml.safe_load(open(lab_file))


def api(path):
    out = subprocess.run(["curl", "-sf", "--unix-socket", sock, "http://vpcd" + path],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


instances = {i["name"]: i for i in api("/v1/instances")["items"]}


def source(ref):
    """(namespace, address to bind or None)"""
    name, _, nic = ref.partition("/")
    if name in instances and (not nic or nic.startswith("eth")):
        addr = None
        if nic:
            addr = next(n["ip"] for n in instances[name]["nics"] if n["name"] == nic)
        return "vm-" + name, addr
    vpc, _, subnet = ref.partition("/")
    return "vpc-%s.%s" % (vpc, subnet), None


def target(ref):
    try:
        socket.inet_aton(ref)
        return ref
    except OSError:
        pass
    name, _, nic = ref.partition("/")
    if name in instances:
        nics = instances[name]["nics"]
        return next(n["ip"] for n in nics if n["name"] == (nic or "eth0"))
    vpc, _, subnet = ref.partition("/")
    return api("/v1/vpcs/%s/subnets/%s" % (vpc, subnet))["address"]


def published(name):
    """(address, port) a port forward listens on: its own address, else the uplink's."""
    f = api("/v1/port-forwards/" + name)
    if f["listen_address"]:
        return f["listen_address"], f["listen_port"]
    uplink = api("/v1/status")["uplink"]
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "dev", uplink], check=True,
                         capture_output=True, text=True).stdout
    return out.split()[3].split("/")[0], f["listen_port"]


PROBE = """
import errno, socket, sys
s = socket.socket()
s.settimeout(2)
if sys.argv[3] != "-":
    s.bind((sys.argv[3], 0))
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
    print("reached")
except ConnectionRefusedError:
    print("reached")
except OSError as e:
    print("blocked: %s" % (e.strerror or "timed out"))
"""

failed = 0
for e in doc.get("expect", []):
    if e.get("proto", "tcp") != "tcp":
        print("FAIL: %s -> %s: only tcp expectations are checked here" % (e["from"], e["to"]))
        failed += 1
        continue
    if e["to"].startswith("forward/"):
        ns, bind, (addr, port) = "internet", e["from"], published(e["to"][len("forward/"):])
    else:
        ns, bind = source(e["from"])
        addr = target(e["to"])
        port = e.get("port")
    result = subprocess.run(["ip", "netns", "exec", ns, "/usr/bin/python3", "-c", PROBE, addr,
                             str(port), bind or "-"], capture_output=True, text=True).stdout.strip()
    reached = result == "reached"
    what = "%s -> %s (%s:%s)" % (e["from"], e["to"], addr, port)
    if reached == e["reach"]:
        print("ok: %s %s" % (what, "reached" if reached else "blocked, as expected"))
    else:
        print("FAIL: %s: expected %s, got %s" % (what, "reach" if e["reach"] else "blocked",
                                                 result))
        failed += 1
sys.exit(1 if failed else 0)
