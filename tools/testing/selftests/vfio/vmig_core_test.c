// SPDX-License-Identifier: GPL-2.0-only
/*
 * The vmig core as loaded in the running kernel: its next-state table, as
 * printed in /sys/kernel/debug/vmig/fsm, must describe the FSM of the VFIO
 * migration uAPI, whatever kernel and compiler built the module.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/vfio.h>

#include "../kselftest_harness.h"

#define FSM_FILE "/sys/kernel/debug/vmig/fsm"
#define SEPS "\t\n "
#define NR_STATES (VFIO_DEVICE_STATE_PRE_COPY_P2P + 1)

static const char * const names[NR_STATES] = {
	[VFIO_DEVICE_STATE_ERROR] = "ERROR",
	[VFIO_DEVICE_STATE_STOP] = "STOP",
	[VFIO_DEVICE_STATE_RUNNING] = "RUNNING",
	[VFIO_DEVICE_STATE_STOP_COPY] = "STOP_COPY",
	[VFIO_DEVICE_STATE_RESUMING] = "RESUMING",
	[VFIO_DEVICE_STATE_RUNNING_P2P] = "RUNNING_P2P",
	[VFIO_DEVICE_STATE_PRE_COPY] = "PRE_COPY",
	[VFIO_DEVICE_STATE_PRE_COPY_P2P] = "PRE_COPY_P2P",
};

/* The fifteen arcs of the uAPI, four of which open a data session. */
static const struct {
	const char *from, *to;
	int session;
} uapi_arcs[] = {
	{ "RUNNING", "RUNNING_P2P", 0 }, { "RUNNING", "PRE_COPY", 1 },
	{ "RUNNING_P2P", "RUNNING", 0 }, { "RUNNING_P2P", "STOP", 0 },
	{ "RUNNING_P2P", "PRE_COPY_P2P", 1 },
	{ "STOP", "RUNNING_P2P", 0 }, { "STOP", "STOP_COPY", 1 },
	{ "STOP", "RESUMING", 1 },
	{ "STOP_COPY", "STOP", 0 }, { "RESUMING", "STOP", 0 },
	{ "PRE_COPY", "RUNNING", 0 }, { "PRE_COPY", "PRE_COPY_P2P", 0 },
	{ "PRE_COPY_P2P", "PRE_COPY", 0 }, { "PRE_COPY_P2P", "RUNNING_P2P", 0 },
	{ "PRE_COPY_P2P", "STOP_COPY", 0 },
};

static int state_index(const char *name)
{
	int i;

	for (i = 0; i < NR_STATES; i++)
		if (!strcmp(name, names[i]))
			return i;
	return -1;
}

FIXTURE(fsm) {
	int next[NR_STATES][NR_STATES];
	char arcs[64][2][16];
	int arc_session[64];
	int nr_arcs;
};

/* Parse the matrix and the arc list the module prints. */
FIXTURE_SETUP(fsm)
{
	char line[512], a[16], b[16], tail[64];
	int row, col;
	char *p;
	FILE *f;

	f = fopen(FSM_FILE, "r");
	if (!f)
		SKIP(return, "%s: vmig not loaded or debugfs not mounted", FSM_FILE);

	ASSERT_NE(NULL, fgets(line, sizeof(line), f));	/* legend */
	ASSERT_NE(NULL, fgets(line, sizeof(line), f));	/* column names */
	p = strtok(line, SEPS);
	for (col = 0; col < NR_STATES; col++, p = strtok(NULL, SEPS)) {
		ASSERT_NE(NULL, p);
		ASSERT_EQ(col, state_index(p));
	}

	for (row = 0; row < NR_STATES; row++) {
		ASSERT_NE(NULL, fgets(line, sizeof(line), f));
		p = strtok(line, SEPS);
		ASSERT_NE(NULL, p);
		ASSERT_EQ(row, state_index(p));
		for (col = 0; col < NR_STATES; col++) {
			p = strtok(NULL, SEPS);
			ASSERT_NE(NULL, p);
			self->next[row][col] = strcmp(p, "x") ?
				state_index(p) : VFIO_DEVICE_STATE_ERROR;
			ASSERT_LE(0, self->next[row][col]);
		}
	}

	while (fgets(line, sizeof(line), f)) {
		tail[0] = 0;
		if (sscanf(line, " %15s -> %15s %63[^\n]", a, b, tail) < 2)
			continue;
		ASSERT_LT(self->nr_arcs, 64);
		snprintf(self->arcs[self->nr_arcs][0], 16, "%s", a);
		snprintf(self->arcs[self->nr_arcs][1], 16, "%s", b);
		self->arc_session[self->nr_arcs] = !!strstr(tail, "session");
		self->nr_arcs++;
	}
	fclose(f);
}

FIXTURE_TEARDOWN(fsm)
{
}

TEST_F(fsm, lists_the_uapi_arcs)
{
	unsigned int i;
	int j, found;

	ASSERT_EQ((int)ARRAY_SIZE(uapi_arcs), self->nr_arcs);
	for (i = 0; i < ARRAY_SIZE(uapi_arcs); i++) {
		found = 0;
		for (j = 0; j < self->nr_arcs; j++) {
			if (strcmp(self->arcs[j][0], uapi_arcs[i].from) ||
			    strcmp(self->arcs[j][1], uapi_arcs[i].to))
				continue;
			found = 1;
			EXPECT_EQ(uapi_arcs[i].session, self->arc_session[j]);
		}
		EXPECT_EQ(1, found) TH_LOG("arc %s -> %s missing",
					   uapi_arcs[i].from, uapi_arcs[i].to);
	}
}

/* Arcs in the table are exactly the listed arcs. */
TEST_F(fsm, matrix_agrees_with_arcs)
{
	int from, to, j, listed;

	for (from = 0; from < NR_STATES; from++) {
		for (to = 0; to < NR_STATES; to++) {
			int arc = from != to && to && self->next[from][to] == to;

			listed = 0;
			for (j = 0; j < self->nr_arcs; j++)
				listed |= !strcmp(self->arcs[j][0], names[from]) &&
					  !strcmp(self->arcs[j][1], names[to]);
			EXPECT_EQ(arc, listed) TH_LOG("%s -> %s", names[from],
						      names[to]);
		}
	}
}

/* Following the table from any state reaches any target in <= 4 arcs. */
TEST_F(fsm, every_walk_terminates)
{
	int from, to, cur, steps;

	for (from = 1; from < NR_STATES; from++) {
		for (to = 1; to < NR_STATES; to++) {
			cur = from;
			for (steps = 0; cur != to && steps < 8; steps++) {
				cur = self->next[cur][to];
				if (cur == VFIO_DEVICE_STATE_ERROR)
					break;
			}
			if (cur == VFIO_DEVICE_STATE_ERROR) {
				/* Only the two transitions the uAPI forbids. */
				EXPECT_EQ(VFIO_DEVICE_STATE_STOP_COPY, from);
				EXPECT_TRUE(to == VFIO_DEVICE_STATE_PRE_COPY ||
					    to == VFIO_DEVICE_STATE_PRE_COPY_P2P);
				continue;
			}
			EXPECT_EQ(to, cur);
			EXPECT_LE(steps, 4) TH_LOG("%s -> %s", names[from],
						   names[to]);
		}
	}
}

/* ERROR is never a target and leads nowhere. */
TEST_F(fsm, error_is_a_dead_end)
{
	int s;

	for (s = 0; s < NR_STATES; s++) {
		EXPECT_EQ(VFIO_DEVICE_STATE_ERROR, self->next[s][0]);
		EXPECT_EQ(VFIO_DEVICE_STATE_ERROR, self->next[0][s]);
	}
}

TEST_HARNESS_MAIN
