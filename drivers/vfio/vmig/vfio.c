// SPDX-License-Identifier: GPL-2.0-only
/*
 * vmig glue to vfio.ko: the per-device object's life cycle, the
 * vfio_migration_ops every vmig device gets, the core's own device features.
 */

#include <linux/bitops.h>
#include <linux/export.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/vmig.h>
#include <linux/wait_bit.h>
#include <kunit/visibility.h>
#include <uapi/linux/vmig.h>

#include "stream.h"
#include "vmig_priv.h"

/**
 * DOC: Locking
 *
 * The core keeps its lock graph small and free of user memory:
 *
 * - &vmig_device.state_lock, a mutex, serialises walks (and so every arc
 *   handler), resets, open and close, the ends of sessions, the producer
 *   and consumer callbacks of sessions, and readers of the state.
 * - each session has an io_lock, a mutex that serialises read() and
 *   write() on its file.  It is the only lock held while user memory is
 *   copied, and it may be followed by the state lock, never preceded.
 * - each session has a spinlock for its queue and flags, innermost.
 *
 * So the order is io_lock -> state_lock -> session spinlock, and nothing
 * that holds the state lock touches user memory: ioctls copy their results
 * out after dropping it.  A driver's reset path may therefore call
 * vmig_reset() with whatever locks it holds (vfio-pci-core's memory_lock
 * for instance), as long as its own arc handlers do not take those locks:
 * the cycle state_lock -> file lock -> mmap_lock -> memory_lock ->
 * state_lock that forced upstream drivers to defer resets cannot form.
 * The KUnit suite vmig_locking races resets against walks and reads of a
 * user buffer under lockdep.
 *
 * Arc handlers, session callbacks and session release ops run under the
 * state lock and must not take it; a driver's worker that feeds a session
 * must not take it either, since ending the session waits for the worker.
 */

/**
 * vmig_vfio_get_state() - vfio.ko's GET of VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE
 * @vdev: a vfio device whose mig_ops come from VMIG_VFIO_OPS()
 * @curr_state: the state the FSM is in
 *
 * Return: 0.
 */
int vmig_vfio_get_state(struct vfio_device *vdev,
			enum vfio_device_mig_state *curr_state)
{
	*curr_state = __vmig_get_state(vmig_from_vdev(vdev));
	return 0;
}
EXPORT_SYMBOL_GPL(vmig_vfio_get_state);

/**
 * vmig_vfio_get_data_size() - vfio.ko's VFIO_DEVICE_FEATURE_MIG_DATA_SIZE
 * @vdev: a vfio device whose mig_ops come from VMIG_VFIO_OPS()
 * @stop_copy_length: the stream bytes a STOP_COPY session would send now
 *
 * The driver's estimate (&struct vmig_ops.get_data_size, none without it)
 * plus the core's envelope: never 0.
 *
 * Return: 0, or the driver's error.
 */
int vmig_vfio_get_data_size(struct vfio_device *vdev,
			    unsigned long *stop_copy_length)
{
	struct vmig_device *mig = vmig_from_vdev(vdev);
	unsigned long bytes = 0;
	u32 id_len;
	int ret = 0;

	scoped_guard(mutex, &mig->state_lock) {
		if (mig->ops->get_data_size)
			ret = mig->ops->get_data_size(mig, &bytes);
		id_len = mig->id_len;
	}
	if (ret)
		return ret;
	/* Never 0: even an empty stream has its frame. */
	*stop_copy_length = bytes + vmig_stream_overhead(id_len);
	return 0;
}
EXPORT_SYMBOL_GPL(vmig_vfio_get_data_size);

/**
 * vmig_init() - prepare the core's per-device object
 * @mig: the object, embedded in the driver's device structure
 * @vdev: the vfio device, before it is registered; the core sets its
 *	migration_flags and mig_ops (those of @ops->vfio_ops).  NULL to use
 *	the FSM without vfio.ko.
 * @ops: the driver's arc handlers
 * @flags: VFIO_MIGRATION_* flags; VFIO_MIGRATION_STOP_COPY is mandatory,
 *	VFIO_MIGRATION_P2P and VFIO_MIGRATION_PRE_COPY are optional
 *
 * The FSM starts in RUNNING, as the uAPI requires of a freshly opened device.
 * Call from the vfio_device_ops init op, or anywhere before registration.
 *
 * Return: 0, or -EINVAL for missing ops, a &struct vmig_ops.vfio_ops that
 * is not VMIG_VFIO_OPS() or does not find @mig from @vdev, or flags the
 * core does not know.
 */
int vmig_init(struct vmig_device *mig, struct vfio_device *vdev,
	      const struct vmig_ops *ops, u32 flags)
{
	if (!ops || !ops->migration_step_device_state)
		return -EINVAL;
	/* vfio.ko's callbacks are the core's, and they find this device. */
	if (vdev && (!ops->vfio_ops ||
		     ops->vfio_ops->ops.migration_set_state != vmig_vfio_set_state ||
		     ops->vfio_ops->ops.migration_get_state != vmig_vfio_get_state ||
		     ops->vfio_ops->ops.migration_get_data_size !=
		     vmig_vfio_get_data_size ||
		     vmig_at_offset(vdev, ops->vfio_ops) != mig))
		return -EINVAL;
	if (!(flags & VFIO_MIGRATION_STOP_COPY) || (flags & ~VMIG_KNOWN_FLAGS))
		return -EINVAL;

	memset(mig, 0, sizeof(*mig));
	mig->ops = ops;
	mig->vdev = vdev;
	mig->flags = flags;
	mig->state = VFIO_DEVICE_STATE_RUNNING;
	mutex_init(&mig->state_lock);
	spin_lock_init(&mig->stats_lock);
	strscpy(mig->name, vdev && vdev->dev ? dev_name(vdev->dev) : "-",
		sizeof(mig->name));

	if (vdev) {
		vdev->migration_flags = flags;
		vdev->mig_ops = &ops->vfio_ops->ops;
	}
	vmig_debugfs_add(mig);
	return 0;
}
EXPORT_SYMBOL_GPL(vmig_init);

/*
 * Return the FSM to RUNNING without any arc: end the current session, if
 * any, then let the driver reset what it keeps for the FSM.
 */
static void vmig_reset_locked(struct vmig_device *mig)
{
	u32 from = mig->state;

	lockdep_assert_held(&mig->state_lock);
	mig->state = VFIO_DEVICE_STATE_RUNNING;
	vmig_session_sync_locked(mig);
	if (mig->ops->reset)
		mig->ops->reset(mig);
	mig->nr_resets++;
	trace_vmig_reset(mig, from);
}

/**
 * vmig_uninit() - release what vmig_init() set up
 * @mig: the per-device object
 *
 * Call from the vfio_device_ops release op, or after unregistration.
 * Data files may outlive the device; their sessions ended at close_device,
 * and this waits for any of their file operations still at the state lock.
 */
void vmig_uninit(struct vmig_device *mig)
{
	wait_var_event(&mig->file_users, !atomic_read(&mig->file_users));
	vmig_debugfs_remove(mig);
	scoped_guard(mutex, &mig->state_lock) {
		/* close_device ended every session; be safe if it did not. */
		if (WARN_ON_ONCE(mig->session))
			vmig_reset_locked(mig);
	}
	mutex_destroy(&mig->state_lock);
	kfree(mig->id);
	mig->id = NULL;
}
EXPORT_SYMBOL_GPL(vmig_uninit);

/**
 * vmig_set_stream_id() - the identity every stream of the device carries
 * @mig: the per-device object, after vmig_init()
 * @id: identity and configuration of the device in the driver's own
 *	encoding: model, format revision, sizes that must agree on both ends
 * @len: length of @id, at most %VMIG_STREAM_MAX_ID
 *
 * Saving sessions write it into the stream header, resuming sessions refuse
 * a stream whose header carries anything else, unless the driver gives a
 * session an identity of its own (&struct vmig_session_cfg.id), and
 * VFIO_DEVICE_FEATURE_MIG_DATA_SIZE counts it.  The core keeps a copy.
 *
 * Return: 0, -EINVAL for a bad length, or -ENOMEM.
 */
int vmig_set_stream_id(struct vmig_device *mig, const void *id, u32 len)
{
	void *copy;

	if (!len || len > VMIG_STREAM_MAX_ID || !id)
		return -EINVAL;
	copy = kmemdup(id, len, GFP_KERNEL);
	if (!copy)
		return -ENOMEM;
	guard(mutex)(&mig->state_lock);
	kfree(mig->id);
	mig->id = copy;
	mig->id_len = len;
	return 0;
}
EXPORT_SYMBOL_GPL(vmig_set_stream_id);

/**
 * vmig_reset() - return the FSM to RUNNING after a device reset
 * @mig: the per-device object
 *
 * The one call a driver's reset path makes, for VFIO_DEVICE_RESET, a PCI
 * reset_done handler, or any other reset.  Under the state lock, so that no
 * arc runs in between, it ends the current session (its release op runs),
 * calls &struct vmig_ops.reset if the driver has one, and moves the FSM to
 * RUNNING without any arc.  It is the only way out of ERROR, and it needs no
 * deferral: see "Locking".
 */
void vmig_reset(struct vmig_device *mig)
{
	guard(mutex)(&mig->state_lock);
	vmig_reset_locked(mig);
}
EXPORT_SYMBOL_GPL(vmig_reset);

/* Open and close both leave a device as a new user must find it. */
static void vmig_fresh(struct vmig_device *mig)
{
	guard(mutex)(&mig->state_lock);
	mig->state = VFIO_DEVICE_STATE_RUNNING;
	vmig_session_sync_locked(mig);
	mig->precopy_v2 = false;
}

/**
 * vmig_open() - the device was opened
 * @mig: the per-device object
 *
 * Call from open_device.  The FSM is in RUNNING, as userspace expects of a
 * freshly opened device, and the pre-copy opt-in is cleared.
 */
void vmig_open(struct vmig_device *mig)
{
	vmig_fresh(mig);
}
EXPORT_SYMBOL_GPL(vmig_open);

/**
 * vmig_close() - the device is being closed
 * @mig: the per-device object
 *
 * Call from close_device, before the device's resources go: ends the
 * current session, which runs its release op, and returns the FSM to
 * RUNNING.
 */
void vmig_close(struct vmig_device *mig)
{
	vmig_fresh(mig);
}
EXPORT_SYMBOL_GPL(vmig_close);

/* The arcs a device with @flags implements, as a bitmap over (from, to). */
static void vmig_arc_bitmaps(u32 flags, u64 *arcs, u64 *sessions)
{
	u32 from, to;

	*arcs = 0;
	*sessions = 0;
	for (from = 0; from < VMIG_NR_STATES; from++) {
		for (to = 0; to < VMIG_NR_STATES; to++) {
			if (from == to || to == VFIO_DEVICE_STATE_ERROR ||
			    !vmig_state_supported(flags, from) ||
			    vmig_next_state(flags, from, to) != to)
				continue;
			*arcs |= BIT_ULL(VMIG_ARC_BIT(from, to));
			/* Joined arcs never start a session. */
			if (vmig_arc_starts_session(from, to))
				*sessions |= BIT_ULL(VMIG_ARC_BIT(from, to));
		}
	}
}

static int vmig_feature_arcs(struct vmig_device *mig, u32 flags,
			     void __user *arg, size_t argsz)
{
	struct vmig_device_feature_arcs out = {};
	struct vmig_failure *lf = &mig->last_failure;
	int ret;

	ret = vfio_check_feature(flags, argsz, VFIO_DEVICE_FEATURE_GET,
				 sizeof(out));
	if (ret != 1)
		return ret;

	vmig_arc_bitmaps(mig->flags, &out.arcs, &out.session_arcs);
	out.migration_flags = mig->flags;
	scoped_guard(mutex, &mig->state_lock) {
		out.device_state = mig->state;
		out.fail_seq = lf->seq;
		if (lf->seq) {
			out.fail_start = lf->start;
			out.fail_target = lf->target;
			out.fail_from = lf->from;
			out.fail_to = lf->to;
			out.fail_errno = -lf->err;
			out.fail_result = lf->end == VFIO_DEVICE_STATE_ERROR ?
					  VMIG_FAIL_ERROR : VMIG_FAIL_UNWOUND;
			out.fail_flags = lf->injected ? VMIG_FAIL_INJECTED : 0;
		}
	}
	return copy_to_user(arg, &out, sizeof(out)) ? -EFAULT : 0;
}

static int vmig_feature_precopy_v2(struct vmig_device *mig, u32 flags,
				   size_t argsz)
{
	int ret;

	if (!(mig->flags & VFIO_MIGRATION_PRE_COPY))
		return -ENOTTY;
	/* SET with no data; whatever data comes is ignored. */
	ret = vfio_check_feature(flags, argsz, VFIO_DEVICE_FEATURE_SET, 0);
	if (ret != 1)
		return ret;
	guard(mutex)(&mig->state_lock);
	mig->precopy_v2 = true;
	return 0;
}

/**
 * vmig_device_feature() - the VFIO_DEVICE_FEATUREs the core implements
 * @mig: the per-device object
 * @flags: from the vfio_device_ops device_feature op
 * @arg: likewise
 * @argsz: likewise
 *
 * A driver's device_feature op calls this first and falls back to its own
 * features (or vfio_pci_core_ioctl_feature()) on -ENOTTY.  Handles
 * %VMIG_DEVICE_FEATURE_ARCS for every device and
 * %VMIG_DEVICE_FEATURE_PRECOPY_INFO_V2 (Linux 7.1's
 * VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2) for devices with PRE_COPY.
 *
 * Return: as for the device_feature op; -ENOTTY for features not the
 * core's.
 */
int vmig_device_feature(struct vmig_device *mig, u32 flags, void __user *arg,
			size_t argsz)
{
	switch (flags & VFIO_DEVICE_FEATURE_MASK) {
	case VMIG_DEVICE_FEATURE_ARCS:
		return vmig_feature_arcs(mig, flags, arg, argsz);
	case VMIG_DEVICE_FEATURE_PRECOPY_INFO_V2:
		return vmig_feature_precopy_v2(mig, flags, argsz);
	}
	return -ENOTTY;
}
EXPORT_SYMBOL_GPL(vmig_device_feature);
