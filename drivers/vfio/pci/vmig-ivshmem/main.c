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
 * Saving sessions are region sessions of the core (see "Region sessions"
 * in the core's documentation): the core's worker reads BAR2 in 4 KiB
 * blocks (IVSH_BLOCK) through ivsh_save_read(), straight into the
 * stream's chunks of IVSH_CHUNK (512 KiB) bytes, at most
 * %VMIG_SAVE_CHUNKS of them, so kernel memory for the stream is 2 MiB
 * whatever the size of BAR2.  The core runs the pipeline, the initial
 * image, the scans and their pacing, the final pass in STOP_COPY and
 * VFIO_MIG_GET_PRECOPY_INFO; this driver reads, says which blocks changed
 * (ivsh_save_changed(), see "Dirty tracking"), opens and closes its access
 * windows, and adds the registers after the memory (ivsh_save_tail()).
 * The chunk size was measured: see "Benchmark" in the driver's
 * documentation.
 *
 * The registers are those captured at the freeze: at RUNNING_P2P -> STOP
 * for a session started in STOP_COPY, at PRE_COPY_P2P -> STOP_COPY for one
 * started in pre-copy.  The arc stores them in the session before the
 * core moves it to STOP_COPY, and the core calls the tail only after.
 *
 * &struct vmig_ops.get_data_size (VFIO_DEVICE_FEATURE_MIG_DATA_SIZE) is
 * the full state without a pre-copy session, and what pre-copy has yet to
 * send (vmig_region_left()) plus the registers during one.
 *
 * Every read of BAR2 happens in an access window (see "Access windows"),
 * with memory decoding forced on if userspace turned it off, in PRE_COPY as
 * in STOP_COPY.  The worker keeps its window open from one read to the
 * next (records, and scans of 64 blocks) and closes it after 16 MiB of
 * BAR2 or 20 ms, as soon as a writer of memory_lock waits or the CPU is
 * wanted, and whenever the core goes idle (&struct vmig_region_ops.idle:
 * before it waits for a free chunk, a request, the switchover, before it
 * yields the CPU, and around the tail).  A window that forced decoding
 * on makes the core poll for a free chunk while it may last
 * (&struct vmig_region_ops.linger) rather than close.  After a window the
 * worker stays out for at least 500 us, so that the config accesses and
 * hot resets that found it open, and that it cannot see waiting, get
 * their turn.  So a pass over BAR2 with
 * decoding off turns it on and off a few times, not once per 256 KiB: each
 * turn is two config writes, and under a hypervisor a change of the
 * guest's memory map.  debugfs counts the windows and those that forced
 * decoding on.  Each read is checked (decoding still on, see
 * ivsh_cmd_access_check()) before anything uses it; a read found
 * disturbed returns -EAGAIN and the core reads again, in a new window,
 * and a compare found disturbed returns -EAGAIN and the core takes its
 * blocks as changed.  Nothing is hashed before its check, so a disturbed
 * read neither reaches the stream nor the hashes.
 *
 * The worker takes no lock but, for a window, vfio-pci-core's
 * memory_lock, which it only tries: never the state lock, and it never
 * waits for memory_lock.  The core allocates the session's chunks before
 * the first read, and a window is closed before the worker waits for one,
 * so nothing in a window sleeps but the linger poll.
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
static_assert(IVSH_CHUNK <= IVSH_MEM_MAX_DATA);	/* records the loader takes */
/* The worker's access window covers at most this much of BAR2 ... */
#define IVSH_WINDOW_BYTES	(16 * 1024 * 1024)
/* ... and lasts at most this long ... */
#define IVSH_WINDOW_MS		20
/* ... and the next opens this long after it closed, at least. */
#define IVSH_WINDOW_GAP_US	500
/* The worker's pause between tries for an access window, at least. */
#define IVSH_ACCESS_POLL_US	500

/* Read when a device is bound: a change applies to devices bound later. */
static bool ivsh_precopy = true;
module_param_named(precopy, ivsh_precopy, bool, 0644);
MODULE_PARM_DESC(precopy,
		 "Offer PRE_COPY to devices bound from now on (default: Y); with N, QEMU migrates them in STOP_COPY alone");

/**
 * struct ivsh_save - the driver's side of a saving session
 * @ivsh: the device
 * @sess: the core's session
 * @hash: xxh64 of each block as the stream last carried it; NULL for a
 *	session without pre-copy
 * @scratch: one block, for comparisons
 * @window: the worker holds an access window open
 * @window_bytes: bytes of BAR2 read in the open window
 * @window_end: jiffies at which the open window must close
 * @reopen_at: the next window opens no earlier than this
 * @regs: the registers for the REGS record, from the freeze
 *
 * Only the worker touches the members but @regs, which an arc writes
 * before the session is in STOP_COPY and the worker reads after.
 */
struct ivsh_save {
	struct ivsh_device *ivsh;
	struct vmig_session *sess;
	u64 *hash;
	void *scratch;
	bool window;
	u32 window_bytes;
	unsigned long window_end;
	ktime_t reopen_at;
	struct ivsh_regs regs;
};

static struct ivsh_device *ivsh_from_vdev(struct vfio_device *vdev)
{
	return container_of(vdev, struct ivsh_device, core.vdev);
}

static struct ivsh_device *ivsh_from_mig(struct vmig_device *mig)
{
	return container_of(mig, struct ivsh_device, mig);
}

/* ---------------------------------------------------------------------- */
/* Saving: the access windows of the core's worker.                       */

/*
 * The worker's access window (see "Access windows" and "Saving").  It
 * stays open from one read to the next, so that a pass over BAR2 whose
 * decoding is off turns it on and off once per window, not once per read,
 * and closes when it covered IVSH_WINDOW_BYTES or lasted IVSH_WINDOW_MS,
 * when a writer of memory_lock waits, when the CPU is wanted, and when the
 * core goes idle.
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
		if (vmig_session_ended(s->sess))
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
 * After a read of @bytes of BAR2 that passed its check: close the window
 * when it is due.  The next opens IVSH_WINDOW_GAP_US after it closed at
 * the earliest, whatever closed it (see ivsh_save_open()): a config access
 * that found the window open sleeps in the PCI core until it closes, and
 * a hot reset only tries memory_lock; neither shows up in
 * ivsh_cmd_access_wanted(), and both would find the next window open
 * again if it followed at once.
 */
static void ivsh_save_yield(struct ivsh_save *s, u32 bytes)
{
	s->window_bytes += bytes;
	if (!ivsh_save_window_ok(s))
		ivsh_save_close(s);
}

/* ---------------------------------------------------------------------- */
/* Saving: what the core's worker calls.                                  */

/* &struct vmig_region_ops.read: BAR2 into a record, checked. */
static int ivsh_save_read(struct vmig_session *sess, u64 off, u32 len,
			  void *buf, bool track)
{
	struct ivsh_save *s = vmig_session_priv(sess);
	int ret;

	ret = ivsh_save_open(s);
	if (ret)
		return ret;
	ivsh_cmd_read_mem(s->ivsh, off, len, buf);
	ret = ivsh_cmd_access_check(s->ivsh);
	if (ret) {
		/* -EAGAIN: the core reads again, in a new window. */
		ivsh_save_close(s);
		return ret;
	}
	if (track)
		ivsh_cmd_track_mem(s->hash, off / IVSH_BLOCK, len / IVSH_BLOCK,
				   buf);
	ivsh_save_yield(s, len);
	return 0;
}

/* &struct vmig_region_ops.changed: compare hashes, in one window. */
static int ivsh_save_changed(struct vmig_session *sess, u64 off, u32 n,
			     u64 *mask)
{
	struct ivsh_save *s = vmig_session_priv(sess);
	u32 block = off / IVSH_BLOCK, i;
	u64 todo = *mask;
	int ret;

	ret = ivsh_save_open(s);
	if (ret)
		return ret;
	for (; todo; todo &= todo - 1) {
		i = __ffs64(todo);
		if (!ivsh_cmd_block_changed(s->ivsh, s->hash, block + i,
					    s->scratch))
			*mask &= ~BIT_ULL(i);
	}
	ret = ivsh_cmd_access_check(s->ivsh);
	if (ret) {
		ivsh_save_close(s);
		return ret;
	}
	ivsh_save_yield(s, n * IVSH_BLOCK);
	return 0;
}

/* &struct vmig_region_ops.idle: no window while the worker waits. */
static void ivsh_save_idle(struct vmig_session *sess)
{
	ivsh_save_close(vmig_session_priv(sess));
}

/*
 * &struct vmig_region_ops.linger: every chunk is queued.  A window that
 * forced decoding on stays open while it may last, so that a reader
 * slower than the worker does not cost two config writes and a change of
 * a hypervisor's memory map per chunk; that poll is the one sleep inside
 * a window.
 */
static bool ivsh_save_linger(struct vmig_session *sess)
{
	struct ivsh_save *s = vmig_session_priv(sess);

	return s->window && ivsh_cmd_access_forced(s->ivsh) &&
	       ivsh_save_window_ok(s);
}

/* &struct vmig_region_ops.tail: the registers, after the memory. */
static int ivsh_save_tail(struct vmig_session *sess)
{
	struct ivsh_save *s = vmig_session_priv(sess);
	struct ivsh_rec_regs rec;

	ivsh_cmd_save_regs(&s->regs, &rec);
	return vmig_save_record(sess, IVSH_REC_REGS, VMIG_REC_MANDATORY, &rec,
				sizeof(rec), true);
}

/* ---------------------------------------------------------------------- */
/* Saving sessions.                                                       */

static void ivsh_save_free(struct ivsh_save *s)
{
	kvfree(s->hash);
	kfree(s->scratch);
	kfree(s);
}

static void ivsh_save_release(struct vmig_session *sess)
{
	struct ivsh_save *s = vmig_session_priv(sess);

	/* The core's worker has returned. */
	s->ivsh->save = NULL;
	ivsh_save_free(s);
}

static const struct vmig_region_ops ivsh_region_ops = {
	.read = ivsh_save_read,
	.changed = ivsh_save_changed,
	.idle = ivsh_save_idle,
	.linger = ivsh_save_linger,
	.tail = ivsh_save_tail,
	.release = ivsh_save_release,
};

/* Start a saving session: with pre-copy, or in STOP_COPY at once. */
static struct file *ivsh_save_start(struct ivsh_device *ivsh, bool precopy)
{
	struct vmig_session_cfg cfg = {
		.chunk_size = IVSH_CHUNK,
	};
	struct vmig_region_cfg rcfg = {
		.size = ivsh->bar2_size,
		.block = IVSH_BLOCK,
		.type = IVSH_REC_MEM,
		.precopy = precopy,
	};
	struct ivsh_save *s;
	struct file *file;
	u64 track = 0;

	s = kzalloc(sizeof(*s), GFP_KERNEL_ACCOUNT);
	if (!s)
		return ERR_PTR(-ENOMEM);
	s->ivsh = ivsh;
	if (precopy) {
		s->hash = ivsh_cmd_hash_alloc(ivsh->bar2_size);
		s->scratch = kmalloc(IVSH_BLOCK, GFP_KERNEL_ACCOUNT);
		if (!s->hash || !s->scratch) {
			file = ERR_PTR(-ENOMEM);
			goto err_free;
		}
		track = ivsh->bar2_size / IVSH_BLOCK * sizeof(u64) + IVSH_BLOCK;
	} else {
		/* From STOP: frozen already. */
		s->regs = ivsh->frozen;
	}

	cfg.priv = s;
	file = vmig_region_save_open(&ivsh->mig, &ivsh_region_ops, &rcfg, &cfg);
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
		/* For the tail: the core moves the session on after the arc. */
		if (!ret && !WARN_ON_ONCE(!ivsh->save))
			ivsh->save->regs = ivsh->frozen;
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
	u64 size;

	if (!vmig_region_left(mig, &size))
		size = vmig_region_stream_bytes(ivsh->bar2_size, IVSH_BLOCK,
						IVSH_CHUNK);
	*bytes = size + vmig_stream_record_size(sizeof(struct ivsh_rec_regs));
	return 0;
}

static const struct vmig_vfio_ops ivsh_mig_vfio_ops =
	VMIG_VFIO_OPS(struct ivsh_device, core.vdev, mig);

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
	struct vmig_region_stats rs;
	struct ivsh_stats st;

	spin_lock(&ivsh->stats.lock);
	st = ivsh->stats;
	spin_unlock(&ivsh->stats.lock);
	vmig_region_get_stats(&ivsh->mig, &rs);
	seq_printf(m, "bar2 size: %llu\n", ivsh->bar2_size);
	seq_printf(m, "block size: %u\n", IVSH_BLOCK);
	seq_printf(m, "chunk size: %u\n", IVSH_CHUNK);
	seq_printf(m, "saves: %llu\n", st.saves);
	seq_printf(m, "tracking memory: %llu\n",
		   st.track_bytes + (st.track_bytes ? rs.track_bytes : 0));
	seq_printf(m, "scans: %llu\n", rs.scans);
	seq_printf(m, "last scan ns: %llu\n", rs.scan_ns);
	seq_printf(m, "last final pass ns: %llu\n", rs.final_ns);
	seq_printf(m, "resent blocks: %llu\n", rs.resent_blocks);
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
