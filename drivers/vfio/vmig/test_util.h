/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What the KUnit suites of vmig share: driving a device to a state, and
 * reading a saving stream into memory.
 */
#ifndef _VMIG_TEST_UTIL_H
#define _VMIG_TEST_UTIL_H

#include <linux/types.h>

struct file;
struct kunit;
struct vfio_precopy_info;
struct vmig_device;

/* A stream read into memory. */
struct vt_buf {
	u8 *data;
	size_t len;
	size_t size;
};

/* The ways a session ends, for vt_end_session(). */
enum {
	VT_END_LEAVE,		/* the FSM leaves the session's group */
	VT_END_RESET,
	VT_END_CLOSE,
	VT_END_ERROR,		/* a walk from PRE_COPY lands in ERROR */
	VT_END_RESUME_DONE,	/* RESUMING -> STOP; the caller's own */
};

void vt_end_desc(const int *how, char *desc);
void vt_end_session(struct kunit *test, struct vmig_device *mig, int how);
struct file *vt_goto(struct kunit *test, struct vmig_device *mig, u32 state);
void vt_buf_init(struct kunit *test, struct vt_buf *b, size_t size);
ssize_t vt_drain(struct kunit *test, struct file *f, struct vt_buf *b);
bool vt_wait_readable(struct file *f);
unsigned long vt_user_page(struct kunit *test);
long vt_precopy_info(struct kunit *test, struct file *f,
		     unsigned long uaddr, u32 argsz, u32 in_flags,
		     struct vfio_precopy_info *out);

#endif /* _VMIG_TEST_UTIL_H */
