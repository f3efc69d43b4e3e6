#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Runs inside the test VM (see scripts/vm.sh): create the devices, then run
# every selftest of build/selftests and a check that the loaded module's
# table is the one documented; or, with arguments, one selftest program
# with its arguments.  Each program prints TAP with a "# Totals:" line.
#
# Without arguments, and when scripts/dkms-check.sh has left a DKMS tree
# for the running kernel in build/dkms/root, it first runs
# scripts/vm-modprobe.sh, before the devices are created from the build
# tree.
#
# usage: vm-tests.sh [--require] [--skip NAME,...] [--fnth-variant V]
#                    [--fnth-test V.CASE]... [--exclude PROGRAM:CASE]...
#                    [PROGRAM [ARGS...]]
#   --require       fail unless every device the tests know was created
#   --skip          leave these programs (basenames) out of the whole suite
#   --fnth-variant  run only this variant of vmig_failnth_test (and its
#                   checks after the sweeps)
#   --fnth-test     with --fnth-variant, run this case of another variant
#                   too (repeatable)
#   --exclude P:T   leave test case T of program P out (repeatable)
#
# A program still running after VMIG_PROG_TIMEOUT seconds (default 600)
# is reported as hung (see run_prog).  The guest does not inherit the
# host's environment: for a long run by hand, such as fail-nth's ivshmem
# sweeps on the debug kernel, pass it in the command, e.g.
#   scripts/vm.sh --debug ... -- env VMIG_PROG_TIMEOUT=7200 \
#       scripts/vm-tests.sh build/selftests/vmig_failnth_test -v ivshmem

set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
status=0
require=0
skip=,
[ "${1:-}" = --require ] && { require=1; shift; }
fnth=
[ "${1:-}" = --skip ] && { skip=",$2,"; shift 2; }
[ "${1:-}" = --fnth-variant ] && { fnth=$2; shift 2; }
fnth_also=()
while [ "${1:-}" = --fnth-test ]; do
	fnth_also+=(-r "fnth.$2")
	shift 2
done
exclude=()
while [ "${1:-}" = --exclude ]; do
	exclude+=("$2")
	shift 2
done

# A program's exit status: 0 passed, 4 (KSFT_SKIP) had nothing to run on
# this kernel; anything else failed.
ksft_ok() {
	[ "$1" = 0 ] || [ "$1" = 4 ]
}

# Each program runs in a process group of its own, so that a hang can be
# ended without ending this script.
set -m
# Python writes each line as it comes, not at exit: a program killed as
# hung must leave what it printed so far in the log.
export PYTHONUNBUFFERED=1

# task_stack LABEL TASKDIR: a task's name and kernel stack.
task_stack() {
	local id=${2#/proc/}

	echo "# vm-tests: $1 ${id/\/task\//\/} $(cat "$2"/comm 2> /dev/null)"
	sed 's/^/#   /' "$2"/stack 2> /dev/null
}

# hung_report PROGRAM SECONDS PGID: what a hung program's process group
# and the kernel are doing.
hung_report() {
	local p t f

	echo "# vm-tests: $(basename "$1") still running after $2 s:" \
		"blocked tasks and CPU backtraces follow"
	echo 1 > /proc/sys/kernel/sysrq
	echo w > /proc/sysrq-trigger
	echo l > /proc/sysrq-trigger
	sleep 2
	dmesg | tail -n 400
	# A task asleep in an interruptible wait (a blocking read of a data
	# fd, a QMP reply, a write to the console) is not in the blocked
	# list: show where each of the program's threads is, and any task
	# of the guest stuck writing to its console.
	for p in $(pgrep -g "$3"); do
		for t in /proc/"$p"/task/*; do
			task_stack "in the program:" "$t"
		done
	done
	grep -l -E 'port_fops_write|wait_port_writable|n_tty_write' \
		/proc/[0-9]*/task/*/stack 2> /dev/null | while read -r f; do
		task_stack "writing to the console:" "${f%/stack}"
	done
}

# run_prog PROGRAM [ARGS...]: run one program, its stdout and stderr in one
# pipe (written straight to the log, the harness's stdout and its
# children's stderr lost each other's lines).  A program still running
# after VMIG_PROG_TIMEOUT seconds hangs: the log gets the blocked tasks,
# every CPU's backtrace and the kernel stack of each of the program's
# threads; the program is killed and fails.  One that cannot be killed is
# stuck in the kernel: the guest powers off, and scripts/vm.sh reports a
# run cut short instead of waiting for its own timeout.  Each program's
# wall time goes to the log.
run_prog() {
	local tmo=${VMIG_PROG_TIMEOUT:-600} pid dog rc t0=$SECONDS rep

	# The report goes to a file of its own on the host first, and into
	# the log only once the program is gone, so that the two never
	# interleave and a guest that never ends still leaves it.
	rep=${VMIG_OUT:-/tmp}/hung-$(basename "$1").log
	rm -f "$rep"
	( "$@" 2>&1 | cat; exit "${PIPESTATUS[0]}" ) &
	pid=$!
	(
		sleep "$tmo"
		hung_report "$1" "$tmo" "$pid" > "$rep" 2>&1
		kill -KILL -- "-$pid" 2> /dev/null
		sleep 30
		kill -0 "$pid" 2> /dev/null || exit 0
		echo "# vm-tests: $(basename "$1") cannot be killed: power off" \
			>> "$rep"
		echo o > /proc/sysrq-trigger
	) &
	dog=$!
	wait "$pid"
	rc=$?
	kill -- "-$dog" 2> /dev/null
	wait "$dog" 2> /dev/null
	[ -s "$rep" ] && cat "$rep"
	echo "# vm-tests: $(basename "$1") took $((SECONDS - t0)) s"
	return $rc
}

if [ $# = 0 ] && [ -d "$top/build/dkms/root/lib/modules/$(uname -r)" ]; then
	"$top/scripts/vm-modprobe.sh" || status=1
fi

. "$top/scripts/vm-devices.sh"
env | grep '^VMIG_' | sort | sed 's/^/# device: /'

if [ $require = 1 ]; then
	for v in VMIG_MTTY1 VMIG_MTTY1_B VMIG_MTTY2 VMIG_MTTY2_B \
		 VMIG_IVSHMEM_A VMIG_IVSHMEM_B; do
		[ -n "${!v:-}" ] && continue
		echo "# missing device: $v"
		echo "# Totals: pass:0 fail:1 xfail:0 xpass:0 skip:0 error:0"
		status=1
	done
fi

if [ $# -gt 0 ]; then
	prog=$1
	shift
	echo "# ---- $(basename "$prog") $*"
	run_prog "$prog" "$@"
	ksft_ok $? || status=1
	exit $status
fi

# The whole suite gives the concurrency stress 20 s per driver, unless
# told otherwise (scripts/vm.sh passes VMIG_STRESS_SECONDS on).
export VMIG_STRESS_SECONDS=${VMIG_STRESS_SECONDS:-20}
for t in "$top"/build/selftests/*_test \
	 "$top"/tools/testing/selftests/vfio/*_test.py; do
	case $skip in *",$(basename "$t"),"*)
		echo "# ---- $(basename "$t"): not run here"
		continue ;;
	esac
	echo "# ---- $(basename "$t")"
	args=()
	# The ivshmem half of the stress resets and reopens the function
	# while other vCPUs fault on its BAR; the outer TCG QEMU of the test
	# VM then sometimes aborts in its own memory-map code and takes the
	# VM down.  The suite runs the mtty half; scripts/check.sh runs the
	# other on one vCPU with
	# "vm-tests.sh build/selftests/vmig_stress_test -v ivshmem".
	[ "$(basename "$t")" = vmig_stress_test ] && args=(-v mtty)
	# The harness enables a case at the first selector it matches.
	[ "$(basename "$t")" = vmig_failnth_test ] && [ -n "$fnth" ] &&
		args=(-v "$fnth" -f after "${fnth_also[@]}")
	for x in "${exclude[@]}"; do
		[ "${x%%:*}" = "$(basename "$t")" ] && args+=(-T "${x#*:}")
	done
	run_prog "$t" "${args[@]}"
	ksft_ok $? || status=1
done

# The matrix in debugfs is the one Documentation/ shows.
echo "# ---- documented table"
echo "TAP version 13"
echo "1..1"
if diff <(head -n 10 /sys/kernel/debug/vmig/fsm) \
	"$top/Documentation/driver-api/vfio-vmig-fsm-table.txt"; then
	echo "ok 1 debugfs table equals Documentation/driver-api/vfio-vmig-fsm-table.txt"
	echo "# Totals: pass:1 fail:0 xfail:0 xpass:0 skip:0 error:0"
else
	echo "not ok 1 debugfs table differs from the documented one"
	echo "# Totals: pass:0 fail:1 xfail:0 xpass:0 skip:0 error:0"
	status=1
fi
exit $status
