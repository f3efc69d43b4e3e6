/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * vmig: the VFIO live-migration core.
 *
 * A driver implements the single FSM arcs of the VFIO migration uAPI and
 * describes its device state as records; vmig owns the rest: the next-state
 * table, the walk over several arcs with its unwind, the masking of optional
 * states, the device state itself, the data files of saving and resuming
 * sessions, the stream envelope, reset, and the glue to vfio.ko.
 */
#ifndef _LINUX_VMIG_H
#define _LINUX_VMIG_H

#include <linux/atomic.h>
#include <linux/limits.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/stddef.h>
#include <linux/types.h>
#include <linux/vfio.h>
#include <linux/wait.h>

struct dentry;
struct file;
struct vmig_device;
struct vmig_session;

/* Number of states of enum vfio_device_mig_state (ERROR .. PRE_COPY_P2P). */
#define VMIG_NR_STATES		(VFIO_DEVICE_STATE_PRE_COPY_P2P + 1)

/* Every migration flag the core knows how to drive. */
#define VMIG_KNOWN_FLAGS	(VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P | \
				 VFIO_MIGRATION_PRE_COPY)

/**
 * VMIG_ARC() - encode the arc @from -> @to as one integer
 * @from: state the arc leaves
 * @to: state the arc enters
 *
 * Meant for switch statements in arc handlers: ``switch (VMIG_ARC(from,
 * to))``, with VMIG_ARC_OF() for the case labels.
 */
#define VMIG_ARC(from, to)	((from) * VMIG_NR_STATES + (to))

/**
 * VMIG_ARC_OF() - VMIG_ARC() of two states named without their prefix
 * @from: state the arc leaves, e.g. STOP
 * @to: state the arc enters, e.g. STOP_COPY
 *
 * For the case labels of an arc handler: ``case VMIG_ARC_OF(STOP,
 * STOP_COPY):`` against ``switch (VMIG_ARC(from, to))``.
 */
#define VMIG_ARC_OF(from, to) \
	VMIG_ARC(VFIO_DEVICE_STATE_##from, VFIO_DEVICE_STATE_##to)

/**
 * struct vmig_vfio_ops - how vfio.ko's migration callbacks reach a device
 * @ops: what vfio.ko calls: the core's vmig_vfio_set_state(),
 *	vmig_vfio_get_state() and vmig_vfio_get_data_size()
 * @mig_offset: where the driver's device structure keeps its vmig_device,
 *	counted from its vfio_device; vmig_init() checks that it finds the
 *	device it is given
 *
 * Define one per driver with VMIG_VFIO_OPS() and put it in
 * &struct vmig_ops.vfio_ops.  The core's callbacks get from vfio.ko's
 * vfio_device to the table through its mig_ops, then to the vmig device
 * by @mig_offset: no lookup, no lock, no call, and the table stays const.
 */
struct vmig_vfio_ops {
	struct vfio_migration_ops ops;
	ptrdiff_t mig_offset;
};

struct file *vmig_vfio_set_state(struct vfio_device *vdev,
				 enum vfio_device_mig_state new_state);
int vmig_vfio_get_state(struct vfio_device *vdev,
			enum vfio_device_mig_state *curr_state);
int vmig_vfio_get_data_size(struct vfio_device *vdev,
			    unsigned long *stop_copy_length);

/**
 * VMIG_VFIO_OPS() - initialiser of a &struct vmig_vfio_ops
 * @type: the driver's device structure
 * @vdev_member: its &struct vfio_device, as for offsetof() (``core.vdev``)
 * @mig_member: its &struct vmig_device
 */
#define VMIG_VFIO_OPS(type, vdev_member, mig_member) {			\
	.ops = {							\
		.migration_set_state = vmig_vfio_set_state,		\
		.migration_get_state = vmig_vfio_get_state,		\
		.migration_get_data_size = vmig_vfio_get_data_size,	\
	},								\
	.mig_offset = offsetof(type, mig_member) -			\
		      offsetof(type, vdev_member),			\
}

/**
 * struct vmig_ops - what a driver provides to the migration core
 * @migration_step_device_state: perform exactly one FSM arc, from the
 *	current state @from to the adjacent state @to.  The core only ever
 *	asks for arcs of the FSM (see vmig_arc_valid()) that the device's
 *	migration flags allow, in an order that walks the shortest path to the
 *	state userspace requested, and it calls this with the state lock held.
 *
 *	Return the data file from vmig_save_open() or vmig_resume_open() when
 *	the arc starts a session (see vmig_arc_starts_session()), NULL when
 *	the arc succeeded without starting one, or an ERR_PTR() when it
 *	failed.  A failed arc must leave the device in @from; when that is
 *	impossible, call vmig_arc_broken() before returning the error and the
 *	core moves the FSM to ERROR.  Sessions are ended by the core, never by
 *	an arc.
 * @get_data_size: optional; an estimate of what a STOP_COPY session would
 *	stream now, as the stream bytes of the driver's records (the sum of
 *	vmig_stream_record_size() over them).  The core adds the stream
 *	header, the identity of vmig_set_stream_id() and the trailer, so
 *	VFIO_DEVICE_FEATURE_MIG_DATA_SIZE never reports 0.  Called with the
 *	state lock held.
 * @reset: optional; called by vmig_reset() with the state lock held, after
 *	the FSM returned to RUNNING and the current session ended: bring what
 *	the driver keeps for the FSM (run mode, frozen registers) to its
 *	state after a reset before any arc can run again, so that no arc
 *	sees a device that disagrees with the FSM.  Must not fail.
 * @vfio_ops: the vfio_migration_ops of the core with the place of the
 *	driver's vmig_device next to its vfio_device, from VMIG_VFIO_OPS();
 *	mandatory when vmig_init() is given a vfio_device.
 */
struct vmig_ops {
	struct file *(*migration_step_device_state)(struct vmig_device *mig,
						    enum vfio_device_mig_state from,
						    enum vfio_device_mig_state to);
	int (*get_data_size)(struct vmig_device *mig, unsigned long *bytes);
	void (*reset)(struct vmig_device *mig);
	const struct vmig_vfio_ops *vfio_ops;
};

/**
 * struct vmig_failure - the last walk that failed
 * @seq: number of failed walks so far; 0 if none failed
 * @start: state the walk started in
 * @target: state it was asked to reach
 * @from: the arc that failed, first state
 * @to: the arc that failed, second state
 * @err: errno the arc returned (negative)
 * @end: state after the failure: @start when unwound, ERROR otherwise
 * @injected: the failure came from the debugfs fault injection
 */
struct vmig_failure {
	u32 seq;
	u8 start;
	u8 target;
	u8 from;
	u8 to;
	int err;
	u8 end;
	bool injected;
};

/**
 * struct vmig_region_stats - what the region sessions of a device did
 * @scans: scans for changed blocks during pre-copy
 * @scan_ns: duration of the last of them
 * @final_ns: duration of the last STOP_COPY pass over a region
 * @resent_blocks: blocks sent again after they changed
 * @track_bytes: memory of the tracking of the last pre-copy session (the
 *	core's bitmaps; the driver's own is not counted)
 */
struct vmig_region_stats {
	u64 scans;
	u64 scan_ns;
	u64 final_ns;
	u64 resent_blocks;
	u64 track_bytes;
};

/**
 * struct vmig_device - per-device migration state owned by the core
 * @ops: the driver's arc handlers
 * @vdev: the vfio device whose mig_ops the core provides, or NULL
 * @id: the stream identity of vmig_set_stream_id(), or NULL
 * @id_len: its length
 * @flags: VFIO_MIGRATION_* flags the device supports
 * @name: short name for traces and debugfs
 * @state_lock: serialises walks, resets, session ends and readers of @state
 * @state: the FSM state the device is in
 * @file_users: file operations of data files that hold or wait for
 *	@state_lock; vmig_uninit() waits until there are none
 * @arc_broken: set by vmig_arc_broken() while an arc runs
 * @session: the data session the FSM is in, if any
 * @precopy_v2: userspace opted in to VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2
 * @last_failure: the last walk that failed
 * @arc_ok: arcs that succeeded, by [from][to]
 * @arc_failed: arcs that failed, by [from][to]
 * @nr_walks: requests that ran at least one arc
 * @nr_resets: calls of vmig_reset()
 * @last_peak_bytes: most chunk memory the last ended saving session held
 * @stats_lock: protects @region
 * @region: what its region sessions did, for debugfs and the driver
 * @inject: debugfs fault injection: the arc to fail, its errno and count
 * @debugfs: the device's debugfs directory
 *
 * Drivers embed this structure in their own device structure, initialise it
 * with vmig_init() and get back to their structure with container_of().  All
 * members are private to the core.
 */
struct vmig_device {
	const struct vmig_ops *ops;
	struct vfio_device *vdev;
	void *id;
	u32 id_len;
	u32 flags;
	char name[40];
	struct mutex state_lock;	/* see "Locking" in the documentation */
	enum vfio_device_mig_state state;
	atomic_t file_users;
	bool arc_broken;
	struct vmig_session *session;
	bool precopy_v2;
	struct vmig_failure last_failure;
	u32 arc_ok[VMIG_NR_STATES][VMIG_NR_STATES];
	u32 arc_failed[VMIG_NR_STATES][VMIG_NR_STATES];
	u64 nr_walks;
	u64 nr_resets;
	u64 last_peak_bytes;
	spinlock_t stats_lock;	/* @region */
	struct vmig_region_stats region;
	struct {
		u8 from;
		u8 to;
		bool broken;
		int err;
		u32 count;
	} inject;
	struct dentry *debugfs;
};

/* --- The FSM ------------------------------------------------------------ */

int vmig_init(struct vmig_device *mig, struct vfio_device *vdev,
	      const struct vmig_ops *ops, u32 flags);
void vmig_uninit(struct vmig_device *mig);

bool vmig_state_supported(u32 flags, u32 state);
bool vmig_arc_valid(u32 from, u32 to);
bool vmig_arc_starts_session(u32 from, u32 to);
bool vmig_in_saving_group(u32 state);
u32 vmig_next_state(u32 flags, u32 cur, u32 target);
const char *vmig_state_name(u32 state);

struct file *vmig_set_state(struct vmig_device *mig, u32 target);
enum vfio_device_mig_state vmig_get_state(struct vmig_device *mig);
void vmig_arc_broken(struct vmig_device *mig);

/* --- Device life cycle: open, close, reset ------------------------------ */

void vmig_open(struct vmig_device *mig);
void vmig_close(struct vmig_device *mig);
void vmig_reset(struct vmig_device *mig);

/* --- vfio glue ---------------------------------------------------------- */

int vmig_device_feature(struct vmig_device *mig, u32 flags, void __user *arg,
			size_t argsz);

/* --- Data sessions ------------------------------------------------------ */

/**
 * struct vmig_stream_id - what a stream must match to be loaded
 * @data: identity and configuration of the device, in the driver's own
 *	encoding: model, format revision, sizes that must agree on both ends
 * @len: length of @data, at most %VMIG_STREAM_MAX_ID
 *
 * A saving session writes @data into the stream header; a resuming session
 * refuses a stream whose header carries anything else.
 */
struct vmig_stream_id {
	const void *data;
	u32 len;
};

#define VMIG_STREAM_MAX_ID	1024

/* Record flags.  MANDATORY is written to the stream. */
#define VMIG_REC_MANDATORY	BIT(0)
/* Accounting only, never written: the record is initial pre-copy data. */
#define VMIG_REC_INITIAL	BIT(31)

/* Record types below this are the core's own. */
#define VMIG_REC_DRIVER_BASE	16

/**
 * struct vmig_save_ops - a saving session's producer
 * @produce: optional; called with the state lock held when a reader finds
 *	nothing queued and more data is due.  Add records with vmig_save_*()
 *	without waiting for chunks; stop at -ENOBUFS, you are called again.
 *	Any other error fails the session: read() returns it from then on.
 *	Drivers without it produce from @feed, or from a worker of their
 *	own.
 * @feed: optional, not with @produce; the session's worker.  The core
 *	calls it at most once (not at all if the session ends first), from
 *	a work item of its own, once the session is the device's, and
 *	waits for it to return before the session's release op.  Add
 *	records with vmig_save_reserve() waiting for chunks; wait for
 *	requests with vmig_feed_wait() and friends, which vmig_feed_kick()
 *	wakes; return when vmig_session_ended() says so, or once
 *	vmig_save_complete() was called.  Another return than 0 fails the
 *	stream unless the session ended, and so does 0 before either.
 *	The core holds the state lock while it waits for @feed to return:
 *	never take it, nor call what takes it (vmig_set_state(),
 *	vmig_get_state(), vmig_reset(), the device's vfio callbacks), nor
 *	wait for anything that waits for it.  At most %WQ_MAX_ACTIVE
 *	feeds run at once, system-wide; more wait for one to return.
 * @pending: optional; bytes of record payload not yet added to the stream,
 *	split as VFIO_MIG_GET_PRECOPY_INFO reports them.  Called with the
 *	state lock held, in PRE_COPY states only.  Without it, PRECOPY_INFO
 *	counts only what is framed and unread, a reader in PRE_COPY calls
 *	@produce and meets the temporary end of stream when it adds
 *	nothing, and a session fed by a worker has no temporary end at
 *	all: read() waits for the worker.
 * @release: the session ended (the FSM left the saving group, the device
 *	was reset or closed): stop producing, wait for any worker of the
 *	driver's own (@feed has returned already), free what the session
 *	used.  Called once, with the state lock held.
 */
struct vmig_save_ops {
	int (*produce)(struct vmig_session *sess);
	int (*feed)(struct vmig_session *sess);
	void (*pending)(struct vmig_session *sess, u64 *initial, u64 *dirty);
	void (*release)(struct vmig_session *sess);
};

/**
 * struct vmig_resume_ops - a resuming session's consumer
 * @load: apply one record that passed its checks.  Return 0, -EOPNOTSUPP
 *	for a record type the driver does not know (the core skips it unless
 *	it is mandatory), or another -errno that fails the session.  Called
 *	with the state lock held.
 * @release: the session ended; free what it used.  Called once, with the
 *	state lock held.
 */
struct vmig_resume_ops {
	int (*load)(struct vmig_session *sess, u32 type, const void *data,
		    u32 len);
	void (*release)(struct vmig_session *sess);
};

/**
 * struct vmig_session_cfg - parameters of a new session
 * @id: identity the stream carries (saving) or must carry (resuming);
 *	when empty, the device's, from vmig_set_stream_id()
 * @chunk_size: saving: bytes per chunk of the stream queue, 4 KiB to 4 MiB;
 *	a record never spans chunks.  Resuming: largest record payload the
 *	driver accepts.  0 selects %VMIG_DEFAULT_CHUNK.
 * @priv: the driver's session data, returned by vmig_session_priv()
 */
struct vmig_session_cfg {
	struct vmig_stream_id id;
	u32 chunk_size;
	void *priv;
};

#define VMIG_DEFAULT_CHUNK	(64 * 1024)
#define VMIG_MAX_CHUNK		(4 * 1024 * 1024)
/* A saving session never holds more than this many chunks. */
#define VMIG_SAVE_CHUNKS	4

int vmig_set_stream_id(struct vmig_device *mig, const void *id, u32 len);
struct file *vmig_save_open(struct vmig_device *mig,
			    const struct vmig_save_ops *ops,
			    const struct vmig_session_cfg *cfg);
struct file *vmig_resume_open(struct vmig_device *mig,
			      const struct vmig_resume_ops *ops,
			      const struct vmig_session_cfg *cfg);

struct vmig_session *vmig_file_session(struct file *file);
void *vmig_session_priv(struct vmig_session *sess);
struct vmig_device *vmig_session_device(struct vmig_session *sess);

void *vmig_save_reserve(struct vmig_session *sess, u32 type, u32 flags,
			u32 len, bool wait);
void vmig_save_commit(struct vmig_session *sess);
int vmig_save_prealloc(struct vmig_session *sess);
int vmig_save_record(struct vmig_session *sess, u32 type, u32 flags,
		     const void *data, u32 len, bool wait);
void vmig_save_flush(struct vmig_session *sess);
void vmig_save_complete(struct vmig_session *sess);
void vmig_save_error(struct vmig_session *sess, int err);
void vmig_save_notify(struct vmig_session *sess);
void vmig_save_reinit(struct vmig_session *sess);
bool vmig_session_ended(struct vmig_session *sess);
wait_queue_head_t *vmig_feed_waitq(struct vmig_session *sess);
void vmig_feed_kick(struct vmig_session *sess);

/**
 * vmig_feed_wait() - sleep in &struct vmig_save_ops.feed until @cond
 * @sess: the saving session
 * @cond: the driver's condition, read again after each wake-up
 *
 * Wakes when @cond holds after vmig_feed_kick(), or when the session
 * ends; the sleep counts as idle, not as load, and is not interruptible
 * (a work item has no signals).  Check vmig_session_ended() afterwards.
 */
#define vmig_feed_wait(sess, cond)					\
do {									\
	struct vmig_session *__fs = (sess);				\
									\
	wait_event_idle(*vmig_feed_waitq(__fs),				\
			vmig_session_ended(__fs) || (cond));		\
} while (0)

/**
 * vmig_feed_wait_timeout() - vmig_feed_wait() for at most @timeout jiffies
 * @sess: the saving session
 * @cond: as for vmig_feed_wait()
 * @timeout: jiffies
 *
 * Return: as wait_event_idle_timeout(): 0 if @timeout elapsed with @cond
 * false and the session not ended, else at least 1.
 */
#define vmig_feed_wait_timeout(sess, cond, timeout)			\
({									\
	struct vmig_session *__fs = (sess);				\
									\
	wait_event_idle_timeout(*vmig_feed_waitq(__fs),			\
				vmig_session_ended(__fs) || (cond),	\
				(timeout));				\
})

void vmig_save_cancel(struct vmig_session *sess);

/* --- Region sessions ----------------------------------------------------- */

/**
 * struct vmig_region_rec - payload of a region record
 * @offset: where in the region @data starts, little endian
 * @data: whole blocks of the region, up to the end of the record
 *
 * The layout of every record of a region session (see "Region sessions"):
 * the resuming side's &struct vmig_resume_ops.load gets it as is.
 */
struct vmig_region_rec {
	__le64 offset;
	u8 data[];
} __packed;

/**
 * struct vmig_region_ops - how the core reads a region of the device
 * @read: copy @len bytes of the region from @off, whole blocks, to @buf,
 *	which is 8-byte aligned.  With @track, the core will later ask
 *	@changed about these blocks: remember what they hold now (a hash, a
 *	generation), or clear their bits in a hardware dirty log.  Return
 *	0; -EAGAIN when the copy was disturbed and must be redone (the core
 *	tries three times in all, then fails the stream with -EIO); or
 *	another -errno, which fails the stream.  Runs on the session's
 *	worker, with the constraints of &struct vmig_save_ops.feed.
 * @changed: mandatory with pre-copy.  Of the @n blocks (at most 64) from
 *	@off, those whose bit is set in *@mask on entry (bit i for the block
 *	at @off + i * block size) were read with @track before; clear the bit
 *	of each that still holds what that read returned.  Return 0;
 *	-EAGAIN when the answer was disturbed: the core is not asking again
 *	(a dirty log read and cleared would then miss what it consumed) but
 *	takes every block asked about as changed; or another -errno, which
 *	fails the stream.  *@mask counts only after 0.  Runs like @read.
 * @idle: optional; the worker is about to sleep (for a free chunk, for a
 *	request, for STOP_COPY), to yield the CPU, to call @tail, after
 *	@tail, or to return.  Release what @read and @changed keep across
 *	calls, such as a lock held to reach device memory.
 * @linger: optional; every chunk of the session is queued, waiting for
 *	read().  Return true to have the core poll for a free one every
 *	200 us or so instead of calling @idle and sleeping: for a driver
 *	whose @idle is expensive enough to be worth a short wait.  Asked again
 *	after each poll.
 * @tail: optional; add the records that follow the region in STOP_COPY
 *	(registers, a device context) with vmig_save_record(), waiting for
 *	chunks.  Called once, from the worker, after the last region record
 *	and @idle, unless the session ended; @idle follows it.  What the arc
 *	into STOP_COPY left for it under the state lock is visible to it and
 *	stays until the session ended.  Runs like @read: never take the
 *	state lock, nor wait for what waits for it (a lock a reset holds
 *	while it ends the session).
 * @release: the session ended: free the driver's session data.  Called
 *	once, with the state lock held, after the worker returned.
 */
struct vmig_region_ops {
	int (*read)(struct vmig_session *sess, u64 off, u32 len, void *buf,
		    bool track);
	int (*changed)(struct vmig_session *sess, u64 off, u32 n, u64 *mask);
	void (*idle)(struct vmig_session *sess);
	bool (*linger)(struct vmig_session *sess);
	int (*tail)(struct vmig_session *sess);
	void (*release)(struct vmig_session *sess);
};

/* Blocks of a region, at most. */
#define VMIG_REGION_MAX_BLOCKS	INT_MAX

/**
 * struct vmig_region_cfg - the region a region session saves
 * @size: bytes of the region, a whole number of blocks, at most
 *	%VMIG_REGION_MAX_BLOCKS of them
 * @block: bytes per block, the unit of tracking: a power of two, at least
 *	8, and small enough that one record of one block fits in a chunk.
 *	A record carries up to as many blocks as fit in a chunk: the
 *	resuming side must accept payloads of up to the chunk size less
 *	vmig_stream_record_size(0) bytes (its &struct vmig_session_cfg
 *	.chunk_size).
 * @type: record type of the region records, %VMIG_REC_DRIVER_BASE or above
 * @precopy: the session starts in a PRE_COPY state (it tracks changes and
 *	reports pending data); false for a session started in STOP_COPY
 */
struct vmig_region_cfg {
	u64 size;
	u32 block;
	u32 type;
	bool precopy;
};

struct file *vmig_region_save_open(struct vmig_device *mig,
				   const struct vmig_region_ops *ops,
				   const struct vmig_region_cfg *rcfg,
				   const struct vmig_session_cfg *cfg);
u64 vmig_region_stream_bytes(u64 size, u32 block, u32 chunk_size);
bool vmig_region_left(struct vmig_device *mig, u64 *bytes);
void vmig_region_get_stats(struct vmig_device *mig,
			   struct vmig_region_stats *st);

struct dentry *vmig_debugfs_dir(struct vmig_device *mig);

u32 vmig_stream_overhead(u32 id_len);
u32 vmig_stream_record_size(u32 len);

#endif /* _LINUX_VMIG_H */
