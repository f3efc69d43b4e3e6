# SPDX-License-Identifier: GPL-2.0-only
#
# Sourced inside the test VM: load our drivers and create the devices the
# selftests and the demo use, exporting their sysfs paths:
#
#   VMIG_MTTY1, VMIG_MTTY1_B   two one-port vmig_mtty mdevs
#   VMIG_MTTY2, VMIG_MTTY2_B   two two-port vmig_mtty mdevs
#   VMIG_IVSHMEM_A, _B         ivshmem-plain functions bound to our driver
#
# A device whose driver was not built, or whose hardware the VM lacks, is
# simply not exported; the tests that need it skip.  Sourcing it again
# finds what the first time made.

vmig_top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
vmig_ko=${VMIG_KO_DIR:-$vmig_top}
type vmig_modprobe >/dev/null 2>&1 || vmig_modprobe() { modprobe "$@"; }
mtty_ko=$vmig_ko/samples/vfio-vmig/vmig-mtty.ko
ivshmem_ko=$vmig_ko/drivers/vfio/pci/vmig-ivshmem/vmig-ivshmem-vfio-pci.ko

vmig_mdev() {	# vmig_mdev TYPE UUID: create and print the sysfs path
	local types=/sys/class/mdev_bus/vmig_mtty/mdev_supported_types

	[ -e "/sys/bus/mdev/devices/$2" ] ||
		echo "$2" > "$types/$1/create" || return 1
	echo "/sys/bus/mdev/devices/$2"
}

if [ -f "$mtty_ko" ]; then
	vmig_modprobe mdev
	[ -d /sys/module/vmig_mtty ] || insmod "$mtty_ko"
	VMIG_MTTY1=$(vmig_mdev vmig_mtty-1 0f8c41a2-6b7c-4f44-9b3a-1d2e3f4a5b61)
	VMIG_MTTY1_B=$(vmig_mdev vmig_mtty-1 0f8c41a2-6b7c-4f44-9b3a-1d2e3f4a5b62)
	VMIG_MTTY2=$(vmig_mdev vmig_mtty-2 0f8c41a2-6b7c-4f44-9b3a-1d2e3f4a5b63)
	VMIG_MTTY2_B=$(vmig_mdev vmig_mtty-2 0f8c41a2-6b7c-4f44-9b3a-1d2e3f4a5b64)
	export VMIG_MTTY1 VMIG_MTTY1_B VMIG_MTTY2 VMIG_MTTY2_B
fi

if [ -f "$ivshmem_ko" ]; then
	vmig_modprobe vfio-pci-core
	[ -d /sys/module/vmig_ivshmem_vfio_pci ] || insmod "$ivshmem_ko"
	n=0
	for dev in /sys/bus/pci/devices/*; do
		[ "$(cat "$dev/vendor")" = 0x1af4 ] &&
			[ "$(cat "$dev/device")" = 0x1110 ] || continue
		bdf=$(basename "$dev")
		if [ "$(basename "$(readlink "$dev/driver")")" != \
		     vmig_ivshmem_vfio_pci ]; then
			[ -e "$dev/driver" ] && echo "$bdf" > "$dev/driver/unbind"
			echo vmig_ivshmem_vfio_pci > "$dev/driver_override"
			echo "$bdf" > /sys/bus/pci/drivers_probe
		fi
		case $n in
		0) export VMIG_IVSHMEM_A=$dev ;;
		1) export VMIG_IVSHMEM_B=$dev ;;
		esac
		n=$((n + 1))
	done
fi
