#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Runs inside the test VM (see scripts/vm.sh): load vfio and our modules, run
# the command, then fail if the kernel reported anything that must not
# happen.  Exit status: the command's, or 125 for a bad kernel log.

set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)

modprobe vfio
modprobe vfio_iommu_type1
modprobe vfio-pci
insmod "$top/drivers/vfio/vmig/vmig.ko" || exit 126

"$@"
status=$?

# Anything the kernel says only when something is wrong.
bad='WARNING:|BUG:|Oops|general protection|KASAN|UBSAN|possible circular locking|'
bad+='possible recursive locking|inconsistent lock state|lockdep|'
bad+='INFO: task .* blocked|hung_task|soft lockup|refcount_t:|list_(add|del) corruption|'
bad+='invoked oom-killer|Out of memory'
if dmesg | grep -Eq "$bad"; then
	echo "vm-guest: the kernel log reports a problem:"
	dmesg | grep -E -B2 -A20 "$bad" | head -n 80
	[ $status = 0 ] && status=125
fi
# The host checks for this line: a log without it was cut short.
echo "# vm-guest: done, status $status"
exit $status
