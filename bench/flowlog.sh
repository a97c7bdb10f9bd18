#!/usr/bin/env bash
# Row 10 of bench/run: forwarding with flow logs on against off — iperf3 TCP
# throughput and 64-byte UDP datagrams per second between two subnets of a
# VPC, and new TCP connections per second (each one a conntrack entry whose
# end is an event the collector reads), with a flow log of 1 s windows (the
# most work for the collector) switched on and off between runs, alternating
# which goes first. A denied 64-byte UDP flood runs beside every run of the
# UDP row, so that with the log on the drops copied to it compete with
# forwarding (and with it off the same flood is simply dropped).
# Usage: bench/flowlog.sh RUNS
source "$(dirname "$0")/lib.sh"
RUNS=${1:-5}

start_daemon --log-level warning
vpcctl vpc create a --cidr 10.10.0.0/16 >/dev/null
vpcctl subnet create a web --cidr 10.10.1.0/24 --public >/dev/null
vpcctl subnet create a db --cidr 10.10.2.0/24 >/dev/null
# db takes iperf3 and the connection server; anything else to it is dropped.
api PUT /v1/policies/db-in '{"applies_to":["a/db"],"default_ingress":"deny","ingress":[
  {"priority":100,"action":"allow","protocol":"tcp","ports":["5201","8080"]},
  {"priority":110,"action":"allow","protocol":"udp","ports":["5201"]}]}' >/dev/null
api PUT /v1/flow-logs/a '{"target":"a","aggregation_s":1,"enabled":false}' >/dev/null
flow_log() { api PUT /v1/flow-logs/a "{\"target\":\"a\",\"aggregation_s\":1,\"enabled\":$1}" >/dev/null; }

# Connections per second: a client opening and closing TCP connections to
# db:8080 as fast as it can for 2 s, one at a time (closed with a reset, so
# that no port waits in TIME_WAIT: 2 s would use them all).
ip netns exec vpc-a.db python3 -c '
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.10.2.2", 8080))
s.listen(512)
while True:
    c, _ = s.accept()
    c.close()
' &
CHILD_PIDS+=($!)
wait_until 5 ip netns exec vpc-a.db bash -c "ss -ltn | grep -q '10.10.2.2:8080'"
connections() {
  ip netns exec vpc-a.web python3 -c '
import socket, struct, time
end = time.monotonic() + 2
n = 0
while time.monotonic() < end:
    c = socket.create_connection(("10.10.2.2", 8080))
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
    n += 1
print(round(n / 2))
'
}

# A denied flood: 64-byte datagrams to a port the policy drops, for as long
# as the measured run lasts.
flood() {
  ip netns exec vpc-a.web timeout "$((${IPERF_SECONDS:-2} + 1))" python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
while True:
    s.sendto(b"x" * 36, ("10.10.2.2", 9999))
' >/dev/null 2>&1 &
  FLOOD=$!
}

measure() {  # mode -> the figure
  case $1 in
    tcp) iperf vpc-a.web vpc-a.db 10.10.2.2 tcp ;;
    udp)
      flood
      iperf vpc-a.web vpc-a.db 10.10.2.2 udp
      wait "$FLOOD" 2>/dev/null
      ;;
    conn) connections ;;
  esac
}

for mode in tcp udp conn; do
  case $mode in
    tcp) unit="TCP Gbit/s" ;;
    udp) unit="UDP 64 B, datagrams/s" ;;
    conn) unit="TCP connections/s" ;;
  esac
  for i in $(seq "$RUNS"); do
    for side in $( ((i % 2)) && echo "off on" || echo "on off"); do
      flow_log "$([[ $side == on ]] && echo true || echo false)"
      record "flow logs $side: $unit" "$(measure "$mode")"
    done
  done
  ratio "flow logs on / off, $unit" "flow logs on: $unit" "flow logs off: $unit" "≥ 0.90"
done
# What the collector wrote: records exist, so the "on" runs did log.
record "flow records written" "$(grep -vc '^version' "$STATE/flow-records/a.log")"
