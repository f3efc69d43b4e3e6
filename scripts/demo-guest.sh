#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# The demo, inside the VM: two vmig_mtty devices; a guest program writes
# bytes into the first in loopback mode, half of them before pre-copy
# starts and half while it runs; vmig-ctl saves it to a file and loads the
# file into the second; the second gives the bytes back.  The arc trace
# comes from the vmig tracepoints.

set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
ctl=$top/build/tools/vmig-ctl
msg="hello, vmig"

. "$top/scripts/vm-devices.sh"
[ -n "${VMIG_MTTY1:-}" ] || { echo "demo: no vmig_mtty device"; exit 1; }
a=$VMIG_MTTY1
b=$VMIG_MTTY1_B

echo "== kernel $(uname -r); next-state table of the loaded vmig core"
head -n 10 /sys/kernel/debug/vmig/fsm

tracing=/sys/kernel/tracing
[ -d "$tracing/events" ] || tracing=/sys/kernel/debug/tracing
echo > "$tracing/trace"
echo 1 > "$tracing/events/vmig/enable"

bytes() { printf '%s' "$1" | od -An -tu1 | tr -s ' \n' ' '; }
first=${msg:0:5}
rest=${msg:5}

echo
echo "== source $(basename "$a"): program the UART, loop \"$first\" back,"
echo "   pre-copy, loop \"$rest\" back while it runs, save"
# DLAB, divisor 12, 8N1, FIFOs on, loopback; then bytes to THR.
"$ctl" "$a" write 0 3 0x80 write 0 0 12 write 0 1 0 write 0 3 0x03 \
	write 0 2 0x07 write 0 4 0x10 write 0 0 $(bytes "$first") \
	info precopy write 0 0 $(bytes "$rest") precopy-info \
	save /tmp/vmig-demo.stream

echo
echo "== destination $(basename "$b"): load, then read the receive buffer"
out=$("$ctl" "$b" load /tmp/vmig-demo.stream read 0 0 "${#msg}")
printf '%s\n' "$out"
got=$(for x in $(printf '%s\n' "$out" | sed -n 's/^read: //p'); do
	printf "\\x$x"
done)

echo 0 > "$tracing/events/vmig/enable"
echo
echo "== arc trace (vmig tracepoints)"
grep -E 'vmig_(arc|walk|session|reset):' "$tracing/trace" |
	sed -E 's/^.*(vmig_(arc|walk|session|reset): )/\1/'

echo
echo "== sent \"$msg\", received \"$got\""
[ "$got" = "$msg" ] && echo "demo: the bytes survived the migration" && exit 0
echo "demo: MISMATCH"
exit 1
