/* SPDX-License-Identifier: GPL-2.0-only WITH Linux-syscall-note */
/*
 * vmig: uAPI additions of the VFIO live-migration core.
 *
 * Everything else userspace uses is the standard VFIO migration uAPI of
 * <linux/vfio.h>; this header adds the arc query of the core and the
 * pre-copy constants that kernels before 7.1 do not define.
 */
#ifndef _UAPI_LINUX_VMIG_H
#define _UAPI_LINUX_VMIG_H

#include <linux/types.h>
#include <linux/vfio.h>

/*
 * The pre-copy information opt-in of Linux 7.1, for headers that lack it.
 *
 * VMIG_DEVICE_FEATURE_PRECOPY_INFO_V2 is the feature number 7.1 defines as
 * VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2.  SET with no data: from then on,
 * until the device is closed, VFIO_MIG_GET_PRECOPY_INFO writes flags as an
 * output field, and may report VFIO_PRECOPY_INFO_REINIT: new initial data
 * is in the stream, initial_bytes starts over and dirty_bytes restarts
 * from zero.  Without the opt-in, vmig devices report flags as 0.
 */
#define VMIG_DEVICE_FEATURE_PRECOPY_INFO_V2	12
#ifndef VFIO_PRECOPY_INFO_REINIT
#define VFIO_PRECOPY_INFO_REINIT		(1 << 0)
#endif

/*
 * VMIG_DEVICE_FEATURE_ARCS: the FSM arcs a device implements, and the last
 * failure, for every device driven by vmig.  VFIO_DEVICE_FEATURE with GET
 * (or PROBE) and this feature number returns struct
 * vmig_device_feature_arcs; SET is refused with EINVAL.  The number is taken
 * from the top of the 16-bit feature space, far from the numbers vfio
 * allocates in sequence.
 */
#define VMIG_DEVICE_FEATURE_ARCS	0xff01

/**
 * struct vmig_device_feature_arcs - answer to %VMIG_DEVICE_FEATURE_ARCS
 * @arcs: bit VMIG_ARC_BIT(from, to) is set when the device implements the
 *	single arc from -> to, as its migration flags shape the FSM: without
 *	VFIO_MIGRATION_P2P the arcs RUNNING -> STOP, STOP -> RUNNING and
 *	PRE_COPY -> STOP_COPY replace the ones through the P2P states.
 * @session_arcs: the subset of @arcs that start a data session and return
 *	a data_fd.
 * @migration_flags: the device's VFIO_MIGRATION_* flags.
 * @device_state: the current enum vfio_device_mig_state.
 * @fail_seq: number of requests that failed so far; 0 if none did, and the
 *	fields below are then zero.
 * @fail_start: state the last failed request started in.
 * @fail_target: state it asked for.
 * @fail_from: first state of the arc that failed.
 * @fail_to: second state of the arc that failed.
 * @fail_errno: positive errno of that arc.
 * @fail_result: VMIG_FAIL_UNWOUND if the device was walked back to
 *	@fail_start, VMIG_FAIL_ERROR if it landed in ERROR.
 * @fail_flags: VMIG_FAIL_INJECTED if the failure was injected through
 *	debugfs.
 * @reserved: zero.
 */
struct vmig_device_feature_arcs {
	__aligned_u64 arcs;
	__aligned_u64 session_arcs;
	__u32 migration_flags;
	__u32 device_state;
	__u32 fail_seq;
	__u8 fail_start;
	__u8 fail_target;
	__u8 fail_from;
	__u8 fail_to;
	__u32 fail_errno;
	__u32 fail_result;
	__u32 fail_flags;
	__u32 reserved;
};

#define VMIG_ARC_BIT(from, to)		((from) * 8 + (to))

#define VMIG_FAIL_UNWOUND		1
#define VMIG_FAIL_ERROR			2

#define VMIG_FAIL_INJECTED		(1 << 0)

#endif /* _UAPI_LINUX_VMIG_H */
