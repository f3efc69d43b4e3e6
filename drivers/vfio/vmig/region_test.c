// SPDX-License-Identifier: GPL-2.0-only
/*
 * KUnit suite for vmig's region sessions.
 *
 * A fake device keeps its state in a region of memory that the core saves
 * through &struct vmig_region_ops; a second fake device loads the stream,
 * and the two regions are compared byte for byte.  The fake logs every op
 * the core calls, so the tests also check when the core goes idle.
 */

#include <kunit/test.h>
#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/mman.h>
#include <linux/poll.h>
#include <linux/prandom.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/vmig.h>
#include <uapi/linux/vmig.h>

#include "stream.h"
#include "test_util.h"
#include "vmig_priv.h"

#define RG_BLOCK	256
#define RG_CHUNK	4096
#define RG_T_MEM	(VMIG_REC_DRIVER_BASE + 0)
#define RG_T_TAIL	(VMIG_REC_DRIVER_BASE + 1)
#define RG_TAIL_LEN	16
#define RG_LOG		8192

#define ST	VFIO_DEVICE_STATE_STOP
#define RU	VFIO_DEVICE_STATE_RUNNING
#define SC	VFIO_DEVICE_STATE_STOP_COPY
#define RE	VFIO_DEVICE_STATE_RESUMING
#define PC	VFIO_DEVICE_STATE_PRE_COPY

/*
 * The fake device.  The log holds one letter per op: R (tracked read),
 * r (read), x (a read that asked for a reschedule), c (changed), i (idle),
 * L and l (linger, true and false), t (tail).
 */
struct rg_dev {
	struct vmig_device mig;
	struct kunit *test;
	u64 size;
	u8 *mem;
	u8 *seen;		/* what tracked reads returned */
	unsigned long *tracked;	/* blocks read with tracking */

	spinlock_t lock;	/* the members below */
	char log[RG_LOG];
	u32 nlog;
	u32 reads;
	int eagain;		/* this many reads from now on are disturbed */
	u32 fail_read;		/* the read of this number fails, 1-based */
	int read_err;
	int changed_err;
	int changed_eagain;	/* consume the changes, say -EAGAIN */
	int tail_err;
	bool resched;		/* reads ask for the CPU to be given up */
	bool gate;		/* the next changed() waits for gate_open */
	struct completion gate_entered, gate_open;
	s32 hold;		/* a tracked read of this block waits */
	struct completion hold_entered, hold_open;
	bool linger;
	bool window;		/* "open" from a read or changed to idle */
	unsigned long switches;	/* the worker's, at the end of its last op */
	char last_op;
	u32 slept_in_window;
	u32 in_op;
	u32 bad_args;
	u32 tail_in_window;
	u32 released;
	u32 released_busy;
	u32 late_ops;

	/* resuming */
	u64 loaded_bytes;
	bool have_tail;
	int bad;
};

static struct rg_dev *rg_of(struct vmig_session *sess)
{
	return container_of(vmig_session_device(sess), struct rg_dev, mig);
}

/* Every op runs on the worker: its context switches between two ops. */
static unsigned long rg_switches(void)
{
	return current->nvcsw + current->nivcsw;
}

static void rg_enter(struct rg_dev *rg, char op)
{
	spin_lock(&rg->lock);
	if (rg->released)
		rg->late_ops++;
	/* The window was open while the worker slept or yielded. */
	if (rg->window && rg->last_op != 'L' && rg_switches() != rg->switches)
		rg->slept_in_window++;
	rg->in_op++;
	if (rg->nlog < RG_LOG - 1)
		rg->log[rg->nlog++] = op;
	rg->last_op = op;
	spin_unlock(&rg->lock);
}

static void rg_leave(struct rg_dev *rg)
{
	spin_lock(&rg->lock);
	rg->in_op--;
	rg->switches = rg_switches();
	spin_unlock(&rg->lock);
}

static bool rg_range_ok(struct rg_dev *rg, u64 off, u64 len)
{
	return len && off % RG_BLOCK == 0 && len % RG_BLOCK == 0 &&
	       off + len <= rg->size;
}

static int rg_read(struct vmig_session *sess, u64 off, u32 len, void *buf,
		   bool track)
{
	struct rg_dev *rg = rg_of(sess);
	int ret = 0;

	rg_enter(rg, rg->resched ? 'x' : track ? 'R' : 'r');
	if (track && READ_ONCE(rg->hold) >= 0 &&
	    READ_ONCE(rg->hold) >= off / RG_BLOCK &&
	    READ_ONCE(rg->hold) < (off + len) / RG_BLOCK) {
		WRITE_ONCE(rg->hold, -1);
		complete(&rg->hold_entered);
		wait_for_completion(&rg->hold_open);
	}
	spin_lock(&rg->lock);
	if (!rg_range_ok(rg, off, len) || !IS_ALIGNED((unsigned long)buf, 8))
		rg->bad_args++;
	rg->reads++;
	if (rg->eagain) {
		rg->eagain--;
		ret = -EAGAIN;
	} else if (rg->reads == rg->fail_read) {
		ret = rg->read_err;
	}
	rg->window = !ret;
	spin_unlock(&rg->lock);
	if (!ret && rg_range_ok(rg, off, len)) {
		memcpy(buf, rg->mem + off, len);
		if (track) {
			/* What the stream carries, not what memory holds now. */
			memcpy(rg->seen + off, buf, len);
			bitmap_set(rg->tracked, off / RG_BLOCK, len / RG_BLOCK);
		}
		/* The tick came while the window was open. */
		if (rg->resched)
			set_tsk_need_resched(current);
	}
	rg_leave(rg);
	return ret;
}

static int rg_changed(struct vmig_session *sess, u64 off, u32 n, u64 *mask)
{
	struct rg_dev *rg = rg_of(sess);
	u32 first = off / RG_BLOCK, i;
	int ret;

	rg_enter(rg, 'c');
	if (READ_ONCE(rg->gate)) {
		WRITE_ONCE(rg->gate, false);
		complete(&rg->gate_entered);
		wait_for_completion(&rg->gate_open);
	}
	spin_lock(&rg->lock);
	ret = rg->changed_err;
	if (n > 64 || !rg_range_ok(rg, off, (u64)n * RG_BLOCK) ||
	    (n < 64 && *mask >> n))
		rg->bad_args++;
	if (!ret && rg->changed_eagain) {
		/* A dirty log read and cleared, then the window broke. */
		rg->changed_eagain--;
		for (i = 0; i < n && i < 64; i++)
			if (*mask & BIT_ULL(i))
				memcpy(rg->seen + off + i * RG_BLOCK,
				       rg->mem + off + i * RG_BLOCK, RG_BLOCK);
		*mask = 0;	/* the core must not trust it */
		ret = -EAGAIN;
	}
	rg->window = !ret;
	spin_unlock(&rg->lock);
	for (i = 0; !ret && i < n && i < 64; i++) {
		if (!(*mask & BIT_ULL(i)))
			continue;
		if (!test_bit(first + i, rg->tracked)) {
			spin_lock(&rg->lock);
			rg->bad_args++;
			spin_unlock(&rg->lock);
		}
		if (!memcmp(rg->mem + off + i * RG_BLOCK,
			    rg->seen + off + i * RG_BLOCK, RG_BLOCK))
			*mask &= ~BIT_ULL(i);
	}
	rg_leave(rg);
	return ret;
}

static void rg_idle(struct vmig_session *sess)
{
	struct rg_dev *rg = rg_of(sess);

	rg_enter(rg, 'i');
	spin_lock(&rg->lock);
	rg->window = false;
	spin_unlock(&rg->lock);
	rg_leave(rg);
}

static bool rg_linger(struct vmig_session *sess)
{
	struct rg_dev *rg = rg_of(sess);
	bool ret;

	spin_lock(&rg->lock);
	ret = rg->linger && rg->window;
	spin_unlock(&rg->lock);
	rg_enter(rg, ret ? 'L' : 'l');
	rg_leave(rg);
	return ret;
}

static void rg_tail_data(u8 *buf)
{
	int i;

	for (i = 0; i < RG_TAIL_LEN; i++)
		buf[i] = 0xa0 + i;
}

static int rg_tail(struct vmig_session *sess)
{
	struct rg_dev *rg = rg_of(sess);
	u8 data[RG_TAIL_LEN];
	int ret;

	rg_enter(rg, 't');
	spin_lock(&rg->lock);
	if (rg->window)
		rg->tail_in_window++;
	ret = rg->tail_err;
	spin_unlock(&rg->lock);
	if (!ret) {
		rg_tail_data(data);
		ret = vmig_save_record(sess, RG_T_TAIL, VMIG_REC_MANDATORY, data,
				       sizeof(data), true);
	}
	rg_leave(rg);
	return ret;
}

static void rg_release(struct vmig_session *sess)
{
	struct rg_dev *rg = rg_of(sess);

	spin_lock(&rg->lock);
	if (rg->in_op)
		rg->released_busy++;
	rg->released++;
	spin_unlock(&rg->lock);
}

static const struct vmig_region_ops rg_region_ops = {
	.read = rg_read,
	.changed = rg_changed,
	.idle = rg_idle,
	.linger = rg_linger,
	.tail = rg_tail,
	.release = rg_release,
};

static int rg_load(struct vmig_session *sess, u32 type, const void *data,
		   u32 len)
{
	struct rg_dev *rg = rg_of(sess);
	const struct vmig_region_rec *rec = data;
	u8 tail[RG_TAIL_LEN];
	u64 off;

	switch (type) {
	case RG_T_MEM:
		if (len < sizeof(*rec))
			break;
		off = le64_to_cpu(rec->offset);
		len -= sizeof(*rec);
		if (!rg_range_ok(rg, off, len))
			break;
		memcpy(rg->mem + off, rec->data, len);
		rg->loaded_bytes += len;
		return 0;
	case RG_T_TAIL:
		rg_tail_data(tail);
		if (len != RG_TAIL_LEN || memcmp(data, tail, len) ||
		    rg->have_tail)
			break;
		rg->have_tail = true;
		return 0;
	default:
		return -EOPNOTSUPP;
	}
	rg->bad++;
	return -EINVAL;
}

static void rg_resume_release(struct vmig_session *sess)
{
}

static const struct vmig_resume_ops rg_resume_ops = {
	.load = rg_load,
	.release = rg_resume_release,
};

static struct file *rg_save(struct rg_dev *rg, bool precopy)
{
	struct vmig_session_cfg cfg = { .chunk_size = RG_CHUNK };
	struct vmig_region_cfg rcfg = {
		.size = rg->size,
		.block = RG_BLOCK,
		.type = RG_T_MEM,
		.precopy = precopy,
	};

	return vmig_region_save_open(&rg->mig, &rg_region_ops, &rcfg, &cfg);
}

static struct file *rg_step(struct vmig_device *mig, u32 from, u32 to)
{
	struct rg_dev *rg = container_of(mig, struct rg_dev, mig);
	struct vmig_session_cfg cfg = { .chunk_size = RG_CHUNK };

	switch (VMIG_ARC(from, to)) {
	case VMIG_ARC_OF(RUNNING, PRE_COPY):
	case VMIG_ARC_OF(RUNNING_P2P, PRE_COPY_P2P):
		return rg_save(rg, true);
	case VMIG_ARC_OF(STOP, STOP_COPY):
		return rg_save(rg, false);
	case VMIG_ARC_OF(STOP, RESUMING):
		rg->have_tail = false;
		rg->loaded_bytes = 0;
		return vmig_resume_open(mig, &rg_resume_ops, &cfg);
	case VMIG_ARC_OF(RESUMING, STOP):
		return rg->have_tail ? NULL : ERR_PTR(-EINVAL);
	default:
		return NULL;
	}
}

static int rg_data_size(struct vmig_device *mig, unsigned long *bytes)
{
	struct rg_dev *rg = container_of(mig, struct rg_dev, mig);
	u64 size;

	if (!vmig_region_left(mig, &size))
		size = vmig_region_stream_bytes(rg->size, RG_BLOCK, RG_CHUNK);
	*bytes = size + vmig_stream_record_size(RG_TAIL_LEN);
	return 0;
}

static const struct vmig_ops rg_ops = {
	.migration_step_device_state = rg_step,
	.get_data_size = rg_data_size,
};

static void rg_exit(struct kunit_resource *res)
{
	struct rg_dev *rg = res->data;

	/* A test that failed may have left the worker held. */
	complete_all(&rg->gate_open);
	complete_all(&rg->hold_open);
	flush_delayed_fput();
	vmig_close(&rg->mig);
	vmig_uninit(&rg->mig);
	kvfree(rg->mem);
	kvfree(rg->seen);
	bitmap_free(rg->tracked);
}

/* A device with a region of @size bytes: random with @seed, or zero. */
static struct rg_dev *rg_new(struct kunit *test, u64 size, u32 seed)
{
	struct rnd_state rnd;
	struct rg_dev *rg;

	rg = kunit_kzalloc(test, sizeof(*rg), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, rg);
	rg->test = test;
	rg->size = size;
	rg->hold = -1;
	spin_lock_init(&rg->lock);
	init_completion(&rg->gate_entered);
	init_completion(&rg->gate_open);
	init_completion(&rg->hold_entered);
	init_completion(&rg->hold_open);
	rg->mem = kvzalloc(size, GFP_KERNEL);
	rg->seen = kvzalloc(size, GFP_KERNEL);
	rg->tracked = bitmap_zalloc(size / RG_BLOCK, GFP_KERNEL);
	KUNIT_ASSERT_EQ(test, vmig_init(&rg->mig, NULL, &rg_ops,
					VFIO_MIGRATION_STOP_COPY |
					VFIO_MIGRATION_P2P |
					VFIO_MIGRATION_PRE_COPY), 0);
	kunit_alloc_resource(test, NULL, rg_exit, GFP_KERNEL, rg);
	KUNIT_ASSERT_TRUE(test, rg->mem && rg->seen && rg->tracked);
	if (seed) {
		prandom_seed_state(&rnd, seed);
		prandom_bytes_state(&rnd, rg->mem, size);
	}
	return rg;
}

static struct file *rg_goto(struct kunit *test, struct rg_dev *rg, u32 state)
{
	return vt_goto(test, &rg->mig, state);
}

/* Load @b on a new device of @src's size, which must then equal @src. */
static struct rg_dev *rg_load_into_new(struct kunit *test, struct rg_dev *src,
				       const struct vt_buf *b)
{
	struct rg_dev *dst = rg_new(test, src->size, 0);
	struct file *f;
	loff_t pos = 0;

	rg_goto(test, dst, ST);
	f = rg_goto(test, dst, RE);
	KUNIT_EXPECT_EQ(test, kernel_write(f, b->data, b->len, &pos),
			(ssize_t)b->len);
	fput(f);
	KUNIT_EXPECT_FALSE(test, IS_ERR(vmig_set_state(&dst->mig, ST)));
	KUNIT_EXPECT_TRUE(test, dst->have_tail);
	KUNIT_EXPECT_EQ(test, dst->bad, 0);
	KUNIT_EXPECT_TRUE_MSG(test, !memcmp(dst->mem, src->mem, src->size),
			      "the loaded region differs from the saved one");
	return dst;
}

/*
 * The core went idle whenever it had to: it never slept or yielded with
 * the window open (but in linger's polls), each linger that said no is
 * followed by an idle before the next read, and so is a read after which
 * the CPU was wanted; the tail runs outside any window; the worker's last
 * op is an idle.  And the ops got sound arguments, and none ran after the
 * release.
 */
static void rg_check_ops(struct kunit *test, struct rg_dev *rg)
{
	bool need_idle = false;
	u32 i;

	spin_lock(&rg->lock);
	for (i = 0; i < rg->nlog; i++) {
		switch (rg->log[i]) {
		case 'i':
			need_idle = false;
			break;
		case 'l':
		case 'x':
			KUNIT_EXPECT_FALSE_MSG(test, need_idle,
					       "op %u (%c) without an idle before",
					       i, rg->log[i]);
			need_idle = true;
			break;
		default:
			KUNIT_EXPECT_FALSE_MSG(test, need_idle,
					       "op %u (%c) without an idle before",
					       i, rg->log[i]);
			break;
		}
	}
	if (rg->nlog)
		KUNIT_EXPECT_EQ_MSG(test, rg->log[rg->nlog - 1], 'i',
				    "the worker's last op is no idle");
	KUNIT_EXPECT_EQ(test, rg->tail_in_window, 0);
	KUNIT_EXPECT_EQ_MSG(test, rg->slept_in_window, 0,
			    "the worker slept or yielded with the window open");
	KUNIT_EXPECT_EQ(test, rg->bad_args, 0);
	KUNIT_EXPECT_EQ(test, rg->late_ops, 0);
	KUNIT_EXPECT_EQ(test, rg->released_busy, 0);
	spin_unlock(&rg->lock);
}

static u32 rg_count(struct rg_dev *rg, char op)
{
	u32 i, n = 0;

	spin_lock(&rg->lock);
	for (i = 0; i < rg->nlog; i++)
		n += rg->log[i] == op;
	spin_unlock(&rg->lock);
	return n;
}

static unsigned long rg_data_size_now(struct rg_dev *rg)
{
	unsigned long bytes;

	mutex_lock(&rg->mig.state_lock);
	rg_data_size(&rg->mig, &bytes);
	mutex_unlock(&rg->mig.state_lock);
	return bytes;
}

/* ---------------------------------------------------------------------- */

static const u64 rg_sizes[] = {
	RG_BLOCK,			/* one block */
	64 * 1024,			/* records of 15 blocks and a last of 1 */
	64 * 1024 + 3 * RG_BLOCK,	/* a last record of 4 */
	1024 * 1024,			/* 256 chunks through 4 */
};

static void rg_size_desc(const u64 *size, char *desc)
{
	snprintf(desc, KUNIT_PARAM_DESC_SIZE, "%llu bytes", *size);
}

KUNIT_ARRAY_PARAM(rg_sizes, rg_sizes, rg_size_desc);

/*
 * STOP_COPY without pre-copy: the whole region and the tail, exactly the
 * size get_data_size announced, through at most VMIG_SAVE_CHUNKS chunks,
 * loaded byte for byte; no tracking, no compare.
 */
static void vmig_region_stop_copy(struct kunit *test)
{
	u64 size = *(const u64 *)test->param_value;
	struct rg_dev *src = rg_new(test, size, 1);
	unsigned long announced;
	struct vt_buf b;
	struct file *f;

	vt_buf_init(test, &b, size * 2 + 4096);
	rg_goto(test, src, ST);
	announced = rg_data_size_now(src);
	f = rg_goto(test, src, SC);
	KUNIT_EXPECT_EQ(test, vt_drain(test, f, &b), 0);
	KUNIT_EXPECT_EQ(test, b.len, announced + vmig_stream_overhead(0));
	KUNIT_EXPECT_LE(test, vmig_session_peak_chunks(vmig_file_session(f)),
			VMIG_SAVE_CHUNKS);
	rg_goto(test, src, ST);
	KUNIT_EXPECT_EQ(test, src->released, 1);
	fput(f);

	rg_load_into_new(test, src, &b);
	KUNIT_EXPECT_EQ(test, rg_count(src, 'R') + rg_count(src, 'c'), 0);
	KUNIT_EXPECT_EQ(test, rg_count(src, 't'), 1);
	rg_check_ops(test, src);
}

static long rg_info(struct kunit *test, struct file *f, unsigned long uaddr,
		    struct vfio_precopy_info *info)
{
	return vt_precopy_info(test, f, uaddr, sizeof(*info), 0, info);
}

static void rg_poke(struct rg_dev *rg, u32 block)
{
	rg->mem[(size_t)block * RG_BLOCK + 7] ^= 0x5a;
}

/*
 * Pre-copy: the initial image, exactly as announced; blocks written after
 * it are found by a scan, announced as dirty and sent; at STOP_COPY only
 * what changed since is sent, then the tail.  The loaded region equals
 * the source at the switchover.
 */
static void vmig_region_precopy(struct kunit *test)
{
	static const u32 pokes[] = { 5, 77, 200 };
	struct rg_dev *src = rg_new(test, 64 * 1024, 2);
	u32 rec1 = vmig_stream_record_size(sizeof(struct vmig_region_rec) +
					   RG_BLOCK);
	unsigned long uaddr = vt_user_page(test);
	u32 hdr = sizeof(struct vmig_stream_hdr);
	struct vmig_region_stats st;
	struct vfio_precopy_info info;
	unsigned long deadline;
	struct vt_buf b;
	struct file *f;
	size_t before;
	u32 i;

	vt_buf_init(test, &b, 256 * 1024);
	f = rg_goto(test, src, PC);
	KUNIT_EXPECT_EQ(test, vt_drain(test, f, &b), -ENOMSG);
	KUNIT_EXPECT_EQ(test, b.len,
			hdr + vmig_region_stream_bytes(src->size, RG_BLOCK,
						       RG_CHUNK));
	KUNIT_ASSERT_EQ(test, rg_info(test, f, uaddr, &info), 0);
	KUNIT_EXPECT_EQ(test, info.initial_bytes, 0);
	KUNIT_EXPECT_EQ(test, info.dirty_bytes, 0);
	/* Nothing changed: nothing to read, nothing to wake poll(). */
	msleep(300);
	KUNIT_EXPECT_EQ(test, vt_drain(test, f, &b), -ENOMSG);

	before = b.len;
	for (i = 0; i < ARRAY_SIZE(pokes); i++)
		rg_poke(src, pokes[i]);
	/*
	 * Each question asks for a scan; poll() wakes when one found
	 * changes.  A scan already running may find some of the blocks and
	 * the next one the rest: ask until all came.
	 */
	deadline = jiffies + 5 * HZ;
	do {
		KUNIT_ASSERT_EQ(test, rg_info(test, f, uaddr, &info), 0);
		vt_wait_readable(f);
		KUNIT_EXPECT_EQ(test, vt_drain(test, f, &b), -ENOMSG);
	} while (b.len - before < ARRAY_SIZE(pokes) * rec1 &&
		 time_before(jiffies, deadline));
	/* Apart, so one record each. */
	KUNIT_EXPECT_EQ(test, b.len - before, ARRAY_SIZE(pokes) * rec1);

	/* Found by a last scan in PRE_COPY or by the final pass. */
	rg_poke(src, 9);
	KUNIT_EXPECT_NULL(test, rg_goto(test, src, SC));
	KUNIT_EXPECT_EQ(test, vt_drain(test, f, &b), 0);
	/* The four blocks, the tail, the trailer. */
	KUNIT_EXPECT_EQ(test, b.len - before,
			(ARRAY_SIZE(pokes) + 1) * rec1 +
			vmig_stream_record_size(RG_TAIL_LEN) +
			vmig_stream_overhead(0) - hdr);
	KUNIT_EXPECT_EQ(test, rg_info(test, f, uaddr, &info), -EINVAL);
	vmig_region_get_stats(&src->mig, &st);
	KUNIT_EXPECT_GE(test, st.scans, 1);
	KUNIT_EXPECT_EQ(test, st.resent_blocks, ARRAY_SIZE(pokes) + 1);
	KUNIT_EXPECT_EQ(test, st.track_bytes,
			2 * BITS_TO_LONGS(src->size / RG_BLOCK) * sizeof(long));
	rg_goto(test, src, RU);
	fput(f);

	rg_load_into_new(test, src, &b);
	rg_check_ops(test, src);
}

/*
 * STOP_COPY arrives while the initial image is half sent, the worker
 * blocked on a full queue: it finishes what it reserved and the last pass
 * sends the rest, each block once.
 */
static void vmig_region_precopy_cut_short(struct kunit *test)
{
	struct rg_dev *src = rg_new(test, 1024 * 1024, 3);
	struct rg_dev *dst;
	struct vt_buf b;
	struct file *f;
	int i;

	vt_buf_init(test, &b, 2 * 1024 * 1024);
	f = rg_goto(test, src, PC);
	/* Wait for the worker to fill the queue and give up lingering. */
	for (i = 0; i < 250 && !rg_count(src, 'l'); i++)
		msleep(20);
	KUNIT_ASSERT_GT(test, rg_count(src, 'l'), 0);
	/* What is framed and unread counts too: here, all but the tail. */
	KUNIT_EXPECT_EQ(test, rg_data_size_now(src),
			sizeof(struct vmig_stream_hdr) +
			vmig_region_stream_bytes(src->size, RG_BLOCK, RG_CHUNK) +
			vmig_stream_record_size(RG_TAIL_LEN));
	rg_poke(src, 0);	/* sent already: found by the last scan */
	rg_poke(src, 4000);	/* not sent yet */
	KUNIT_EXPECT_NULL(test, rg_goto(test, src, SC));
	KUNIT_EXPECT_EQ(test, vt_drain(test, f, &b), 0);
	rg_goto(test, src, RU);
	fput(f);

	dst = rg_load_into_new(test, src, &b);
	/* Each block once, but block 0 twice. */
	KUNIT_EXPECT_EQ(test, dst->loaded_bytes, src->size + RG_BLOCK);
	rg_check_ops(test, src);
}

/*
 * A driver that lingers keeps its window while the queue is full: the
 * core polls, without idle, until linger says no; then idle, and sleep.
 */
static void vmig_region_linger(struct kunit *test)
{
	struct rg_dev *src = rg_new(test, 256 * 1024, 4);
	char *first_l, *last_l;
	struct vt_buf b;
	struct file *f;
	u32 lingers;
	int i;

	vt_buf_init(test, &b, 512 * 1024);
	src->linger = true;
	rg_goto(test, src, ST);
	f = rg_goto(test, src, SC);
	for (i = 0; i < 250 && rg_count(src, 'L') < 20; i++)
		msleep(20);
	lingers = rg_count(src, 'L');
	KUNIT_EXPECT_GE(test, lingers, 20);
	KUNIT_EXPECT_EQ(test, rg_count(src, 'l'), 0);
	/* No idle while it lingered. */
	spin_lock(&src->lock);
	first_l = strchr(src->log, 'L');
	last_l = strrchr(src->log, 'L');
	KUNIT_EXPECT_TRUE(test, first_l && !memchr(first_l, 'i', last_l - first_l));
	spin_unlock(&src->lock);

	spin_lock(&src->lock);
	src->linger = false;
	spin_unlock(&src->lock);
	for (i = 0; i < 250 && !rg_count(src, 'l'); i++)
		msleep(20);
	msleep(20);
	/* One linger said no, then idle, then the worker slept. */
	KUNIT_EXPECT_EQ(test, rg_count(src, 'l'), 1);
	spin_lock(&src->lock);
	KUNIT_EXPECT_STREQ(test, strchr(src->log, 'l'), "li");
	spin_unlock(&src->lock);

	KUNIT_EXPECT_EQ(test, vt_drain(test, f, &b), 0);
	rg_goto(test, src, ST);
	fput(f);
	rg_load_into_new(test, src, &b);
	rg_check_ops(test, src);
}

struct rg_fault {
	const char *name;
	bool precopy;
	int eagain;
	u32 fail_read;
	int read_err;
	int changed_err;
	int tail_err;
	int expect;	/* what read() returns in the end: 0, the stream ends */
};

static const struct rg_fault rg_faults[] = {
	{ "two disturbed reads", false, 2, 0, 0, 0, 0, 0 },
	{ "three disturbed reads", false, 3, 0, 0, 0, 0, -EIO },
	{ "read fails", false, 0, 5, -EFAULT, 0, 0, -EFAULT },
	{ "tail fails", false, 0, 0, 0, 0, -ENOSPC, -ENOSPC },
	{ "changed fails", true, 0, 0, 0, -ENXIO, 0, -ENXIO },
	{ "pre-copy read fails", true, 0, 3, -EFAULT, 0, 0, -EFAULT },
};

static void rg_fault_desc(const struct rg_fault *f, char *desc)
{
	strscpy(desc, f->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(rg_faults, rg_faults, rg_fault_desc);

/*
 * A failing driver op fails the stream with its error, and the session
 * still ends cleanly; a read disturbed twice in a row is only slower.
 */
static void vmig_region_faults(struct kunit *test)
{
	const struct rg_fault *p = test->param_value;
	struct rg_dev *src = rg_new(test, 64 * 1024, 5);
	unsigned long deadline;
	struct vt_buf b;
	struct file *f;
	ssize_t ret;

	vt_buf_init(test, &b, 256 * 1024);
	src->eagain = p->eagain;
	src->fail_read = p->fail_read;
	src->read_err = p->read_err;
	src->tail_err = p->tail_err;
	if (p->precopy) {
		f = rg_goto(test, src, PC);
		if (p->changed_err) {
			KUNIT_EXPECT_EQ(test, vt_drain(test, f, &b), -ENOMSG);
			spin_lock(&src->lock);
			src->changed_err = p->changed_err;
			spin_unlock(&src->lock);
		}
		/* Each -ENOMSG asks for a scan; wait for the failure. */
		deadline = jiffies + 5 * HZ;
		while ((ret = vt_drain(test, f, &b)) == -ENOMSG &&
		       time_before(jiffies, deadline))
			msleep(20);
	} else {
		rg_goto(test, src, ST);
		f = rg_goto(test, src, SC);
		ret = vt_drain(test, f, &b);
	}
	KUNIT_EXPECT_EQ(test, ret, p->expect);
	if (!p->expect)
		rg_load_into_new(test, src, &b);
	else	/* It stays failed. */
		KUNIT_EXPECT_EQ(test, vt_drain(test, f, &b), p->expect);
	rg_goto(test, src, RU);
	KUNIT_EXPECT_EQ(test, src->released, 1);
	fput(f);
	rg_check_ops(test, src);
}

static const int rg_ends[] = { VT_END_LEAVE, VT_END_RESET, VT_END_CLOSE,
			       VT_END_ERROR };

KUNIT_ARRAY_PARAM(rg_ends, rg_ends, vt_end_desc);

/*
 * However a session ends, with its worker blocked on a full queue or
 * waiting between scans, the worker has returned before the release op,
 * and no op runs afterwards.
 */
static void vmig_region_ends(struct kunit *test)
{
	int how = *(const int *)test->param_value;
	bool full;

	for (full = false; ; full = true) {
		struct rg_dev *src = rg_new(test, 1024 * 1024, 6);
		struct vt_buf b;
		struct file *f;
		loff_t pos = 0;
		u8 byte;
		int i;

		vt_buf_init(test, &b, 2 * 1024 * 1024);
		f = rg_goto(test, src, PC);
		if (full) {
			for (i = 0; i < 250 && !rg_count(src, 'l'); i++)
				msleep(20);
		} else {
			KUNIT_EXPECT_EQ(test, vt_drain(test, f, &b), -ENOMSG);
			msleep(50);
		}
		vt_end_session(test, &src->mig, how);
		KUNIT_EXPECT_EQ(test, src->released, 1);
		KUNIT_EXPECT_EQ(test, kernel_read(f, &byte, 1, &pos), -ENODEV);
		fput(f);
		msleep(20);
		rg_check_ops(test, src);
		if (full)
			break;
	}
}

/*
 * A compare found disturbed may have consumed what it was asked about (a
 * dirty log read and cleared): the core does not ask again but takes the
 * blocks as changed, so a change is never lost.
 */
static void vmig_region_compare_disturbed(struct kunit *test)
{
	struct rg_dev *src = rg_new(test, 64 * 1024, 7);
	struct vt_buf b;
	struct file *f;

	vt_buf_init(test, &b, 256 * 1024);
	f = rg_goto(test, src, PC);
	KUNIT_EXPECT_EQ(test, vt_drain(test, f, &b), -ENOMSG);
	spin_lock(&src->lock);
	src->changed_eagain = 1;
	spin_unlock(&src->lock);
	rg_poke(src, 5);
	/* Found by a scan in PRE_COPY or by the last pass: the same. */
	KUNIT_EXPECT_NULL(test, rg_goto(test, src, SC));
	KUNIT_EXPECT_EQ(test, vt_drain(test, f, &b), 0);
	KUNIT_EXPECT_EQ(test, src->changed_eagain, 0);
	rg_goto(test, src, RU);
	fput(f);
	rg_load_into_new(test, src, &b);
	rg_check_ops(test, src);
}

static bool rg_wait(struct completion *c)
{
	return wait_for_completion_timeout(c, 5 * HZ);
}

/*
 * Ask for a scan and hold it at its first compare, then write blocks 5,
 * 77 and 200, each in another group of 64: the scan finds all three once
 * the gate opens.
 */
static void rg_poke_scanning(struct kunit *test, struct rg_dev *src,
			     struct file *f, unsigned long uaddr)
{
	struct vfio_precopy_info info;

	WRITE_ONCE(src->gate, true);
	KUNIT_ASSERT_EQ(test, rg_info(test, f, uaddr, &info), 0);
	KUNIT_ASSERT_TRUE(test, rg_wait(&src->gate_entered));
	rg_poke(src, 5);
	rg_poke(src, 77);
	rg_poke(src, 200);
}

/*
 * PRECOPY_INFO and get_data_size count the blocks a scan found while
 * they wait to be sent: a scan held at its start while three blocks are
 * written finds all three (with a disturbed compare, the 64 blocks it
 * covered), and the first send of the dirty pass is held so that nothing
 * of it is framed yet.
 */
static void vmig_region_dirty_accounting(struct kunit *test)
{
	u32 rec1 = vmig_stream_record_size(sizeof(struct vmig_region_rec) +
					   RG_BLOCK);
	unsigned long uaddr = vt_user_page(test);
	struct vfio_precopy_info info;
	bool disturbed;

	for (disturbed = false; ; disturbed = true) {
		struct rg_dev *src = rg_new(test, 64 * 1024, 9);
		u32 dirty = disturbed ? 64 + 2 : 3;
		struct vt_buf b;
		struct file *f;
		size_t before;

		vt_buf_init(test, &b, 256 * 1024);
		f = rg_goto(test, src, PC);
		KUNIT_EXPECT_EQ(test, vt_drain(test, f, &b), -ENOMSG);
		WRITE_ONCE(src->hold, 5);
		src->changed_eagain = disturbed;
		rg_poke_scanning(test, src, f, uaddr);
		complete(&src->gate_open);
		KUNIT_ASSERT_TRUE(test, rg_wait(&src->hold_entered));

		KUNIT_ASSERT_EQ(test, rg_info(test, f, uaddr, &info), 0);
		KUNIT_EXPECT_EQ(test, info.initial_bytes, 0);
		KUNIT_EXPECT_EQ(test, info.dirty_bytes, dirty * rec1);
		KUNIT_EXPECT_EQ(test, rg_data_size_now(src),
				dirty * rec1 +
				vmig_stream_record_size(RG_TAIL_LEN));

		complete(&src->hold_open);
		before = b.len;
		vt_wait_readable(f);
		KUNIT_EXPECT_EQ(test, vt_drain(test, f, &b), -ENOMSG);
		if (!disturbed)	/* apart, so one record each */
			KUNIT_EXPECT_EQ(test, b.len - before, dirty * rec1);
		KUNIT_ASSERT_EQ(test, rg_info(test, f, uaddr, &info), 0);
		KUNIT_EXPECT_EQ(test, info.dirty_bytes, 0);
		KUNIT_EXPECT_EQ(test, src->changed_eagain, 0);

		KUNIT_EXPECT_NULL(test, rg_goto(test, src, SC));
		KUNIT_EXPECT_EQ(test, vt_drain(test, f, &b), 0);
		rg_goto(test, src, RU);
		fput(f);
		rg_load_into_new(test, src, &b);
		rg_check_ops(test, src);
		if (disturbed)
			break;
	}
}

/*
 * The last pass compares a record's worth ahead of its sends: the block
 * it found changed in the first group is sent before it compares the
 * last group.  A pre-copy scan held at its first compare while three
 * blocks are written keeps them for the last pass.
 */
static void vmig_region_final_interleaves(struct kunit *test)
{
	struct rg_dev *src = rg_new(test, 64 * 1024, 10);
	unsigned long uaddr = vt_user_page(test);
	char *first_r, *last_c;
	struct vmig_region_stats st;
	struct vt_buf b;
	struct file *f;

	vt_buf_init(test, &b, 256 * 1024);
	f = rg_goto(test, src, PC);
	KUNIT_EXPECT_EQ(test, vt_drain(test, f, &b), -ENOMSG);
	rg_poke_scanning(test, src, f, uaddr);
	KUNIT_EXPECT_NULL(test, rg_goto(test, src, SC));
	complete(&src->gate_open);
	KUNIT_EXPECT_EQ(test, vt_drain(test, f, &b), 0);

	spin_lock(&src->lock);
	last_c = strrchr(src->log, 'c');
	first_r = strchr(src->log, 'r');
	spin_unlock(&src->lock);
	KUNIT_EXPECT_TRUE(test, first_r && last_c && first_r < last_c);
	vmig_region_get_stats(&src->mig, &st);
	KUNIT_EXPECT_EQ(test, st.resent_blocks, 3);
	rg_goto(test, src, RU);
	fput(f);
	rg_load_into_new(test, src, &b);
	rg_check_ops(test, src);
}

/* The CPU is wanted after a read: the window closes before it goes. */
static void vmig_region_resched(struct kunit *test)
{
	struct rg_dev *src;
	struct vt_buf b;
	struct file *f;

	/* There the flag is gone at the next preemption point. */
	if (preempt_model_preemptible())
		kunit_skip(test, "the kernel preempts at any point");
	src = rg_new(test, 64 * 1024, 8);
	vt_buf_init(test, &b, 256 * 1024);
	src->resched = true;
	rg_goto(test, src, ST);
	f = rg_goto(test, src, SC);
	KUNIT_EXPECT_EQ(test, vt_drain(test, f, &b), 0);
	rg_goto(test, src, ST);
	fput(f);
	KUNIT_EXPECT_GT(test, rg_count(src, 'x'), 1);
	rg_load_into_new(test, src, &b);
	rg_check_ops(test, src);
}

/*
 * Bad configurations are refused before anything is allocated; a good one
 * that the arc never hands out is ended without its worker ever running.
 */
static void vmig_region_open_checks(struct kunit *test)
{
	static const struct vmig_region_ops no_changed = {
		.read = rg_read,
		.release = rg_release,
	};
	static const struct vmig_region_ops no_read = {
		.changed = rg_changed,
		.release = rg_release,
	};
	struct rg_dev *rg = rg_new(test, 64 * 1024, 0);
	struct vmig_session_cfg cfg = { .chunk_size = RG_CHUNK };
	struct vmig_region_cfg good = {
		.size = rg->size, .block = RG_BLOCK, .type = RG_T_MEM,
		.precopy = true,
	};
	struct vmig_region_cfg bad[8];
	struct file *f;
	int i;

	for (i = 0; i < ARRAY_SIZE(bad); i++)
		bad[i] = good;
	bad[0].block = 4;			/* below 8 */
	bad[1].block = 384;			/* not a power of two */
	bad[2].size = rg->size + 8;		/* not whole blocks */
	bad[3].size = 0;
	bad[4].type = VMIG_REC_DRIVER_BASE - 1;	/* the core's */
	bad[5].type = 0x10000;
	bad[6].block = RG_CHUNK;		/* no record of one block fits */
	bad[7].size = (u64)RG_BLOCK << 32;	/* too many blocks */

	mutex_lock(&rg->mig.state_lock);
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		f = vmig_region_save_open(&rg->mig, &rg_region_ops, &bad[i],
					  &cfg);
		KUNIT_EXPECT_EQ_MSG(test, PTR_ERR(f), -EINVAL,
				    "configuration %d", i);
	}
	f = vmig_region_save_open(&rg->mig, &no_changed, &good, &cfg);
	KUNIT_EXPECT_EQ(test, PTR_ERR(f), -EINVAL);
	f = vmig_region_save_open(&rg->mig, &no_read, &good, &cfg);
	KUNIT_EXPECT_EQ(test, PTR_ERR(f), -EINVAL);

	f = vmig_region_save_open(&rg->mig, &rg_region_ops, &good, &cfg);
	KUNIT_ASSERT_FALSE(test, IS_ERR(f));
	vmig_session_abandon_locked(f);
	mutex_unlock(&rg->mig.state_lock);
	fput(f);
	KUNIT_EXPECT_EQ(test, rg->released, 1);
	KUNIT_EXPECT_EQ(test, rg->nlog, 0);
}

static struct kunit_case vmig_region_cases[] = {
	KUNIT_CASE_PARAM(vmig_region_stop_copy, rg_sizes_gen_params),
	KUNIT_CASE(vmig_region_precopy),
	KUNIT_CASE(vmig_region_precopy_cut_short),
	KUNIT_CASE(vmig_region_linger),
	KUNIT_CASE_PARAM(vmig_region_faults, rg_faults_gen_params),
	KUNIT_CASE_PARAM(vmig_region_ends, rg_ends_gen_params),
	KUNIT_CASE(vmig_region_compare_disturbed),
	KUNIT_CASE(vmig_region_dirty_accounting),
	KUNIT_CASE(vmig_region_final_interleaves),
	KUNIT_CASE(vmig_region_resched),
	KUNIT_CASE(vmig_region_open_checks),
	{}
};

static struct kunit_suite vmig_region_suite = {
	.name = "vmig_region",
	.test_cases = vmig_region_cases,
};

kunit_test_suites(&vmig_region_suite);
