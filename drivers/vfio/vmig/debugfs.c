// SPDX-License-Identifier: GPL-2.0-only
/*
 * vmig debugfs: the module's FSM table, and per device its state, arc
 * counts, last failure, session, and a fault-injection knob.
 */

#include <linux/debugfs.h>
#include <linux/export.h>
#include <linux/kstrtox.h>
#include <linux/seq_file.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/vmig.h>

#include "vmig_priv.h"

/**
 * DOC: Debugfs
 *
 * ``/sys/kernel/debug/vmig/fsm`` prints the next-state table and the arcs.
 * Each device with a vfio_device has a directory named after its parent
 * device, with:
 *
 * ``status``
 *	state, flags, number of walks and resets, how often each arc
 *	succeeded and failed, the last failure, and the current session with
 *	its memory use; for a device that ran region sessions, their totals
 *	(&struct vmig_region_stats).
 * ``fail_arc``
 *	fault injection, off by default.  Writing ``FROM TO ERRNO [broken]
 *	[count=N]`` (state names or numbers) makes the next N (default 1)
 *	requests of the arc FROM -> TO fail with -ERRNO before the driver's
 *	handler runs, as a handler would that leaves the device unchanged; with
 *	``broken``, as one that leaves it broken.  The walker then unwinds or
 *	lands in ERROR exactly as for a real failure.  ``off`` disarms it.
 */

static struct dentry *vmig_root;

struct dentry *vmig_debugfs_root(void)
{
	return vmig_root;
}

static int vmig_fsm_show(struct seq_file *m, void *unused)
{
	vmig_fsm_show_table(m);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(vmig_fsm);

void vmig_debugfs_init(void)
{
	vmig_root = debugfs_create_dir("vmig", NULL);
	debugfs_create_file("fsm", 0444, vmig_root, NULL, &vmig_fsm_fops);
}

void vmig_debugfs_exit(void)
{
	debugfs_remove(vmig_root);
}

static int vmig_status_show(struct seq_file *m, void *unused)
{
	struct vmig_device *mig = m->private;
	struct vmig_failure *lf = &mig->last_failure;
	struct vmig_region_stats rs;
	u32 from, to;

	guard(mutex)(&mig->state_lock);
	seq_printf(m, "state: %s\n", vmig_state_name(mig->state));
	seq_printf(m, "flags: STOP_COPY%s%s\n",
		   mig->flags & VFIO_MIGRATION_P2P ? " P2P" : "",
		   mig->flags & VFIO_MIGRATION_PRE_COPY ? " PRE_COPY" : "");
	seq_printf(m, "walks: %llu\nresets: %llu\n", mig->nr_walks,
		   mig->nr_resets);
	seq_puts(m, "arcs (ok/failed):\n");
	for (from = 0; from < VMIG_NR_STATES; from++)
		for (to = 0; to < VMIG_NR_STATES; to++)
			if (mig->arc_ok[from][to] || mig->arc_failed[from][to])
				seq_printf(m, "  %s -> %s: %u/%u\n",
					   vmig_state_name(from),
					   vmig_state_name(to),
					   mig->arc_ok[from][to],
					   mig->arc_failed[from][to]);
	if (lf->seq)
		seq_printf(m, "last failure (#%u): %s => %s, arc %s -> %s, err %d, %s%s\n",
			   lf->seq, vmig_state_name(lf->start),
			   vmig_state_name(lf->target), vmig_state_name(lf->from),
			   vmig_state_name(lf->to), lf->err,
			   lf->end == VFIO_DEVICE_STATE_ERROR ?
			   "landed in ERROR" : "unwound",
			   lf->injected ? " (injected)" : "");
	else
		seq_puts(m, "last failure: none\n");
	if (mig->session)
		vmig_session_show(mig->session, m);
	else
		seq_puts(m, "session: none\n");
	seq_printf(m, "last saving session: peak %llu bytes of chunks\n",
		   mig->last_peak_bytes);
	vmig_region_get_stats(mig, &rs);
	if (rs.scans || rs.final_ns)
		seq_printf(m, "region sessions: %llu scans (last %llu ns), last final pass %llu ns, %llu blocks resent, %llu bytes of tracking\n",
			   rs.scans, rs.scan_ns, rs.final_ns, rs.resent_blocks,
			   rs.track_bytes);
	if (mig->inject.count)
		seq_printf(m, "fail_arc: %s -> %s err %d%s, %u left\n",
			   vmig_state_name(mig->inject.from),
			   vmig_state_name(mig->inject.to), mig->inject.err,
			   mig->inject.broken ? " broken" : "",
			   mig->inject.count);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(vmig_status);

static int vmig_parse_state(const char *s, u32 *state)
{
	u32 i;

	for (i = 0; i < VMIG_NR_STATES; i++) {
		if (!strcasecmp(s, vmig_state_name(i))) {
			*state = i;
			return 0;
		}
	}
	return kstrtou32(s, 0, state);
}

static int vmig_fail_arc_show(struct seq_file *m, void *unused)
{
	struct vmig_device *mig = m->private;

	guard(mutex)(&mig->state_lock);
	if (!mig->inject.count)
		seq_puts(m, "off\n");
	else
		seq_printf(m, "%s %s %d%s count=%u\n",
			   vmig_state_name(mig->inject.from),
			   vmig_state_name(mig->inject.to), -mig->inject.err,
			   mig->inject.broken ? " broken" : "",
			   mig->inject.count);
	return 0;
}

static int vmig_fail_arc_open(struct inode *inode, struct file *file)
{
	return single_open(file, vmig_fail_arc_show, inode->i_private);
}

static ssize_t vmig_fail_arc_write(struct file *file, const char __user *ubuf,
				   size_t len, loff_t *ppos)
{
	struct vmig_device *mig = file_inode(file)->i_private;
	char buf[96], *p, *tok;
	u32 from, to, count = 1;
	bool broken = false;
	int err;

	if (len >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, len))
		return -EFAULT;
	buf[len] = 0;
	p = strim(buf);

	if (!strcmp(p, "off")) {
		guard(mutex)(&mig->state_lock);
		mig->inject.count = 0;
		return len;
	}

	tok = strsep(&p, " \t");
	if (!tok || vmig_parse_state(tok, &from))
		return -EINVAL;
	tok = strsep(&p, " \t");
	if (!tok || vmig_parse_state(tok, &to))
		return -EINVAL;
	tok = strsep(&p, " \t");
	if (!tok || kstrtoint(tok, 0, &err))
		return -EINVAL;
	err = -abs(err);
	if (!err || err < -MAX_ERRNO)
		return -EINVAL;
	while ((tok = strsep(&p, " \t"))) {
		if (!*tok)
			continue;
		if (!strcmp(tok, "broken"))
			broken = true;
		else if (!strncmp(tok, "count=", 6) && !kstrtou32(tok + 6, 0, &count) &&
			 count)
			continue;
		else
			return -EINVAL;
	}

	/* Only an arc this device can be asked for. */
	if (from == to || !vmig_state_supported(mig->flags, from) ||
	    vmig_next_state(mig->flags, from, to) != to)
		return -EINVAL;

	guard(mutex)(&mig->state_lock);
	mig->inject.from = from;
	mig->inject.to = to;
	mig->inject.err = err;
	mig->inject.broken = broken;
	mig->inject.count = count;
	return len;
}

static const struct file_operations vmig_fail_arc_fops = {
	.owner = THIS_MODULE,
	.open = vmig_fail_arc_open,
	.read = seq_read,
	.write = vmig_fail_arc_write,
	.llseek = seq_lseek,
	.release = single_release,
};

void vmig_debugfs_add(struct vmig_device *mig)
{
	if (!mig->vdev || IS_ERR_OR_NULL(vmig_root))
		return;
	mig->debugfs = debugfs_create_dir(mig->name, vmig_root);
	debugfs_create_file("status", 0444, mig->debugfs, mig,
			    &vmig_status_fops);
	debugfs_create_file("fail_arc", 0600, mig->debugfs, mig,
			    &vmig_fail_arc_fops);
}

/**
 * vmig_debugfs_dir() - the device's debugfs directory
 * @mig: the per-device object
 *
 * Drivers may add files of their own beside the core's.
 *
 * Return: the directory, or an ERR_PTR() when there is none, which the
 * debugfs_create_*() functions accept and ignore.  Never NULL, which they
 * would take for the debugfs root.
 */
struct dentry *vmig_debugfs_dir(struct vmig_device *mig)
{
	return mig->debugfs ?: ERR_PTR(-ENOENT);
}
EXPORT_SYMBOL_GPL(vmig_debugfs_dir);

void vmig_debugfs_remove(struct vmig_device *mig)
{
	debugfs_remove(mig->debugfs);
	mig->debugfs = NULL;
}
