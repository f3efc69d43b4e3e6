// SPDX-License-Identifier: GPL-2.0-only
/*
 * Render the vmig next-state table for Documentation/: "dot" prints a
 * Graphviz digraph of the migration FSM, "table" the matrix that the module
 * also prints in debugfs.  Built and run on the host by scripts/docs.sh
 * against the 6.12 uAPI headers; it includes the very table the kernel
 * module is built from, so the documentation shows what the code does.
 *
 * An edge from A to B is drawn where table[A][B] == B: a single arc.  Arcs
 * that start a data session are bold; states that exist only with an
 * optional migration flag are dashed.
 */
#include <stdio.h>
#include <string.h>
#include <linux/vfio.h>

typedef unsigned char u8;
#define VMIG_NR_STATES (VFIO_DEVICE_STATE_PRE_COPY_P2P + 1)

#include "../drivers/vfio/vmig/fsm_table.h"

static const char * const names[VMIG_NR_STATES] = {
	"ERROR", "STOP", "RUNNING", "STOP_COPY", "RESUMING", "RUNNING_P2P",
	"PRE_COPY", "PRE_COPY_P2P",
};

static int saving(int s)
{
	return s == VFIO_DEVICE_STATE_PRE_COPY ||
	       s == VFIO_DEVICE_STATE_PRE_COPY_P2P ||
	       s == VFIO_DEVICE_STATE_STOP_COPY;
}

static const char *optional(int s)
{
	switch (s) {
	case VFIO_DEVICE_STATE_RUNNING_P2P:
		return "P2P";
	case VFIO_DEVICE_STATE_PRE_COPY:
		return "PRE_COPY";
	case VFIO_DEVICE_STATE_PRE_COPY_P2P:
		return "P2P + PRE_COPY";
	}
	return NULL;
}

static void node(int s)
{
	const char *opt = optional(s);

	if (opt)
		printf("\t\t%s [style=\"rounded,dashed\", label=\"%s\\n(%s)\"];\n",
		       names[s], names[s], opt);
	else
		printf("\t\t%s;\n", names[s]);
}

/* Same layout as vmig_fsm_show_table() in drivers/vfio/vmig/main.c. */
static void table(void)
{
	int cur, target;

	printf("next state: row = current state, column = target (x = refused)\n");
	printf("%-13s", "");
	for (target = 0; target < VMIG_NR_STATES; target++)
		printf(target < VMIG_NR_STATES - 1 ? " %-12s" : " %s\n",
		       names[target]);
	for (cur = 0; cur < VMIG_NR_STATES; cur++) {
		printf("%-13s", names[cur]);
		for (target = 0; target < VMIG_NR_STATES; target++) {
			int next = vmig_fsm_next[cur][target];

			printf(target < VMIG_NR_STATES - 1 ? " %-12s" : " %s\n",
			       next == VFIO_DEVICE_STATE_ERROR ? "x" : names[next]);
		}
	}
}

static void dot(void)
{
	int from, to;

	printf("# %s-License-Identifier: GPL-2.0-only\n", "SPDX");
	printf("# Generated from the vmig next-state table; run 'make docs'.\n");
	printf("digraph vmig_fsm {\n");
	printf("\tnode [shape=box, style=rounded, fontname=\"sans\"];\n");
	printf("\tedge [fontname=\"sans\"];\n");

	printf("\tsubgraph cluster_saving {\n");
	printf("\t\tlabel=\"saving group: one data session\";\n");
	printf("\t\tstyle=dotted;\n");
	for (from = 0; from < VMIG_NR_STATES; from++)
		if (saving(from))
			node(from);
	printf("\t}\n");

	printf("\tsubgraph cluster_others {\n");
	printf("\t\tstyle=invis;\n");
	for (from = 1; from < VMIG_NR_STATES; from++)
		if (!saving(from))
			node(from);
	printf("\t}\n");
	printf("\tERROR [shape=octagon, label=\"%s\"];\n",
	       "ERROR\\n(only reset leaves it,\\nto RUNNING)");

	for (from = 0; from < VMIG_NR_STATES; from++) {
		for (to = 0; to < VMIG_NR_STATES; to++) {
			int session;

			if (from == to || to == VFIO_DEVICE_STATE_ERROR ||
			    vmig_fsm_next[from][to] != to)
				continue;
			session = (saving(to) && !saving(from)) ||
				  to == VFIO_DEVICE_STATE_RESUMING;
			printf("\t%s -> %s%s;\n", names[from], names[to],
			       session ? " [style=bold, label=\"new data_fd\"]" : "");
		}
	}
	printf("}\n");
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "dot")) {
		dot();
		return 0;
	}
	if (argc == 2 && !strcmp(argv[1], "table")) {
		table();
		return 0;
	}
	fprintf(stderr, "usage: %s dot|table\n", argv[0]);
	return 2;
}
