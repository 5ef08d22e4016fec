#!/usr/bin/env bash
# The status line: on a terminal (a pseudo-TTY from script(1)) the prober
# shows, once a second, send/receive rates, loss, p50/p99 network RTT and
# drops; with --no-status, or when stderr is not a terminal, it does not.
set -u
B=${PM_BUILD:-build}
command -v script >/dev/null || { echo "SKIP: script(1) (util-linux) missing"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp" /var/run/dpdk/pm-status-$$*' EXIT
cmd="timeout 30 $B/app/prober/pmesh-prober -l 0-1 --no-pci --no-huge -m 256 \
--log-level=lib.eal:error --vdev=net_null0,no-rx=1 --file-prefix pm-status-$$ -- \
--src-ip 10.0.0.1 --gateway-mac 02:00:00:00:00:02 --target 10.0.0.2 --rate 500 \
--duration 3 --output /dev/null"
script -qec "$cmd" /dev/null >"$tmp/tty.txt" 2>&1
rc=$?
n=$(tr '\r' '\n' <"$tmp/tty.txt" | grep -cE 'pmesh-prober: tx [0-9]+ pps rx [0-9]+ pps \| loss [0-9.]+% .*rtt p50 .* p99 ')
echo "status lines on a TTY: $n (prober exit $rc)"
$cmd 2>"$tmp/notty.txt" >/dev/null
m=$(grep -c ' pps rx ' "$tmp/notty.txt")
echo "status lines without a TTY: $m"
[ $rc -eq 0 ] && [ "$n" -ge 2 ] && [ "$m" -eq 0 ] && echo PASS && exit 0
cat "$tmp/tty.txt"
echo FAIL
exit 1
