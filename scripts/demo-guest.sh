#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Runs inside the demo VM, with the vmig core loaded by vm-guest.sh.

set -euo pipefail

echo "== kernel $(uname -r); vmig loaded: $(grep -c '^vmig ' /proc/modules) instance"
echo "== /sys/kernel/debug/vmig/fsm"
cat /sys/kernel/debug/vmig/fsm
