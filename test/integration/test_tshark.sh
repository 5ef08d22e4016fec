#!/usr/bin/env bash
# test_tshark.sh: an independent decoder checks pmesh's packets and records.
#
# Topology of test_prober_sock.sh (DPDK prober in a on va, socket reflector
# in b on vb with the kernel's 10.0.0.2/24).  tshark captures on vb in b
# while the prober sends 200 probes/s over 2 flows for 3 s; Wireshark's
# TWAMP-Test dissector (which reads STAMP's 44-byte base packets too) then
# decodes the capture, and the wire must agree with the JSON records:
#   - per flow (UDP source port) the probes carry sequence numbers exactly
#     0..n-1, and n is the sum of "sent" over that flow's records;
#   - every reply echoes a probe that was sent (sender sequence number, and
#     the sender timestamp and error estimate byte for byte), and the number
#     of replies is the sum of "received" (+ "late");
#   - all timestamps fall in the wall-clock interval of the run and in a
#     sane order against the capture's own kernel timestamps;
#   - the reflector delay t3 - t2 seen on the wire stays within the
#     [min, max] of refl_delay_ns in the records, except for replies the
#     prober set aside as anomalies (t3 - t2 longer than its own t4 - t1:
#     the two hosts' clocks disagree, seen once on a loaded CI machine) --
#     no more of those than its refl_anomaly counter says.
#
# Timestamps: pmesh writes PTPv2 truncated timestamps (32-bit seconds since
# 1970, 32-bit nanoseconds) and says so with the Z bit of the error
# estimate (RFC 8186).  tshark 4.0 honours Z for the packet's own and the
# receive timestamps but always shows the echoed sender timestamp as NTP
# (it prints a date in 2092), so the test takes every timestamp from the raw
# UDP payload bytes and checks the Z bit itself; tshark's decoding is used
# for the sequence numbers and error estimates, and compared with the raw
# bytes as a check that both read the same layout.
set -euo pipefail

. "${PM_SRC:-$(dirname "$0")/../..}/test/integration/pm_integ.sh"
pm_it_require tshark

RATE=200
FLOWS=2
DUR=3

tmp=$(pm_tmpdir)
pm_it_keep "$tmp"
pm_it_sock_topo
pm_it_sock_refl "$tmp/refl.err"

# dumpcap refuses to write into directories it does not own as root on
# some systems; a file it creates itself in our private directory is fine.
pm_bg pm_exec b timeout 60 tshark -i vb -f 'udp port 862' -w "$tmp/cap.pcap" \
	2>"$tmp/tshark.err"
cap=$PM_BG_PID
pm_wait_for 15 grep -q "Capturing on" "$tmp/tshark.err" || {
	cat "$tmp/tshark.err" >&2
	pm_skip "tshark cannot capture here"
}

rc=0
t_start=$(date +%s%N)
pm_it_probe || rc=$?
t_end=$(date +%s%N)
sleep 0.5
crc=0
pm_it_sigint "$cap" || crc=$?
rrc=0
pm_it_sigint "$PM_IT_SREFL" || rrc=$?
[ $rc -eq 0 ] || cat "$tmp/prober.err" >&2
grep -E "counters:" "$tmp/prober.err" || true
grep -E "captured|dropped" "$tmp/tshark.err" || true

pm_it_check "rc == 0" "prober exit status $rc"
pm_it_check "rrc == 0" "socket reflector exit status $rrc"
pm_it_check "crc == 0" "tshark exit status $crc"

tshark -r "$tmp/cap.pcap" -d udp.port==862,twamp.test -T fields -E separator=' ' \
	-e frame.time_epoch -e udp.srcport -e udp.dstport \
	-e twamp.test.seq_number -e twamp.test.sender_seq_number \
	-e twamp.test.error_estimate -e twamp.test.sender_error_estimate \
	-e udp.payload >"$tmp/fields.txt" 2>"$tmp/tshark-r.err" || {
	cat "$tmp/tshark-r.err" >&2
	pm_fail "tshark could not read the capture"
}

# Replies whose t3 - t2 the prober refused (counted, not in the records).
anom=$(grep -o "refl_anomaly [0-9]*" "$tmp/prober.err" | tail -n 1 | cut -d" " -f2 || true)

arc=0
python3 - "$tmp/fields.txt" "$tmp/out.json" "$t_start" "$t_end" $FLOWS "${anom:-0}" \
	<<'EOF' || arc=$?
import json, sys
from collections import defaultdict
from decimal import Decimal

fields, records = sys.argv[1], sys.argv[2]
t_start, t_end, nflows, anomalies = (int(x) for x in sys.argv[3:7])
bad = []

def check(cond, msg):
    print(("ok:   " if cond else "FAIL: ") + msg)
    if not cond:
        bad.append(msg)

def ptp_ns(b, off):
    # PTPv2 truncated: 32-bit seconds, 32-bit nanoseconds, network order.
    return int.from_bytes(b[off:off + 4], "big") * 10**9 + \
        int.from_bytes(b[off + 4:off + 8], "big")

probes = defaultdict(dict)    # sport -> seq -> (t1, ee, capture ns)
replies = []
layout_ok = True
for line in open(fields):
    f = line.split()
    if len(f) != 8:
        continue
    cap = int(Decimal(f[0]) * 10**9)
    sport, dport = int(f[1]), int(f[2])
    seq, s_seq, ee, s_ee = (int(x) for x in f[3:7])
    pl = bytes.fromhex(f[7].replace(":", ""))
    if len(pl) < 44:
        layout_ok = False
        continue
    # tshark's reading of the fields must match the raw bytes.
    if int.from_bytes(pl[0:4], "big") != seq or int.from_bytes(pl[12:14], "big") != ee:
        layout_ok = False
    if dport == 862:
        probes[sport][seq] = (ptp_ns(pl, 4), ee, cap)
    elif sport == 862:
        if int.from_bytes(pl[24:28], "big") != s_seq or \
           int.from_bytes(pl[36:38], "big") != s_ee:
            layout_ok = False
        replies.append(dict(flow=dport, s_seq=s_seq, t3=ptp_ns(pl, 4), ee=ee,
                            t2=ptp_ns(pl, 16), s_ts=ptp_ns(pl, 28), s_ee=s_ee,
                            ttl=pl[40], cap=cap))
check(layout_ok, "tshark's TWAMP-Test fields agree with the raw payload bytes")

sent = defaultdict(int)
tot = defaultdict(int)
rmin, rmax = None, None
for line in open(records):
    r = json.loads(line)
    if r.get("kind") != "summary":
        continue
    sent[r["sport"]] += r["sent"]
    for k in ("sent", "received", "lost", "late"):
        tot[k] += r[k]
    d = r["refl_delay_ns"]
    if d["n"]:
        rmin = d["min"] if rmin is None else min(rmin, d["min"])
        rmax = d["max"] if rmax is None else max(rmax, d["max"])

nprobes = sum(len(v) for v in probes.values())
print("capture: %d probes on %d flows, %d replies; records: sent %d received %d "
      "lost %d late %d" % (nprobes, len(probes), len(replies), tot["sent"],
                           tot["received"], tot["lost"], tot["late"]))
check(len(probes) == nflows, "probes of all %d flows captured" % nflows)
check(set(probes) == set(sent),
      "flows on the wire %s == flows in the records %s" % (sorted(probes), sorted(sent)))
for sp in sorted(probes):
    seqs = sorted(probes[sp])
    n = len(seqs)
    check(seqs == list(range(n)),
          "flow %d: probe sequence numbers are exactly 0..%d" % (sp, n - 1))
    check(n == sent[sp], "flow %d: %d probes on the wire == sent %d in records"
          % (sp, n, sent[sp]))

# Every reply echoes a probe we saw, byte for byte where it matters.
known = [r for r in replies if r["s_seq"] in probes.get(r["flow"], {})]
check(len(known) == len(replies), "every reply echoes a captured probe (%d do not)"
      % (len(replies) - len(known)))
echo_bad = [r for r in known if
            (probes[r["flow"]][r["s_seq"]][0] != r["s_ts"] or
             probes[r["flow"]][r["s_seq"]][1] != r["s_ee"])]
check(not echo_bad, "replies echo the probe's timestamp and error estimate "
      "(%d differ)" % len(echo_bad))
check(all(r["ttl"] == 64 for r in replies), "replies report the probe's TTL 64")
keys = [(r["flow"], r["s_seq"]) for r in replies]
check(len(keys) == len(set(keys)), "no probe answered twice on the wire")
check(len(replies) == tot["received"] + tot["late"],
      "replies on the wire %d == received %d + late %d"
      % (len(replies), tot["received"], tot["late"]))
check(tot["sent"] == tot["received"] + tot["lost"],
      "records: sent %d == received %d + lost %d"
      % (tot["sent"], tot["received"], tot["lost"]))

# Z (PTP truncated) must be set in every error estimate pmesh writes.
Z = 0x4000
check(all(v[1] & Z for p in probes.values() for v in p.values()) and
      all(r["ee"] & Z for r in replies), "Z bit (PTP timestamps) set everywhere")

# Timestamps: within the run, and ordered against the capture clock (the
# same host's CLOCK_REALTIME).  The prober's t1 comes from its TSC mapped to
# that clock, so allow it some skew; the kernel delivers late on a busy box,
# so allow generous delays.
SKEW = 5 * 10**6
SLACK = 100 * 10**6
t1s = [v[0] for p in probes.values() for v in p.values()]
caps = [v[2] for p in probes.values() for v in p.values()]
allts = t1s + [r[k] for r in replies for k in ("t2", "t3")]
if allts:
    print("run interval [%d, %d] ns; timestamps span [%d, %d]"
          % (t_start, t_end, min(allts), max(allts)))
check(allts and min(allts) >= t_start - SKEW and max(allts) <= t_end + SKEW,
      "every t1, t2, t3 lies within the run's wall-clock interval (+-5 ms)")
d1 = [v[2] - v[0] for p in probes.values() for v in p.values()]
if d1:
    print("capture - t1 of probes: min %d max %d ns" % (min(d1), max(d1)))
check(d1 and min(d1) >= -SKEW and max(d1) <= SLACK,
      "probes are captured after their t1 (within -5 ms .. +100 ms)")
d21 = [r["t2"] - probes[r["flow"]][r["s_seq"]][0] for r in known]
d2c = [r["t2"] - probes[r["flow"]][r["s_seq"]][2] for r in known]
if d21:
    print("t2 - t1: min %d max %d ns; t2 - probe capture: min %d max %d ns"
          % (min(d21), max(d21), min(d2c), max(d2c)))
check(d21 and min(d21) >= -SKEW, "reflector t2 >= sender t1 - 5 ms")
check(d2c and min(d2c) >= -SKEW, "reflector t2 >= probe capture time - 5 ms")
d3c = [r["cap"] - r["t3"] for r in replies]
if d3c:
    print("reply capture - t3: min %d max %d ns" % (min(d3c), max(d3c)))
check(d3c and min(d3c) >= -SKEW and max(d3c) <= SLACK,
      "replies are captured after their t3 (within -5 ms .. +100 ms)")

# Reflector delay: the records keep exact min and max; allow 1 us for
# rounding in either.
refl = [r["t3"] - r["t2"] for r in replies]
if refl:
    print("reflector delay t3-t2 on the wire: min %d max %d ns; records: min %s max %s"
          % (min(refl), max(refl), rmin, rmax))
check(refl and min(refl) >= 0, "t3 >= t2 in every reply")
outside = [] if rmin is None else \
    [d for d in refl if d < rmin - 1000 or d > rmax + 1000]
if outside:
    print("wire reflector delays outside the records' range: %s; prober's "
          "refl_anomaly %d" % (sorted(outside)[:10], anomalies))
check(refl and rmin is not None and len(outside) <= anomalies,
      "wire reflector delays within records' refl_delay_ns [min, max] (+-1 us), "
      "but for %d the prober counted as refl_anomaly (%d outside)"
      % (anomalies, len(outside)))
sys.exit(1 if bad else 0)
EOF
pm_it_check "arc == 0" "capture analysis"
pm_it_result "$tmp/prober.err" "$tmp/refl.err" "$tmp/tshark.err"
