#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Inside the benchmark VM: bind the device and run the benchmark.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/vm-devices.sh"
[ -n "${VMIG_IVSHMEM_A:-}" ] || { echo "bench: no ivshmem device"; exit 1; }
"$top/build/tools/vmig-ivshmem-bench" "$VMIG_IVSHMEM_A" 3
