#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Runs inside the debug-kernel VM of scripts/check.sh (see scripts/vm.sh):
# every selftest and the QEMU test, in two parts.
#
# First the whole suite on every vCPU, leaving out what turns the ivshmem
# BARs' decoding off and on many times a second: the tests that start with
# decoding off, QEMU's save of a never-run VM, the ivshmem half of the
# stress and fail-nth's ivshmem sweeps.  Each such toggle rebuilds the
# memory map of the outer TCG QEMU, and QEMU 10 can abort or stall when
# another vCPU is in the middle of an access then (iotlb_to_section()).
#
# Then the guest takes every CPU but the first offline and runs those
# parts: the threads of each test still interleave, by preemption, and no
# second vCPU of the outer QEMU runs.  Of fail-nth's ivshmem sweeps it runs
# device open and SET of the state; its read and write sweeps replay a
# whole save per injection point, which takes hours on this kernel (run
# them by hand, see scripts/vm-tests.sh).
#
# usage: vm-tests-debug.sh
# Exit status: 0 if every part passed.

set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
status=0

"$top/scripts/vm-tests.sh" --require --fnth-variant mtty \
	--exclude vmig_ivshmem_test:precopy_decoding_off \
	--exclude vmig_ivshmem_test:stop_copy_decoding_off \
	--exclude vmig_ivshmem_test:resume_decoding_off \
	--exclude vmig_qemu_test.py:ivshmem_file || status=1

echo "# ---- one CPU from here"
for c in /sys/devices/system/cpu/cpu[1-9]*/online; do
	[ -e "$c" ] || continue
	echo 0 > "$c" || { echo "# cannot take ${c%/online} offline"; status=1; }
done
echo "# CPUs online: $(cat /sys/devices/system/cpu/online)"

VMIG_STRESS_SECONDS=${VMIG_STRESS_SECONDS:-60} \
	"$top/scripts/vm-tests.sh" --require \
	"$top/build/selftests/vmig_stress_test" -v ivshmem || status=1
"$top/scripts/vm-tests.sh" --require \
	"$top/build/selftests/vmig_ivshmem_test" -t precopy_decoding_off \
	-t stop_copy_decoding_off -t resume_decoding_off || status=1
"$top/scripts/vm-tests.sh" --require \
	"$top/tools/testing/selftests/vfio/vmig_qemu_test.py" ivshmem_file ||
	status=1
"$top/scripts/vm-tests.sh" --require \
	"$top/build/selftests/vmig_failnth_test" -r fnth.ivshmem.device_open \
	-r fnth.ivshmem.set_state -f after || status=1
exit $status
