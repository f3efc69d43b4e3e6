#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Documentation build.
#
#   scripts/docs.sh          regenerate the FSM diagram and table from the
#                            next-state table, then render the RST
#   scripts/docs.sh --check  fail if the committed diagram or table is stale;
#                            lint kernel-doc; render with warnings as errors
#
# The RST is rendered with Sphinx and the kernel's own extensions (kernel-doc,
# kernel-figure) from linux-source-6.12, into build/docs/html.

set -euo pipefail
. "$(dirname "$0")/lib.sh"

check=0
[ "${1:-}" = --check ] && check=1

vmig_uapi
out=$VMIG_TOP/build/docs
mkdir -p "$out"
doc=$VMIG_TOP/Documentation/driver-api

gcc -Wall -Wextra -Werror -I"$VMIG_UAPI/include" -o "$out/vmig_fsm_render" \
	"$VMIG_TOP/scripts/vmig_fsm_render.c"

status=0
for kind in dot table; do
	case $kind in
	dot) file=$doc/vfio-vmig-fsm.dot ;;
	table) file=$doc/vfio-vmig-fsm-table.txt ;;
	esac
	"$out/vmig_fsm_render" $kind > "$out/fsm.$kind"
	if [ $check = 1 ]; then
		if ! cmp -s "$out/fsm.$kind" "$file"; then
			vmig_log "$(basename "$file") is stale: run 'make docs'"
			status=1
		fi
	else
		cp "$out/fsm.$kind" "$file"
	fi
done
dot -Tsvg "$doc/vfio-vmig-fsm.dot" -o "$out/vfio-vmig-fsm.svg"

# kernel-doc: every comment well formed, every exported symbol documented.
cd "$VMIG_TOP"
mapfile -t srcs < <(git ls-files --cached --others --exclude-standard -- \
	'drivers/*.c' 'drivers/*.h' 'include/*.h' | grep -v '_test\.c$')
kd=$(perl "$VMIG_KSRC/scripts/kernel-doc" -Wall -none "${srcs[@]}" 2>&1) || true
if [ -n "$kd" ]; then
	printf '%s\n' "$kd"
	vmig_log "kernel-doc warnings"
	status=1
fi
for f in "${srcs[@]}"; do
	for sym in $(sed -n 's/^EXPORT_SYMBOL_GPL(\(.*\));/\1/p' "$f"); do
		grep -q "^ \* $sym() - " "$f" || {
			vmig_log "$f: exported $sym has no kernel-doc"
			status=1
		}
	done
done

# Render: a throw-away Sphinx project over our Documentation/ files.
proj=$out/src
rm -rf "$proj"
mkdir -p "$proj"
cp -r "$VMIG_TOP/Documentation/." "$proj/"
cat > "$proj/conf.py" <<EOS
import sys
sys.path.insert(0, "$VMIG_KSRC/Documentation/sphinx")
project = "vmig"
extensions = ["kerneldoc", "kfigure"]
kerneldoc_bin = "$VMIG_KSRC/scripts/kernel-doc"
kerneldoc_srctree = "$VMIG_TOP"
master_doc = "index"
exclude_patterns = ["conf.py"]
c_id_attributes = ["__user", "__iomem", "__must_check", "__init", "__exit",
                   "__always_inline", "__rcu", "__percpu", "__force"]
EOS
{
	printf 'vmig documentation\n==================\n\n.. toctree::\n   :glob:\n\n'
	for d in "$proj"/*/; do
		printf '   %s/*\n' "$(basename "$d")"
	done
} > "$proj/index.rst"
if ! sphinx-build -q -W --keep-going -b html "$proj" "$out/html" \
	> "$out/sphinx.log" 2>&1; then
	cat "$out/sphinx.log"
	vmig_log "sphinx-build failed"
	status=1
fi
[ $status = 0 ] && echo "docs: diagram and table current, kernel-doc clean, html in build/docs/html"
exit $status
