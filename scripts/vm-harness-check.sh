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
#   buffer lost it) fails the run with 125.
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
