#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# The ivshmem save benchmark: one VM run with a 256 MiB ivshmem-plain
# device, printing the ratios of tools/vmig/vmig-ivshmem-bench.c.
#
# usage: scripts/bench.sh [BAR2 size, default 256M]

set -euo pipefail
. "$(dirname "$0")/lib.sh"

size=${1:-256M}
"$VMIG_TOP/scripts/setup.sh"
make -s -C "$VMIG_TOP" modules
"$VMIG_TOP/scripts/selftests-build.sh"
exec "$VMIG_TOP/scripts/vm.sh" --ivshmem 1 --ivshmem-size "$size" \
	--memory 3G -- "$VMIG_TOP/scripts/bench-guest.sh"
