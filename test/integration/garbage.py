#!/usr/bin/env python3
"""garbage.py: feed malformed and hostile frames to a pmesh DPDK port.

Used by test_garbage.sh.  Runs in the namespace of the *peer* of a veth
whose other end belongs to a pmesh DPDK process (AF_PACKET port), and sends
raw Ethernet frames into that veth with an AF_PACKET socket, so every byte
of every frame is ours to break: runts, truncated and inconsistent IPv4 and
UDP headers, bad checksums, fragments, other protocols and ethertypes,
VLAN-tagged junk, short STAMP payloads, TLVs that overrun, random bytes and
oversized frames.

Two modes, one per kind of pmesh process under attack:

  prober     The peer is pmesh-prober.  Besides the junk above (shaped as
             replies: from the reflector's address and port 862 to the
             prober's flow ports), the script sniffs the real probes on the
             wire and forges replies to them: echoing the probe's sequence
             number with a wrong timestamp (must be rejected as bad_echo,
             never counted as received, dup or late), with sequence numbers
             the prober never sent (unmatched), and from a port or address
             that is no flow of the prober (unknown_flow).  It needs no
             answer from the prober, apart from ICMP echo replies.

  reflector  The peer is the DPDK pmesh-reflector.  The junk is shaped as
             requests to port 862; interleaved with it go well-formed STAMP
             requests (some with IP options, a zero UDP checksum, or a
             malformed TLV that must come back marked M), ARP requests and
             ICMP echo requests.  Every frame that comes back is checked:
             it must answer one of those valid requests (same length, seq
             and timestamp echoed, addresses swapped); an answer to junk is
             an error.

At the end one JSON object with what was sent and seen goes to stdout; the
shell test compares it with the counters the pmesh process prints.
Exit status 0 unless the script itself failed (the judging is the test's).
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

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
STAMP_PORT = 862
STAMP_LEN = 44
EE_Z = 0x4000


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def _rb(rng, n):
    """n pseudo-random bytes: a failing run can be replayed with --seed."""
    return rng.randbytes(n)


def mac_bytes(mac):
    return bytes(int(x, 16) for x in mac.split(":"))


def ip_bytes(ip):
    return socket.inet_aton(ip)


def eth(dst, src, etype, vlan=None):
    if vlan is not None:
        return dst + src + struct.pack("!HHH", 0x8100, vlan, etype)
    return dst + src + struct.pack("!H", etype)


def ipv4(src, dst, proto, payload, ihl=5, ver=4, tot=None, frag=0x4000,
         ttl=64, bad_csum=False, options=b""):
    """An IPv4 header (+ payload); every field can be made wrong."""
    hlen = 20 + len(options)
    if tot is None:
        tot = hlen + len(payload)
    hdr = struct.pack("!BBHHHBBH4s4s", (ver << 4) | ihl, 0, tot & 0xFFFF,
                      random.getrandbits(16), frag, ttl, proto, 0, src, dst)
    hdr += options
    c = csum(hdr)
    if bad_csum:
        c ^= 0x1234
    hdr = hdr[:10] + struct.pack("!H", c) + hdr[12:]
    return hdr + payload


def udp(src_ip, dst_ip, sport, dport, payload, ulen=None, csum_mode="ok"):
    """A UDP header (+ payload); csum_mode ok, zero or bad."""
    if ulen is None:
        ulen = 8 + len(payload)
    hdr = struct.pack("!HHHH", sport, dport, ulen & 0xFFFF, 0)
    if csum_mode == "zero":
        return hdr + payload
    pseudo = src_ip + dst_ip + struct.pack("!BBH", 0, 17, 8 + len(payload))
    c = csum(pseudo + hdr + payload) or 0xFFFF
    if csum_mode == "bad":
        c = c ^ 0x0F0F or 1
    return hdr[:6] + struct.pack("!H", c) + payload


def stamp_sender(seq, ts, ee=EE_Z, ssid=1, extra=b""):
    return struct.pack("!IQHH", seq, ts, ee, ssid) + bytes(28) + extra


def stamp_reflector(seq, t3, ee, ssid, t2, s_seq, s_ts, s_ee, s_ttl):
    return struct.pack("!IQHHQIQHHB3x", seq, t3, ee, ssid, t2, s_seq, s_ts,
                       s_ee, 0, s_ttl)


def now_ptp():
    ns = time.time_ns()
    return ((ns // 10**9) & 0xFFFFFFFF) << 32 | ns % 10**9


class Wire:
    """The AF_PACKET socket on our veth end."""

    def __init__(self, iface):
        self.s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                               socket.htons(ETH_P_ALL))
        self.s.bind((iface, 0))
        self.s.setblocking(False)
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        self.mac = self.s.getsockname()[4]
        self.sent = 0
        self.send_err = {}

    def send(self, frame):
        for _ in range(100):
            try:
                self.s.send(frame)
                self.sent += 1
                return True
            except BlockingIOError:
                time.sleep(0.0005)
            except OSError as e:
                k = os.strerror(e.errno)
                self.send_err[k] = self.send_err.get(k, 0) + 1
                return False
        self.send_err["EAGAIN"] = self.send_err.get("EAGAIN", 0) + 1
        return False

    def recv_all(self, timeout):
        """Frames that arrived from the peer within timeout seconds."""
        out = []
        r, _, _ = select.select([self.s], [], [], timeout)
        if not r:
            return out
        while True:
            try:
                data, addr = self.s.recvfrom(65535)
            except BlockingIOError:
                return out
            if addr[2] != PACKET_OUTGOING:
                out.append(data)


def junk(kind, rng, dmac, smac, sip, dip, sport, dport):
    """One malformed frame of the given kind, shaped as a STAMP packet
    from (sip, sport) to (dip, dport)."""
    stamp = stamp_sender(rng.getrandbits(32), now_ptp())
    good_udp = udp(sip, dip, sport, dport, stamp)
    head = eth(dmac, smac, 0x0800)
    if kind == "runt":
        # 14..33 bytes: Ethernet header, then less than an IPv4 header.
        n = rng.randint(0, 19)
        return head + bytes(rng.getrandbits(8) for _ in range(n))
    if kind == "vlan_runt":
        return dmac + smac + struct.pack("!H", 0x8100) + bytes(rng.randint(0, 1))
    if kind == "not_ipv4":
        et = rng.choice([0x86DD, 0x88CC, 0x1234, 0x8847, 0x0806 + 1])
        return eth(dmac, smac, et) + _rb(rng, rng.randint(0, 100))
    if kind == "vlan_junk":
        et = rng.choice([0x86DD, 0x0800, 0x9999])
        body = _rb(rng, rng.randint(0, 80))
        if et == 0x0800 and rng.random() < 0.5:
            body = ipv4(sip, dip, 17, good_udp, bad_csum=True)
        return eth(dmac, smac, et, vlan=rng.randint(0, 4095)) + body
    if kind == "bad_version":
        return head + ipv4(sip, dip, 17, good_udp, ver=rng.choice([0, 5, 6, 15]))
    if kind == "bad_ihl":
        return head + ipv4(sip, dip, 17, good_udp, ihl=rng.randint(0, 4))
    if kind == "ihl_overrun":
        # IHL 15 (60 bytes) in a frame that ends before that.
        return head + ipv4(sip, dip, 17, b"", ihl=15)[:rng.randint(20, 40)]
    if kind == "tot_small":
        return head + ipv4(sip, dip, 17, good_udp, tot=rng.randint(0, 19))
    if kind == "tot_big":
        return head + ipv4(sip, dip, 17, good_udp,
                           tot=20 + len(good_udp) + rng.randint(1, 1000))
    if kind == "ip_csum":
        return head + ipv4(sip, dip, 17, good_udp, bad_csum=True)
    if kind == "fragment":
        frag = rng.choice([0x2000, 0x2000 | 3, 0x0001, 0x00FF, 0x1FFF])
        return head + ipv4(sip, dip, 17, good_udp, frag=frag)
    if kind == "not_udp":
        proto = rng.choice([6, 47, 132, 0, 255])
        return head + ipv4(sip, dip, proto, _rb(rng, rng.randint(0, 60)))
    if kind == "icmp_other":
        body = struct.pack("!BBHI", 3, 3, 0, 0) + _rb(rng, 28)
        body = body[:2] + struct.pack("!H", csum(body)) + body[4:]
        return head + ipv4(sip, dip, 1, body)
    if kind == "udp_len_big":
        return head + ipv4(sip, dip, 17, udp(sip, dip, sport, dport, stamp,
                                             ulen=8 + len(stamp) + rng.randint(1, 500)))
    if kind == "udp_len_small":
        return head + ipv4(sip, dip, 17, udp(sip, dip, sport, dport, stamp,
                                             ulen=rng.randint(0, 8 + len(stamp) - 1)))
    if kind == "udp_trunc":
        # IP says 4 bytes of UDP: less than a UDP header.
        return head + ipv4(sip, dip, 17, _rb(rng, 4))
    if kind == "udp_csum":
        return head + ipv4(sip, dip, 17, udp(sip, dip, sport, dport, stamp,
                                             csum_mode="bad"))
    if kind == "short_stamp":
        pl = stamp[:rng.randint(0, STAMP_LEN - 1)]
        return head + ipv4(sip, dip, 17, udp(sip, dip, sport, dport, pl))
    if kind == "not_for_us":
        other = ip_bytes("10.0.0.%d" % rng.randint(100, 200))
        return head + ipv4(sip, other, 17, udp(sip, other, sport, dport, stamp))
    if kind == "random":
        n = rng.randint(14, 1514)
        b = bytearray(_rb(rng, n))
        if rng.random() < 0.5:
            b[0:6] = dmac      # aimed at the port, else any MAC at all
        if rng.random() < 0.5:
            b[12:14] = b"\x08\x00"  # parsed as IPv4 as far as it goes
        return bytes(b)
    if kind == "oversize":
        # A jumbo frame (needs MTU 9000 on the veths): well-formed headers
        # over 8958 bytes of STAMP padding TLV.
        pad = 9000 - 20 - 8 - STAMP_LEN - 4
        extra = struct.pack("!BBH", 0, 1, pad) + bytes(pad)
        big = stamp_sender(rng.getrandbits(32), now_ptp(), extra=extra)
        return head + ipv4(sip, dip, 17, udp(sip, dip, sport, dport, big))
    raise ValueError(kind)


JUNK_KINDS = [
    "runt", "vlan_runt", "not_ipv4", "vlan_junk", "bad_version", "bad_ihl",
    "ihl_overrun", "tot_small", "tot_big", "ip_csum", "fragment", "not_udp",
    "icmp_other", "udp_len_big", "udp_len_small", "udp_trunc", "udp_csum",
    "short_stamp", "not_for_us", "random", "oversize",
]


def udp_csum_ok(data):
    """True when an untagged IPv4/UDP frame's UDP checksum verifies (or is
    0, meaning none)."""
    ihl = (data[14] & 15) * 4
    u = 14 + ihl
    ulen = struct.unpack("!H", data[u + 4:u + 6])[0]
    if struct.unpack("!H", data[u + 6:u + 8])[0] == 0:
        return True
    pseudo = data[26:34] + struct.pack("!BBH", 0, 17, ulen)
    return csum(pseudo + data[u:u + ulen]) == 0


def parse_udp_frame(data):
    """(sip, dip, sport, dport, payload, ip_hdr_len) of an untagged
    IPv4/UDP frame, else None."""
    if len(data) < 42 or data[12:14] != b"\x08\x00":
        return None
    ihl = (data[14] & 15) * 4
    if data[23] != 17 or len(data) < 14 + ihl + 8:
        return None
    tot = struct.unpack("!H", data[16:18])[0]
    u = 14 + ihl
    sport, dport, ulen = struct.unpack("!HHH", data[u:u + 6])
    return (data[26:30], data[30:34], sport, dport,
            data[u + 8:min(14 + tot, u + ulen)], ihl)


def run_prober(a, w, rng):
    """Junk and forged replies toward a pmesh-prober."""
    dmac = mac_bytes(a.dst_mac)
    sip, dip = ip_bytes(a.src_ip), ip_bytes(a.dst_ip)
    st = {"mode": "prober", "junk": {}, "forged": {}, "probes_seen": 0,
          "icmp_echo_sent": 0, "icmp_echo_replies": 0}
    flows = set()
    # Wait for the prober's first probes: they tell us its flow ports.
    deadline = time.time() + a.wait
    while not flows and time.time() < deadline:
        for f in w.recv_all(0.1):
            p = parse_udp_frame(f)
            if p and p[3] == STAMP_PORT and p[0] == dip:
                flows.add(p[2])
    if not flows:
        st["error"] = "no probes seen within %.0f s" % a.wait
        return st
    forge_kinds = ["bad_echo", "future_seq", "past_seq", "wrong_ssid",
                   "wrong_sport", "wrong_src_ip", "zero_ts"]
    fi = 0
    end = time.time() + a.duration
    i = 0
    while time.time() < end:
        # A burst of junk, aimed at one of the prober's flow ports...
        for _ in range(a.burst):
            kind = JUNK_KINDS[i % len(JUNK_KINDS)]
            i += 1
            fp = rng.choice(sorted(flows))
            if w.send(junk(kind, rng, dmac, w.mac, sip, dip, STAMP_PORT, fp)):
                st["junk"][kind] = st["junk"].get(kind, 0) + 1
        # ...a wrong port and a ping, now and then...
        if i % (a.burst * 10) == 0:
            fr = eth(dmac, w.mac, 0x0800) + ipv4(sip, dip, 17, udp(
                sip, dip, STAMP_PORT, rng.randint(1, 49151),
                stamp_sender(1, now_ptp())))
            if w.send(fr):
                st["junk"]["wrong_port"] = st["junk"].get("wrong_port", 0) + 1
            body = struct.pack("!BBHHH", 8, 0, 0, 0x4242, i & 0xFFFF) + b"pmesh-garbage"
            body = body[:2] + struct.pack("!H", csum(body)) + body[4:]
            if w.send(eth(dmac, w.mac, 0x0800) + ipv4(sip, dip, 1, body)):
                st["icmp_echo_sent"] += 1
        # ...then forged replies to the probes seen meanwhile.
        for f in w.recv_all(a.gap):
            p = parse_udp_frame(f)
            if p is None:
                if len(f) > 34 and f[12:14] == b"\x08\x00" and f[23] == 1 and f[34] == 0:
                    st["icmp_echo_replies"] += 1
                continue
            if p[3] != STAMP_PORT or p[0] != dip or len(p[4]) < STAMP_LEN:
                continue
            st["probes_seen"] += 1
            seq, ts, ee, ssid = struct.unpack("!IQHH", p[4][:16])
            kind = forge_kinds[fi % len(forge_kinds)]
            fi += 1
            s_src, s_port, s_seq, s_ts, f_ssid = sip, STAMP_PORT, seq, ts, ssid
            if kind == "bad_echo":
                s_ts = ts ^ 0x5A5A
            elif kind == "future_seq":
                s_seq = (seq + 0x40000000) & 0xFFFFFFFF
            elif kind == "past_seq":
                s_seq = (seq - 0x10000) & 0xFFFFFFFF
            elif kind == "wrong_ssid":
                f_ssid, s_seq = ssid ^ 0x7777, (seq + 0x20000000) & 0xFFFFFFFF
            elif kind == "wrong_sport":
                s_port = STAMP_PORT + 1
            elif kind == "wrong_src_ip":
                s_src = ip_bytes("10.0.0.3")
            elif kind == "zero_ts":
                s_ts = 0
            t = now_ptp()
            body = stamp_reflector(seq, t, EE_Z, f_ssid, t, s_seq, s_ts, ee, 64)
            fr = eth(dmac, w.mac, 0x0800) + ipv4(s_src, dip, 17, udp(
                s_src, dip, s_port, p[2], body), ttl=255)
            if w.send(fr):
                st["forged"][kind] = st["forged"].get(kind, 0) + 1
    # Late ICMP echo replies.
    for f in w.recv_all(0.3):
        if len(f) > 34 and f[12:14] == b"\x08\x00" and f[23] == 1 and f[34] == 0:
            st["icmp_echo_replies"] += 1
    st["flows"] = sorted(flows)
    return st


def run_reflector(a, w, rng):
    """Junk and valid requests toward the DPDK pmesh-reflector; check every
    frame that comes back."""
    dmac = mac_bytes(a.dst_mac)
    sip, dip = ip_bytes(a.src_ip), ip_bytes(a.dst_ip)
    st = {"mode": "reflector", "junk": {}, "valid_sent": 0, "valid_replies": 0,
          "bad_csum_replies": 0,
          "bad_replies": 0, "reply_errors": {}, "tlv_m_ok": 0, "tlv_m_sent": 0,
          "arp_sent": 0, "arp_replies": 0, "icmp_echo_sent": 0,
          "icmp_echo_replies": 0, "unexpected": 0, "unexpected_examples": []}
    pending = {}     # seq -> (request frame length, t1, tlv_bad)
    seq = 0
    sport = 50000

    def error(k):
        st["reply_errors"][k] = st["reply_errors"].get(k, 0) + 1
        st["bad_replies"] += 1

    def check(frames):
        for f in frames:
            if f[12:14] == b"\x08\x06":
                if len(f) >= 42 and struct.unpack("!H", f[20:22])[0] == 2 and \
                   f[28:32] == dip:
                    st["arp_replies"] += 1
                    continue
            p = parse_udp_frame(f)
            if p is None:
                if len(f) > 34 and f[12:14] == b"\x08\x00" and f[23] == 1 and \
                   f[34] == 0 and f[26:30] == dip:
                    st["icmp_echo_replies"] += 1
                    continue
                st["unexpected"] += 1
                if len(st["unexpected_examples"]) < 3:
                    st["unexpected_examples"].append(f[:64].hex())
                continue
            if p[2] != STAMP_PORT or p[0] != dip or p[1] != sip:
                st["unexpected"] += 1
                continue
            pl = p[4]
            if len(pl) < STAMP_LEN:
                error("short")
                continue
            if not udp_csum_ok(f):
                # The reflector carries a request's UDP checksum over
                # (RFC 1624) instead of recomputing it: a request sent
                # with a bad checksum must come back with a bad one.
                st["bad_csum_replies"] += 1
                continue
            r_seq, t3, ee, ssid, t2, s_seq, s_ts, s_ee, _, s_ttl = \
                struct.unpack("!IQHHQIQHHB", pl[:41])
            req = pending.pop(s_seq, None)
            if req is None:
                error("answers_no_valid_request")
                continue
            flen, t1, tlv_bad = req
            if len(f) != flen:
                error("length_changed")
            elif r_seq != s_seq or s_ts != t1:
                error("echo_wrong")
            elif t2 == 0 or t3 == 0 or not ee & EE_Z:
                error("timestamps_missing")
            else:
                st["valid_replies"] += 1
                if tlv_bad:
                    # The first malformed TLV comes back flagged M (0x40).
                    if pl[STAMP_LEN] & 0x40:
                        st["tlv_m_ok"] += 1

    def valid_request(variant):
        nonlocal seq
        seq += 1
        t1 = now_ptp()
        extra, opts, cm, tlv_bad = b"", b"", "ok", False
        if variant == "tlv":
            extra = struct.pack("!BBH", 0, 1, 8) + bytes(8)      # padding TLV
        elif variant == "bad_tlv":
            # A TLV whose length runs past the end of the packet.
            extra = struct.pack("!BBH", 0, 1, 200) + bytes(12)
            tlv_bad = True
        elif variant == "ip_options":
            opts = b"\x01\x01\x01\x00"      # NOP NOP NOP EOL
        elif variant == "zero_csum":
            cm = "zero"
        body = stamp_sender(seq, t1, EE_Z, 7, extra)
        fr = eth(dmac, w.mac, 0x0800) + ipv4(
            sip, dip, 17, udp(sip, dip, sport + seq % 8, STAMP_PORT, body,
                              csum_mode=cm),
            ihl=5 + len(opts) // 4, options=opts)
        if w.send(fr):
            pending[seq] = (len(fr), t1, tlv_bad)
            st["valid_sent"] += 1
            if tlv_bad:
                st["tlv_m_sent"] += 1

    variants = ["plain", "tlv", "bad_tlv", "ip_options", "zero_csum"]
    end = time.time() + a.duration
    i = 0
    while time.time() < end:
        for _ in range(a.burst):
            kind = JUNK_KINDS[i % len(JUNK_KINDS)]
            i += 1
            if w.send(junk(kind, rng, dmac, w.mac, sip, dip, sport, STAMP_PORT)):
                st["junk"][kind] = st["junk"].get(kind, 0) + 1
        if w.send(eth(dmac, w.mac, 0x0800) + ipv4(sip, dip, 17, udp(
                sip, dip, sport, rng.choice([7, 863, 4000, 65535]),
                stamp_sender(0, now_ptp())))):
            st["junk"]["wrong_port"] = st["junk"].get("wrong_port", 0) + 1
        valid_request(variants[i % len(variants)])
        if i % (a.burst * 10) == 0:
            arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, w.mac, sip,
                              bytes(6), dip)
            if w.send(eth(b"\xff" * 6, w.mac, 0x0806) + arp):
                st["arp_sent"] += 1
            body = struct.pack("!BBHHH", 8, 0, 0, 0x4242, i & 0xFFFF) + b"pmesh-garbage"
            body = body[:2] + struct.pack("!H", csum(body)) + body[4:]
            if w.send(eth(dmac, w.mac, 0x0800) + ipv4(sip, dip, 1, body)):
                st["icmp_echo_sent"] += 1
        check(w.recv_all(a.gap))
    deadline = time.time() + 0.5
    while pending and time.time() < deadline:
        check(w.recv_all(0.05))
    check(w.recv_all(0.1))
    st["valid_unanswered"] = len(pending)
    return st


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mode", choices=["prober", "reflector"])
    ap.add_argument("--iface", required=True, help="our end of the veth")
    ap.add_argument("--dst-mac", required=True, help="the pmesh port's MAC")
    ap.add_argument("--src-ip", required=True, help="address we pose as")
    ap.add_argument("--dst-ip", required=True, help="the pmesh port's address")
    ap.add_argument("--duration", type=float, default=3.0)
    ap.add_argument("--burst", type=int, default=8,
                    help="junk frames between two looks at the wire")
    ap.add_argument("--gap", type=float, default=0.004,
                    help="seconds spent reading the wire after each burst")
    ap.add_argument("--wait", type=float, default=15.0,
                    help="prober mode: how long to wait for probes")
    ap.add_argument("--seed", type=int, default=862)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    random.seed(a.seed)
    w = Wire(a.iface)
    t0 = time.time()
    st = run_prober(a, w, rng) if a.mode == "prober" else run_reflector(a, w, rng)
    st["frames_sent"] = w.sent
    st["send_errors"] = w.send_err
    st["junk_total"] = sum(st["junk"].values())
    st["seconds"] = round(time.time() - t0, 2)
    json.dump(st, sys.stdout, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
