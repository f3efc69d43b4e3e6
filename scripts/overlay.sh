#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Overlay this tree into a kernel source tree: copy our files to the same
# paths and add the hook-up lines that make kbuild and Kconfig reach them.
# Idempotent; files whose content did not change keep their timestamps, so
# an incremental kernel build rebuilds only what changed.  A file that did
# change gets the time of the copy, never its own: a source older than the
# object built from its previous content (another checkout, a file restored
# from a backup) would otherwise not be rebuilt.
#
# usage: scripts/overlay.sh KERNEL_TREE

set -euo pipefail
. "$(dirname "$0")/lib.sh"

tree=${1:?usage: overlay.sh KERNEL_TREE}
[ -f "$tree/Makefile" ] && [ -d "$tree/drivers/vfio" ] || vmig_die "$tree is not a kernel tree"

manifest=$tree/.vmig-overlay
new=$(mktemp)
trap 'rm -f "$new"' EXIT

# Every file of ours that belongs in a kernel tree, build products excluded.
cd "$VMIG_TOP"
git ls-files --cached --others --exclude-standard -- \
	drivers include samples tools/testing/selftests/vfio tools/lib/vmig \
	tools/vmig Documentation |
	while read -r f; do [ -f "$f" ] && echo "$f"; done | sort > "$new"
echo drivers/vfio/Kconfig.vmig >> "$new"

# Forget files we put there before and no longer have.
if [ -f "$manifest" ]; then
	comm -23 <(sort "$manifest") <(sort "$new") | while read -r f; do
		rm -f "${tree:?}/$f"
	done
fi

put() {	# put SRC DST: copy unless identical
	mkdir -p "$(dirname "$2")"
	cmp -s "$1" "$2" || cp "$1" "$2"
}

while read -r f; do
	[ "$f" = drivers/vfio/Kconfig.vmig ] && continue
	put "$f" "$tree/$f"
done < "$new"
put Kconfig "$tree/drivers/vfio/Kconfig.vmig"
cp "$new" "$manifest"

hook() {	# hook FILE LINE: append LINE to FILE once
	grep -qxF "$2" "$tree/$1" || printf '%s\n' "$2" >> "$tree/$1"
}

hook drivers/vfio/Kconfig 'source "drivers/vfio/Kconfig.vmig"'
hook drivers/vfio/Makefile 'obj-$(CONFIG_VFIO_VMIG) += vmig/'
hook drivers/vfio/pci/Makefile 'obj-$(CONFIG_VMIG_IVSHMEM_VFIO_PCI) += vmig-ivshmem/'
hook samples/Makefile 'obj-$(CONFIG_SAMPLE_VMIG_MTTY) += vfio-vmig/'
