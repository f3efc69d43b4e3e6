#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# The benchmarks, in one VM run with a 256 MiB ivshmem-plain device:
# tools/vmig/vmig-latency-bench.c, a vmig_mtty device against the kernel's
# own mtty sample (built here from linux-source for the distro kernel), and
# tools/vmig/vmig-ivshmem-bench.c.  Each prints its ratios first.
#
# usage: scripts/bench.sh [BAR2 size, default 256M]

set -euo pipefail
. "$(dirname "$0")/lib.sh"

size=${1:-256M}
"$VMIG_TOP/scripts/setup.sh"
make -s -C "$VMIG_TOP" modules
"$VMIG_TOP/scripts/selftests-build.sh"

# The reference: samples/vfio-mdev/mtty.c as the distro kernel would build
# it, copied only when it changed so that make has nothing to do again.
vmig_ksrc
ref=$VMIG_TOP/build/upstream-mtty
mkdir -p "$ref"
cmp -s "$VMIG_KSRC/samples/vfio-mdev/mtty.c" "$ref/mtty.c" ||
	cp "$VMIG_KSRC/samples/vfio-mdev/mtty.c" "$ref/mtty.c"
echo 'obj-m := mtty.o' > "$ref/Kbuild"
make -s -C "$(vmig_kdir)" M="$ref" modules

exec "$VMIG_TOP/scripts/vm.sh" --ivshmem 1 --ivshmem-size "$size" \
	--memory 3G -- "$VMIG_TOP/scripts/bench-guest.sh"
