#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# The README's two commands on a fresh machine, as a new user runs them:
# in a chroot of a minimal Debian 12 root that holds nothing but what a new
# machine of this kind has (git, make, gcc, python3, ca-certificates), clone
# this repository at HEAD and run `make demo`, then `make check`.  Prints
# each command's result and wall time.
#
# usage: scripts/check-fresh.sh [--keep]
#   --keep   leave the chroot in $VMIG_CACHE/fresh-run for a look afterwards
#
# make check's logs are copied to build/check-fresh/ in any case.
#
# The root is built once with debootstrap from the machine's own apt
# sources and kept in $VMIG_CACHE/fresh-root; each run works in a copy of
# it, with /proc, /sys, /dev (with /dev/kvm when the host has it), /dev/pts
# and /dev/shm bound from the host and a tmpfs on /run.  The mounts are
# undone on every way out.  Only committed work is tested: uncommitted
# changes are not in the clone.  Too slow for .ci/run; needs root.

set -uo pipefail
. "$(dirname "$0")/lib.sh"

keep=0
[ "${1:-}" = --keep ] && keep=1

[ "$(id -u)" = 0 ] || vmig_die "needs root (debootstrap, chroot, mounts)"

base=$VMIG_CACHE/fresh-root
run=$VMIG_CACHE/fresh-run
suite=bookworm
# What a new machine of this kind has besides a minimal base system.
fresh_pkgs=git,make,gcc,python3,ca-certificates

mounts=()

# Undo the mounts in reverse order; a copy is removed only when nothing is
# mounted below it any more, and never across a file system boundary.
cleanup() {
	local i m

	for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
		m=${mounts[i]}
		umount -R "$m" 2>/dev/null || umount -R -l "$m" 2>/dev/null ||
			vmig_log "cannot unmount $m"
	done
	mounts=()
	# The logs of make check (a failing step prints only its tail).
	if [ -d "$run/root/vmig/build/check" ]; then
		rm -rf "$VMIG_TOP/build/check-fresh"
		mkdir -p "$VMIG_TOP/build"
		cp -a "$run/root/vmig/build/check" "$VMIG_TOP/build/check-fresh"
	fi
	if findmnt -rn -o TARGET | grep -q "^$run\(/\|$\)"; then
		vmig_log "still mounted below $run: not removing it"
		return
	fi
	[ $keep = 1 ] || rm -rf --one-file-system "$run"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bind() {	# bind [MOUNT OPTIONS] SOURCE TARGET
	local target=${*: -1}

	mkdir -p "$target"
	mount "$@" || vmig_die "mount $* failed"
	mounts+=("$target")
}

build_root() {
	local uri sec tmp=$base.tmp t0=$(date +%s)

	command -v debootstrap >/dev/null || {
		vmig_log "installing debootstrap"
		DEBIAN_FRONTEND=noninteractive apt-get -y -q \
			--no-install-recommends install debootstrap >/dev/null ||
			vmig_die "cannot install debootstrap"
	}
	uri=$(vmig_apt_uri $suite)
	[ -n "$uri" ] || vmig_die "cannot find the Debian archive URI"
	sec=$(vmig_apt_uri $suite-security)
	vmig_log "debootstrap $suite from $uri (once, into $base)"
	rm -rf --one-file-system "$tmp"
	debootstrap --variant=minbase --include=$fresh_pkgs $suite "$tmp" \
		"$uri" > "$VMIG_CACHE/fresh-debootstrap.log" 2>&1 ||
		vmig_die "debootstrap failed, see $VMIG_CACHE/fresh-debootstrap.log"

	# The same suites as this machine: the 6.12 kernel comes from the
	# security suite.
	rm -f "$tmp/etc/apt/sources.list"
	{
		printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\n' \
			"$uri" $suite $suite
		printf 'Components: main\nSigned-By: %s\n' \
			/usr/share/keyrings/debian-archive-keyring.gpg
		if [ -n "$sec" ]; then
			printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\n' \
				"$sec" $suite
			printf 'Components: main\nSigned-By: %s\n' \
				/usr/share/keyrings/debian-archive-keyring.gpg
		fi
	} > "$tmp/etc/apt/sources.list.d/debian.sources"
	chroot "$tmp" apt-get clean
	echo $(($(date +%s) - t0)) > "$tmp/.vmig-debootstrap-seconds"
	mv "$tmp" "$base"
}

mkdir -p "$VMIG_CACHE"
[ -f "$base/.vmig-debootstrap-seconds" ] || build_root
echo "check-fresh: debootstrap of the root took" \
	"$(cat "$base/.vmig-debootstrap-seconds") s (cached in $base)"

head=$(git -C "$VMIG_TOP" rev-parse HEAD) || vmig_die "not a git checkout"
findmnt -rn -o TARGET | grep -q "^$run\(/\|$\)" &&
	vmig_die "something is still mounted below $run"
rm -rf --one-file-system "$run"
cp -a "$base" "$run" || vmig_die "cannot copy the root"
cp /etc/resolv.conf "$run/etc/resolv.conf" 2>/dev/null || true

bind -t proc proc "$run/proc"
bind --rbind --make-rslave /sys "$run/sys"
bind --bind --make-rslave /dev "$run/dev"
bind --bind --make-rslave /dev/pts "$run/dev/pts"
mountpoint -q /dev/shm && bind --bind --make-rslave /dev/shm "$run/dev/shm"
bind -t tmpfs tmpfs "$run/run"

git clone -q --no-hardlinks --no-checkout "$VMIG_TOP" "$run/root/vmig" &&
	git -C "$run/root/vmig" checkout -q --detach "$head" ||
	vmig_die "cannot clone $VMIG_TOP"
echo "check-fresh: $(git -C "$VMIG_TOP" log -1 --format='%h %s' "$head")"

in_root() {
	chroot "$run" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		bash -c "cd /root/vmig && $1"
}

# One compound command, read whole before it runs: the commands take an
# hour, and bash would otherwise read the rest of this file as it goes,
# from whatever the checkout holds by then.
{
	status=0
	results=()
	for cmd in "make demo" "make check"; do
		echo "check-fresh: ---- $cmd"
		t0=$(date +%s)
		# Through a pipe: written straight into a log file, the VM run
		# truncated the file and the lines before it were lost.
		in_root "$cmd" 2>&1 | cat
		rc=${PIPESTATUS[0]}
		secs=$(($(date +%s) - t0))
		if [ $rc = 0 ]; then
			results+=("$(printf '%-10s ok      %5d s' "$cmd" $secs)")
		else
			results+=("$(printf '%-10s FAILED  %5d s (exit %d)' "$cmd" $secs $rc)")
			status=1
		fi
		echo "check-fresh: $cmd: exit $rc, $secs s"
	done

	echo "check-fresh: results on a fresh root (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
	printf 'check-fresh:   %s\n' "${results[@]}"
	exit $status
}
