#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Install everything the build and the tests need, idempotently.
#
# Fast path: when every package is present this returns in well under a
# second without touching apt.  Extra suites (bookworm-backports for QEMU 10,
# trixie for virtme-ng) are derived from the machine's own Debian sources
# entry; trixie is pinned to priority 50 so that only the one package asked
# for explicitly comes from it.

set -euo pipefail
. "$(dirname "$0")/lib.sh"

# Packages from the default suites (procps: the VM harness stops QEMU
# with pkill; systemd-sysv: virtme-ng's guest init, which runs on this
# machine's root, ends with `poweroff -f`, and without one its init exits
# and the guest kernel panics, which the console scan reports; every
# Debian machine booted with systemd has it, a minimal root does not).
BASE_PKGS="bc flex bison libelf-dev libssl-dev dwarves make gcc perl python3
	cpio kmod xz-utils rsync sparse busybox-static graphviz python3-sphinx
	linux-image-6.12-amd64 linux-headers-6.12-amd64 linux-source-6.12
	dkms procps systemd-sysv"
# From bookworm-backports: QEMU that can migrate VFIO v2 devices.
BPO_PKGS="qemu-system-x86"
# From trixie, the one package and nothing else.
TRIXIE_PKGS="virtme-ng"

SRC_LIST=/etc/apt/sources.list.d/vfio-mig-extra.sources
PIN_FILE=/etc/apt/preferences.d/vfio-mig-trixie

log() { printf 'setup: %s\n' "$*" >&2; }

missing() {
	local p out=""

	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q 'install ok installed' || out="$out $p"
	done
	echo "$out"
}

qemu_new_enough() {
	local v

	v=$(qemu-system-x86_64 --version 2>/dev/null |
		sed -n 's/.*version \([0-9]*\)\..*/\1/p')
	[ -n "$v" ] && [ "$v" -ge 8 ]
}

add_suites() {
	local uri keyring=/usr/share/keyrings/debian-archive-keyring.gpg

	[ -f "$SRC_LIST" ] && [ -f "$PIN_FILE" ] && return 0
	uri=$(vmig_apt_uri bookworm)
	[ -n "$uri" ] || { log "cannot find the Debian archive URI"; exit 1; }
	log "adding bookworm-backports and trixie from $uri"
	cat > "$SRC_LIST" <<EOS
Types: deb
URIs: $uri
Suites: bookworm-backports trixie
Components: main
Signed-By: $keyring
EOS
	cat > "$PIN_FILE" <<EOS
# Take nothing from trixie unless asked for by name.
Package: *
Pin: release n=trixie
Pin-Priority: 50
EOS
	UPDATED=0
}

UPDATED=1
need_base=$(missing $BASE_PKGS)
need_trixie=$(missing $TRIXIE_PKGS)
need_bpo=""
qemu_new_enough || need_bpo=$BPO_PKGS

if [ -z "$need_base$need_trixie$need_bpo" ]; then
	exit 0
fi

export DEBIAN_FRONTEND=noninteractive
APT="apt-get -y -q -o Dpkg::Use-Pty=0 --no-install-recommends"

if [ -n "$need_trixie$need_bpo" ]; then
	add_suites
fi
if [ ! -f "$SRC_LIST" ] || [ "$UPDATED" = 0 ] || [ -n "$need_base" ]; then
	log "apt-get update"
	apt-get -q update >/dev/null
fi
if [ -n "$need_base" ]; then
	log "installing:$need_base"
	$APT install $need_base >/dev/null
fi
if [ -n "$need_bpo" ]; then
	log "installing from bookworm-backports: $need_bpo"
	$APT install -t bookworm-backports $need_bpo >/dev/null
fi
if [ -n "$need_trixie" ]; then
	log "installing from trixie: $need_trixie"
	for p in $need_trixie; do
		$APT install "$p/trixie" >/dev/null
	done
fi
log "done"
