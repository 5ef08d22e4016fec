#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Suite rdma: pmesh-prober --engine rdma against pmesh-rdma reflector
# threads (2 x 2 QPs) on the first RDMA device, through the RNIC's own
# loopback: every probe answered, records of engine rdma-ud with 4 flows on
# 4 QPs, timestamps hca where the RNIC has CQE timestamps (tsc on rxe).
# The same run as rdma_emu_prober's clean case, on real verbs.  Then
# prober and reflector threads in one process: `pmesh-rdma validate` with
# itself as its only peer (exit 0, one row, no loss, p99 under
# PM_RDMA_P99_US, default 1000 us).
#
# Env: PM_BUILD (build dir), PM_RDMA_DEV / PM_RDMA_GID (default: the first
# device, GID index 1 -- on RoCE usually the IPv4 v2 one; see show_gids).
# Exit 0 pass, 1 fail, 77 skip (no device, as on the machine this was
# written on).

set -u

build=${PM_BUILD:-$(cd "$(dirname "$0")/../.." && pwd)/build}
prober=$build/app/prober/pmesh-prober
refl=$build/rdma/pmesh-rdma

[[ -x $prober && -x $refl ]] || { echo "SKIP: $prober or $refl not built"; exit 77; }
if [[ ! -e /dev/infiniband ]]; then
	echo "SKIP: no RDMA device (/dev/infiniband missing: this kernel has no RDMA" \
	     "driver; Soft-RoCE: modprobe rdma_rxe; rdma link add rxe0 type rxe netdev IF)"
	exit 77
fi
dev=${PM_RDMA_DEV:-$("$refl" list 2>/dev/null | awk 'NR==1 {print $1}')}
gid=${PM_RDMA_GID:-1}
[[ -n $dev ]] || { echo "SKIP: ibverbs lists no device"; exit 77; }

tmp=$(mktemp -d)
rpid=
cleanup() {
	[[ -n $rpid ]] && kill -TERM "$rpid" 2>/dev/null && wait "$rpid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
xport=$((20000 + RANDOM % 20000))

"$refl" reflector -d "$dev" -g "$gid" --threads 2 --qps-per-thread 2 \
	--xchg "127.0.0.1:$xport" >"$tmp/refl.out" 2>&1 &
rpid=$!
sleep 1
timeout -k 5 60 "$prober" -l 0-1 --no-pci --no-huge -m 256 -- --engine rdma \
	--rdma-device "$dev" --rdma-gid-index "$gid" --target "127.0.0.1:$xport" \
	--rate 1000 --flows 4 --duration 5 --no-status -o "$tmp/out.json" \
	>"$tmp/prober.out" 2>&1
rc=$?
cat "$tmp/prober.out"
[[ $rc -eq 0 ]] || { echo "FAIL: prober exit $rc"; cat "$tmp/refl.out"; exit 1; }
python3 - "$tmp/out.json" <<'EOF'
import json, sys
s = [json.loads(l) for l in open(sys.argv[1])]
s = [r for r in s if r.get("kind") == "summary"]
sent = sum(r["sent"] for r in s); recv = sum(r["received"] for r in s)
qps = {r["sport"] for r in s}
src = {(r["ts_tx"], r["ts_rx"]) for r in s}
eng = {r["engine"] for r in s}
print(f"sent {sent} received {recv} QPs {len(qps)} timestamps {src} engine {eng}")
ok = sent >= 4000 and recv == sent and len(qps) == 4 and eng == {"rdma-ud"} \
     and src <= {("hca", "hca"), ("tsc", "tsc")}
sys.exit(0 if ok else 1)
EOF
[[ $? -eq 0 ]] || { echo "FAIL: prober records"; exit 1; }
kill -TERM "$rpid" 2>/dev/null
wait "$rpid" 2>/dev/null
rpid=

vport=$((xport + 1))
timeout -k 5 60 "$refl" validate -d "$dev" -g "$gid" --xchg "127.0.0.1:$vport" \
	--peer "127.0.0.1:$vport" --duration 3 --rate 1000 --max-loss 0 \
	--max-p99-us "${PM_RDMA_P99_US:-1000}" >"$tmp/val.out" 2>&1
rc=$?
cat "$tmp/val.out"
[[ $rc -eq 0 ]] || { echo "FAIL: validate against itself: exit $rc"; exit 1; }
echo "all checks passed"
