#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Runs inside the test VM, before any of our drivers but the core is
# loaded (scripts/vm-tests.sh calls it): the drivers as scripts/dkms-check.sh
# installed them with DKMS into build/dkms/root.  Load each by name with
# `modprobe -d`, find the ivshmem variant through the vfio_pci: alias of a
# real ivshmem-plain device (the way libvirt and driverctl pick a variant
# driver), and unload them again so that the tests load the build tree's.
# vmig-mtty is loaded with precopy=0, and a device created then must not
# offer PRE_COPY.
# Prints TAP.

set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
root=$top/build/dkms/root
n=0
fail=0

tap() {		# tap DESCRIPTION COMMAND...
	local what=$1

	shift
	n=$((n + 1))
	if "$@"; then
		echo "ok $n $what"
	else
		echo "not ok $n $what"
		fail=$((fail + 1))
	fi
}

pci_ivshmem() {
	for dev in /sys/bus/pci/devices/*; do
		[ "$(cat "$dev/vendor")" = 0x1af4 ] &&
			[ "$(cat "$dev/device")" = 0x1110 ] &&
			{ echo "$dev"; return; }
	done
}

echo "# ---- modprobe -d build/dkms/root"
echo "TAP version 13"
echo "1..7"
tap "modprobe vmig-mtty precopy=0" \
	modprobe -d "$root" vmig-mtty precopy=0
tap "vmig_mtty loaded, parameter precopy is N" \
	grep -qx N /sys/module/vmig_mtty/parameters/precopy
# A device created now has no PRE_COPY: the parameter is honoured.
uuid=0f8c41a2-6b7c-4f44-9b3a-1d2e3f4a5b6f
types=/sys/class/mdev_bus/vmig_mtty/mdev_supported_types
echo $uuid > $types/vmig_mtty-1/create
flags=$("$top/build/tools/vmig-ctl" --json $uuid info |
	sed -n 's/.*"flags": \[\([^]]*\)\].*/\1/p')
echo "# flags with precopy=0: $flags"
tap "a device created with precopy=0 offers STOP_COPY and P2P only" \
	test "$flags" = '"STOP_COPY", "P2P"'
echo 1 > /sys/bus/mdev/devices/$uuid/remove
tap "modprobe vmig-ivshmem-vfio-pci" \
	modprobe -d "$root" vmig-ivshmem-vfio-pci
tap "its PCI driver is registered" \
	test -d /sys/bus/pci/drivers/vmig_ivshmem_vfio_pci
dev=$(pci_ivshmem)
alias=$(sed 's/^pci:/vfio_pci:/' "$dev/modalias" 2>/dev/null)
echo "# ${dev##*/}: $alias"
tap "the device's vfio_pci: alias resolves to the variant driver" \
	bash -c 'modprobe -d "$0" -R "$1" | grep -qx vmig_ivshmem_vfio_pci' \
	"$root" "$alias"
# The build tree's copies are loaded next, with the devices; the core
# stays, vm-guest.sh loaded it from there.
tap "rmmod both drivers" rmmod vmig_mtty vmig_ivshmem_vfio_pci
echo "# Totals: pass:$((n - fail)) fail:$fail xfail:0 xpass:0 skip:0 error:0"
[ $fail = 0 ]
