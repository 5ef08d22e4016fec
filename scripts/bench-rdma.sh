#!/usr/bin/env bash
# bench-rdma.sh: pmesh-rdma's probes/s and network-RTT percentiles next to
# perftest's `ib_send_lat -c UD` on the same RDMA device.  A benchmark, not
# a test.
#
# Usage: scripts/bench-rdma.sh [BUILD_DIR] [DEVICE] [GID_INDEX]
#
# Runs on one host: the perftest server and client on the same device
# (loopback through the RNIC), then pmesh-rdma's prober and reflector the
# same way.  Skips (exit 77) with the reason when there is no RDMA device
# or no perftest (apt-get install perftest).
#
# The pmesh half: `pmesh-rdma reflector` (2 threads x 2 QPs) and
# `pmesh-prober --engine rdma` (4 flows = 4 QPs) on the same device for
# 10 s at --rate PPS (default 100000), the prober's exit table (probes,
# loss, network-RTT p50/p99) and probes/s.  ib_send_lat prints one-way
# latency (RTT/2); compare twice its figures with pmesh's RTTs.
#
# PM_BENCH_EMU=1 runs the pmesh half on the emulated verbs of
# test/rdma/verbs_emu.c instead (no device, no perftest): it shows the
# script and the engine work; its figures are UDP on loopback, not RDMA.
set -u
build=${1:-build}
dev=${2:-}
gid=${3:-0}
bin="$build/rdma/pmesh-rdma"
prober="$build/app/prober/pmesh-prober"
rate=${PM_BENCH_RATE:-100000}
emu=${PM_BENCH_EMU:-0}
if [ "$emu" = 1 ]; then
	bin="$build/test/rdma/pmesh-rdma-emu"
	prober="$build/test/rdma/pmesh-prober-emu"
	dev=emu0
	gid=1
fi

skip() { echo "bench-rdma: SKIP: $*"; exit 77; }

[ -x "$bin" ] || skip "$bin not built (libibverbs missing at configure?)"
if [ "$emu" != 1 ] && [ ! -e /dev/infiniband ]; then
	skip "no RDMA device (no /dev/infiniband; kernel has no RDMA driver;" \
	     "Soft-RoCE: modprobe rdma_rxe; rdma link add rxe0 type rxe netdev IF)"
fi
if [ -z "$dev" ]; then
	dev=$("$bin" list 2>/dev/null | awk 'NR==1 {print $1}')
	[ -n "$dev" ] || skip "ibverbs lists no device"
fi
[ "$emu" = 1 ] || command -v ib_send_lat >/dev/null ||
	skip "ib_send_lat missing (apt-get install perftest)"

srv=""
cleanup() { [ -n "$srv" ] && kill "$srv" 2>/dev/null; wait 2>/dev/null; }
trap cleanup EXIT

if [ "$emu" = 1 ]; then
	echo "== perftest: not run (PM_BENCH_EMU=1: no device)"
else
echo "== perftest ib_send_lat -c UD on $dev (GID index $gid), 10000 iterations"
ib_send_lat -c UD -d "$dev" -x "$gid" -n 10000 -F >/tmp/bench-rdma-srv.$$ 2>&1 &
srv=$!
sleep 1
ib_send_lat -c UD -d "$dev" -x "$gid" -n 10000 -F 127.0.0.1 | tee /tmp/bench-rdma-cli.$$
wait "$srv"; srv=""
rm -f /tmp/bench-rdma-srv.$$ /tmp/bench-rdma-cli.$$
echo "   (ib_send_lat reports one-way latency = RTT/2: t_typical, 99%, 99.9%)"
fi

echo "== pmesh-prober --engine rdma -> pmesh-rdma reflector on $dev, $rate probes/s, 10 s"
[ -x "$prober" ] || skip "$prober not built"
"$bin" reflector -d "$dev" -g "$gid" --threads 2 --qps-per-thread 2 \
	--xchg 127.0.0.1:18515 >/tmp/bench-rdma-refl.$$ 2>&1 &
srv=$!
sleep 1
"$prober" -l 0-1 --no-pci --no-huge -m 256 --log-level=lib.eal:error -- --engine rdma \
	--rdma-device "$dev" --rdma-gid-index "$gid" --target 127.0.0.1:18515 \
	--rate "$rate" --flows 4 --budget-pps "$rate" --duration 10 --no-status \
	-o /dev/null >/tmp/bench-rdma-prober.$$ 2>&1
grep -E "^target|127.0.0.1:18515|timestamps:|host delay|counters:|not sent|refused" /tmp/bench-rdma-prober.$$
awk '$2 == "127.0.0.1:18515" {
	printf "pmesh: %.0f probes/s sent, %.0f answered/s, loss %s %%, network RTT p50 %s us, p99 %s us\n",
	       $3 / 10, $4 / 10, $6, $10, $11 }' /tmp/bench-rdma-prober.$$
kill -INT "$srv"; wait "$srv"; srv=""
grep "thread" /tmp/bench-rdma-refl.$$ | cut -c1-100
rm -f /tmp/bench-rdma-refl.$$ /tmp/bench-rdma-prober.$$
if [ "$emu" = 1 ]; then
	echo "   (emulated verbs: UDP on loopback on this machine's cores, not RDMA figures)"
else
	echo "   (ib_send_lat's t_typical x 2 is its RTT, to set beside pmesh's p50)"
fi
exit 0
