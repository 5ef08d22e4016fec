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
set -u
build=${1:-build}
dev=${2:-}
gid=${3:-0}
bin="$build/rdma/pmesh-rdma"
prober="$build/app/prober/pmesh-prober"
rate=${PM_BENCH_RATE:-100000}

skip() { echo "bench-rdma: SKIP: $*"; exit 77; }

[ -x "$bin" ] || skip "$bin not built (libibverbs missing at configure?)"
if [ ! -e /dev/infiniband ]; then
	skip "no RDMA device (no /dev/infiniband; kernel has no RDMA driver;" \
	     "Soft-RoCE: modprobe rdma_rxe; rdma link add rxe0 type rxe netdev IF)"
fi
if [ -z "$dev" ]; then
	dev=$("$bin" list 2>/dev/null | awk 'NR==1 {print $1}')
	[ -n "$dev" ] || skip "ibverbs lists no device"
fi
command -v ib_send_lat >/dev/null || skip "ib_send_lat missing (apt-get install perftest)"

srv=""
cleanup() { [ -n "$srv" ] && kill "$srv" 2>/dev/null; wait 2>/dev/null; }
trap cleanup EXIT

echo "== perftest ib_send_lat -c UD on $dev (GID index $gid), 10000 iterations"
ib_send_lat -c UD -d "$dev" -x "$gid" -n 10000 -F >/tmp/bench-rdma-srv.$$ 2>&1 &
srv=$!
sleep 1
ib_send_lat -c UD -d "$dev" -x "$gid" -n 10000 -F 127.0.0.1 | tee /tmp/bench-rdma-cli.$$
wait "$srv"; srv=""
rm -f /tmp/bench-rdma-srv.$$ /tmp/bench-rdma-cli.$$
echo "   (ib_send_lat reports one-way latency = RTT/2: t_typical, 99%, 99.9%)"

echo "== pmesh-prober --engine rdma -> pmesh-rdma reflector on $dev, $rate probes/s, 10 s"
[ -x "$prober" ] || skip "$prober not built"
"$bin" reflector -d "$dev" -g "$gid" --threads 2 --qps-per-thread 2 \
	--xchg 127.0.0.1:18515 >/tmp/bench-rdma-refl.$$ 2>&1 &
srv=$!
sleep 1
"$prober" -l 0-1 --no-pci --no-huge -m 256 -- --engine rdma --rdma-device "$dev" \
	--rdma-gid-index "$gid" --target 127.0.0.1:18515 --rate "$rate" --flows 4 \
	--budget-pps "$rate" --duration 10 --no-status -o /dev/null 2>&1 |
	grep -E "target|127.0.0.1|timestamps|host delay"
kill -INT "$srv"; wait "$srv"; srv=""
tail -4 /tmp/bench-rdma-refl.$$
rm -f /tmp/bench-rdma-refl.$$
echo "   (probes/s = sent / 10; RTTs in us; ib_send_lat's t_typical x 2 is its RTT)"
exit 0
