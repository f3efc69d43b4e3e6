#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# The main job: install what is missing, build the modules and vmig-ctl,
# boot the distro 6.12 kernel in a VM, and migrate a vmig_mtty device into
# another one with vmig-ctl, showing the arc trace and the bytes that
# survived (scripts/demo-guest.sh).

set -euo pipefail
. "$(dirname "$0")/lib.sh"

"$VMIG_TOP/scripts/setup.sh"
make -s -C "$VMIG_TOP" modules
"$VMIG_TOP/scripts/selftests-build.sh"
exec "$VMIG_TOP/scripts/vm.sh" -- "$VMIG_TOP/scripts/demo-guest.sh"
