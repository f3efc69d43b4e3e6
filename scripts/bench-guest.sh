#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Inside a benchmark VM (see scripts/bench.sh): create the devices, then
# run the benchmarks; with --latency, the per-request one first.  With
# --downtime, only QEMU's downtime with and without the device's pre-copy
# (two ivshmem functions).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/vm-devices.sh"
[ -n "${VMIG_IVSHMEM_A:-}" ] || { echo "bench: no ivshmem device"; exit 1; }

if [ "${1:-}" = --downtime ]; then
	echo "# ---- QEMU downtime with and without the device's pre-copy"
	exec python3 "$top/tools/vmig/vmig-qemu-downtime.py" 3
fi
if [ "${1:-}" = --latency ]; then
	[ -n "${VMIG_MTTY1:-}" ] || { echo "bench: no vmig_mtty device"; exit 1; }
	# The reference device: a one-port mdev of the kernel's mtty sample.
	insmod "$top/build/upstream-mtty/mtty.ko"
	ref=5d0a8b1c-7e2f-4a63-9c1d-2b3e4f5a6b71
	echo "$ref" > /sys/class/mdev_bus/mtty/mdev_supported_types/mtty-1/create
	echo "# ---- per request: vmig_mtty against the kernel's mtty sample"
	"$top/build/tools/vmig-latency-bench" "$VMIG_MTTY1" \
		"/sys/bus/mdev/devices/$ref"
fi
echo "# ---- ivshmem save and resume"
"$top/build/tools/vmig-ivshmem-bench" "$VMIG_IVSHMEM_A" 3
