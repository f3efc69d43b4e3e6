#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# The benchmarks, one VM run per ivshmem-plain size (256 MiB by default):
# in the first, tools/vmig/vmig-latency-bench.c, a vmig_mtty device against
# the kernel's own mtty sample (built here from linux-source for the
# distro kernel); in each, tools/vmig/vmig-ivshmem-bench.c.  Each prints
# its own figures as it goes.  A last VM run with two 64 MiB functions
# measures QEMU's downtime with and without the device's pre-copy
# (tools/vmig/vmig-qemu-downtime.py).  At the end one table gathers the
# ratios of every run.
#
# usage: scripts/bench.sh [BAR2 SIZE...]	e.g. scripts/bench.sh 16M 256M 1G

set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ $# -gt 0 ] || set -- 256M
"$VMIG_TOP/scripts/setup.sh"
make -s -C "$VMIG_TOP" modules
"$VMIG_TOP/scripts/selftests-build.sh"

# The reference: samples/vfio-mdev/mtty.c as the distro kernel would build
# it, copied only when it changed so that make has nothing to do again.
vmig_ksrc
ref=$VMIG_TOP/build/upstream-mtty
mkdir -p "$ref"
cmp -s "$VMIG_KSRC/samples/vfio-mdev/mtty.c" "$ref/mtty.c" ||
	cp "$VMIG_KSRC/samples/vfio-mdev/mtty.c" "$ref/mtty.c"
echo 'obj-m := mtty.o' > "$ref/Kbuild"
make -s -C "$(vmig_kdir)" M="$ref" modules

out=$(mktemp)
trap 'rm -f "$out"' EXIT
parts=--latency
for size in "$@"; do
	mib=$(numfmt --from=iec --to-unit=Mi "$size")
	# The benchmark holds two copies of BAR2 in userspace.
	mem=$((mib * 5 + 1024))
	[ "$mem" -ge 3072 ] || mem=3072
	"$VMIG_TOP/scripts/vm.sh" --ivshmem 1 --ivshmem-size "$size" \
		--memory "${mem}M" --timeout 1800 -- \
		"$VMIG_TOP/scripts/bench-guest.sh" $parts | tee -a "$out"
	parts=
done
# QEMU's downtime for a VM owning a 64 MiB ivshmem, with and without the
# device's pre-copy: two functions, one VM run of its own.
# Its failure still leaves the table of the runs before it.
downtime_rc=0
"$VMIG_TOP/scripts/vm.sh" --ivshmem 2 --ivshmem-size 64M --memory 3G \
	--timeout 1800 -- "$VMIG_TOP/scripts/bench-guest.sh" --downtime |
	tee -a "$out" || downtime_rc=$?

echo
echo "==== vmig bench: ratios first (TCG figures vary; compare ratios) ===="
awk '$1 == "GET_STATE" || $1 == "STOP+RUNNING" || $1 == "save" {
	name = $1 == "save" ? "save cycle" : $1
	ratio = $1 == "save" ? $3 : $2
	printf "per request vs the mtty sample, %-13s %6s\n", name, ratio
}
$1 == "downtime:" {
	printf "QEMU downtime, %s MiB ivshmem, pre-copy/none %6s " \
	       "(%s ms / %s ms)\n", $2, $5, $3, $4
}' "$out"
printf '%-8s %7s %7s %10s %10s %10s %10s %10s %11s %9s\n' "BAR2" \
	"stream/" "resume/" "idle" "residue" "residue" "residue" \
	"peak mem" "peak mem" "STOP_COPY"
printf '%-8s %7s %7s %10s %10s %10s %10s %10s %11s %9s\n' "MiB" \
	"copy" "write" "residue" "1 MiB/s" "8 MiB/s" "32 MiB/s" "/BAR2" \
	"bytes" "s"
awk '$1 == "summary:" {
	printf "%-8s %7s %7s %10s %10s %10s %10s %10s %11s %9s\n",
	       $2, $3, $4, $5, $6, $7, $8, $9, $10, $11
}' "$out"
[ "$downtime_rc" = 0 ] || echo "the downtime run failed ($downtime_rc)"
exit "$downtime_rc"
