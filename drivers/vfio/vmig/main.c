// SPDX-License-Identifier: GPL-2.0-only
/*
 * vmig module glue: module init and exit, the tracepoints, the table dump.
 */

#include <linux/module.h>
#include <linux/seq_file.h>
#include <linux/vmig.h>
#include <linux/workqueue.h>

#define CREATE_TRACE_POINTS
#include "vmig_priv.h"

/*
 * The raw next-state table as a matrix, then the arcs it implies.  Used by
 * the demo and by anyone who wants to see the FSM the module was built with.
 * The matrix has the layout of scripts/vmig_fsm_render.c, so the VM tests can
 * compare it with the copy in Documentation/.
 */
void vmig_fsm_show_table(struct seq_file *m)
{
	u32 cur, target;

	seq_puts(m, "next state: row = current state, column = target (x = refused)\n");
	seq_printf(m, "%-13s", "");
	for (target = 0; target < VMIG_NR_STATES; target++)
		seq_printf(m, target < VMIG_NR_STATES - 1 ? " %-12s" : " %s\n",
			   vmig_state_name(target));

	for (cur = 0; cur < VMIG_NR_STATES; cur++) {
		seq_printf(m, "%-13s", vmig_state_name(cur));
		for (target = 0; target < VMIG_NR_STATES; target++) {
			u32 next = vmig_fsm_table(cur, target);

			seq_printf(m, target < VMIG_NR_STATES - 1 ?
				   " %-12s" : " %s\n",
				   next == VFIO_DEVICE_STATE_ERROR ? "x" :
				   vmig_state_name(next));
		}
	}

	seq_puts(m, "\narcs:\n");
	for (cur = 0; cur < VMIG_NR_STATES; cur++)
		for (target = 0; target < VMIG_NR_STATES; target++)
			if (vmig_arc_valid(cur, target))
				seq_printf(m, "  %s -> %s%s\n",
					   vmig_state_name(cur),
					   vmig_state_name(target),
					   vmig_arc_starts_session(cur, target) ?
					   "  (starts a session)" : "");
}

/* The workers of saving sessions (&struct vmig_save_ops.feed). */
struct workqueue_struct *vmig_wq;

static int __init vmig_module_init(void)
{
	/*
	 * Unbound, and as many at once as a workqueue allows: each feed
	 * holds its worker for the whole of a pre-copy.
	 */
	vmig_wq = alloc_workqueue("vmig", WQ_UNBOUND, WQ_MAX_ACTIVE);
	if (!vmig_wq)
		return -ENOMEM;
	vmig_debugfs_init();
	return 0;
}

static void __exit vmig_module_exit(void)
{
	vmig_debugfs_exit();
	destroy_workqueue(vmig_wq);
}

module_init(vmig_module_init);
module_exit(vmig_module_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("VFIO live-migration core: FSM, walker and data sessions");
