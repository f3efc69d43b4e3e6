#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Boot the distro 6.12 kernel (or, with --debug, the debug kernel of
# scripts/debug-kernel.sh) under virtme-ng (KVM when it works, TCG
# otherwise) with a q35 machine and an emulated IOMMU, and run a command in
# it through scripts/vm-guest.sh, which fails the run on any WARN, BUG,
# lockdep, KASAN, UBSAN or hung-task report in dmesg.
#
# usage: scripts/vm.sh [--ivshmem N] [--ivshmem-size SIZE] [--memory SIZE]
#                      [--ivshmem-root-bus] [--cpus N] [--timeout SECONDS]
#                      [--debug] -- COMMAND [ARGS...]
#
# --debug boots the debug kernel (built first if its configuration
# changed) and loads our modules built against it.
#
# Each ivshmem-plain sits behind a pcie-root-port of its own, where a
# secondary bus reset resets it.  --ivshmem-root-bus puts the first one on
# the root bus instead, where it has no reset method; it sorts first, so
# scripts/vm-devices.sh makes it VMIG_IVSHMEM_A.
#
# --cpus sets the guest's vCPUs (2 by default).
#
# The guest sees the host file system read-only, with a writable /tmp,
# and one host directory, build/vm-out/<run>, writable at $VMIG_OUT: what
# the guest writes there survives a console that stops (the watchdog of
# scripts/vm-tests.sh writes its reports there first).  A run cut short
# prints what is there; a run that fails keeps it.
# VMIG_STRESS_SECONDS, if set, reaches the command's environment.
# VMIG_VM_QEMU_OPTS and VMIG_VM_APPEND, if set, are added to QEMU's
# options and to the kernel's command line (a monitor socket, a gdb stub
# and nokaslr, say, while looking into a hang).

set -euo pipefail
. "$(dirname "$0")/lib.sh"

ivshmem=0
ivshmem_size=16M
memory=2G
cpus=2
root_bus=0
tmo=900
debug=0
while [ $# -gt 0 ]; do
	case $1 in
	--ivshmem) ivshmem=$2; shift 2 ;;
	--ivshmem-size) ivshmem_size=$2; shift 2 ;;
	--memory) memory=$2; shift 2 ;;
	--ivshmem-root-bus) root_bus=1; shift ;;
	--cpus) cpus=$2; shift 2 ;;
	--timeout) tmo=$2; shift 2 ;;
	--debug) debug=1; shift ;;
	--) shift; break ;;
	*) vmig_die "unknown option $1" ;;
	esac
done
[ $# -gt 0 ] || vmig_die "no command"

krel=$(vmig_krel)
kernel=/boot/vmlinuz-$krel
[ -f "$kernel" ] || vmig_die "$kernel missing: run scripts/setup.sh"
accel=$(vmig_accel)
# Under TCG the whole guest can stand still while QEMU rebuilds its memory
# map (a BAR's decoding toggled) or the host is busy; without steal time
# the guest's soft-lockup detector takes such a pause for its own.  A
# lockup must last a minute to be reported, on both kernels.
# The kernel's console keeps what reaches it at warning level and above
# (see below).  The log buffer holds a whole run: the guest's scan of it
# must not miss an early report that later lines pushed out.
append="intel_iommu=on watchdog_thresh=30 loglevel=5 log_buf_len=16M"
append="$append ${VMIG_VM_APPEND:-}"
guest_env=
if [ $debug = 1 ]; then
	"$VMIG_TOP/scripts/debug-kernel.sh"
	kernel=$VMIG_CACHE/debug-kernel/build/arch/x86/boot/bzImage
	krel=$("$VMIG_TOP/scripts/debug-kernel.sh" --print-release)
	guest_env="VMIG_KO_DIR=$VMIG_CACHE/debug-kernel/mods"
fi

qopts="-machine q35 -device intel-iommu"
# Under TCG, an x2APIC.  With the xAPIC, every end of interrupt is an
# MMIO write to the APIC page, and the outer QEMU has lost such a write
# while another vCPU changed the memory map (a BAR's decoding turned on or
# off, a bus reset): the timer vector then stays in service on that vCPU,
# which takes no timer interrupt again, and the guest stands still (its
# monitor showed ISR 236, IRR 236, PPR 0xe0).  An x2APIC takes its EOI as
# a register write.  The guest uses it only with interrupt remapping in
# x2APIC mode: the IOMMU's extended interrupt mode.
if [ "$accel" != kvm ]; then
	qopts="$qopts,intremap=on,eim=on -cpu qemu64,+x2apic"
fi
qopts="$qopts ${VMIG_VM_QEMU_OPTS:-}"
for i in $(seq 1 "$ivshmem"); do
	qopts="$qopts -object memory-backend-ram,id=vmigm$i,size=$ivshmem_size"
	if [ "$i" = 1 ] && [ $root_bus = 1 ]; then
		qopts="$qopts -device ivshmem-plain,memdev=vmigm$i,bus=pcie.0"
		continue
	fi
	qopts="$qopts -device pcie-root-port,id=vmigrp$i,chassis=$i,slot=$i"
	qopts="$qopts -device ivshmem-plain,memdev=vmigm$i,bus=vmigrp$i"
done

# --verbose gives the guest kernel's serial console to vng's stderr.
args=(-r "$kernel" -m "$memory" --cpus "$cpus" --append "$append"
      --verbose)
[ "$accel" = kvm ] || args+=(--disable-kvm)

cmd=$(printf '%q ' "$@")
# The guest does not inherit the environment: pass on what tests read.
if [ -n "${VMIG_STRESS_SECONDS:-}" ]; then
	cmd="env VMIG_STRESS_SECONDS=$(printf '%q' "$VMIG_STRESS_SECONDS") $cmd"
fi
where=
[ $root_bus = 1 ] && where=", the first on the root bus"
vmig_log "booting $krel ($accel, $cpus vCPUs, $ivshmem ivshmem-plain of $ivshmem_size$where)"
mkdir -p "$VMIG_TOP/build/vm-out"
out=$(mktemp -d "$VMIG_TOP/build/vm-out/run.XXXXXX")
args+=("--rwdir=/tmp/vmig-out=$out")
# A monitor, for a look at a guest that stands still (see below).  Its
# socket lives in a short directory of its own: a socket's path has room
# for 107 bytes, which a deep checkout would exceed.
mon=$(mktemp -d /tmp/vmig-mon.XXXXXX)
args+=("--qemu-opts=$qopts -monitor unix:$mon/monitor,server=on,wait=off")
guest_env="$guest_env VMIG_OUT=/tmp/vmig-out"
# The guest writes its log to a file of the run directory (see
# scripts/vm-guest.sh), not to its virtio-serial console; this copies it
# to our output as it grows.
: > "$out/log"
vmig_stream_log "$out/log" &
streamer=$!
# QEMU opens its stdout and stderr again, by name, once per guest stream,
# truncating a file and writing it at offsets of its own: given a file,
# the guest's streams and ours would overwrite each other.  A pipe keeps
# them in order.
#
# The timeout cannot be timeout(1)'s: QEMU is a grandchild of vng, which
# does not pass a signal on, and QEMU holds the pipe, so ending vng ended
# nothing.  stop_vm kills the QEMU itself (the run's own directory is in
# its command line); vng then ends, and so does the pipe.
stop_vm() { pkill -KILL -f -- "-fsdev local,.*path=$out," || true; }
(
	trap 'kill "$nap" 2> /dev/null; exit 0' TERM
	sleep "$tmo" > /dev/null 2>&1 &
	nap=$!
	wait "$nap"
	: > "$out.timeout"
	vmig_log "no end after $tmo s: stopping the VM"
	stop_vm
) &
killer=$!
# A guest that printed nothing, to its log or its console, for $silence
# seconds stands still: its own watchdog (scripts/vm-tests.sh) reports a
# program that runs too long after 600 s, and the debug kernel boots in
# under ten minutes.  Before stopping it, ask QEMU's monitor what its
# vCPUs were doing: the answers go to the run directory's "stall" file.
# Such a run exits 75 (unless its console has a kernel report, below);
# scripts/check.sh runs it once more.
silence=${VMIG_VM_SILENCE:-780}
silencer=
if [ "$silence" -gt 0 ]; then
	(
		# Whatever fails here, the guest is stopped all the same.
		set +eu +o pipefail
		trap 'kill "$nap" 2> /dev/null; exit 0' TERM
		last= idle=0
		while :; do
			sleep 30 > /dev/null 2>&1 &
			nap=$!
			wait "$nap"
			now=$(stat -c %s "$out/log" "$out/console" 2> /dev/null)
			if [ "$now" != "$last" ]; then
				last=$now idle=0
				continue
			fi
			idle=$((idle + 30))
			[ "$idle" -ge "$silence" ] || continue
			vmig_log "no output for $idle s: the guest stands still"
			cpus_cmds=()
			for c in $(seq 0 $((cpus - 1))); do
				cpus_cmds+=("cpu $c" "info lapic")
			done
			timeout 120 "$VMIG_TOP/scripts/vm-monitor.py" \
				"$mon/monitor" "info status" "info cpus" \
				"info registers -a" "${cpus_cmds[@]}" "info pic" \
				> "$out/stall" 2>&1
			: > "$out.stalled"
			stop_vm
			exit 0
		done
	) &
	silencer=$!
fi
# The kernel console (and vng's own chatter) goes to a file of the run
# directory, through a pipe for the reason above.  It is what is left of
# a guest whose userspace stood still: hung-task, RCU-stall and lockdep
# reports print there even when the log file above no longer grows.
set +e
vng "${args[@]}" \
	--exec "$guest_env bash $VMIG_TOP/scripts/vm-guest.sh $cmd" \
	2> >(cat > "$out/console") | cat
rc=${PIPESTATUS[0]}
kill "$killer" $silencer 2> /dev/null
wait "$killer" $silencer 2> /dev/null
rm -rf "$mon"
set -e
if [ -e "$out.timeout" ]; then
	rm -f "$out.timeout"
	rc=124
fi
if [ -e "$out.stalled" ]; then
	rm -f "$out.stalled"
	rc=75
	echo "# vm.sh: the guest stood still for $silence s; the monitor said" \
	     "($out/stall):"
	grep -E '^\(qemu\)|CPU ?#|^RIP|^(LVTT|Timer|ISR|IRR|APR)|status|vm-monitor' \
		"$out/stall" | head -n 60 | sed 's/^/# | /' || true
fi
kill -USR1 "$streamer" 2> /dev/null || true
streamed=0
wait "$streamer" || streamed=$?
if [ "$streamed" != 0 ]; then
	vmig_log "copying the guest's log failed ($streamed): it is in $out/log"
	[ "$rc" = 0 ] && rc=1
fi
# The console has every report the kernel printed, even when the guest's
# own scan of its log did not run or came too late.
if [ -s "$out/console" ] &&
   ! "$VMIG_TOP/scripts/kernel-reports.sh" "$out/console" > "$out/reports"; then
	echo "# vm.sh: the kernel console reports a problem ($out/console):"
	sed 's/^/# | /' "$out/reports"
	# A report fails the run even when the guest then stood still: such
	# a run is not one to run again.
	case $rc in 0|75) rc=125 ;; esac
elif [ -s "$out/reports" ]; then
	sed 's/^/# vm.sh: /' "$out/reports"
fi
rm -f "$out/reports"
# The guest marks its end (scripts/vm-guest.sh); a guest that did not get
# there may have left a hang report (scripts/vm-tests.sh) besides its log.
if [ ! -e "$out/.done" ]; then
	# The console's last lines; the whole of it stays in the directory.
	if [ -s "$out/console" ]; then
		echo "# vm.sh: the end of the kernel console ($out/console):"
		tail -n 60 "$out/console" | sed 's/^/# | /'
	fi
	for f in "$out"/*; do
		case $(basename "$f") in
		console|log|stall|monitor) continue ;;
		esac
		[ -f "$f" ] || continue
		echo "# vm.sh: the guest left $(basename "$f"):"
		sed 's/^/# | /' "$f"
	done
fi
[ "$rc" = 0 ] && rm -rf "$out"
exit "$rc"
