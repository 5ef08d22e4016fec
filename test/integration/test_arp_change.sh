#!/usr/bin/env bash
# test_arp_change.sh: the next hop changes its MAC mid-run (as after a VRRP
# failover) and announces it with a gratuitous ARP; the prober must follow.
#
# Prober (namespace a, AF_PACKET on va, 10.0.0.1) -> socket reflector
# (namespace b, kernel 10.0.0.2 on vb).  After 3 s vb gets a new MAC and a
# gratuitous ARP goes out; the kernel drops frames for its old MAC, so
# without learning every later probe would be lost (over half of the run).
# Pass: the prober counted the update, and lost no more than the probes
# sent between the MAC change and the announcement (one `ip link` run,
# a few ms of 7 s): under 10%.
set -euo pipefail

. "${PM_SRC:-$(dirname "$0")/../..}/test/integration/pm_integ.sh"
pm_it_require
command -v python3 >/dev/null || pm_skip "python3 is missing"

RATE=200
FLOWS=2
DUR=7

tmp=$(pm_tmpdir)
pm_it_keep "$tmp"
pm_it_sock_topo
pm_it_sock_refl "$tmp/refl.err"

pm_bg pm_it_probe
prober=$PM_BG_PID
sleep 3
new=02:aa:bb:cc:dd:ee
# The MAC change and the gratuitous ARP (a request from 10.0.0.2 for
# itself, to broadcast) from one python process that has already started,
# so the gap between them is the ip command's run time, not python's
# start-up on a loaded machine.
pm_exec b python3 - "$new" <<'PY'
import socket, struct, subprocess, sys
mac = bytes.fromhex(sys.argv[1].replace(":", ""))
ip = socket.inet_aton("10.0.0.2")
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("vb", 0))
arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, mac, ip, b"\0" * 6, ip)
subprocess.run(["ip", "link", "set", "vb", "address", sys.argv[1]], check=True)
s.send(b"\xff" * 6 + mac + b"\x08\x06" + arp)
PY
rc=0
wait "$prober" || rc=$?
rrc=0
pm_it_sigint "$PM_IT_SREFL" || rrc=$?
[ $rc -eq 0 ] || cat "$tmp/prober.err" >&2
grep -E "counters:" "$tmp/prober.err" || true
eval "$(pm_it_sums "$tmp/out.json")"
upd=$(pm_it_ctr "$tmp/prober.err" arp_updates "counters:")
echo "sent $sent received $received lost $lost; arp_updates ${upd:-0}"

pm_it_check "rc == 0" "prober exit status $rc"
pm_it_check "${upd:-0} >= 1" "the prober took the new MAC (arp_updates ${upd:-0})"
pm_it_check "sent == received + lost" "sent $sent == received $received + lost $lost"
pm_it_check "lost * 10 <= sent" "under 10% lost across the change (lost $lost of $sent; without learning > 50%)"
pm_it_result "$tmp/prober.err" "$tmp/refl.err"
