# SPDX-License-Identifier: GPL-2.0-only
# Shared shell helpers; sourced, not run.

VMIG_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VMIG_CACHE=${VMIG_CACHE:-$HOME/.cache/vmig}
VMIG_SRC_TARBALL=${VMIG_SRC_TARBALL:-/usr/src/linux-source-6.12.tar.xz}
VMIG_KSRC=$VMIG_CACHE/linux-source-6.12
VMIG_UAPI=$VMIG_CACHE/uapi

vmig_log() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; }
vmig_die() { vmig_log "$*"; exit 1; }

# The installed distro 6.12 kernel: headers directory and its release name.
vmig_kdir() {
	if [ -n "${KDIR:-}" ]; then echo "$KDIR"; return; fi
	ls -d /usr/src/linux-headers-6.12*-amd64 2>/dev/null | sort -V | tail -n1
}

vmig_krel() {
	basename "$(vmig_kdir)" | sed 's/^linux-headers-//'
}

# Extract linux-source-6.12 once into the cache; re-extract when the
# tarball changes.
vmig_ksrc() {
	local stamp=$VMIG_KSRC/.vmig-tarball

	[ -f "$VMIG_SRC_TARBALL" ] || vmig_die "$VMIG_SRC_TARBALL missing: run scripts/setup.sh"
	if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$(stat -c %Y "$VMIG_SRC_TARBALL")" ]; then
		return 0
	fi
	vmig_log "extracting $(basename "$VMIG_SRC_TARBALL")"
	rm -rf "$VMIG_KSRC"
	mkdir -p "$VMIG_CACHE"
	tar -xJf "$VMIG_SRC_TARBALL" -C "$VMIG_CACHE"
	stat -c %Y "$VMIG_SRC_TARBALL" > "$stamp"
}

# The 6.12 uAPI headers for userspace builds (the system has 6.1's).
vmig_uapi() {
	vmig_ksrc
	if [ -f "$VMIG_UAPI/include/linux/vfio.h" ] &&
	   [ "$VMIG_UAPI/include/linux/vfio.h" -nt "$VMIG_KSRC/.vmig-tarball" ]; then
		return 0
	fi
	vmig_log "installing the 6.12 uAPI headers"
	make -s -C "$VMIG_KSRC" O="$VMIG_CACHE/hdr-build" ARCH=x86 \
		INSTALL_HDR_PATH="$VMIG_UAPI" headers_install >/dev/null
}
