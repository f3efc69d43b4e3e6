// SPDX-License-Identifier: GPL-2.0-only
/*
 * What the KUnit suites of vmig share: driving a device to a state, and
 * reading a saving stream into memory.
 */

#include <kunit/test.h>
#include <linux/delay.h>
#include <linux/fs.h>
#include <linux/mman.h>
#include <linux/poll.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/vmig.h>

#include "test_util.h"

/* Walk @mig to @state, which must succeed; returns the arc's file. */
struct file *vt_goto(struct kunit *test, struct vmig_device *mig, u32 state)
{
	struct file *f = vmig_set_state(mig, state);

	KUNIT_ASSERT_FALSE_MSG(test, IS_ERR(f), "-> %s: %ld",
			       vmig_state_name(state), PTR_ERR(f));
	KUNIT_ASSERT_EQ(test, vmig_get_state(mig), state);
	return f;
}

static const char * const vt_end_names[] = {
	[VT_END_LEAVE] = "the FSM leaves the group",
	[VT_END_RESET] = "reset",
	[VT_END_CLOSE] = "close",
	[VT_END_ERROR] = "walk lands in ERROR",
	[VT_END_RESUME_DONE] = "RESUMING -> STOP",
};

/* The description of a KUnit parameter that is a VT_END_* value. */
void vt_end_desc(const int *how, char *desc)
{
	strscpy(desc, vt_end_names[*how], KUNIT_PARAM_DESC_SIZE);
}

/*
 * End the saving session of @mig, in PRE_COPY, the way @how says (not
 * VT_END_RESUME_DONE, which a test of resuming does itself).
 */
void vt_end_session(struct kunit *test, struct vmig_device *mig, int how)
{
	struct file *f;

	switch (how) {
	case VT_END_LEAVE:
		vt_goto(test, mig, VFIO_DEVICE_STATE_RUNNING);
		break;
	case VT_END_RESET:
		vmig_reset(mig);
		break;
	case VT_END_CLOSE:
		vmig_close(mig);
		break;
	case VT_END_ERROR:
		/* PRE_COPY -> STOP fails after leaving the group: ERROR. */
		mig->inject.from = VFIO_DEVICE_STATE_RUNNING;
		mig->inject.to = VFIO_DEVICE_STATE_RUNNING_P2P;
		mig->inject.err = -EIO;
		mig->inject.count = 1;
		f = vmig_set_state(mig, VFIO_DEVICE_STATE_STOP);
		KUNIT_EXPECT_EQ(test, PTR_ERR(f), -EIO);
		KUNIT_EXPECT_EQ(test, vmig_get_state(mig),
				VFIO_DEVICE_STATE_ERROR);
		break;
	default:
		KUNIT_FAIL(test, "no such end: %d", how);
	}
}

void vt_buf_init(struct kunit *test, struct vt_buf *b, size_t size)
{
	b->data = kunit_kzalloc(test, size, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, b->data);
	b->size = size;
	b->len = 0;
}

/*
 * Read until the first non-positive result, in pieces of varying size;
 * returns that result (0 at the end of stream, or -errno).
 */
ssize_t vt_drain(struct kunit *test, struct file *f, struct vt_buf *b)
{
	static const size_t sizes[] = { 1, 7, 4096, 100000, 333 };
	unsigned int i = 0;
	loff_t pos = 0;
	ssize_t n;

	for (;;) {
		size_t want = min(sizes[i++ % ARRAY_SIZE(sizes)], b->size - b->len);

		KUNIT_ASSERT_GT_MSG(test, want, 0, "stream larger than the buffer");
		n = kernel_read(f, b->data + b->len, want, &pos);
		if (n <= 0)
			return n;
		b->len += n;
	}
}

/* A worker queues asynchronously: wait until poll() says readable. */
bool vt_wait_readable(struct file *f)
{
	unsigned long deadline = jiffies + 5 * HZ;

	while (!(vfs_poll(f, NULL) & EPOLLIN)) {
		if (time_after(jiffies, deadline))
			return false;
		usleep_range(500, 1000);
	}
	return true;
}

/* A page of user memory, for the ioctls of the data file. */
unsigned long vt_user_page(struct kunit *test)
{
	unsigned long uaddr;

	uaddr = kunit_vm_mmap(test, NULL, 0, PAGE_SIZE, PROT_READ | PROT_WRITE,
			      MAP_ANONYMOUS | MAP_PRIVATE, 0);
	KUNIT_ASSERT_NE_MSG(test, uaddr, 0, "no user memory");
	return uaddr;
}

/* VFIO_MIG_GET_PRECOPY_INFO through @uaddr, as userspace calls it. */
long vt_precopy_info(struct kunit *test, struct file *f,
		     unsigned long uaddr, u32 argsz, u32 in_flags,
		     struct vfio_precopy_info *out)
{
	struct vfio_precopy_info info = { .argsz = argsz, .flags = in_flags };
	long ret;

	KUNIT_ASSERT_EQ(test, copy_to_user((void __user *)uaddr, &info,
					   sizeof(info)), 0);
	ret = f->f_op->unlocked_ioctl(f, VFIO_MIG_GET_PRECOPY_INFO, uaddr);
	KUNIT_ASSERT_EQ(test, copy_from_user(out, (void __user *)uaddr,
					     sizeof(*out)), 0);
	return ret;
}
