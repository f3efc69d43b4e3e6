#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# kernel-reports.sh FILE: print what a kernel log (dmesg, or a VM's serial
# console) reports that must never happen in a test run, and exit 1 if
# anything.  Exit 0 when the log is clean.
#
# Used in the guest on dmesg (scripts/vm-guest.sh) and on the host on the
# guest's console (scripts/vm.sh): the console keeps every report even
# when the guest's log buffer wrapped or its userspace stood still.
#
# One report is known and counted instead: vfio.ko's vfio_create_group()
# puts its half-made group with the iommu_group still set when
# dev_set_name() or cdev_device_add() fails, and vfio_group_release()
# warns about it (and the iommu_group reference is never dropped).  Only
# an allocation failure inside vfio.ko reaches it: the fail-nth sweep of
# mdev creation does.  It is known only with vfio_create_group() as a
# reliable frame of its trace (not a "?" one); a warning at the same place
# from any other path is reported as usual, and so is any other report
# line inside a known warning's block.  A block ends at its "end trace"
# line or after 80 lines, whichever comes first.

set -uo pipefail

[ $# = 1 ] || { echo "usage: $0 FILE" >&2; exit 2; }

# Anything the kernel says only when something is wrong.
bad='WARNING:|BUG:|Oops|general protection|KASAN|UBSAN|possible circular locking|'
# Lockdep's own reports; the word "lockdep" alone is also in boot banners.
bad+='possible recursive locking|inconsistent lock state|INFO: possible|'
bad+='suspicious RCU usage|DEBUG_LOCKS_WARN_ON|locking correctness validator|'
bad+='INFO: task .* blocked|hung_task|soft lockup|refcount_t:|list_(add|del) corruption|'
bad+='invoked oom-killer|Out of memory|'
# RCU stalls, hard lockups, panics.
bad+='detected stalls|self-detected stall|kthread starved|hard LOCKUP|Kernel panic'

awk -v bad="$bad" '
function flush() {
	if (!inblk)
		return
	if (known) {
		nknown++
		if (inner != "")
			report(inner)
	} else {
		report(blk)
	}
	inblk = 0
}
function report(text) {
	nbad++
	if (printed < 120)
		print text
	printed += split(text, unused, "\n")
}
# A WARN: from its "cut here" to its "end trace".
/-+\[ cut here \]-+/ {
	flush()
	if (after > 0) {
		report(ctx)
		after = 0
	}
	inblk = 1; blk = $0; known = 0; vfio_warn = 0; lines = 1; inner = ""
	next
}
inblk {
	blk = blk "\n" $0
	lines++
	if ($0 ~ /WARNING: .* at drivers\/vfio\/group\.c:[0-9]+ vfio_group_release\+/)
		vfio_warn = 1
	else if ($0 ~ bad)
		inner = inner (inner == "" ? "" : "\n") $0
	if (vfio_warn && $0 ~ /(^|\])[ \t]+vfio_create_group\+/)
		known = 1
	if ($0 ~ /---\[ end trace/ || lines >= 80)
		flush()
	next
}
# Anything else: the line and what follows it.
after > 0 { ctx = ctx "\n" $0; if (--after == 0) report(ctx); next }
$0 ~ bad { ctx = $0; after = 20; next }
END {
	flush()
	if (after > 0)
		report(ctx)
	if (nknown)
		printf "# kernel-reports: %d known vfio.ko warning(s) " \
			"(vfio_create_group() error path), not counted\n", nknown
	exit nbad > 0
}' "$1"
