#!/usr/bin/env bash
# test_garbage.sh: the prober and the DPDK reflector survive hostile input.
#
# A DPDK port reads whatever arrives on its wire; nothing in front of it
# drops malformed frames.  garbage.py (next to this script) writes raw
# Ethernet frames into the peer end of the port's veth with an AF_PACKET
# socket: runts, truncated and inconsistent IPv4/UDP headers, bad checksums,
# fragments, other protocols and ethertypes, VLAN-tagged junk, short STAMP
# payloads, bad TLVs, random bytes and 9000-byte frames.  Two phases:
#
# 1. pmesh-prober (namespace a, va) probes the socket reflector (b, vb,
#    10.0.0.2) at 500/s over 4 flows for 8 s while garbage.py, on vb in b,
#    throws junk at the prober and forges replies to the probes it sniffs:
#    wrong echoed timestamp, sequence numbers never sent, wrong source port
#    or address.  nftables in b drops 5% of the probes, so some probes stay
#    outstanding until their timeout and the forged wrong-echo replies hit
#    them (bad_echo).  Checks: the prober runs to the end and exits 0; its
#    counters name every kind of junk (rx_<cause>, unknown_flow, unmatched,
#    bad_echo); real probes still come back; no forged reply is ever
#    counted as received, late or dup (so lost == what nftables dropped and
#    dup == late == 0); every probe is resolved.
#
# 2. The DPDK pmesh-reflector (namespace d, vd, 10.0.0.2) receives junk and,
#    interleaved, valid STAMP requests, ARP and ICMP echo requests from
#    garbage.py on vc in c.  Checks: the reflector stays up and exits 0 on
#    SIGINT; its final counters name every kind of junk; every valid
#    request is answered correctly (a malformed TLV comes back flagged M,
#    the reply as long as the request); nothing else is answered.
#
# IPv4 fragments are sent but their counter (rx_fragment) is not required:
# DPDK 22.11's net_af_packet joins a PACKET_FANOUT group with the DEFRAG
# flag, so the kernel reassembles fragments (or holds incomplete ones until
# they time out) before the DPDK port sees anything.  A datagram split in
# two fragments reaches the port whole.  Over net_af_packet the fragment
# check in pm_wire_parse() is unreachable; the unit tests cover it.
# Likewise a frame cut off inside its VLAN tag is dropped by the kernel's
# VLAN untagging on the way in.  9000-byte frames (veth MTU raised to 9000)
# reach the port cut to the PMD's 2048-byte ring frames and count as
# truncated.
set -euo pipefail

. "${PM_SRC:-$(dirname "$0")/../..}/test/integration/pm_integ.sh"
pm_it_require nft

GARBAGE=$PM_SRC/test/integration/garbage.py
RATE=500
FLOWS=4
DUR=8
DROP_PCT=5

tmp=$(pm_tmpdir)
pm_it_keep "$tmp"

# Counter $1 of the prober's (p) or reflector's (r) final line.
pctr() { pm_it_ctr "$tmp/prober.err" "$1" "counters:"; }
rctr() { pm_it_ctr "$tmp/refl.err" "$1" "final:"; }
# The reflector's drop causes, printed as rx_<cause> (earlier: <cause>).
rcause()
{
	local v

	v=$(rctr "rx_$1")
	[ "$v" != 0 ] || v=$(rctr "$1")
	echo "$v"
}
# Field $2 of garbage.py's JSON report $1 (dotted path; 0 when absent).
gval()
{
	python3 -c 'import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v = v.get(k, 0) if isinstance(v, dict) else 0
print(v if isinstance(v, int) else 0)' "$1" "$2"
}

# ---- phase 1: the prober under attack -------------------------------------
echo "== phase 1: garbage toward pmesh-prober"
pm_it_sock_topo
# Jumbo frames fit the wire; the DPDK port then sees them whole or cut.
ip -n "$(pm_ns a)" link set va mtu 9000
ip -n "$(pm_ns b)" link set vb mtu 9000
pm_exec b nft add table inet pmt ||
	pm_skip "nftables does not work in a namespace here"
pm_exec b nft add chain inet pmt in '{ type filter hook input priority 0; }'
pm_exec b nft add rule inet pmt in udp dport 862 \
	numgen random mod 100 '<' $DROP_PCT counter drop
pm_it_sock_refl "$tmp/srefl.err"

pm_bg pm_exec a timeout 60 "$PM_PROBER" -l 0-1 $(pm_it_eal a) \
	--vdev=net_af_packet0,iface=va -- \
	--src-ip 10.0.0.1 --target 10.0.0.2 --rate $RATE --flows $FLOWS \
	--duration $DUR --idle-sleep-us 20 --no-status \
	--output "$tmp/out.json" 2>"$tmp/prober.err"
prober=$PM_BG_PID
grc=0
pm_it_run 40 b python3 "$GARBAGE" prober --iface vb --dst-mac "$(pm_mac a va)" \
	--src-ip 10.0.0.2 --dst-ip 10.0.0.1 --duration 4 --wait 15 \
	>"$tmp/g1.json" || grc=$?
cat "$tmp/g1.json"
alive_after=0
kill -0 "$prober" 2>/dev/null && alive_after=1
rc=0
wait "$prober" || rc=$?
srrc=0
pm_it_sigint "$PM_IT_SREFL" || srrc=$?
[ $rc -eq 0 ] || tail -n 30 "$tmp/prober.err" >&2
grep -E "counters:" "$tmp/prober.err" || true
nft_drops=$(pm_exec b nft list chain inet pmt in |
	awk '/numgen/ { for (i = 1; i < NF; i++) if ($i == "packets") print $(i + 1) }')
nft_drops=${nft_drops:-0}
eval "$(pm_it_sums "$tmp/out.json")"
junk=$(gval "$tmp/g1.json" junk_total)
seen=$(gval "$tmp/g1.json" probes_seen)
forged_echo=$(gval "$tmp/g1.json" forged.bad_echo)
forged_zero=$(gval "$tmp/g1.json" forged.zero_ts)
pings=$(gval "$tmp/g1.json" icmp_echo_sent)
pongs=$(gval "$tmp/g1.json" icmp_echo_replies)
echo "records $records: sent $sent received $received lost $lost late $late dup $dup" \
	"unmatched $unmatched; nft dropped $nft_drops; junk frames $junk;" \
	"probes sniffed $seen; wrong-echo replies forged $forged_echo; pings $pings pongs $pongs"

pm_it_check "grc == 0" "garbage.py (prober mode) ran (status $grc)"
pm_it_check "junk >= 1000" "at least 1000 junk frames sent ($junk)"
pm_it_check "seen > 0" "garbage.py saw the prober's probes ($seen)"
pm_it_check "alive_after == 1" "prober still running after the attack"
pm_it_check "rc == 0" "prober exit status $rc after --duration"
pm_it_check "srrc == 0" "socket reflector exit status $srrc"
for c in rx_truncated rx_not_ipv4 rx_bad_ip rx_ip_csum rx_not_udp \
	rx_icmp rx_bad_udp rx_udp_csum rx_wrong_port rx_short_stamp rx_not_for_us \
	unknown_flow unmatched bad_echo; do
	v=$(pctr $c)
	pm_it_check "v > 0" "prober counter $c = $v"
done
echo "prober rx_fragment $(pctr rx_fragment) (not expected over AF_PACKET, see top)"
echo "forged wrong-echo/zero-echo replies $((forged_echo + forged_zero)):" \
	"prober bad_echo $(pctr bad_echo) + JSON dup $dup;" \
	"forged unknown seq $(($(gval "$tmp/g1.json" forged.future_seq) + \
	$(gval "$tmp/g1.json" forged.past_seq) + $(gval "$tmp/g1.json" forged.wrong_ssid))):" \
	"unmatched $(pctr unmatched); forged other flow" \
	"$(($(gval "$tmp/g1.json" forged.wrong_sport) + $(gval "$tmp/g1.json" forged.wrong_src_ip))):" \
	"unknown_flow $(pctr unknown_flow)"
v=$(pctr icmp_out)
pm_it_check "v == pings && pongs == pings" \
	"prober answered every ping: icmp_out $v, replies seen $pongs of $pings"
pm_it_check "received * 10 > sent * 9 && received > 0" \
	"real probes still answered: received $received of sent $sent"
pm_it_check "sent == received + lost" \
	"every probe resolved: sent $sent == received $received + lost $lost"
pm_it_check "lost >= nft_drops" \
	"no forged reply counted as received: lost $lost >= nftables drops $nft_drops"
pm_it_check "lost - nft_drops <= sent / 100" \
	"the junk cost at most 1% of the probes: lost $lost - dropped $nft_drops"
pm_it_check "late == 0" "no forged reply counted as late ($late)"
# A reply whose echoed t1 is not the one we sent is not our reply, whatever
# state its sequence number is in; counting it as a duplicate would let any
# stray or forged packet inflate "dup" in the records.
pm_it_check "dup == 0" \
	"no forged reply (wrong echoed timestamp) counted as dup ($dup)"
v=$(pctr replies)
pm_it_check "v == received" "counter replies $v == JSON received $received"

# ---- phase 2: the DPDK reflector under attack ----------------------------
echo "== phase 2: garbage toward the DPDK pmesh-reflector"
pm_ns_add c
pm_ns_add d
pm_veth c vc d vd
pm_dpdk_iface d vd c vc
ip -n "$(pm_ns c)" link set vc mtu 9000
ip -n "$(pm_ns d)" link set vd mtu 9000
pm_exec c sysctl -qw net.ipv6.conf.vc.disable_ipv6=1 >/dev/null || true

pm_bg pm_exec d timeout 60 "$PM_REFL" -l 0-1 $(pm_it_eal d) \
	--vdev=net_af_packet0,iface=vd -- \
	--ip 10.0.0.2 --idle-sleep-us 20 --stats-ms 0 2>"$tmp/refl.err"
refl=$PM_BG_PID
pm_wait_for 20 grep -q "reflecting STAMP" "$tmp/refl.err" || {
	cat "$tmp/refl.err" >&2
	pm_fail "DPDK reflector did not start"
}
grc=0
pm_it_run 40 c python3 "$GARBAGE" reflector --iface vc --dst-mac "$(pm_mac d vd)" \
	--src-ip 10.0.0.1 --dst-ip 10.0.0.2 --duration 3 >"$tmp/g2.json" || grc=$?
cat "$tmp/g2.json"
alive_after=0
kill -0 "$refl" 2>/dev/null && alive_after=1
rrc=0
pm_it_sigint "$refl" || rrc=$?
[ $rrc -eq 0 ] || tail -n 30 "$tmp/refl.err" >&2
grep -E "final:" "$tmp/refl.err" || true

junk=$(gval "$tmp/g2.json" junk_total)
vsent=$(gval "$tmp/g2.json" valid_sent)
vrep=$(gval "$tmp/g2.json" valid_replies)
bad=$(gval "$tmp/g2.json" bad_replies)
unexp=$(gval "$tmp/g2.json" unexpected)
msent=$(gval "$tmp/g2.json" tlv_m_sent)
mok=$(gval "$tmp/g2.json" tlv_m_ok)
arps=$(gval "$tmp/g2.json" arp_sent)
arpr=$(gval "$tmp/g2.json" arp_replies)
pings=$(gval "$tmp/g2.json" icmp_echo_sent)
pongs=$(gval "$tmp/g2.json" icmp_echo_replies)
echo "reflector rx_fragment $(rcause fragment) (not expected over AF_PACKET, see top)"
echo "junk $junk; valid requests $vsent answered $vrep; bad replies $bad;" \
	"unexpected frames $unexp; bad-TLV requests $msent flagged M $mok;" \
	"ARP $arps/$arpr; ping $pings/$pongs"

pm_it_check "grc == 0" "garbage.py (reflector mode) ran (status $grc)"
pm_it_check "junk >= 1000" "at least 1000 junk frames sent ($junk)"
pm_it_check "alive_after == 1" "DPDK reflector still running after the attack"
pm_it_check "rrc == 0" "DPDK reflector exit status $rrc on SIGINT"
for c in truncated not_ipv4 bad_ip ip_csum not_udp icmp bad_udp \
	wrong_port short_stamp not_for_us; do
	v=$(rcause $c)
	pm_it_check "v > 0" "reflector counter $c = $v"
done
pm_it_check "vsent > 0 && vrep * 100 >= vsent * 99" \
	"valid requests answered: $vrep of $vsent (>= 99%)"
pm_it_check "bad == 0" "every reply correct: same length, seq and t1 echoed ($bad wrong)"
# The DPDK reflector does not verify UDP checksums: it carries them over,
# so a corrupted request's reply fails at the sender (end to end).
csent=$(gval "$tmp/g2.json" junk.udp_csum)
crep=$(gval "$tmp/g2.json" bad_csum_replies)
pm_it_check "csent > 0 && crep > 0 && crep <= csent" \
	"requests with a bad UDP checksum answered with a failing one: $crep of $csent"
pm_it_check "unexp == 0" "nothing but valid requests answered ($unexp other frames)"
pm_it_check "msent > 0 && mok * 100 >= msent * 99" \
	"malformed TLVs come back flagged M: $mok of $msent"
pm_it_check "arps > 0 && arpr == arps" "ARP requests answered: $arpr of $arps"
pm_it_check "pings > 0 && pongs == pings" "pings answered: $pongs of $pings"
v=$(rctr reflected)
pm_it_check "v >= vrep + arpr + pongs" \
	"reflector transmitted $v >= $vrep replies + $arpr ARP + $pongs ICMP"
pm_it_result "$tmp/prober.err" "$tmp/refl.err"
