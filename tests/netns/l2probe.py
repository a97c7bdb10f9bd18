"""Raw Ethernet frames for the isolation tests, with any source MAC and IP.

  l2probe.py recv IFACE SECONDS READYFILE  counts the UDP frames per marker
      that arrive on IFACE until a frame marked "done" (or SECONDS pass);
      writes READYFILE once listening; prints "marker count" lines. Frames
      of one path arrive in order, so after "done" nothing earlier is due.
  l2probe.py send IFACE SRC_MAC DST_MAC SRC_IP DST_IP MARKER COUNT
"""
import socket
import struct
import sys
import time
from collections import Counter

ETH_P_ALL = 0x0003


def checksum(data):
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    return ~(total + (total >> 16)) & 0xFFFF


def frame(src_mac, dst_mac, src_ip, dst_ip, marker):
    payload = marker.encode()
    udp = struct.pack("!HHHH", 40000, 40000, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                     socket.inet_aton(src_ip), socket.inet_aton(dst_ip))
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    mac = lambda m: bytes.fromhex(m.replace(":", ""))
    return mac(dst_mac) + mac(src_mac) + b"\x08\x00" + ip + udp


def recv(iface, seconds, ready):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((iface, 0))
    s.settimeout(0.2)
    open(ready, "w").close()
    counts = Counter()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            data, addr = s.recvfrom(65535)
        except socket.timeout:
            continue
        if addr[2] == socket.PACKET_OUTGOING or len(data) < 42 or data[12:14] != b"\x08\x00":
            continue
        if data[23] == 17:  # UDP: the payload is the marker
            marker = data[42:].decode(errors="replace")
            if marker == "done":
                break
            counts[marker] += 1
    for marker, n in sorted(counts.items()):
        print(marker, n)


def send(iface, src_mac, dst_mac, src_ip, dst_ip, marker, count):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    for _ in range(int(count)):
        s.send(frame(src_mac, dst_mac, src_ip, dst_ip, marker))


if __name__ == "__main__":
    if sys.argv[1] == "recv":
        recv(sys.argv[2], float(sys.argv[3]), sys.argv[4])
    else:
        send(*sys.argv[2:])
