// SPDX-License-Identifier: GPL-2.0-only
/*
 * KUnit suites for the vmig FSM: the next-state table, the walker and its
 * unwind.
 *
 * Expectations come from two sources that do not read the core's table:
 * an oracle that enumerates every simple path over the fifteen arcs of the
 * uAPI and applies the two path rules, and a golden list of the exact arc
 * sequence of every (flags, from, to) request.  A recording fake driver
 * shows what the walker really asks of a driver.
 */

#include <kunit/test.h>
#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/vmig.h>

#include "stream.h"
#include "vmig_priv.h"

MODULE_IMPORT_NS(EXPORTED_FOR_KUNIT_TESTING);

enum {
	ER = VFIO_DEVICE_STATE_ERROR,
	ST = VFIO_DEVICE_STATE_STOP,
	RU = VFIO_DEVICE_STATE_RUNNING,
	SC = VFIO_DEVICE_STATE_STOP_COPY,
	RE = VFIO_DEVICE_STATE_RESUMING,
	RP = VFIO_DEVICE_STATE_RUNNING_P2P,
	PC = VFIO_DEVICE_STATE_PRE_COPY,
	PP = VFIO_DEVICE_STATE_PRE_COPY_P2P,
	NR = VMIG_NR_STATES,
};

#define F_SC	VFIO_MIGRATION_STOP_COPY
#define F_P2P	(VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P)
#define F_PRE	(VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_PRE_COPY)
#define F_ALL	(VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P | \
		 VFIO_MIGRATION_PRE_COPY)

static const u32 test_flag_sets[] = { F_SC, F_P2P, F_PRE, F_ALL };

static const char *test_flags_name(u32 flags)
{
	switch (flags) {
	case F_SC: return "SC";
	case F_P2P: return "SC+P2P";
	case F_PRE: return "SC+PRE";
	case F_ALL: return "SC+P2P+PRE";
	}
	return "?";
}

static const char * const test_short[NR] = {
	"ER", "ST", "RU", "SC", "RE", "RP", "PC", "PP",
};

/* ---------------------------------------------------------------------- */
/* The oracle: the uAPI's arcs and rules, restated without the core.      */

/* The fifteen arcs, as the uAPI lists them. */
static const u8 test_arcs[][2] = {
	{ RU, RP }, { RU, PC },
	{ RP, RU }, { RP, ST }, { RP, PP },
	{ ST, RP }, { ST, SC }, { ST, RE },
	{ SC, ST },
	{ RE, ST },
	{ PC, RU }, { PC, PP },
	{ PP, PC }, { PP, RP }, { PP, SC },
};

static bool test_is_arc(u32 from, u32 to)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(test_arcs); i++)
		if (test_arcs[i][0] == from && test_arcs[i][1] == to)
			return true;
	return false;
}

static bool test_saving(u32 s)
{
	return s == PC || s == PP || s == SC;
}

static bool test_supported(u32 flags, u32 s)
{
	bool p2p = flags & VFIO_MIGRATION_P2P;
	bool pre = flags & VFIO_MIGRATION_PRE_COPY;

	switch (s) {
	case RP: return p2p;
	case PC: return pre;
	case PP: return p2p && pre;
	}
	return s < NR;
}

static bool test_starts_session(u32 from, u32 to)
{
	if (to == RE)
		return from != RE;
	return test_saving(to) && !test_saving(from);
}

/*
 * A path as the driver sees it: the states after the start, with the states
 * the device does not support left out.  len < 0 means refused.
 */
struct test_path {
	int len;
	u8 s[NR];
};

struct test_search {
	u32 flags;
	u8 to;
	u8 path[NR];
	int best;		/* length of the shortest visible path */
	int nr_best;		/* how many distinct visible paths have it */
	struct test_path found;
};

/*
 * Rule 1: a saving-group state is interior only if every state of the path
 * is in the saving group.  The driver-visible cost is the number of
 * supported states after the start: unsupported P2P states vanish.
 */
static void test_consider(struct test_search *q, int depth)
{
	bool all_saving = true;
	struct test_path vis = { .len = 0 };
	int i;

	for (i = 0; i <= depth; i++)
		all_saving &= test_saving(q->path[i]);
	for (i = 1; i < depth; i++)
		if (test_saving(q->path[i]) && !all_saving)
			return;
	for (i = 1; i <= depth; i++)
		if (test_supported(q->flags, q->path[i]))
			vis.s[vis.len++] = q->path[i];

	if (q->best < 0 || vis.len < q->best) {
		q->best = vis.len;
		q->nr_best = 1;
		q->found = vis;
	} else if (vis.len == q->best &&
		   memcmp(vis.s, q->found.s, vis.len)) {
		q->nr_best++;
	}
}

static void test_dfs(struct test_search *q, int depth)
{
	u8 cur = q->path[depth];
	unsigned int i;
	int j;

	if (cur == q->to) {
		test_consider(q, depth);
		return;
	}
	for (i = 0; i < ARRAY_SIZE(test_arcs); i++) {
		bool seen = false;

		if (test_arcs[i][0] != cur)
			continue;
		for (j = 0; j <= depth; j++)
			seen |= q->path[j] == test_arcs[i][1];
		if (seen)
			continue;
		q->path[depth + 1] = test_arcs[i][1];
		test_dfs(q, depth + 1);
	}
}

/*
 * The path the uAPI prescribes for a device with @flags from @from to @to.
 * Returns false if more than one shortest visible path exists, which would
 * make the specification ambiguous.
 */
static bool test_oracle(u32 flags, u32 from, u32 to, struct test_path *out)
{
	struct test_search q = { .flags = flags, .to = to, .best = -1 };

	out->len = -1;
	if (from == ER || to == ER || from >= NR || to >= NR ||
	    !test_supported(flags, from) || !test_supported(flags, to))
		return true;
	if (from == to) {
		out->len = 0;
		return true;
	}
	/* Rule 2: STOP_COPY -> PRE_COPY and -> PRE_COPY_P2P are refused. */
	if (from == SC && (to == PC || to == PP))
		return true;

	q.path[0] = from;
	test_dfs(&q, 0);
	if (q.best >= 0)
		*out = q.found;
	return q.nr_best <= 1;
}

/*
 * An arc as a device with @flags sees it: one of the fifteen, or one of the
 * arcs that appear when unsupported P2P states vanish (RUNNING <-> STOP,
 * PRE_COPY -> STOP_COPY).  Either way a one-step path.
 */
static bool test_visible_arc(u32 flags, u32 from, u32 to)
{
	struct test_path p;

	return test_oracle(flags, from, to, &p) && p.len == 1 && p.s[0] == to;
}

static void test_path_str(const u8 *s, int len, char *buf, size_t size)
{
	int i, n = 0;

	buf[0] = 0;
	for (i = 0; i < len && n < size; i++)
		n += scnprintf(buf + n, size - n, "%s%s", i ? " " : "",
			       test_short[s[i]]);
}

/* ---------------------------------------------------------------------- */
/* The recording fake driver.                                             */

#define TEST_MAX_ARCS	32

/* How an arc breaks the file rule, at arc number bad_file_at. */
enum {
	BAD_SESSION,	/* the opposite of the rule, with a real session */
	BAD_FOREIGN,	/* a file that is not a vmig session */
	BAD_KIND,	/* a saving session where a resuming one is due */
};

struct test_dev {
	struct vmig_device mig;
	struct kunit *test;
	u32 dev_state;			/* what the fake device is in */
	u8 seen[TEST_MAX_ARCS][2];
	int nr_seen;			/* arcs asked for since the last clear */
	int fail_at[2];			/* arc numbers that fail cleanly */
	int broken_at;			/* arc number that fails, device broken */
	int bad_file_at;		/* arc number that breaks the file rule */
	int bad_file_mode;
	int sessions_open;		/* opened and not yet released */
	int foreign_open;
};

static void test_save_release(struct vmig_session *sess)
{
	struct test_dev *td = vmig_session_priv(sess);

	td->sessions_open--;
}

static int test_save_produce(struct vmig_session *sess)
{
	vmig_save_complete(sess);
	return 0;
}

static const struct vmig_save_ops test_save_ops = {
	.produce = test_save_produce,
	.release = test_save_release,
};

static int test_load(struct vmig_session *sess, u32 type, const void *data,
		     u32 len)
{
	return 0;
}

static const struct vmig_resume_ops test_resume_ops = {
	.load = test_load,
	.release = test_save_release,
};

static int test_foreign_release(struct inode *inode, struct file *file)
{
	struct test_dev *td = file->private_data;

	td->foreign_open--;
	return 0;
}

static const struct file_operations test_foreign_fops = {
	.owner = THIS_MODULE,
	.release = test_foreign_release,
};

static struct file *test_new_file(struct test_dev *td, bool resuming)
{
	struct vmig_session_cfg cfg = { .priv = td };
	struct file *f;

	if (resuming)
		f = vmig_resume_open(&td->mig, &test_resume_ops, &cfg);
	else
		f = vmig_save_open(&td->mig, &test_save_ops, &cfg);
	if (!IS_ERR(f))
		td->sessions_open++;
	return f;
}

static struct file *test_bad_file(struct test_dev *td, u32 to)
{
	struct file *f;

	switch (td->bad_file_mode) {
	case BAD_FOREIGN:
		f = anon_inode_getfile("[vmig-test]", &test_foreign_fops, td,
				       O_RDWR);
		if (!IS_ERR(f))
			td->foreign_open++;
		return f;
	case BAD_KIND:
		return test_new_file(td, false);
	}
	/* BAD_SESSION: no file where one is due, a session where not. */
	if (test_starts_session(td->dev_state, to))
		return NULL;
	return test_new_file(td, false);
}

/* Errnos that tell which injected fault the walker returned. */
#define TEST_EFAIL	(-ENOSPC)
#define TEST_EFAIL2	(-EBUSY)
#define TEST_EBROKEN	(-ENODEV)

static struct file *test_step(struct vmig_device *mig, u32 from, u32 to)
{
	struct test_dev *td = container_of(mig, struct test_dev, mig);
	struct kunit *test = td->test;
	int n = td->nr_seen++;
	struct file *f;

	if (n < TEST_MAX_ARCS) {
		td->seen[n][0] = from;
		td->seen[n][1] = to;
	}
	/* What every driver may rely on. */
	KUNIT_EXPECT_EQ(test, from, td->dev_state);
	KUNIT_EXPECT_TRUE_MSG(test, test_visible_arc(mig->flags, from, to),
			      "%s -> %s", test_short[from], test_short[to]);

	if (n == td->fail_at[0])
		return ERR_PTR(TEST_EFAIL);
	if (n == td->fail_at[1])
		return ERR_PTR(TEST_EFAIL2);
	if (n == td->broken_at) {
		vmig_arc_broken(mig);
		td->dev_state = ER;
		return ERR_PTR(TEST_EBROKEN);
	}

	if (n == td->bad_file_at)
		f = test_bad_file(td, to);
	else if (test_starts_session(from, to))
		f = test_new_file(td, to == RE);
	else
		f = NULL;
	if (!IS_ERR(f))
		td->dev_state = to;
	return f;
}

static const struct vmig_ops test_ops = {
	.migration_step_device_state = test_step,
};

static void test_clear(struct test_dev *td)
{
	td->nr_seen = 0;
	td->fail_at[0] = -1;
	td->fail_at[1] = -1;
	td->broken_at = -1;
	td->bad_file_at = -1;
	td->bad_file_mode = BAD_SESSION;
}

static void test_dev_exit(struct kunit_resource *res)
{
	struct test_dev *td = res->data;

	vmig_reset(&td->mig);
	vmig_uninit(&td->mig);
}

static struct test_dev *test_dev_new(struct kunit *test, u32 flags)
{
	struct test_dev *td;

	td = kunit_kzalloc(test, sizeof(*td), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, td);
	td->test = test;
	td->dev_state = RU;
	test_clear(td);
	KUNIT_ASSERT_EQ(test, vmig_init(&td->mig, NULL, &test_ops, flags), 0);
	kunit_alloc_resource(test, NULL, test_dev_exit, GFP_KERNEL, td);
	return td;
}

/*
 * Drop a file the walker returned.  A session lives on until the FSM leaves
 * its group, so what can be checked here is that no session is open but
 * the device's own, and no stray file survived.
 */
static void test_put_file(struct test_dev *td, struct file *f)
{
	u32 s = vmig_get_state(&td->mig);

	if (!IS_ERR_OR_NULL(f))
		fput(f);
	flush_delayed_fput();
	KUNIT_EXPECT_EQ(td->test, td->sessions_open,
			vmig_in_saving_group(s) || s == RE ? 1 : 0);
	KUNIT_EXPECT_EQ(td->test, td->foreign_open, 0);
}

/*
 * A resuming session leaves RESUMING only with a whole stream: give it the
 * shortest one, a header with the fake's empty identity and the trailer.
 */
static void test_feed_empty_stream(struct kunit *test, struct file *f)
{
	struct {
		struct vmig_stream_hdr hdr;
		struct vmig_rec_hdr rec;
		struct vmig_stream_end end;
	} __packed s = {};
	loff_t pos = 0;

	vmig_stream_put_hdr(&s.hdr, NULL, 0);
	vmig_stream_seal(&s.rec, VMIG_REC_END, 0, sizeof(s.end), 0);
	KUNIT_ASSERT_EQ(test, kernel_write(f, &s, sizeof(s), &pos),
			(ssize_t)sizeof(s));
}

/* Land in ERROR the only way a device can: an arc that reports it broken. */
static void test_make_error(struct kunit *test, struct test_dev *td)
{
	struct file *f;

	test_clear(td);
	td->broken_at = 0;
	f = vmig_set_state(&td->mig, ST);
	KUNIT_ASSERT_EQ(test, PTR_ERR_OR_ZERO(f), TEST_EBROKEN);
	KUNIT_ASSERT_EQ(test, vmig_get_state(&td->mig), ER);
	test_clear(td);
}

/*
 * Put the device in @from the way userspace would: one request from
 * RUNNING.  Returns false if the device cannot be in @from.
 */
static bool test_reach(struct kunit *test, struct test_dev *td, u32 from)
{
	struct file *f;

	if (from == ER) {
		test_make_error(test, td);
		return true;
	}
	test_clear(td);
	f = vmig_set_state(&td->mig, from);
	if (IS_ERR(f)) {
		KUNIT_EXPECT_EQ(test, PTR_ERR(f), -EINVAL);
		KUNIT_EXPECT_EQ(test, td->nr_seen, 0);
		KUNIT_EXPECT_EQ(test, vmig_get_state(&td->mig), RU);
		return false;
	}
	if (from == RE)
		test_feed_empty_stream(test, f);
	test_put_file(td, f);
	KUNIT_ASSERT_EQ(test, vmig_get_state(&td->mig), from);
	test_clear(td);
	return true;
}

/* Expected arcs, as "from>to" tokens; the same rendering for what was seen. */
struct test_arcs {
	int nr;
	u8 a[TEST_MAX_ARCS][2];
};

static void test_arcs_add(struct test_arcs *x, u32 from, u32 to)
{
	if (x->nr < TEST_MAX_ARCS) {
		x->a[x->nr][0] = from;
		x->a[x->nr][1] = to;
	}
	x->nr++;
}

/* Append the arcs that walk the visible path @p starting in @from. */
static void test_arcs_add_path(struct test_arcs *x, u32 from,
			       const struct test_path *p, int nr)
{
	int i;

	for (i = 0; i < nr && i < p->len; i++) {
		test_arcs_add(x, from, p->s[i]);
		from = p->s[i];
	}
}

static void test_arcs_str(const u8 (*a)[2], int nr, char *buf, size_t size)
{
	int i, n = 0;

	buf[0] = 0;
	for (i = 0; i < nr && i < TEST_MAX_ARCS && n < size; i++)
		n += scnprintf(buf + n, size - n, "%s%s>%s", i ? " " : "",
			       test_short[a[i][0]], test_short[a[i][1]]);
	if (nr > TEST_MAX_ARCS)
		scnprintf(buf + n, size - n, " ...");
}

static void test_expect_arcs(struct kunit *test, struct test_dev *td,
			     const struct test_arcs *want, const char *what)
{
	char w[160], g[160];

	test_arcs_str(want->a, want->nr, w, sizeof(w));
	test_arcs_str(td->seen, td->nr_seen, g, sizeof(g));
	KUNIT_EXPECT_STREQ_MSG(test, g, w, "%s", what);
	KUNIT_EXPECT_EQ_MSG(test, td->nr_seen, want->nr, "%s", what);
}

/* ---------------------------------------------------------------------- */
/* Suite vmig_fsm: the table and the lookups.                             */

static void vmig_fsm_table_matches_oracle(struct kunit *test)
{
	struct test_path p;
	u32 from, to, want;

	for (from = 0; from < NR; from++) {
		for (to = 0; to < NR; to++) {
			KUNIT_EXPECT_TRUE_MSG(test, test_oracle(F_ALL, from, to, &p),
					      "%s -> %s has two shortest paths",
					      test_short[from], test_short[to]);
			want = p.len < 0 ? ER : p.len == 0 ? from : p.s[0];
			KUNIT_EXPECT_EQ_MSG(test, vmig_fsm_table(from, to), want,
					    "table[%s][%s]", test_short[from],
					    test_short[to]);
		}
	}
}

static void test_flags_desc(const u32 *flags, char *desc)
{
	strscpy(desc, test_flags_name(*flags), KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(test_flag_sets, test_flag_sets, test_flags_desc);

static void vmig_fsm_masked_matches_oracle(struct kunit *test)
{
	u32 flags = *(const u32 *)test->param_value;
	struct test_path p;
	u32 from, to, want;

	for (from = 0; from < NR; from++) {
		for (to = 0; to < NR; to++) {
			KUNIT_EXPECT_TRUE(test, test_oracle(flags, from, to, &p));
			want = p.len < 0 ? ER : p.len == 0 ? from : p.s[0];
			KUNIT_EXPECT_EQ_MSG(test, vmig_next_state(flags, from, to),
					    want, "next(%s, %s)",
					    test_short[from], test_short[to]);
		}
	}
}

static void vmig_fsm_out_of_range(struct kunit *test)
{
	static const u32 bad[] = { NR, NR + 1, 255, 0x80000000u, U32_MAX };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		KUNIT_EXPECT_EQ(test, vmig_next_state(F_ALL, RU, bad[i]), ER);
		KUNIT_EXPECT_EQ(test, vmig_next_state(F_ALL, bad[i], RU), ER);
		KUNIT_EXPECT_EQ(test, vmig_fsm_table(bad[i], ST), ER);
		KUNIT_EXPECT_EQ(test, vmig_fsm_table(ST, bad[i]), ER);
		KUNIT_EXPECT_FALSE(test, vmig_state_supported(F_ALL, bad[i]));
		KUNIT_EXPECT_FALSE(test, vmig_arc_valid(RU, bad[i]));
		KUNIT_EXPECT_FALSE(test, vmig_arc_valid(bad[i], RU));
		KUNIT_EXPECT_STREQ(test, vmig_state_name(bad[i]), "INVALID");
	}
	/* Without STOP_COPY a device has no migration states at all. */
	KUNIT_EXPECT_FALSE(test, vmig_state_supported(VFIO_MIGRATION_P2P, RU));
	KUNIT_EXPECT_EQ(test, vmig_next_state(0, RU, ST), ER);
}

static void vmig_fsm_arcs(struct kunit *test)
{
	unsigned int nr_arcs = 0, nr_sessions = 0;
	u32 from, to;

	for (from = 0; from < NR; from++) {
		for (to = 0; to < NR; to++) {
			bool arc = test_is_arc(from, to);
			bool session = arc && test_starts_session(from, to);

			KUNIT_EXPECT_EQ_MSG(test, vmig_arc_valid(from, to), arc,
					    "%s -> %s", test_short[from],
					    test_short[to]);
			KUNIT_EXPECT_EQ_MSG(test,
					    vmig_arc_starts_session(from, to),
					    session, "%s -> %s",
					    test_short[from], test_short[to]);
			nr_arcs += vmig_arc_valid(from, to);
			nr_sessions += vmig_arc_starts_session(from, to);
		}
	}
	KUNIT_EXPECT_EQ(test, nr_arcs, 15);
	KUNIT_EXPECT_EQ(test, nr_sessions, 4);
}

static void vmig_fsm_supported(struct kunit *test)
{
	unsigned int i;
	u32 s;

	for (i = 0; i < ARRAY_SIZE(test_flag_sets); i++)
		for (s = 0; s < NR + 2; s++)
			KUNIT_EXPECT_EQ_MSG(test,
					    vmig_state_supported(test_flag_sets[i], s),
					    test_supported(test_flag_sets[i], s),
					    "%s state %u",
					    test_flags_name(test_flag_sets[i]), s);
	for (s = 0; s < NR; s++)
		KUNIT_EXPECT_EQ(test, vmig_in_saving_group(s), test_saving(s));
}

static void vmig_fsm_init_checks(struct kunit *test)
{
	static const struct vmig_ops no_step = {};
	struct vmig_device mig;

	KUNIT_EXPECT_EQ(test, vmig_init(&mig, NULL, &test_ops, 0), -EINVAL);
	KUNIT_EXPECT_EQ(test, vmig_init(&mig, NULL, &test_ops,
					VFIO_MIGRATION_P2P), -EINVAL);
	KUNIT_EXPECT_EQ(test, vmig_init(&mig, NULL, &test_ops, F_ALL | BIT(3)),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, vmig_init(&mig, NULL, NULL, F_ALL), -EINVAL);
	KUNIT_EXPECT_EQ(test, vmig_init(&mig, NULL, &no_step, F_ALL), -EINVAL);

	KUNIT_ASSERT_EQ(test, vmig_init(&mig, NULL, &test_ops, F_ALL), 0);
	KUNIT_EXPECT_EQ(test, vmig_get_state(&mig), RU);
	vmig_uninit(&mig);
}

/* ---------------------------------------------------------------------- */
/* The golden list: every request of every flag set, with its arcs.       */

enum { W_NOFD, W_FD, W_REFUSED, W_UNREACHABLE };

struct test_walk_case {
	u32 flags;
	u8 from;
	u8 to;
	u8 kind;
	const char *arcs;	/* states after @from, two letters each */
};

#define W(f, a, b, k, ...) { f, a, b, W_##k, "" __VA_ARGS__ }

static const struct test_walk_case test_walk_cases[] = {
	/* STOP_COPY only: RUNNING, STOP, STOP_COPY, RESUMING. */
	W(F_SC, ER, ER, REFUSED),
	W(F_SC, ER, ST, REFUSED),
	W(F_SC, ER, RU, REFUSED),
	W(F_SC, ER, SC, REFUSED),
	W(F_SC, ER, RE, REFUSED),
	W(F_SC, ER, RP, REFUSED),
	W(F_SC, ER, PC, REFUSED),
	W(F_SC, ER, PP, REFUSED),
	W(F_SC, ST, ER, REFUSED),
	W(F_SC, ST, ST, NOFD, ""),
	W(F_SC, ST, RU, NOFD, "RU"),
	W(F_SC, ST, SC, FD, "SC"),
	W(F_SC, ST, RE, FD, "RE"),
	W(F_SC, ST, RP, REFUSED),
	W(F_SC, ST, PC, REFUSED),
	W(F_SC, ST, PP, REFUSED),
	W(F_SC, RU, ER, REFUSED),
	W(F_SC, RU, ST, NOFD, "ST"),
	W(F_SC, RU, RU, NOFD, ""),
	W(F_SC, RU, SC, FD, "ST SC"),
	W(F_SC, RU, RE, FD, "ST RE"),
	W(F_SC, RU, RP, REFUSED),
	W(F_SC, RU, PC, REFUSED),
	W(F_SC, RU, PP, REFUSED),
	W(F_SC, SC, ER, REFUSED),
	W(F_SC, SC, ST, NOFD, "ST"),
	W(F_SC, SC, RU, NOFD, "ST RU"),
	W(F_SC, SC, SC, NOFD, ""),
	W(F_SC, SC, RE, FD, "ST RE"),
	W(F_SC, SC, RP, REFUSED),
	W(F_SC, SC, PC, REFUSED),
	W(F_SC, SC, PP, REFUSED),
	W(F_SC, RE, ER, REFUSED),
	W(F_SC, RE, ST, NOFD, "ST"),
	W(F_SC, RE, RU, NOFD, "ST RU"),
	W(F_SC, RE, SC, FD, "ST SC"),
	W(F_SC, RE, RE, NOFD, ""),
	W(F_SC, RE, RP, REFUSED),
	W(F_SC, RE, PC, REFUSED),
	W(F_SC, RE, PP, REFUSED),
	W(F_SC, RP, ER, UNREACHABLE),
	W(F_SC, RP, ST, UNREACHABLE),
	W(F_SC, RP, RU, UNREACHABLE),
	W(F_SC, RP, SC, UNREACHABLE),
	W(F_SC, RP, RE, UNREACHABLE),
	W(F_SC, RP, RP, UNREACHABLE),
	W(F_SC, RP, PC, UNREACHABLE),
	W(F_SC, RP, PP, UNREACHABLE),
	W(F_SC, PC, ER, UNREACHABLE),
	W(F_SC, PC, ST, UNREACHABLE),
	W(F_SC, PC, RU, UNREACHABLE),
	W(F_SC, PC, SC, UNREACHABLE),
	W(F_SC, PC, RE, UNREACHABLE),
	W(F_SC, PC, RP, UNREACHABLE),
	W(F_SC, PC, PC, UNREACHABLE),
	W(F_SC, PC, PP, UNREACHABLE),
	W(F_SC, PP, ER, UNREACHABLE),
	W(F_SC, PP, ST, UNREACHABLE),
	W(F_SC, PP, RU, UNREACHABLE),
	W(F_SC, PP, SC, UNREACHABLE),
	W(F_SC, PP, RE, UNREACHABLE),
	W(F_SC, PP, RP, UNREACHABLE),
	W(F_SC, PP, PC, UNREACHABLE),
	W(F_SC, PP, PP, UNREACHABLE),

	/* STOP_COPY | P2P: adds RUNNING_P2P. */
	W(F_P2P, ER, ER, REFUSED),
	W(F_P2P, ER, ST, REFUSED),
	W(F_P2P, ER, RU, REFUSED),
	W(F_P2P, ER, SC, REFUSED),
	W(F_P2P, ER, RE, REFUSED),
	W(F_P2P, ER, RP, REFUSED),
	W(F_P2P, ER, PC, REFUSED),
	W(F_P2P, ER, PP, REFUSED),
	W(F_P2P, ST, ER, REFUSED),
	W(F_P2P, ST, ST, NOFD, ""),
	W(F_P2P, ST, RU, NOFD, "RP RU"),
	W(F_P2P, ST, SC, FD, "SC"),
	W(F_P2P, ST, RE, FD, "RE"),
	W(F_P2P, ST, RP, NOFD, "RP"),
	W(F_P2P, ST, PC, REFUSED),
	W(F_P2P, ST, PP, REFUSED),
	W(F_P2P, RU, ER, REFUSED),
	W(F_P2P, RU, ST, NOFD, "RP ST"),
	W(F_P2P, RU, RU, NOFD, ""),
	W(F_P2P, RU, SC, FD, "RP ST SC"),
	W(F_P2P, RU, RE, FD, "RP ST RE"),
	W(F_P2P, RU, RP, NOFD, "RP"),
	W(F_P2P, RU, PC, REFUSED),
	W(F_P2P, RU, PP, REFUSED),
	W(F_P2P, SC, ER, REFUSED),
	W(F_P2P, SC, ST, NOFD, "ST"),
	W(F_P2P, SC, RU, NOFD, "ST RP RU"),
	W(F_P2P, SC, SC, NOFD, ""),
	W(F_P2P, SC, RE, FD, "ST RE"),
	W(F_P2P, SC, RP, NOFD, "ST RP"),
	W(F_P2P, SC, PC, REFUSED),
	W(F_P2P, SC, PP, REFUSED),
	W(F_P2P, RE, ER, REFUSED),
	W(F_P2P, RE, ST, NOFD, "ST"),
	W(F_P2P, RE, RU, NOFD, "ST RP RU"),
	W(F_P2P, RE, SC, FD, "ST SC"),
	W(F_P2P, RE, RE, NOFD, ""),
	W(F_P2P, RE, RP, NOFD, "ST RP"),
	W(F_P2P, RE, PC, REFUSED),
	W(F_P2P, RE, PP, REFUSED),
	W(F_P2P, RP, ER, REFUSED),
	W(F_P2P, RP, ST, NOFD, "ST"),
	W(F_P2P, RP, RU, NOFD, "RU"),
	W(F_P2P, RP, SC, FD, "ST SC"),
	W(F_P2P, RP, RE, FD, "ST RE"),
	W(F_P2P, RP, RP, NOFD, ""),
	W(F_P2P, RP, PC, REFUSED),
	W(F_P2P, RP, PP, REFUSED),
	W(F_P2P, PC, ER, UNREACHABLE),
	W(F_P2P, PC, ST, UNREACHABLE),
	W(F_P2P, PC, RU, UNREACHABLE),
	W(F_P2P, PC, SC, UNREACHABLE),
	W(F_P2P, PC, RE, UNREACHABLE),
	W(F_P2P, PC, RP, UNREACHABLE),
	W(F_P2P, PC, PC, UNREACHABLE),
	W(F_P2P, PC, PP, UNREACHABLE),
	W(F_P2P, PP, ER, UNREACHABLE),
	W(F_P2P, PP, ST, UNREACHABLE),
	W(F_P2P, PP, RU, UNREACHABLE),
	W(F_P2P, PP, SC, UNREACHABLE),
	W(F_P2P, PP, RE, UNREACHABLE),
	W(F_P2P, PP, RP, UNREACHABLE),
	W(F_P2P, PP, PC, UNREACHABLE),
	W(F_P2P, PP, PP, UNREACHABLE),

	/* STOP_COPY | PRE_COPY: adds PRE_COPY; PRE_COPY_P2P needs P2P too. */
	W(F_PRE, ER, ER, REFUSED),
	W(F_PRE, ER, ST, REFUSED),
	W(F_PRE, ER, RU, REFUSED),
	W(F_PRE, ER, SC, REFUSED),
	W(F_PRE, ER, RE, REFUSED),
	W(F_PRE, ER, RP, REFUSED),
	W(F_PRE, ER, PC, REFUSED),
	W(F_PRE, ER, PP, REFUSED),
	W(F_PRE, ST, ER, REFUSED),
	W(F_PRE, ST, ST, NOFD, ""),
	W(F_PRE, ST, RU, NOFD, "RU"),
	W(F_PRE, ST, SC, FD, "SC"),
	W(F_PRE, ST, RE, FD, "RE"),
	W(F_PRE, ST, RP, REFUSED),
	W(F_PRE, ST, PC, FD, "RU PC"),
	W(F_PRE, ST, PP, REFUSED),
	W(F_PRE, RU, ER, REFUSED),
	W(F_PRE, RU, ST, NOFD, "ST"),
	W(F_PRE, RU, RU, NOFD, ""),
	W(F_PRE, RU, SC, FD, "ST SC"),
	W(F_PRE, RU, RE, FD, "ST RE"),
	W(F_PRE, RU, RP, REFUSED),
	W(F_PRE, RU, PC, FD, "PC"),
	W(F_PRE, RU, PP, REFUSED),
	W(F_PRE, SC, ER, REFUSED),
	W(F_PRE, SC, ST, NOFD, "ST"),
	W(F_PRE, SC, RU, NOFD, "ST RU"),
	W(F_PRE, SC, SC, NOFD, ""),
	W(F_PRE, SC, RE, FD, "ST RE"),
	W(F_PRE, SC, RP, REFUSED),
	W(F_PRE, SC, PC, REFUSED),
	W(F_PRE, SC, PP, REFUSED),
	W(F_PRE, RE, ER, REFUSED),
	W(F_PRE, RE, ST, NOFD, "ST"),
	W(F_PRE, RE, RU, NOFD, "ST RU"),
	W(F_PRE, RE, SC, FD, "ST SC"),
	W(F_PRE, RE, RE, NOFD, ""),
	W(F_PRE, RE, RP, REFUSED),
	W(F_PRE, RE, PC, FD, "ST RU PC"),
	W(F_PRE, RE, PP, REFUSED),
	W(F_PRE, RP, ER, UNREACHABLE),
	W(F_PRE, RP, ST, UNREACHABLE),
	W(F_PRE, RP, RU, UNREACHABLE),
	W(F_PRE, RP, SC, UNREACHABLE),
	W(F_PRE, RP, RE, UNREACHABLE),
	W(F_PRE, RP, RP, UNREACHABLE),
	W(F_PRE, RP, PC, UNREACHABLE),
	W(F_PRE, RP, PP, UNREACHABLE),
	W(F_PRE, PC, ER, REFUSED),
	W(F_PRE, PC, ST, NOFD, "RU ST"),
	W(F_PRE, PC, RU, NOFD, "RU"),
	W(F_PRE, PC, SC, NOFD, "SC"),
	W(F_PRE, PC, RE, FD, "RU ST RE"),
	W(F_PRE, PC, RP, REFUSED),
	W(F_PRE, PC, PC, NOFD, ""),
	W(F_PRE, PC, PP, REFUSED),
	W(F_PRE, PP, ER, UNREACHABLE),
	W(F_PRE, PP, ST, UNREACHABLE),
	W(F_PRE, PP, RU, UNREACHABLE),
	W(F_PRE, PP, SC, UNREACHABLE),
	W(F_PRE, PP, RE, UNREACHABLE),
	W(F_PRE, PP, RP, UNREACHABLE),
	W(F_PRE, PP, PC, UNREACHABLE),
	W(F_PRE, PP, PP, UNREACHABLE),

	/* STOP_COPY | P2P | PRE_COPY: all eight states. */
	W(F_ALL, ER, ER, REFUSED),
	W(F_ALL, ER, ST, REFUSED),
	W(F_ALL, ER, RU, REFUSED),
	W(F_ALL, ER, SC, REFUSED),
	W(F_ALL, ER, RE, REFUSED),
	W(F_ALL, ER, RP, REFUSED),
	W(F_ALL, ER, PC, REFUSED),
	W(F_ALL, ER, PP, REFUSED),
	W(F_ALL, ST, ER, REFUSED),
	W(F_ALL, ST, ST, NOFD, ""),
	W(F_ALL, ST, RU, NOFD, "RP RU"),
	W(F_ALL, ST, SC, FD, "SC"),
	W(F_ALL, ST, RE, FD, "RE"),
	W(F_ALL, ST, RP, NOFD, "RP"),
	W(F_ALL, ST, PC, FD, "RP RU PC"),
	W(F_ALL, ST, PP, FD, "RP PP"),
	W(F_ALL, RU, ER, REFUSED),
	W(F_ALL, RU, ST, NOFD, "RP ST"),
	W(F_ALL, RU, RU, NOFD, ""),
	W(F_ALL, RU, SC, FD, "RP ST SC"),
	W(F_ALL, RU, RE, FD, "RP ST RE"),
	W(F_ALL, RU, RP, NOFD, "RP"),
	W(F_ALL, RU, PC, FD, "PC"),
	W(F_ALL, RU, PP, FD, "RP PP"),
	W(F_ALL, SC, ER, REFUSED),
	W(F_ALL, SC, ST, NOFD, "ST"),
	W(F_ALL, SC, RU, NOFD, "ST RP RU"),
	W(F_ALL, SC, SC, NOFD, ""),
	W(F_ALL, SC, RE, FD, "ST RE"),
	W(F_ALL, SC, RP, NOFD, "ST RP"),
	W(F_ALL, SC, PC, REFUSED),
	W(F_ALL, SC, PP, REFUSED),
	W(F_ALL, RE, ER, REFUSED),
	W(F_ALL, RE, ST, NOFD, "ST"),
	W(F_ALL, RE, RU, NOFD, "ST RP RU"),
	W(F_ALL, RE, SC, FD, "ST SC"),
	W(F_ALL, RE, RE, NOFD, ""),
	W(F_ALL, RE, RP, NOFD, "ST RP"),
	W(F_ALL, RE, PC, FD, "ST RP RU PC"),
	W(F_ALL, RE, PP, FD, "ST RP PP"),
	W(F_ALL, RP, ER, REFUSED),
	W(F_ALL, RP, ST, NOFD, "ST"),
	W(F_ALL, RP, RU, NOFD, "RU"),
	W(F_ALL, RP, SC, FD, "ST SC"),
	W(F_ALL, RP, RE, FD, "ST RE"),
	W(F_ALL, RP, RP, NOFD, ""),
	W(F_ALL, RP, PC, FD, "RU PC"),
	W(F_ALL, RP, PP, FD, "PP"),
	W(F_ALL, PC, ER, REFUSED),
	W(F_ALL, PC, ST, NOFD, "RU RP ST"),
	W(F_ALL, PC, RU, NOFD, "RU"),
	W(F_ALL, PC, SC, NOFD, "PP SC"),
	W(F_ALL, PC, RE, FD, "RU RP ST RE"),
	W(F_ALL, PC, RP, NOFD, "RU RP"),
	W(F_ALL, PC, PC, NOFD, ""),
	W(F_ALL, PC, PP, NOFD, "PP"),
	W(F_ALL, PP, ER, REFUSED),
	W(F_ALL, PP, ST, NOFD, "RP ST"),
	W(F_ALL, PP, RU, NOFD, "RP RU"),
	W(F_ALL, PP, SC, NOFD, "SC"),
	W(F_ALL, PP, RE, FD, "RP ST RE"),
	W(F_ALL, PP, RP, NOFD, "RP"),
	W(F_ALL, PP, PC, NOFD, "PC"),
	W(F_ALL, PP, PP, NOFD, ""),
};

#undef W

static void test_walk_desc(const struct test_walk_case *c, char *desc)
{
	snprintf(desc, KUNIT_PARAM_DESC_SIZE, "%s %s->%s", test_flags_name(c->flags),
		 test_short[c->from], test_short[c->to]);
}

KUNIT_ARRAY_PARAM(test_walk, test_walk_cases, test_walk_desc);

static void test_parse(struct kunit *test, const char *s, struct test_path *p)
{
	u32 st;

	p->len = 0;
	while (*s) {
		for (st = 0; st < NR; st++)
			if (!strncmp(s, test_short[st], 2))
				break;
		KUNIT_ASSERT_LT_MSG(test, st, (u32)NR, "bad golden path %s", s);
		KUNIT_ASSERT_LT(test, p->len, NR);
		p->s[p->len++] = st;
		s += 2;
		while (*s == ' ')
			s++;
	}
}

/* The golden list and the oracle agree, row for row. */
static void vmig_fsm_golden_matches_oracle(struct kunit *test)
{
	const struct test_walk_case *c;
	struct test_path want, got;
	char w[48], g[48];

	for (c = test_walk_cases; c < test_walk_cases + ARRAY_SIZE(test_walk_cases); c++) {
		if (c->kind == W_UNREACHABLE) {
			KUNIT_EXPECT_FALSE(test, test_supported(c->flags, c->from));
			continue;
		}
		test_oracle(c->flags, c->from, c->to, &got);
		if (c->kind == W_REFUSED) {
			KUNIT_EXPECT_LT_MSG(test, got.len, 0, "%s %s->%s",
					    test_flags_name(c->flags),
					    test_short[c->from], test_short[c->to]);
			continue;
		}
		test_parse(test, c->arcs, &want);
		test_path_str(want.s, want.len, w, sizeof(w));
		test_path_str(got.s, max(got.len, 0), g, sizeof(g));
		KUNIT_EXPECT_STREQ_MSG(test, g, w, "%s %s->%s",
				       test_flags_name(c->flags),
				       test_short[c->from], test_short[c->to]);
		KUNIT_EXPECT_EQ(test, c->kind == W_FD,
				want.len && test_starts_session(want.len > 1 ?
						want.s[want.len - 2] : c->from,
						c->to));
	}
	KUNIT_EXPECT_EQ(test, ARRAY_SIZE(test_walk_cases), 4 * NR * NR);
}

/* ---------------------------------------------------------------------- */
/* Suite vmig_walk: what the walker asks of a driver.                     */

static void vmig_walk_pair(struct kunit *test)
{
	const struct test_walk_case *c = test->param_value;
	struct test_arcs want = {};
	struct test_dev *td;
	struct test_path p;
	struct file *f;

	td = test_dev_new(test, c->flags);
	if (!test_reach(test, td, c->from)) {
		KUNIT_EXPECT_EQ(test, c->kind, W_UNREACHABLE);
		return;
	}
	KUNIT_ASSERT_NE(test, c->kind, W_UNREACHABLE);

	f = vmig_set_state(&td->mig, c->to);
	if (c->kind == W_REFUSED) {
		KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(f), -EINVAL);
		KUNIT_EXPECT_EQ(test, td->nr_seen, 0);
		KUNIT_EXPECT_EQ(test, vmig_get_state(&td->mig), c->from);
		return;
	}

	KUNIT_ASSERT_FALSE_MSG(test, IS_ERR(f), "errno %ld", PTR_ERR(f));
	test_parse(test, c->arcs, &p);
	test_arcs_add_path(&want, c->from, &p, p.len);
	test_expect_arcs(test, td, &want, "walk");
	KUNIT_EXPECT_EQ(test, !!f, c->kind == W_FD);
	KUNIT_EXPECT_EQ(test, vmig_get_state(&td->mig), c->to);
	KUNIT_EXPECT_EQ(test, td->dev_state, c->to);
	test_put_file(td, f);
}

/* Requests that name no valid target are refused before any arc. */
static void vmig_walk_invalid_targets(struct kunit *test)
{
	static const u32 bad[] = { ER, NR, NR + 1, 255, 0x80000000u, U32_MAX };
	struct test_dev *td;
	unsigned int i, j;
	u32 from, to;
	struct file *f;

	for (i = 0; i < ARRAY_SIZE(test_flag_sets); i++) {
		u32 flags = test_flag_sets[i];

		td = test_dev_new(test, flags);
		for (from = ST; from < NR; from++) {
			if (!test_supported(flags, from))
				continue;
			for (j = 0; j < ARRAY_SIZE(bad) + NR; j++) {
				to = j < ARRAY_SIZE(bad) ? bad[j] : j - ARRAY_SIZE(bad);
				if (j >= ARRAY_SIZE(bad) && test_supported(flags, to))
					continue;
				KUNIT_ASSERT_TRUE(test, test_reach(test, td, from));
				f = vmig_set_state(&td->mig, to);
				KUNIT_EXPECT_EQ_MSG(test, PTR_ERR_OR_ZERO(f), -EINVAL,
						    "%s %s -> %u",
						    test_flags_name(flags),
						    test_short[from], to);
				KUNIT_EXPECT_EQ(test, td->nr_seen, 0);
				KUNIT_EXPECT_EQ(test, vmig_get_state(&td->mig), from);
				vmig_reset(&td->mig);
				td->dev_state = RU;
				KUNIT_EXPECT_EQ(test, td->sessions_open, 0);
			}
		}
	}
}

/* ERROR refuses everything, runs no arc, and only a reset leaves it. */
static void vmig_walk_error_until_reset(struct kunit *test)
{
	struct test_dev *td = test_dev_new(test, F_ALL);
	struct test_arcs want = {};
	struct file *f;
	u32 to;

	test_make_error(test, td);
	for (to = 0; to < NR + 2; to++) {
		f = vmig_set_state(&td->mig, to);
		KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(f), -EINVAL);
		KUNIT_EXPECT_EQ(test, td->nr_seen, 0);
		KUNIT_EXPECT_EQ(test, vmig_get_state(&td->mig), ER);
	}

	vmig_reset(&td->mig);
	td->dev_state = RU;
	KUNIT_EXPECT_EQ(test, td->nr_seen, 0);
	KUNIT_EXPECT_EQ(test, vmig_get_state(&td->mig), RU);

	/* And the device walks again. */
	f = vmig_set_state(&td->mig, SC);
	KUNIT_ASSERT_FALSE(test, IS_ERR_OR_NULL(f));
	test_arcs_add(&want, RU, RP);
	test_arcs_add(&want, RP, ST);
	test_arcs_add(&want, ST, SC);
	test_expect_arcs(test, td, &want, "after reset");
	test_put_file(td, f);
}

/* A reset from any state returns to RUNNING without asking for an arc. */
static void vmig_walk_reset_from_each(struct kunit *test)
{
	struct test_dev *td = test_dev_new(test, F_ALL);
	u32 from;

	for (from = 0; from < NR; from++) {
		KUNIT_ASSERT_TRUE(test, test_reach(test, td, from));
		vmig_reset(&td->mig);
		td->dev_state = RU;
		KUNIT_EXPECT_EQ(test, td->nr_seen, 0);
		KUNIT_EXPECT_EQ(test, vmig_get_state(&td->mig), RU);
	}
}

/*
 * The file rule: only the final arc of a walk, and only when it starts a
 * session, hands out a file.  A driver that breaks it gets -EIO, its file is
 * released and the walk unwinds as for any failed arc.
 */
struct test_contract_case {
	const char *name;
	u32 to;
	int bad_file_at;
	int bad_file_mode;
	int fail_at;
	int errno;
	u32 end;
	const char *arcs;
};

static const struct test_contract_case test_contract_cases[] = {
	{ "session from an interior arc", SC, 0, BAD_SESSION, -1, -EIO, RU,
	  "RU>RP RP>RU" },
	{ "session from a final arc that starts none", ST, 1, BAD_SESSION, -1,
	  -EIO, RU, "RU>RP RP>ST ST>RP RP>RU" },
	{ "foreign file from a final arc", ST, 1, BAD_FOREIGN, -1, -EIO, RU,
	  "RU>RP RP>ST ST>RP RP>RU" },
	{ "no file from a session arc", SC, 2, BAD_SESSION, -1, -EIO, RU,
	  "RU>RP RP>ST ST>SC SC>ST ST>RP RP>RU" },
	{ "foreign file from a session arc", SC, 2, BAD_FOREIGN, -1, -EIO, RU,
	  "RU>RP RP>ST ST>SC SC>ST ST>RP RP>RU" },
	{ "saving session for RESUMING", RE, 2, BAD_KIND, -1, -EIO, RU,
	  "RU>RP RP>ST ST>RE RE>ST ST>RP RP>RU" },
	{ "session from an unwind arc", SC, 3, BAD_SESSION, 2, TEST_EFAIL, ER,
	  "RU>RP RP>ST ST>SC ST>RP" },
};

static void test_contract_desc(const struct test_contract_case *c, char *desc)
{
	strscpy(desc, c->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(test_contract, test_contract_cases, test_contract_desc);

static void vmig_walk_file_contract(struct kunit *test)
{
	const struct test_contract_case *c = test->param_value;
	struct test_dev *td = test_dev_new(test, F_ALL);
	char got[160];
	struct file *f;

	td->bad_file_at = c->bad_file_at;
	td->bad_file_mode = c->bad_file_mode;
	td->fail_at[0] = c->fail_at;
	f = vmig_set_state(&td->mig, c->to);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(f), c->errno);
	KUNIT_EXPECT_EQ(test, vmig_get_state(&td->mig), c->end);
	test_arcs_str(td->seen, td->nr_seen, got, sizeof(got));
	KUNIT_EXPECT_STREQ(test, got, c->arcs);
	/* Whatever the driver wrongly handed out was released. */
	test_put_file(td, NULL);
}

/* An arc that claims success but reports the device broken lands in ERROR. */
static struct file *test_step_broken_ok(struct vmig_device *mig, u32 from,
					u32 to)
{
	vmig_arc_broken(mig);
	return NULL;
}

static void vmig_walk_broken_success(struct kunit *test)
{
	static const struct vmig_ops ops = {
		.migration_step_device_state = test_step_broken_ok,
	};
	struct vmig_device mig;
	struct file *f;

	KUNIT_ASSERT_EQ(test, vmig_init(&mig, NULL, &ops, F_ALL), 0);
	f = vmig_set_state(&mig, ST);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(f), -EIO);
	KUNIT_EXPECT_EQ(test, vmig_get_state(&mig), ER);
	vmig_uninit(&mig);
}

/* ---------------------------------------------------------------------- */
/* Suite vmig_unwind: a fault at every arc of every path.                 */

enum { U_FAIL, U_BROKEN, U_DOUBLE };

static const char * const test_mode_names[] = {
	[U_FAIL] = "fails",
	[U_BROKEN] = "breaks",
	[U_DOUBLE] = "fails, unwind fails",
};

struct test_unwind_case {
	u32 flags;
	u8 from;
	u8 to;
	u8 k;		/* index of the arc that fails */
	u8 mode;
};

struct test_unwind_want {
	struct test_arcs arcs;
	u32 end;
	int errno;
	const char *why;
};

/*
 * What the uAPI says must happen, derived from the oracle: the arcs up to and
 * including the failing one, then the way back to the start, or ERROR when
 * the walk left the session it started in, the driver reported the device
 * broken, or the way back failed too.
 */
static void test_unwind_expect(const struct test_unwind_case *c,
			       struct test_unwind_want *w)
{
	struct test_path p, back;
	u32 cur;

	memset(w, 0, sizeof(*w));
	test_oracle(c->flags, c->from, c->to, &p);
	test_arcs_add_path(&w->arcs, c->from, &p, c->k);
	cur = c->k ? p.s[c->k - 1] : c->from;
	test_arcs_add(&w->arcs, cur, p.s[c->k]);

	if (c->mode == U_BROKEN) {
		w->end = ER;
		w->errno = TEST_EBROKEN;
		w->why = "the driver reported the device broken";
		return;
	}
	w->errno = TEST_EFAIL;
	if (cur == c->from) {
		w->end = c->from;
		w->why = "the first arc failed, nothing to undo";
		return;
	}
	if (test_saving(c->from) && !test_saving(cur)) {
		w->end = ER;
		w->why = "the walk left the saving session it started in";
		return;
	}
	if (c->from == RE && cur != RE) {
		w->end = ER;
		w->why = "the walk left the resuming session it started in";
		return;
	}
	test_oracle(c->flags, cur, c->from, &back);
	if (back.len <= 0) {
		w->end = ER;
		w->why = "no way back";
		return;
	}
	if (c->mode == U_DOUBLE) {
		test_arcs_add(&w->arcs, cur, back.s[0]);
		w->end = ER;
		w->why = "the first unwind arc failed too";
		return;
	}
	test_arcs_add_path(&w->arcs, cur, &back, back.len);
	w->end = c->from;
	w->why = "unwound to the start";
}

/* Every case, built once; at most 4 flag sets * 64 pairs * 4 arcs * 3. */
static struct test_unwind_case test_unwind_cases[4 * NR * NR * 4 * 3];
static unsigned int test_nr_unwind_cases;

/* A double fault needs an unwind arc to fail: skip it when there is none. */
static bool test_unwind_applies(const struct test_unwind_case *c)
{
	struct test_unwind_case single = *c;
	struct test_unwind_want w;

	if (c->mode != U_DOUBLE)
		return true;
	single.mode = U_FAIL;
	test_unwind_expect(&single, &w);
	return w.arcs.nr > c->k + 1;
}

static void test_unwind_add_path(u32 flags, u32 from, u32 to, unsigned int *n)
{
	struct test_unwind_case c = { .flags = flags, .from = from, .to = to };
	struct test_path p;

	test_oracle(flags, from, to, &p);
	for (c.k = 0; p.len > 0 && c.k < p.len; c.k++) {
		for (c.mode = U_FAIL; c.mode <= U_DOUBLE; c.mode++) {
			if (!test_unwind_applies(&c))
				continue;
			if (WARN_ON(*n >= ARRAY_SIZE(test_unwind_cases)))
				return;
			test_unwind_cases[(*n)++] = c;
		}
	}
}

static void test_unwind_build(void)
{
	unsigned int i, n = 0;
	u32 from, to;

	for (i = 0; i < ARRAY_SIZE(test_flag_sets); i++)
		for (from = ST; from < NR; from++)
			for (to = ST; to < NR; to++)
				if (test_supported(test_flag_sets[i], from))
					test_unwind_add_path(test_flag_sets[i],
							     from, to, &n);
	test_nr_unwind_cases = n;
}

static const void *test_unwind_gen(const void *prev, char *desc)
{
	const struct test_unwind_case *c = prev;
	struct test_unwind_want w;

	if (!c) {
		test_unwind_build();
		c = test_unwind_cases;
	} else {
		c++;
	}
	if (c >= test_unwind_cases + test_nr_unwind_cases)
		return NULL;

	test_unwind_expect(c, &w);
	snprintf(desc, KUNIT_PARAM_DESC_SIZE, "%s %s->%s arc %u %s: %s%s",
		 test_flags_name(c->flags), test_short[c->from],
		 test_short[c->to], c->k, test_mode_names[c->mode],
		 w.end == ER ? "ERROR, " : "", w.why);
	return c;
}

static void vmig_unwind_fault(struct kunit *test)
{
	const struct test_unwind_case *c = test->param_value;
	struct test_unwind_want w;
	struct test_dev *td;
	struct file *f;

	test_unwind_expect(c, &w);
	td = test_dev_new(test, c->flags);
	KUNIT_ASSERT_TRUE(test, test_reach(test, td, c->from));

	if (c->mode == U_BROKEN) {
		td->broken_at = c->k;
	} else {
		td->fail_at[0] = c->k;
		if (c->mode == U_DOUBLE)
			td->fail_at[1] = c->k + 1;
	}

	f = vmig_set_state(&td->mig, c->to);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(f), w.errno);
	test_expect_arcs(test, td, &w.arcs, w.why);
	KUNIT_EXPECT_EQ_MSG(test, vmig_get_state(&td->mig), w.end, "%s", w.why);
	if (w.end != ER)
		KUNIT_EXPECT_EQ(test, td->dev_state, w.end);
	test_put_file(td, NULL);

	/* ERROR refuses until reset; any other end state walks on. */
	test_clear(td);
	f = vmig_set_state(&td->mig, RU);
	if (w.end == ER) {
		KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(f), -EINVAL);
		KUNIT_EXPECT_EQ(test, td->nr_seen, 0);
	} else {
		KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(f), 0);
		KUNIT_EXPECT_EQ(test, vmig_get_state(&td->mig), RU);
	}
}

static struct kunit_case vmig_fsm_cases[] = {
	KUNIT_CASE(vmig_fsm_table_matches_oracle),
	KUNIT_CASE_PARAM(vmig_fsm_masked_matches_oracle,
			 test_flag_sets_gen_params),
	KUNIT_CASE(vmig_fsm_golden_matches_oracle),
	KUNIT_CASE(vmig_fsm_out_of_range),
	KUNIT_CASE(vmig_fsm_arcs),
	KUNIT_CASE(vmig_fsm_supported),
	KUNIT_CASE(vmig_fsm_init_checks),
	{}
};

static struct kunit_suite vmig_fsm_suite = {
	.name = "vmig_fsm",
	.test_cases = vmig_fsm_cases,
};

static struct kunit_case vmig_walk_cases[] = {
	KUNIT_CASE_PARAM(vmig_walk_pair, test_walk_gen_params),
	KUNIT_CASE(vmig_walk_invalid_targets),
	KUNIT_CASE(vmig_walk_error_until_reset),
	KUNIT_CASE(vmig_walk_reset_from_each),
	KUNIT_CASE_PARAM(vmig_walk_file_contract, test_contract_gen_params),
	KUNIT_CASE(vmig_walk_broken_success),
	{}
};

static struct kunit_suite vmig_walk_suite = {
	.name = "vmig_walk",
	.test_cases = vmig_walk_cases,
};

static struct kunit_case vmig_unwind_cases[] = {
	KUNIT_CASE_PARAM(vmig_unwind_fault, test_unwind_gen),
	{}
};

static struct kunit_suite vmig_unwind_suite = {
	.name = "vmig_unwind",
	.test_cases = vmig_unwind_cases,
};

kunit_test_suites(&vmig_fsm_suite, &vmig_walk_suite, &vmig_unwind_suite);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("KUnit tests for the vmig FSM and walker");
