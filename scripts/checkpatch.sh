#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# checkpatch.pl --strict from linux-source-6.12 over every kernel source file
# of this tree.  Exits non-zero on any error, warning or check.

set -euo pipefail
. "$(dirname "$0")/lib.sh"

vmig_ksrc
cd "$VMIG_TOP"
mapfile -t files < <(git ls-files --cached --others --exclude-standard -- \
	'*.c' '*.h' '*Kconfig*' '*Makefile' Kbuild |
	sed 's,^\([^/]*\)$,./\1,')
# (Top-level files get a ./ so that "Kconfig" in a source line is not taken
# for the file naming itself.)

status=0
out=$(perl "$VMIG_KSRC/scripts/checkpatch.pl" --strict --no-tree --terse \
	--show-types --ignore FILE_PATH_CHANGES -f "${files[@]}" 2>&1) || status=1
if [ -n "$out" ]; then
	printf '%s\n' "$out"
	status=1
fi
if [ $status = 0 ]; then
	echo "checkpatch --strict: ${#files[@]} files, 0 errors, 0 warnings, 0 checks"
fi
exit $status
