#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""fabric_probe.py: what a flow sees across scripts/fabric.sh's fabric,
from a host namespace, with kernel UDP sockets -- a helper of
test_fabric.sh, not a prober.

  fabric_probe.py paths DST SPORT0 N     for N flows (source ports SPORT0..,
                                          destination port 7), the hop at TTL 2:
                                          "sport hop" lines
  fabric_probe.py loss DST SPORT0 N K    K datagrams per flow to DST's UDP
                                          echo (port 7, fabric_probe.py echo);
                                          "sport sent received" lines
  fabric_probe.py echo [PORT]            a UDP echo server (runs until killed)

TTL-limited datagrams come back as ICMP Time Exceeded on the socket's error
queue (IP_RECVERR), which names the router that answered.
"""
import select
import socket
import struct
import sys
import time

IP_RECVERR = 11
SO_EE_ORIGIN_ICMP = 2


def hop(dst, sport, ttl, dport=7):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", sport))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
    s.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
    try:
        p = select.poll()
        p.register(s, select.POLLERR)
        for _ in range(3):
            try:
                s.sendto(b"pmesh-fabric-probe", (dst, dport))
            except OSError:
                pass		# an earlier error reported here; read the queue
            end = time.monotonic() + 0.5
            while time.monotonic() < end:
                if not p.poll(max(1, int((end - time.monotonic()) * 1000))):
                    break
                try:
                    _, anc, _, _ = s.recvmsg(512, 512, socket.MSG_ERRQUEUE)
                except BlockingIOError:
                    break
                for lvl, typ, data in anc:
                    if lvl == socket.IPPROTO_IP and typ == IP_RECVERR:
                        # struct sock_extended_err, then the offender's sockaddr_in
                        origin = data[4]
                        if origin == SO_EE_ORIGIN_ICMP and len(data) >= 16 + 8:
                            return socket.inet_ntoa(data[16 + 4:16 + 8])
        return "*"
    finally:
        s.close()


def paths(dst, sport0, n):
    for i in range(n):
        print(sport0 + i, hop(dst, sport0 + i, 2), flush=True)


def loss(dst, sport0, n, k):
    socks = []
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("0.0.0.0", sport0 + i))
        s.setblocking(False)
        socks.append(s)
    got = [0] * n
    for j in range(k):
        for i, s in enumerate(socks):
            s.sendto(struct.pack("!II", i, j), (dst, 7))
        time.sleep(0.002)
        for i, s in enumerate(socks):
            try:
                while True:
                    s.recv(64)
                    got[i] += 1
            except BlockingIOError:
                pass
    end = time.monotonic() + 0.5
    while time.monotonic() < end:
        r, _, _ = select.select(socks, [], [], end - time.monotonic())
        if not r:
            break
        for s in r:
            try:
                while True:
                    s.recv(64)
                    got[socks.index(s)] += 1
            except BlockingIOError:
                pass
    for i in range(n):
        print(sport0 + i, k, got[i], flush=True)


def echo(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    while True:
        data, peer = s.recvfrom(2048)
        s.sendto(data, peer)


def main(argv):
    if len(argv) >= 5 and argv[1] == "paths":
        paths(argv[2], int(argv[3]), int(argv[4]))
    elif len(argv) >= 6 and argv[1] == "loss":
        loss(argv[2], int(argv[3]), int(argv[4]), int(argv[5]))
    elif len(argv) >= 2 and argv[1] == "echo":
        echo(int(argv[2]) if len(argv) > 2 else 7)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
