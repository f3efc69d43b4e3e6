/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Internal declarations shared by the files of the vmig core module.
 */
#ifndef _VMIG_PRIV_H
#define _VMIG_PRIV_H

#include <linux/types.h>
#include <linux/vmig.h>

#include "trace.h"

struct file;
struct vfio_migration_ops;
struct seq_file;
struct vmig_chunk;
struct vmig_device;
struct vmig_region;
struct vmig_session;

/*
 * vfio.ko's callbacks: from the vfio_device to the driver's table (its
 * mig_ops are the table's ops), then to the vmig device at the table's
 * offset.  vmig_init() checked both.
 */
static inline struct vmig_device *vmig_at_offset(struct vfio_device *vdev,
						 const struct vmig_vfio_ops *vo)
{
	return (void *)vdev + vo->mig_offset;
}

static inline struct vmig_device *vmig_from_vdev(struct vfio_device *vdev)
{
	return vmig_at_offset(vdev, container_of(vdev->mig_ops,
						 struct vmig_vfio_ops, ops));
}

/* vmig_get_state(), inline for vfio.ko's GET. */
static inline u32 __vmig_get_state(struct vmig_device *mig)
{
	guard(mutex)(&mig->state_lock);
	return mig->state;
}

/* fsm.c */
u32 vmig_fsm_table(u32 cur, u32 target);
void vmig_fsm_show_table(struct seq_file *m);

/* vmig_in_saving_group(), inline for the core's per-arc paths. */
static inline bool __vmig_in_saving_group(u32 state)
{
	return state == VFIO_DEVICE_STATE_PRE_COPY ||
	       state == VFIO_DEVICE_STATE_PRE_COPY_P2P ||
	       state == VFIO_DEVICE_STATE_STOP_COPY;
}

/* vmig_arc_starts_session() for an arc known to be valid. */
static inline bool __vmig_starts_session(u32 from, u32 to)
{
	if (to == VFIO_DEVICE_STATE_RESUMING)
		return true;
	return __vmig_in_saving_group(to) && !__vmig_in_saving_group(from);
}

/* session.c; every _locked function runs under mig->state_lock. */
void vmig_session_attach_locked(struct vmig_session *sess);
void vmig_session_detach_locked(struct vmig_device *mig);
void __vmig_session_sync_locked(struct vmig_device *mig);
void vmig_session_end_locked(struct vmig_session *sess);
void vmig_session_abandon_locked(struct file *file);
bool vmig_session_is_save(struct vmig_session *sess);
struct vmig_session *vmig_session_of_arc(struct vmig_device *mig,
					 struct file *file, bool save);
int vmig_session_resume_check_locked(struct vmig_session *sess);

/*
 * The FSM moved: end the device's session if the new state is outside its
 * group, otherwise tell its readers where the group stands.  Most arcs
 * have no session to tell.
 */
static inline void vmig_session_sync_locked(struct vmig_device *mig)
{
	lockdep_assert_held(&mig->state_lock);
	if (mig->session)
		__vmig_session_sync_locked(mig);
}

void vmig_session_show(struct vmig_session *sess, struct seq_file *m);
u32 vmig_session_peak_chunks(struct vmig_session *sess);
u64 vmig_session_direct_bytes(struct vmig_session *sess);
u32 vmig_session_phase(struct vmig_session *sess);
u64 vmig_session_unread(struct vmig_session *sess);
struct vmig_region *vmig_session_region(struct vmig_session *sess);
void vmig_session_set_region(struct vmig_session *sess, struct vmig_region *r);
void vmig_session_set_min_record(struct vmig_session *sess, u32 bytes);

/* region.c */
void vmig_region_show(struct vmig_region *r, struct seq_file *m);

/* debugfs.c */
struct dentry *vmig_debugfs_root(void);
void vmig_debugfs_add(struct vmig_device *mig);
void vmig_debugfs_remove(struct vmig_device *mig);
struct workqueue_struct;
extern struct workqueue_struct *vmig_wq;

void vmig_debugfs_init(void);
void vmig_debugfs_exit(void);

/* Visible to the KUnit suites only; static otherwise. */
#if IS_ENABLED(CONFIG_KUNIT)
struct file *vmig_set_state_locked(struct vmig_device *mig, u32 target);
void vmig_queue_fill_hook(struct vmig_session *sess);
struct vmig_chunk *vmig_chunk_alloc(struct vmig_session *sess);
struct vmig_chunk *vmig_chunk_new(struct vmig_session *sess);
#endif

#endif /* _VMIG_PRIV_H */
