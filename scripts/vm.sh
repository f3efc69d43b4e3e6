#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Boot the distro 6.12 kernel (or, with --debug, the debug kernel of
# scripts/debug-kernel.sh) under virtme-ng (KVM when it works, TCG
# otherwise) with a q35 machine and an emulated IOMMU, and run a command in
# it through scripts/vm-guest.sh, which fails the run on any WARN, BUG,
# lockdep, KASAN, UBSAN or hung-task report in dmesg.
#
# usage: scripts/vm.sh [--ivshmem N] [--ivshmem-size SIZE] [--memory SIZE]
#                      [--ivshmem-root-bus] [--timeout SECONDS] [--debug]
#                      -- COMMAND [ARGS...]
#
# --debug boots the debug kernel (built first if its configuration
# changed) and loads our modules built against it.  Its checkers are slow
# under TCG: the soft-lockup threshold is raised to match.
#
# Each ivshmem-plain sits behind a pcie-root-port of its own, where a
# secondary bus reset resets it.  --ivshmem-root-bus puts the first one on
# the root bus instead, where it has no reset method; it sorts first, so
# scripts/vm-devices.sh makes it VMIG_IVSHMEM_A.
#
# The guest sees the host file system read-only, with a writable /tmp.

set -euo pipefail
. "$(dirname "$0")/lib.sh"

ivshmem=0
ivshmem_size=16M
memory=2G
root_bus=0
tmo=900
debug=0
while [ $# -gt 0 ]; do
	case $1 in
	--ivshmem) ivshmem=$2; shift 2 ;;
	--ivshmem-size) ivshmem_size=$2; shift 2 ;;
	--memory) memory=$2; shift 2 ;;
	--ivshmem-root-bus) root_bus=1; shift ;;
	--timeout) tmo=$2; shift 2 ;;
	--debug) debug=1; shift ;;
	--) shift; break ;;
	*) vmig_die "unknown option $1" ;;
	esac
done
[ $# -gt 0 ] || vmig_die "no command"

krel=$(vmig_krel)
kernel=/boot/vmlinuz-$krel
[ -f "$kernel" ] || vmig_die "$kernel missing: run scripts/setup.sh"
accel=$(vmig_accel)
append="intel_iommu=on"
guest_env=
if [ $debug = 1 ]; then
	"$VMIG_TOP/scripts/debug-kernel.sh"
	kernel=$VMIG_CACHE/debug-kernel/build/arch/x86/boot/bzImage
	krel=$("$VMIG_TOP/scripts/debug-kernel.sh" --print-release)
	append="$append watchdog_thresh=30"
	guest_env="VMIG_KO_DIR=$VMIG_CACHE/debug-kernel/mods"
fi

qopts="-machine q35 -device intel-iommu"
for i in $(seq 1 "$ivshmem"); do
	qopts="$qopts -object memory-backend-ram,id=vmigm$i,size=$ivshmem_size"
	if [ "$i" = 1 ] && [ $root_bus = 1 ]; then
		qopts="$qopts -device ivshmem-plain,memdev=vmigm$i,bus=pcie.0"
		continue
	fi
	qopts="$qopts -device pcie-root-port,id=vmigrp$i,chassis=$i,slot=$i"
	qopts="$qopts -device ivshmem-plain,memdev=vmigm$i,bus=vmigrp$i"
done

args=(-r "$kernel" -m "$memory" --cpus 2 --append "$append"
      --qemu-opts="$qopts")
[ "$accel" = kvm ] || args+=(--disable-kvm)

cmd=$(printf '%q ' "$@")
where=
[ $root_bus = 1 ] && where=", the first on the root bus"
vmig_log "booting $krel ($accel, $ivshmem ivshmem-plain of $ivshmem_size$where)"
exec timeout --foreground "$tmo" vng "${args[@]}" \
	--exec "$guest_env bash $VMIG_TOP/scripts/vm-guest.sh $cmd"
