#!/usr/bin/env python3
"""A minimal, independent TWAMP-Light / STAMP stateless reflector (stdlib only).

Written from RFC 5357 (TWAMP-Light, unauthenticated) and RFC 8762 4.3 to
check that pmesh's prober works with reflectors that are not pmesh's own:
  - timestamps in NTP format (Z bit clear), as TWAMP-Light reflectors send;
  - bytes 14-15 zero (MBZ): the Session-Sender Identifier is not echoed;
  - the reply as long as the request, padding zeroed (RFC 5357 4.2.1).
Usage: twamp_light_reflector.py IP PORT   (prints "listening" when bound,
and on SIGINT/SIGTERM "reflected N" before exiting 0).
"""
import signal
import socket
import struct
import sys
import time

NTP_EPOCH_OFFSET = 2208988800


def ntp_now():
    ns = time.time_ns()
    sec = ns // 1_000_000_000 + NTP_EPOCH_OFFSET
    frac = ((ns % 1_000_000_000) << 32) // 1_000_000_000
    return (sec << 32) | frac


def main():
    ip, port = sys.argv[1], int(sys.argv[2])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ip, port))
    IP_RECVTTL = getattr(socket, "IP_RECVTTL", 12)  # Linux value
    s.setsockopt(socket.IPPROTO_IP, IP_RECVTTL, 1)
    count = 0
    stop = []

    def on_signal(signum, frame):
        stop.append(signum)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    s.settimeout(0.2)
    print("listening", flush=True)
    seq = 0
    while not stop:
        try:
            data, anc, _, peer = s.recvmsg(65535, socket.CMSG_SPACE(4))
        except socket.timeout:
            continue
        except InterruptedError:
            continue
        t2 = ntp_now()
        if len(data) < 44:
            continue
        ttl = 255
        for level, kind, val in anc:
            if level == socket.IPPROTO_IP and kind == socket.IP_TTL:  # 2
                ttl = struct.unpack("i", val[:4])[0]
        s_seq, s_ts, s_ee = struct.unpack_from("!IQH", data, 0)
        # Z clear: NTP; S clear; multiplier 1, scale 20 (~244 us): honest
        # enough for a Python reflector.
        ee = (20 << 8) | 1
        body = struct.pack("!IQHHQIQHHB3x", seq, 0, ee, 0, t2, s_seq, s_ts,
                           s_ee, 0, ttl)
        reply = bytearray(body + bytes(len(data) - len(body)))
        struct.pack_into("!Q", reply, 4, ntp_now())
        s.sendto(reply, peer)
        seq = (seq + 1) & 0xFFFFFFFF
        count += 1
    print(f"reflected {count}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
