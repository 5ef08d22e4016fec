#!/usr/bin/env bash
# NIC hardware timestamps: runs hwts_check on the ports EAL is given.  Here
# (virtual PMDs only) it exits 77 with the reason; on a machine with a NIC
# that stamps, set PM_HWTS_EAL (e.g. "-a 0000:3b:00.0") and it must pass.
set -u
B=${PM_BUILD:-build}
eal=${PM_HWTS_EAL:---no-pci --vdev=net_null0 --vdev=net_ring0}
# shellcheck disable=SC2086
exec timeout 50 "$B/test/dpdk/hwts_check" -l 0 --no-huge -m 128 \
	--log-level=lib.eal:error --file-prefix "pm-hwts-$$" $eal
