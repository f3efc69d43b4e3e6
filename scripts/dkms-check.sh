#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Install the modules the two ways a user does, into scratch trees under
# build/, and check what module tools see of them:
#
# - `dkms add`, `build`, `install` with dkms.conf, for the distro 6.12
#   kernel, into build/dkms/root/lib/modules/<kver>; and that dkms refuses
#   a kernel older than 6.12;
# - `make install` and `make uninstall` with INSTALL_MOD_PATH.
#
# The DKMS tree also holds links to the kernel's modules that ours depend
# on, so that depmod there resolves every dependency: vm-tests.sh loads
# our modules from it by name with `modprobe -d` inside the VM.
#
# Prints one "ok" or "not ok" line per check; fails if any check failed.

set -uo pipefail
. "$(dirname "$0")/lib.sh"

krel=$(vmig_krel)
kdir=$(vmig_kdir)
[ -n "$krel" ] || vmig_die "no 6.12 kernel headers: run scripts/setup.sh"
ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' "$VMIG_TOP/dkms.conf")
scratch=$VMIG_TOP/build/dkms
root=$scratch/root
mods=$root/lib/modules/$krel
failed=0

ok() {		# ok DESCRIPTION COMMAND...
	local what=$1 t0=$SECONDS

	shift
	if "$@" > "$scratch/last.log" 2>&1; then
		echo "ok - $what ($((SECONDS - t0)) s)"
	else
		echo "not ok - $what ($((SECONDS - t0)) s)"
		sed 's/^/#   /' "$scratch/last.log" | tail -n 20
		failed=$((failed + 1))
	fi
}

# dkms with every tree in the scratch directory.  It runs depmod on the
# real /lib/modules only, so leave that to us; and an unset sign_file
# would make it create a signing key for the machine.
vdkms() {
	sign_file=/nonexistent dkms --dkmstree "$scratch/tree" \
		--sourcetree "$scratch/src" --installtree "$root/lib/modules" \
		--kernelsourcedir "$kdir" --no-depmod "$@"
}

has_field() {	# has_field MODULE FIELD PATTERN
	modinfo -b "$root" -k "$krel" -F "$2" "$1" | grep -q -- "$3"
}

rm -rf "$scratch"
mkdir -p "$scratch/src/vmig-$ver" "$scratch/tree" "$mods"

# The source as the tree has it, without build products.
(cd "$VMIG_TOP" && git ls-files -z --cached --others --exclude-standard |
	tar --null -T - -cf -) | tar -xf - -C "$scratch/src/vmig-$ver"
# The kernel modules ours depend on, linked where the kernel has them: a
# depmod over all of the kernel's would cost half a minute.
for f in $(modprobe -a -S "$krel" --show-depends vfio-pci-core mdev \
	   vfio_iommu_type1 | awk '$1 == "insmod" { print $2 }' | sort -u); do
	rel=${f#/lib/modules/$krel/}
	mkdir -p "$mods/$(dirname "$rel")"
	ln -sf "$f" "$mods/$rel"
done
for f in modules.order modules.builtin modules.builtin.modinfo; do
	cp "/lib/modules/$krel/$f" "$mods/"
done

ok "dkms add vmig/$ver" vdkms add "vmig/$ver"
ok "dkms build vmig/$ver -k $krel" vdkms build "vmig/$ver" -k "$krel"
ok "dkms install vmig/$ver -k $krel" vdkms install "vmig/$ver" -k "$krel"
vdkms status "vmig/$ver" -k "$krel" > "$scratch/status.log" 2>&1
ok "dkms status: installed" grep -q ": installed" "$scratch/status.log"

# A kernel older than 6.12: refused by BUILD_EXCLUSIVE_KERNEL, exit 77.
old=6.1.0-99-amd64
mkdir -p "$root/lib/modules/$old"
vdkms build "vmig/$ver" -k "$old" > "$scratch/old.log" 2>&1
rc=$?
ok "dkms refuses $old (exit $rc, BUILD_EXCLUSIVE)" \
	bash -c '[ "$0" = 77 ] && grep -q BUILD_EXCLUSIVE "$1"' "$rc" "$scratch/old.log"
rmdir "$root/lib/modules/$old"

ok "depmod -b of the DKMS tree" depmod -b "$root" "$krel"

for m in vmig vmig-ivshmem-vfio-pci vmig-mtty; do
	ok "$m: installed under updates/" \
		bash -c 'modinfo -b "$0" -k "$1" -n "$2" | grep -q "/updates/"' \
		"$root" "$krel" "$m"
	ok "$m: modinfo description" has_field "$m" description .
	ok "$m: modinfo license GPL" has_field "$m" license '^GPL$'
done
ok "vmig-ivshmem-vfio-pci: modinfo parm precopy" \
	has_field vmig-ivshmem-vfio-pci parm '^precopy:.*(bool)'
ok "vmig-mtty: modinfo parm precopy" has_field vmig-mtty parm '^precopy:.*(bool)'
ok "vmig-ivshmem-vfio-pci: modinfo alias vfio_pci:v00001AF4d00001110" \
	has_field vmig-ivshmem-vfio-pci alias '^vfio_pci:v00001AF4d00001110sv\*sd\*bc\*sc\*i\*$'
ok "modules.alias maps the vfio_pci: alias to the variant driver" \
	grep -qx 'alias vfio_pci:v00001AF4d00001110sv\*sd\*bc\*sc\*i\* vmig_ivshmem_vfio_pci' \
	"$mods/modules.alias"
ok "modules.dep: the drivers depend on the core" \
	grep -q '^updates/.*vmig-mtty\.ko[^:]*:.*updates/.*vmig\.ko' "$mods/modules.dep"

# make install / make uninstall with INSTALL_MOD_PATH.
mroot=$scratch/make-root
ok "make install INSTALL_MOD_PATH" \
	make -C "$VMIG_TOP" install INSTALL_MOD_PATH="$mroot"
ok "make install: three modules in updates/, in modules.dep" \
	bash -c '[ "$(grep -c "^updates/" "$0/modules.dep")" = 3 ]' \
	"$mroot/lib/modules/$krel"
ok "make uninstall INSTALL_MOD_PATH" \
	make -C "$VMIG_TOP" uninstall INSTALL_MOD_PATH="$mroot"
ok "make uninstall: nothing left in updates/ or modules.dep" \
	bash -c '! find "$0" -name "*.ko*" | grep -q . &&
		 ! grep -q "^updates/" "$0/modules.dep"' "$mroot/lib/modules/$krel"

if [ $failed = 0 ]; then
	echo "dkms-check: all checks passed; $root is ready for modprobe -d"
	exit 0
fi
echo "dkms-check: $failed checks failed"
exit 1
