/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Internal declarations shared by the files of the vmig core module.
 */
#ifndef _VMIG_PRIV_H
#define _VMIG_PRIV_H

#include <linux/types.h>

struct seq_file;

/* The raw next-state table, without masking; ERROR for values out of range. */
u32 vmig_fsm_table(u32 cur, u32 target);

void vmig_fsm_show_table(struct seq_file *m);

#endif /* _VMIG_PRIV_H */
