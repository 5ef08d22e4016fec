#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""A small, independent STAMP Session-Sender for tests (stdlib only).

It shares no code with pmesh, so a layout mistake in lib/wire.c cannot hide
itself by being made twice.  Probe mode sends N unauthenticated STAMP
packets (RFC 8762 4.2.1, SSID per RFC 8972, Extra Padding TLV when larger
than 44 bytes) from one socket, keeps at most --window of them outstanding,
and checks every reply against RFC 8762 4.3.1: sequence numbers, t1, error
estimate, SSID and TTL echoed, t2 <= t3, reflector timestamps in PTP format
near now, same length as the request, TLVs copied with the right flags.
Garbage mode sends malformed datagrams and checks that nothing coming back
is ever larger than what was sent.

Prints one JSON summary line on stdout; exits 1 on any layout error (and,
with --require-all, on any missing reply), 2 on usage errors.
"""
import argparse
import json
import os
import random
import select
import socket
import struct
import sys
import time

BASE_LEN = 44
TLV_PADDING = 1
TLV_F_U = 0x80
TLV_F_M = 0x40
EE_S = 0x8000
EE_Z = 0x4000
UNKNOWN_TLV_TYPE = 200      # unassigned: a reflector must flag it U


def ptp_from_ns(ns):
    return ((ns // 1000000000) & 0xffffffff) << 32 | (ns % 1000000000)


def ptp_to_ns(v):
    return (v >> 32) * 1000000000 + (v & 0xffffffff)


def ntp_to_ns(v):
    return ((v >> 32) - 2208988800) * 1000000000 + \
        ((v & 0xffffffff) * 1000000000 >> 32)


def build_probe(seq, size, ssid, ee, unknown_tlv):
    """A sender packet of exactly `size` bytes and the t1 it carries."""
    t1 = ptp_from_ns(time.time_ns())
    pkt = bytearray(struct.pack("!IQHH", seq, t1, ee, ssid))
    pkt += bytes(BASE_LEN - len(pkt))           # MBZ
    rest = size - BASE_LEN
    if unknown_tlv and rest >= 8:
        # A 4-byte unknown TLV ahead of the padding.
        pkt += struct.pack("!BBH", 0, UNKNOWN_TLV_TYPE, 4) + b"\xa5" * 4
        rest -= 8
    if rest >= 4:
        pad = rest - 4
        pkt += struct.pack("!BBH", 0, TLV_PADDING, pad)
        pkt += bytes((i * 7 + seq) & 0xff for i in range(pad))
    return bytes(pkt), t1


def check_reply(rep, req, seq, t1, ee, ssid, ttl, now_ns, max_skew_ns):
    """List of problems with reply `rep` to request `req` (empty: good)."""
    errs = []
    if len(rep) != len(req):
        errs.append("length %d, request %d" % (len(rep), len(req)))
    if len(rep) < BASE_LEN:
        return errs + ["reply shorter than 44 bytes"], (0, 0)
    (r_seq, t3, r_ee, r_ssid, t2, s_seq, s_ts, s_ee, mbz1, s_ttl) = \
        struct.unpack("!IQHHQIQHHB", rep[:41])
    mbz2 = rep[41:44]
    if r_seq != seq:
        errs.append("reflector seq %d, sender seq %d (stateless)" % (r_seq, seq))
    if s_seq != seq:
        errs.append("sender seq echoed %d, sent %d" % (s_seq, seq))
    if s_ts != t1:
        errs.append("t1 echoed %#x, sent %#x" % (s_ts, t1))
    if s_ee != ee:
        errs.append("sender ee echoed %#x, sent %#x" % (s_ee, ee))
    if r_ssid != ssid:
        errs.append("ssid %d, sent %d" % (r_ssid, ssid))
    if ttl is not None and s_ttl != ttl:
        errs.append("sender TTL %d, expected %d" % (s_ttl, ttl))
    if mbz1 != 0 or mbz2 != b"\0\0\0":
        errs.append("MBZ bytes not zero")
    if (r_ee & 0xff) == 0:
        errs.append("error estimate multiplier 0 (RFC 4656 forbids)")
    if not r_ee & EE_Z:
        errs.append("reflector ee %#x: Z clear (NTP format)" % r_ee)
        t2n, t3n = ntp_to_ns(t2), ntp_to_ns(t3)
    else:
        t2n, t3n = ptp_to_ns(t2), ptp_to_ns(t3)
    if t2n > t3n:
        errs.append("t2 %d > t3 %d" % (t2n, t3n))
    for name, v in (("t2", t2n), ("t3", t3n)):
        if abs(v - now_ns) > max_skew_ns:
            errs.append("%s %d is %.3f s from now" % (name, v,
                                                      (v - now_ns) / 1e9))
    # TLVs: same bytes as sent, except the flags the reflector sets.
    off = BASE_LEN
    while off + 4 <= len(req) and off + 4 <= len(rep):
        q_flags, q_type, q_len = struct.unpack("!BBH", req[off:off + 4])
        p_flags, p_type, p_len = struct.unpack("!BBH", rep[off:off + 4])
        if (p_type, p_len) != (q_type, q_len):
            errs.append("TLV at %d: type/len %d/%d, sent %d/%d" %
                        (off, p_type, p_len, q_type, q_len))
            break
        want_u = q_type != TLV_PADDING
        if bool(p_flags & TLV_F_U) != want_u:
            errs.append("TLV type %d: U flag %s" %
                        (q_type, "missing" if want_u else "set"))
        if p_flags & TLV_F_M:
            errs.append("TLV type %d: M flag set on a good TLV" % q_type)
        if rep[off + 4:off + 4 + q_len] != req[off + 4:off + 4 + q_len]:
            errs.append("TLV type %d: value not copied" % q_type)
        off += 4 + q_len
    return errs, (t2n, t3n)


def percentile(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100.0 * len(xs)))]


def run_probes(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, a.ttl)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    if a.tos:
        s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, a.tos)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_RECVTOS, 1)
    if a.bind:
        s.bind((a.bind, 0))
    s.connect((a.host, a.port))
    s.setblocking(False)
    ee = EE_Z | 0x0001          # PTP format, a tiny error bound, unsynced
    outstanding = {}            # seq -> (request bytes, t1, send time)
    sent = received = bad = dup = late = 0
    rtts = []
    refl = []
    errors = []
    seen = set()
    next_seq = 0

    def take_replies(wait_s):
        nonlocal received, bad, dup, late
        r, _, _ = select.select([s], [], [], wait_s)
        if not r:
            return False
        while True:
            try:
                rep, anc, _, _ = s.recvmsg(65536, 64)
            except BlockingIOError:
                return True
            now = time.time_ns()
            rtos = None
            for lvl, typ, data in anc:
                if lvl == socket.IPPROTO_IP and typ == socket.IP_TOS:
                    rtos = data[0]
            if len(rep) < 4:
                bad += 1
                errors.append("reply of %d bytes" % len(rep))
                continue
            seq = struct.unpack("!I", rep[:4])[0]
            if seq in seen:
                dup += 1
                continue
            if seq not in outstanding:
                late += 1       # timed out already, or not ours
                continue
            req, t1, t_send = outstanding.pop(seq)
            seen.add(seq)
            received += 1
            errs, ts = check_reply(rep, req, seq, t1, ee, a.ssid,
                                   None if a.any_ttl else a.ttl, now,
                                   int(a.max_skew_s * 1e9))
            if a.tos and (rtos is None or rtos & 0xfc != a.tos & 0xfc):
                errs.append("reply DSCP %s, sent %#x" % (
                    "?" if rtos is None else "%#x" % (rtos & 0xfc), a.tos))
            if errs:
                bad += 1
                if len(errors) < 10:
                    errors.append("seq %d: %s" % (seq, "; ".join(errs)))
                continue
            rtts.append(time.monotonic_ns() - t_send)
            refl.append(ts[1] - ts[0])

    deadline_per_probe = a.timeout
    while next_seq < a.count or outstanding:
        if next_seq < a.count and (a.window == 0 or
                                   len(outstanding) < a.window):
            req, t1 = build_probe(next_seq, a.size, a.ssid, ee,
                                  a.unknown_tlv)
            outstanding[next_seq] = (req, t1, time.monotonic_ns())
            try:
                s.send(req)
            except OSError as e:
                errors.append("send: %s" % e)
            sent += 1
            next_seq += 1
            take_replies(0)
            continue
        if not take_replies(min(0.05, deadline_per_probe)):
            # Give up on probes older than the timeout.
            now = time.monotonic_ns()
            for seq in [q for q, v in outstanding.items()
                        if now - v[2] > deadline_per_probe * 1e9]:
                del outstanding[seq]
    # Stragglers after the last timeout are late, not lost; one more look.
    take_replies(0.01)

    def us(v):
        return None if v is None else round(v / 1000.0, 1)

    out = {
        "sent": sent, "received": received, "bad": bad, "dup": dup,
        "late": late, "size": a.size,
        "rtt_p50_us": us(percentile(rtts, 50)),
        "rtt_min_us": us(min(rtts) if rtts else None),
        "rtt_max_us": us(max(rtts) if rtts else None),
        "refl_delay_p50_us": us(percentile(refl, 50)),
        "errors": errors,
    }
    print(json.dumps(out))
    if bad or errors:
        return 1
    if a.require_all and received != sent:
        return 1
    return 0


def run_garbage(a):
    """Malformed datagrams: short ones, random bytes, a bad TLV, oversized.
    Whatever comes back must not be larger than what was sent."""
    rnd = random.Random(a.seed)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((a.host, a.port))
    s.setblocking(False)
    cases = [("empty", b""), ("short1", b"\x01"), ("short43", bytes(43))]
    for i in range(a.count):
        n = rnd.randint(44, 300)
        cases.append(("random", bytes(rnd.getrandbits(8) for _ in range(n))))
    # A base packet with a TLV that claims more than the packet holds.
    cases.append(("bad_tlv", bytes(44) + struct.pack("!BBH", 0, 1, 1000) +
                  bytes(16)))
    # Three stray bytes after the base packet: no room for a TLV header.
    cases.append(("tlv_stub", bytes(47)))
    if a.oversize:
        cases.append(("oversize", os.urandom(a.oversize)))
    sent = replies = larger = 0
    maxlen = 0
    for name, data in cases:
        try:
            s.send(data)
        except OSError as e:
            print("garbage %s: send: %s" % (name, e), file=sys.stderr)
            continue
        sent += 1
        maxlen = max(maxlen, len(data))
        r, _, _ = select.select([s], [], [], a.gap)
        while r:
            try:
                rep = s.recv(65536)
            except BlockingIOError:
                break
            replies += 1
            if len(rep) > len(data):
                larger += 1
                print("garbage %s: reply %d bytes > request %d" %
                      (name, len(rep), len(data)), file=sys.stderr)
    print(json.dumps({"garbage_sent": sent, "replies": replies,
                      "larger_replies": larger, "max_request": maxlen}))
    return 1 if larger else 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("target", help="IP:PORT of the reflector")
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--size", type=int, default=44,
                   help="payload bytes: 44, or >= 48 (padding TLV)")
    p.add_argument("--ssid", type=int, default=1)
    p.add_argument("--ttl", type=int, default=64,
                   help="IP TTL we send with, expected back in the reply")
    p.add_argument("--tos", type=lambda v: int(v, 0), default=0,
                   help="IP TOS byte to send with; the reply must carry "
                   "the same DSCP")
    p.add_argument("--bind", default="",
                   help="source address to send from")
    p.add_argument("--any-ttl", action="store_true",
                   help="do not check the echoed TTL (routed paths)")
    p.add_argument("--window", type=int, default=32,
                   help="probes outstanding at most; 0: send back to back")
    p.add_argument("--timeout", type=float, default=1.0,
                   help="seconds to wait for a reply")
    p.add_argument("--max-skew-s", type=float, default=10.0,
                   help="reflector timestamps must be this close to now")
    p.add_argument("--unknown-tlv", action="store_true",
                   help="add an unassigned TLV type (must come back with U)")
    p.add_argument("--require-all", action="store_true",
                   help="exit 1 unless every probe got a reply")
    p.add_argument("--garbage", action="store_true",
                   help="send malformed datagrams instead of probes")
    p.add_argument("--oversize", type=int, default=0,
                   help="garbage mode: also send one datagram this big")
    p.add_argument("--gap", type=float, default=0.02,
                   help="garbage mode: seconds to wait for a reply each")
    p.add_argument("--seed", type=int, default=862)
    a = p.parse_args()
    host, _, port = a.target.rpartition(":")
    if not host or not port.isdigit():
        p.error("target must be IP:PORT")
    a.host, a.port = host, int(port)
    if a.size < BASE_LEN or BASE_LEN < a.size < BASE_LEN + 4 or a.size > 9000:
        p.error("--size: 44, or 48..9000")
    if a.unknown_tlv and a.size < BASE_LEN + 12:
        p.error("--unknown-tlv needs --size >= 56")
    if not 0 <= a.ssid <= 0xffff:
        p.error("--ssid: 0..65535")
    return run_garbage(a) if a.garbage else run_probes(a)


if __name__ == "__main__":
    sys.exit(main())
