#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# The whole test suite: install what is missing, build with W=1 and sparse,
# checkpatch, documentation, KUnit on UML (KASAN, UBSAN, lockdep), a DKMS
# install into a scratch tree, every selftest and the QEMU test in a VM on
# the debug kernel (KASAN, lockdep, kmemleak, UBSAN, fault injection; 2
# vCPUs, then one for what toggles the ivshmem BARs' decoding), then on
# the distro kernel users run.  Logs go to
# build/check/.  The last line is the summary
# "N passed, M failed", counting every KUnit case, every selftest case and
# every static check.

set -uo pipefail
. "$(dirname "$0")/lib.sh"

logs=$VMIG_TOP/build/check
rm -rf "$logs"
mkdir -p "$logs"
cd "$VMIG_TOP"

passed=0
failed=0
stalls=
start=$(date +%s)

step() {	# step NAME COMMAND...: run, log, count
	local name=$1 t0=$(date +%s) rc
	shift
	"$@" > "$logs/$name.log" 2>&1
	rc=$?
	step_rc=$rc
	if [ $rc = 0 ]; then
		passed=$((passed + 1))
		printf 'PASS  %-12s (%ds)\n' "$name" $(($(date +%s) - t0))
	else
		failed=$((failed + 1))
		printf 'FAIL  %-12s (%ds), log: build/check/%s.log\n' "$name" \
			$(($(date +%s) - t0)) "$name"
		tail -n 30 "$logs/$name.log" | sed 's/^/      /'
	fi
	return $rc
}

# A VM run whose guest stood still (scripts/vm.sh exits 75 after asking
# QEMU's monitor what the vCPUs were doing) runs once more: see "When a
# VM run hangs" in Documentation/driver-api/vfio-vmig.rst.  The first
# log stays, as NAME.stalled.log; a second stall fails the step.
vm_step() {
	local name=$1

	step "$@" && return 0
	[ "$step_rc" = 75 ] || return 1
	mv "$logs/$name.log" "$logs/$name.stalled.log"
	failed=$((failed - 1))
	stalls+=" $name"
	echo "      the guest stood still: once more (first log:" \
	     "build/check/$name.stalled.log)"
	step "$@"
}

# Count KUnit's and kselftest's own totals from a log.
count_kunit() {
	local line p f

	line=$(grep -E 'Testing complete\. Ran [0-9]+ tests' "$1" | tail -n1)
	p=$(sed -n 's/.*passed: \([0-9]*\).*/\1/p' <<< "$line")
	f=$(sed -n 's/.*failed: \([0-9]*\).*/\1/p' <<< "$line")
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0}))
	echo "      KUnit: ${line#*] }"
}

count_tap() {
	local p=0 f=0 x y

	while read -r x y; do
		p=$((p + x))
		f=$((f + y))
	done < <(sed -n 's/^# Totals: pass:\([0-9]*\) fail:\([0-9]*\) .*error:\([0-9]*\).*/\1 \2/p' "$1")
	passed=$((passed + p))
	failed=$((failed + f))
	echo "      selftests: $p passed, $f failed"
	# A VM whose output stopped early has not run everything.
	if ! grep -q '^# vm-guest: done' "$1"; then
		echo "      the VM's output ends before the guest finished"
		failed=$((failed + 1))
	fi
}

# W=1 and sparse must be silent: any warning fails the build step.  The
# build starts from a clean tree, so that every file is checked again: a
# clean that fails fails the step, or the build would be incremental.
build_clean() {
	make -s -C "$(vmig_kdir)" M="$VMIG_TOP" clean || return 1
	make modules W=1 C=2 || return 1
	! grep -E '(warning|error):' "$logs/build.log"
}

step setup scripts/setup.sh || { echo "0 passed, 1 failed"; exit 1; }
step build build_clean
step checkpatch scripts/checkpatch.sh
step docs scripts/docs.sh --check
step kunit scripts/kunit.sh
count_kunit "$logs/kunit.log"
step selftests-build scripts/selftests-build.sh
# DKMS and make install into scratch trees; the VM step below loads the
# drivers from the DKMS tree by name.
step dkms scripts/dkms-check.sh
if [ -f build/selftests/vmig_fsm_test ] && [ -f drivers/vfio/vmig/vmig.ko ]; then
	# The VM harness's own error paths: a log copied whole, a timeout
	# that stops the VM, a guest's exit status kept.
	step vm-harness scripts/vm-harness-check.sh
	# Every selftest and the QEMU test on the debug kernel: any KASAN,
	# lockdep, UBSAN report, WARN, BUG, hung task or kmemleak leak fails
	# it.  What turns the ivshmem BARs' decoding off and on many times a
	# second (the tests with decoding off, QEMU's save of a never-run VM,
	# the ivshmem half of the stress, fail-nth's ivshmem sweeps) runs
	# last, with one CPU left online: with two vCPUs it provokes the
	# outer TCG QEMU's memory-map race (scripts/vm-tests-debug.sh).
	# fail-nth's ivshmem read and write sweeps replay a save per
	# injection point and are left to a run by hand.  A passing run
	# takes 20 to 25 minutes; one that stalls is stopped after 40 (see
	# "When a VM run hangs" in Documentation/driver-api/vfio-vmig.rst).
	if step debug-kernel scripts/debug-kernel.sh; then
		vm_step vm-debug scripts/vm.sh --debug --ivshmem 2 \
			--ivshmem-size 64M --memory 3G --timeout 2400 -- \
			scripts/vm-tests-debug.sh
		count_tap "$logs/vm-debug.log"
	fi
	# The same on the distro kernel, with two 64 MiB ivshmem-plain devices.
	vm_step vm scripts/vm.sh --ivshmem 2 --ivshmem-size 64M --memory 3G -- \
		scripts/vm-tests.sh --require
	count_tap "$logs/vm.log"
	# The largest device memory the driver is meant for: 1 GiB.
	vm_step vm-1g scripts/vm.sh --ivshmem 2 --ivshmem-size 1G --memory 6G -- \
		scripts/vm-tests.sh build/selftests/vmig_ivshmem_test -t stop_copy
	count_tap "$logs/vm-1g.log"
	# A function without a reset method: the driver's own reset.
	vm_step vm-rootbus scripts/vm.sh --ivshmem 2 --ivshmem-root-bus \
		--ivshmem-size 64M --memory 3G -- \
		scripts/vm-tests.sh build/selftests/vmig_ivshmem_test
	count_tap "$logs/vm-rootbus.log"
else
	echo "FAIL  vm           (not run: modules or selftests did not build)"
	failed=$((failed + 1))
fi

echo "wall time: $(($(date +%s) - start)) s"
[ -z "$stalls" ] ||
	echo "VM runs that stood still and ran again:$stalls (build/check/*.stalled.log)"
echo "$passed passed, $failed failed"
[ $failed = 0 ]
