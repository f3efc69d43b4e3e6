// SPDX-License-Identifier: GPL-2.0-only
/*
 * vmig region sessions: saving sessions that the core feeds from a region
 * of the device, for drivers that only read blocks and tell which changed.
 */

#include <linux/bitmap.h>
#include <linux/bitops.h>
#include <linux/delay.h>
#include <linux/ktime.h>
#include <linux/log2.h>
#include <linux/module.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/vmig.h>

#include "stream.h"
#include "vmig_priv.h"

/**
 * DOC: Region sessions
 *
 * Many devices keep most of their state in one linear region: memory
 * behind a BAR, a context image.  vmig_region_save_open() starts a saving
 * session that the core feeds from such a region; the driver provides
 * "read these blocks into this buffer" and, for pre-copy, "which of these
 * blocks changed since I read them" (&struct vmig_region_ops), and the
 * core runs the rest on the session's worker (&struct vmig_save_ops.feed):
 *
 * - The pipeline.  The region is read straight into the stream's chunks,
 *   the next one while read() copies the last one out, so a save holds at
 *   most %VMIG_SAVE_CHUNKS chunks whatever the size of the region.  They
 *   are allocated before the first read (vmig_save_prealloc()): no read
 *   waits for the allocator.
 * - Records.  Each carries up to as many whole blocks as a chunk holds,
 *   as &struct vmig_region_rec, of the driver's record type, mandatory.
 * - STOP_COPY without pre-copy: the region from start to end, then the
 *   driver's &struct vmig_region_ops.tail, then the end of the stream.
 * - PRE_COPY: the initial image, every block once, as initial data, while
 *   the device runs.  Then scans: the blocks sent and not known dirty go
 *   to &struct vmig_region_ops.changed, 64 at a time, and the blocks it
 *   reports changed are sent again, as dirty data.  A scan runs when
 *   asked (VFIO_MIG_GET_PRECOPY_INFO, or a reader that drained the queue:
 *   both reach &struct vmig_save_ops.pending), but never sooner after the
 *   last one than it lasted, and not within 100 ms; nobody asking, one
 *   runs four times that long after the last.  So scans take at most half
 *   a CPU however often userspace asks (QEMU asks at every iteration), a
 *   fifth when nobody does.  The blocks a scan found go out right after
 *   it, and poll() is readable as soon as they are queued.  PRECOPY_INFO
 *   reports, in stream bytes, the part of the initial image not yet added
 *   as initial, and the blocks known dirty and not yet added as dirty:
 *   changes no scan has reached yet are not counted.
 * - STOP_COPY after pre-copy, from the arc that entered it, whatever the
 *   worker was doing (what it had framed goes to the reader at once): one
 *   last pass that compares the blocks sent and sends every block never
 *   sent, known dirty or found changed, then the tail and the end of the
 *   stream.  The compares run a record's worth ahead of the sends, and a
 *   chunk too full for one more record of one block is queued at once, so
 *   the reader drains what is sent while the rest of the region is
 *   compared.  After an idle pre-copy, STOP_COPY reads the region once
 *   and sends little more than the tail.  Nothing is tracked in this last
 *   pass: no hashing of data nobody will compare again.
 * - Retries.  A read the driver found disturbed (-EAGAIN) is done again,
 *   three tries in all; then the stream fails with -EIO.  A compare found
 *   disturbed is not asked again: all of its blocks count as changed.
 *   Nothing is marked sent from a call that failed.
 * - Idle.  Before the worker sleeps (for a free chunk, a request,
 *   STOP_COPY) or yields the CPU, around the tail and when it returns,
 *   the driver's &struct vmig_region_ops.idle releases what it keeps
 *   across reads: so a driver may hold a lock or an access window from
 *   one read to the next and still never hold it while the worker waits
 *   or yields.  The one exception is the driver's own choice:
 *   &struct vmig_region_ops.linger keeps it over short polls for a free
 *   chunk.  A kernel with full preemption may still preempt the worker
 *   anywhere, window or not.
 *
 * debugfs shows each region session and the device's totals
 * (&struct vmig_region_stats), and vmig_region_left() gives a driver's
 * &struct vmig_ops.get_data_size what pre-copy has yet to send.
 */

/* Tries of a read or a scan the driver found disturbed. */
#define VMIG_REGION_TRIES	3
/* Blocks per call of changed(): the bits of a u64. */
#define VMIG_REGION_SCAN	64U
/* The shortest pause between two scans. */
#define VMIG_REGION_RESCAN_MS	100
/* How often linger() polls for a free chunk. */
#define VMIG_REGION_LINGER_US	200

enum vmig_region_pass {
	VMIG_PASS_INITIAL,	/* every block, as initial data */
	VMIG_PASS_DIRTY,	/* the blocks known dirty */
	VMIG_PASS_FINAL,	/* STOP_COPY: never sent, or dirty */
};

/**
 * struct vmig_region - the core's side of a region session
 * @ops: the driver's
 * @sess: the session
 * @size: bytes of the region
 * @block: bytes per block
 * @type: record type
 * @per: blocks per record, at most
 * @nr_blocks: blocks of the region
 * @sent: blocks read with tracking; NULL without pre-copy
 * @dirty: blocks a scan found changed since
 * @track_bytes: memory of @sent and @dirty
 * @lock: protects the members below
 * @scan: someone asked for pending data: scan again
 * @initial_left: stream bytes of the initial image not yet added
 * @dirty_left: stream bytes of the blocks known dirty, not yet added
 * @scan_ns: duration of the last scan
 *
 * Only the worker touches the bitmaps.
 */
struct vmig_region {
	const struct vmig_region_ops *ops;
	struct vmig_session *sess;
	u64 size;
	u32 block;
	u32 type;
	u32 per;
	u32 nr_blocks;
	unsigned long *sent;
	unsigned long *dirty;
	u64 track_bytes;

	spinlock_t lock;	/* the members below */
	bool scan;
	u64 initial_left;
	u64 dirty_left;
	u64 scan_ns;
};

static u32 vmig_region_rec_size(struct vmig_region *r, u32 n)
{
	return vmig_stream_record_size(sizeof(struct vmig_region_rec) +
				       n * r->block);
}

/* Blocks per record of a region of @block-byte blocks in @chunk chunks. */
static u32 vmig_region_per(u32 block, u32 chunk)
{
	u32 hdr = vmig_stream_record_size(sizeof(struct vmig_region_rec));

	return chunk > hdr ? (chunk - hdr) / block : 0;
}

/**
 * vmig_region_stream_bytes() - stream bytes of a whole region
 * @size: bytes of the region
 * @block: bytes per block
 * @chunk_size: the session's chunk size (0: %VMIG_DEFAULT_CHUNK)
 *
 * What a region session without pre-copy adds for the region, record
 * headers included: for &struct vmig_ops.get_data_size, which adds its
 * tail.
 *
 * Return: the byte count, or 0 if no record of one block fits a chunk.
 */
u64 vmig_region_stream_bytes(u64 size, u32 block, u32 chunk_size)
{
	u32 per = vmig_region_per(block, chunk_size ?: VMIG_DEFAULT_CHUNK);
	u64 nr;

	if (!block || !per)
		return 0;
	nr = div_u64(size, block);
	return size + div_u64(nr + per - 1, per) *
		      vmig_stream_record_size(sizeof(struct vmig_region_rec));
}
EXPORT_SYMBOL_GPL(vmig_region_stream_bytes);

static bool vmig_region_stopped(struct vmig_region *r)
{
	return vmig_session_ended(r->sess);
}

/* Is the FSM in STOP_COPY?  Then the last pass is due. */
static bool vmig_region_final(struct vmig_region *r)
{
	return vmig_session_phase(r->sess) == VFIO_DEVICE_STATE_STOP_COPY;
}

static void vmig_region_idle(struct vmig_region *r)
{
	if (r->ops->idle)
		r->ops->idle(r->sess);
}

/* Give the CPU away if it is wanted, but never with the driver's window. */
static void vmig_region_resched(struct vmig_region *r)
{
	if (need_resched()) {
		vmig_region_idle(r);
		cond_resched();
	}
}

static void vmig_region_count(struct vmig_region *r, u64 *left, u64 bytes)
{
	spin_lock(&r->lock);
	*left -= min(*left, bytes);
	spin_unlock(&r->lock);
}

/* @n blocks known dirty went into the stream again. */
static void vmig_region_resent(struct vmig_region *r, u32 n)
{
	struct vmig_device *mig = vmig_session_device(r->sess);

	vmig_region_count(r, &r->dirty_left,
			  (u64)n * vmig_region_rec_size(r, 1));
	spin_lock(&mig->stats_lock);
	mig->region.resent_blocks += n;
	spin_unlock(&mig->stats_lock);
}

/*
 * Reserve a record of @len payload bytes.  With every chunk queued, the
 * driver may have the worker poll for a while (linger()) before it goes
 * idle and sleeps until the reader frees one.
 */
static void *vmig_region_reserve(struct vmig_region *r, u32 flags, u32 len)
{
	void *buf;

	flags |= VMIG_REC_MANDATORY;
	for (;;) {
		buf = vmig_save_reserve(r->sess, r->type, flags, len, false);
		if (buf != ERR_PTR(-ENOBUFS))
			return buf;
		if (!r->ops->linger || !r->ops->linger(r->sess))
			break;
		usleep_range(VMIG_REGION_LINGER_US, 2 * VMIG_REGION_LINGER_US);
	}
	vmig_region_idle(r);
	return vmig_save_reserve(r->sess, r->type, flags, len, true);
}

/* Add blocks [@first, @first + @n) as one record, read straight into it. */
static int vmig_region_send(struct vmig_region *r, u32 first, u32 n,
			    u32 flags, bool track)
{
	u64 off = (u64)first * r->block;
	struct vmig_region_rec *rec;
	int ret, tries = 0;

	rec = vmig_region_reserve(r, flags, sizeof(*rec) + n * r->block);
	if (IS_ERR(rec))
		return PTR_ERR(rec);
	rec->offset = cpu_to_le64(off);
	do {
		ret = r->ops->read(r->sess, off, n * r->block, rec->data, track);
	} while (ret == -EAGAIN && ++tries < VMIG_REGION_TRIES);
	if (ret) {
		vmig_save_cancel(r->sess);
		return ret == -EAGAIN ? -EIO : ret;
	}
	if (track) {
		bitmap_set(r->sent, first, n);
		bitmap_clear(r->dirty, first, n);
	}
	vmig_save_commit(r->sess);
	vmig_region_resched(r);
	return 0;
}

/* The first block in [@from, @end) that the pass sends, or @end. */
static u32 vmig_region_next(struct vmig_region *r, enum vmig_region_pass pass,
			    u32 from, u32 end)
{
	u32 unsent;

	if (from >= end)
		return end;
	switch (pass) {
	case VMIG_PASS_DIRTY:
		return find_next_bit(r->dirty, end, from);
	case VMIG_PASS_FINAL:
		if (!r->sent)
			return from;
		unsent = find_next_zero_bit(r->sent, end, from);
		return min_t(u32, unsent, find_next_bit(r->dirty, end, from));
	default:
		return from;
	}
}

/*
 * Blocks of the run from @first that the pass sends in one record: up
 * to a record's worth, within [@first, @end).
 */
static u32 vmig_region_run(struct vmig_region *r, enum vmig_region_pass pass,
			   u32 first, u32 end)
{
	u32 b;

	end = min(end, first + r->per);
	switch (pass) {
	case VMIG_PASS_DIRTY:
		return find_next_zero_bit(r->dirty, end, first) - first;
	case VMIG_PASS_FINAL:
		if (!r->sent)
			return end - first;
		for (b = first + 1; b < end; b++)
			if (test_bit(b, r->sent) && !test_bit(b, r->dirty))
				break;
		return b - first;
	default:
		return end - first;
	}
}

/*
 * Pre-copy: send what @pass sends, in runs of up to a record.  It gives
 * way to STOP_COPY at once, and what it framed goes to the reader: the
 * last pass covers what it left.
 */
static int vmig_region_pass(struct vmig_region *r, enum vmig_region_pass pass)
{
	u32 flags = pass == VMIG_PASS_INITIAL ? VMIG_REC_INITIAL : 0;
	u32 first, n;
	int ret;

	for (first = vmig_region_next(r, pass, 0, r->nr_blocks);
	     first < r->nr_blocks;
	     first = vmig_region_next(r, pass, first + n, r->nr_blocks)) {
		if (vmig_region_stopped(r))
			return -ENODEV;
		if (vmig_region_final(r))
			break;	/* the last pass sends the rest */
		n = vmig_region_run(r, pass, first, r->nr_blocks);
		ret = vmig_region_send(r, first, n, flags, true);
		if (ret)
			return ret;
		/* Only now: the core counts the record as unread. */
		if (pass == VMIG_PASS_INITIAL)
			vmig_region_count(r, &r->initial_left,
					  vmig_region_rec_size(r, n));
		else if (pass == VMIG_PASS_DIRTY)
			vmig_region_resent(r, n);
	}
	vmig_save_flush(r->sess);
	return 0;
}

/*
 * Ask the driver which of the @n blocks from @first changed, of those
 * sent and not known dirty, and mark those dirty.  Returns how many, or
 * -errno.
 */
static int vmig_region_probe(struct vmig_region *r, u32 first, u32 n)
{
	u64 want = 0, mask;
	int ret;
	u32 i;

	for (i = 0; i < n; i++)
		if (test_bit(first + i, r->sent) &&
		    !test_bit(first + i, r->dirty))
			want |= BIT_ULL(i);
	if (!want)
		return 0;
	mask = want;
	ret = r->ops->changed(r->sess, (u64)first * r->block, n, &mask);
	/*
	 * Not asked again: a driver that reads and clears a dirty log may
	 * have consumed what it would now miss.  All of them are dirty.
	 */
	if (ret == -EAGAIN)
		mask = want;
	else if (ret)
		return ret;
	mask &= want;
	for (i = 0; mask; mask &= mask - 1, i++)
		__set_bit(first + __ffs64(mask), r->dirty);
	vmig_region_resched(r);
	return i;
}

/* Pre-copy: mark what changed since it was sent; gives way to STOP_COPY. */
static int vmig_region_scan(struct vmig_region *r)
{
	struct vmig_device *mig = vmig_session_device(r->sess);
	u64 t0 = ktime_get_ns(), found = 0;
	u32 first, n;
	int ret;

	for (first = 0; first < r->nr_blocks; first += n) {
		if (vmig_region_stopped(r))
			return -ENODEV;
		if (vmig_region_final(r))
			return 0;
		n = min(VMIG_REGION_SCAN, r->nr_blocks - first);
		ret = vmig_region_probe(r, first, n);
		if (ret < 0)
			return ret;
		if (ret) {
			spin_lock(&r->lock);
			r->dirty_left += (u64)ret * vmig_region_rec_size(r, 1);
			spin_unlock(&r->lock);
		}
		found += ret;
	}
	t0 = ktime_get_ns() - t0;
	spin_lock(&r->lock);
	r->scan_ns = t0;
	spin_unlock(&r->lock);
	spin_lock(&mig->stats_lock);
	mig->region.scans++;
	mig->region.scan_ns = t0;
	spin_unlock(&mig->stats_lock);
	if (found)
		vmig_save_notify(r->sess);
	return 0;
}

static bool vmig_region_due(struct vmig_region *r)
{
	return READ_ONCE(r->scan) || vmig_region_final(r);
}

/* PRE_COPY: the initial image, then scans, until STOP_COPY. */
static int vmig_region_precopy(struct vmig_region *r)
{
	unsigned long pause;
	int ret;

	ret = vmig_region_pass(r, VMIG_PASS_INITIAL);
	while (!ret && !vmig_region_final(r)) {
		vmig_region_idle(r);
		spin_lock(&r->lock);
		pause = max(msecs_to_jiffies(VMIG_REGION_RESCAN_MS),
			    nsecs_to_jiffies(r->scan_ns));
		spin_unlock(&r->lock);
		/* Asked or not, a scan waits as long as the last one took. */
		vmig_feed_wait_timeout(r->sess, vmig_region_final(r), pause);
		vmig_feed_wait_timeout(r->sess, vmig_region_due(r), 3 * pause);
		if (vmig_region_stopped(r))
			return -ENODEV;
		if (vmig_region_final(r))
			break;
		WRITE_ONCE(r->scan, false);
		ret = vmig_region_scan(r);
		if (!ret)
			ret = vmig_region_pass(r, VMIG_PASS_DIRTY);
	}
	return ret;
}

/*
 * STOP_COPY: every block never sent or known dirty, and after pre-copy
 * those that changed since they were sent.  The compares run just ahead
 * of the sends, a record's worth at a time, so that the reader drains
 * the stream while the region is scanned.  Returns the blocks sent again
 * in *@resent.
 */
static int vmig_region_final_pass(struct vmig_region *r, u64 *resent)
{
	u32 first = 0, probed = 0, n, i;
	int ret;

	while (first < r->nr_blocks) {
		if (vmig_region_stopped(r))
			return -ENODEV;
		while (r->sent && probed < min(r->nr_blocks, first + r->per)) {
			n = min(VMIG_REGION_SCAN, r->nr_blocks - probed);
			ret = vmig_region_probe(r, probed, n);
			if (ret < 0)
				return ret;
			probed += n;
		}
		if (!r->sent)
			probed = r->nr_blocks;
		first = vmig_region_next(r, VMIG_PASS_FINAL, first, probed);
		if (first == probed)
			continue;	/* nothing to send there: compare on */
		n = vmig_region_run(r, VMIG_PASS_FINAL, first, probed);
		for (i = 0; r->sent && i < n; i++)
			*resent += test_bit(first + i, r->dirty);
		ret = vmig_region_send(r, first, n, 0, false);
		if (ret)
			return ret;
		first += n;
	}
	return 0;
}

/* STOP_COPY: the region, or what pre-copy left of it; the tail; the end. */
static int vmig_region_last(struct vmig_region *r)
{
	struct vmig_device *mig = vmig_session_device(r->sess);
	u64 t0 = ktime_get_ns(), resent = 0;
	int ret;

	ret = vmig_region_final_pass(r, &resent);
	vmig_region_idle(r);
	if (ret)
		return ret;
	spin_lock(&mig->stats_lock);
	mig->region.final_ns = ktime_get_ns() - t0;
	mig->region.resent_blocks += resent;
	spin_unlock(&mig->stats_lock);

	if (r->ops->tail) {
		if (vmig_region_stopped(r))
			return -ENODEV;
		ret = r->ops->tail(r->sess);
		vmig_region_idle(r);
		if (ret)
			return ret;
	}
	vmig_save_complete(r->sess);
	return 0;
}

/* &struct vmig_save_ops.feed of every region session. */
static int vmig_region_feed(struct vmig_session *sess)
{
	struct vmig_region *r = vmig_session_region(sess);
	int ret;

	ret = vmig_save_prealloc(sess);
	if (!ret && r->sent) {
		ret = vmig_region_precopy(r);
		vmig_region_idle(r);
	}
	if (ret)
		return ret;
	vmig_feed_wait(sess, vmig_region_final(r));
	if (vmig_region_stopped(r))
		return -ENODEV;
	return vmig_region_last(r);
}

static void vmig_region_pending(struct vmig_session *sess, u64 *initial,
				u64 *dirty)
{
	struct vmig_region *r = vmig_session_region(sess);

	spin_lock(&r->lock);
	*initial = r->initial_left;
	*dirty = r->dirty_left;
	WRITE_ONCE(r->scan, true);
	spin_unlock(&r->lock);
	vmig_feed_kick(sess);
}

static void vmig_region_free(struct vmig_region *r)
{
	kvfree(r->sent);
	kvfree(r->dirty);
	kfree(r);
}

static void vmig_region_release(struct vmig_session *sess)
{
	struct vmig_region *r = vmig_session_region(sess);

	/* The core waited for the feed: nobody else uses @r. */
	vmig_session_set_region(sess, NULL);
	r->ops->release(sess);
	vmig_region_free(r);
}

static const struct vmig_save_ops vmig_region_save_ops = {
	.feed = vmig_region_feed,
	.pending = vmig_region_pending,
	.release = vmig_region_release,
};

static int vmig_region_check(const struct vmig_region_ops *ops,
			     const struct vmig_region_cfg *rcfg, u32 chunk)
{
	if (!ops || !ops->read || !ops->release ||
	    (rcfg->precopy && !ops->changed))
		return -EINVAL;
	if (rcfg->block < 8 || !is_power_of_2(rcfg->block) || !rcfg->size ||
	    rcfg->size & (rcfg->block - 1) ||
	    div_u64(rcfg->size, rcfg->block) > VMIG_REGION_MAX_BLOCKS)
		return -EINVAL;
	if (rcfg->type < VMIG_REC_DRIVER_BASE || rcfg->type > VMIG_REC_MAX_TYPE)
		return -EINVAL;
	/* Larger chunks fail in vmig_save_open(). */
	if (chunk <= VMIG_MAX_CHUNK && !vmig_region_per(rcfg->block, chunk))
		return -EINVAL;
	return 0;
}

/**
 * vmig_region_save_open() - start a saving session fed from a region
 * @mig: the device, in an arc that starts a saving session
 * @ops: how to read the region; @ops->read and @ops->release are mandatory
 * @rcfg: the region
 * @cfg: identity, chunk size and driver data, as for vmig_save_open()
 *
 * The core runs the session's worker (see "Region sessions"); the driver
 * only reads.  Called with the state lock held, from the arc handler,
 * which returns the file.
 *
 * Return: the data file, or ERR_PTR(-EINVAL) for a bad configuration,
 * -ENOMEM, or an error of vmig_save_open().
 */
struct file *vmig_region_save_open(struct vmig_device *mig,
				   const struct vmig_region_ops *ops,
				   const struct vmig_region_cfg *rcfg,
				   const struct vmig_session_cfg *cfg)
{
	u32 chunk = cfg->chunk_size ?: VMIG_DEFAULT_CHUNK;
	struct vmig_region *r;
	struct file *file;
	size_t longs;
	int ret;

	lockdep_assert_held(&mig->state_lock);
	ret = vmig_region_check(ops, rcfg, chunk);
	if (ret)
		return ERR_PTR(ret);

	r = kzalloc(sizeof(*r), GFP_KERNEL_ACCOUNT);
	if (!r)
		return ERR_PTR(-ENOMEM);
	r->ops = ops;
	r->size = rcfg->size;
	r->block = rcfg->block;
	r->type = rcfg->type;
	r->nr_blocks = div_u64(rcfg->size, rcfg->block);
	r->per = min(vmig_region_per(r->block, chunk), r->nr_blocks);
	spin_lock_init(&r->lock);
	if (rcfg->precopy) {
		longs = BITS_TO_LONGS(r->nr_blocks);
		r->sent = kvcalloc(longs, sizeof(long), GFP_KERNEL_ACCOUNT);
		r->dirty = kvcalloc(longs, sizeof(long), GFP_KERNEL_ACCOUNT);
		if (!r->sent || !r->dirty) {
			file = ERR_PTR(-ENOMEM);
			goto err_free;
		}
		r->track_bytes = 2 * longs * sizeof(long);
		r->initial_left = vmig_region_stream_bytes(r->size, r->block,
							   chunk);
	}

	file = vmig_save_open(mig, &vmig_region_save_ops, cfg);
	if (IS_ERR(file))
		goto err_free;
	r->sess = vmig_file_session(file);
	/* Before the session is the device's: nothing runs it yet. */
	vmig_session_set_region(r->sess, r);
	/* A chunk with no room for one block goes to the reader at once. */
	vmig_session_set_min_record(r->sess, vmig_region_rec_size(r, 1));

	spin_lock(&mig->stats_lock);
	if (rcfg->precopy)
		mig->region.track_bytes = r->track_bytes;
	spin_unlock(&mig->stats_lock);
	return file;

err_free:
	vmig_region_free(r);
	return file;
}
EXPORT_SYMBOL_GPL(vmig_region_save_open);

/**
 * vmig_region_left() - what a region session has yet to send in pre-copy
 * @mig: the device; the state lock is held
 * @bytes: stream bytes of the unsent initial image, of the blocks known
 *	dirty, and of what is framed and not yet read (the stream header
 *	too, before it was read), on success
 *
 * For &struct vmig_ops.get_data_size during pre-copy: add the tail.
 *
 * Return: true if the device's session is a region session in a PRE_COPY
 * state; false otherwise, and @bytes is untouched.
 */
bool vmig_region_left(struct vmig_device *mig, u64 *bytes)
{
	struct vmig_session *sess = mig->session;
	struct vmig_region *r;

	lockdep_assert_held(&mig->state_lock);
	if (!sess || !vmig_session_is_save(sess))
		return false;
	r = vmig_session_region(sess);
	if (!r || !r->sent || (mig->state != VFIO_DEVICE_STATE_PRE_COPY &&
			       mig->state != VFIO_DEVICE_STATE_PRE_COPY_P2P))
		return false;
	spin_lock(&r->lock);
	*bytes = r->initial_left + r->dirty_left;
	spin_unlock(&r->lock);
	*bytes += vmig_session_unread(sess);
	return true;
}
EXPORT_SYMBOL_GPL(vmig_region_left);

/**
 * vmig_region_get_stats() - what the device's region sessions did
 * @mig: the device
 * @st: the totals, on return
 */
void vmig_region_get_stats(struct vmig_device *mig,
			   struct vmig_region_stats *st)
{
	spin_lock(&mig->stats_lock);
	*st = mig->region;
	spin_unlock(&mig->stats_lock);
}
EXPORT_SYMBOL_GPL(vmig_region_get_stats);

/* A line of the device's debugfs status; the state lock is held. */
void vmig_region_show(struct vmig_region *r, struct seq_file *m)
{
	u64 initial, dirty;

	spin_lock(&r->lock);
	initial = r->initial_left;
	dirty = r->dirty_left;
	spin_unlock(&r->lock);
	seq_printf(m, "region: %u blocks of %u bytes, %u per record, %s, left %llu initial + %llu dirty\n",
		   r->nr_blocks, r->block, r->per,
		   r->sent ? "pre-copy" : "stop-copy", initial, dirty);
}
