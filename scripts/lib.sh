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

# The 6.12 uAPI headers for userspace builds (the system has 6.1's), with
# ours among them: install them from the overlaid tree.  Incremental.
vmig_uapi() {
	vmig_ksrc
	"$VMIG_TOP/scripts/overlay.sh" "$VMIG_KSRC"
	make -s -C "$VMIG_KSRC" O="$VMIG_CACHE/hdr-build" ARCH=x86 \
		INSTALL_HDR_PATH="$VMIG_UAPI" headers_install >/dev/null
}

# KVM or TCG for the test VMs.  /dev/kvm may exist while KVM cannot run the
# guest (nested virtualisation that fails with an emulation error), so boot
# the kernel once without a root file system: KVM works if it reaches the
# "no root" panic.  The answer is cached per kernel.
vmig_accel() {
	local krel cache log

	krel=$(vmig_krel)
	cache=$VMIG_CACHE/accel-$krel
	if [ -f "$cache" ]; then cat "$cache"; return; fi
	mkdir -p "$VMIG_CACHE"
	log=$(mktemp)
	echo tcg > "$cache"
	if [ -w /dev/kvm ]; then
		qemu-system-x86_64 -accel kvm -cpu host -m 256 -display none \
			-serial stdio -no-reboot -kernel "/boot/vmlinuz-$krel" \
			-append "console=ttyS0 panic=-1" > "$log" 2>&1 &
		local pid=$! i
		for i in $(seq 1 40); do
			sleep 1
			if grep -qi "emulation failure\|internal error" "$log"; then
				break
			fi
			if grep -q "Kernel panic" "$log"; then
				echo kvm > "$cache"
				break
			fi
			kill -0 $pid 2>/dev/null || break
		done
		kill $pid 2>/dev/null || true
		wait $pid 2>/dev/null || true
	fi
	rm -f "$log"
	cat "$cache"
}

# The URI of the machine's own Debian archive that serves SUITE (bookworm,
# bookworm-security, ...): the first deb822 stanza whose Suites line names
# it, or a one-line "deb" entry as a fallback.  Extra suites and fresh roots
# are built from it, so that no archive host is ever written down here.
vmig_apt_uri() {
	local suite=$1 f uri

	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		uri=$(awk -v want="$suite" '
			/^[[:space:]]*$/ { if (s && u) { print u; exit } s = 0; u = ""; next }
			/^URIs:/ { u = $2 }
			/^Suites:/ { for (i = 2; i <= NF; i++) if ($i == want) s = 1 }
			END { if (s && u) print u }' "$f" | head -n1)
		[ -n "$uri" ] && { echo "$uri"; return 0; }
	done
	awk -v want="$suite" '$1 == "deb" && $3 == want { print $2; exit }' \
		/etc/apt/sources.list 2>/dev/null
}

# vmig_stream_log FILE: copy to our output what is appended to FILE, until
# SIGUSR1; then copy the rest and end.  Run it in the background: it
# leaves errexit and pipefail, which a tail that outgrows its head
# (SIGPIPE, when FILE grew meanwhile) would otherwise turn into the end
# of the copy.  Exits 1 if FILE went away.
vmig_stream_log() {
	local off=0 size last stop=0

	set +e +o pipefail
	trap 'stop=1' USR1
	while :; do
		last=$stop
		size=$(stat -c %s "$1") || return 1
		if [ "$size" -gt "$off" ]; then
			tail -c "+$((off + 1))" "$1" | head -c "$((size - off))"
			off=$size
		fi
		[ "$last" = 1 ] && break
		# The shell that started us was killed: end with it.
		kill -0 $$ 2> /dev/null || break
		sleep 0.2
	done
}
