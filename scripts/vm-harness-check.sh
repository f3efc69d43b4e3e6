#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# The VM harness's own error paths (scripts/vm.sh):
# - the guest's log is copied whole, however fast the guest writes it;
# - --timeout stops a guest that does not end, QEMU included, with 124;
# - a guest that ends keeps its command's exit status and output;
# - a guest that prints nothing for VMIG_VM_SILENCE seconds is stopped
#   with 75, after QEMU's monitor said what its vCPUs were doing;
# - a kernel report that only the serial console kept (the guest's log
#   buffer lost it) fails the run with 125;
# - scripts/kernel-reports.sh tells the known vfio.ko warning from the
#   rest (on logs made up here, without a VM).
# Boots the distro kernel four times, about four minutes in all.

set -uo pipefail
. "$(dirname "$0")/lib.sh"

status=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

check() {	# check NAME CONDITION...
	local name=$1

	shift
	if "$@"; then
		echo "ok: $name"
	else
		echo "FAIL: $name"
		status=1
	fi
}

# scripts/kernel-reports.sh on logs made up here, no VM: the one known
# vfio.ko warning is counted, anything beside it or like it is not.
# vfio_warn TRACE_FRAME: a vfio_group_release() warning block.
vfio_warn() {
	printf '%s\n' '[ 10.000000] ------------[ cut here ]------------' \
		'[ 10.000001] WARNING: CPU: 1 PID: 9 at drivers/vfio/group.c:538 vfio_group_release+0xd3/0x100' \
		'[ 10.000002] Call Trace:' \
		'[ 10.000003]  device_release+0xc8/0x250' \
		'[ 10.000004]  kobject_put+0x151/0x290' \
		"[ 10.000005]  $1+0x39b/0x570" \
		'[ 10.000006] ---[ end trace 0000000000000000 ]---'
}
reports() {	# reports NAME EXPECTED_STATUS: the log on stdin
	local rc

	cat > "$tmp/klog"
	"$VMIG_TOP/scripts/kernel-reports.sh" "$tmp/klog" > "$tmp/kout" 2>&1
	rc=$?
	check "kernel-reports: $1: status $2 (got $rc)" [ "$rc" = "$2" ]
}
vfio_warn vfio_create_group | reports "the known warning" 0
check "kernel-reports: the known warning is counted" \
	grep -q '^# kernel-reports: 1 known' "$tmp/kout"
vfio_warn '? vfio_create_group' | reports "an unreliable frame" 1
vfio_warn vfio_unregister_group_dev | reports "another path" 1
{ vfio_warn vfio_create_group | sed '$d'
  echo '[ 11.0] BUG: KASAN: slab-use-after-free in vmig_x+0x1/0x2'; } |
	reports "a report inside a known block without its end" 1
echo '[ 12.0] rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:' |
	reports "an RCU stall" 1
printf '%s\n' '[ 1.0] Linux version 6.12' '[ 2.0] lockdep: fine' |
	reports "a clean log" 0

# A writer of 200000 short lines at full speed, streamed while it writes.
: > "$tmp/log"
vmig_stream_log "$tmp/log" > "$tmp/copy" &
streamer=$!
for ((i = 1; i <= 200000; i++)); do
	echo "ok $i a line of a selftest's output, written one at a time"
done >> "$tmp/log"
kill -USR1 "$streamer"
wait "$streamer"
check "stream: exit status 0" [ $? = 0 ]
check "stream: the copy equals the file ($(wc -l < "$tmp/copy") lines)" \
	cmp -s "$tmp/log" "$tmp/copy"

# A guest that sleeps far past the timeout.
t0=$(date +%s)
"$VMIG_TOP/scripts/vm.sh" --timeout 30 -- sleep 600 > "$tmp/tmo" 2>&1
rc=$?
t=$(($(date +%s) - t0))
check "timeout: status 124 (got $rc)" [ "$rc" = 124 ]
check "timeout: over within 90 s (took $t s)" [ "$t" -le 90 ]
no_qemu_left() {
	! pgrep -f -- "-fsdev local,.*vm-out/run\." > /dev/null
}
check "timeout: no QEMU of the run left" no_qemu_left

# A guest whose command ends by itself, with a status of its own.
"$VMIG_TOP/scripts/vm.sh" -- sh -c 'echo vmig-harness-marker; exit 3' \
	> "$tmp/run" 2>&1
rc=$?
check "exit status: 3 (got $rc)" [ "$rc" = 3 ]
check "output: the command's line is there" \
	grep -qx vmig-harness-marker "$tmp/run"

# A guest that stands still: here, one that sleeps and prints nothing.
t0=$(date +%s)
VMIG_VM_SILENCE=60 "$VMIG_TOP/scripts/vm.sh" --timeout 600 -- sleep 600 \
	> "$tmp/still" 2>&1
rc=$?
t=$(($(date +%s) - t0))
check "silence: status 75 (got $rc)" [ "$rc" = 75 ]
check "silence: over within 180 s (took $t s)" [ "$t" -le 180 ]
check "silence: the monitor reported the vCPUs" \
	grep -q 'HLT=' "$tmp/still"
check "silence: no QEMU of the run left" no_qemu_left

# A warning in the console only: the guest clears its log buffer after it.
"$VMIG_TOP/scripts/vm.sh" -- sh -c \
	'echo "<4>WARNING: CPU: 0 PID: 1 at vmig-harness-check" > /dev/kmsg;
	 dmesg -C' > "$tmp/report" 2>&1
rc=$?
check "console report: status 125 (got $rc)" [ "$rc" = 125 ]
check "console report: the warning is shown" \
	grep -q 'WARNING: CPU: 0 PID: 1 at vmig-harness-check' "$tmp/report"

[ $status = 0 ] ||
	sed 's/^/| /' "$tmp/tmo" "$tmp/run" "$tmp/still" "$tmp/report"
exit $status
