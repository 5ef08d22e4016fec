#!/usr/bin/env bash
# test_noreflector.sh: ICMP echo and TCP SYN probes to a host that runs
# nothing of ours.
#
# Namespace a runs pmesh-prober on an AF_PACKET port (va, 10.0.0.1); its
# veth peer vb in namespace b is a plain Linux host (10.0.0.2/24) with one
# TCP listener (port 8022) that never accepts.  The prober pings it, sends
# SYNs to the listener (SYN-ACK back) and to a closed port (RST back), 50
# probes/s each over 2 flows for 6 s, while nftables in b drops 20 % of
# the pings.  It must show:
#  - records of engine dpdk-icmp / dpdk-tcp, ts_refl "none", no reflector delay;
#  - TCP: every probe answered, none lost; ICMP: loss near the 20 % dropped;
#  - no connection left half-open: b's kernel counts every SYN-ACK reset
#    (TcpAttemptFails), and no socket is in SYN-RECV or ESTABLISHED during
#    or after the run.
set -euo pipefail

. "${PM_SRC:-$(dirname "$0")/../..}/test/integration/pm_integ.sh"
pm_it_require
command -v nstat >/dev/null || pm_skip "nstat (iproute2) is missing"

DUR=6
RATE=50

tmp=$(pm_tmpdir)
pm_it_keep "$tmp"
pm_it_sock_topo
pm_exec b sysctl -qw net.ipv4.tcp_syncookies=0 >/dev/null 2>&1 || true

# The listener: bound, listening, never accepting (a server's sshd, say).
pm_bg pm_exec b timeout 60 python3 -c '
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.0.0.2", 8022)); s.listen(16); print("listening", flush=True)
time.sleep(60)' >"$tmp/listener.out" 2>&1
pm_wait_for 10 grep -q listening "$tmp/listener.out" || {
	cat "$tmp/listener.out" >&2
	exit 1
}
pm_it_nft_drop 0		# table and chain (nothing dropped by this rule)
pm_exec b nft add rule inet pmt in ip protocol icmp numgen random mod 100 '<' 20 \
	counter drop

cat >"$tmp/p.cfg" <<CFG
prober = {
	src_ip = "10.0.0.1";
	duration_s = $DUR;
	idle_sleep_us = 20;
	status_ms = 0;
	output = "$tmp/out.json";
};
targets = (
	{ ip = "10.0.0.2"; type = "icmp"; rate_pps = $RATE; flows = 2; },
	{ ip = "10.0.0.2"; port = 8022; type = "tcp"; rate_pps = $RATE; flows = 2; },
	{ ip = "10.0.0.2"; port = 9; type = "tcp"; rate_pps = $RATE; flows = 2; }
);
CFG

pm_exec b nstat -n >/dev/null	# reset b's counter history
# Watch b's sockets while the prober runs: the most half-open at once.
(
	max=0
	for _ in $(seq 1 $((DUR * 4 + 8))); do
		n=$(pm_exec b ss -Htn state syn-recv state established | wc -l)
		((n > max)) && max=$n
		echo "$max" >"$tmp/halfopen.max"
		sleep 0.25
	done
) &
watcher=$!
rc=0
pm_it_run 60 a "$PM_PROBER" -l 0-1 $(pm_it_eal a) --vdev=net_af_packet0,iface=va -- \
	-c "$tmp/p.cfg" 2>"$tmp/prober.err" || rc=$?
sleep 1
kill "$watcher" 2>/dev/null || true
wait "$watcher" 2>/dev/null || true
half_max=$(cat "$tmp/halfopen.max" 2>/dev/null || echo 99)
half_after=$(pm_exec b ss -Htn state syn-recv state established | wc -l)
fails=$(pm_exec b nstat -az TcpAttemptFails | awk '$1 == "TcpAttemptFails" { print $2 }')
dropped=$(pm_exec b nft list chain inet pmt in | awk '/icmp/ { for (i = 1; i < NF; i++) if ($i == "packets") print $(i + 1) }')

[ $rc -eq 0 ] || cat "$tmp/prober.err" >&2
grep -E "counters:" "$tmp/prober.err" || true
rst_out=$(pm_it_ctr "$tmp/prober.err" tcp_rst_out "counters:")

python3 - "$tmp/out.json" >"$tmp/sums" <<'PY'
import json, sys
agg = {}
bad = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("kind") != "summary":
        continue
    key = (r["engine"], r["dport"])
    a = agg.setdefault(key, dict(sent=0, received=0, lost=0, n=0, rtt_n=0))
    for k in ("sent", "received", "lost"):
        a[k] += r[k]
    a["n"] += 1
    a["rtt_n"] += r["rtt_ns"].get("n", 0)
    if r["engine"] not in ("dpdk-icmp", "dpdk-tcp") or r["ts_refl"] != "none" or \
       r["refl_delay_ns"].get("n", 0) != 0 or \
       (r["engine"] == "dpdk-icmp") != (r["dport"] == 0):
        bad += 1
def g(e, p, k):
    return agg.get((e, p), {}).get(k, 0)
print("bad=%d" % bad)
for name, e, p in (("icmp", "dpdk-icmp", 0), ("open", "dpdk-tcp", 8022),
                   ("closed", "dpdk-tcp", 9)):
    for k in ("sent", "received", "lost", "n", "rtt_n"):
        print("%s_%s=%d" % (name, k, g(e, p, k)))
PY
cat "$tmp/sums"
. "$tmp/sums"
echo "SYN-ACK resets sent $rst_out; b's TcpAttemptFails $fails; half-open at most" \
	"$half_max during, $half_after after; pings dropped by nft $dropped"

expect=$((RATE * DUR))
pm_it_check "rc == 0" "prober exit status $rc"
pm_it_check "bad == 0" "every record: engine dpdk-icmp/dpdk-tcp, ts_refl none, no reflector delay ($bad bad)"
pm_it_check "open_sent * 10 >= expect * 9 && closed_sent * 10 >= expect * 9 && \
	icmp_sent * 10 >= expect * 9" \
	"sent about $expect each: icmp $icmp_sent, open port $open_sent, closed port $closed_sent"
pm_it_check "open_lost == 0 && open_received == open_sent" \
	"SYN to a listener: SYN-ACK for every one ($open_received of $open_sent)"
pm_it_check "closed_lost == 0 && closed_received == closed_sent" \
	"SYN to a closed port: RST for every one ($closed_received of $closed_sent)"
pm_it_check "open_rtt_n == open_received && icmp_rtt_n == icmp_received" \
	"an RTT for every reply"
pm_it_check "icmp_lost * 100 >= icmp_sent * 10 && icmp_lost * 100 <= icmp_sent * 30" \
	"ICMP loss $icmp_lost of $icmp_sent within 10..30 % (20 % dropped)"
pm_it_check "icmp_lost == dropped" "ICMP lost $icmp_lost == dropped by nftables $dropped"
pm_it_check "rst_out >= open_received" "a reset for every SYN-ACK ($rst_out >= $open_received)"
pm_it_check "fails >= open_received" \
	"b's kernel saw each half-open connection reset (TcpAttemptFails $fails)"
pm_it_check "half_max <= 2 && half_after == 0" \
	"never left half-open: at most $half_max at a time, $half_after after"
pm_it_result "$tmp/prober.err"
