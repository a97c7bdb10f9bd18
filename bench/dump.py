"""The restart row's yardstick: one full dump of what vpcd owns, as fast as
a program can ask for it. In the host and every namespace of the netns
directory whose name starts with "vpc-": links, addresses, routes and rules
(rtnetlink), nftables tables, chains, rules, sets and every set's elements.
Replies are read whole but not decoded. Prints the milliseconds it took
(after Python started) and the number of messages.

  dump.py NETNS_DIR"""
import ctypes
import os
import socket
import struct
import sys
import time

CLONE_NEWNET = 0x40000000
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
RTM = {"link": (18, 16), "addr": (22, 8), "route": (26, 12), "rule": (34, 12)}
NFT = 10 << 8  # NFNL_SUBSYS_NFTABLES
NFT_GETTABLE, NFT_GETCHAIN, NFT_GETRULE, NFT_GETSET, NFT_GETSETELEM = 1, 4, 7, 10, 13
libc = ctypes.CDLL("libc.so.6", use_errno=True)


def attr(kind, text):
    data = text.encode() + b"\0"
    pad = (4 - len(data) % 4) % 4
    return struct.pack("=HH", 4 + len(data), kind) + data + b"\0" * pad


def dump(sock, msg_type, payload):
    sock.send(struct.pack("=IHHII", 16 + len(payload), msg_type, NLM_F_REQUEST | NLM_F_DUMP,
                          1, 0) + payload)
    messages = []
    while True:
        data = sock.recv(1 << 20)
        off = 0
        while off + 16 <= len(data):
            length, kind = struct.unpack_from("=IH", data, off)
            if kind in (NLMSG_DONE, NLMSG_ERROR):
                return messages
            messages.append(data[off:off + length])
            off += (length + 3) & ~3


def sets_of(messages):
    """(family, table, set) of each NFT_MSG_NEWSET message."""
    out = []
    for m in messages:
        family = m[16]
        fields, off = {}, 20
        while off + 4 <= len(m):
            length, kind = struct.unpack_from("=HH", m, off)
            if length < 4:
                break
            fields[kind & 0x7fff] = m[off + 4:off + length].rstrip(b"\0")
            off += (length + 3) & ~3
        out.append((family, fields.get(1, b"").decode(), fields.get(2, b"").decode()))
    return out


def dump_namespace():
    count = 0
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0) as rt:
        for kind, size in RTM.values():
            count += len(dump(rt, kind, b"\0" * size))
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12) as nf:
        unspec = struct.pack("=BBH", 0, 0, 0)
        for kind in (NFT_GETTABLE, NFT_GETCHAIN, NFT_GETRULE):
            count += len(dump(nf, NFT | kind, unspec))
        sets = dump(nf, NFT | NFT_GETSET, unspec)
        count += len(sets)
        for family, table, name in sets_of(sets):
            count += len(dump(nf, NFT | NFT_GETSETELEM,
                              struct.pack("=BBH", family, 0, 0) + attr(1, table) + attr(2, name)))
    return count


netns_dir = sys.argv[1]
names = sorted(n for n in os.listdir(netns_dir) if n.startswith("vpc-"))
start = time.monotonic()
home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
count = dump_namespace()
for name in names:
    fd = os.open(os.path.join(netns_dir, name), os.O_RDONLY)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        sys.exit(f"setns {name}: {os.strerror(ctypes.get_errno())}")
    os.close(fd)
    count += dump_namespace()
libc.setns(home, CLONE_NEWNET)
print(f"{(time.monotonic() - start) * 1000:.1f} {count}")
