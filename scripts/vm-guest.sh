#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Runs inside the test VM (see scripts/vm.sh): load vfio and our modules, run
# the command, then fail if the kernel reported anything that must not
# happen, or, on a kernel with kmemleak, if memory leaked while it ran.
# Exit status: the command's, or 125 for a bad kernel log or a leak.
#
# VMIG_KO_DIR: where our modules are (default: this tree); the debug kernel
# has its own build of them.

set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)

export VMIG_KO_DIR=${VMIG_KO_DIR:-$top}

# Under scripts/vm.sh everything goes to a file of the host's run
# directory, which vm.sh copies to its output.  The guest's stdout is a
# virtio-serial port, and a task writing to it can sleep there for good:
# in about half of the debug kernel's full runs, the log stopped after a
# selftest's last line, with the guest idle and QEMU holding no buffer.
if [ -n "${VMIG_OUT:-}" ]; then
	exec >> "$VMIG_OUT/log" 2>&1
fi

# A kernel without a module tree (the debug kernel) has vfio, its type1
# backend, vfio-pci(-core) and mdev built in.
vmig_modprobe() {
	[ -d "/lib/modules/$(uname -r)" ] || return 0
	modprobe "$@"
}
export -f vmig_modprobe

vmig_modprobe vfio
vmig_modprobe vfio_iommu_type1
vmig_modprobe vfio-pci
insmod "$VMIG_KO_DIR/drivers/vfio/vmig/vmig.ko" || exit 126

# Leaks are counted from here: what the boot left unreferenced is not ours.
kmemleak=/sys/kernel/debug/kmemleak
if [ -e $kmemleak ]; then
	echo scan > $kmemleak
	echo clear > $kmemleak
fi

"$@"
status=$?

if [ -e $kmemleak ]; then
	# An object is reported only once it is older than 5 s and was found
	# unreferenced by a scan: wait, then scan twice.
	sleep 6
	echo scan > $kmemleak
	echo scan > $kmemleak
	# Ours are the objects allocated on a path through vfio, mdev or
	# our modules; the rest of the kernel is not under test here.
	leaks=$(awk -v RS='unreferenced object' 'NR > 1 && /vmig|vfio|mdev/ {
		n++; printf "unreferenced object%s", $0 } END { exit n == 0 }' \
		$kmemleak)
	if [ -n "$leaks" ]; then
		echo "vm-guest: kmemleak reports leaks:"
		printf '%s\n' "$leaks" | head -n 120
		[ $status = 0 ] && status=125
	else
		echo "# vm-guest: kmemleak: no leaks of vfio, mdev or vmig" \
			"($(grep -c '^unreferenced object' $kmemleak) elsewhere)"
	fi
fi

# Anything the kernel says only when something is wrong.  The host scans
# the serial console the same way (scripts/vm.sh): it has what the log
# buffer may have lost.
dmesg > /tmp/vmig-dmesg
if ! "$top/scripts/kernel-reports.sh" /tmp/vmig-dmesg > /tmp/vmig-reports; then
	echo "vm-guest: the kernel log reports a problem:"
	head -n 80 /tmp/vmig-reports
	[ $status = 0 ] && status=125
else
	cat /tmp/vmig-reports
fi
# The host checks for this line: a log without it was cut short.
echo "# vm-guest: done, status $status"
[ -n "${VMIG_OUT:-}" ] && : > "$VMIG_OUT/.done"
exit $status
