// SPDX-License-Identifier: GPL-2.0-only
/*
 * vmig-ivshmem-vfio-pci: a vfio-pci variant driver for QEMU's ivshmem-plain
 * device (1af4:1110) that migrates its memory and registers through the vmig
 * core: the FSM arcs, the data sessions and the save worker.  The device
 * commands are in cmd.c.
 */

#include <linux/build_bug.h>
#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/ktime.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vfio.h>
#include <linux/vfio_pci_core.h>
#include <linux/vmig.h>

#include "cmd.h"

/**
 * DOC: Saving
 *
 * A saving session is fed by the core's worker (&struct vmig_save_ops.feed,
 * ivsh_save_feed()), never by the reader: the reader only drains the
 * core's queue of at most %VMIG_SAVE_CHUNKS chunks of IVSH_CHUNK (512 KiB)
 * bytes, and the worker blocks in vmig_save_reserve() while all of them
 * are full, so BAR2 is read into one chunk while read() copies another
 * out.  Kernel memory for the stream is therefore 2 MiB whatever the size
 * of BAR2; memory records carry up to 508 KiB each, read straight from
 * BAR2 into the chunk.  The chunk size was measured: see "Benchmark" in
 * the driver's documentation.
 *
 * STOP_COPY from STOP.  The device is frozen: the worker sends all of BAR2
 * in memory records, then the registers captured at the freeze, then
 * completes the stream.
 *
 * PRE_COPY (from RUNNING, or PRE_COPY_P2P from RUNNING_P2P).  The worker
 * streams the initial image, every block once, as initial data, while the
 * device keeps running, and hashes each block as sent (see "Dirty
 * tracking").  Afterwards it scans BAR2 for blocks whose hash changed and
 * sends those as dirty data.  It rescans when asked, i.e. whenever
 * VFIO_MIG_GET_PRECOPY_INFO is called or a reader drained the queue (both
 * call &struct vmig_save_ops.pending), but not before a pause as long as
 * the last scan took, at least 100 ms, and on its own after four times
 * that: at most half a CPU goes to scanning however often userspace asks
 * (QEMU asks at every iteration), a fifth when nobody asks.  A scan that
 * finds changes calls vmig_save_notify() for poll().  pending reports, in stream
 * bytes: initial, the part of the initial image not yet added; dirty, the
 * blocks the last scans found changed and not yet added.  Changes a scan
 * has not reached yet are not counted: dirty is what is known.
 *
 * PRE_COPY_P2P -> STOP_COPY freezes the device, and the worker, whatever it
 * was doing, makes one final pass over BAR2: blocks never sent, blocks
 * known dirty and blocks whose hash changed go into the stream, then the
 * registers.  After an idle pre-copy, STOP_COPY thus sends little more than
 * the registers.
 *
 * &struct vmig_ops.get_data_size (VFIO_DEVICE_FEATURE_MIG_DATA_SIZE) is
 * the full state without a pre-copy session, and the unsent initial image
 * plus the known dirty blocks and the registers during one.
 *
 * Every read of BAR2 happens in an access window (see "Access windows"),
 * with memory decoding forced on if userspace turned it off, in PRE_COPY as
 * in STOP_COPY.  The worker keeps its window open from one read to the
 * next (records, and scans of 64 blocks) and closes it after 16 MiB of
 * BAR2 or 20 ms, as soon as a writer of memory_lock waits or the CPU is
 * wanted, and before it waits for anything (a free chunk, a request, the
 * switchover; only a window that forced decoding on polls for a free
 * chunk while it may last); after a window it stays out for at least
 * 500 us, so that the config accesses and hot resets that found it open,
 * and that it cannot see waiting, get their turn.  So a pass over BAR2 with decoding
 * off turns it on and off a few times, not once per 256 KiB: each turn is
 * two config writes, and under a hypervisor a change of the guest's
 * memory map.  debugfs counts the windows and those that forced decoding
 * on.  Each read is checked
 * (decoding still on, see ivsh_cmd_access_check()) before anything uses
 * it; a read found disturbed is done again in a new window.  Nothing is
 * hashed or marked dirty before its check, so a disturbed read neither
 * reaches the stream nor the tracker.
 *
 * The core ends the session (the FSM left the saving group, a reset, a
 * close): the worker sees vmig_session_ended() and returns, the core waits
 * for it, then calls the release op, which frees the session's data.  The
 * worker takes no lock but its own spinlock and, for a window,
 * vfio-pci-core's memory_lock, which it only tries: never the state lock,
 * and it never waits for memory_lock.  It allocates the session's chunks
 * before its first window (vmig_save_prealloc()), and in a window adds
 * records only to free chunks (vmig_save_reserve() without waiting), so
 * nothing in a window sleeps but that poll.  A worker that fails for any reason but the
 * end of its session fails the stream with its error.
 */

/**
 * DOC: Resuming
 *
 * Each record is checked (see ivsh_cmd_load()) and applied as it arrives:
 * memory records to BAR2 at once, the registers at RESUMING -> STOP, which
 * also fails with -EINVAL if the stream had none.  The identity is checked
 * by the core from the stream header: a stream of a BAR2 of another size,
 * or of another format version, fails the first write with -EINVAL.
 *
 * After a bad record, or a stream refused for its identity or envelope,
 * the FSM stays in RESUMING and RESUMING -> STOP keeps failing with the
 * stream's error.  BAR2 then holds the memory records loaded before the
 * bad one, and the registers are untouched.  The VMM resets the device
 * (VFIO_DEVICE_RESET: RUNNING, registers cleared; ivshmem keeps its
 * memory across a reset) or starts a new stream after a reset.
 */

/* Chunks of the stream queue (see "Benchmark" in the documentation). */
#define IVSH_CHUNK		(512 * 1024)
/* The worker's pause between scans nobody asked for, at least. */
#define IVSH_RESCAN_MIN_MS	100
/* Blocks a scan looks at in one access window: 256 KiB. */
#define IVSH_PROBE_BLOCKS	64U
static_assert(IVSH_PROBE_BLOCKS <= 64);	/* a u64 of changed blocks */
/* A read whose access window was disturbed is redone at most this often. */
#define IVSH_ACCESS_REDO	3
/* The worker's access window covers at most this much of BAR2 ... */
#define IVSH_WINDOW_BYTES	(16 * 1024 * 1024)
/* ... and lasts at most this long ... */
#define IVSH_WINDOW_MS		20
/* ... and the next opens this long after it closed, at least. */
#define IVSH_WINDOW_GAP_US	500
/* In a window, a worker with every chunk queued looks again this often. */
#define IVSH_QUEUE_POLL_US	200
/* The worker's pause between tries for an access window, at least. */
#define IVSH_ACCESS_POLL_US	500

/* Read when a device is bound: a change applies to devices bound later. */
static bool ivsh_precopy = true;
module_param_named(precopy, ivsh_precopy, bool, 0644);
MODULE_PARM_DESC(precopy,
		 "Offer PRE_COPY to devices bound from now on (default: Y); with N, QEMU migrates them in STOP_COPY alone");

/**
 * struct ivsh_save - a saving session's state
 * @ivsh: the device
 * @sess: the core's session
 * @trk: the dirty tracker; NULL for a session without pre-copy
 * @scratch: one block, for scans
 * @rec_max: data bytes per memory record
 * @nr_blocks: blocks of BAR2
 * @window: the worker holds an access window open
 * @window_bytes: bytes of BAR2 read in the open window
 * @window_end: jiffies at which the open window must close
 * @reopen_at: the next window opens no earlier than this
 * @lock: protects the members below
 * @final: STOP_COPY: the last pass, the registers, the end
 * @scan: someone asked for pending data: scan again
 * @regs: the registers for the REGS record, from the freeze
 * @initial_left: stream bytes of the initial image not yet added
 * @dirty_left: stream bytes of blocks known dirty and not yet added
 * @scan_ns: duration of the last scan
 */
struct ivsh_save {
	struct ivsh_device *ivsh;
	struct vmig_session *sess;
	struct ivsh_tracker *trk;
	void *scratch;
	u32 rec_max;
	u32 nr_blocks;
	bool window;
	u32 window_bytes;
	unsigned long window_end;
	ktime_t reopen_at;

	spinlock_t lock;	/* the members below */
	bool final;
	bool scan;
	struct ivsh_regs regs;
	u64 initial_left;
	u64 dirty_left;
	u64 scan_ns;
};

/* Stream bytes one block takes as a record of its own. */
static u32 ivsh_block_rec(void)
{
	return vmig_stream_record_size(sizeof(struct ivsh_rec_mem) + IVSH_BLOCK);
}

static struct ivsh_device *ivsh_from_vdev(struct vfio_device *vdev)
{
	return container_of(vdev, struct ivsh_device, core.vdev);
}

static struct ivsh_device *ivsh_from_mig(struct vmig_device *mig)
{
	return container_of(mig, struct ivsh_device, mig);
}

/* ---------------------------------------------------------------------- */
/* The save worker.                                                       */

static bool ivsh_save_stopped(struct ivsh_save *s)
{
	return vmig_session_ended(s->sess);
}

static bool ivsh_save_final(struct ivsh_save *s)
{
	return READ_ONCE(s->final);
}

static void ivsh_save_account(struct ivsh_save *s, u64 *left, u64 bytes)
{
	spin_lock(&s->lock);
	*left -= min(*left, bytes);
	spin_unlock(&s->lock);
}

/*
 * The worker's access window (see "Access windows" and "Saving").  It
 * stays open from one read to the next, so that a pass over BAR2 whose
 * decoding is off turns it on and off once per window, not once per read,
 * and closes when it covered IVSH_WINDOW_BYTES or lasted IVSH_WINDOW_MS,
 * when a writer of memory_lock waits, when the CPU is wanted, and before
 * anything that may wait: a full queue, the wait for a request, the end.
 *
 * memory_lock is only tried: a reset may hold it for writing while it
 * waits for the state lock, and ending the session waits for the worker.
 * So poll, never wait, until the window opens or the session ends.
 */
static int ivsh_save_open(struct ivsh_save *s)
{
	int ret;

	s64 gap;

	if (s->window)
		return 0;
	gap = ktime_us_delta(s->reopen_at, ktime_get());
	if (gap > 0)
		usleep_range(gap, gap + IVSH_WINDOW_GAP_US);
	while ((ret = ivsh_cmd_access_try(s->ivsh)) == -EAGAIN) {
		if (ivsh_save_stopped(s))
			return -ENODEV;
		usleep_range(IVSH_ACCESS_POLL_US, 2 * IVSH_ACCESS_POLL_US);
	}
	if (ret)
		return ret;
	s->window = true;
	s->window_bytes = 0;
	s->window_end = jiffies + msecs_to_jiffies(IVSH_WINDOW_MS);
	return 0;
}

static void ivsh_save_close(struct ivsh_save *s)
{
	if (!s->window)
		return;
	s->window = false;
	/* Each read was checked before its use: the verdict adds nothing. */
	ivsh_cmd_access_end(s->ivsh);
	s->reopen_at = ktime_add_us(ktime_get(), IVSH_WINDOW_GAP_US);
}

/* May the open window stay open a while longer? */
static bool ivsh_save_window_ok(struct ivsh_save *s)
{
	return s->window_bytes < IVSH_WINDOW_BYTES &&
	       time_before(jiffies, s->window_end) && !need_resched() &&
	       !ivsh_cmd_access_wanted(s->ivsh);
}

/*
 * After a read of @bytes of BAR2 and its accounting: close the window
 * when it is due.  The next opens IVSH_WINDOW_GAP_US after it closed at
 * the earliest, whatever closed it (see ivsh_save_open()): a config access
 * that found the window open sleeps in the PCI core until it closes, and
 * a hot reset only tries memory_lock; neither shows up in
 * ivsh_cmd_access_wanted(), and both would find the next window open
 * again if it followed at once.
 */
static void ivsh_save_yield(struct ivsh_save *s, u32 bytes)
{
	if (s->window) {
		s->window_bytes += bytes;
		if (ivsh_save_window_ok(s))
			return;
		ivsh_save_close(s);
	}
	cond_resched();
}

/*
 * Start a record of @len payload bytes.  With every chunk queued, the
 * window closes and the worker waits for the reader; but a window that
 * forced decoding on polls for a free chunk as long as it may last anyway,
 * so that a reader slower than the worker does not cost two config writes
 * and a change of a hypervisor's memory map per chunk.  That is the one
 * sleep inside a window.
 */
static void *ivsh_save_reserve(struct ivsh_save *s, u32 type, u32 flags,
			       u32 len)
{
	void *buf;

	flags |= VMIG_REC_MANDATORY;
	while (s->window) {
		buf = vmig_save_reserve(s->sess, type, flags, len, false);
		if (buf != ERR_PTR(-ENOBUFS))
			return buf;
		if (!ivsh_cmd_access_forced(s->ivsh) ||
		    !ivsh_save_window_ok(s)) {
			ivsh_save_close(s);
			break;
		}
		usleep_range(IVSH_QUEUE_POLL_US, 2 * IVSH_QUEUE_POLL_US);
	}
	return vmig_save_reserve(s->sess, type, flags, len, true);
}

/* Add blocks [@block, @block + @n) as one record, read straight into it. */
static int ivsh_save_run(struct ivsh_save *s, u32 block, u32 n, u32 flags)
{
	int ret, tries = 0;
	void *buf;

	buf = ivsh_save_reserve(s, IVSH_REC_MEM, flags,
				sizeof(struct ivsh_rec_mem) + n * IVSH_BLOCK);
	if (IS_ERR(buf))
		return PTR_ERR(buf);
	/* Not committed on error: the session fails or has ended. */
	do {
		ret = ivsh_save_open(s);
		if (ret)
			return ret;
		ivsh_cmd_read_mem(s->ivsh, block, n, buf);
		ret = ivsh_cmd_access_check(s->ivsh);
		if (ret)
			ivsh_save_close(s);
	} while (ret == -EAGAIN && ++tries < IVSH_ACCESS_REDO);
	if (ret)
		return ret == -EAGAIN ? -EIO : ret;
	/* The final pass compares nothing afterwards: no hashing there. */
	if (s->trk && !ivsh_save_final(s))
		ivsh_cmd_track_mem(s->trk, block, n, buf);
	vmig_save_commit(s->sess);
	return 0;
}

/*
 * Look at up to @n blocks from @block that are not known dirty, in one
 * access window, for changes since they were sent; with @first, stop after
 * the first that changed.  Bit i of *@changed is set for block @block + i;
 * *@seen tells how many blocks were looked at, and the scratch block holds
 * the content of the last.
 */
static int ivsh_save_probe(struct ivsh_save *s, u32 block, u32 n, bool first,
			   u64 *changed, u32 *seen)
{
	int ret, tries = 0;
	u32 i;

	do {
		ret = ivsh_save_open(s);
		if (ret)
			return ret;
		*changed = 0;
		for (i = 0; i < n; i++) {
			if (test_bit(block + i, s->trk->dirty) ||
			    !ivsh_cmd_block_changed(s->ivsh, s->trk, block + i,
						    s->scratch))
				continue;
			*changed |= BIT_ULL(i);
			if (first) {
				i++;
				break;
			}
		}
		*seen = i;
		ret = ivsh_cmd_access_check(s->ivsh);
		if (ret)
			ivsh_save_close(s);
	} while (ret == -EAGAIN && ++tries < IVSH_ACCESS_REDO);
	return ret == -EAGAIN ? -EIO : ret;
}

/* PRE_COPY: every block once, as initial data, until STOP_COPY comes. */
static int ivsh_save_initial(struct ivsh_save *s)
{
	u32 per = s->rec_max / IVSH_BLOCK, block, n;
	int ret;

	for (block = 0; block < s->nr_blocks; block += n) {
		if (ivsh_save_stopped(s))
			return -ENODEV;
		if (ivsh_save_final(s))
			return 0;	/* the final pass sends the rest */
		n = min(per, s->nr_blocks - block);
		ret = ivsh_save_run(s, block, n, VMIG_REC_INITIAL);
		if (ret)
			return ret;
		/* Only now: the core counts the record as unread. */
		ivsh_save_account(s, &s->initial_left,
				  ivsh_cmd_mem_stream_bytes((u64)n * IVSH_BLOCK,
							    s->rec_max));
		ivsh_save_yield(s, n * IVSH_BLOCK);
	}
	vmig_save_flush(s->sess);
	return 0;
}

/* PRE_COPY: look for blocks that changed since they were sent. */
static int ivsh_save_scan(struct ivsh_save *s)
{
	struct ivsh_stats *st = &s->ivsh->stats;
	u32 block, n, seen, found = 0, here;
	u64 t0 = ktime_get_ns(), changed;
	int ret;

	for (block = 0; block < s->nr_blocks; block += n) {
		if (ivsh_save_stopped(s))
			return -ENODEV;
		if (ivsh_save_final(s))
			return 0;
		n = min(IVSH_PROBE_BLOCKS, s->nr_blocks - block);
		ret = ivsh_save_probe(s, block, n, false, &changed, &seen);
		if (ret)
			return ret;
		for (here = 0; changed; changed &= changed - 1, here++)
			__set_bit(block + __ffs64(changed), s->trk->dirty);
		if (here) {
			spin_lock(&s->lock);
			s->dirty_left += (u64)here * ivsh_block_rec();
			spin_unlock(&s->lock);
			found += here;
		}
		ivsh_save_yield(s, n * IVSH_BLOCK);
	}
	spin_lock(&s->lock);
	s->scan_ns = ktime_get_ns() - t0;
	spin_unlock(&s->lock);
	spin_lock(&st->lock);
	st->scans++;
	st->scan_ns = s->scan_ns;
	spin_unlock(&st->lock);
	if (found)
		vmig_save_notify(s->sess);
	return 0;
}

/* PRE_COPY: send the blocks a scan found dirty, runs in one record. */
static int ivsh_save_dirty(struct ivsh_save *s)
{
	u32 per = s->rec_max / IVSH_BLOCK, block, end, n;
	struct ivsh_stats *st = &s->ivsh->stats;
	int ret;

	block = find_first_bit(s->trk->dirty, s->nr_blocks);
	while (block < s->nr_blocks) {
		if (ivsh_save_stopped(s))
			return -ENODEV;
		if (ivsh_save_final(s))
			return 0;
		end = find_next_zero_bit(s->trk->dirty, s->nr_blocks, block);
		n = min(end - block, per);
		ret = ivsh_save_run(s, block, n, 0);
		if (ret)
			return ret;
		ivsh_save_account(s, &s->dirty_left, (u64)n * ivsh_block_rec());
		spin_lock(&st->lock);
		st->resent_blocks += n;
		spin_unlock(&st->lock);
		ivsh_save_yield(s, n * IVSH_BLOCK);
		block = find_next_bit(s->trk->dirty, s->nr_blocks, block + n);
	}
	vmig_save_flush(s->sess);
	return 0;
}

static bool ivsh_save_must_send(struct ivsh_save *s, u32 block)
{
	return !test_bit(block, s->trk->sent) || test_bit(block, s->trk->dirty);
}

/* STOP_COPY after pre-copy: what was never sent, and what changed. */
static int ivsh_save_delta(struct ivsh_save *s)
{
	u32 per = s->rec_max / IVSH_BLOCK, block = 0, n, seen;
	struct ivsh_stats *st = &s->ivsh->stats;
	u64 resent = 0, changed;
	void *buf;
	int ret;

	while (block < s->nr_blocks) {
		if (ivsh_save_stopped(s))
			return -ENODEV;
		if (ivsh_save_must_send(s, block)) {
			for (n = 1; n < per && block + n < s->nr_blocks &&
			     ivsh_save_must_send(s, block + n); n++)
				;
			ret = ivsh_save_run(s, block, n, 0);
			if (ret)
				return ret;
			ivsh_save_yield(s, n * IVSH_BLOCK);
			block += n;
			continue;
		}
		for (n = 1; n < IVSH_PROBE_BLOCKS && block + n < s->nr_blocks &&
		     !ivsh_save_must_send(s, block + n); n++)
			;
		ret = ivsh_save_probe(s, block, n, true, &changed, &seen);
		if (ret)
			return ret;
		block += seen;
		if (changed) {
			/* The last block looked at, in the scratch block. */
			buf = ivsh_save_reserve(s, IVSH_REC_MEM, 0,
						sizeof(struct ivsh_rec_mem) +
						IVSH_BLOCK);
			if (IS_ERR(buf))
				return PTR_ERR(buf);
			ivsh_cmd_save_mem_copy(s->trk, block - 1, s->scratch,
					       buf);
			vmig_save_commit(s->sess);
			resent++;
		}
		ivsh_save_yield(s, seen * IVSH_BLOCK);
	}
	spin_lock(&st->lock);
	st->resent_blocks += resent;
	spin_unlock(&st->lock);
	return 0;
}

/* STOP_COPY without pre-copy: all of BAR2. */
static int ivsh_save_all(struct ivsh_save *s)
{
	u32 per = s->rec_max / IVSH_BLOCK, block, n;
	int ret;

	for (block = 0; block < s->nr_blocks; block += n) {
		if (ivsh_save_stopped(s))
			return -ENODEV;
		n = min(per, s->nr_blocks - block);
		ret = ivsh_save_run(s, block, n, 0);
		if (ret)
			return ret;
		ivsh_save_yield(s, n * IVSH_BLOCK);
	}
	return 0;
}

/* STOP_COPY: memory, then the registers, then the end of the stream. */
static int ivsh_save_last(struct ivsh_save *s)
{
	struct ivsh_stats *st = &s->ivsh->stats;
	u64 t0 = ktime_get_ns();
	struct ivsh_regs regs;
	void *buf;
	int ret;

	ret = s->trk ? ivsh_save_delta(s) : ivsh_save_all(s);
	ivsh_save_close(s);
	if (ret)
		return ret;
	spin_lock(&st->lock);
	st->final_ns = ktime_get_ns() - t0;
	spin_unlock(&st->lock);

	spin_lock(&s->lock);
	regs = s->regs;
	spin_unlock(&s->lock);
	buf = ivsh_save_reserve(s, IVSH_REC_REGS, 0,
				sizeof(struct ivsh_rec_regs));
	if (IS_ERR(buf))
		return PTR_ERR(buf);
	ivsh_cmd_save_regs(&regs, buf);
	vmig_save_commit(s->sess);
	vmig_save_complete(s->sess);
	return 0;
}

static bool ivsh_save_due(struct ivsh_save *s)
{
	return READ_ONCE(s->final) || READ_ONCE(s->scan);
}

/* PRE_COPY: scan and send changed blocks, when asked or now and then. */
static int ivsh_save_precopy(struct ivsh_save *s)
{
	unsigned long pause;
	int ret;

	ret = ivsh_save_initial(s);
	while (!ret && !ivsh_save_final(s)) {
		ivsh_save_close(s);
		spin_lock(&s->lock);
		pause = max_t(unsigned long,
			      msecs_to_jiffies(IVSH_RESCAN_MIN_MS),
			      nsecs_to_jiffies(s->scan_ns));
		spin_unlock(&s->lock);
		/* Asked or not, a scan waits as long as the last one took. */
		vmig_feed_wait_timeout(s->sess, ivsh_save_final(s), pause);
		vmig_feed_wait_timeout(s->sess, ivsh_save_due(s), 3 * pause);
		if (ivsh_save_stopped(s))
			return -ENODEV;
		if (ivsh_save_final(s))
			break;
		WRITE_ONCE(s->scan, false);
		ret = ivsh_save_scan(s);
		if (!ret)
			ret = ivsh_save_dirty(s);
	}
	return ret;
}

/* &struct vmig_save_ops.feed: the session's worker, run by the core. */
static int ivsh_save_feed(struct vmig_session *sess)
{
	struct ivsh_save *s = vmig_session_priv(sess);
	int ret;

	/* Reservations inside a window must not sleep in an allocation. */
	ret = vmig_save_prealloc(sess);
	if (!ret && s->trk)
		ret = ivsh_save_precopy(s);
	ivsh_save_close(s);
	if (ret)
		return ret;
	vmig_feed_wait(sess, ivsh_save_final(s));
	return ivsh_save_stopped(s) ? -ENODEV : ivsh_save_last(s);
}

/* ---------------------------------------------------------------------- */
/* Saving sessions.                                                       */

static void ivsh_save_pending(struct vmig_session *sess, u64 *initial,
			      u64 *dirty)
{
	struct ivsh_save *s = vmig_session_priv(sess);

	spin_lock(&s->lock);
	*initial = s->initial_left;
	*dirty = s->dirty_left;
	s->scan = true;
	spin_unlock(&s->lock);
	vmig_feed_kick(sess);
}

static void ivsh_save_free(struct ivsh_save *s)
{
	ivsh_tracker_free(s->trk);
	kfree(s->scratch);
	kfree(s);
}

static void ivsh_save_release(struct vmig_session *sess)
{
	struct ivsh_save *s = vmig_session_priv(sess);

	/* The core waited for ivsh_save_feed() to return. */
	s->ivsh->save = NULL;
	ivsh_save_free(s);
}

static const struct vmig_save_ops ivsh_save_ops = {
	.feed = ivsh_save_feed,
	.pending = ivsh_save_pending,
	.release = ivsh_save_release,
};

/* Start a saving session: with pre-copy, or the final pass at once. */
static struct file *ivsh_save_start(struct ivsh_device *ivsh, bool precopy)
{
	struct vmig_session_cfg cfg = {
		.chunk_size = IVSH_CHUNK,
	};
	struct ivsh_save *s;
	struct file *file;
	u64 track = 0;

	s = kzalloc(sizeof(*s), GFP_KERNEL_ACCOUNT);
	if (!s)
		return ERR_PTR(-ENOMEM);
	s->ivsh = ivsh;
	s->rec_max = ivsh_cmd_mem_rec_max(IVSH_CHUNK);
	s->nr_blocks = ivsh->bar2_size / IVSH_BLOCK;
	spin_lock_init(&s->lock);
	if (precopy) {
		s->trk = ivsh_tracker_alloc(ivsh->bar2_size);
		s->scratch = kmalloc(IVSH_BLOCK, GFP_KERNEL_ACCOUNT);
		if (!s->trk || !s->scratch) {
			file = ERR_PTR(-ENOMEM);
			goto err_free;
		}
		s->initial_left = ivsh_cmd_mem_stream_bytes(ivsh->bar2_size,
							    s->rec_max);
		track = s->trk->bytes + IVSH_BLOCK;
	} else {
		/* From STOP: frozen already. */
		s->final = true;
		s->regs = ivsh->frozen;
	}

	cfg.priv = s;
	file = vmig_save_open(&ivsh->mig, &ivsh_save_ops, &cfg);
	if (IS_ERR(file))
		goto err_free;
	s->sess = vmig_file_session(file);
	ivsh->save = s;

	spin_lock(&ivsh->stats.lock);
	ivsh->stats.saves++;
	ivsh->stats.track_bytes = track;
	spin_unlock(&ivsh->stats.lock);
	return file;

err_free:
	ivsh_save_free(s);
	return file;
}

/* PRE_COPY_P2P -> STOP_COPY: the device is frozen, send the rest. */
static void ivsh_save_finish(struct ivsh_device *ivsh)
{
	struct ivsh_save *s = ivsh->save;

	if (WARN_ON_ONCE(!s))
		return;
	spin_lock(&s->lock);
	s->regs = ivsh->frozen;
	s->initial_left = 0;
	s->dirty_left = 0;
	WRITE_ONCE(s->final, true);
	spin_unlock(&s->lock);
	vmig_feed_kick(s->sess);
}

/* ---------------------------------------------------------------------- */
/* Resuming sessions.                                                     */

static int ivsh_resume_load(struct vmig_session *sess, u32 type,
			    const void *data, u32 len)
{
	struct ivsh_device *ivsh = ivsh_from_mig(vmig_session_device(sess));
	int ret;

	ret = ivsh_cmd_load(ivsh, vmig_session_priv(sess), type, data, len);
	if (!ret) {
		spin_lock(&ivsh->stats.lock);
		ivsh->stats.loads++;
		spin_unlock(&ivsh->stats.lock);
	}
	return ret;
}

static void ivsh_resume_release(struct vmig_session *sess)
{
	struct ivsh_device *ivsh = ivsh_from_mig(vmig_session_device(sess));

	ivsh->resume = NULL;
	kfree(vmig_session_priv(sess));
}

static const struct vmig_resume_ops ivsh_resume_ops = {
	.load = ivsh_resume_load,
	.release = ivsh_resume_release,
};

static struct file *ivsh_resume_start(struct ivsh_device *ivsh)
{
	struct vmig_session_cfg cfg = {
		.chunk_size = sizeof(struct ivsh_rec_mem) + IVSH_MEM_MAX_DATA,
	};
	struct ivsh_resume *res;
	struct file *file;

	res = kzalloc(sizeof(*res), GFP_KERNEL_ACCOUNT);
	if (!res)
		return ERR_PTR(-ENOMEM);
	cfg.priv = res;
	file = vmig_resume_open(&ivsh->mig, &ivsh_resume_ops, &cfg);
	if (IS_ERR(file)) {
		kfree(res);
		return file;
	}
	ivsh->resume = res;
	return file;
}

/* ---------------------------------------------------------------------- */
/* The FSM arcs.                                                          */

static struct file *ivsh_step(struct vmig_device *mig,
			      enum vfio_device_mig_state from,
			      enum vfio_device_mig_state to)
{
	struct ivsh_device *ivsh = ivsh_from_mig(mig);
	int ret;

	switch (VMIG_ARC(from, to)) {
	/* Arcs that only end a session: the core ends it. */
	case VMIG_ARC_OF(STOP_COPY, STOP):
	case VMIG_ARC_OF(PRE_COPY, RUNNING):
	case VMIG_ARC_OF(PRE_COPY_P2P, RUNNING_P2P):
		return NULL;

	/* Quiesce and freeze, and their way back. */
	case VMIG_ARC_OF(RUNNING, RUNNING_P2P):
	case VMIG_ARC_OF(PRE_COPY, PRE_COPY_P2P):
		ret = ivsh_cmd_quiesce(ivsh);
		break;
	case VMIG_ARC_OF(RUNNING_P2P, RUNNING):
	case VMIG_ARC_OF(PRE_COPY_P2P, PRE_COPY):
		ret = ivsh_cmd_unquiesce(ivsh);
		break;
	case VMIG_ARC_OF(RUNNING_P2P, STOP):
		ret = ivsh_cmd_freeze(ivsh);
		break;
	case VMIG_ARC_OF(STOP, RUNNING_P2P):
		ret = ivsh_cmd_unfreeze(ivsh);
		break;

	/* Arcs that start a session. */
	case VMIG_ARC_OF(RUNNING, PRE_COPY):
	case VMIG_ARC_OF(RUNNING_P2P, PRE_COPY_P2P):
		return ivsh_save_start(ivsh, true);
	case VMIG_ARC_OF(STOP, STOP_COPY):
		return ivsh_save_start(ivsh, false);
	case VMIG_ARC_OF(STOP, RESUMING):
		return ivsh_resume_start(ivsh);

	/* Within a session. */
	case VMIG_ARC_OF(PRE_COPY_P2P, STOP_COPY):
		ret = ivsh_cmd_freeze(ivsh);
		if (!ret)
			ivsh_save_finish(ivsh);
		break;
	case VMIG_ARC_OF(RESUMING, STOP):
		ret = ivsh->resume ? ivsh_cmd_load_commit(ivsh, ivsh->resume) :
				     -EINVAL;
		break;

	default:
		/* The core asks only for the arcs of P2P | PRE_COPY. */
		WARN_ON_ONCE(1);
		ret = -EINVAL;
	}
	return ret ? ERR_PTR(ret) : NULL;
}

static int ivsh_get_data_size(struct vmig_device *mig, unsigned long *bytes)
{
	struct ivsh_device *ivsh = ivsh_from_mig(mig);
	struct ivsh_save *s = ivsh->save;
	u64 size;

	if (s && s->trk && !READ_ONCE(s->final)) {
		spin_lock(&s->lock);
		size = s->initial_left + s->dirty_left;
		spin_unlock(&s->lock);
		size += vmig_stream_record_size(sizeof(struct ivsh_rec_regs));
	} else {
		size = ivsh_cmd_state_size(ivsh, ivsh_cmd_mem_rec_max(IVSH_CHUNK));
	}
	*bytes = size;
	return 0;
}

static struct vmig_device *ivsh_vdev_mig(struct vfio_device *vdev)
{
	return &ivsh_from_vdev(vdev)->mig;
}

static const struct vmig_vfio_ops ivsh_mig_vfio_ops = VMIG_VFIO_OPS(ivsh_vdev_mig);

static const struct vmig_ops ivsh_mig_ops = {
	.migration_step_device_state = ivsh_step,
	.get_data_size = ivsh_get_data_size,
	.vfio_ops = &ivsh_mig_vfio_ops,
};

/* ---------------------------------------------------------------------- */
/* debugfs: the driver's part of the device's directory.                  */

static int ivsh_debugfs_show(struct seq_file *m, void *unused)
{
	struct ivsh_device *ivsh = m->private;
	struct ivsh_stats st;

	spin_lock(&ivsh->stats.lock);
	st = ivsh->stats;
	spin_unlock(&ivsh->stats.lock);
	seq_printf(m, "bar2 size: %llu\n", ivsh->bar2_size);
	seq_printf(m, "block size: %u\n", IVSH_BLOCK);
	seq_printf(m, "chunk size: %u\n", IVSH_CHUNK);
	seq_printf(m, "saves: %llu\n", st.saves);
	seq_printf(m, "tracking memory: %llu\n", st.track_bytes);
	seq_printf(m, "scans: %llu\n", st.scans);
	seq_printf(m, "last scan ns: %llu\n", st.scan_ns);
	seq_printf(m, "last final pass ns: %llu\n", st.final_ns);
	seq_printf(m, "resent blocks: %llu\n", st.resent_blocks);
	seq_printf(m, "access windows: %llu\n", st.windows);
	seq_printf(m, "decoding forced: %llu\n", st.decode_forced);
	seq_printf(m, "records loaded: %llu\n", st.loads);
	seq_printf(m, "reset: %s\n", st.reset);
	seq_printf(m, "emulated resets: %llu\n", st.emulated_resets);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(ivsh_debugfs);

/* ---------------------------------------------------------------------- */
/* vfio glue.                                                             */

static int ivsh_init_dev(struct vfio_device *vdev)
{
	struct ivsh_device *ivsh = ivsh_from_vdev(vdev);
	struct ivsh_stream_id id;
	struct dentry *dir;
	int ret;

	ret = vfio_pci_core_init_dev(vdev);
	if (ret)
		return ret;
	ret = ivsh_cmd_probe(to_pci_dev(vdev->dev), &ivsh->bar2_size);
	if (ret)
		goto err_release_core;
	spin_lock_init(&ivsh->access_lock);
	spin_lock_init(&ivsh->stats.lock);
	ivsh->stats.reset = "unknown until the first open";
	ret = vmig_init(&ivsh->mig, vdev, &ivsh_mig_ops,
			VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P |
			(READ_ONCE(ivsh_precopy) ? VFIO_MIGRATION_PRE_COPY : 0));
	if (ret)
		goto err_release_core;
	ivsh_cmd_stream_id(ivsh, &id);
	ret = vmig_set_stream_id(&ivsh->mig, &id, sizeof(id));
	if (ret)
		goto err_uninit_mig;
	dir = vmig_debugfs_dir(&ivsh->mig);
	/* Beside the core's files, never in the debugfs root. */
	if (!IS_ERR_OR_NULL(dir))
		debugfs_create_file("ivshmem", 0444, dir, ivsh,
				    &ivsh_debugfs_fops);
	return 0;

err_uninit_mig:
	vmig_uninit(&ivsh->mig);
err_release_core:
	vfio_pci_core_release_dev(vdev);
	return ret;
}

static void ivsh_release_dev(struct vfio_device *vdev)
{
	struct ivsh_device *ivsh = ivsh_from_vdev(vdev);

	vmig_uninit(&ivsh->mig);
	vfio_pci_core_release_dev(vdev);
}

static int ivsh_open_device(struct vfio_device *vdev)
{
	struct ivsh_device *ivsh = ivsh_from_vdev(vdev);
	int ret;

	ret = vfio_pci_core_enable(&ivsh->core);
	if (ret)
		return ret;
	ret = ivsh_cmd_open(ivsh);
	if (ret)
		goto err_disable;
	spin_lock(&ivsh->stats.lock);
	ivsh->stats.reset = ivsh->core.reset_works ? "function" :
			    "emulated (no reset method)";
	spin_unlock(&ivsh->stats.lock);
	vmig_open(&ivsh->mig);
	vfio_pci_core_finish_enable(&ivsh->core);
	return 0;

err_disable:
	vfio_pci_core_disable(&ivsh->core);
	return ret;
}

static void ivsh_close_device(struct vfio_device *vdev)
{
	struct ivsh_device *ivsh = ivsh_from_vdev(vdev);

	/* Ends any session, and so stops the worker, before the BARs go. */
	vmig_close(&ivsh->mig);
	ivsh_cmd_close(ivsh);
	vfio_pci_core_close_device(vdev);
}

static int ivsh_device_feature(struct vfio_device *vdev, u32 flags,
			       void __user *arg, size_t argsz)
{
	struct ivsh_device *ivsh = ivsh_from_vdev(vdev);
	int ret;

	ret = vmig_device_feature(&ivsh->mig, flags, arg, argsz);
	if (ret != -ENOTTY)
		return ret;
	return vfio_pci_core_ioctl_feature(vdev, flags, arg, argsz);
}

/*
 * Revoke the user's mappings of the BARs; they fault back in, under
 * memory_lock, after it is released.
 */
static void ivsh_zap_bars(struct ivsh_device *ivsh)
{
	loff_t start = VFIO_PCI_INDEX_TO_OFFSET(VFIO_PCI_BAR0_REGION_INDEX);
	loff_t end = VFIO_PCI_INDEX_TO_OFFSET(VFIO_PCI_ROM_REGION_INDEX);

	unmap_mapping_range(ivsh->core.vdev.inode->i_mapping, start,
			    end - start, true);
}

/*
 * VFIO_DEVICE_RESET of a function without a reset method: what the
 * device's reset would do to its state, then what reset_done does.  As for
 * a real reset, the user's mappings are revoked and memory_lock is held
 * for writing throughout, so that no access window and no user access
 * lands in the middle; vmig_reset() may be called with it held.
 */
static int ivsh_emulated_reset(struct ivsh_device *ivsh)
{
	struct vfio_pci_core_device *core = &ivsh->core;
	int ret;

	down_write(&core->memory_lock);
	ivsh_zap_bars(ivsh);
	ret = ivsh_cmd_reset_locked(ivsh);
	/*
	 * Even if the registers could not be written: the FSM must leave
	 * ERROR, and VMMs reset to recover, so the reset of the migration
	 * state never fails.  The error still reaches userspace.
	 */
	vmig_reset(&ivsh->mig);
	up_write(&core->memory_lock);
	spin_lock(&ivsh->stats.lock);
	ivsh->stats.emulated_resets++;
	spin_unlock(&ivsh->stats.lock);
	return ret;
}

/* VFIO_DEVICE_GET_INFO as vfio-pci-core answers it, with reset offered. */
static long ivsh_get_info(struct vfio_device *vdev, unsigned long arg)
{
	struct vfio_device_info __user *uinfo = (void __user *)arg;
	long ret;
	u32 flags;

	ret = vfio_pci_core_ioctl(vdev, VFIO_DEVICE_GET_INFO, arg);
	if (ret)
		return ret;
	/* It checked argsz and wrote flags: set one more bit. */
	if (get_user(flags, &uinfo->flags))
		return -EFAULT;
	return put_user(flags | VFIO_DEVICE_FLAGS_RESET, &uinfo->flags);
}

/*
 * vfio-pci-core refuses VFIO_DEVICE_RESET when it found no reset method
 * for the function at open (ivshmem-plain on a root bus has none), and
 * QEMU, whose recovery from a failed migration arc ends with that reset,
 * aborts.  The device's state besides its memory, which it keeps across a
 * reset, is two registers, so the driver offers the reset itself then.
 */
static long ivsh_ioctl(struct vfio_device *vdev, unsigned int cmd,
		       unsigned long arg)
{
	struct ivsh_device *ivsh = ivsh_from_vdev(vdev);

	/* Set by vfio_pci_core_enable() at open, stable while open. */
	if (!ivsh->core.reset_works) {
		switch (cmd) {
		case VFIO_DEVICE_RESET:
			return ivsh_emulated_reset(ivsh);
		case VFIO_DEVICE_GET_INFO:
			return ivsh_get_info(vdev, arg);
		}
	}
	return vfio_pci_core_ioctl(vdev, cmd, arg);
}

static const struct vfio_device_ops ivsh_vfio_ops = {
	.name = "vmig-ivshmem-vfio-pci",
	.init = ivsh_init_dev,
	.release = ivsh_release_dev,
	.open_device = ivsh_open_device,
	.close_device = ivsh_close_device,
	.ioctl = ivsh_ioctl,
	.device_feature = ivsh_device_feature,
	.read = vfio_pci_core_read,
	.write = vfio_pci_core_write,
	.mmap = vfio_pci_core_mmap,
	.request = vfio_pci_core_request,
	.match = vfio_pci_core_match,
	.bind_iommufd = vfio_iommufd_physical_bind,
	.unbind_iommufd = vfio_iommufd_physical_unbind,
	.attach_ioas = vfio_iommufd_physical_attach_ioas,
	.detach_ioas = vfio_iommufd_physical_detach_ioas,
};

static int ivsh_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct ivsh_device *ivsh;
	int ret;

	ivsh = vfio_alloc_device(ivsh_device, core.vdev, &pdev->dev,
				 &ivsh_vfio_ops);
	if (IS_ERR(ivsh))
		return PTR_ERR(ivsh);
	dev_set_drvdata(&pdev->dev, &ivsh->core);
	ret = vfio_pci_core_register_device(&ivsh->core);
	if (ret)
		goto err_put;
	return 0;

err_put:
	vfio_put_device(&ivsh->core.vdev);
	return ret;
}

static void ivsh_remove(struct pci_dev *pdev)
{
	struct vfio_pci_core_device *core = dev_get_drvdata(&pdev->dev);

	vfio_pci_core_unregister_device(core);
	vfio_put_device(&core->vdev);
}

/*
 * Any reset of the function (VFIO_DEVICE_RESET, a bus reset, vfio-pci-core's
 * own at open and close) returns the FSM to RUNNING.  vfio-pci-core may hold
 * its memory_lock here; the core's locking makes that safe without deferral.
 */
static void ivsh_reset_done(struct pci_dev *pdev)
{
	struct vfio_pci_core_device *core = dev_get_drvdata(&pdev->dev);
	struct ivsh_device *ivsh = container_of(core, struct ivsh_device, core);

	vmig_reset(&ivsh->mig);
}

static const struct pci_error_handlers ivsh_err_handlers = {
	.reset_done = ivsh_reset_done,
	.error_detected = vfio_pci_core_aer_err_detected,
};

static const struct pci_device_id ivsh_pci_table[] = {
	/* QEMU's ivshmem-plain; ivshmem-doorbell shares the ID, not its peers */
	{ PCI_DRIVER_OVERRIDE_DEVICE_VFIO(PCI_VENDOR_ID_REDHAT_QUMRANET, 0x1110) },
	{}
};
MODULE_DEVICE_TABLE(pci, ivsh_pci_table);

static struct pci_driver ivsh_pci_driver = {
	/*
	 * The module's name, as every vfio-pci variant driver has it: tools
	 * that find a variant driver through its vfio_pci: alias in
	 * modules.alias write the module name into driver_override.
	 */
	.name = KBUILD_MODNAME,
	.id_table = ivsh_pci_table,
	.probe = ivsh_probe,
	.remove = ivsh_remove,
	.err_handler = &ivsh_err_handlers,
	.driver_managed_dma = true,
};

module_pci_driver(ivsh_pci_driver);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("VFIO live-migration driver for QEMU's ivshmem-plain device");
MODULE_IMPORT_NS(IOMMUFD);
