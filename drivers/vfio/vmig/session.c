// SPDX-License-Identifier: GPL-2.0-only
/*
 * vmig data sessions: the files behind data_fd, for saving and resuming.
 */

#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/kref.h>
#include <linux/module.h>
#include <linux/poll.h>
#include <linux/sched/signal.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/uio.h>
#include <linux/vmig.h>
#include <linux/wait_bit.h>
#include <linux/workqueue.h>
#include <kunit/static_stub.h>
#include <kunit/visibility.h>
#include <uapi/linux/vmig.h>

#include "stream.h"
#include "vmig_priv.h"

/**
 * DOC: Data sessions
 *
 * The arcs that start a session return a data file made by
 * vmig_save_open() or vmig_resume_open().  The core owns it from then on:
 *
 * Saving.  The driver adds records; the core frames them (see "Stream
 * envelope") into a queue of chunks that read() drains.  A session never
 * holds more than %VMIG_SAVE_CHUNKS chunks of the size the driver chose, so
 * the kernel memory of a save is bounded whatever the size of the device
 * state.  A driver produces either on demand, from
 * &struct vmig_save_ops.produce, which the core calls when a reader finds
 * the queue empty, or from a worker, which blocks in vmig_save_reserve()
 * while the queue is full: then the device is read into the next chunk
 * while read() copies the last one out.  The core runs that worker for the
 * driver, &struct vmig_save_ops.feed: it starts it once the session is the
 * device's, wakes it when the session ends or the driver kicks it (from
 * &struct vmig_save_ops.pending, an arc, anywhere), and waits for it to
 * return before the release op, so that a driver keeps no stop flag,
 * waitqueue or cancellation of its own.
 *
 * read() returns what is queued.  With nothing queued, in the PRE_COPY
 * states it fails with -ENOMSG when the driver reports no pending data
 * (&struct vmig_save_ops.pending gives 0 initial and 0 dirty bytes): a
 * temporary end of stream, which poll() leaves once vmig_save_notify()
 * says more data arrived.  In STOP_COPY, once the driver called
 * vmig_save_complete() and the queue drained (from produce: right after
 * the last records, in the same refill), the core appends the trailer,
 * and once it was read, read() returns 0 from then on without taking any
 * lock, even while another reader holds the file's: the permanent end of
 * stream, always readable for poll().
 * -ENOMSG never happens in STOP_COPY.  Otherwise
 * read() sleeps until data arrives, or fails with -EAGAIN under O_NONBLOCK.
 *
 * VFIO_MIG_GET_PRECOPY_INFO reports, in the PRE_COPY states only, the
 * driver's pending bytes plus the bytes already framed and not yet read,
 * each counted as initial or dirty by the record that carries it.  flags is
 * always written: 0, or VFIO_PRECOPY_INFO_REINIT once after the driver
 * called vmig_save_reinit(), if userspace opted in with
 * %VMIG_DEVICE_FEATURE_PRECOPY_INFO_V2.
 *
 * Resuming.  write() accepts any sizes, checks the stream as it arrives and
 * hands each sound record to &struct vmig_resume_ops.load.  The arc
 * RESUMING -> STOP fails with the stream's error, or -EINVAL if the trailer
 * has not arrived, before the driver's arc handler runs; the FSM then stays
 * in RESUMING.
 *
 * Ending.  The core ends a session when the FSM leaves the session's group
 * (the saving group, or RESUMING), lands in ERROR, or the device is reset or
 * closed.  The driver's release op runs then, once; afterwards read(),
 * write(), poll() and the ioctl fail with -ENODEV, whoever still holds the
 * file, and the queued chunks are freed.  Closing the file does not end a
 * session: userspace may close data_fd before or after leaving the state.
 */

enum vmig_session_kind {
	VMIG_SESSION_SAVE,
	VMIG_SESSION_RESUME,
};

/*
 * The data is an allocation of its own, of the session's chunk size: a
 * power of two such as 512 KiB then takes exactly 512 KiB of pages, where
 * a header in front of it would round the allocation up to twice that
 * (other sizes round up to the next power of two either way).  It is page
 * aligned from 4 KiB on, and each record starts where the last one ended:
 * records whose sizes are multiples of 8 keep their payloads 8-byte
 * aligned.
 */
struct vmig_chunk {
	struct list_head list;
	u32 len;		/* bytes written */
	u32 pos;		/* bytes read */
	bool initial;		/* every byte in it is initial pre-copy data */
	u8 *data;		/* chunk_size bytes */
};

/*
 * Bytes of user data that write() takes per round of parsing through its
 * bounce buffer.  A round that puts a payload straight into the parser's
 * buffer takes up to the rest of the payload, if that is at least as much.
 */
#define VMIG_BOUNCE_SIZE	(16 * 1024)

/*
 * Lock order: io_lock -> mig->state_lock -> lock.  io_lock serialises
 * read() and write() and is the only lock held across user copies; the
 * state path never takes it.  lock is a spinlock and nests inside both.
 */
struct vmig_session {
	struct kref kref;
	struct vmig_device *mig;
	enum vmig_session_kind kind;
	void *priv;
	const struct vmig_save_ops *save;
	const struct vmig_resume_ops *resume;
	bool attached;		/* mig->session points here */
	bool released;		/* the driver's release op ran */
	struct work_struct feed_work;	/* runs save->feed */
	struct vmig_region *region;	/* a region session's, see region.c */
	u32 min_record;		/* queue a chunk with less room than this */

	struct mutex io_lock;	/* read()/write(); held across user copies */
	spinlock_t lock;	/* everything below; see vmig_reserve() */
	wait_queue_head_t wq;	/* readers and producers waiting */
	bool ended;
	int error;		/* sticky */

	/* saving */
	u32 chunk_size;
	u32 nr_chunks;		/* allocated, at most VMIG_SAVE_CHUNKS */
	u32 peak_chunks;
	struct list_head ready;	/* queued for read() */
	struct list_head free;
	struct vmig_chunk *fill;	/* producer's, not yet queued */
	struct vmig_chunk *reading;	/* taken off @ready by read() */
	void *rec;		/* record reserved in @fill */
	u32 rec_type;
	u32 rec_flags;
	u32 rec_len;
	u8 phase;		/* FSM state while in the saving group */
	bool complete;		/* the driver added its last record */
	bool producing;		/* refill runs save->produce in STOP_COPY */
	bool trailer;		/* the trailer is queued */
	bool eos;		/* ... and was read */
	bool kick;		/* wake readers to look again */
	bool hint;		/* data may be ready in PRE_COPY */
	u32 nr_hints;		/* vmig_save_notify() and _reinit() calls */
	bool reinit;		/* REINIT not yet reported */
	u64 unread_initial;	/* queued, not yet read */
	u64 unread_dirty;
	u64 nr_records;		/* written by the producer only */
	u64 payload_bytes;	/* likewise */
	u64 bytes_read;

	/* resuming */
	struct vmig_stream_parser parser;
	u8 *bounce;
	u64 bytes_written;
	u64 bytes_direct;	/* of them, put straight into the parser's */

	u32 id_len;
	u8 id[] __counted_by(id_len);
};

static const struct file_operations vmig_save_fops;
static const struct file_operations vmig_resume_fops;

/**
 * vmig_session_priv() - the driver's data of a session
 * @sess: the session
 *
 * Return: &struct vmig_session_cfg.priv as given at open.
 */
void *vmig_session_priv(struct vmig_session *sess)
{
	return sess->priv;
}
EXPORT_SYMBOL_GPL(vmig_session_priv);

/**
 * vmig_session_device() - the device a session belongs to
 * @sess: the session
 *
 * Return: the per-device object the session was opened on.
 */
struct vmig_device *vmig_session_device(struct vmig_session *sess)
{
	return sess->mig;
}
EXPORT_SYMBOL_GPL(vmig_session_device);

/**
 * vmig_session_ended() - has the core ended this session
 * @sess: the session
 *
 * A worker may poll this to stop early; vmig_save_reserve() also fails
 * with -ENODEV once the session ended.
 *
 * Return: true once the session ended.
 */
bool vmig_session_ended(struct vmig_session *sess)
{
	return READ_ONCE(sess->ended);
}
EXPORT_SYMBOL_GPL(vmig_session_ended);

static void vmig_chunk_free(struct vmig_chunk *c)
{
	if (c) {
		kvfree(c->data);
		kfree(c);
	}
}

static void vmig_free_chunks(struct list_head *head)
{
	struct vmig_chunk *c, *tmp;

	list_for_each_entry_safe(c, tmp, head, list)
		vmig_chunk_free(c);
}

static void vmig_session_user_done(struct vmig_device *mig)
{
	/* wake_up_var() does not touch @mig, which may be gone by then. */
	if (atomic_dec_and_test(&mig->file_users))
		wake_up_var(&mig->file_users);
}

static void vmig_session_unlock_device(struct vmig_device *mig)
{
	mutex_unlock(&mig->state_lock);
	vmig_session_user_done(mig);
}

/*
 * A data file may outlive its device: userspace keeps data_fd, closes the
 * device and unbinds the driver or removes the mdev, and the driver frees
 * the structure that embeds the per-device object.  The session ended with
 * the close, and an ended session never touches its device again.  Only a
 * file operation that found the session alive takes the device's state
 * lock, and it counts itself in &vmig_device.file_users first, under the
 * session's spinlock: vmig_uninit() waits until none is left.  No new one
 * can come, since every session of the device ended at close_device.
 * A reader about to refill (@refill) clears the session's kick in the same
 * step: what woke it is what it is about to look at.
 */
static int vmig_session_lock_device(struct vmig_session *sess, bool nonblock,
				    bool refill)
{
	struct vmig_device *mig = sess->mig;

	spin_lock(&sess->lock);
	if (refill)
		sess->kick = false;
	if (sess->ended) {
		spin_unlock(&sess->lock);
		return -ENODEV;
	}
	atomic_inc(&mig->file_users);
	spin_unlock(&sess->lock);
	/* An arc or a reset may hold the lock for long. */
	if (nonblock ? !mutex_trylock(&mig->state_lock) :
		       mutex_lock_killable(&mig->state_lock)) {
		vmig_session_user_done(mig);
		return nonblock ? -EAGAIN : -EINTR;
	}
	/*
	 * Sessions end under the state lock, so look again now that we hold
	 * it: while we waited, the session may have ended, its release op
	 * may have freed the driver's data, and the device may have started
	 * a new session in the same state.  Nothing of this one may be
	 * handed to the driver any more.
	 */
	if (sess->ended) {
		vmig_session_unlock_device(mig);
		return -ENODEV;
	}
	return 0;
}

static void vmig_session_free(struct kref *kref)
{
	struct vmig_session *sess = container_of(kref, struct vmig_session, kref);

	/* A session always ends before its last reference goes. */
	WARN_ON_ONCE(!sess->ended);
	vmig_free_chunks(&sess->ready);
	vmig_free_chunks(&sess->free);
	vmig_chunk_free(sess->fill);
	vmig_chunk_free(sess->reading);
	if (sess->kind == VMIG_SESSION_RESUME) {
		vmig_stream_parser_destroy(&sess->parser);
		kfree(sess->bounce);
	}
	mutex_destroy(&sess->io_lock);
	kfree(sess);
}

/*
 * Wake whoever waits on the session: read(), poll(), a producer waiting for
 * a chunk.  Most calls find nobody; the barrier of wq_has_sleeper() pairs
 * with the one a waiter sets its state with before it checks its condition,
 * so a waiter that came too late to be seen has seen the change.
 */
static void vmig_session_wake(struct vmig_session *sess)
{
	if (wq_has_sleeper(&sess->wq))
		wake_up_all(&sess->wq);
}

static void vmig_session_put(struct vmig_session *sess)
{
	kref_put(&sess->kref, vmig_session_free);
}

/**
 * vmig_file_session() - the session behind a data file
 * @file: a file from vmig_save_open() or vmig_resume_open(), or any other
 *
 * A driver whose own worker feeds a saving session takes the session from
 * the file its arc is about to return, before it starts the worker: the
 * worker needs it for vmig_save_reserve() and friends, and nothing else
 * hands it out before the first callback.  The session lives as long as
 * the file, and the driver's release op runs before it goes.
 *
 * Return: the session, or NULL if @file is not a vmig data file.
 */
struct vmig_session *vmig_file_session(struct file *file)
{
	if (file->f_op != &vmig_save_fops && file->f_op != &vmig_resume_fops)
		return NULL;
	return file->private_data;
}
EXPORT_SYMBOL_GPL(vmig_file_session);

/*
 * End @sess: no more data in or out, the driver's release op runs, queued
 * chunks are freed.  Chunks held by a producer or a reader are freed by
 * them, or when the last reference goes.
 */
void vmig_session_end_locked(struct vmig_session *sess)
{
	struct vmig_chunk *c;
	LIST_HEAD(dead);

	lockdep_assert_held(&sess->mig->state_lock);
	if (sess->released)
		return;

	spin_lock(&sess->lock);
	sess->ended = true;
	list_splice_init(&sess->ready, &dead);
	list_splice_init(&sess->free, &dead);
	spin_unlock(&sess->lock);
	vmig_session_wake(sess);

	/* The feed sees ended and returns; the release op may free its data. */
	if (sess->kind == VMIG_SESSION_SAVE && sess->save->feed)
		cancel_work_sync(&sess->feed_work);
	/* The release op waits for the driver's own worker, if any. */
	sess->released = true;
	if (sess->kind == VMIG_SESSION_SAVE)
		sess->save->release(sess);
	else
		sess->resume->release(sess);

	vmig_free_chunks(&dead);
	if (sess->kind == VMIG_SESSION_SAVE) {
		sess->mig->last_peak_bytes = (u64)sess->peak_chunks *
					     (sizeof(struct vmig_chunk) +
					      sess->chunk_size);
		/*
		 * The producer is gone: its chunk can go too, once out of
		 * sight of the readers of @fill under the spinlock.  Nothing
		 * else changes @fill any more.
		 */
		c = sess->fill;
		if (c) {
			spin_lock(&sess->lock);
			sess->fill = NULL;
			spin_unlock(&sess->lock);
			vmig_chunk_free(c);
		}
		sess->rec = NULL;
	}
	trace_vmig_session(sess->mig, sess->kind == VMIG_SESSION_SAVE,
			   "end", sess->bytes_read + sess->bytes_written);
}

/* End the device's session and drop the device's reference to it. */
void vmig_session_detach_locked(struct vmig_device *mig)
{
	struct vmig_session *sess = mig->session;

	lockdep_assert_held(&mig->state_lock);
	mig->session = NULL;
	vmig_session_end_locked(sess);
	vmig_session_put(sess);
}

/* Make @sess the device's session; the device holds a reference. */
void vmig_session_attach_locked(struct vmig_session *sess)
{
	struct vmig_device *mig = sess->mig;

	lockdep_assert_held(&mig->state_lock);
	kref_get(&sess->kref);
	sess->attached = true;
	mig->session = sess;
	vmig_session_sync_locked(mig);
	/* Only now: until the arc's file is the device's, a walk may drop it. */
	if (sess->kind == VMIG_SESSION_SAVE && sess->save->feed &&
	    !sess->ended)
		queue_work(vmig_wq, &sess->feed_work);
}

/* vmig_session_sync_locked() for a device that has a session. */
void __vmig_session_sync_locked(struct vmig_device *mig)
{
	struct vmig_session *sess = mig->session;
	bool inside;

	lockdep_assert_held(&mig->state_lock);
	if (sess->kind == VMIG_SESSION_SAVE)
		inside = __vmig_in_saving_group(mig->state);
	else
		inside = mig->state == VFIO_DEVICE_STATE_RESUMING;

	if (!inside) {
		vmig_session_detach_locked(mig);
		return;
	}
	/* @phase changes only here, under the state lock we hold. */
	if (sess->kind == VMIG_SESSION_SAVE && sess->phase != mig->state) {
		spin_lock(&sess->lock);
		WRITE_ONCE(sess->phase, mig->state);
		sess->kick = true;
		spin_unlock(&sess->lock);
		vmig_session_wake(sess);
	}
}
EXPORT_SYMBOL_IF_KUNIT(__vmig_session_sync_locked);

/* A session that was never attached: end it before dropping the file. */
void vmig_session_abandon_locked(struct file *file)
{
	struct vmig_session *sess = vmig_file_session(file);

	if (sess && !sess->attached)
		vmig_session_end_locked(sess);
}
EXPORT_SYMBOL_IF_KUNIT(vmig_session_abandon_locked);

bool vmig_session_is_save(struct vmig_session *sess)
{
	return sess->kind == VMIG_SESSION_SAVE;
}

/*
 * The session behind the file an arc of @mig returned, if the device can
 * take it: a fresh session of ours, opened on @mig, saving if @save.
 */
struct vmig_session *vmig_session_of_arc(struct vmig_device *mig,
					 struct file *file, bool save)
{
	struct vmig_session *sess = file->private_data;

	if (file->f_op != (save ? &vmig_save_fops : &vmig_resume_fops) ||
	    sess->mig != mig || sess->attached || sess->released)
		return NULL;
	return sess;
}

/* The RESUMING -> STOP check: the stream must be complete and sound. */
int vmig_session_resume_check_locked(struct vmig_session *sess)
{
	lockdep_assert_held(&sess->mig->state_lock);
	return vmig_stream_finish(&sess->parser);
}

static struct vmig_session *vmig_session_new(struct vmig_device *mig,
					     enum vmig_session_kind kind,
					     const struct vmig_session_cfg *cfg)
{
	struct vmig_stream_id dev_id = { .data = mig->id, .len = mig->id_len };
	const struct vmig_stream_id *id = &cfg->id;
	u32 chunk = cfg->chunk_size ?: VMIG_DEFAULT_CHUNK;
	struct vmig_session *sess;

	lockdep_assert_held(&mig->state_lock);
	if (!id->len)
		id = &dev_id;
	if (id->len > VMIG_STREAM_MAX_ID || (id->len && !id->data))
		return ERR_PTR(-EINVAL);
	if (chunk > VMIG_MAX_CHUNK ||
	    (kind == VMIG_SESSION_SAVE &&
	     chunk < max_t(u32, 4096, __vmig_stream_overhead(id->len))))
		return ERR_PTR(-EINVAL);

	sess = kzalloc(struct_size(sess, id, id->len), GFP_KERNEL_ACCOUNT);
	if (!sess)
		return ERR_PTR(-ENOMEM);
	kref_init(&sess->kref);
	sess->mig = mig;
	sess->kind = kind;
	sess->priv = cfg->priv;
	sess->chunk_size = chunk;
	sess->min_record = sizeof(struct vmig_rec_hdr);
	mutex_init(&sess->io_lock);
	spin_lock_init(&sess->lock);
	init_waitqueue_head(&sess->wq);
	INIT_LIST_HEAD(&sess->ready);
	INIT_LIST_HEAD(&sess->free);
	sess->id_len = id->len;
	if (id->len)
		memcpy(sess->id, id->data, id->len);
	return sess;
}

static struct file *vmig_session_file(struct vmig_session *sess,
				      const struct file_operations *fops,
				      int flags)
{
	struct file *file;

	file = anon_inode_getfile("[vmig]", fops, sess, flags);
	if (IS_ERR(file))
		return file;
	stream_open(file_inode(file), file);
	return file;
}

/* ---------------------------------------------------------------------- */
/* Saving: chunks and records.                                            */

/* A new chunk, or NULL. */
VISIBLE_IF_KUNIT struct vmig_chunk *vmig_chunk_new(struct vmig_session *sess)
{
	struct vmig_chunk *c;

	c = kmalloc(sizeof(*c), GFP_KERNEL_ACCOUNT);
	if (!c)
		return NULL;
	c->data = kvmalloc(sess->chunk_size, GFP_KERNEL_ACCOUNT);
	if (!c->data) {
		kfree(c);
		return NULL;
	}
	return c;
}
EXPORT_SYMBOL_IF_KUNIT(vmig_chunk_new);

/* vmig_chunk_new(), where a KUnit static stub can make it fail. */
VISIBLE_IF_KUNIT struct vmig_chunk *vmig_chunk_alloc(struct vmig_session *sess)
{
	KUNIT_STATIC_STUB_REDIRECT(vmig_chunk_alloc, sess);
	return vmig_chunk_new(sess);
}
EXPORT_SYMBOL_IF_KUNIT(vmig_chunk_alloc);

/*
 * A chunk for the producer: free, newly allocated, or after a wait.  It is
 * emptied, classed @initial and published as the producer's @fill in the
 * section that takes it.
 */
static struct vmig_chunk *vmig_get_chunk(struct vmig_session *sess, bool wait,
					 bool initial)
{
	struct vmig_chunk *c;
	int ret;

	spin_lock(&sess->lock);
	for (;;) {
		if (sess->ended) {
			c = ERR_PTR(-ENODEV);
			break;
		}
		c = list_first_entry_or_null(&sess->free, struct vmig_chunk, list);
		if (c) {
			list_del(&c->list);
			break;
		}
		if (sess->nr_chunks < VMIG_SAVE_CHUNKS) {
			/* Counted before the allocation, so that none exceeds the bound. */
			sess->nr_chunks++;
			spin_unlock(&sess->lock);
			c = vmig_chunk_alloc(sess);
			spin_lock(&sess->lock);
			if (c) {
				sess->peak_chunks = max(sess->peak_chunks,
							sess->nr_chunks);
				break;
			}
			sess->nr_chunks--;
			c = ERR_PTR(-ENOMEM);
			break;
		}
		if (!wait) {
			c = ERR_PTR(-ENOBUFS);
			break;
		}
		spin_unlock(&sess->lock);
		ret = wait_event_interruptible(sess->wq,
					       READ_ONCE(sess->ended) ||
					       !list_empty_careful(&sess->free));
		if (ret)
			return ERR_PTR(-EINTR);
		spin_lock(&sess->lock);
	}
	if (!IS_ERR(c)) {
		c->len = 0;
		c->pos = 0;
		c->initial = initial;
		sess->fill = c;
	}
	spin_unlock(&sess->lock);
	return c;
}

/**
 * vmig_save_prealloc() - allocate every chunk a saving session may hold
 * @sess: the saving session
 *
 * vmig_save_reserve() allocates a chunk, with GFP_KERNEL, whenever none is
 * free and the session holds fewer than its bound, even when @wait is
 * false.  A worker that reserves where it must not sleep in reclaim (while
 * it holds a lock that others wait for) calls this first, where it may:
 * afterwards no reservation of the session allocates, and one that finds
 * every chunk queued fails with -ENOBUFS when it does not wait.
 *
 * Return: 0; -ENOMEM, keeping the chunks allocated so far; -ENODEV once
 * the session ended.
 */
int vmig_save_prealloc(struct vmig_session *sess)
{
	struct vmig_chunk *c;
	int ret = 0;

	spin_lock(&sess->lock);
	while (!sess->ended && sess->nr_chunks < VMIG_SAVE_CHUNKS) {
		sess->nr_chunks++;
		spin_unlock(&sess->lock);
		c = vmig_chunk_alloc(sess);
		spin_lock(&sess->lock);
		if (!c || sess->ended) {
			/* An ended session freed its chunks: no new ones. */
			sess->nr_chunks--;
			ret = c ? -ENODEV : -ENOMEM;
			spin_unlock(&sess->lock);
			vmig_chunk_free(c);
			return ret;
		}
		list_add(&c->list, &sess->free);
		sess->peak_chunks = max(sess->peak_chunks, sess->nr_chunks);
	}
	if (sess->ended)
		ret = -ENODEV;
	spin_unlock(&sess->lock);
	return ret;
}
EXPORT_SYMBOL_GPL(vmig_save_prealloc);

/*
 * KUnit seam: a chunk is about to pass from the producer to the read queue.
 * A test replaces this to run vmig_save_reinit() at exactly that point.
 */
VISIBLE_IF_KUNIT void vmig_queue_fill_hook(struct vmig_session *sess)
{
	KUNIT_STATIC_STUB_REDIRECT(vmig_queue_fill_hook, sess);
}
EXPORT_SYMBOL_IF_KUNIT(vmig_queue_fill_hook);

/*
 * Queue the producer's chunk for read().  The chunk moves from @fill to
 * @ready in one step under the spinlock: vmig_save_reinit() reclassifies
 * every unread chunk and must find this one in one place or the other, or
 * its dirty bytes would be counted twice as initial and once as dirty.
 * @trailer: the trailer was just committed and is marked queued: in the
 * step that queues its chunk, or, if the commit queued that chunk already
 * because it was full, after it.
 */
static void __vmig_queue_fill(struct vmig_session *sess, bool trailer)
{
	struct vmig_chunk *c = sess->fill;

	if (c && !c->len)
		c = NULL;
	if (!c && !trailer)
		return;
	if (c)
		vmig_queue_fill_hook(sess);
	spin_lock(&sess->lock);
	if (trailer)
		sess->trailer = true;
	if (!c) {
		spin_unlock(&sess->lock);
		return;
	}
	sess->fill = NULL;
	if (sess->ended) {
		spin_unlock(&sess->lock);
		vmig_chunk_free(c);
		return;
	}
	if (c->initial)
		sess->unread_initial += c->len;
	else
		sess->unread_dirty += c->len;
	list_add_tail(&c->list, &sess->ready);
	sess->kick = true;
	spin_unlock(&sess->lock);
	vmig_session_wake(sess);
}

/*
 * Stream bytes framed and not yet read, by class, added to @initial and
 * @dirty.  The queued chunks are counted as they are queued, in the
 * section that queues them; the producer's chunk counts with the bytes its
 * commits framed so far, which a worker advances without the lock (the
 * chunk itself stays until the session is freed, or is freed only after
 * it left @fill under the lock).
 */
static void vmig_unread_locked(struct vmig_session *sess, u64 *initial,
			       u64 *dirty)
{
	struct vmig_chunk *c = sess->fill;

	lockdep_assert_held(&sess->lock);
	*initial += sess->unread_initial;
	*dirty += sess->unread_dirty;
	if (!c)
		return;
	if (c->initial)
		*initial += READ_ONCE(c->len);
	else
		*dirty += READ_ONCE(c->len);
}

static void vmig_queue_fill(struct vmig_session *sess)
{
	__vmig_queue_fill(sess, false);
}

static bool vmig_driver_rec_type(u32 type)
{
	return type >= VMIG_REC_DRIVER_BASE && type <= VMIG_REC_MAX_TYPE;
}

/* Reserve a record of any type; see vmig_save_reserve().  Once per record. */
static __always_inline void *vmig_reserve(struct vmig_session *sess,
					  u32 type, u32 flags, u32 len,
					  bool wait)
{
	u32 need = sizeof(struct vmig_rec_hdr) + len;
	bool initial = flags & VMIG_REC_INITIAL;
	struct vmig_chunk *c;

	if (WARN_ON_ONCE(sess->kind != VMIG_SESSION_SAVE || sess->rec))
		return ERR_PTR(-EINVAL);
	if (len > sess->chunk_size - sizeof(struct vmig_rec_hdr))
		return ERR_PTR(-EMSGSIZE);
	if (READ_ONCE(sess->ended))
		return ERR_PTR(-ENODEV);

	/*
	 * A chunk holds one class of data, and whole records.  Only the
	 * producer changes @fill; vmig_save_reinit() may reclassify it at any
	 * time, so a new chunk is published under the spinlock.  Its class
	 * is read without it: a chunk's bytes count by the class it has when
	 * it is queued, so a reinit that turns it initial after this read
	 * counts the record as initial, as it does every record framed
	 * before it.
	 */
	c = sess->fill;
	if (c) {
		bool other = READ_ONCE(c->initial) != initial;

		if (other && !c->len) {
			/* Left empty by a cancel: it takes this record's class. */
			spin_lock(&sess->lock);
			WRITE_ONCE(c->initial, initial);
			spin_unlock(&sess->lock);
		} else if (other || c->len + need > sess->chunk_size) {
			vmig_queue_fill(sess);
		}
	}
	if (!sess->fill) {
		c = vmig_get_chunk(sess, wait, initial);
		if (IS_ERR(c))
			return c;
	}
	c = sess->fill;
	sess->rec = c->data + c->len;
	sess->rec_type = type;
	sess->rec_flags = flags;
	sess->rec_len = len;
	return sess->rec + sizeof(struct vmig_rec_hdr);
}

/**
 * vmig_save_reserve() - reserve room for one record in a saving stream
 * @sess: the saving session
 * @type: record type, %VMIG_REC_DRIVER_BASE to 0xffff
 * @flags: %VMIG_REC_MANDATORY, and %VMIG_REC_INITIAL for initial pre-copy
 *	data (the class only counts towards VFIO_MIG_GET_PRECOPY_INFO)
 * @len: payload length; the record must fit in one chunk
 * @wait: sleep while all chunks are queued (a worker); false from
 *	&struct vmig_save_ops.produce
 *
 * The caller writes the payload to the returned buffer and then calls
 * vmig_save_commit().  Only one record is reserved at a time.  Either way
 * a new chunk may be allocated, with GFP_KERNEL, unless the session holds
 * all of its chunks already (see vmig_save_prealloc()).
 *
 * Return: the payload buffer, or ERR_PTR(): -ENOBUFS when all chunks are
 * queued and @wait is false, -ENODEV once the session ended, -EMSGSIZE for
 * a record larger than a chunk, -EINVAL for a type of the core or a second
 * reservation, -ENOMEM, or -EINTR.
 */
void *vmig_save_reserve(struct vmig_session *sess, u32 type, u32 flags,
			u32 len, bool wait)
{
	if (!vmig_driver_rec_type(type))
		return ERR_PTR(-EINVAL);
	return vmig_reserve(sess, type, flags, len, wait);
}
EXPORT_SYMBOL_GPL(vmig_save_reserve);

/* The commit of every record: vmig_save_commit(), inline. */
static __always_inline void __vmig_save_commit(struct vmig_session *sess)
{
	struct vmig_chunk *c = sess->fill;
	u32 size = sizeof(struct vmig_rec_hdr) + sess->rec_len;

	if (WARN_ON_ONCE(!sess->rec || !c))
		return;
	vmig_stream_seal(sess->rec, sess->rec_type, sess->rec_flags,
			 sess->rec_len, sess->nr_records);
	sess->rec = NULL;
	/* No lock: the chunk is counted as unread when it is queued. */
	WRITE_ONCE(c->len, c->len + size);
	if (sess->rec_type != VMIG_REC_END) {
		WRITE_ONCE(sess->nr_records, sess->nr_records + 1);
		WRITE_ONCE(sess->payload_bytes,
			   sess->payload_bytes + sess->rec_len);
	}

	if (c->len + sess->min_record > sess->chunk_size)
		vmig_queue_fill(sess);
}

/**
 * vmig_save_commit() - finish the record vmig_save_reserve() started
 * @sess: the saving session
 *
 * Checksums the record and accounts it.  A full chunk is queued for
 * read(); a partly filled one waits for more records, vmig_save_flush()
 * or the end of &struct vmig_save_ops.produce.
 */
void vmig_save_commit(struct vmig_session *sess)
{
	__vmig_save_commit(sess);
}
EXPORT_SYMBOL_GPL(vmig_save_commit);

/**
 * vmig_save_cancel() - drop the record vmig_save_reserve() started
 * @sess: the saving session
 *
 * For a producer that could not fill it: nothing of it reaches the stream,
 * and the next record may be reserved.
 */
void vmig_save_cancel(struct vmig_session *sess)
{
	WARN_ON_ONCE(!sess->rec);
	sess->rec = NULL;
}
EXPORT_SYMBOL_GPL(vmig_save_cancel);

/**
 * vmig_save_record() - add one record, copying its payload
 * @sess: the saving session
 * @type: record type, %VMIG_REC_DRIVER_BASE or above
 * @flags: as for vmig_save_reserve()
 * @data: payload
 * @len: payload length
 * @wait: as for vmig_save_reserve()
 *
 * Return: 0 or the error of vmig_save_reserve().
 */
int vmig_save_record(struct vmig_session *sess, u32 type, u32 flags,
		     const void *data, u32 len, bool wait)
{
	void *buf;

	if (!vmig_driver_rec_type(type))
		return -EINVAL;
	buf = vmig_reserve(sess, type, flags, len, wait);
	if (IS_ERR(buf))
		return PTR_ERR(buf);
	memcpy(buf, data, len);
	__vmig_save_commit(sess);
	return 0;
}
EXPORT_SYMBOL_GPL(vmig_save_record);

/**
 * vmig_save_flush() - queue the records added so far for read()
 * @sess: the saving session
 *
 * A worker calls this before it pauses; after &struct vmig_save_ops.produce
 * the core does it.
 */
void vmig_save_flush(struct vmig_session *sess)
{
	if (WARN_ON_ONCE(sess->rec))
		return;
	vmig_queue_fill(sess);
}
EXPORT_SYMBOL_GPL(vmig_save_flush);

/**
 * vmig_save_complete() - the driver added the last record of the stream
 * @sess: the saving session
 *
 * Flushes, and once the FSM is in STOP_COPY and the queue drained, the
 * core appends the trailer and read() reaches the permanent end of
 * stream.  From &struct vmig_save_ops.produce in STOP_COPY the core
 * appends the trailer right after produce returns, in the same chunk as
 * the last records if it fits, and flushes then.  Call it from the one
 * context that produces: produce, or the feed.
 */
void vmig_save_complete(struct vmig_session *sess)
{
	/* Set only while produce runs, under the state lock. */
	if (sess->producing)
		lockdep_assert_held(&sess->mig->state_lock);
	else
		vmig_save_flush(sess);
	spin_lock(&sess->lock);
	sess->complete = true;
	sess->kick = true;
	spin_unlock(&sess->lock);
	vmig_session_wake(sess);
}
EXPORT_SYMBOL_GPL(vmig_save_complete);

/**
 * vmig_save_error() - the producer failed
 * @sess: the saving session
 * @err: negative errno, returned by every later read()
 */
void vmig_save_error(struct vmig_session *sess, int err)
{
	spin_lock(&sess->lock);
	if (!sess->error)
		sess->error = err;
	spin_unlock(&sess->lock);
	vmig_session_wake(sess);
}
EXPORT_SYMBOL_GPL(vmig_save_error);

/* The core's worker of a session with &struct vmig_save_ops.feed. */
static void vmig_feed_work(struct work_struct *work)
{
	struct vmig_session *sess = container_of(work, struct vmig_session,
						 feed_work);
	int ret;

	ret = sess->save->feed(sess);
	if (vmig_session_ended(sess))
		return;		/* an ended session wants nothing */
	if (!ret && !READ_ONCE(sess->complete)) {
		/* Nobody would ever complete it: readers would wait for good. */
		pr_warn_once("vmig: a feed returned before its stream was complete\n");
		ret = -EIO;
	}
	if (ret)
		vmig_save_error(sess, ret);
}

/**
 * vmig_feed_waitq() - where &struct vmig_save_ops.feed waits
 * @sess: the saving session
 *
 * For vmig_feed_wait() and vmig_feed_wait_timeout(); the core wakes it
 * when the session ends, vmig_feed_kick() when the driver says so, and
 * the core's own queue when a chunk frees up or data arrives.
 *
 * Return: the session's waitqueue.
 */
wait_queue_head_t *vmig_feed_waitq(struct vmig_session *sess)
{
	return &sess->wq;
}
EXPORT_SYMBOL_GPL(vmig_feed_waitq);

/**
 * vmig_feed_kick() - wake &struct vmig_save_ops.feed to look again
 * @sess: the saving session
 *
 * After the driver changed what the feed's vmig_feed_wait() condition
 * reads.  Callable from any context that may take a spinlock, until the
 * session's release op has run.
 */
void vmig_feed_kick(struct vmig_session *sess)
{
	vmig_session_wake(sess);
}
EXPORT_SYMBOL_GPL(vmig_feed_kick);

/**
 * vmig_save_notify() - more data became pending during PRE_COPY
 * @sess: the saving session
 *
 * Wakes poll() and blocked readers after a temporary end of stream, so
 * that they ask the producer again.  Callable from any context that may
 * take a spinlock, with or without the state lock, until the session's
 * release op has run.
 */
void vmig_save_notify(struct vmig_session *sess)
{
	spin_lock(&sess->lock);
	sess->hint = true;
	sess->nr_hints++;
	sess->kick = true;
	spin_unlock(&sess->lock);
	vmig_session_wake(sess);
}
EXPORT_SYMBOL_GPL(vmig_save_notify);

/**
 * vmig_save_reinit() - new initial data appeared during PRE_COPY
 * @sess: the saving session
 *
 * Everything framed and not yet read counts as initial data from now on,
 * and the next VFIO_MIG_GET_PRECOPY_INFO reports VFIO_PRECOPY_INFO_REINIT
 * if userspace opted in.  The driver's &struct vmig_save_ops.pending then
 * reports the new initial bytes and restarts its dirty count.  Callable
 * like vmig_save_notify().
 */
void vmig_save_reinit(struct vmig_session *sess)
{
	struct vmig_chunk *c;

	spin_lock(&sess->lock);
	sess->unread_initial += sess->unread_dirty;
	sess->unread_dirty = 0;
	list_for_each_entry(c, &sess->ready, list)
		c->initial = true;
	if (sess->reading)
		sess->reading->initial = true;
	/* vmig_reserve() reads the class of @fill without the lock. */
	if (sess->fill)
		WRITE_ONCE(sess->fill->initial, true);
	sess->reinit = true;
	sess->hint = true;
	sess->nr_hints++;
	sess->kick = true;
	spin_unlock(&sess->lock);
	vmig_session_wake(sess);
}
EXPORT_SYMBOL_GPL(vmig_save_reinit);

/* ---------------------------------------------------------------------- */
/* Saving: the file.                                                      */

/*
 * Copy queued bytes to @to.  Returns bytes copied, 0 if nothing is queued,
 * or -errno when the session ended or failed or the copy faulted at once.
 */
static ssize_t vmig_save_copy_out(struct vmig_session *sess,
				  struct iov_iter *to)
{
	ssize_t done = 0;

	/*
	 * The section that ends one chunk's copy starts the next one's,
	 * unless a sleeper is to be woken in between.
	 */
	spin_lock(&sess->lock);
	while (iov_iter_count(to)) {
		struct vmig_chunk *c;
		size_t want, n;

		if (sess->ended || sess->error) {
			int err = sess->ended ? -ENODEV : sess->error;

			spin_unlock(&sess->lock);
			return done ?: err;
		}
		c = list_first_entry_or_null(&sess->ready, struct vmig_chunk, list);
		if (!c)
			break;
		list_del(&c->list);
		sess->reading = c;
		spin_unlock(&sess->lock);

		/* No lock but io_lock across the copy: it may fault. */
		want = min_t(size_t, c->len - c->pos, iov_iter_count(to));
		n = copy_to_iter(c->data + c->pos, want, to);

		spin_lock(&sess->lock);
		sess->reading = NULL;
		if (sess->ended) {
			spin_unlock(&sess->lock);
			vmig_chunk_free(c);
			return done ?: -ENODEV;
		}
		c->pos += n;
		sess->bytes_read += n;
		if (c->initial)
			sess->unread_initial -= n;
		else
			sess->unread_dirty -= n;
		if (c->pos == c->len)
			list_add(&c->list, &sess->free);
		else
			list_add(&c->list, &sess->ready);
		/* The trailer was read: no refill has anything more to say. */
		if (sess->trailer && list_empty(&sess->ready))
			sess->eos = true;
		done += n;
		if (n < want) {
			spin_unlock(&sess->lock);
			vmig_session_wake(sess);
			return done ?: -EFAULT;
		}
		/* A producer may wait for this chunk: wake it now. */
		if (wq_has_sleeper(&sess->wq)) {
			spin_unlock(&sess->lock);
			wake_up_all(&sess->wq);
			spin_lock(&sess->lock);
		}
	}
	spin_unlock(&sess->lock);
	return done;
}

/* Queue the trailer: the counts of what came before it. */
static int vmig_save_trailer_locked(struct vmig_session *sess)
{
	struct vmig_stream_end end = {
		.nr_records = cpu_to_le64(sess->nr_records),
		.payload_bytes = cpu_to_le64(sess->payload_bytes),
	};
	void *buf;

	buf = vmig_reserve(sess, VMIG_REC_END, 0, sizeof(end), false);
	if (IS_ERR(buf))
		return PTR_ERR(buf);
	memcpy(buf, &end, sizeof(end));
	__vmig_save_commit(sess);
	__vmig_queue_fill(sess, true);
	return 0;
}

static bool vmig_save_queued(struct vmig_session *sess)
{
	bool queued;

	spin_lock(&sess->lock);
	queued = !list_empty(&sess->ready);
	spin_unlock(&sess->lock);
	return queued;
}

/*
 * Nothing is queued: decide under the state lock what read() does.
 * Returns 1 when data is queued (found at the start, or produced here), 0
 * at the permanent end of stream, -EAGAIN to wait, or the error to return.
 */
static int vmig_save_refill_locked(struct vmig_session *sess)
{
	struct vmig_device *mig = sess->mig;
	bool complete, trailer, queued;
	u64 initial = 0, dirty = 0;
	u32 hints;
	int ret;

	lockdep_assert_held(&mig->state_lock);
	spin_lock(&sess->lock);
	ret = sess->ended ? -ENODEV : sess->error;
	complete = sess->complete;
	trailer = sess->trailer;
	queued = !list_empty(&sess->ready);
	if (!ret && trailer && !queued)
		sess->eos = true;
	spin_unlock(&sess->lock);
	if (ret)
		return ret;
	if (queued)
		return 1;

	if (mig->state == VFIO_DEVICE_STATE_STOP_COPY) {
		if (trailer)
			return 0;
		if (complete) {
			ret = vmig_save_trailer_locked(sess);
			return ret ?: 1;
		}
		if (!sess->save->produce)
			return -EAGAIN;
		sess->producing = true;
		ret = sess->save->produce(sess);
		sess->producing = false;
		if (ret && ret != -ENOBUFS) {
			vmig_save_error(sess, ret);
			return ret;
		}
		/*
		 * The last records and the trailer in one chunk if they fit,
		 * and in one round of the reader: a small stream is read
		 * whole after a single refill.
		 */
		if (READ_ONCE(sess->complete) && !sess->rec) {
			ret = vmig_save_trailer_locked(sess);
			if (!ret)
				return 1;
			/* The records go out; the trailer is tried again. */
			vmig_save_flush(sess);
			return ret == -ENOBUFS ? 1 : ret;
		}
		vmig_save_flush(sess);
		if (vmig_save_queued(sess) || READ_ONCE(sess->complete))
			return 1;
		/* A producer that adds nothing and never completes. */
		WARN_ON_ONCE(1);
		vmig_save_error(sess, -EIO);
		return -EIO;
	}

	/*
	 * PRE_COPY or PRE_COPY_P2P.  The driver may report new data from
	 * another context while pending() runs: drop the hint only if no
	 * such report came in meanwhile, or poll() would miss it.  A driver
	 * without pending() is asked to produce; if it adds nothing, that
	 * is the temporary end of stream too.
	 */
	spin_lock(&sess->lock);
	hints = sess->nr_hints;
	spin_unlock(&sess->lock);
	if (sess->save->pending) {
		sess->save->pending(sess, &initial, &dirty);
		spin_lock(&sess->lock);
		vmig_unread_locked(sess, &initial, &dirty);
		spin_unlock(&sess->lock);
		if (!initial && !dirty)
			goto out_nothing;
	}
	if (!sess->save->produce)
		return -EAGAIN;

	ret = sess->save->produce(sess);
	if (ret && ret != -ENOBUFS) {
		vmig_save_error(sess, ret);
		return ret;
	}
	vmig_save_flush(sess);
	if (vmig_save_queued(sess))
		return 1;
	/*
	 * Nothing came, whatever pending() said: the round is over as if
	 * it had said nothing.  A hint kept here would have poll() report
	 * EPOLLIN for a read() that only returns -ENOMSG, forever.
	 */
out_nothing:
	spin_lock(&sess->lock);
	if (sess->nr_hints == hints)
		sess->hint = false;
	spin_unlock(&sess->lock);
	return -ENOMSG;
}

static int vmig_save_refill(struct vmig_session *sess, bool nonblock)
{
	struct vmig_device *mig = sess->mig;
	int ret;

	ret = vmig_session_lock_device(sess, nonblock, true);
	if (ret)
		return ret;
	ret = vmig_save_refill_locked(sess);
	vmig_session_unlock_device(mig);
	return ret;
}

static bool vmig_save_wake(struct vmig_session *sess)
{
	bool wake;

	spin_lock(&sess->lock);
	wake = sess->ended || sess->error || sess->kick ||
	       !list_empty(&sess->ready);
	spin_unlock(&sess->lock);
	return wake;
}

static ssize_t vmig_save_read_iter(struct kiocb *iocb, struct iov_iter *to)
{
	struct vmig_session *sess = iocb->ki_filp->private_data;
	bool nonblock = (iocb->ki_filp->f_flags & O_NONBLOCK) ||
			(iocb->ki_flags & IOCB_NOWAIT);
	ssize_t ret, done = 0;

	if (!iov_iter_count(to))
		return 0;
	/*
	 * The permanent end of stream is read without a lock: nothing of
	 * the stream changes once it was reached, and a session that ends
	 * or fails now could as well have done it after this call.
	 */
	if (READ_ONCE(sess->eos) && !READ_ONCE(sess->ended) &&
	    !READ_ONCE(sess->error))
		return 0;
	/* A blocking reader holds io_lock while it waits for data. */
	if (nonblock) {
		if (!mutex_trylock(&sess->io_lock))
			return -EAGAIN;
	} else if (mutex_lock_interruptible(&sess->io_lock)) {
		return -ERESTARTSYS;
	}

	/*
	 * In STOP_COPY a blocking read fills the buffer with what is queued
	 * and what the producer queues on demand (one call for a small
	 * stream, as for a QEMU read of 1 MiB), until a signal comes.  It
	 * waits only while nothing was copied.  Otherwise, and in pre-copy,
	 * where each refill asks the driver what is pending, a read returns
	 * what was queued as soon as it copied something.  Whatever stopped
	 * the filling (an error, the end of the stream) is found again by
	 * the next call.
	 */
	for (;;) {
		ret = vmig_save_copy_out(sess, to);
		if (ret < 0)
			break;
		done += ret;
		if (!iov_iter_count(to) || READ_ONCE(sess->eos))
			break;
		if (done && (nonblock || signal_pending(current) ||
			     READ_ONCE(sess->phase) != VFIO_DEVICE_STATE_STOP_COPY))
			break;
		cond_resched();
		ret = vmig_save_refill(sess, nonblock);
		if (ret == 1)
			continue;
		if (done || ret != -EAGAIN || nonblock)
			break;
		ret = wait_event_interruptible(sess->wq, vmig_save_wake(sess));
		if (ret)
			break;
	}
	mutex_unlock(&sess->io_lock);
	return done ?: ret;
}

static __poll_t vmig_save_poll(struct file *file, poll_table *wait)
{
	struct vmig_session *sess = file->private_data;
	__poll_t mask = 0;

	poll_wait(file, &sess->wq, wait);
	spin_lock(&sess->lock);
	if (sess->ended)
		mask = EPOLLIN | EPOLLRDNORM | EPOLLERR | EPOLLHUP;
	else if (sess->error || sess->eos || !list_empty(&sess->ready))
		mask = EPOLLIN | EPOLLRDNORM;
	else if (sess->phase == VFIO_DEVICE_STATE_STOP_COPY &&
		 (sess->save->produce || sess->complete))
		mask = EPOLLIN | EPOLLRDNORM;	/* read() makes progress */
	else if (sess->phase != VFIO_DEVICE_STATE_STOP_COPY &&
		 sess->save->produce && sess->hint)
		mask = EPOLLIN | EPOLLRDNORM;
	spin_unlock(&sess->lock);
	return mask;
}

static long vmig_precopy_info(struct vmig_session *sess, void __user *arg)
{
	unsigned long minsz = offsetofend(struct vfio_precopy_info, dirty_bytes);
	struct vmig_device *mig = sess->mig;
	struct vfio_precopy_info info;
	u64 initial = 0, dirty = 0;
	int ret;

	if (copy_from_user(&info, arg, minsz))
		return -EFAULT;
	if (info.argsz < minsz)
		return -EINVAL;

	ret = vmig_session_lock_device(sess, false, false);
	if (ret)
		return ret;
	ret = -EINVAL;
	if (mig->state == VFIO_DEVICE_STATE_PRE_COPY ||
	    mig->state == VFIO_DEVICE_STATE_PRE_COPY_P2P) {
		if (sess->save->pending)
			sess->save->pending(sess, &initial, &dirty);

		info.flags = 0;
		spin_lock(&sess->lock);
		vmig_unread_locked(sess, &initial, &dirty);
		info.initial_bytes = initial;
		info.dirty_bytes = dirty;
		/* Reported once, to whoever asks first, if opted in. */
		if (sess->reinit && mig->precopy_v2)
			info.flags |= VFIO_PRECOPY_INFO_REINIT;
		sess->reinit = false;
		spin_unlock(&sess->lock);
		ret = 0;
	}
	vmig_session_unlock_device(mig);
	if (ret)
		return ret;

	/* Outside every lock: the copy may fault. */
	return copy_to_user(arg, &info, minsz) ? -EFAULT : 0;
}

static long vmig_save_ioctl(struct file *file, unsigned int cmd,
			    unsigned long arg)
{
	struct vmig_session *sess = file->private_data;

	if (cmd != VFIO_MIG_GET_PRECOPY_INFO)
		return -ENOTTY;
	return vmig_precopy_info(sess, (void __user *)arg);
}

static int vmig_session_release_file(struct inode *inode, struct file *file)
{
	vmig_session_put(file->private_data);
	return 0;
}

static const struct file_operations vmig_save_fops = {
	.owner = THIS_MODULE,
	.read_iter = vmig_save_read_iter,
	.poll = vmig_save_poll,
	.unlocked_ioctl = vmig_save_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.release = vmig_session_release_file,
};

/**
 * vmig_save_open() - start a saving session
 * @mig: the device, in an arc that starts a saving session
 * @ops: the producer; @ops->release is mandatory
 * @cfg: identity, chunk size and driver data
 *
 * The stream header is framed and queued at once.  Return the file from
 * the arc handler; the core owns the session from then on.  Called with the
 * state lock held.
 *
 * Return: the data file, or ERR_PTR(-EINVAL) for a bad configuration,
 * -ENOMEM, or another error from creating the file.
 */
struct file *vmig_save_open(struct vmig_device *mig,
			    const struct vmig_save_ops *ops,
			    const struct vmig_session_cfg *cfg)
{
	struct vmig_session *sess;
	struct vmig_chunk *c;
	struct file *file;

	if (!ops || !ops->release || (ops->produce && ops->feed))
		return ERR_PTR(-EINVAL);
	sess = vmig_session_new(mig, VMIG_SESSION_SAVE, cfg);
	if (IS_ERR(sess))
		return ERR_CAST(sess);
	sess->save = ops;
	sess->hint = true;
	INIT_WORK(&sess->feed_work, vmig_feed_work);

	/* Nobody else sees the session yet: its first chunk takes no lock. */
	c = vmig_chunk_alloc(sess);
	if (!c) {
		file = ERR_PTR(-ENOMEM);
		goto err_free;
	}
	sess->nr_chunks = 1;
	sess->peak_chunks = 1;
	c->pos = 0;
	c->initial = true;
	c->len = vmig_stream_put_hdr(c->data, sess->id, sess->id_len);
	sess->unread_initial = c->len;
	list_add_tail(&c->list, &sess->ready);

	file = vmig_session_file(sess, &vmig_save_fops, O_RDONLY);
	if (IS_ERR(file))
		goto err_free;
	trace_vmig_session(mig, true, "start", 0);
	return file;

err_free:
	/* Nothing of the driver's ran yet: no release op to call. */
	sess->ended = true;
	sess->released = true;
	vmig_session_put(sess);
	return file;
}
EXPORT_SYMBOL_GPL(vmig_save_open);

/* ---------------------------------------------------------------------- */
/* Resuming.                                                              */

static int vmig_resume_record(void *ctx, u32 type, u32 flags,
			      const void *data, u32 len)
{
	struct vmig_session *sess = ctx;

	return sess->resume->load(sess, type, data, len);
}

static ssize_t vmig_resume_write_iter(struct kiocb *iocb, struct iov_iter *from)
{
	struct vmig_session *sess = iocb->ki_filp->private_data;
	bool nonblock = (iocb->ki_filp->f_flags & O_NONBLOCK) ||
			(iocb->ki_flags & IOCB_NOWAIT);
	struct vmig_device *mig = sess->mig;
	ssize_t done = 0;
	int ret = 0;

	/* Another writer holds io_lock while the driver loads a record. */
	if (nonblock) {
		if (!mutex_trylock(&sess->io_lock))
			return -EAGAIN;
	} else if (mutex_lock_interruptible(&sess->io_lock)) {
		return -ERESTARTSYS;
	}

	while (iov_iter_count(from)) {
		size_t left = iov_iter_count(from);
		size_t n = min_t(size_t, left, VMIG_BOUNCE_SIZE);
		bool fault = false;
		size_t copied;
		u8 *dst;
		u32 room;

		/* Neither a buffer nor a copy for a session that ended. */
		if (READ_ONCE(sess->ended)) {
			ret = -ENODEV;
			break;
		}
		/*
		 * Copy in first, with no lock but io_lock: it may fault.  The
		 * bulk of a long payload goes straight into the parser's
		 * buffer, the rest through the bounce buffer.  A record header
		 * with more than a round after it goes alone, so that a long
		 * payload behind it is not split across the two.  A write that
		 * may not block takes no more than a round, as it may find the
		 * state lock taken after the copy.
		 */
		dst = vmig_stream_direct(&sess->parser, &room);
		if (IS_ERR(dst)) {
			/* No memory for the payload: no stream error. */
			ret = PTR_ERR(dst);
			break;
		}
		if (dst && room >= VMIG_BOUNCE_SIZE) {
			n = min_t(size_t, left, nonblock ? VMIG_BOUNCE_SIZE : room);
		} else {
			dst = sess->bounce;
			if (vmig_stream_at_record(&sess->parser) &&
			    left > VMIG_BOUNCE_SIZE)
				n = sizeof(struct vmig_rec_hdr);
		}
		/*
		 * A fault part way: the bytes before it count, and the write
		 * returns them; the next one faults at once.
		 */
		copied = copy_from_iter(dst, n, from);
		if (!copied) {
			ret = -EFAULT;
			break;
		}
		fault = copied < n;
		n = copied;

		ret = vmig_session_lock_device(sess, nonblock, false);
		if (ret)
			break;
		spin_lock(&sess->lock);
		ret = sess->ended ? -ENODEV : sess->error;
		spin_unlock(&sess->lock);
		if (!ret && dst != sess->bounce) {
			ret = vmig_stream_commit(&sess->parser, n);
		} else if (!ret) {
			u64 start = sess->parser.offset;
			size_t taken;

			ret = vmig_stream_parse(&sess->parser, sess->bounce, n);
			if (vmig_stream_retryable(&sess->parser, ret)) {
				/*
				 * No memory for the next item: no stream
				 * error.  Give back what the parser did not
				 * take, for the caller to write again.
				 */
				taken = sess->parser.offset - start;
				iov_iter_revert(from, n - taken);
				done += taken;
				sess->bytes_written += taken;
				vmig_session_unlock_device(mig);
				break;
			}
		}
		if (ret && ret != -ENODEV) {
			spin_lock(&sess->lock);
			if (!sess->error)
				sess->error = ret;
			spin_unlock(&sess->lock);
			/* A poller waits for EPOLLERR too. */
			vmig_session_wake(sess);
		}
		vmig_session_unlock_device(mig);
		if (ret)
			break;
		done += n;
		sess->bytes_written += n;
		if (dst != sess->bounce)
			sess->bytes_direct += n;
		if (fault) {
			ret = -EFAULT;
			break;
		}
	}
	mutex_unlock(&sess->io_lock);
	return done ?: ret;
}

static __poll_t vmig_resume_poll(struct file *file, poll_table *wait)
{
	struct vmig_session *sess = file->private_data;
	__poll_t mask = EPOLLOUT | EPOLLWRNORM;

	poll_wait(file, &sess->wq, wait);
	spin_lock(&sess->lock);
	if (sess->ended)
		mask = EPOLLERR | EPOLLHUP;
	else if (sess->error)
		mask |= EPOLLERR;
	spin_unlock(&sess->lock);
	return mask;
}

static long vmig_resume_ioctl(struct file *file, unsigned int cmd,
			      unsigned long arg)
{
	struct vmig_session *sess = file->private_data;

	if (cmd != VFIO_MIG_GET_PRECOPY_INFO)
		return -ENOTTY;
	/* Only a saving session in PRE_COPY has pre-copy information. */
	return READ_ONCE(sess->ended) ? -ENODEV : -EINVAL;
}

static const struct file_operations vmig_resume_fops = {
	.owner = THIS_MODULE,
	.write_iter = vmig_resume_write_iter,
	.poll = vmig_resume_poll,
	.unlocked_ioctl = vmig_resume_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.release = vmig_session_release_file,
};

/**
 * vmig_resume_open() - start a resuming session
 * @mig: the device, in the arc STOP -> RESUMING
 * @ops: the consumer; @ops->load and @ops->release are mandatory
 * @cfg: the identity the stream must carry, the largest record payload
 *	accepted (@cfg->chunk_size) and driver data
 *
 * Return the file from the arc handler.  Called with the state lock held.
 *
 * Return: the data file, or ERR_PTR(-EINVAL) for a bad configuration,
 * -ENOMEM, or another error from creating the file.
 */
struct file *vmig_resume_open(struct vmig_device *mig,
			      const struct vmig_resume_ops *ops,
			      const struct vmig_session_cfg *cfg)
{
	struct vmig_session *sess;
	struct file *file;

	if (!ops || !ops->load || !ops->release)
		return ERR_PTR(-EINVAL);
	sess = vmig_session_new(mig, VMIG_SESSION_RESUME, cfg);
	if (IS_ERR(sess))
		return ERR_CAST(sess);
	sess->resume = ops;
	vmig_stream_parser_init(&sess->parser, sess->id, sess->id_len,
				sess->chunk_size, vmig_resume_record, sess);

	sess->bounce = kmalloc(VMIG_BOUNCE_SIZE, GFP_KERNEL_ACCOUNT);
	if (!sess->bounce) {
		file = ERR_PTR(-ENOMEM);
		goto err_free;
	}
	file = vmig_session_file(sess, &vmig_resume_fops, O_WRONLY);
	if (IS_ERR(file))
		goto err_free;
	trace_vmig_session(mig, false, "start", 0);
	return file;

err_free:
	sess->ended = true;
	sess->released = true;
	vmig_session_put(sess);
	return file;
}
EXPORT_SYMBOL_GPL(vmig_resume_open);

/* The FSM state of a saving session, as of the last arc. */
u32 vmig_session_phase(struct vmig_session *sess)
{
	u32 phase;

	/* The lock orders what the arc did before the phase changed. */
	spin_lock(&sess->lock);
	phase = sess->phase;
	spin_unlock(&sess->lock);
	return phase;
}

/* Stream bytes framed and not yet read. */
u64 vmig_session_unread(struct vmig_session *sess)
{
	u64 initial = 0, dirty = 0;

	spin_lock(&sess->lock);
	vmig_unread_locked(sess, &initial, &dirty);
	spin_unlock(&sess->lock);
	return initial + dirty;
}
EXPORT_SYMBOL_IF_KUNIT(vmig_session_unread);

struct vmig_region *vmig_session_region(struct vmig_session *sess)
{
	return sess->region;
}

void vmig_session_set_region(struct vmig_session *sess, struct vmig_region *r)
{
	sess->region = r;
}

/*
 * The smallest record the producer adds, @bytes in the stream: a chunk
 * with less room left is queued for read() at the commit that filled it.
 */
void vmig_session_set_min_record(struct vmig_session *sess, u32 bytes)
{
	sess->min_record = bytes;
}

/* The most chunks the session ever held, for the memory bound. */
u32 vmig_session_peak_chunks(struct vmig_session *sess)
{
	return sess->peak_chunks;
}
EXPORT_SYMBOL_IF_KUNIT(vmig_session_peak_chunks);

/* Bytes a resuming session's writes put straight into the parser's buffer. */
u64 vmig_session_direct_bytes(struct vmig_session *sess)
{
	return sess->bytes_direct;
}
EXPORT_SYMBOL_IF_KUNIT(vmig_session_direct_bytes);

/* One paragraph per session in the device's debugfs status. */
void vmig_session_show(struct vmig_session *sess, struct seq_file *m)
{
	u64 initial = 0, dirty = 0;

	spin_lock(&sess->lock);
	if (sess->kind == VMIG_SESSION_SAVE) {
		vmig_unread_locked(sess, &initial, &dirty);
		seq_printf(m,
			   "session: saving, %llu bytes read, %llu records, unread %llu initial + %llu dirty, chunks %u of %u bytes (peak %u, limit %u)%s%s\n",
			   sess->bytes_read, READ_ONCE(sess->nr_records),
			   initial, dirty,
			   sess->nr_chunks, sess->chunk_size, sess->peak_chunks,
			   VMIG_SAVE_CHUNKS, sess->complete ? ", complete" : "",
			   sess->eos ? ", end of stream" : "");
	} else {
		seq_printf(m, "session: resuming, %llu bytes written (%llu in place), %llu records, error %d\n",
			   sess->bytes_written, sess->bytes_direct,
			   sess->parser.nr_records, sess->error);
	}
	spin_unlock(&sess->lock);
	if (sess->region)
		vmig_region_show(sess->region, m);
}
