// SPDX-License-Identifier: GPL-2.0-only
/*
 * KUnit suites for vmig's data sessions, its vfio glue and its locking.
 *
 * A fake device produces records of a known pattern, either on demand
 * (&struct vmig_save_ops.produce) or from a worker, and loads them back on
 * a second fake device, so every test checks the data end to end.
 */

#include <kunit/static_stub.h>
#include <kunit/test.h>
#include <linux/debug_locks.h>
#include <linux/delay.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/kthread.h>
#include <linux/mman.h>
#include <linux/poll.h>
#include <linux/prandom.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/uio.h>
#include <linux/vmig.h>
#include <linux/workqueue.h>
#include <uapi/linux/vmig.h>

#include "stream.h"
#include "test_util.h"
#include "vmig_priv.h"

MODULE_IMPORT_NS(EXPORTED_FOR_KUNIT_TESTING);

#define ER	VFIO_DEVICE_STATE_ERROR
#define ST	VFIO_DEVICE_STATE_STOP
#define RU	VFIO_DEVICE_STATE_RUNNING
#define SC	VFIO_DEVICE_STATE_STOP_COPY
#define RE	VFIO_DEVICE_STATE_RESUMING
#define RP	VFIO_DEVICE_STATE_RUNNING_P2P
#define PC	VFIO_DEVICE_STATE_PRE_COPY
#define PP	VFIO_DEVICE_STATE_PRE_COPY_P2P

#define SD_FLAGS	(VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P | \
			 VFIO_MIGRATION_PRE_COPY)
#define SD_ID		"sd model=1"
/* Where the first payload of a stream of SD_ID starts. */
#define SD_FIRST_PAYLOAD	(sizeof(struct vmig_stream_hdr) + strlen(SD_ID) + \
				 sizeof(struct vmig_rec_hdr))
#define SD_T_INITIAL	(VMIG_REC_DRIVER_BASE + 0)
#define SD_T_DIRTY	(VMIG_REC_DRIVER_BASE + 1)
#define SD_T_FINAL	(VMIG_REC_DRIVER_BASE + 2)
#define SD_T_BOGUS	(VMIG_REC_DRIVER_BASE + 3)

/* The fake device.  Counters are under @lock; the worker runs unlocked. */
struct sd_dev {
	struct vmig_device mig;
	struct vfio_device vdev;	/* a key for the vfio glue only */
	struct kunit *test;
	bool push;			/* a worker produces, not produce() */
	u32 chunk;			/* session chunk size */
	u32 rec_len;			/* payload bytes per record */

	spinlock_t lock;		/* the counters below */
	u32 initial_left;		/* initial records not yet added */
	u32 dirty_left;			/* dirty records pending */
	u32 final_recs;			/* records STOP_COPY adds at the end */
	bool final;			/* STOP_COPY reached: finish the stream */
	bool gate;			/* the worker may add dirty records */
	u32 seq;			/* payload pattern of the next record */
	u32 inflight;			/* taken, not yet committed */

	struct vmig_session *sess;	/* the live saving session */
	bool feeding;			/* sd_feed_op() runs */
	int feed_runs;			/* times it ran */
	int feed_ret;			/* what it returned last */
	int feed_fail;			/* after its records: -errno, 1: 0 */
	int released;
	int released_feeding;		/* release ops run while it ran */
	int released_at_reset;		/* @released when reset() last ran */
	int resets;			/* calls of the reset op */
	int produce_calls;
	int pending_calls;
	int stale_calls;		/* produce()/pending() of an ended session */
	bool notify_in_pending;		/* report new data from pending() */
	bool no_pending;		/* save ops without pending() */
	bool phantom_pending;		/* pending() reports a byte never produced */
	bool signal_pending;		/* complete @pending_seen from pending() */
	struct completion pending_seen;

	/* resuming */
	u32 loaded;
	u32 bad_payloads;
	int fail_load;			/* -errno for the next load, once */
	bool hold_load;			/* load() waits for @load_release */
	struct completion load_entered;
	struct completion load_release;
};

static void sd_fill(u8 *buf, u32 len, u32 seq)
{
	u32 i;

	for (i = 0; i < len; i++)
		buf[i] = seq * 31 + i;
}

/* Take the next record to produce, or 0 if none is due now. */
static u32 sd_next_type(struct sd_dev *sd, u32 *seq)
{
	u32 type = 0;

	spin_lock(&sd->lock);
	if (sd->initial_left) {
		sd->initial_left--;
		type = SD_T_INITIAL;
	} else if (sd->dirty_left && (!sd->push || sd->gate || sd->final)) {
		sd->dirty_left--;
		type = SD_T_DIRTY;
	} else if (sd->final && sd->final_recs) {
		sd->final_recs--;
		type = SD_T_FINAL;
	}
	if (type) {
		*seq = sd->seq++;
		sd->inflight++;
	}
	spin_unlock(&sd->lock);
	return type;
}

static void sd_done_one(struct sd_dev *sd)
{
	spin_lock(&sd->lock);
	sd->inflight--;
	spin_unlock(&sd->lock);
}

static void sd_unget(struct sd_dev *sd, u32 type)
{
	spin_lock(&sd->lock);
	sd->seq--;
	sd->inflight--;
	if (type == SD_T_INITIAL)
		sd->initial_left++;
	else if (type == SD_T_DIRTY)
		sd->dirty_left++;
	else
		sd->final_recs++;
	spin_unlock(&sd->lock);
}

/* Add records until none is due or the queue is full; 0 or -errno. */
static int sd_add_records(struct sd_dev *sd, struct vmig_session *sess,
			  bool wait)
{
	u32 type, seq;
	void *buf;

	while ((type = sd_next_type(sd, &seq))) {
		buf = vmig_save_reserve(sess, type, type == SD_T_INITIAL ?
					VMIG_REC_INITIAL | VMIG_REC_MANDATORY :
					VMIG_REC_MANDATORY, sd->rec_len, wait);
		if (IS_ERR(buf)) {
			sd_unget(sd, type);
			return PTR_ERR(buf);
		}
		sd_fill(buf, sd->rec_len, seq);
		vmig_save_commit(sess);
		sd_done_one(sd);
	}
	return 0;
}

static bool sd_finished(struct sd_dev *sd)
{
	bool done;

	spin_lock(&sd->lock);
	done = sd->final && !sd->initial_left && !sd->dirty_left &&
	       !sd->final_recs;
	spin_unlock(&sd->lock);
	return done;
}

static int sd_produce(struct vmig_session *sess)
{
	struct sd_dev *sd = vmig_session_priv(sess);
	int ret;

	if (sess != sd->sess)
		sd->stale_calls++;
	sd->produce_calls++;
	ret = sd_add_records(sd, sess, false);
	if (!ret && sd_finished(sd))
		vmig_save_complete(sess);
	return ret;
}

static void sd_pending(struct vmig_session *sess, u64 *initial, u64 *dirty)
{
	struct sd_dev *sd = vmig_session_priv(sess);
	u32 rec = vmig_stream_record_size(sd->rec_len);

	/* The driver's data of an ended session may be gone already. */
	if (sess != sd->sess)
		sd->stale_calls++;
	sd->pending_calls++;
	/* A record being framed counts until the core has it. */
	spin_lock(&sd->lock);
	*initial = (u64)(sd->initial_left + sd->inflight) * rec;
	*dirty = (u64)sd->dirty_left * rec + sd->phantom_pending;
	spin_unlock(&sd->lock);
	/* The caller holds the file's io_lock when it reads. */
	if (sd->signal_pending)
		complete(&sd->pending_seen);
	/* As if another context reported data right after the counts. */
	if (sd->notify_in_pending)
		vmig_save_notify(sess);
}

static bool sd_worker_due(struct sd_dev *sd)
{
	bool due;

	spin_lock(&sd->lock);
	due = sd->initial_left || sd->final ||
	      (sd->dirty_left && sd->gate);
	spin_unlock(&sd->lock);
	return due;
}

/* The feed of a push session: the core runs it. */
static int sd_feed_op(struct vmig_session *sess)
{
	struct sd_dev *sd = vmig_session_priv(sess);
	int ret = 0;

	WRITE_ONCE(sd->feed_runs, sd->feed_runs + 1);
	WRITE_ONCE(sd->feeding, true);
	while (!vmig_session_ended(sess)) {
		ret = sd_add_records(sd, sess, true);
		if (ret)
			break;
		vmig_save_flush(sess);
		if (sd_finished(sd)) {
			ret = sd->feed_fail > 0 ? 0 : sd->feed_fail;
			if (!sd->feed_fail)
				vmig_save_complete(sess);
			break;
		}
		vmig_feed_wait(sess, sd_worker_due(sd));
	}
	WRITE_ONCE(sd->feed_ret, ret);
	WRITE_ONCE(sd->feeding, false);
	return ret;
}

/* Wake the feed after a change of what it waits for. */
static void sd_kick(struct sd_dev *sd)
{
	struct vmig_session *sess = READ_ONCE(sd->sess);

	if (sess)
		vmig_feed_kick(sess);
}

static void sd_release(struct vmig_session *sess)
{
	struct sd_dev *sd = vmig_session_priv(sess);

	/* The core must have waited for the feed. */
	if (READ_ONCE(sd->feeding))
		sd->released_feeding++;
	sd->sess = NULL;
	sd->released++;
}

static const struct vmig_save_ops sd_pull_ops = {
	.produce = sd_produce,
	.pending = sd_pending,
	.release = sd_release,
};

static const struct vmig_save_ops sd_pull_nopending_ops = {
	.produce = sd_produce,
	.release = sd_release,
};

static const struct vmig_save_ops sd_push_ops = {
	.feed = sd_feed_op,
	.pending = sd_pending,
	.release = sd_release,
};

static int sd_load(struct vmig_session *sess, u32 type, const void *data,
		   u32 len)
{
	struct sd_dev *sd = vmig_session_priv(sess);
	u8 *want;
	int ret;

	if (sd->hold_load) {
		sd->hold_load = false;
		complete(&sd->load_entered);
		wait_for_completion(&sd->load_release);
	}
	if (sd->fail_load) {
		ret = sd->fail_load;
		sd->fail_load = 0;
		return ret;
	}
	if (type < SD_T_INITIAL || type > SD_T_FINAL)
		return -EOPNOTSUPP;
	want = kmalloc(len, GFP_KERNEL);
	if (!want)
		return -ENOMEM;
	sd_fill(want, len, sd->loaded);
	if (memcmp(want, data, len))
		sd->bad_payloads++;
	kfree(want);
	sd->loaded++;
	return 0;
}

static void sd_resume_release(struct vmig_session *sess)
{
	struct sd_dev *sd = vmig_session_priv(sess);

	sd->released++;
}

static const struct vmig_resume_ops sd_resume_ops = {
	.load = sd_load,
	.release = sd_resume_release,
};

static struct file *sd_step(struct vmig_device *mig, u32 from, u32 to)
{
	struct sd_dev *sd = container_of(mig, struct sd_dev, mig);
	struct vmig_session_cfg cfg = {
		.id = { .data = SD_ID, .len = strlen(SD_ID) },
		.chunk_size = sd->chunk,
		.priv = sd,
	};
	struct file *f;

	if (to == SC) {
		spin_lock(&sd->lock);
		sd->final = true;
		spin_unlock(&sd->lock);
		sd_kick(sd);
	}
	if (!vmig_arc_starts_session(from, to))
		return NULL;
	if (to == RE)
		return vmig_resume_open(mig, &sd_resume_ops, &cfg);

	f = vmig_save_open(mig, sd->push ? &sd_push_ops :
			   sd->no_pending ? &sd_pull_nopending_ops : &sd_pull_ops,
			   &cfg);
	if (IS_ERR(f))
		return f;
	sd->sess = vmig_file_session(f);
	return f;
}

static int sd_data_size(struct vmig_device *mig, unsigned long *bytes)
{
	*bytes = 0;	/* a device with nothing to say: the core adds its frame */
	return 0;
}

static void sd_reset(struct vmig_device *mig)
{
	struct sd_dev *sd = container_of(mig, struct sd_dev, mig);

	lockdep_assert_held(&mig->state_lock);
	sd->resets++;
	sd->released_at_reset = sd->released;
}

static const struct vmig_vfio_ops sd_vfio_ops =
	VMIG_VFIO_OPS(struct sd_dev, vdev, mig);

static const struct vmig_ops sd_ops = {
	.migration_step_device_state = sd_step,
	.get_data_size = sd_data_size,
	.reset = sd_reset,
	.vfio_ops = &sd_vfio_ops,
};

static void sd_exit(struct kunit_resource *res)
{
	struct sd_dev *sd = res->data;

	/* Data files of the test may still be on their way out. */
	flush_delayed_fput();
	vmig_close(&sd->mig);
	vmig_uninit(&sd->mig);
}

static void sd_setup(struct kunit *test, struct sd_dev *sd, bool push,
		     u32 initial, u32 final_recs, u32 rec_len, u32 chunk)
{
	sd->test = test;
	sd->push = push;
	sd->initial_left = initial;
	sd->final_recs = final_recs;
	sd->rec_len = rec_len;
	sd->chunk = chunk;
	spin_lock_init(&sd->lock);
	init_completion(&sd->pending_seen);
	init_completion(&sd->load_entered);
	init_completion(&sd->load_release);
	KUNIT_ASSERT_EQ(test, vmig_init(&sd->mig, &sd->vdev, &sd_ops, SD_FLAGS), 0);
}

static struct sd_dev *sd_new(struct kunit *test, bool push, u32 initial,
			     u32 final_recs, u32 rec_len, u32 chunk)
{
	struct sd_dev *sd;

	sd = kunit_kzalloc(test, sizeof(*sd), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, sd);
	sd_setup(test, sd, push, initial, final_recs, rec_len, chunk);
	kunit_alloc_resource(test, NULL, sd_exit, GFP_KERNEL, sd);
	return sd;
}

static void sd_add_dirty(struct sd_dev *sd, u32 n)
{
	spin_lock(&sd->lock);
	sd->dirty_left += n;
	spin_unlock(&sd->lock);
	if (sd->sess)
		vmig_save_notify(sd->sess);
	sd_kick(sd);
}

static void sd_open_gate(struct sd_dev *sd)
{
	spin_lock(&sd->lock);
	sd->gate = true;
	spin_unlock(&sd->lock);
	sd_kick(sd);
}

static struct file *sd_goto(struct kunit *test, struct sd_dev *sd, u32 state)
{
	return vt_goto(test, &sd->mig, state);
}

/* Write a stream in random pieces; returns 0 or the first error. */
static int sd_feed(struct file *f, const u8 *data, size_t len, u32 seed)
{
	struct rnd_state rnd;
	size_t off = 0;
	loff_t pos = 0;
	ssize_t n;

	prandom_seed_state(&rnd, seed);
	while (off < len) {
		size_t want = min_t(size_t, len - off,
				    1 + prandom_u32_state(&rnd) % 32768);

		n = kernel_write(f, data + off, want, &pos);
		if (n < 0)
			return n;
		if (!n)
			return -EIO;
		off += n;
	}
	return 0;
}

/* Resume @b on a fresh device and return it. */
static struct sd_dev *sd_resume(struct kunit *test, const struct vt_buf *b,
				int *err)
{
	struct sd_dev *dst = sd_new(test, false, 0, 0, 0, 0);
	struct file *f = sd_goto(test, dst, RE);

	*err = sd_feed(f, b->data, b->len, b->len);
	fput(f);
	if (!*err)
		*err = PTR_ERR_OR_ZERO(vmig_set_state(&dst->mig, RU));
	return dst;
}

/* A whole save of @src in STOP_COPY into @b; @src is RUNNING again. */
static void sd_save_whole(struct kunit *test, struct sd_dev *src,
			  struct vt_buf *b)
{
	struct file *f;

	vt_buf_init(test, b, 1 << 16);
	f = sd_goto(test, src, SC);
	KUNIT_ASSERT_EQ(test, vt_drain(test, f, b), 0);
	KUNIT_EXPECT_FALSE(test, IS_ERR(vmig_set_state(&src->mig, RU)));
	fput(f);
}

/* @f, resuming @dst, takes @b whole: every record loads, intact. */
static void sd_resume_whole(struct kunit *test, struct sd_dev *dst,
			    struct file *f, const struct vt_buf *b, u32 seed,
			    u32 records)
{
	KUNIT_EXPECT_EQ(test, sd_feed(f, b->data, b->len, seed), 0);
	KUNIT_EXPECT_FALSE(test, IS_ERR(vmig_set_state(&dst->mig, RU)));
	KUNIT_EXPECT_EQ(test, dst->loaded, records);
	KUNIT_EXPECT_EQ(test, dst->bad_payloads, 0);
}

/* ---------------------------------------------------------------------- */
/* Suite vmig_session.                                                    */

struct sd_mode {
	const char *name;
	bool push;
	u32 chunk;
};

static const struct sd_mode sd_modes[] = {
	{ "produce on demand", false, 0 },
	{ "worker", true, 0 },
	{ "worker, 4 KiB chunks", true, 4096 },
};

static void sd_mode_desc(const struct sd_mode *m, char *desc)
{
	strscpy(desc, m->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(sd_modes, sd_modes, sd_mode_desc);

/* STOP_COPY: the whole state, to the permanent end, onto another device. */
static void vmig_session_stop_copy_roundtrip(struct kunit *test)
{
	const struct sd_mode *m = test->param_value;
	struct sd_dev *src = sd_new(test, m->push, 20, 5, 1000, m->chunk);
	struct sd_dev *dst;
	struct vt_buf b;
	struct file *f;
	int err, i;

	vt_buf_init(test, &b, 1 << 20);
	f = sd_goto(test, src, SC);
	KUNIT_ASSERT_NOT_NULL(test, f);
	KUNIT_EXPECT_EQ(test, vt_drain(test, f, &b), 0);
	/* The end of stream is permanent, and readable for poll(). */
	for (i = 0; i < 3; i++)
		KUNIT_EXPECT_EQ(test, vt_drain(test, f, &b), 0);
	KUNIT_EXPECT_TRUE(test, vfs_poll(f, NULL) & EPOLLIN);

	dst = sd_resume(test, &b, &err);
	KUNIT_EXPECT_EQ(test, err, 0);
	KUNIT_EXPECT_EQ(test, dst->loaded, 25);
	KUNIT_EXPECT_EQ(test, dst->bad_payloads, 0);
	KUNIT_EXPECT_EQ(test, dst->released, 1);

	sd_goto(test, src, ST);
	KUNIT_EXPECT_EQ(test, src->released, 1);
	fput(f);
}

/* However large the state, a save holds at most VMIG_SAVE_CHUNKS chunks. */
static void vmig_session_memory_bound(struct kunit *test)
{
	const struct sd_mode *m = test->param_value;
	u32 chunk = m->chunk ?: VMIG_DEFAULT_CHUNK;
	struct sd_dev *src = sd_new(test, m->push, 0, 2048, 4000, m->chunk);
	struct vmig_session *sess;
	size_t total = 0;
	loff_t pos = 0;
	ssize_t n;
	u8 *buf;
	struct file *f;

	buf = kunit_kzalloc(test, 3000, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, buf);
	f = sd_goto(test, src, SC);
	sess = vmig_file_session(f);
	while ((n = kernel_read(f, buf, 3000, &pos)) > 0)
		total += n;
	KUNIT_EXPECT_EQ(test, n, 0);
	KUNIT_EXPECT_GT(test, total, (size_t)2048 * 4000);
	KUNIT_EXPECT_LE(test, vmig_session_peak_chunks(sess), VMIG_SAVE_CHUNKS);
	kunit_info(test, "%zu bytes streamed through at most %u chunks of %u bytes\n",
		   total, vmig_session_peak_chunks(sess), chunk);
	sd_goto(test, src, ST);
	fput(f);
}

/* A pre-copy session of @sd, read into @b to its temporary end. */
static struct file *sd_precopy_idle(struct kunit *test, struct sd_dev *sd,
				    struct vt_buf *b)
{
	struct file *f;

	vt_buf_init(test, b, 1 << 16);
	f = sd_goto(test, sd, PC);
	KUNIT_ASSERT_EQ(test, vt_drain(test, f, b), -ENOMSG);
	return f;
}

/* A record of 100 bytes reserved and cancelled, as a failed producer does. */
static void sd_reserve_cancel(struct kunit *test, struct sd_dev *sd, u32 type,
			      u32 flags)
{
	void *buf = vmig_save_reserve(sd->sess, type, flags, 100, false);

	KUNIT_ASSERT_FALSE(test, IS_ERR(buf));
	vmig_save_cancel(sd->sess);
}

/* Add a 100-byte record of @type and @flags, every byte @fill. */
static void sd_record(struct kunit *test, struct sd_dev *sd, u32 type,
		      u32 flags, u8 fill)
{
	u8 payload[100];

	memset(payload, fill, sizeof(payload));
	KUNIT_ASSERT_EQ(test, vmig_save_record(sd->sess, type, flags, payload,
					       sizeof(payload), false), 0);
}

/* Reserve a 100-byte record of @type and @flags and fill it with @fill. */
static void sd_reserve_fill(struct kunit *test, struct sd_dev *sd, u32 type,
			    u32 flags, u8 fill)
{
	void *buf = vmig_save_reserve(sd->sess, type, flags, 100, false);

	KUNIT_ASSERT_FALSE(test, IS_ERR(buf));
	memset(buf, fill, 100);
}

/* PRECOPY_INFO on @f succeeds and reports @initial and @dirty bytes. */
static void sd_expect_precopy(struct kunit *test, struct file *f,
			      unsigned long uaddr, u64 initial, u64 dirty)
{
	struct vfio_precopy_info info;

	KUNIT_ASSERT_EQ(test, vt_precopy_info(test, f, uaddr, sizeof(info), 0,
					      &info), 0);
	KUNIT_EXPECT_EQ(test, info.initial_bytes, initial);
	KUNIT_EXPECT_EQ(test, info.dirty_bytes, dirty);
}

/*
 * PRE_COPY: initial data, the temporary end (-ENOMSG), dirty data woken by
 * poll, then STOP_COPY to the permanent end, never -ENOMSG there.
 */
static void vmig_session_precopy(struct kunit *test)
{
	const struct sd_mode *m = test->param_value;
	struct sd_dev *src = sd_new(test, m->push, 8, 2, 500, m->chunk);
	u32 rec = vmig_stream_record_size(500);
	unsigned long uaddr = vt_user_page(test);
	struct vfio_precopy_info info;
	struct sd_dev *dst;
	struct vt_buf b;
	struct file *f;
	size_t before;
	int err;

	vt_buf_init(test, &b, 1 << 20);
	sd_open_gate(src);
	f = sd_goto(test, src, PC);

	/* All initial data is announced before a byte is read. */
	KUNIT_ASSERT_EQ(test, vt_precopy_info(test, f, uaddr, sizeof(info), 0,
					      &info), 0);
	KUNIT_EXPECT_EQ(test, info.initial_bytes,
			8 * rec + sizeof(struct vmig_stream_hdr) + strlen(SD_ID));
	KUNIT_EXPECT_EQ(test, info.dirty_bytes, 0);

	KUNIT_EXPECT_EQ(test, vt_drain(test, f, &b), -ENOMSG);
	KUNIT_EXPECT_EQ(test, vt_drain(test, f, &b), -ENOMSG);
	sd_expect_precopy(test, f, uaddr, 0, 0);
	if (m->push)
		KUNIT_EXPECT_FALSE(test, vfs_poll(f, NULL) & EPOLLIN);

	/* The device dirties state: announced, poll wakes, read gets it. */
	sd_add_dirty(src, 3);
	KUNIT_ASSERT_EQ(test, vt_precopy_info(test, f, uaddr, sizeof(info), 0,
					      &info), 0);
	KUNIT_EXPECT_GE(test, info.dirty_bytes, 3 * rec);
	KUNIT_EXPECT_TRUE(test, vt_wait_readable(f));
	before = b.len;
	KUNIT_EXPECT_EQ(test, vt_drain(test, f, &b), -ENOMSG);
	KUNIT_EXPECT_EQ(test, b.len - before, 3 * rec);

	/* Switchover: PRE_COPY -> PRE_COPY_P2P -> STOP_COPY, same file. */
	KUNIT_EXPECT_NULL(test, sd_goto(test, src, SC));
	KUNIT_EXPECT_EQ(test, vt_drain(test, f, &b), 0);
	KUNIT_EXPECT_EQ(test, vt_drain(test, f, &b), 0);
	KUNIT_EXPECT_EQ(test, vt_precopy_info(test, f, uaddr, sizeof(info), 0,
					      &info), -EINVAL);

	dst = sd_resume(test, &b, &err);
	KUNIT_EXPECT_EQ(test, err, 0);
	KUNIT_EXPECT_EQ(test, dst->loaded, 8 + 3 + 2);
	KUNIT_EXPECT_EQ(test, dst->bad_payloads, 0);
	sd_goto(test, src, RU);
	fput(f);
}

/*
 * A report of new data that lands while the core asks pending() is not
 * lost: after that temporary end of stream, poll() is still readable.
 */
static void vmig_session_notify_vs_pending(struct kunit *test)
{
	struct sd_dev *sd = sd_new(test, false, 1, 1, 64, 0);
	struct vt_buf b;
	struct file *f;

	vt_buf_init(test, &b, 1 << 16);
	f = sd_goto(test, sd, PC);
	KUNIT_EXPECT_EQ(test, vt_drain(test, f, &b), -ENOMSG);
	KUNIT_EXPECT_FALSE(test, vfs_poll(f, NULL) & EPOLLIN);

	sd->notify_in_pending = true;
	KUNIT_EXPECT_EQ(test, vt_drain(test, f, &b), -ENOMSG);
	KUNIT_EXPECT_TRUE(test, vfs_poll(f, NULL) & EPOLLIN);
	sd_goto(test, sd, RU);
	fput(f);
}

/*
 * pending() reports bytes that produce() never adds.  The read that finds
 * nothing returns -ENOMSG, and poll() must stay quiet after it until the
 * driver reports something new, or an event loop spins on read().
 */
static void vmig_session_pending_without_data(struct kunit *test)
{
	struct sd_dev *sd = sd_new(test, false, 1, 0, 64, 0);
	size_t hdr = sizeof(struct vmig_stream_hdr) + strlen(SD_ID);
	struct vt_buf b;
	struct file *f;

	vt_buf_init(test, &b, 1 << 16);
	f = sd_goto(test, sd, PC);
	KUNIT_EXPECT_EQ(test, vt_drain(test, f, &b), -ENOMSG);
	KUNIT_EXPECT_FALSE(test, vfs_poll(f, NULL) & EPOLLIN);

	sd->phantom_pending = true;
	vmig_save_notify(sd->sess);
	KUNIT_EXPECT_TRUE(test, vfs_poll(f, NULL) & EPOLLIN);
	KUNIT_EXPECT_EQ(test, vt_drain(test, f, &b), -ENOMSG);
	KUNIT_EXPECT_FALSE(test, vfs_poll(f, NULL) & EPOLLIN);
	KUNIT_EXPECT_EQ(test, vt_drain(test, f, &b), -ENOMSG);
	KUNIT_EXPECT_FALSE(test, vfs_poll(f, NULL) & EPOLLIN);

	/* Real data, reported: readable again, and read gets it. */
	sd_add_dirty(sd, 1);
	KUNIT_EXPECT_TRUE(test, vfs_poll(f, NULL) & EPOLLIN);
	KUNIT_EXPECT_EQ(test, vt_drain(test, f, &b), -ENOMSG);
	KUNIT_EXPECT_EQ(test, b.len, hdr + 2 * vmig_stream_record_size(64));
	KUNIT_EXPECT_FALSE(test, vfs_poll(f, NULL) & EPOLLIN);
	sd_goto(test, sd, RU);
	fput(f);
}

struct sd_reader {
	struct file *file;
	u8 buf[4096];
	ssize_t ret;
	size_t total;
	bool loop;		/* read until an error, not once */
	struct completion done;
};

static int sd_reader_fn(void *arg)
{
	struct sd_reader *r = arg;
	loff_t pos = 0;

	do {
		r->ret = kernel_read(r->file, r->buf, sizeof(r->buf), &pos);
		if (r->ret > 0)
			r->total += r->ret;
	} while (r->loop && r->ret > 0);
	complete(&r->done);
	return 0;
}

/* A reader that starts when woken: set it up before taking a lock. */
static struct sd_reader *sd_prepare_reader(struct kunit *test, struct file *f,
					   bool loop, struct task_struct **t)
{
	struct sd_reader *r = kunit_kzalloc(test, sizeof(*r), GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, r);
	r->file = f;
	r->loop = loop;
	init_completion(&r->done);
	*t = kthread_create(sd_reader_fn, r, "vmig-reader");
	KUNIT_ASSERT_FALSE(test, IS_ERR(*t));
	return r;
}

static struct sd_reader *sd_start_reader(struct kunit *test, struct file *f,
					 bool loop)
{
	struct task_struct *t;
	struct sd_reader *r = sd_prepare_reader(test, f, loop, &t);

	wake_up_process(t);
	return r;
}

/* O_NONBLOCK gets -EAGAIN while data is due but not there; a blocking read waits. */
static void vmig_session_nonblock(struct kunit *test)
{
	struct sd_dev *src = sd_new(test, true, 1, 0, 100, 0);
	struct sd_reader *r;
	struct vt_buf b;
	struct file *f;

	vt_buf_init(test, &b, 1 << 16);
	f = sd_goto(test, src, PC);
	KUNIT_EXPECT_EQ(test, vt_drain(test, f, &b), -ENOMSG);

	/* Dirty data pending, but the worker is held back. */
	sd_add_dirty(src, 2);
	f->f_flags |= O_NONBLOCK;
	KUNIT_EXPECT_EQ(test, vt_drain(test, f, &b), -EAGAIN);
	f->f_flags &= ~O_NONBLOCK;

	r = sd_start_reader(test, f, false);
	KUNIT_EXPECT_EQ(test, wait_for_completion_timeout(&r->done,
							  msecs_to_jiffies(100)), 0);
	sd_open_gate(src);
	KUNIT_ASSERT_GT(test, wait_for_completion_timeout(&r->done, 10 * HZ), 0);
	KUNIT_EXPECT_GT(test, r->ret, 0);

	/* A blocked reader is woken when the session ends under it. */
	KUNIT_EXPECT_EQ(test, vt_drain(test, f, &b), -ENOMSG);
	sd_add_dirty(src, 0);
	spin_lock(&src->lock);
	src->gate = false;
	src->dirty_left = 1;
	spin_unlock(&src->lock);
	r = sd_start_reader(test, f, false);
	KUNIT_EXPECT_EQ(test, wait_for_completion_timeout(&r->done,
							  msecs_to_jiffies(50)), 0);
	sd_goto(test, src, RU);
	KUNIT_ASSERT_GT(test, wait_for_completion_timeout(&r->done, 10 * HZ), 0);
	KUNIT_EXPECT_EQ(test, r->ret, -ENODEV);
	fput(f);
}

/*
 * In STOP_COPY one blocking read with room for the whole stream gets it
 * all, as QEMU's 1 MiB reads do, and the next read finds its end.
 */
static void vmig_session_read_fills(struct kunit *test)
{
	struct sd_dev *src = sd_new(test, false, 0, 5, 100, 0);
	loff_t pos = 0;
	struct vt_buf b;
	struct file *f;
	ssize_t n;

	vt_buf_init(test, &b, 1 << 16);
	f = sd_goto(test, src, SC);
	n = kernel_read(f, b.data, b.size, &pos);
	KUNIT_EXPECT_EQ(test, n, (ssize_t)(vmig_stream_overhead(strlen(SD_ID)) +
					  5 * vmig_stream_record_size(100)));
	KUNIT_EXPECT_EQ(test, kernel_read(f, b.data, b.size, &pos), 0);
	KUNIT_EXPECT_EQ(test, src->produce_calls, 1);
	sd_goto(test, src, RU);
	fput(f);
}

/*
 * A read that may not block never waits for the state lock, which an arc
 * or a reset may hold for long: it returns what is queued, or -EAGAIN.
 */
static void sd_nonblock_read_locked(struct kunit *test, struct sd_dev *src,
				    struct file *f, ssize_t expect)
{
	struct task_struct *t;
	struct sd_reader *r = sd_prepare_reader(test, f, false, &t);
	unsigned long left;

	mutex_lock(&src->mig.state_lock);
	wake_up_process(t);
	left = wait_for_completion_timeout(&r->done, HZ);
	mutex_unlock(&src->mig.state_lock);
	KUNIT_EXPECT_GT_MSG(test, left, 0,
			    "an O_NONBLOCK read waited for the state lock");
	if (!left)
		KUNIT_ASSERT_GT(test, wait_for_completion_timeout(&r->done,
								  10 * HZ), 0);
	KUNIT_EXPECT_EQ(test, r->ret, expect);
}

static void vmig_session_nonblock_keeps_off_state_lock(struct kunit *test)
{
	struct sd_dev *src = sd_new(test, false, 0, 5, 100, 0);
	struct vt_buf b;
	struct file *f;

	f = sd_goto(test, src, SC);
	f->f_flags |= O_NONBLOCK;
	/* The header, queued when the session started, and nothing else. */
	sd_nonblock_read_locked(test, src, f, sizeof(struct vmig_stream_hdr) +
				strlen(SD_ID));
	/* Nothing queued: the records need the producer, under the lock. */
	sd_nonblock_read_locked(test, src, f, -EAGAIN);
	f->f_flags &= ~O_NONBLOCK;
	vt_buf_init(test, &b, 1 << 16);
	KUNIT_EXPECT_EQ(test, vt_drain(test, f, &b), 0);
	/* The end of the stream was read: later reads know it unlocked. */
	f->f_flags |= O_NONBLOCK;
	sd_nonblock_read_locked(test, src, f, 0);
	f->f_flags &= ~O_NONBLOCK;
	sd_goto(test, src, RU);
	fput(f);
}

/*
 * The end of the stream is read without a lock, yet a session that ended
 * after it says so: read() fails with -ENODEV once the FSM left
 * STOP_COPY, at the end of the stream as anywhere else, and poll()
 * reports the hangup.
 */
static void vmig_session_eos_then_end(struct kunit *test)
{
	struct sd_dev *src = sd_new(test, false, 0, 2, 100, 0);
	loff_t pos = 0;
	struct vt_buf b;
	struct file *f;

	vt_buf_init(test, &b, 1 << 16);
	f = sd_goto(test, src, SC);
	KUNIT_EXPECT_EQ(test, vt_drain(test, f, &b), 0);
	KUNIT_EXPECT_EQ(test, kernel_read(f, b.data, b.size, &pos), 0);
	sd_goto(test, src, ST);
	KUNIT_EXPECT_EQ(test, kernel_read(f, b.data, b.size, &pos), -ENODEV);
	KUNIT_EXPECT_TRUE(test, vfs_poll(f, NULL) & EPOLLHUP);
	sd_goto(test, src, RU);
	fput(f);
}

/*
 * In pre-copy a read returns after its first copy: each refill asks the
 * driver what is pending, once per round of reads to the temporary end.
 */
static void vmig_session_precopy_read_asks_once(struct kunit *test)
{
	struct sd_dev *src = sd_new(test, false, 3, 1, 100, 0);
	loff_t pos = 0;
	struct vt_buf b;
	struct file *f;

	vt_buf_init(test, &b, 1 << 16);
	f = sd_goto(test, src, PC);
	/* The header was queued at the start: no question asked. */
	KUNIT_EXPECT_GT(test, kernel_read(f, b.data, b.size, &pos), 0);
	KUNIT_EXPECT_EQ(test, src->pending_calls, 0);
	KUNIT_EXPECT_GT(test, kernel_read(f, b.data, b.size, &pos), 0);
	KUNIT_EXPECT_EQ(test, src->pending_calls, 1);
	sd_goto(test, src, RU);
	fput(f);
}

/* A call made by a thread of its own, which the test starts when it wants. */
struct sd_thread {
	struct task_struct *task;
	struct completion done;		/* waited for more than once */
};

/* Also when the test stops early: the call ends before its data is freed. */
static void sd_thread_stop(void *arg)
{
	struct sd_thread *th = arg;

	wake_up_process(th->task);
	wait_for_completion_timeout(&th->done, 10 * HZ);
	put_task_struct(th->task);
}

/* Create the thread running @fn(@data), not started: wake th->task. */
static void sd_thread_prepare(struct kunit *test, struct sd_thread *th,
			      int (*fn)(void *), void *data, const char *name)
{
	init_completion(&th->done);
	th->task = kthread_create(fn, data, "%s", name);
	KUNIT_ASSERT_FALSE(test, IS_ERR(th->task));
	get_task_struct(th->task);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, sd_thread_stop,
							th), 0);
}

struct sd_nowait_io {
	struct sd_thread th;
	struct file *file;
	bool write;
	ssize_t ret;
};

/* One 1-byte read() or write() with IOCB_NOWAIT, as io_uring issues it. */
static int sd_nowait_io_fn(void *arg)
{
	struct sd_nowait_io *n = arg;
	struct iov_iter iter;
	struct kiocb kiocb;
	struct kvec kv;
	u8 byte = 0;

	kv.iov_base = &byte;
	kv.iov_len = sizeof(byte);
	iov_iter_kvec(&iter, n->write ? ITER_SOURCE : ITER_DEST, &kv, 1,
		      sizeof(byte));
	init_sync_kiocb(&kiocb, n->file);
	kiocb.ki_flags |= IOCB_NOWAIT;
	if (n->write)
		n->ret = n->file->f_op->write_iter(&kiocb, &iter);
	else
		n->ret = n->file->f_op->read_iter(&kiocb, &iter);
	complete_all(&n->th.done);
	return 0;
}

/* The call's thread, created but not started: wake_up_process(n->th.task). */
static struct sd_nowait_io *sd_prepare_nowait_io(struct kunit *test,
						 struct file *f, bool write)
{
	struct sd_nowait_io *n = kunit_kzalloc(test, sizeof(*n), GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, n);
	n->file = f;
	n->write = write;
	sd_thread_prepare(test, &n->th, sd_nowait_io_fn, n, "vmig-nowait");
	return n;
}

static struct sd_nowait_io *sd_start_nowait_io(struct kunit *test,
					       struct file *f, bool write)
{
	struct sd_nowait_io *n = sd_prepare_nowait_io(test, f, write);

	wake_up_process(n->th.task);
	return n;
}

/*
 * A blocking read waits for data with the file's io_lock held; a read that
 * may not block returns -EAGAIN at once instead of waiting behind it.
 */
static void vmig_session_nowait_behind_blocking(struct kunit *test)
{
	struct sd_dev *src = sd_new(test, true, 1, 0, 100, 0);
	struct sd_nowait_io *n;
	struct sd_reader *r;
	struct vt_buf b;
	struct file *f;

	vt_buf_init(test, &b, 1 << 16);
	f = sd_goto(test, src, PC);
	KUNIT_EXPECT_EQ(test, vt_drain(test, f, &b), -ENOMSG);

	/* Data due but held back: the reader asks pending(), then waits. */
	sd_add_dirty(src, 2);
	src->signal_pending = true;
	r = sd_start_reader(test, f, false);
	KUNIT_ASSERT_GT(test, wait_for_completion_timeout(&src->pending_seen,
							  10 * HZ), 0);
	src->signal_pending = false;

	n = sd_start_nowait_io(test, f, false);
	KUNIT_EXPECT_GT_MSG(test, wait_for_completion_timeout(&n->th.done, HZ), 0,
			    "IOCB_NOWAIT read waited for the blocking one");
	KUNIT_EXPECT_FALSE(test, completion_done(&r->done));

	sd_open_gate(src);
	KUNIT_ASSERT_GT(test, wait_for_completion_timeout(&r->done, 10 * HZ), 0);
	KUNIT_EXPECT_GT(test, r->ret, 0);
	KUNIT_ASSERT_GT(test, wait_for_completion_timeout(&n->th.done, 10 * HZ), 0);
	KUNIT_EXPECT_EQ(test, n->ret, -EAGAIN);
	sd_goto(test, src, RU);
	fput(f);
}

struct sd_writer {
	struct sd_dev *sd;
	struct file *file;
	const u8 *data;
	size_t len;
	int ret;
	struct completion done;
};

static int sd_writer_fn(void *arg)
{
	struct sd_writer *w = arg;

	w->ret = sd_feed(w->file, w->data, w->len, 7);
	complete_all(&w->done);
	return 0;
}

/* Also when the test stops early: let the writer go, before @w is freed. */
static void sd_writer_stop(void *arg)
{
	struct sd_writer *w = arg;

	complete_all(&w->sd->load_release);
	wait_for_completion_timeout(&w->done, 10 * HZ);
}

/*
 * The same for write(): one writer holds io_lock while the driver loads a
 * record; a write that may not block returns -EAGAIN, takes nothing, and
 * the stream goes on intact.
 */
static void vmig_session_nowait_write_behind_blocking(struct kunit *test)
{
	struct sd_dev *src = sd_new(test, false, 3, 1, 200, 0);
	struct sd_nowait_io *n;
	struct task_struct *t;
	struct sd_writer *w;
	struct sd_dev *dst;
	struct vt_buf b;
	struct file *f;

	vt_buf_init(test, &b, 1 << 16);
	f = sd_goto(test, src, SC);
	KUNIT_ASSERT_EQ(test, vt_drain(test, f, &b), 0);
	fput(f);

	dst = sd_new(test, false, 0, 0, 0, 0);
	dst->hold_load = true;
	f = sd_goto(test, dst, RE);
	w = kunit_kzalloc(test, sizeof(*w), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, w);
	w->sd = dst;
	w->file = f;
	w->data = b.data;
	w->len = b.len;
	init_completion(&w->done);
	t = kthread_run(sd_writer_fn, w, "vmig-writer");
	KUNIT_ASSERT_FALSE(test, IS_ERR(t));
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, sd_writer_stop, w),
			0);
	KUNIT_ASSERT_GT(test, wait_for_completion_timeout(&dst->load_entered,
							  10 * HZ), 0);

	n = sd_start_nowait_io(test, f, true);
	KUNIT_EXPECT_GT_MSG(test, wait_for_completion_timeout(&n->th.done, HZ), 0,
			    "IOCB_NOWAIT write waited for the blocking one");
	KUNIT_EXPECT_FALSE(test, completion_done(&w->done));

	complete_all(&dst->load_release);
	KUNIT_ASSERT_GT(test, wait_for_completion_timeout(&w->done, 10 * HZ), 0);
	KUNIT_ASSERT_GT(test, wait_for_completion_timeout(&n->th.done, 10 * HZ), 0);
	KUNIT_EXPECT_EQ(test, n->ret, -EAGAIN);
	KUNIT_EXPECT_EQ(test, w->ret, 0);
	KUNIT_EXPECT_FALSE(test, IS_ERR(vmig_set_state(&dst->mig, RU)));
	KUNIT_EXPECT_EQ(test, dst->loaded, 4);
	KUNIT_EXPECT_EQ(test, dst->bad_payloads, 0);
	fput(f);
}

struct sd_killed_io {
	struct sd_thread th;
	struct file *file;
	const u8 *data;		/* written, or a read when NULL */
	size_t len;
	u8 buf[64];
	ssize_t ret;
};

/* One blocking read() or write() by a task that SIGKILL may end. */
static int sd_killed_io_fn(void *arg)
{
	struct sd_killed_io *k = arg;
	loff_t pos = 0;

	/* A kernel thread ignores signals: make SIGKILL fatal again. */
	kernel_sigaction(SIGKILL, SIG_DFL);
	if (k->data)
		k->ret = kernel_write(k->file, k->data, k->len, &pos);
	else
		k->ret = kernel_read(k->file, k->buf, sizeof(k->buf), &pos);
	complete_all(&k->th.done);
	return 0;
}

/*
 * Run one such call while the state lock is held elsewhere, as by a long
 * arc or a reset; once it sleeps on the lock, kill it: it must leave
 * with -EINTR at once, without the lock.
 */
static void sd_killed_io_locked(struct kunit *test, struct sd_dev *sd,
				struct file *f, const u8 *data, size_t len)
{
	struct sd_killed_io *k = kunit_kzalloc(test, sizeof(*k), GFP_KERNEL);
	unsigned long left, deadline;
	bool slept;

	KUNIT_ASSERT_NOT_NULL(test, k);
	k->file = f;
	k->data = data;
	k->len = len;
	sd_thread_prepare(test, &k->th, sd_killed_io_fn, k, "vmig-killed");

	mutex_lock(&sd->mig.state_lock);
	wake_up_process(k->th.task);
	deadline = jiffies + 5 * HZ;
	while (!(slept = READ_ONCE(k->th.task->__state) == TASK_KILLABLE) &&
	       !completion_done(&k->th.done) && time_before(jiffies, deadline))
		usleep_range(500, 1000);
	send_sig(SIGKILL, k->th.task, 1);
	left = wait_for_completion_timeout(&k->th.done, HZ);
	mutex_unlock(&sd->mig.state_lock);
	KUNIT_EXPECT_TRUE_MSG(test, slept,
			      "the call did not wait killably for the state lock");
	KUNIT_EXPECT_GT_MSG(test, left, 0,
			    "a task killed while it waited for the state lock kept waiting");
	if (!left)
		KUNIT_ASSERT_GT(test, wait_for_completion_timeout(&k->th.done,
								  10 * HZ), 0);
	KUNIT_EXPECT_EQ(test, k->ret, -EINTR);
}

/*
 * A task killed while its read() or write() waits for the state lock
 * leaves with -EINTR, having taken nothing: the stream read and written
 * around it afterwards is whole.
 */
static void vmig_session_killed_io(struct kunit *test)
{
	size_t hdr = sizeof(struct vmig_stream_hdr) + strlen(SD_ID);
	struct sd_dev *src = sd_new(test, false, 3, 1, 200, 0);
	struct sd_dev *dst;
	loff_t pos = 0;
	struct vt_buf b;
	struct file *f;

	vt_buf_init(test, &b, 1 << 16);
	f = sd_goto(test, src, SC);
	/* The header, queued when the session started: no lock needed. */
	KUNIT_ASSERT_EQ(test, kernel_read(f, b.data, hdr, &pos), hdr);
	b.len = hdr;
	/* The records need the producer, under the state lock. */
	sd_killed_io_locked(test, src, f, NULL, 0);
	KUNIT_ASSERT_EQ(test, vt_drain(test, f, &b), 0);
	KUNIT_EXPECT_FALSE(test, IS_ERR(vmig_set_state(&src->mig, RU)));
	fput(f);

	dst = sd_new(test, false, 0, 0, 0, 0);
	f = sd_goto(test, dst, RE);
	sd_killed_io_locked(test, dst, f, b.data, b.len);
	sd_resume_whole(test, dst, f, &b, 3, 4);
	fput(f);
}

/*
 * A write that may not block never waits for the state lock either: it
 * returns -EAGAIN, takes nothing, and the whole stream written afterwards
 * loads.
 */
static void vmig_session_nonblock_write_keeps_off_state_lock(struct kunit *test)
{
	struct sd_dev *src = sd_new(test, false, 3, 1, 200, 0);
	struct sd_nowait_io *n;
	unsigned long left;
	struct sd_dev *dst;
	struct vt_buf b;
	struct file *f;

	sd_save_whole(test, src, &b);
	dst = sd_new(test, false, 0, 0, 0, 0);
	f = sd_goto(test, dst, RE);
	n = sd_prepare_nowait_io(test, f, true);
	mutex_lock(&dst->mig.state_lock);
	wake_up_process(n->th.task);
	left = wait_for_completion_timeout(&n->th.done, HZ);
	mutex_unlock(&dst->mig.state_lock);
	KUNIT_EXPECT_GT_MSG(test, left, 0,
			    "an IOCB_NOWAIT write waited for the state lock");
	KUNIT_ASSERT_GT(test, wait_for_completion_timeout(&n->th.done, 10 * HZ), 0);
	KUNIT_EXPECT_EQ(test, n->ret, -EAGAIN);
	sd_resume_whole(test, dst, f, &b, 5, 4);
	fput(f);
}

/* How a session may end. */
static const int sd_ends[] = { VT_END_LEAVE, VT_END_RESET, VT_END_CLOSE,
			       VT_END_ERROR, VT_END_RESUME_DONE };

KUNIT_ARRAY_PARAM(sd_ends, sd_ends, vt_end_desc);

/* After the session ended, its file only says -ENODEV, whoever holds it. */
static void vmig_session_end_paths(struct kunit *test)
{
	int how = *(const int *)test->param_value;
	struct sd_dev *sd = sd_new(test, false, 4, 1, 100, 0);
	unsigned long uaddr = vt_user_page(test);
	struct vfio_precopy_info info;
	struct vt_buf b;
	struct file *f;
	loff_t pos = 0;
	u8 byte = 0;

	vt_buf_init(test, &b, 1 << 16);
	if (how == VT_END_RESUME_DONE) {
		struct sd_dev *src = sd_new(test, false, 2, 1, 10, 0);
		struct file *sf = sd_goto(test, src, SC);
		int err;

		KUNIT_ASSERT_EQ(test, vt_drain(test, sf, &b), 0);
		fput(sf);
		f = sd_goto(test, sd, RE);
		KUNIT_ASSERT_EQ(test, sd_feed(f, b.data, b.len, 1), 0);
		sd_goto(test, sd, ST);
		err = kernel_write(f, b.data, 1, &pos);
		KUNIT_EXPECT_EQ(test, err, -ENODEV);
		KUNIT_EXPECT_EQ(test, sd->released, 1);
		KUNIT_EXPECT_TRUE(test, vfs_poll(f, NULL) & EPOLLHUP);
		fput(f);
		return;
	}

	f = sd_goto(test, sd, PC);
	KUNIT_EXPECT_GT(test, kernel_read(f, &byte, 1, &pos), 0);

	vt_end_session(test, &sd->mig, how);
	KUNIT_EXPECT_EQ(test, sd->released, 1);
	KUNIT_EXPECT_EQ(test, kernel_read(f, &byte, 1, &pos), -ENODEV);
	KUNIT_EXPECT_EQ(test, kernel_read(f, &byte, 1, &pos), -ENODEV);
	KUNIT_EXPECT_EQ(test, vt_precopy_info(test, f, uaddr, sizeof(info), 0,
					      &info), -ENODEV);
	KUNIT_EXPECT_TRUE(test, vfs_poll(f, NULL) & EPOLLHUP);
	/* Only ever released once, whatever happens next. */
	vmig_reset(&sd->mig);
	vmig_close(&sd->mig);
	KUNIT_EXPECT_EQ(test, sd->released, 1);
	fput(f);
}

/* Wait up to 5 s until the feed runs and has taken @recs records. */
static bool sd_feed_blocked(struct sd_dev *sd, u32 recs)
{
	int i;

	for (i = 0; i < 250; i++) {
		if (READ_ONCE(sd->feeding) && READ_ONCE(sd->seq) >= recs) {
			msleep(20);	/* and is on its way to sleep */
			return true;
		}
		msleep(20);
	}
	return false;
}

/* The ends of a saving session. */
static const int sd_feed_ends[] = { VT_END_LEAVE, VT_END_RESET, VT_END_CLOSE,
				    VT_END_ERROR };

KUNIT_ARRAY_PARAM(sd_feed_ends, sd_feed_ends, vt_end_desc);

/*
 * The core's worker (&struct vmig_save_ops.feed) returns before the
 * release op runs, however the session ends: blocked in a full queue
 * (-ENODEV from vmig_save_reserve()) or waiting for a request.
 */
static void vmig_session_feed_ends_first(struct kunit *test)
{
	int how = *(const int *)test->param_value;
	struct sd_dev *sd;
	bool in_queue;
	loff_t pos = 0;
	struct file *f;
	u8 byte;

	for (in_queue = false; ; in_queue = true) {
		/* Six records of 60000 bytes fill the 4 chunks of 64 KiB. */
		sd = sd_new(test, true, in_queue ? 6 : 0, 1, 60000, SZ_64K);
		sd_add_dirty(sd, 2);	/* the gate stays shut: the feed waits */
		f = sd_goto(test, sd, PC);
		KUNIT_EXPECT_EQ(test, kernel_read(f, &byte, 1, &pos), 1);
		/*
		 * Let it block: the queue full again (the fourth record
		 * taken), or the wait for the gate.  Ending it earlier would
		 * pass the checks below too, the same way.
		 */
		KUNIT_EXPECT_TRUE(test, sd_feed_blocked(sd, in_queue ? 4 : 0));

		vt_end_session(test, &sd->mig, how);
		KUNIT_EXPECT_EQ(test, sd->released, 1);
		KUNIT_EXPECT_EQ_MSG(test, sd->released_feeding, 0,
				    "released while the feed ran (%s)",
				    in_queue ? "in a full queue" : "waiting");
		KUNIT_EXPECT_FALSE(test, READ_ONCE(sd->feeding));
		KUNIT_EXPECT_EQ(test, READ_ONCE(sd->feed_ret),
				in_queue ? -ENODEV : 0);
		KUNIT_EXPECT_EQ(test, kernel_read(f, &byte, 1, &pos), -ENODEV);
		fput(f);
		if (in_queue)
			break;
	}
}

/*
 * A failing feed fails the stream: read() returns its error.  So does a
 * feed that returns 0 before it completed the stream, as -EIO, where a
 * reader would otherwise wait for good.  A feed and a produce op together
 * are refused.
 */
static void vmig_session_feed_fails(struct kunit *test)
{
	static const struct vmig_save_ops both = {
		.produce = sd_produce,
		.feed = sd_feed_op,
		.release = sd_release,
	};
	struct vmig_session_cfg cfg = {};
	struct sd_dev *sd = sd_new(test, true, 3, 0, 100, 0);
	struct vt_buf b;
	struct file *f;

	sd->feed_fail = -EIO;
	vt_buf_init(test, &b, 1 << 16);
	f = sd_goto(test, sd, SC);
	KUNIT_EXPECT_EQ(test, vt_drain(test, f, &b), -EIO);
	KUNIT_EXPECT_EQ(test, READ_ONCE(sd->feed_ret), -EIO);
	fput(f);
	sd_goto(test, sd, RU);
	KUNIT_EXPECT_EQ(test, sd->released, 1);

	sd = sd_new(test, true, 3, 0, 100, 0);
	sd->feed_fail = 1;	/* return 0 before completing */
	vt_buf_init(test, &b, 1 << 16);
	f = sd_goto(test, sd, SC);
	KUNIT_EXPECT_EQ(test, vt_drain(test, f, &b), -EIO);
	KUNIT_EXPECT_EQ(test, READ_ONCE(sd->feed_runs), 1);
	KUNIT_EXPECT_EQ(test, READ_ONCE(sd->feed_ret), 0);
	fput(f);
	sd_goto(test, sd, RU);

	cfg.priv = sd;
	mutex_lock(&sd->mig.state_lock);
	f = vmig_save_open(&sd->mig, &both, &cfg);
	if (!IS_ERR(f))
		vmig_session_abandon_locked(f);
	mutex_unlock(&sd->mig.state_lock);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(f), -EINVAL);
	if (!IS_ERR(f))
		fput(f);
}

/*
 * A session whose file never became the device's (the walk or the fd
 * install failed after the arc) ends without its feed ever running, and
 * its release op runs once.
 */
static void vmig_session_feed_never_attached(struct kunit *test)
{
	struct sd_dev *sd = sd_new(test, true, 3, 1, 100, 0);
	struct vmig_session_cfg cfg = { .priv = sd };
	struct file *f;

	mutex_lock(&sd->mig.state_lock);
	f = vmig_save_open(&sd->mig, &sd_push_ops, &cfg);
	mutex_unlock(&sd->mig.state_lock);
	KUNIT_ASSERT_FALSE(test, IS_ERR(f));
	/*
	 * Time for a wrongly queued feed to start, before the end would
	 * cancel it unseen: it then waits for the end, and counts.
	 */
	msleep(100);
	mutex_lock(&sd->mig.state_lock);
	vmig_session_abandon_locked(f);
	mutex_unlock(&sd->mig.state_lock);
	KUNIT_EXPECT_EQ(test, READ_ONCE(sd->feed_runs), 0);
	KUNIT_EXPECT_EQ(test, sd->released, 1);
	fput(f);
	KUNIT_EXPECT_EQ(test, sd->released, 1);
}

/*
 * Payloads of records whose sizes are multiples of 8 are 8-byte aligned
 * in their chunk, one after the other (the stream header has a chunk of
 * its own).
 */
static void vmig_session_record_alignment(struct kunit *test)
{
	struct sd_dev *sd = sd_new(test, false, 0, 0, 8, 0);
	struct vmig_session_cfg cfg = {
		.chunk_size = SZ_64K,
		.priv = sd,
	};
	struct vmig_session *sess;
	struct file *f;
	void *buf;
	int i;

	mutex_lock(&sd->mig.state_lock);
	f = vmig_save_open(&sd->mig, &sd_pull_ops, &cfg);
	mutex_unlock(&sd->mig.state_lock);
	KUNIT_ASSERT_FALSE(test, IS_ERR(f));
	sess = vmig_file_session(f);
	for (i = 0; i < 4; i++) {
		buf = vmig_save_reserve(sess, SD_T_INITIAL, 0, 8 * (i + 1) * 3,
					false);
		KUNIT_EXPECT_FALSE(test, IS_ERR(buf));
		if (IS_ERR(buf))
			break;	/* the session still ends below */
		KUNIT_EXPECT_TRUE_MSG(test, IS_ALIGNED((unsigned long)buf, 8),
				      "record %d at offset %lu mod 8", i,
				      (unsigned long)buf % 8);
		vmig_save_commit(sess);
	}
	mutex_lock(&sd->mig.state_lock);
	vmig_session_abandon_locked(f);
	mutex_unlock(&sd->mig.state_lock);
	fput(f);
}

/* A reader in full flight while the FSM leaves the group, again and again. */
static void vmig_session_read_vs_leave(struct kunit *test)
{
	struct sd_dev *sd = sd_new(test, true, 4, 0, 2000, 4096);
	struct sd_reader *r;
	struct file *f;
	int round;

	sd_open_gate(sd);
	for (round = 0; round < 50; round++) {
		spin_lock(&sd->lock);
		sd->initial_left = 4;
		sd->dirty_left = 1000000;	/* a device that never stops */
		sd->final = false;
		spin_unlock(&sd->lock);

		f = sd_goto(test, sd, PC);
		r = sd_start_reader(test, f, true);
		usleep_range(100, 2000);
		sd_goto(test, sd, round & 1 ? RU : RP);
		KUNIT_ASSERT_GT(test, wait_for_completion_timeout(&r->done, 10 * HZ), 0);
		KUNIT_EXPECT_EQ(test, r->ret, -ENODEV);
		KUNIT_EXPECT_EQ(test, sd->released, round + 1);
		fput(f);
		sd_goto(test, sd, RU);
	}
}

/* VFIO_MIG_GET_PRECOPY_INFO: argsz, flags, REINIT, and where it is valid. */
static void vmig_session_precopy_ioctl(struct kunit *test)
{
	struct sd_dev *sd = sd_new(test, false, 2, 0, 100, 0);
	unsigned long uaddr = vt_user_page(test);
	u32 rec = vmig_stream_record_size(100);
	struct vfio_precopy_info info;
	struct vt_buf b;
	struct file *f;

	vt_buf_init(test, &b, 1 << 16);
	f = sd_goto(test, sd, PC);
	KUNIT_EXPECT_EQ(test, f->f_op->unlocked_ioctl(f, VFIO_MIG_GET_PRECOPY_INFO + 1,
						      uaddr), -ENOTTY);
	KUNIT_EXPECT_EQ(test, vt_precopy_info(test, f, uaddr,
					      offsetofend(struct vfio_precopy_info,
							  dirty_bytes) - 1,
					      0, &info), -EINVAL);
	/* Without the opt-in, flags are 0 whatever came in. */
	KUNIT_EXPECT_EQ(test, vt_precopy_info(test, f, uaddr, 64, 0xffff, &info), 0);
	KUNIT_EXPECT_EQ(test, info.flags, 0);

	/* New initial data, not opted in: no REINIT, but counted as initial. */
	KUNIT_EXPECT_EQ(test, vt_drain(test, f, &b), -ENOMSG);
	sd_add_dirty(sd, 1);
	KUNIT_EXPECT_EQ(test, vt_drain(test, f, &b), -ENOMSG);
	spin_lock(&sd->lock);
	sd->initial_left = 1;
	spin_unlock(&sd->lock);
	vmig_save_reinit(sd->sess);
	KUNIT_EXPECT_EQ(test, vt_precopy_info(test, f, uaddr, sizeof(info), 0,
					      &info), 0);
	KUNIT_EXPECT_EQ(test, info.flags, 0);
	KUNIT_EXPECT_EQ(test, info.initial_bytes, rec);

	/* Opted in: REINIT once, with dirty bytes folded into initial. */
	KUNIT_ASSERT_EQ(test, vmig_device_feature(&sd->mig,
						  VFIO_DEVICE_FEATURE_SET |
						  VMIG_DEVICE_FEATURE_PRECOPY_INFO_V2,
						  NULL, 0), 0);
	sd_add_dirty(sd, 0);
	KUNIT_EXPECT_EQ(test, vt_drain(test, f, &b), -ENOMSG);
	spin_lock(&sd->lock);
	sd->dirty_left = 1;
	spin_unlock(&sd->lock);
	KUNIT_EXPECT_EQ(test, kernel_read(f, b.data, 1, &(loff_t){0}), 1);
	vmig_save_reinit(sd->sess);
	KUNIT_EXPECT_EQ(test, vt_precopy_info(test, f, uaddr, sizeof(info), 0,
					      &info), 0);
	KUNIT_EXPECT_EQ(test, info.flags, VFIO_PRECOPY_INFO_REINIT);
	KUNIT_EXPECT_EQ(test, info.dirty_bytes, 0);
	KUNIT_EXPECT_EQ(test, info.initial_bytes, rec - 1);
	KUNIT_EXPECT_EQ(test, vt_precopy_info(test, f, uaddr, sizeof(info), 0,
					      &info), 0);
	KUNIT_EXPECT_EQ(test, info.flags, 0);

	/* Not in STOP_COPY. */
	sd_goto(test, sd, SC);
	KUNIT_EXPECT_EQ(test, vt_precopy_info(test, f, uaddr, sizeof(info), 0,
					      &info), -EINVAL);
	sd_goto(test, sd, RU);
	fput(f);
}

/* A file operation that waits for the state lock in a thread of its own. */
enum { SD_OP_PRECOPY_INFO, SD_OP_READ };

struct sd_waiter {
	struct file *file;
	int op;
	unsigned long uaddr;	/* user memory of the test's mm */
	struct mm_struct *mm;
	long ret;
	struct completion done;
};

static int sd_waiter_fn(void *arg)
{
	struct sd_waiter *w = arg;
	loff_t pos = 0;
	u8 byte;

	kthread_use_mm(w->mm);
	if (w->op == SD_OP_PRECOPY_INFO)
		w->ret = w->file->f_op->unlocked_ioctl(w->file,
						       VFIO_MIG_GET_PRECOPY_INFO,
						       w->uaddr);
	else
		w->ret = kernel_read(w->file, &byte, 1, &pos);
	kthread_unuse_mm(w->mm);
	complete(&w->done);
	return 0;
}

static const char * const sd_op_names[] = {
	"VFIO_MIG_GET_PRECOPY_INFO", "read",
};

static const int sd_ops_list[] = { SD_OP_PRECOPY_INFO, SD_OP_READ };

static void sd_op_desc(const int *op, char *desc)
{
	strscpy(desc, sd_op_names[*op], KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(sd_ops_list, sd_ops_list, sd_op_desc);

/*
 * A file operation on a PRE_COPY data file found its session alive and
 * waits for the state lock.  Meanwhile the session ends (-> RUNNING) and a
 * new one starts in the same state (-> PRE_COPY).  The waiter must see that
 * its session ended, and must not hand it to the driver, whose data for it
 * the release op freed.
 */
static void vmig_session_stale_file_vs_new_session(struct kunit *test)
{
	int op = *(const int *)test->param_value;
	struct sd_dev *sd = sd_new(test, false, 1, 0, 100, 0);
	struct vfio_precopy_info info = { .argsz = sizeof(info) };
	struct sd_waiter w = { .op = op };
	unsigned long deadline;
	struct file *f, *nf;
	struct vt_buf b;

	vt_buf_init(test, &b, 1 << 16);
	w.uaddr = vt_user_page(test);
	KUNIT_ASSERT_EQ(test, copy_to_user((void __user *)w.uaddr, &info,
					   sizeof(info)), 0);
	w.mm = current->mm;
	init_completion(&w.done);
	f = sd_goto(test, sd, PC);
	/* Drained, so that a read has to ask the driver. */
	KUNIT_ASSERT_EQ(test, vt_drain(test, f, &b), -ENOMSG);
	w.file = f;

	mutex_lock(&sd->mig.state_lock);
	KUNIT_ASSERT_FALSE(test, IS_ERR(kthread_run(sd_waiter_fn, &w,
						    "vmig-waiter")));
	deadline = jiffies + 5 * HZ;
	while (!atomic_read(&sd->mig.file_users) && time_before(jiffies, deadline))
		usleep_range(500, 1000);
	KUNIT_EXPECT_EQ(test, atomic_read(&sd->mig.file_users), 1);
	KUNIT_EXPECT_NULL(test, vmig_set_state_locked(&sd->mig, RU));
	nf = vmig_set_state_locked(&sd->mig, PC);
	mutex_unlock(&sd->mig.state_lock);
	KUNIT_ASSERT_FALSE(test, IS_ERR_OR_NULL(nf));

	KUNIT_ASSERT_GT(test, wait_for_completion_timeout(&w.done, 5 * HZ), 0);
	KUNIT_EXPECT_EQ(test, w.ret, -ENODEV);
	KUNIT_EXPECT_EQ(test, sd->stale_calls, 0);
	KUNIT_EXPECT_EQ(test, sd->released, 1);
	sd_goto(test, sd, RU);
	fput(nf);
	fput(f);
}

static int sd_reinits;

static void sd_reinit_at_queue(struct vmig_session *sess)
{
	sd_reinits++;
	vmig_save_reinit(sess);
}

/*
 * vmig_save_reinit() lands just as the producer queues a chunk of dirty
 * records.  Everything unread counts as initial from then on, that chunk
 * included: once it is read, PRECOPY_INFO reports 0 and 0, not a dirty
 * count that wrapped below zero.
 */
static void vmig_session_reinit_vs_queue(struct kunit *test)
{
	struct sd_dev *sd = sd_new(test, false, 1, 0, 100, 0);
	unsigned long uaddr = vt_user_page(test);
	struct vfio_precopy_info info;
	struct vt_buf b;
	struct file *f;

	vt_buf_init(test, &b, 1 << 16);
	KUNIT_ASSERT_EQ(test, vmig_device_feature(&sd->mig,
						  VFIO_DEVICE_FEATURE_SET |
						  VMIG_DEVICE_FEATURE_PRECOPY_INFO_V2,
						  NULL, 0), 0);
	f = sd_goto(test, sd, PC);
	KUNIT_ASSERT_EQ(test, vt_drain(test, f, &b), -ENOMSG);

	sd_add_dirty(sd, 2);
	sd_reinits = 0;
	kunit_activate_static_stub(test, vmig_queue_fill_hook,
				   sd_reinit_at_queue);
	KUNIT_EXPECT_EQ(test, vt_drain(test, f, &b), -ENOMSG);
	kunit_deactivate_static_stub(test, vmig_queue_fill_hook);
	KUNIT_EXPECT_GE(test, sd_reinits, 1);

	KUNIT_ASSERT_EQ(test, vt_precopy_info(test, f, uaddr, sizeof(info), 0,
					      &info), 0);
	KUNIT_EXPECT_EQ(test, info.flags, VFIO_PRECOPY_INFO_REINIT);
	KUNIT_EXPECT_EQ(test, info.initial_bytes, 0);
	KUNIT_EXPECT_EQ(test, info.dirty_bytes, 0);
	KUNIT_EXPECT_FALSE(test, vfs_poll(f, NULL) & EPOLLIN);
	sd_goto(test, sd, RU);
	fput(f);
}

/*
 * A reinit between a record's reservation and its commit counts the record
 * as initial, as it counts every record framed before it; a dirty record
 * reserved after the reinit goes to a chunk of its own and counts as dirty.
 */
static void vmig_session_reinit_vs_reserve(struct kunit *test)
{
	struct sd_dev *sd = sd_new(test, false, 1, 0, 100, 0);
	unsigned long uaddr = vt_user_page(test);
	u32 rec = vmig_stream_record_size(100);
	struct vt_buf b;
	struct file *f;

	f = sd_precopy_idle(test, sd, &b);

	sd_reserve_fill(test, sd, SD_T_DIRTY, 0, 0x5a);
	vmig_save_reinit(sd->sess);
	vmig_save_commit(sd->sess);
	sd_expect_precopy(test, f, uaddr, rec, 0);

	sd_record(test, sd, SD_T_DIRTY, 0, 0x5a);
	vmig_save_flush(sd->sess);
	sd_expect_precopy(test, f, uaddr, rec, rec);

	/* Both are read, in order, and nothing is left counted. */
	KUNIT_EXPECT_EQ(test, vt_drain(test, f, &b), -ENOMSG);
	sd_expect_precopy(test, f, uaddr, 0, 0);
	sd_goto(test, sd, RU);
	fput(f);
}

/*
 * Records framed and not yet queued count in PRECOPY_INFO, by their
 * chunk's class, as soon as they are committed: a worker that is still
 * filling a chunk has data pending all the same.  The core counts a chunk
 * when it queues it; the producer's chunk counts by what it holds so far.
 */
static void vmig_session_precopy_counts_unqueued(struct kunit *test)
{
	struct sd_dev *sd = sd_new(test, false, 1, 0, 100, 0);
	unsigned long uaddr = vt_user_page(test);
	u32 rec = vmig_stream_record_size(100);
	struct vt_buf b;
	struct file *f;

	f = sd_precopy_idle(test, sd, &b);
	KUNIT_EXPECT_EQ(test, vmig_session_unread(sd->sess), 0);

	/* Two dirty records in the producer's chunk, not queued. */
	sd_record(test, sd, SD_T_DIRTY, 0, 0xa5);
	sd_record(test, sd, SD_T_DIRTY, 0, 0xa5);
	sd_expect_precopy(test, f, uaddr, 0, 2 * rec);
	KUNIT_EXPECT_EQ(test, vmig_session_unread(sd->sess), 2 * rec);

	/* An initial record queues them and starts a chunk of its class. */
	sd_record(test, sd, SD_T_INITIAL, VMIG_REC_INITIAL, 0xa5);
	sd_expect_precopy(test, f, uaddr, rec, 2 * rec);

	/* Queued or not, each byte counts once, and none after the read. */
	vmig_save_flush(sd->sess);
	sd_expect_precopy(test, f, uaddr, rec, 2 * rec);
	KUNIT_EXPECT_EQ(test, vt_drain(test, f, &b), -ENOMSG);
	sd_expect_precopy(test, f, uaddr, 0, 0);
	KUNIT_EXPECT_EQ(test, vmig_session_unread(sd->sess), 0);
	sd_goto(test, sd, RU);
	fput(f);
}

/*
 * A cancelled reservation leaves the producer's new chunk empty; the next
 * record of the other class takes it over with its own class, and
 * PRECOPY_INFO counts that record by the class it was given.
 */
static void vmig_session_cancel_keeps_class(struct kunit *test)
{
	struct sd_dev *sd = sd_new(test, false, 1, 0, 100, 0);
	unsigned long uaddr = vt_user_page(test);
	u32 rec = vmig_stream_record_size(100);
	struct vt_buf b;
	struct file *f;

	f = sd_precopy_idle(test, sd, &b);
	sd_reserve_cancel(test, sd, SD_T_INITIAL, VMIG_REC_INITIAL);
	sd_record(test, sd, SD_T_DIRTY, 0, 0);
	sd_expect_precopy(test, f, uaddr, 0, rec);

	/* And back: an initial record after a cancelled dirty one. */
	KUNIT_ASSERT_EQ(test, vt_drain(test, f, &b), -ENOMSG);
	sd_reserve_cancel(test, sd, SD_T_DIRTY, 0);
	sd_record(test, sd, SD_T_INITIAL, VMIG_REC_INITIAL, 0);
	sd_expect_precopy(test, f, uaddr, rec, 0);
	sd_goto(test, sd, RU);
	fput(f);
}

/*
 * A reinit around the takeover of an empty chunk: before it, the record
 * reserved after it is of its own class (the reinit counts what was framed
 * before it, and nothing was); after it, between the reservation and the
 * commit, the record counts as initial, as any record framed before it.
 */
static void vmig_session_cancel_then_reinit(struct kunit *test)
{
	struct sd_dev *sd = sd_new(test, false, 1, 0, 100, 0);
	unsigned long uaddr = vt_user_page(test);
	u32 rec = vmig_stream_record_size(100);
	struct vt_buf b;
	struct file *f;

	f = sd_precopy_idle(test, sd, &b);

	/* Cancelled initial, reinit, then a dirty record: dirty. */
	sd_reserve_cancel(test, sd, SD_T_INITIAL, VMIG_REC_INITIAL);
	vmig_save_reinit(sd->sess);
	sd_record(test, sd, SD_T_DIRTY, 0, 0);
	sd_expect_precopy(test, f, uaddr, 0, rec);
	KUNIT_ASSERT_EQ(test, vt_drain(test, f, &b), -ENOMSG);

	/* Cancelled initial, a dirty reservation, reinit, commit: initial. */
	sd_reserve_cancel(test, sd, SD_T_INITIAL, VMIG_REC_INITIAL);
	sd_reserve_fill(test, sd, SD_T_DIRTY, 0, 0x3c);
	vmig_save_reinit(sd->sess);
	vmig_save_commit(sd->sess);
	sd_expect_precopy(test, f, uaddr, rec, 0);
	sd_goto(test, sd, RU);
	fput(f);
}

/*
 * A producer without pending(): PRE_COPY still streams its initial data,
 * produce() decides what is due, and adding nothing is the temporary end.
 */
static void vmig_session_precopy_without_pending(struct kunit *test)
{
	struct sd_dev *sd;
	struct vt_buf b;
	struct file *f;

	sd = kunit_kzalloc(test, sizeof(*sd), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, sd);
	sd->no_pending = true;
	sd_setup(test, sd, false, 3, 1, 100, 0);
	kunit_alloc_resource(test, NULL, sd_exit, GFP_KERNEL, sd);
	vt_buf_init(test, &b, 1 << 16);

	f = sd_goto(test, sd, PC);
	KUNIT_EXPECT_EQ(test, vt_drain(test, f, &b), -ENOMSG);
	KUNIT_EXPECT_GT(test, sd->produce_calls, 0);
	KUNIT_EXPECT_EQ(test, b.len, sizeof(struct vmig_stream_hdr) +
			strlen(SD_ID) + 3 * vmig_stream_record_size(100));
	KUNIT_EXPECT_FALSE(test, vfs_poll(f, NULL) & EPOLLIN);

	/* New data, told by notify: poll wakes, read gets it. */
	sd_add_dirty(sd, 2);
	KUNIT_EXPECT_TRUE(test, vfs_poll(f, NULL) & EPOLLIN);
	KUNIT_EXPECT_EQ(test, vt_drain(test, f, &b), -ENOMSG);
	KUNIT_EXPECT_EQ(test, b.len, sizeof(struct vmig_stream_hdr) +
			strlen(SD_ID) + 5 * vmig_stream_record_size(100));
	KUNIT_EXPECT_NULL(test, sd_goto(test, sd, SC));
	KUNIT_EXPECT_EQ(test, vt_drain(test, f, &b), 0);
	sd_goto(test, sd, RU);
	fput(f);
}

static struct vmig_chunk *sd_no_chunk(struct vmig_session *sess)
{
	return NULL;
}

/*
 * No memory for a chunk.  At open, the arc fails and the FSM stays where
 * it was.  While producing, the session fails with -ENOMEM for good, the
 * failed allocation is not counted in the peak, and the next session
 * works.
 */
static void vmig_session_chunk_alloc_fails(struct kunit *test)
{
	struct sd_dev *sd = sd_new(test, false, 20, 0, 1000, 4096);
	size_t hdr = sizeof(struct vmig_stream_hdr) + strlen(SD_ID);
	struct vmig_session *sess;
	struct vt_buf b;
	struct file *f;
	loff_t pos = 0;

	vt_buf_init(test, &b, 1 << 16);
	kunit_activate_static_stub(test, vmig_chunk_alloc, sd_no_chunk);
	KUNIT_EXPECT_EQ(test, PTR_ERR(vmig_set_state(&sd->mig, SC)), -ENOMEM);
	KUNIT_EXPECT_EQ(test, vmig_get_state(&sd->mig), RU);
	KUNIT_EXPECT_EQ(test, sd->released, 0);
	kunit_deactivate_static_stub(test, vmig_chunk_alloc);

	f = sd_goto(test, sd, PC);
	sess = vmig_file_session(f);
	/* The header's chunk, read whole, is the one chunk of the session. */
	KUNIT_ASSERT_EQ(test, kernel_read(f, b.data, hdr, &pos), hdr);
	kunit_activate_static_stub(test, vmig_chunk_alloc, sd_no_chunk);
	KUNIT_EXPECT_EQ(test, kernel_read(f, b.data, b.size, &pos), -ENOMEM);
	KUNIT_EXPECT_EQ(test, kernel_read(f, b.data, b.size, &pos), -ENOMEM);
	kunit_deactivate_static_stub(test, vmig_chunk_alloc);
	KUNIT_EXPECT_EQ(test, vmig_session_peak_chunks(sess), 1);
	KUNIT_EXPECT_EQ(test, vmig_get_state(&sd->mig), PC);
	sd_goto(test, sd, RU);
	KUNIT_EXPECT_EQ(test, sd->released, 1);
	fput(f);

	spin_lock(&sd->lock);
	sd->initial_left = 2;
	spin_unlock(&sd->lock);
	f = sd_goto(test, sd, SC);
	b.len = 0;
	KUNIT_EXPECT_EQ(test, vt_drain(test, f, &b), 0);
	KUNIT_EXPECT_EQ(test, b.len, hdr + 2 * vmig_stream_record_size(1000) +
			vmig_stream_record_size(sizeof(struct vmig_stream_end)));
	sd_goto(test, sd, RU);
	fput(f);
}

/* One record of 3000 zero bytes, without waiting: 0 or the -errno. */
static int sd_add_3000(struct vmig_session *sess)
{
	void *buf = vmig_save_reserve(sess, SD_T_DIRTY, 0, 3000, false);

	if (IS_ERR(buf))
		return PTR_ERR(buf);
	memset(buf, 0, 3000);
	vmig_save_commit(sess);
	return 0;
}

/* PRE_COPY with its header read: one chunk, free again; the file in @f. */
static struct vmig_session *sd_precopy_drained(struct kunit *test,
					       struct sd_dev *sd,
					       struct file **f)
{
	struct vt_buf b;

	vt_buf_init(test, &b, 1 << 16);
	*f = sd_goto(test, sd, PC);
	KUNIT_ASSERT_EQ(test, vt_drain(test, *f, &b), -ENOMSG);
	return vmig_file_session(*f);
}

/*
 * A worker that reserves where it must not sleep preallocates the chunks:
 * without that, a reservation that does not wait still allocates one with
 * GFP_KERNEL; after it, none allocates, a full queue gives -ENOBUFS, and a
 * failed preallocation keeps what it got and can be retried.
 */
static void vmig_session_prealloc(struct kunit *test)
{
	struct sd_dev *sd = sd_new(test, false, 0, 0, 3000, 4096);
	struct vmig_session *sess;
	int added = 0, ret;
	struct file *f;

	/* The header's chunk, once read, is free: the first record takes it. */
	sess = sd_precopy_drained(test, sd, &f);
	KUNIT_ASSERT_EQ(test, sd_add_3000(sess), 0);
	KUNIT_EXPECT_EQ(test, vmig_session_peak_chunks(sess), 1);

	/*
	 * The next needs a chunk of its own: without preallocation, a
	 * reservation that does not wait allocates it.
	 */
	kunit_activate_static_stub(test, vmig_chunk_alloc, sd_no_chunk);
	KUNIT_EXPECT_EQ(test, sd_add_3000(sess), -ENOMEM);
	kunit_deactivate_static_stub(test, vmig_chunk_alloc);
	KUNIT_ASSERT_EQ(test, sd_add_3000(sess), 0);
	KUNIT_EXPECT_EQ(test, vmig_session_peak_chunks(sess), 2);

	kunit_activate_static_stub(test, vmig_chunk_alloc, sd_no_chunk);
	KUNIT_EXPECT_EQ(test, vmig_save_prealloc(sess), -ENOMEM);
	KUNIT_EXPECT_EQ(test, vmig_session_peak_chunks(sess), 2);
	kunit_deactivate_static_stub(test, vmig_chunk_alloc);
	KUNIT_EXPECT_EQ(test, vmig_save_prealloc(sess), 0);
	KUNIT_EXPECT_EQ(test, vmig_session_peak_chunks(sess), VMIG_SAVE_CHUNKS);

	/* Now no reservation allocates: a failing allocator changes nothing. */
	kunit_activate_static_stub(test, vmig_chunk_alloc, sd_no_chunk);
	KUNIT_EXPECT_EQ(test, vmig_save_prealloc(sess), 0);
	while (!(ret = sd_add_3000(sess)))
		added++;
	kunit_deactivate_static_stub(test, vmig_chunk_alloc);
	KUNIT_EXPECT_EQ(test, ret, -ENOBUFS);
	KUNIT_EXPECT_EQ(test, added, VMIG_SAVE_CHUNKS - 2);
	KUNIT_EXPECT_EQ(test, vmig_session_peak_chunks(sess), VMIG_SAVE_CHUNKS);

	sd_goto(test, sd, RU);
	KUNIT_EXPECT_EQ(test, vmig_save_prealloc(sess), -ENODEV);
	fput(f);
}

static struct sd_dev *sd_ending;

/* A chunk whose allocation outlasts its session: the device goes RUNNING. */
static struct vmig_chunk *sd_chunk_after_end(struct vmig_session *sess)
{
	KUNIT_EXPECT_FALSE(sd_ending->test,
			   IS_ERR(vmig_set_state(&sd_ending->mig, RU)));
	return vmig_chunk_new(sess);
}

/*
 * A preallocation whose session ends while it allocates keeps nothing:
 * the chunk is freed at once, not left on the free list until the last
 * reference to the file goes.
 */
static void vmig_session_prealloc_vs_end(struct kunit *test)
{
	struct sd_dev *sd = sd_new(test, false, 0, 0, 3000, 4096);
	struct vmig_session *sess;
	struct file *f;

	sess = sd_precopy_drained(test, sd, &f);
	KUNIT_ASSERT_EQ(test, vmig_session_peak_chunks(sess), 1);

	sd_ending = sd;
	kunit_activate_static_stub(test, vmig_chunk_alloc, sd_chunk_after_end);
	KUNIT_EXPECT_EQ(test, vmig_save_prealloc(sess), -ENODEV);
	kunit_deactivate_static_stub(test, vmig_chunk_alloc);
	KUNIT_EXPECT_EQ(test, vmig_get_state(&sd->mig), RU);
	KUNIT_EXPECT_EQ(test, sd->released, 1);
	KUNIT_EXPECT_EQ(test, vmig_session_peak_chunks(sess), 1);
	fput(f);
}

/* Resuming refuses incomplete, corrupt, foreign and unknown streams. */
static void vmig_session_resume_errors(struct kunit *test)
{
	struct sd_dev *src = sd_new(test, false, 3, 1, 200, 0);
	struct sd_dev *dst;
	struct vt_buf b;
	struct file *f;
	loff_t pos = 0;
	u8 junk[64];

	vt_buf_init(test, &b, 1 << 16);
	f = sd_goto(test, src, SC);
	KUNIT_ASSERT_EQ(test, vt_drain(test, f, &b), 0);
	fput(f);

	/* Truncated: RESUMING -> STOP fails, the FSM stays, the rest completes it. */
	dst = sd_new(test, false, 0, 0, 0, 0);
	f = sd_goto(test, dst, RE);
	KUNIT_ASSERT_EQ(test, sd_feed(f, b.data, b.len - 10, 2), 0);
	KUNIT_EXPECT_EQ(test, PTR_ERR(vmig_set_state(&dst->mig, RU)), -EINVAL);
	KUNIT_EXPECT_EQ(test, vmig_get_state(&dst->mig), RE);
	KUNIT_EXPECT_EQ(test, dst->released, 0);
	KUNIT_ASSERT_EQ(test, sd_feed(f, b.data + b.len - 10, 10, 3), 0);
	sd_goto(test, dst, RU);
	KUNIT_EXPECT_EQ(test, dst->loaded, 4);
	fput(f);

	/* Garbage: write fails, and so does every later write and the arc. */
	dst = sd_new(test, false, 0, 0, 0, 0);
	f = sd_goto(test, dst, RE);
	memset(junk, 0x5a, sizeof(junk));
	KUNIT_EXPECT_EQ(test, kernel_write(f, junk, sizeof(junk), &pos), -EINVAL);
	KUNIT_EXPECT_EQ(test, kernel_write(f, b.data, b.len, &pos), -EINVAL);
	KUNIT_EXPECT_EQ(test, PTR_ERR(vmig_set_state(&dst->mig, ST)), -EINVAL);
	KUNIT_EXPECT_EQ(test, vmig_get_state(&dst->mig), RE);
	vmig_reset(&dst->mig);
	KUNIT_EXPECT_EQ(test, vmig_get_state(&dst->mig), RU);
	KUNIT_EXPECT_EQ(test, dst->released, 1);
	fput(f);

	/* A failing load ends the stream with its errno. */
	dst = sd_new(test, false, 0, 0, 0, 0);
	dst->fail_load = -ERANGE;
	f = sd_goto(test, dst, RE);
	KUNIT_EXPECT_EQ(test, sd_feed(f, b.data, b.len, 4), -ERANGE);
	KUNIT_EXPECT_EQ(test, PTR_ERR(vmig_set_state(&dst->mig, ST)), -ERANGE);
	fput(f);

	/* Another device's identity. */
	{
		char other[] = SD_ID;

		other[0] ^= 0x20;	/* "Sd model=1": same length, other device */
		vmig_stream_put_hdr(b.data, other, strlen(other));
		dst = sd_new(test, false, 0, 0, 0, 0);
		f = sd_goto(test, dst, RE);
		KUNIT_EXPECT_EQ(test, sd_feed(f, b.data, b.len, 5), -EINVAL);
		KUNIT_EXPECT_EQ(test, PTR_ERR(vmig_set_state(&dst->mig, ST)),
				-EINVAL);
		fput(f);
		vmig_stream_put_hdr(b.data, SD_ID, strlen(SD_ID));
	}

	/* A mandatory record of a type the driver does not know. */
	{
		size_t first = sizeof(struct vmig_stream_hdr) + strlen(SD_ID);
		struct vmig_rec_hdr *r = (struct vmig_rec_hdr *)(b.data + first);

		vmig_stream_seal(r, SD_T_BOGUS, VMIG_REC_MANDATORY,
				 le32_to_cpu(r->len), 0);
		dst = sd_new(test, false, 0, 0, 0, 0);
		f = sd_goto(test, dst, RE);
		KUNIT_EXPECT_EQ(test, sd_feed(f, b.data, b.len, 6), -EOPNOTSUPP);
		KUNIT_EXPECT_EQ(test, PTR_ERR(vmig_set_state(&dst->mig, ST)),
				-EOPNOTSUPP);
		fput(f);
	}
}

static int sd_allocs;		/* parser buffers asked for */
static int sd_alloc_fail_at;	/* the one to fail, counted from 1 */

static void *sd_stream_alloc(size_t size)
{
	if (++sd_allocs == sd_alloc_fail_at)
		return NULL;
	return kvmalloc(size, GFP_KERNEL_ACCOUNT);
}

/*
 * The resuming parser cannot get a buffer for a payload, once.  The write
 * that needs it takes none of the bytes it could not buffer: it returns
 * -ENOMEM, or the bytes before that point.  Written again, the stream
 * goes on where it stopped and every record arrives intact.
 */
static void vmig_session_resume_alloc_fails(struct kunit *test)
{
	struct sd_dev *src = sd_new(test, false, 3, 1, 200, 0);
	size_t head = SD_FIRST_PAYLOAD;
	struct sd_dev *dst;
	struct vt_buf b;
	struct file *f;
	loff_t pos = 0;

	vt_buf_init(test, &b, 1 << 16);
	f = sd_goto(test, src, SC);
	KUNIT_ASSERT_EQ(test, vt_drain(test, f, &b), 0);
	fput(f);
	KUNIT_ASSERT_GT(test, b.len, head);

	/* Up to the first payload in one write, the rest in the next. */
	dst = sd_new(test, false, 0, 0, 0, 0);
	f = sd_goto(test, dst, RE);
	sd_allocs = 0;
	sd_alloc_fail_at = 2;		/* the identity's, then the payload's */
	kunit_activate_static_stub(test, vmig_stream_alloc, sd_stream_alloc);
	KUNIT_EXPECT_EQ(test, kernel_write(f, b.data, head, &pos), head);
	KUNIT_EXPECT_EQ(test, kernel_write(f, b.data + head, b.len - head, &pos),
			-ENOMEM);
	KUNIT_EXPECT_EQ(test, kernel_write(f, b.data + head, b.len - head, &pos),
			b.len - head);
	kunit_deactivate_static_stub(test, vmig_stream_alloc);
	KUNIT_EXPECT_EQ(test, sd_allocs, 3);
	KUNIT_EXPECT_FALSE(test, IS_ERR(vmig_set_state(&dst->mig, RU)));
	KUNIT_EXPECT_EQ(test, dst->loaded, 4);
	KUNIT_EXPECT_EQ(test, dst->bad_payloads, 0);
	fput(f);

	/* The whole stream in one write: it takes the bytes before the payload. */
	dst = sd_new(test, false, 0, 0, 0, 0);
	f = sd_goto(test, dst, RE);
	sd_allocs = 0;
	kunit_activate_static_stub(test, vmig_stream_alloc, sd_stream_alloc);
	KUNIT_EXPECT_EQ(test, kernel_write(f, b.data, b.len, &pos), head);
	KUNIT_EXPECT_EQ(test, kernel_write(f, b.data + head, b.len - head, &pos),
			b.len - head);
	kunit_deactivate_static_stub(test, vmig_stream_alloc);
	KUNIT_EXPECT_FALSE(test, IS_ERR(vmig_set_state(&dst->mig, RU)));
	KUNIT_EXPECT_EQ(test, dst->loaded, 4);
	KUNIT_EXPECT_EQ(test, dst->bad_payloads, 0);
	fput(f);
}

/* A save of @n records of 100000 bytes, longer than a round of write(). */
static void sd_save_long(struct kunit *test, u32 n, struct vt_buf *b)
{
	struct sd_dev *src = sd_new(test, false, 0, n, 100000, SZ_256K);
	struct file *f;

	vt_buf_init(test, b, 1 << 20);
	f = sd_goto(test, src, SC);
	KUNIT_ASSERT_EQ(test, vt_drain(test, f, b), 0);
	fput(f);
}

/*
 * Records longer than a round of write(), written in pieces around the
 * size of a round and in one piece: whichever way write() copies them,
 * each write takes all it was given and every record arrives intact.
 */
static void vmig_session_resume_long_records(struct kunit *test)
{
	static const size_t sizes[] = { 1, 16383, 16384, 16385, 65536, 0 };
	struct sd_dev *dst;
	struct vt_buf b;
	struct file *f;
	unsigned int i;

	sd_save_long(test, 3, &b);
	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		size_t off = 0, want;
		loff_t pos = 0;
		ssize_t n;

		dst = sd_new(test, false, 0, 0, 0, SZ_256K);
		f = sd_goto(test, dst, RE);
		while (off < b.len) {
			want = b.len - off;
			if (sizes[i])
				want = min(want, sizes[i]);
			n = kernel_write(f, b.data + off, want, &pos);
			KUNIT_ASSERT_EQ_MSG(test, n, (ssize_t)want,
					    "writes of %zu bytes, at %zu",
					    sizes[i], off);
			off += n;
		}
		KUNIT_EXPECT_FALSE(test, IS_ERR(vmig_set_state(&dst->mig, RU)));
		KUNIT_EXPECT_EQ(test, dst->loaded, 3);
		KUNIT_EXPECT_EQ(test, dst->bad_payloads, 0);
		fput(f);
	}
}

/* write() of @len bytes of user memory at @uaddr, as from a syscall. */
static ssize_t sd_write_user(struct file *f, unsigned long uaddr, size_t len)
{
	struct iov_iter iter;
	struct kiocb kiocb;

	iov_iter_ubuf(&iter, ITER_SOURCE, (void __user *)uaddr, len);
	init_sync_kiocb(&kiocb, f);
	return f->f_op->write_iter(&kiocb, &iter);
}

/*
 * A write whose buffer ends in a hole: the bytes before the hole count,
 * whether they went through the bounce buffer or straight into a payload,
 * the write returns them, and the stream goes on from there.  The next
 * write from the hole fails with -EFAULT and takes nothing.
 */
static void vmig_session_resume_write_faults(struct kunit *test)
{
	size_t head = SD_FIRST_PAYLOAD;
	/* In the first round of a write, and deep in a payload put in place. */
	const size_t cuts[] = { 8192, head + 3 * 16384 + 5000 };
	unsigned long uaddr, data;
	struct sd_dev *dst;
	unsigned int i;
	size_t pages;
	struct vt_buf b;
	struct file *f;
	loff_t pos = 0;

	sd_save_long(test, 2, &b);
	for (i = 0; i < ARRAY_SIZE(cuts); i++) {
		KUNIT_ASSERT_LT(test, cuts[i], b.len);
		pages = DIV_ROUND_UP(cuts[i], PAGE_SIZE) + 1;
		uaddr = kunit_vm_mmap(test, NULL, 0, pages * PAGE_SIZE,
				      PROT_READ | PROT_WRITE,
				      MAP_ANONYMOUS | MAP_PRIVATE, 0);
		KUNIT_ASSERT_NE(test, uaddr, 0);
		data = uaddr + (pages - 1) * PAGE_SIZE - cuts[i];
		KUNIT_ASSERT_EQ(test, copy_to_user((void __user *)data, b.data,
						   cuts[i]), 0);
		KUNIT_ASSERT_EQ(test, vm_munmap(uaddr + (pages - 1) * PAGE_SIZE,
						PAGE_SIZE), 0);

		dst = sd_new(test, false, 0, 0, 0, SZ_256K);
		f = sd_goto(test, dst, RE);
		KUNIT_EXPECT_EQ(test, sd_write_user(f, data, b.len),
				(ssize_t)cuts[i]);
		/*
		 * The first round of a write goes through the 16 KiB bounce
		 * buffer (no payload is being collected yet); the next ones
		 * put the payload in place, up to the fault.
		 */
		KUNIT_EXPECT_EQ(test,
				vmig_session_direct_bytes(vmig_file_session(f)),
				cuts[i] > SZ_16K ? cuts[i] - SZ_16K : 0);
		KUNIT_EXPECT_EQ(test, sd_write_user(f, data + cuts[i],
						    b.len - cuts[i]), -EFAULT);
		KUNIT_EXPECT_EQ(test, kernel_write(f, b.data + cuts[i],
						   b.len - cuts[i], &pos),
				(ssize_t)(b.len - cuts[i]));
		KUNIT_EXPECT_FALSE(test, IS_ERR(vmig_set_state(&dst->mig, RU)));
		KUNIT_EXPECT_EQ(test, dst->loaded, 2);
		KUNIT_EXPECT_EQ(test, dst->bad_payloads, 0);
		fput(f);
	}
}

static struct vmig_device *sd_reset_mig;

static void *sd_alloc_then_reset(size_t size)
{
	vmig_reset(sd_reset_mig);
	return kvmalloc(size, GFP_KERNEL_ACCOUNT);
}

/*
 * The session ends while write() puts a payload in place, before it takes
 * the state lock to commit it: the write fails with -ENODEV, and the
 * driver, whose release op ran, loads nothing.  A write after the end
 * neither asks for a buffer nor copies: -ENODEV, not -ENOMEM.
 */
static void vmig_session_resume_ends_in_copy(struct kunit *test)
{
	size_t head = SD_FIRST_PAYLOAD;
	struct sd_dev *dst;
	struct vt_buf b;
	struct file *f;
	loff_t pos = 0;

	sd_save_long(test, 2, &b);

	dst = sd_new(test, false, 0, 0, 0, SZ_256K);
	f = sd_goto(test, dst, RE);
	KUNIT_ASSERT_EQ(test, kernel_write(f, b.data, head, &pos), head);
	sd_reset_mig = &dst->mig;
	kunit_activate_static_stub(test, vmig_stream_alloc,
				   sd_alloc_then_reset);
	KUNIT_EXPECT_EQ(test, kernel_write(f, b.data + head, b.len - head,
					   &pos), -ENODEV);
	kunit_deactivate_static_stub(test, vmig_stream_alloc);
	KUNIT_EXPECT_EQ(test, dst->released, 1);
	KUNIT_EXPECT_EQ(test, dst->loaded, 0);
	KUNIT_EXPECT_EQ(test, vmig_get_state(&dst->mig), RU);
	fput(f);

	dst = sd_new(test, false, 0, 0, 0, SZ_256K);
	f = sd_goto(test, dst, RE);
	KUNIT_ASSERT_EQ(test, kernel_write(f, b.data, head, &pos), head);
	vmig_reset(&dst->mig);
	sd_allocs = 0;
	sd_alloc_fail_at = 1;
	kunit_activate_static_stub(test, vmig_stream_alloc, sd_stream_alloc);
	KUNIT_EXPECT_EQ(test, kernel_write(f, b.data + head, b.len - head,
					   &pos), -ENODEV);
	kunit_deactivate_static_stub(test, vmig_stream_alloc);
	KUNIT_EXPECT_EQ(test, sd_allocs, 0);
	KUNIT_EXPECT_EQ(test, dst->loaded, 0);
	fput(f);
}

/*
 * A data file that outlives its device: userspace keeps data_fd, closes
 * the device, and the driver frees the structure the per-device object is
 * embedded in.  The files answer -ENODEV and touch nothing of the device
 * (KASAN watches), and go away cleanly.
 */
static void vmig_session_outlives_device(struct kunit *test)
{
	struct sd_dev *sd = kzalloc(sizeof(*sd), GFP_KERNEL);
	struct file *sf, *rf;
	loff_t pos = 0;
	u8 byte = 0;

	KUNIT_ASSERT_NOT_NULL(test, sd);
	sd_setup(test, sd, false, 0, 1, 10, 0);
	sf = sd_goto(test, sd, SC);
	rf = sd_goto(test, sd, RE);
	vmig_close(&sd->mig);
	vmig_uninit(&sd->mig);
	kfree(sd);

	KUNIT_EXPECT_EQ(test, kernel_read(sf, &byte, 1, &pos), -ENODEV);
	pos = 0;
	KUNIT_EXPECT_EQ(test, kernel_write(rf, &byte, 1, &pos), -ENODEV);
	KUNIT_EXPECT_EQ(test, vfs_ioctl(rf, VFIO_MIG_GET_PRECOPY_INFO, 0),
			-ENODEV);
	KUNIT_EXPECT_TRUE(test, vfs_poll(sf, NULL) & EPOLLHUP);
	fput(sf);
	fput(rf);
	flush_delayed_fput();
}

struct sd_late_writer {
	struct file *f;
	ssize_t ret;
	struct completion done;
};

static int sd_late_writer_fn(void *arg)
{
	struct sd_late_writer *w = arg;
	loff_t pos = 0;
	u8 byte = 0;

	w->ret = kernel_write(w->f, &byte, 1, &pos);
	complete(&w->done);
	return 0;
}

struct sd_uninit {
	struct vmig_device *mig;
	struct completion done;
};

static int sd_uninit_fn(void *arg)
{
	struct sd_uninit *u = arg;

	vmig_uninit(u->mig);
	complete(&u->done);
	return 0;
}

/*
 * The narrow case: a write found its session alive and waits for the
 * state lock while the device is closed and released.  The release must
 * wait for that write, which then finds the session ended.
 */
static void vmig_session_release_waits_for_files(struct kunit *test)
{
	struct sd_dev *sd = kzalloc(sizeof(*sd), GFP_KERNEL);
	struct sd_late_writer w = {};
	struct sd_uninit u = {};
	unsigned long deadline;

	KUNIT_ASSERT_NOT_NULL(test, sd);
	sd_setup(test, sd, false, 0, 1, 10, 0);
	w.f = sd_goto(test, sd, RE);
	init_completion(&w.done);
	init_completion(&u.done);
	u.mig = &sd->mig;

	mutex_lock(&sd->mig.state_lock);
	KUNIT_ASSERT_FALSE(test, IS_ERR(kthread_run(sd_late_writer_fn, &w,
						    "vmig-late-writer")));
	deadline = jiffies + 5 * HZ;
	while (!atomic_read(&sd->mig.file_users) && time_before(jiffies, deadline))
		usleep_range(500, 1000);
	KUNIT_EXPECT_EQ(test, atomic_read(&sd->mig.file_users), 1);

	/* close_device, as vmig_close() does it, with the lock we hold. */
	sd->mig.state = RU;
	vmig_session_sync_locked(&sd->mig);
	KUNIT_ASSERT_FALSE(test, IS_ERR(kthread_run(sd_uninit_fn, &u,
						    "vmig-uninit")));
	msleep(100);
	KUNIT_EXPECT_FALSE(test, completion_done(&u.done));
	mutex_unlock(&sd->mig.state_lock);

	KUNIT_ASSERT_GT(test, wait_for_completion_timeout(&w.done, 5 * HZ), 0);
	KUNIT_EXPECT_EQ(test, w.ret, -ENODEV);
	KUNIT_ASSERT_GT(test, wait_for_completion_timeout(&u.done, 5 * HZ), 0);
	kfree(sd);
	fput(w.f);
	flush_delayed_fput();
}

/* vmig_reset() ends the session before the driver's reset op runs. */
static void vmig_session_reset_op(struct kunit *test)
{
	struct sd_dev *sd = sd_new(test, false, 0, 1, 10, 0);
	struct file *f;

	vmig_reset(&sd->mig);
	KUNIT_EXPECT_EQ(test, sd->resets, 1);

	f = sd_goto(test, sd, SC);
	KUNIT_EXPECT_EQ(test, sd->released, 0);
	vmig_reset(&sd->mig);
	KUNIT_EXPECT_EQ(test, sd->resets, 2);
	KUNIT_EXPECT_EQ(test, sd->released_at_reset, 1);
	KUNIT_EXPECT_EQ(test, vmig_get_state(&sd->mig), RU);
	fput(f);

	/* Open and close are not resets of the device. */
	vmig_close(&sd->mig);
	vmig_open(&sd->mig);
	KUNIT_EXPECT_EQ(test, sd->resets, 2);
}

static struct kunit_case vmig_session_cases[] = {
	KUNIT_CASE_PARAM(vmig_session_stop_copy_roundtrip, sd_modes_gen_params),
	KUNIT_CASE_PARAM(vmig_session_memory_bound, sd_modes_gen_params),
	KUNIT_CASE_PARAM(vmig_session_precopy, sd_modes_gen_params),
	KUNIT_CASE(vmig_session_notify_vs_pending),
	KUNIT_CASE(vmig_session_pending_without_data),
	KUNIT_CASE(vmig_session_nonblock),
	KUNIT_CASE(vmig_session_read_fills),
	KUNIT_CASE(vmig_session_nonblock_keeps_off_state_lock),
	KUNIT_CASE(vmig_session_eos_then_end),
	KUNIT_CASE(vmig_session_precopy_read_asks_once),
	KUNIT_CASE(vmig_session_nowait_behind_blocking),
	KUNIT_CASE(vmig_session_nowait_write_behind_blocking),
	KUNIT_CASE(vmig_session_killed_io),
	KUNIT_CASE(vmig_session_nonblock_write_keeps_off_state_lock),
	KUNIT_CASE_PARAM(vmig_session_end_paths, sd_ends_gen_params),
	KUNIT_CASE_PARAM(vmig_session_feed_ends_first, sd_feed_ends_gen_params),
	KUNIT_CASE(vmig_session_feed_fails),
	KUNIT_CASE(vmig_session_feed_never_attached),
	KUNIT_CASE(vmig_session_record_alignment),
	KUNIT_CASE(vmig_session_read_vs_leave),
	KUNIT_CASE(vmig_session_precopy_ioctl),
	KUNIT_CASE_PARAM(vmig_session_stale_file_vs_new_session,
			 sd_ops_list_gen_params),
	KUNIT_CASE(vmig_session_reinit_vs_queue),
	KUNIT_CASE(vmig_session_reinit_vs_reserve),
	KUNIT_CASE(vmig_session_precopy_counts_unqueued),
	KUNIT_CASE(vmig_session_cancel_keeps_class),
	KUNIT_CASE(vmig_session_cancel_then_reinit),
	KUNIT_CASE(vmig_session_precopy_without_pending),
	KUNIT_CASE(vmig_session_chunk_alloc_fails),
	KUNIT_CASE(vmig_session_prealloc),
	KUNIT_CASE(vmig_session_prealloc_vs_end),
	KUNIT_CASE(vmig_session_resume_errors),
	KUNIT_CASE(vmig_session_resume_alloc_fails),
	KUNIT_CASE(vmig_session_resume_long_records),
	KUNIT_CASE(vmig_session_resume_ends_in_copy),
	KUNIT_CASE(vmig_session_resume_write_faults),
	KUNIT_CASE(vmig_session_outlives_device),
	KUNIT_CASE(vmig_session_release_waits_for_files),
	KUNIT_CASE(vmig_session_reset_op),
	{}
};

static struct kunit_suite vmig_session_suite = {
	.name = "vmig_session",
	.test_cases = vmig_session_cases,
};

/* ---------------------------------------------------------------------- */
/* Suite vmig_vfio: what vfio.ko and userspace see.                       */

static void vmig_vfio_mig_ops(struct kunit *test)
{
	struct sd_dev *sd = sd_new(test, false, 1, 1, 10, 0);
	const struct vfio_migration_ops *ops = sd->vdev.mig_ops;
	enum vfio_device_mig_state state;
	unsigned long len = 0;
	struct file *f;

	/* vfio.ko gets the driver's table, made of the core's callbacks. */
	KUNIT_EXPECT_PTR_EQ(test, ops, &sd_vfio_ops.ops);
	KUNIT_EXPECT_EQ(test, sd->vdev.migration_flags, SD_FLAGS);

	KUNIT_ASSERT_EQ(test, ops->migration_get_state(&sd->vdev, &state), 0);
	KUNIT_EXPECT_EQ(test, state, RU);

	/* GET after a failed SET tells where the device is: unwound... */
	sd->mig.inject.from = RP;
	sd->mig.inject.to = ST;
	sd->mig.inject.err = -ETIMEDOUT;
	sd->mig.inject.count = 1;
	KUNIT_EXPECT_EQ(test, PTR_ERR(ops->migration_set_state(&sd->vdev, SC)),
			-ETIMEDOUT);
	KUNIT_ASSERT_EQ(test, ops->migration_get_state(&sd->vdev, &state), 0);
	KUNIT_EXPECT_EQ(test, state, RU);

	f = ops->migration_set_state(&sd->vdev, SC);
	KUNIT_ASSERT_FALSE(test, IS_ERR_OR_NULL(f));
	KUNIT_ASSERT_EQ(test, ops->migration_get_state(&sd->vdev, &state), 0);
	KUNIT_EXPECT_EQ(test, state, SC);

	/* A device that reports 0 still gets a usable size. */
	KUNIT_ASSERT_EQ(test, ops->migration_get_data_size(&sd->vdev, &len), 0);
	KUNIT_EXPECT_GT(test, len, 0);
	{
		unsigned long with_id;

		/* The device's stream identity is counted, once. */
		KUNIT_EXPECT_EQ(test, vmig_set_stream_id(&sd->mig, "id", 0),
				-EINVAL);
		KUNIT_ASSERT_EQ(test, vmig_set_stream_id(&sd->mig, "ident", 5), 0);
		KUNIT_ASSERT_EQ(test, ops->migration_get_data_size(&sd->vdev,
								   &with_id), 0);
		KUNIT_EXPECT_EQ(test, with_id, len + 5);
	}

	/* ... or in ERROR, when the walk left the session it started in. */
	sd->mig.inject.from = ST;
	sd->mig.inject.to = RP;
	sd->mig.inject.count = 1;
	KUNIT_EXPECT_EQ(test, PTR_ERR(ops->migration_set_state(&sd->vdev, RU)),
			-ETIMEDOUT);
	KUNIT_ASSERT_EQ(test, ops->migration_get_state(&sd->vdev, &state), 0);
	KUNIT_EXPECT_EQ(test, state, ER);
	KUNIT_EXPECT_EQ(test, sd->released, 1);
	fput(f);
}

static int sd_feature(struct kunit *test, struct sd_dev *sd, u32 flags,
		      unsigned long uaddr, size_t argsz,
		      struct vmig_device_feature_arcs *out)
{
	int ret = vmig_device_feature(&sd->mig, flags, (void __user *)uaddr,
				      argsz);

	if (out)
		KUNIT_ASSERT_EQ(test, copy_from_user(out, (void __user *)uaddr,
						     sizeof(*out)), 0);
	return ret;
}

/* The arc bitmap for each flag set, and the last failure. */
static void vmig_vfio_feature_arcs(struct kunit *test)
{
	struct vmig_device_feature_arcs out;
	unsigned long uaddr = vt_user_page(test);
	u32 get = VFIO_DEVICE_FEATURE_GET | VMIG_DEVICE_FEATURE_ARCS;
	struct sd_dev *sd = sd_new(test, false, 0, 0, 10, 0);
	u64 all = 0, sessions = 0;
	/* The fifteen arcs of the uAPI. */
	static const u8 arcs[][2] = {
		{ RU, RP }, { RU, PC }, { RP, RU }, { RP, ST }, { RP, PP },
		{ ST, RP }, { ST, SC }, { ST, RE }, { SC, ST }, { RE, ST },
		{ PC, RU }, { PC, PP }, { PP, PC }, { PP, RP }, { PP, SC },
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(arcs); i++)
		all |= BIT_ULL(VMIG_ARC_BIT(arcs[i][0], arcs[i][1]));
	sessions = BIT_ULL(VMIG_ARC_BIT(RU, PC)) | BIT_ULL(VMIG_ARC_BIT(RP, PP)) |
		   BIT_ULL(VMIG_ARC_BIT(ST, SC)) | BIT_ULL(VMIG_ARC_BIT(ST, RE));

	KUNIT_ASSERT_EQ(test, sd_feature(test, sd, get, uaddr, sizeof(out), &out), 0);
	KUNIT_EXPECT_EQ(test, out.arcs, all);
	KUNIT_EXPECT_EQ(test, out.session_arcs, sessions);
	KUNIT_EXPECT_EQ(test, out.migration_flags, SD_FLAGS);
	KUNIT_EXPECT_EQ(test, out.device_state, RU);
	KUNIT_EXPECT_EQ(test, out.fail_seq, 0);

	KUNIT_EXPECT_EQ(test, sd_feature(test, sd, VFIO_DEVICE_FEATURE_PROBE |
					 VFIO_DEVICE_FEATURE_GET |
					 VMIG_DEVICE_FEATURE_ARCS, uaddr, 0, NULL), 0);
	KUNIT_EXPECT_EQ(test, sd_feature(test, sd, get, uaddr, sizeof(out) - 1,
					 NULL), -EINVAL);
	KUNIT_EXPECT_EQ(test, sd_feature(test, sd, VFIO_DEVICE_FEATURE_SET |
					 VMIG_DEVICE_FEATURE_ARCS, uaddr,
					 sizeof(out), NULL), -EINVAL);
	KUNIT_EXPECT_EQ(test, sd_feature(test, sd, get + 1, uaddr, sizeof(out),
					 NULL), -ENOTTY);

	/* An injected failure that lands in ERROR: PRE_COPY -> STOP. */
	fput(sd_goto(test, sd, PC));
	sd->mig.inject.from = RP;
	sd->mig.inject.to = ST;
	sd->mig.inject.err = -EIO;
	sd->mig.inject.count = 1;
	KUNIT_EXPECT_EQ(test, PTR_ERR(vmig_set_state(&sd->mig, ST)), -EIO);
	KUNIT_ASSERT_EQ(test, sd_feature(test, sd, get, uaddr, sizeof(out), &out), 0);
	KUNIT_EXPECT_EQ(test, out.device_state, ER);
	KUNIT_EXPECT_EQ(test, out.fail_seq, 1);
	KUNIT_EXPECT_EQ(test, out.fail_start, PC);
	KUNIT_EXPECT_EQ(test, out.fail_target, ST);
	KUNIT_EXPECT_EQ(test, out.fail_from, RP);
	KUNIT_EXPECT_EQ(test, out.fail_to, ST);
	KUNIT_EXPECT_EQ(test, out.fail_errno, EIO);
	KUNIT_EXPECT_EQ(test, out.fail_result, VMIG_FAIL_ERROR);
	KUNIT_EXPECT_EQ(test, out.fail_flags, VMIG_FAIL_INJECTED);

	/* Without P2P the joined arcs appear and the P2P ones vanish. */
	{
		struct sd_dev *np = sd;

		vmig_close(&np->mig);
		vmig_uninit(&np->mig);
		KUNIT_ASSERT_EQ(test, vmig_init(&np->mig, &np->vdev, &sd_ops,
						VFIO_MIGRATION_STOP_COPY |
						VFIO_MIGRATION_PRE_COPY), 0);
		KUNIT_ASSERT_EQ(test, sd_feature(test, np, get, uaddr,
						 sizeof(out), &out), 0);
		KUNIT_EXPECT_EQ(test, out.arcs,
				BIT_ULL(VMIG_ARC_BIT(RU, ST)) |
				BIT_ULL(VMIG_ARC_BIT(ST, RU)) |
				BIT_ULL(VMIG_ARC_BIT(RU, PC)) |
				BIT_ULL(VMIG_ARC_BIT(PC, RU)) |
				BIT_ULL(VMIG_ARC_BIT(PC, SC)) |
				BIT_ULL(VMIG_ARC_BIT(ST, SC)) |
				BIT_ULL(VMIG_ARC_BIT(SC, ST)) |
				BIT_ULL(VMIG_ARC_BIT(ST, RE)) |
				BIT_ULL(VMIG_ARC_BIT(RE, ST)));
		KUNIT_EXPECT_EQ(test, out.session_arcs,
				BIT_ULL(VMIG_ARC_BIT(RU, PC)) |
				BIT_ULL(VMIG_ARC_BIT(ST, SC)) |
				BIT_ULL(VMIG_ARC_BIT(ST, RE)));
	}
}

static void vmig_vfio_precopy_v2_feature(struct kunit *test)
{
	struct sd_dev *sd = sd_new(test, false, 0, 0, 10, 0);
	u32 f = VMIG_DEVICE_FEATURE_PRECOPY_INFO_V2;

	KUNIT_EXPECT_EQ(test, vmig_device_feature(&sd->mig, VFIO_DEVICE_FEATURE_GET | f,
						  NULL, 0), -EINVAL);
	KUNIT_EXPECT_EQ(test, vmig_device_feature(&sd->mig, VFIO_DEVICE_FEATURE_PROBE |
						  VFIO_DEVICE_FEATURE_SET | f,
						  NULL, 0), 0);
	KUNIT_EXPECT_FALSE(test, sd->mig.precopy_v2);
	KUNIT_EXPECT_EQ(test, vmig_device_feature(&sd->mig, VFIO_DEVICE_FEATURE_SET | f,
						  NULL, 0), 0);
	KUNIT_EXPECT_TRUE(test, sd->mig.precopy_v2);
	/* Per open: a close forgets it. */
	vmig_close(&sd->mig);
	KUNIT_EXPECT_FALSE(test, sd->mig.precopy_v2);

	/* A device without PRE_COPY does not have the feature. */
	vmig_uninit(&sd->mig);
	KUNIT_ASSERT_EQ(test, vmig_init(&sd->mig, &sd->vdev, &sd_ops,
					VFIO_MIGRATION_STOP_COPY), 0);
	KUNIT_EXPECT_EQ(test, vmig_device_feature(&sd->mig, VFIO_DEVICE_FEATURE_SET | f,
						  NULL, 0), -ENOTTY);
}

/* Not the core's callback, with the same signature. */
static int sd_foreign_get_state(struct vfio_device *vdev,
				enum vfio_device_mig_state *curr_state)
{
	*curr_state = VFIO_DEVICE_STATE_RUNNING;
	return 0;
}

static void sd_expect_refused(struct kunit *test, struct sd_dev *sd,
			      const struct vmig_ops *ops)
{
	int ret = vmig_init(&sd->mig, &sd->vdev, ops, SD_FLAGS);

	KUNIT_EXPECT_EQ(test, ret, -EINVAL);
	if (!ret)
		vmig_uninit(&sd->mig);
	KUNIT_EXPECT_NULL(test, sd->vdev.mig_ops);
}

/*
 * vmig_init() takes a vfio_device only with the core's callbacks and an
 * offset that finds the device it is given.
 */
static void vmig_vfio_init_checks(struct kunit *test)
{
	/* Off by the size of a pointer, and at the vfio_device itself. */
	struct vmig_vfio_ops lost = sd_vfio_ops, no_offset = sd_vfio_ops;
	static const struct vmig_ops no_vfio = {
		.migration_step_device_state = sd_step,
	};
	const struct vmig_ops bad_offset = {
		.migration_step_device_state = sd_step,
		.vfio_ops = &lost,
	};
	const struct vmig_ops zero_offset = {
		.migration_step_device_state = sd_step,
		.vfio_ops = &no_offset,
	};
	struct vmig_vfio_ops foreign = VMIG_VFIO_OPS(struct sd_dev, vdev, mig);
	struct vmig_ops foreign_ops = {
		.migration_step_device_state = sd_step,
		.vfio_ops = &foreign,
	};
	struct sd_dev *sd = kunit_kzalloc(test, sizeof(*sd), GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, sd);
	lost.mig_offset += sizeof(void *);
	no_offset.mig_offset = 0;
	sd_expect_refused(test, sd, &no_vfio);
	sd_expect_refused(test, sd, &bad_offset);
	sd_expect_refused(test, sd, &zero_offset);
	foreign.ops.migration_get_state = sd_foreign_get_state;
	sd_expect_refused(test, sd, &foreign_ops);
	/* The same table with the core's callbacks is taken. */
	foreign.ops.migration_get_state = vmig_vfio_get_state;
	KUNIT_ASSERT_EQ(test, vmig_init(&sd->mig, &sd->vdev, &foreign_ops,
					SD_FLAGS), 0);
	KUNIT_EXPECT_PTR_EQ(test, sd->vdev.mig_ops, &foreign.ops);
	vmig_uninit(&sd->mig);
	/* Without a vfio_device the FSM needs none of it. */
	KUNIT_ASSERT_EQ(test, vmig_init(&sd->mig, NULL, &no_vfio, SD_FLAGS), 0);
	vmig_uninit(&sd->mig);
}

static struct kunit_case vmig_vfio_cases[] = {
	KUNIT_CASE(vmig_vfio_mig_ops),
	KUNIT_CASE(vmig_vfio_init_checks),
	KUNIT_CASE(vmig_vfio_feature_arcs),
	KUNIT_CASE(vmig_vfio_precopy_v2_feature),
	{}
};

static struct kunit_suite vmig_vfio_suite = {
	.name = "vmig_vfio",
	.test_cases = vmig_vfio_cases,
};

/* ---------------------------------------------------------------------- */
/* Suite vmig_locking: resets racing walks and reads, under lockdep.      */

/*
 * The shape of vfio-pci-core: a reset takes memory_lock for writing and
 * calls the driver's reset path, which calls vmig_reset(); a page fault on
 * a BAR mapping takes memory_lock for reading under mmap_lock.  Readers copy
 * into real user memory, so lockdep sees io_lock -> mmap_lock.  Had the
 * core held its state lock or a file lock across a user copy, lockdep
 * would find the cycle state_lock -> ... -> mmap_lock -> memory_lock ->
 * state_lock here and switch itself off.
 */
struct lk_ctx {
	struct sd_dev *sd;
	struct rw_semaphore memory_lock;
	struct mm_struct *mm;
	unsigned long ubuf;
	struct mutex file_lock;		/* hands the current data file over */
	struct file *file;
	bool stop;
	u64 reads, resets, walks, faults;
};

static struct file *lk_get_file(struct lk_ctx *c)
{
	struct file *f;

	mutex_lock(&c->file_lock);
	f = c->file ? get_file(c->file) : NULL;
	mutex_unlock(&c->file_lock);
	return f;
}

static void lk_set_file(struct lk_ctx *c, struct file *f)
{
	struct file *old;

	mutex_lock(&c->file_lock);
	old = c->file;
	c->file = f;
	mutex_unlock(&c->file_lock);
	if (old)
		fput(old);
}

static int lk_reader(void *arg)
{
	struct lk_ctx *c = arg;

	kthread_use_mm(c->mm);
	while (!READ_ONCE(c->stop)) {
		struct file *f = lk_get_file(c);
		struct iov_iter iter;
		struct kiocb kiocb;

		if (!f || !f->f_op->read_iter) {
			if (f)
				fput(f);
			usleep_range(10, 50);
			continue;
		}
		if (!import_ubuf(ITER_DEST, (void __user *)c->ubuf, PAGE_SIZE,
				 &iter)) {
			init_sync_kiocb(&kiocb, f);
			kiocb.ki_flags |= IOCB_NOWAIT;
			f->f_op->read_iter(&kiocb, &iter);
		}
		fput(f);
		c->reads++;
		cond_resched();
	}
	kthread_unuse_mm(c->mm);
	return 0;
}

static int lk_resetter(void *arg)
{
	struct lk_ctx *c = arg;

	while (!READ_ONCE(c->stop)) {
		down_write(&c->memory_lock);
		vmig_reset(&c->sd->mig);
		up_write(&c->memory_lock);
		c->resets++;
		usleep_range(50, 200);
	}
	return 0;
}

/* A page fault on a BAR mapping: memory_lock under mmap_lock. */
static int lk_faulter(void *arg)
{
	struct lk_ctx *c = arg;

	while (!READ_ONCE(c->stop)) {
		mmap_read_lock(c->mm);
		down_read(&c->memory_lock);
		c->faults++;
		up_read(&c->memory_lock);
		mmap_read_unlock(c->mm);
		usleep_range(20, 100);
	}
	return 0;
}

static void vmig_locking_reset_races(struct kunit *test)
{
	static const u32 targets[] = { PC, SC, RU, PP, ST, RE, RP, PC, RU };
	struct task_struct *t[3];
	unsigned long deadline;
	struct lk_ctx *c;
	unsigned int i = 0;
	int k;

	if (!debug_locks)
		kunit_skip(test, "lockdep is already off");

	c = kunit_kzalloc(test, sizeof(*c), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, c);
	c->sd = sd_new(test, true, 4, 2, 3000, 4096);
	sd_open_gate(c->sd);
	init_rwsem(&c->memory_lock);
	mutex_init(&c->file_lock);
	c->ubuf = vt_user_page(test);
	c->mm = current->mm;
	KUNIT_ASSERT_NOT_NULL(test, c->mm);

	t[0] = kthread_run(lk_reader, c, "vmig-lk-read");
	t[1] = kthread_run(lk_resetter, c, "vmig-lk-reset");
	t[2] = kthread_run(lk_faulter, c, "vmig-lk-fault");
	for (k = 0; k < 3; k++) {
		KUNIT_ASSERT_FALSE(test, IS_ERR(t[k]));
		get_task_struct(t[k]);
	}

	deadline = jiffies + 2 * HZ;
	while (time_before(jiffies, deadline)) {
		struct file *f;

		spin_lock(&c->sd->lock);
		c->sd->initial_left = 4;
		c->sd->dirty_left = 8;
		c->sd->final_recs = 2;
		c->sd->final = false;
		spin_unlock(&c->sd->lock);

		f = vmig_set_state(&c->sd->mig, targets[i++ % ARRAY_SIZE(targets)]);
		c->walks++;
		if (IS_ERR(f)) {
			/* Only ERROR is allowed to refuse: it waits for a reset. */
			continue;
		}
		if (f)
			lk_set_file(c, f);
		usleep_range(100, 500);
	}
	WRITE_ONCE(c->stop, true);
	for (k = 0; k < 3; k++) {
		kthread_stop(t[k]);
		put_task_struct(t[k]);
	}
	lk_set_file(c, NULL);

	kunit_info(test, "%llu walks, %llu resets, %llu reads, %llu faults\n",
		   c->walks, c->resets, c->reads, c->faults);
	KUNIT_EXPECT_GT(test, c->resets, 0);
	KUNIT_EXPECT_GT(test, c->reads, 0);
	KUNIT_EXPECT_GT(test, c->faults, 0);
	/* lockdep turns itself off at its first report. */
	KUNIT_EXPECT_TRUE(test, debug_locks);
}

static struct kunit_case vmig_locking_cases[] = {
	KUNIT_CASE_SLOW(vmig_locking_reset_races),
	{}
};

static struct kunit_suite vmig_locking_suite = {
	.name = "vmig_locking",
	.test_cases = vmig_locking_cases,
};

kunit_test_suites(&vmig_session_suite, &vmig_vfio_suite, &vmig_locking_suite);
