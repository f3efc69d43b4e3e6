#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Build tools/testing/selftests/vfio with the kselftest lib.mk of
# linux-source-6.12 and against its uAPI headers (plus ours), into
# build/selftests, and the vmig-ctl CLI into build/tools.

set -euo pipefail
. "$(dirname "$0")/lib.sh"

vmig_uapi
out=$VMIG_TOP/build/selftests
mkdir -p "$out"
make -s -C "$VMIG_KSRC/tools/testing/selftests/vfio" OUTPUT="$out" \
	KHDR_INCLUDES="-isystem $VMIG_UAPI/include" "$@"
mkdir -p "$VMIG_TOP/build/tools"
make -s -C "$VMIG_TOP/tools/vmig" OUTPUT="$VMIG_TOP/build/tools" \
	UAPI="$VMIG_UAPI/include"
