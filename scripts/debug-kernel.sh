#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Build the debug guest kernel of the VM runs from linux-source-6.12:
# x86_64_defconfig with scripts/debug-kernel.config merged over it (KASAN,
# lockdep, kmemleak, UBSAN, fault injection, the hung-task and soft-lockup
# detectors; vfio, vfio-pci-core and mdev built in), then our modules built
# against it in a copy of this tree.
#
# The build lives in VMIG_CACHE/debug-kernel.  The kernel is keyed by its
# configuration (the fragment and the source tarball): with the same key
# and an image in place it is not looked at again; a new key rebuilds it
# incrementally.  Our modules are rebuilt whenever their sources changed.
#
# usage: scripts/debug-kernel.sh [--print-release]
# Prints nothing on success but "built in N s" when it built something.

set -euo pipefail
. "$(dirname "$0")/lib.sh"

dir=$VMIG_CACHE/debug-kernel
build=$dir/build
frag=$VMIG_TOP/scripts/debug-kernel.config

[ "${1:-}" = --print-release ] && { cat "$build/include/config/kernel.release"; exit 0; }

# The key: the fragment and the tarball the source came from.
key=$( { cat "$frag"; stat -c %Y "$VMIG_SRC_TARBALL"; } | sha256sum | cut -c1-16)
t0=$(date +%s)
mkdir -p "$dir"

if [ "$(cat "$dir/key" 2>/dev/null)" != "$key" ] ||
   [ ! -f "$build/arch/x86/boot/bzImage" ]; then
	vmig_ksrc
	rm -f "$dir/key"
	mkdir -p "$build"
	vmig_log "configuring ($key)"
	make -s -C "$VMIG_KSRC" O="$build" x86_64_defconfig >/dev/null
	"$VMIG_KSRC/scripts/kconfig/merge_config.sh" -m -O "$build" \
		"$build/.config" "$frag" >/dev/null
	make -s -C "$VMIG_KSRC" O="$build" olddefconfig >/dev/null
	# Every line of the fragment must have stuck.
	bad=0
	while read -r line; do
		case $line in
		CONFIG_*=*) grep -qxF "$line" "$build/.config" || {
			vmig_log "not set: $line"; bad=1; } ;;
		"# CONFIG_"*" is not set")
			sym=${line#\# }
			sym=${sym%% *}
			! grep -q "^$sym=" "$build/.config" || {
				vmig_log "still set: $sym"; bad=1; } ;;
		esac
	done < "$frag"
	[ $bad = 0 ] || vmig_die "the debug configuration does not hold"
	vmig_log "building the kernel (-j$(nproc))"
	make -s -C "$VMIG_KSRC" O="$build" -j"$(nproc)" bzImage modules \
		> "$dir/build.log" 2>&1 || { tail -n 40 "$dir/build.log"; vmig_die "kernel build failed, log: $dir/build.log"; }
	echo "$key" > "$dir/key"
fi

# Our modules, against that kernel, in a copy of our tree: building in place
# would replace the objects built for the distro kernel.
mods=$dir/mods
mkdir -p "$mods"
# Without -t, a copied file gets the time of the copy and an unchanged one
# keeps its own, so make rebuilds exactly what changed.
rsync -r --checksum --delete --exclude='*.o' --exclude='*.ko' \
	--exclude='*.mod*' --exclude='.*' --exclude='Module.symvers' \
	--exclude='modules.order' --include='/Kbuild' --include='/Kconfig' \
	--include='/include/***' --include='/drivers/***' \
	--include='/samples/***' --exclude='*' "$VMIG_TOP/" "$mods/"
make -s -C "$build" M="$mods" CONFIG_VFIO_VMIG=m \
	CONFIG_VMIG_IVSHMEM_VFIO_PCI=m CONFIG_SAMPLE_VMIG_MTTY=m modules \
	> "$dir/mods.log" 2>&1 || { cat "$dir/mods.log"; vmig_die "module build failed"; }
t=$(($(date +%s) - t0))
[ $t -lt 5 ] || vmig_log "built in $t s"
