/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Internal declarations shared by the files of the vmig core module.
 */
#ifndef _VMIG_PRIV_H
#define _VMIG_PRIV_H

#include <linux/types.h>

#include "trace.h"

struct file;
struct vfio_migration_ops;
struct seq_file;
struct vmig_chunk;
struct vmig_device;
struct vmig_region;
struct vmig_session;

/* fsm.c */
u32 vmig_fsm_table(u32 cur, u32 target);
void vmig_fsm_show_table(struct seq_file *m);

/* session.c; every _locked function runs under mig->state_lock. */
void vmig_session_attach_locked(struct vmig_session *sess);
void vmig_session_detach_locked(struct vmig_device *mig);
void vmig_session_sync_locked(struct vmig_device *mig);
void vmig_session_end_locked(struct vmig_session *sess);
void vmig_session_abandon_locked(struct file *file);
bool vmig_session_is_save(struct vmig_session *sess);
bool vmig_session_attachable(struct vmig_session *sess,
			     struct vmig_device *mig);
int vmig_session_resume_check_locked(struct vmig_session *sess);
void vmig_session_show(struct vmig_session *sess, struct seq_file *m);
u32 vmig_session_peak_chunks(struct vmig_session *sess);
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
