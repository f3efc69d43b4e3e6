// SPDX-License-Identifier: GPL-2.0-only
/*
 * Allocation failures at every userspace entry point of both vmig drivers.
 *
 * For each entry point this test fails the 1st, 2nd, ... Nth memory
 * allocation that the call makes, through /proc/thread-self/fail-nth, until
 * a call completes without reaching the Nth allocation.  Reading fail-nth
 * back after the call tells which: 0 means the failure was injected, a
 * positive value that the call made fewer allocations (the counter is then
 * cleared by writing 0).  The entry points, for the vmig_mtty mdev and the
 * ivshmem-plain variant driver alike:
 *
 *   - device open (VFIO_GROUP_GET_DEVICE_FD, the first open of the device);
 *   - VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE SET from every state the device
 *     has (reached without injection) to every other one that the FSM
 *     takes: a request it refuses anyway (STOP_COPY -> PRE_COPY) is not
 *     swept;
 *   - read() of a saving data_fd, call by call, in PRE_COPY and STOP_COPY;
 *     write() of a whole stream to a resuming data_fd; poll() of both;
 *     VFIO_MIG_GET_PRECOPY_INFO;
 *   - VFIO_DEVICE_FEATURE_MIG_DATA_SIZE, the arc query feature, the
 *     pre-copy v2 opt-in, VFIO_DEVICE_RESET;
 *   - for vmig_mtty, creating an mdev (write to .../create) and removing
 *     it (write to .../remove).
 *
 * An injected failure must fail the call with ENOMEM (EFAULT too when the
 * kernel injects faults into user copies, fail_usercopy; EBUSY when the
 * first open of the ivshmem function cannot claim a BAR, because
 * pci_request_selected_regions() says so for any failure), or be absorbed
 * by a fallback, the call then succeeding with a correct result: kvmalloc()
 * falls back to vmalloc(), a uevent that cannot be allocated is not sent.
 * Afterwards GET must report a defined state: after a failed SET the start
 * state, the target when the walk succeeded and only the handing out of
 * the data_fd failed (vfio.ko's part), or ERROR when the walk had already
 * left the data session it started in, and then VFIO_DEVICE_RESET must
 * bring the device back to RUNNING.  A failed read() or write() either
 * fails every later call on the session the same way, or loses nothing:
 * the stream completed afterwards migrates the device byte for byte.
 * After each entry point's sweep a clean migration from one device to the
 * other must still be byte-identical (the UART state for vmig_mtty, BAR2
 * for ivshmem).  A created mdev that failed must not exist, and must give
 * its ports back.  With kmemleak in the kernel, the last test scans for
 * objects leaked by the vmig modules.
 *
 * Each test prints "# fail-nth: <entry point>: N injection points" and the
 * last one the total over all of them.  Without kernel support
 * (CONFIG_FAULT_INJECTION, FAILSLAB, FAIL_PAGE_ALLOC and
 * FAULT_INJECTION_DEBUG_FS) the program reports one skipped test and exits
 * with KSFT_SKIP.
 *
 * Only fail-nth may inject: failslab and fail_page_alloc are set to
 * probability 0 with the task filter on, so no other task sees a failure
 * (fail-nth itself goes before both checks).  By default both skip
 * sleeping allocations, and fail_page_alloc highmem ones and orders below
 * min-order: ignore-gfp-wait=N, ignore-gfp-highmem=N and min-order=0 let
 * fail-nth reach every allocation.  Their verbosity is turned down.  The
 * previous settings come back afterwards.
 * fail-nth counts every allocation of the task in the call, user page
 * faults included, so all user memory is locked in beforehand, and
 * nothing but the call under test runs between arming and reading back.
 * Allocations of other tasks (the ivshmem save worker, kworkers) are not
 * reached this way.
 *
 * Devices come from VMIG_MTTY1 and VMIG_MTTY1_B (one-port vmig_mtty mdevs)
 * and VMIG_IVSHMEM_A and VMIG_IVSHMEM_B (ivshmem-plain functions bound to
 * vmig-ivshmem-vfio-pci); missing ones skip.
 *
 * With VMIG_FNTH_DRY=1 in the environment, a memory file stands in for
 * fail-nth and nothing is ever injected: every sweep then stops after its
 * first call, which checks the test's own paths on any kernel.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "libvmig.h"
#include "../kselftest_harness.h"

#define FNTH_PATH	"/proc/thread-self/fail-nth"
#define FNTH_LIMIT	10000	/* more allocations in one call is a bug */
#define DBG		"/sys/kernel/debug"
#define READ_PIECE	(1024 * 1024)	/* what QEMU reads at a time */

#define BAR0		VFIO_PCI_BAR0_REGION_INDEX
#define BAR2		VFIO_PCI_BAR2_REGION_INDEX
#define CONFIG		VFIO_PCI_CONFIG_REGION_INDEX

/* Injection points over all tests, which run in children of their own. */
static long *fnth_total;
static bool fnth_dry;		/* VMIG_FNTH_DRY: no injection at all */

static bool fnth_available(void)
{
	return fnth_dry || !access(FNTH_PATH, F_OK);
}

static void __attribute__((constructor)) fnth_total_init(void)
{
	fnth_total = mmap(NULL, sizeof(*fnth_total), PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (fnth_total == MAP_FAILED)
		fnth_total = NULL;
}

/* ---------------------------------------------------------------------- */
/* fail-nth and the fault attributes                                      */

/* A debugfs setting and the value it had, to be put back. */
struct knob {
	const char *path;
	const char *val;
	char old[32];
	bool set;
};

static struct knob knobs[] = {
	{ .path = DBG "/failslab/ignore-gfp-wait", .val = "N" },
	{ .path = DBG "/failslab/probability", .val = "0" },
	{ .path = DBG "/failslab/task-filter", .val = "Y" },
	{ .path = DBG "/failslab/verbose", .val = "0" },
	{ .path = DBG "/fail_page_alloc/ignore-gfp-wait", .val = "N" },
	{ .path = DBG "/fail_page_alloc/ignore-gfp-highmem", .val = "N" },
	{ .path = DBG "/fail_page_alloc/min-order", .val = "0" },
	{ .path = DBG "/fail_page_alloc/probability", .val = "0" },
	{ .path = DBG "/fail_page_alloc/task-filter", .val = "Y" },
	{ .path = DBG "/fail_page_alloc/verbose", .val = "0" },
};

static int file_read(const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

static int knobs_set(void)
{
	unsigned int i;
	int ret;

	for (i = 0; i < ARRAY_SIZE(knobs); i++) {
		ret = file_read(knobs[i].path, knobs[i].old, sizeof(knobs[i].old));
		if (ret)
			return ret;
		ret = libvmig_write_file(knobs[i].path, knobs[i].val);
		if (ret)
			return ret;
		knobs[i].set = true;
	}
	return 0;
}

static void knobs_restore(void)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(knobs); i++) {
		if (knobs[i].set)
			libvmig_write_file(knobs[i].path, knobs[i].old);
		knobs[i].set = false;
	}
}

/*
 * Arm the Nth allocation of this task to fail.  Only the call under test
 * may run between fnth_arm() and fnth_fired(): no library call that might
 * enter the kernel (malloc() may), no page that was never touched.
 */
static void fnth_arm(int fd, unsigned int n)
{
	char buf[16];
	int len;

	len = snprintf(buf, sizeof(buf), "%u", n);
	if (pwrite(fd, buf, len, 0) != len)
		abort();
}

/* Disarm, and tell whether the armed failure was injected. */
static bool fnth_fired(int fd)
{
	char buf[16] = "";
	bool fired;

	if (pread(fd, buf, sizeof(buf) - 1, 0) <= 0)
		abort();
	fired = strtoul(buf, NULL, 10) == 0;
	if (pwrite(fd, "0", 1, 0) != 1)
		abort();
	return fired;
}

/* Run @call with its Nth allocation armed; sets ret, err and fired. */
#define FNTH(n, call) do {				\
	fnth_arm(self->fnth, (n));			\
	ret = (call);					\
	err = errno;					\
	fired = fnth_fired(self->fnth);			\
} while (0)

/* ---------------------------------------------------------------------- */
/* The devices                                                            */

enum kind { MTTY, IVSHMEM };

static int uart_out(struct libvmig_dev *d, int reg, __u8 v)
{
	return libvmig_region_rw(d, BAR0, reg, &v, 1, true);
}

static int uart_in(struct libvmig_dev *d, int reg, __u8 *v)
{
	return libvmig_region_rw(d, BAR0, reg, v, 1, false);
}

/* 16550 registers and bits, as vmig_mtty_test.c programs them. */
#define UART_RBR	0
#define UART_DLL	0
#define UART_DLM	1
#define UART_FCR	2
#define UART_LCR	3
#define UART_MCR	4
#define UART_LSR	5
#define UART_SCR	7
#define LCR_DLAB	0x80
#define LCR_8N1		0x03
#define MCR_LOOP	0x10
#define LSR_DR		0x01
#define FCR_ENABLE	0x07

static const char *uart_msg(unsigned int seed)
{
	static const char * const msgs[] = { "fail", "nth!", "vmig", "oom?" };

	return msgs[seed % ARRAY_SIZE(msgs)];
}

static void uart_put(struct __test_metadata *_metadata, struct libvmig_dev *d,
		     unsigned int seed)
{
	const char *msg = uart_msg(seed);
	__u16 div = 0x10 + (seed & 0xfff);

	ASSERT_EQ(0, uart_out(d, UART_LCR, LCR_DLAB));
	ASSERT_EQ(0, uart_out(d, UART_DLL, div & 0xff));
	ASSERT_EQ(0, uart_out(d, UART_DLM, div >> 8));
	ASSERT_EQ(0, uart_out(d, UART_LCR, LCR_8N1));
	ASSERT_EQ(0, uart_out(d, UART_FCR, FCR_ENABLE));
	ASSERT_EQ(0, uart_out(d, UART_MCR, MCR_LOOP));
	ASSERT_EQ(0, uart_out(d, UART_SCR, (0x40 + seed) & 0xff));
	for (; *msg; msg++)
		ASSERT_EQ(0, uart_out(d, UART_RBR, *msg));
}

static void uart_check(struct __test_metadata *_metadata,
		       struct libvmig_dev *d, unsigned int seed)
{
	const char *msg = uart_msg(seed);
	__u8 v, lo, hi;

	ASSERT_EQ(0, uart_in(d, UART_LCR, &v));
	EXPECT_EQ(LCR_8N1, v);
	ASSERT_EQ(0, uart_in(d, UART_MCR, &v));
	EXPECT_EQ(MCR_LOOP, v & MCR_LOOP);
	ASSERT_EQ(0, uart_in(d, UART_SCR, &v));
	EXPECT_EQ((0x40 + seed) & 0xff, v);
	ASSERT_EQ(0, uart_out(d, UART_LCR, LCR_DLAB | LCR_8N1));
	ASSERT_EQ(0, uart_in(d, UART_DLL, &lo));
	ASSERT_EQ(0, uart_in(d, UART_DLM, &hi));
	ASSERT_EQ(0, uart_out(d, UART_LCR, LCR_8N1));
	EXPECT_EQ(0x10 + (seed & 0xfff), lo | hi << 8);
	for (; *msg; msg++) {
		ASSERT_EQ(0, uart_in(d, UART_LSR, &v));
		ASSERT_NE(0, v & LSR_DR);
		ASSERT_EQ(0, uart_in(d, UART_RBR, &v));
		EXPECT_EQ(*msg, v);
	}
	ASSERT_EQ(0, uart_in(d, UART_LSR, &v));
	EXPECT_EQ(0, v & LSR_DR);
}

/* ivshmem: BAR2 through a mapping, with memory decoding turned on. */
static unsigned char *bar2_map(struct libvmig_dev *d, size_t *size)
{
	__u16 cmd;

	if (libvmig_region_rw(d, CONFIG, 4, &cmd, 2, false))
		return NULL;
	cmd |= 0x2;
	if (libvmig_region_rw(d, CONFIG, 4, &cmd, 2, true))
		return NULL;
	return libvmig_region_mmap(d, BAR2, size);
}

static void pattern(unsigned char *mem, size_t size, unsigned int seed)
{
	__u64 *p = (__u64 *)mem, x = seed * 0x9e3779b97f4a7c15ull + 7;
	size_t i;

	for (i = 0; i < size / 8; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = x;
	}
}

struct ivsh_ref {
	unsigned char *want;
	size_t size;
};

static void bar2_put(struct __test_metadata *_metadata, struct libvmig_dev *d,
		     unsigned int seed, struct ivsh_ref *ref)
{
	unsigned char *mem;
	size_t size;

	mem = bar2_map(d, &size);
	ASSERT_NE(NULL, mem);
	if (ref->size != size) {
		free(ref->want);
		ref->want = malloc(size);
		ASSERT_NE(NULL, ref->want);
		ref->size = size;
	}
	pattern(ref->want, size, seed);
	memcpy(mem, ref->want, size);
	munmap(mem, size);
}

static void bar2_check(struct __test_metadata *_metadata,
		       struct libvmig_dev *d, const struct ivsh_ref *ref)
{
	unsigned char *mem;
	size_t size, i;

	mem = bar2_map(d, &size);
	ASSERT_NE(NULL, mem);
	ASSERT_EQ(ref->size, size);
	if (memcmp(mem, ref->want, size)) {
		for (i = 0; i < size && mem[i] == ref->want[i]; i++)
			;
		munmap(mem, size);
		ASSERT_EQ(size, i) TH_LOG("BAR2 differs at %zu", i);
	}
	munmap(mem, size);
}

/* ---------------------------------------------------------------------- */
/* The fixture: two devices of one driver, fail-nth armed per call        */

FIXTURE(fnth) {
	struct libvmig_dev a, b;
	enum kind kind;
	__u64 flags;
	struct libvmig_buf valid;	/* a sound stream of A's type */
	struct ivsh_ref ref;
	int fnth;
	bool usercopy;			/* fail_usercopy: EFAULT is allowed */
	long points, absorbed;
	unsigned int seed;
};

FIXTURE_VARIANT(fnth) {
	const char *a, *b;
	enum kind kind;
};

FIXTURE_VARIANT_ADD(fnth, mtty) {
	.a = "VMIG_MTTY1", .b = "VMIG_MTTY1_B", .kind = MTTY,
};

FIXTURE_VARIANT_ADD(fnth, ivshmem) {
	.a = "VMIG_IVSHMEM_A", .b = "VMIG_IVSHMEM_B", .kind = IVSHMEM,
};

FIXTURE_SETUP(fnth)
{
	const char *a = getenv(variant->a), *b = getenv(variant->b);

	self->a.fd = -1;
	self->b.fd = -1;
	self->fnth = -1;
	self->kind = variant->kind;
	if (!fnth_available())
		SKIP(return, "no %s: the kernel lacks CONFIG_FAULT_INJECTION",
		     FNTH_PATH);
	if (!fnth_dry && (access(DBG "/failslab", F_OK) ||
			  access(DBG "/fail_page_alloc", F_OK)))
		SKIP(return, "no failslab or fail_page_alloc in debugfs");
	if (!a || !b)
		SKIP(return, "%s or %s not set", variant->a, variant->b);
	self->usercopy = !access(DBG "/fail_usercopy", F_OK);
	if (!fnth_dry)
		ASSERT_EQ(0, knobs_set());
	/* No user page may fault in under an armed call. */
	ASSERT_EQ(0, mlockall(MCL_CURRENT | MCL_FUTURE));
	if (fnth_dry)
		self->fnth = memfd_create("fail-nth", MFD_CLOEXEC);
	else
		self->fnth = open(FNTH_PATH, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fnth);

	ASSERT_EQ(0, libvmig_dev_open(&self->a, a));
	ASSERT_EQ(0, libvmig_dev_open(&self->b, b));
	ASSERT_EQ(0, libvmig_reset(&self->a));
	ASSERT_EQ(0, libvmig_reset(&self->b));
	ASSERT_EQ(0, libvmig_mig_flags(&self->a, &self->flags));
	ASSERT_EQ(0, libvmig_save_all(&self->a, &self->valid));
	ASSERT_EQ(0, libvmig_reset(&self->a));
}

FIXTURE_TEARDOWN(fnth)
{
	if (self->fnth >= 0)
		close(self->fnth);
	libvmig_buf_free(&self->valid);
	free(self->ref.want);
	libvmig_dev_close(&self->a);
	libvmig_dev_close(&self->b);
	knobs_restore();
}

/* Is @err what an injected allocation failure may give? */
static bool clean_errno(struct _test_data_fnth *self, int err)
{
	return err == ENOMEM || (self->usercopy && err == EFAULT);
}

static __u32 state_of(struct libvmig_dev *d)
{
	__u32 s = ~0u;

	return libvmig_get_state(d, &s) ? ~0u : s;
}

static void put_data(struct __test_metadata *_metadata,
		     struct _test_data_fnth *self, struct libvmig_dev *d)
{
	if (self->kind == MTTY)
		uart_put(_metadata, d, self->seed);
	else
		bar2_put(_metadata, d, self->seed, &self->ref);
}

static void check_data(struct __test_metadata *_metadata,
		       struct _test_data_fnth *self, struct libvmig_dev *d)
{
	if (self->kind == MTTY)
		uart_check(_metadata, d, self->seed);
	else
		bar2_check(_metadata, d, &self->ref);
}

/*
 * The end of every sweep: both devices reset, new data in A, a clean
 * migration into B, and B must hold A's data byte for byte.
 */
static void migrates(struct __test_metadata *_metadata,
		     struct _test_data_fnth *self)
{
	struct libvmig_buf s = {};

	self->seed++;
	ASSERT_EQ(0, libvmig_reset(&self->a));
	ASSERT_EQ(0, libvmig_reset(&self->b));
	put_data(_metadata, self, &self->a);
	ASSERT_EQ(0, libvmig_save_all(&self->a, &s));
	ASSERT_EQ(0, libvmig_resume_all(&self->b, &s, LIBVMIG_QEMU_PIECE));
	check_data(_metadata, self, &self->b);
	libvmig_buf_free(&s);
}

static void report(struct _test_data_fnth *self, const char *what, long points,
		   long absorbed)
{
	ksft_print_msg("fail-nth: %s: %s: %ld injection points (%ld absorbed)\n",
		       self->kind == MTTY ? "mtty" : "ivshmem", what, points,
		       absorbed);
	self->points += points;
	self->absorbed += absorbed;
	if (fnth_total)
		__atomic_add_fetch(fnth_total, points, __ATOMIC_RELAXED);
}

/* VFIO_DEVICE_FEATURE with a buffer made before arming. */
struct feat {
	struct vfio_device_feature hdr;
	union {
		struct vfio_device_feature_mig_state state;
		struct vfio_device_feature_mig_data_size size;
		struct vmig_device_feature_arcs arcs;
	};
};

static void feat_prep(struct feat *f, __u32 flags, size_t size)
{
	memset(f, 0, sizeof(*f));
	f->hdr.argsz = sizeof(f->hdr) + size;
	f->hdr.flags = flags;
}

static void set_prep(struct feat *f, __u32 state)
{
	feat_prep(f, VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
		  sizeof(f->state));
	f->state.device_state = state;
	f->state.data_fd = -1;
}

/*
 * Put A in @state from a reset, without injection; a data_fd that comes
 * with it goes to *@fd (-1 if none).  RESUMING gets a whole sound stream,
 * so that leaving it is possible.
 */
static void reach(struct __test_metadata *_metadata, struct _test_data_fnth *self,
		  __u32 state, int *fd)
{
	*fd = -1;
	ASSERT_EQ(0, libvmig_reset(&self->a));
	if (state == VFIO_DEVICE_STATE_RUNNING)
		return;
	ASSERT_EQ(0, libvmig_set_state(&self->a, state, fd));
	if (state == VFIO_DEVICE_STATE_RESUMING)
		ASSERT_EQ(0, libvmig_write_stream(*fd, self->valid.data,
						  self->valid.len, 0));
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* ---------------------------------------------------------------------- */
/* Device open                                                            */

TEST_F_TIMEOUT(fnth, device_open, 900)
{
	long points = 0, absorbed = 0;
	int ret, err, n;
	bool fired;

	for (n = 1; n < FNTH_LIMIT; n++) {
		/* The first open of the device: A's own fd is the only one. */
		close_fd(&self->a.fd);
		FNTH(n, ioctl(self->a.group, VFIO_GROUP_GET_DEVICE_FD,
			      self->a.name));
		if (ret >= 0)
			self->a.fd = ret;
		if (!fired) {
			ASSERT_LE(0, ret) TH_LOG("errno %d", err);
			break;
		}
		points++;
		if (ret >= 0) {
			absorbed++;
		} else {
			ASSERT_TRUE(clean_errno(self, err) ||
				    (self->kind == IVSHMEM && err == EBUSY))
				TH_LOG("open, failure %d: errno %d", n, err);
			self->a.fd = ioctl(self->a.group,
					   VFIO_GROUP_GET_DEVICE_FD, self->a.name);
			ASSERT_LE(0, self->a.fd) TH_LOG("open after failure %d", n);
		}
		/* What a new user must find: RUNNING, and a working device. */
		ASSERT_EQ(VFIO_DEVICE_STATE_RUNNING, state_of(&self->a));
	}
	ASSERT_GT(FNTH_LIMIT, n);
	report(self, "device open", points, absorbed);
	migrates(_metadata, self);
}

/* ---------------------------------------------------------------------- */
/* SET from every state to every state                                    */

/* May a failed walk from @from to @to land in ERROR? */
static bool error_allowed(__u32 from, __u32 to)
{
	if (libvmig_in_saving_group(from))
		return !libvmig_in_saving_group(to);
	return from == VFIO_DEVICE_STATE_RESUMING;
}

/*
 * Does the device take a request from @from to @to at all?  Asked without
 * injection: a forbidden one (STOP_COPY -> PRE_COPY) fails with EINVAL
 * before any arc runs and leaves the FSM where it was.
 */
static bool set_allowed(struct __test_metadata *_metadata,
			struct _test_data_fnth *self, __u32 from, __u32 to)
{
	int fd, ret;

	reach(_metadata, self, from, &fd);
	ret = libvmig_set_state(&self->a, to, NULL);
	close_fd(&fd);
	if (ret) {
		ASSERT_EQ(-EINVAL, ret)
			TH_LOG("%s -> %s", libvmig_state_str(from),
			       libvmig_state_str(to));
		ASSERT_EQ(from, state_of(&self->a));
	}
	return !ret;
}

TEST_F_TIMEOUT(fnth, set_state, 3600)
{
	long points = 0, absorbed = 0, total = 0, total_abs = 0, errors = 0;
	int ret, err, n, fd, pairs = 0, refused = 0;
	__u32 from, to, st;
	struct feat f;
	bool fired;

	for (from = 1; from < LIBVMIG_NR_STATES; from++) {
		if (!libvmig_state_supported(self->flags, from))
			continue;
		for (to = 1; to < LIBVMIG_NR_STATES; to++) {
			if (to == from ||
			    !libvmig_state_supported(self->flags, to))
				continue;
			if (!set_allowed(_metadata, self, from, to)) {
				refused++;
				continue;
			}
			pairs++;
			points = 0;
			absorbed = 0;
			for (n = 1; n < FNTH_LIMIT; n++) {
				reach(_metadata, self, from, &fd);
				set_prep(&f, to);
				FNTH(n, ioctl(self->a.fd, VFIO_DEVICE_FEATURE, &f));
				st = state_of(&self->a);
				if (!ret && f.state.data_fd >= 0)
					close(f.state.data_fd);
				close_fd(&fd);
				if (!fired) {
					ASSERT_EQ(0, ret)
						TH_LOG("%s -> %s: errno %d",
						       libvmig_state_str(from),
						       libvmig_state_str(to), err);
					ASSERT_EQ(to, st);
					break;
				}
				points++;
				if (!ret) {
					absorbed++;
					ASSERT_EQ(to, st);
					continue;
				}
				ASSERT_TRUE(clean_errno(self, err))
					TH_LOG("%s -> %s, failure %d: errno %d",
					       libvmig_state_str(from),
					       libvmig_state_str(to), n, err);
				if (st == VFIO_DEVICE_STATE_ERROR) {
					ASSERT_TRUE(error_allowed(from, to))
						TH_LOG("%s -> %s, failure %d: ERROR",
						       libvmig_state_str(from),
						       libvmig_state_str(to), n);
					errors++;
					ASSERT_EQ(0, libvmig_reset(&self->a));
					ASSERT_EQ(VFIO_DEVICE_STATE_RUNNING,
						  state_of(&self->a));
				} else if (st != from) {
					ASSERT_TRUE(st == to &&
						    libvmig_starts_session(from, to))
						TH_LOG("%s -> %s, failure %d: in %s",
						       libvmig_state_str(from),
						       libvmig_state_str(to), n,
						       libvmig_state_str(st));
				}
			}
			ASSERT_GT(FNTH_LIMIT, n);
			if (points)
				ksft_print_msg("fail-nth: %s -> %s: %ld (%ld absorbed)\n",
					       libvmig_state_str(from),
					       libvmig_state_str(to), points,
					       absorbed);
			total += points;
			total_abs += absorbed;
		}
	}
	ksft_print_msg("fail-nth: SET: %d requests swept, %d refused anyway\n",
		       pairs, refused);
	ksft_print_msg("fail-nth: SET: %ld failures ended in ERROR\n", errors);
	report(self, "SET of MIG_DEVICE_STATE", total, total_abs);
	migrates(_metadata, self);
}

/* ---------------------------------------------------------------------- */
/* Data files                                                             */

/* Room for one more read() at the end of @s, every page of it touched. */
static int buf_room(struct libvmig_buf *s)
{
	unsigned char *p;

	if (s->cap - s->len < READ_PIECE) {
		p = realloc(s->data, s->len + 4 * READ_PIECE);
		if (!p)
			return -ENOMEM;
		s->data = p;
		s->cap = s->len + 4 * READ_PIECE;
	}
	memset(s->data + s->len, 0, READ_PIECE);
	return 0;
}

/*
 * Save A, which holds the data of self->seed, reading as QEMU does: from
 * PRE_COPY until the temporary end of stream, then in STOP_COPY to the
 * end; or in STOP_COPY alone.  read() call @k (from 0) runs with its @n-th
 * allocation armed.  A failed call must stick (every later read() fails
 * the same way) or lose nothing: a stream that completes anyway must
 * migrate A into B byte for byte.  Returns whether the failure fired;
 * *@reached says whether there was a call @k at all, *@last whether it
 * was the last one.  A call @k that did not fail ends the save at once.
 */
static bool save_armed(struct __test_metadata *_metadata,
		       struct _test_data_fnth *self, bool precopy, int k, int n,
		       bool *absorbed, bool *reached, bool *last)
{
	bool stop_copy = !precopy, fired = false, failed = false;
	int fd, call, ret, err = 0, failed_err = 0;
	struct libvmig_buf s = {};
	ssize_t got = 0;

	*absorbed = false;
	*reached = false;
	*last = false;
	ASSERT_EQ(0, libvmig_reset(&self->a));
	put_data(_metadata, self, &self->a);
	ASSERT_EQ(0, libvmig_set_state(&self->a, precopy ?
				       VFIO_DEVICE_STATE_PRE_COPY :
				       VFIO_DEVICE_STATE_STOP_COPY, &fd));
	for (call = 0;; call++) {
		ASSERT_EQ(0, buf_room(&s));
		if (call == k) {
			*reached = true;
			FNTH(n, read(fd, s.data + s.len, READ_PIECE));
			got = ret;
			if (!fired) {
				ASSERT_TRUE(got >= 0 || (err == ENOMSG && !stop_copy))
					TH_LOG("read %d: errno %d", k, err);
				*last = !got;
				break;
			}
			if (got < 0) {
				ASSERT_TRUE(clean_errno(self, err))
					TH_LOG("read %d, failure %d: errno %d",
					       k, n, err);
				failed = true;
				failed_err = err;
				continue;	/* does it stick? */
			}
		} else {
			got = read(fd, s.data + s.len, READ_PIECE);
			err = errno;
		}
		if (got > 0) {
			s.len += got;
			continue;
		}
		if (!got)
			break;
		if (failed && err == failed_err)
			break;		/* it sticks: the session is lost */
		if (err == ENOMSG && !stop_copy) {
			ASSERT_EQ(0, libvmig_set_state(&self->a,
						       VFIO_DEVICE_STATE_STOP_COPY,
						       NULL));
			stop_copy = true;
			continue;
		}
		ASSERT_EQ(0, got) TH_LOG("read %d (failure %d in read %d): errno %d",
					 call, n, k, err);
	}
	/* No read moves the FSM. */
	ASSERT_EQ(stop_copy ? VFIO_DEVICE_STATE_STOP_COPY :
		  VFIO_DEVICE_STATE_PRE_COPY, state_of(&self->a));
	close(fd);
	if (!got && fired) {
		/* Complete although a failure was injected: nothing lost. */
		ASSERT_EQ(0, libvmig_set_state(&self->a, VFIO_DEVICE_STATE_STOP,
					       NULL));
		ASSERT_EQ(0, libvmig_reset(&self->b));
		ASSERT_EQ(0, libvmig_resume_all(&self->b, &s, LIBVMIG_QEMU_PIECE))
			TH_LOG("read %d, failure %d: the stream does not load",
			       k, n);
		check_data(_metadata, self, &self->b);
		*absorbed = !failed;
	}
	libvmig_buf_free(&s);
	return fired;
}

static void read_sweep(struct __test_metadata *_metadata,
		       struct _test_data_fnth *self, bool precopy)
{
	long points = 0, absorbed = 0;
	bool reached, last = false, fired, abs;
	int k, n;

	for (k = 0; !last; k++) {
		for (n = 1; n < FNTH_LIMIT; n++) {
			self->seed++;
			fired = save_armed(_metadata, self, precopy, k, n, &abs,
					   &reached, &last);
			/*
			 * How many calls a save takes depends on a worker's
			 * pace: the one before may have been the last.
			 */
			if (!reached) {
				ASSERT_LT(0, k);
				last = true;
				break;
			}
			if (!fired)
				break;
			points++;
			absorbed += abs;
		}
		ASSERT_GT(FNTH_LIMIT, n);
	}
	ksft_print_msg("fail-nth: %d read() calls in the last save\n", k);
	report(self, precopy ? "read, PRE_COPY then STOP_COPY" :
	       "read, STOP_COPY", points, absorbed);
	migrates(_metadata, self);
}

TEST_F_TIMEOUT(fnth, read_stop_copy, 3600)
{
	read_sweep(_metadata, self, false);
}

TEST_F_TIMEOUT(fnth, read_pre_copy, 3600)
{
	if (!(self->flags & VFIO_MIGRATION_PRE_COPY))
		SKIP(return, "no PRE_COPY");
	read_sweep(_metadata, self, true);
}

/*
 * A whole stream in one write() to a resuming data_fd, its Nth allocation
 * failing.  Nothing is consumed by a failed call, so the rest is written
 * from where the call stopped: the session must then refuse it with the
 * same error, at write() or at RESUMING -> RUNNING, or load it and give B
 * the data of A.
 */
TEST_F_TIMEOUT(fnth, write, 3600)
{
	long points = 0, absorbed = 0;
	struct libvmig_buf s = {};
	int ret, err, n, fd, rest;
	bool fired;
	size_t off;

	self->seed++;
	put_data(_metadata, self, &self->a);
	ASSERT_EQ(0, libvmig_save_all(&self->a, &s));
	for (n = 1; n < FNTH_LIMIT; n++) {
		ASSERT_EQ(0, libvmig_reset(&self->b));
		ASSERT_EQ(0, libvmig_set_state(&self->b, VFIO_DEVICE_STATE_RESUMING,
					       &fd));
		FNTH(n, write(fd, s.data, s.len));
		if (!fired) {
			ASSERT_EQ(s.len, ret) TH_LOG("errno %d", err);
			ASSERT_EQ(0, libvmig_set_state(&self->b,
						       VFIO_DEVICE_STATE_RUNNING,
						       NULL));
			close(fd);
			check_data(_metadata, self, &self->b);
			break;
		}
		points++;
		if (ret < 0)
			ASSERT_TRUE(clean_errno(self, err))
				TH_LOG("write, failure %d: errno %d", n, err);
		off = ret < 0 ? 0 : ret;
		rest = libvmig_write_stream(fd, s.data + off, s.len - off, 0);
		if (!rest)
			rest = libvmig_set_state(&self->b, VFIO_DEVICE_STATE_RUNNING,
						 NULL);
		if (rest) {
			/* Refused, with the error injected; B still RESUMING. */
			ASSERT_TRUE(clean_errno(self, -rest))
				TH_LOG("write, failure %d: then %d", n, rest);
			if (ret < 0)
				EXPECT_EQ(-err, rest);
			ASSERT_EQ(VFIO_DEVICE_STATE_RESUMING, state_of(&self->b));
		} else {
			ASSERT_EQ(VFIO_DEVICE_STATE_RUNNING, state_of(&self->b));
			check_data(_metadata, self, &self->b);
			absorbed += ret == (ssize_t)s.len;
		}
		close(fd);
	}
	ASSERT_GT(FNTH_LIMIT, n);
	libvmig_buf_free(&s);
	report(self, "write", points, absorbed);
	migrates(_metadata, self);
}

/* poll() of a data_fd: saving in PRE_COPY and STOP_COPY, and resuming. */
TEST_F_TIMEOUT(fnth, poll, 900)
{
	static const __u32 states[] = { VFIO_DEVICE_STATE_PRE_COPY,
					VFIO_DEVICE_STATE_STOP_COPY,
					VFIO_DEVICE_STATE_RESUMING };
	long points = 0, absorbed = 0;
	unsigned int i;
	struct pollfd p;
	int ret, err, n, fd;
	bool fired;

	for (i = 0; i < ARRAY_SIZE(states); i++) {
		if (!libvmig_state_supported(self->flags, states[i]))
			continue;
		for (n = 1; n < FNTH_LIMIT; n++) {
			reach(_metadata, self, states[i], &fd);
			p.fd = fd;
			p.events = POLLIN | POLLOUT;
			p.revents = 0;
			FNTH(n, poll(&p, 1, 0));
			close(fd);
			if (!fired) {
				ASSERT_LE(0, ret) TH_LOG("errno %d", err);
				break;
			}
			points++;
			if (ret >= 0)
				absorbed++;
			else
				ASSERT_TRUE(clean_errno(self, err));
			ASSERT_EQ(states[i], state_of(&self->a));
		}
		ASSERT_GT(FNTH_LIMIT, n);
	}
	report(self, "poll", points, absorbed);
	migrates(_metadata, self);
}

TEST_F_TIMEOUT(fnth, precopy_info, 900)
{
	struct vfio_precopy_info info;
	long points = 0, absorbed = 0;
	int ret, err, n, fd;
	bool fired;

	if (!(self->flags & VFIO_MIGRATION_PRE_COPY))
		SKIP(return, "no PRE_COPY");
	for (n = 1; n < FNTH_LIMIT; n++) {
		reach(_metadata, self, VFIO_DEVICE_STATE_PRE_COPY, &fd);
		memset(&info, 0, sizeof(info));
		info.argsz = sizeof(info);
		FNTH(n, ioctl(fd, VFIO_MIG_GET_PRECOPY_INFO, &info));
		if (!fired) {
			ASSERT_EQ(0, ret) TH_LOG("errno %d", err);
			EXPECT_LT(0, info.initial_bytes);
			close(fd);
			break;
		}
		points++;
		if (!ret)
			absorbed++;
		else
			ASSERT_TRUE(clean_errno(self, err));
		ASSERT_EQ(VFIO_DEVICE_STATE_PRE_COPY, state_of(&self->a));
		close(fd);
	}
	ASSERT_GT(FNTH_LIMIT, n);
	report(self, "VFIO_MIG_GET_PRECOPY_INFO", points, absorbed);
	migrates(_metadata, self);
}

/*
 * A device feature ioctl of A in @state, swept; its result must not move
 * the FSM.
 */
static long feature_sweep(struct __test_metadata *_metadata,
			  struct _test_data_fnth *self, __u32 state, __u32 flags,
			  size_t size, long *absorbed)
{
	long points = 0;
	struct feat f;
	int ret, err, n, fd;
	bool fired;

	for (n = 1; n < FNTH_LIMIT; n++) {
		reach(_metadata, self, state, &fd);
		feat_prep(&f, flags, size);
		FNTH(n, ioctl(self->a.fd, VFIO_DEVICE_FEATURE, &f));
		close_fd(&fd);
		if (!fired) {
			ASSERT_EQ(0, ret) TH_LOG("errno %d", err);
			break;
		}
		points++;
		if (!ret)
			(*absorbed)++;
		else
			ASSERT_TRUE(clean_errno(self, err))
				TH_LOG("feature %#x, failure %d: errno %d",
				       flags, n, err);
		ASSERT_EQ(state, state_of(&self->a));
	}
	ASSERT_GT(FNTH_LIMIT, n);
	return points;
}

TEST_F_TIMEOUT(fnth, data_size, 900)
{
	__u32 flags = VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIG_DATA_SIZE;
	long points, absorbed = 0;

	points = feature_sweep(_metadata, self, VFIO_DEVICE_STATE_RUNNING, flags,
			       sizeof(struct vfio_device_feature_mig_data_size),
			       &absorbed);
	points += feature_sweep(_metadata, self, VFIO_DEVICE_STATE_STOP, flags,
				sizeof(struct vfio_device_feature_mig_data_size),
				&absorbed);
	report(self, "MIG_DATA_SIZE", points, absorbed);
	migrates(_metadata, self);
}

TEST_F_TIMEOUT(fnth, arc_query, 900)
{
	long points, absorbed = 0;

	points = feature_sweep(_metadata, self, VFIO_DEVICE_STATE_RUNNING,
			       VFIO_DEVICE_FEATURE_GET | VMIG_DEVICE_FEATURE_ARCS,
			       sizeof(struct vmig_device_feature_arcs),
			       &absorbed);
	report(self, "arc query", points, absorbed);
	migrates(_metadata, self);
}

TEST_F_TIMEOUT(fnth, precopy_v2, 900)
{
	long points, absorbed = 0;

	if (!(self->flags & VFIO_MIGRATION_PRE_COPY))
		SKIP(return, "no PRE_COPY");
	points = feature_sweep(_metadata, self, VFIO_DEVICE_STATE_RUNNING,
			       VFIO_DEVICE_FEATURE_SET |
			       VMIG_DEVICE_FEATURE_PRECOPY_INFO_V2, 0, &absorbed);
	report(self, "pre-copy v2 opt-in", points, absorbed);
	migrates(_metadata, self);
}

/*
 * VFIO_DEVICE_RESET from every state with or without a session.  A reset
 * that fails leaves the FSM where it was or in RUNNING, and the next one
 * works.
 */
TEST_F_TIMEOUT(fnth, reset, 1800)
{
	long points = 0, absorbed = 0;
	__u32 from, st;
	int ret, err, n, fd;
	bool fired;

	for (from = 1; from < LIBVMIG_NR_STATES; from++) {
		if (!libvmig_state_supported(self->flags, from))
			continue;
		for (n = 1; n < FNTH_LIMIT; n++) {
			reach(_metadata, self, from, &fd);
			FNTH(n, ioctl(self->a.fd, VFIO_DEVICE_RESET));
			st = state_of(&self->a);
			close_fd(&fd);
			if (!fired) {
				ASSERT_EQ(0, ret) TH_LOG("errno %d", err);
				ASSERT_EQ(VFIO_DEVICE_STATE_RUNNING, st);
				break;
			}
			points++;
			if (!ret) {
				absorbed++;
				ASSERT_EQ(VFIO_DEVICE_STATE_RUNNING, st);
				continue;
			}
			ASSERT_TRUE(clean_errno(self, err))
				TH_LOG("reset in %s, failure %d: errno %d",
				       libvmig_state_str(from), n, err);
			ASSERT_TRUE(st == from || st == VFIO_DEVICE_STATE_RUNNING)
				TH_LOG("reset in %s, failure %d: in %s",
				       libvmig_state_str(from), n,
				       libvmig_state_str(st));
			ASSERT_EQ(0, libvmig_reset(&self->a));
			ASSERT_EQ(VFIO_DEVICE_STATE_RUNNING, state_of(&self->a));
		}
		ASSERT_GT(FNTH_LIMIT, n);
	}
	report(self, "VFIO_DEVICE_RESET", points, absorbed);
	migrates(_metadata, self);
}

/* ---------------------------------------------------------------------- */
/* mdev create and remove                                                 */

#define FNTH_UUID	"f417a11e-5eed-4000-8000-0000000000f4"
#define FNTH_DEV	"/sys/bus/mdev/devices/" FNTH_UUID

static int avail_of(const char *type)
{
	char path[PATH_MAX + 32], buf[32];

	snprintf(path, sizeof(path), "%s/available_instances", type);
	if (file_read(path, buf, sizeof(buf)))
		return -1;
	return atoi(buf);
}

TEST_F_TIMEOUT(fnth, mdev_create_remove, 1800)
{
	long points = 0, absorbed = 0, rpoints = 0, rabsorbed = 0;
	char type[PATH_MAX], link[PATH_MAX + 16], path[PATH_MAX + 16];
	const char *dev = FNTH_DEV;
	struct libvmig_dev c;
	int ret, err, n, fd, avail;
	ssize_t len;
	bool fired;

	if (self->kind != MTTY)
		SKIP(return, "not an mdev");
	snprintf(link, sizeof(link), "%s/mdev_type", self->a.sysfs);
	ASSERT_NE(NULL, realpath(link, type));
	avail = avail_of(type);
	if (avail < 1)
		SKIP(return, "no room for one more device of the type");
	if (!access(dev, F_OK))
		libvmig_write_file(FNTH_DEV "/remove", "1");
	snprintf(path, sizeof(path), "%s/create", type);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	ASSERT_LE(0, fd);

	for (n = 1; n < FNTH_LIMIT; n++) {
		FNTH(n, pwrite(fd, FNTH_UUID, strlen(FNTH_UUID), 0));
		len = ret;
		if (!fired) {
			ASSERT_EQ(strlen(FNTH_UUID), len) TH_LOG("errno %d", err);
			break;
		}
		points++;
		if (len >= 0) {
			absorbed++;
			ASSERT_EQ(0, access(dev, F_OK));
			ASSERT_EQ(0, libvmig_write_file(FNTH_DEV "/remove", "1"));
		} else {
			ASSERT_TRUE(clean_errno(self, err))
				TH_LOG("create, failure %d: errno %d", n, err);
		}
		/* No device, and its ports are back. */
		ASSERT_NE(0, access(dev, F_OK))
			TH_LOG("create, failure %d: the device exists", n);
		ASSERT_EQ(avail, avail_of(type))
			TH_LOG("create, failure %d: ports lost", n);
	}
	ASSERT_GT(FNTH_LIMIT, n);
	close(fd);
	ASSERT_EQ(avail - 1, avail_of(type));

	/* The device made last works: it migrates, from A. */
	self->seed++;
	{
		struct libvmig_buf s = {};

		ASSERT_EQ(0, libvmig_reset(&self->a));
		put_data(_metadata, self, &self->a);
		ASSERT_EQ(0, libvmig_save_all(&self->a, &s));
		ASSERT_EQ(0, libvmig_dev_open(&c, dev));
		ASSERT_EQ(0, libvmig_resume_all(&c, &s, LIBVMIG_QEMU_PIECE));
		check_data(_metadata, self, &c);
		libvmig_dev_close(&c);
		libvmig_buf_free(&s);
	}

	for (n = 1; n < FNTH_LIMIT; n++) {
		fd = open(FNTH_DEV "/remove", O_WRONLY | O_CLOEXEC);
		ASSERT_LE(0, fd);
		FNTH(n, pwrite(fd, "1", 1, 0));
		len = ret;
		close(fd);
		if (!fired) {
			ASSERT_EQ(1, len) TH_LOG("errno %d", err);
			ASSERT_NE(0, access(dev, F_OK));
			break;
		}
		rpoints++;
		if (len == 1) {
			/* Gone all the same: make it again for the next. */
			rabsorbed++;
			ASSERT_NE(0, access(dev, F_OK));
			ASSERT_EQ(avail, avail_of(type));
			snprintf(path, sizeof(path), "%s/create", type);
			ASSERT_EQ(0, libvmig_write_file(path, FNTH_UUID));
		} else {
			ASSERT_TRUE(clean_errno(self, err))
				TH_LOG("remove, failure %d: errno %d", n, err);
			ASSERT_EQ(0, access(dev, F_OK))
				TH_LOG("remove, failure %d: gone", n);
		}
	}
	ASSERT_GT(FNTH_LIMIT, n);
	ASSERT_EQ(avail, avail_of(type));
	report(self, "mdev create", points, absorbed);
	report(self, "mdev remove", rpoints, rabsorbed);
	migrates(_metadata, self);
}

/* ---------------------------------------------------------------------- */
/* Leaks, and the sum                                                     */

/* After every sweep of both drivers: fixtures run in their order here. */
FIXTURE(after) {
	int unused;
};

FIXTURE_SETUP(after)
{
}

FIXTURE_TEARDOWN(after)
{
}

/*
 * kmemleak, when the kernel has it: no unreferenced object allocated from
 * a vmig module.  Objects must be a few seconds old to be reported.
 */
TEST_F_TIMEOUT(after, no_leak, 900)
{
	const char *path = DBG "/kmemleak";
	char *buf, *p, *next;
	size_t cap = 1 << 20, len = 0;
	int fd, leaks = 0;
	ssize_t n;

	if (access(path, F_OK))
		SKIP(return, "no kmemleak");
	if (!fnth_available() || fnth_dry)
		SKIP(return, "no fail-nth: nothing was injected");
	sleep(6);
	ASSERT_EQ(0, libvmig_write_file(path, "scan"));
	sleep(6);
	ASSERT_EQ(0, libvmig_write_file(path, "scan"));
	buf = malloc(cap + 1);
	ASSERT_NE(NULL, buf);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	while (len < cap && (n = read(fd, buf + len, cap - len)) > 0)
		len += n;
	close(fd);
	buf[len] = 0;
	/* One report per "unreferenced object", with its backtrace. */
	for (p = strstr(buf, "unreferenced object"); p; p = next) {
		next = strstr(p + 1, "unreferenced object");
		if (next)
			next[-1] = 0;
		if (strstr(p, "vmig")) {
			leaks++;
			TH_LOG("%s", p);
		}
	}
	free(buf);
	EXPECT_EQ(0, leaks);
}

TEST_F(after, total)
{
	if (!fnth_available())
		SKIP(return, "no fail-nth");
	ASSERT_NE(NULL, fnth_total);
	if (!getenv("VMIG_MTTY1") && !getenv("VMIG_IVSHMEM_A"))
		SKIP(return, "no device");
	ksft_print_msg("fail-nth: %ld injection points\n", *fnth_total);
	/* Nothing can fire in a dry run; otherwise every session start allocates. */
	EXPECT_EQ(fnth_dry, *fnth_total == 0);
}

/*
 * Without fail-nth the kernel cannot do what this test is about: one
 * skipped test and KSFT_SKIP, instead of a run of skips that passes.
 */
int main(int argc, char **argv)
{
	const char *dry = getenv("VMIG_FNTH_DRY");

	fnth_dry = dry && !strcmp(dry, "1");
	if (!fnth_available()) {
		ksft_print_header();
		ksft_set_plan(1);
		ksft_test_result_skip("no %s: the kernel lacks %s\n", FNTH_PATH,
				      "CONFIG_FAULT_INJECTION, FAILSLAB, FAIL_PAGE_ALLOC or FAULT_INJECTION_DEBUG_FS");
		ksft_print_cnts();
		return KSFT_SKIP;
	}
	return test_harness_run(argc, argv);
}
