#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# The main job: install what is missing, build the modules, boot the distro
# 6.12 kernel in a VM, load the vmig core and show its next-state table.

set -euo pipefail
. "$(dirname "$0")/lib.sh"

"$VMIG_TOP/scripts/setup.sh"
make -s -C "$VMIG_TOP" modules
exec "$VMIG_TOP/scripts/vm.sh" -- "$VMIG_TOP/scripts/demo-guest.sh"
