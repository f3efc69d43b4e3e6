#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Run our KUnit suites on UML with KASAN, UBSAN and lockdep, in a cached
# linux-source-6.12 tree with this tree overlaid.  The build directory lives
# in the cache, so a second run rebuilds only what changed.
#
# usage: scripts/kunit.sh [extra kunit.py arguments]

set -euo pipefail
. "$(dirname "$0")/lib.sh"

vmig_ksrc
"$VMIG_TOP/scripts/overlay.sh" "$VMIG_KSRC"

configs=()
while read -r f; do
	configs+=(--kunitconfig="$f")
done < <(cd "$VMIG_KSRC" && git -C "$VMIG_TOP" ls-files --cached --others \
	--exclude-standard -- '*.kunitconfig' '*/.kunitconfig')

cd "$VMIG_KSRC"
exec python3 tools/testing/kunit/kunit.py run --arch=um \
	--build_dir="$VMIG_CACHE/kunit-um" --jobs="$(nproc)" \
	"${configs[@]}" "$@"
