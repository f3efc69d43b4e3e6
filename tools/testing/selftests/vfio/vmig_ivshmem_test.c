// SPDX-License-Identifier: GPL-2.0-only
/*
 * The vmig ivshmem-plain driver: device memory migrates byte for byte,
 * with and without pre-copy, while a writer keeps dirtying the source, and
 * with memory decoding turned off on either side; pre-copy accounting is
 * exact; streams with a wrong identity or bad records are refused and leave
 * the device where the documentation says; resets and closes in the middle
 * of a save end it cleanly; VFIO_DEVICE_RESET works with or without a
 * reset method of the function.
 *
 * Devices (sysfs paths) come from VMIG_IVSHMEM_A and VMIG_IVSHMEM_B, two
 * ivshmem-plain functions of the same BAR2 size bound to
 * vmig-ivshmem-vfio-pci; missing ones skip.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>

#include "libvmig.h"
#include "../kselftest_harness.h"

#define BAR0		VFIO_PCI_BAR0_REGION_INDEX
#define BAR2		VFIO_PCI_BAR2_REGION_INDEX
#define IVSHMEM_INTRMASK	0x0
#define IVSHMEM_INTRSTATUS	0x4

/* The driver's stream format, version 1 (drivers/vfio/pci/vmig-ivshmem/cmd.h). */
#define REC_END		1
#define REC_MEM		16
#define REC_REGS	17
#define REC_MANDATORY	1
#define BLOCK		4096
/* The driver closes an access window after this long (IVSH_WINDOW_MS). */
#define WINDOW_MS	20
/* ... or once it covered this much of BAR2 (IVSH_WINDOW_BYTES). */
#define WINDOW_BYTES	(16 << 20)
#define REC_HDR		16
#define STREAM_HDR	24
#define ID_LEN		32
#define ID_BAR2_SIZE	24	/* offset of the BAR2 size in the identity */
#define ID_VERSION	16
/* Stream bytes of a one-block memory record. */
#define BLOCK_REC	(REC_HDR + 8 + BLOCK)

/* Little-endian fields of streams. */
static __u64 get_le(const unsigned char *p, int n)
{
	__u64 v = 0;

	while (n--)
		v = v << 8 | p[n];
	return v;
}

static void put_le(unsigned char *p, __u64 v, int n)
{
	while (n--) {
		*p++ = v;
		v >>= 8;
	}
}

FIXTURE(pair) {
	struct libvmig_dev a, b;
	unsigned char *mem_a, *mem_b;
	size_t size;
};

FIXTURE_SETUP(pair)
{
	const char *a = getenv("VMIG_IVSHMEM_A"), *b = getenv("VMIG_IVSHMEM_B");
	size_t size_b;

	self->a.fd = -1;
	self->b.fd = -1;
	if (!a || !b)
		SKIP(return, "VMIG_IVSHMEM_A or VMIG_IVSHMEM_B not set");
	ASSERT_EQ(0, libvmig_dev_open(&self->a, a));
	ASSERT_EQ(0, libvmig_dev_open(&self->b, b));
	self->mem_a = libvmig_region_mmap(&self->a, BAR2, &self->size);
	ASSERT_NE(NULL, self->mem_a);
	self->mem_b = libvmig_region_mmap(&self->b, BAR2, &size_b);
	ASSERT_NE(NULL, self->mem_b);
	ASSERT_EQ(self->size, size_b);
}

FIXTURE_TEARDOWN(pair)
{
	if (self->mem_a)
		munmap(self->mem_a, self->size);
	if (self->mem_b)
		munmap(self->mem_b, self->size);
	libvmig_dev_close(&self->a);
	libvmig_dev_close(&self->b);
}

/* A pattern no two runs or offsets share by accident. */
static void fill(unsigned char *mem, size_t size, unsigned int seed)
{
	__u64 *p = (__u64 *)mem, x = seed * 0x9e3779b97f4a7c15ull + 1;
	size_t i;

	for (i = 0; i < size / 8; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = x;
	}
}

static size_t first_diff(const unsigned char *a, const unsigned char *b,
			 size_t size)
{
	size_t i;

	if (!memcmp(a, b, size))
		return size;
	for (i = 0; i < size && a[i] == b[i]; i++)
		;
	return i;
}

/* Switch over to STOP_COPY and read the rest of the stream into @s. */
static void stop_copy_to_end(struct __test_metadata *_metadata,
			     struct libvmig_dev *d, int fd, struct libvmig_buf *s)
{
	ASSERT_EQ(0, libvmig_set_state(d, VFIO_DEVICE_STATE_STOP_COPY, NULL));
	ASSERT_EQ(0, libvmig_read_stream(fd, s));
	close(fd);
}

/* Resume @s into @d, whose memory @got must then equal @want. */
static void resume_and_compare(struct __test_metadata *_metadata,
			       struct libvmig_dev *d, const struct libvmig_buf *s,
			       const unsigned char *want,
			       const unsigned char *got, size_t size)
{
	ASSERT_EQ(0, libvmig_resume_all(d, s, LIBVMIG_QEMU_PIECE));
	EXPECT_EQ(size, first_diff(want, got, size));
}

static int reg(struct libvmig_dev *d, __u64 off, __u32 *val, bool write)
{
	return libvmig_region_rw(d, BAR0, off, val, 4, write);
}

static __u32 state_of(struct libvmig_dev *d)
{
	__u32 s = ~0u;

	libvmig_get_state(d, &s);
	return s;
}

/*
 * STOP_COPY alone: all of BAR2 and both registers, byte for byte; the
 * stream is exactly as long as MIG_DATA_SIZE said; the source runs on with
 * its registers intact when the migration is abandoned.
 */
TEST_F_TIMEOUT(pair, stop_copy, 600)
{
	__u32 mask = 0x5a5aa5a5, status = 0x00c0ffee, got = 0;
	struct libvmig_buf s = {};
	__u64 size = 0;

	fill(self->mem_a, self->size, 1);
	memset(self->mem_b, 0, self->size);
	ASSERT_EQ(0, reg(&self->a, IVSHMEM_INTRMASK, &mask, true));
	ASSERT_EQ(0, reg(&self->a, IVSHMEM_INTRSTATUS, &status, true));
	ASSERT_EQ(0, libvmig_data_size(&self->a, &size));
	ASSERT_EQ(0, libvmig_save_all(&self->a, &s));
	EXPECT_EQ(size, s.len);
	EXPECT_LE(self->size, s.len);
	resume_and_compare(_metadata, &self->b, &s, self->mem_a, self->mem_b,
			   self->size);
	ASSERT_EQ(0, reg(&self->b, IVSHMEM_INTRMASK, &got, false));
	EXPECT_EQ(mask, got);
	ASSERT_EQ(0, reg(&self->b, IVSHMEM_INTRSTATUS, &got, false));
	EXPECT_EQ(status, got);

	/* Abandoned: A runs on, INTRSTATUS (read-to-clear) still there. */
	ASSERT_EQ(0, libvmig_set_state(&self->a, VFIO_DEVICE_STATE_RUNNING, NULL));
	ASSERT_EQ(0, reg(&self->a, IVSHMEM_INTRSTATUS, &got, false));
	EXPECT_EQ(status, got);
	ASSERT_EQ(0, reg(&self->a, IVSHMEM_INTRMASK, &got, false));
	EXPECT_EQ(mask, got);
	libvmig_buf_free(&s);
}

static int command(struct libvmig_dev *d, __u16 *cmd, bool write)
{
	return libvmig_region_rw(d, VFIO_PCI_CONFIG_REGION_INDEX, 4 /* COMMAND */,
			      cmd, 2, write);
}

/*
 * QEMU resets a vfio device at startup, which turns memory decoding off,
 * and loads the command register only after the device state: a stream
 * must load into B all the same, and B's decoding stays as userspace set.
 */
TEST_F_TIMEOUT(pair, resume_decoding_off, 300)
{
	__u32 mask = 0x77, got = 0;
	struct libvmig_buf s = {};
	__u16 cmd, off;

	fill(self->mem_a, self->size, 10);
	memset(self->mem_b, 0, self->size);
	ASSERT_EQ(0, reg(&self->a, IVSHMEM_INTRMASK, &mask, true));
	ASSERT_EQ(0, libvmig_save_all(&self->a, &s));

	ASSERT_EQ(0, command(&self->b, &cmd, false));
	ASSERT_NE(0, cmd & 0x2);
	off = cmd & ~0x2;
	ASSERT_EQ(0, command(&self->b, &off, true));
	ASSERT_EQ(0, libvmig_resume_all(&self->b, &s, LIBVMIG_QEMU_PIECE));
	ASSERT_EQ(0, command(&self->b, &off, false));
	EXPECT_EQ(0, off & 0x2);
	ASSERT_EQ(0, command(&self->b, &cmd, true));

	EXPECT_EQ(self->size, first_diff(self->mem_a, self->mem_b, self->size));
	ASSERT_EQ(0, reg(&self->b, IVSHMEM_INTRMASK, &got, false));
	EXPECT_EQ(mask, got);
	libvmig_buf_free(&s);
}

/* Memory decoding of @d on or off, through its config region. */
static int decoding(struct libvmig_dev *d, bool on)
{
	__u16 cmd;
	int ret;

	ret = command(d, &cmd, false);
	if (ret)
		return ret;
	cmd = on ? cmd | 0x2 : cmd & ~0x2;
	return command(d, &cmd, true);
}

static bool decoding_on(struct libvmig_dev *d)
{
	__u16 cmd = 0;

	return !command(d, &cmd, false) && (cmd & 0x2);
}

/* The value of "@key: value" in the driver's debugfs file of @d. */
static long long ivsh_stat(struct libvmig_dev *d, const char *key, char *text,
			   size_t len)
{
	char path[PATH_MAX], line[256];
	long long val = -1;
	size_t klen = strlen(key);
	FILE *f;

	snprintf(path, sizeof(path), "/sys/kernel/debug/vmig/%s/ivshmem",
		 d->name);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, klen) || line[klen] != ':')
			continue;
		line[strcspn(line, "\n")] = 0;
		if (text)
			snprintf(text, len, "%s", line + klen + 2);
		val = strtoll(line + klen + 2, NULL, 10);
		break;
	}
	fclose(f);
	return val;
}

/* Wait until @d's worker finished a scan that started after this call. */
static int wait_scan(struct libvmig_dev *d, int data_fd)
{
	long long n0 = ivsh_stat(d, "scans", NULL, 0);
	struct vfio_precopy_info info;
	int i;

	/* One may be under way: wait for two more.  Each query asks for one. */
	for (i = 0; n0 >= 0 && i < 1200; i++) {
		if (libvmig_precopy_info(data_fd, &info))
			return -1;
		if (ivsh_stat(d, "scans", NULL, 0) >= n0 + 2)
			return 0;
		usleep(25000);
	}
	return -1;
}

/*
 * How many memory records of @s, from the record at byte @from on, carry
 * anything but what @want holds at their offset.
 */
static size_t bad_mem_records(const struct libvmig_buf *s, size_t from,
			      const unsigned char *want, size_t size)
{
	size_t off = from, bad = 0;

	while (off + REC_HDR <= s->len) {
		__u16 type = get_le(s->data + off, 2);
		__u32 len = get_le(s->data + off + 4, 4);
		const unsigned char *data = s->data + off + REC_HDR;

		if (type == REC_END || off + REC_HDR + len > s->len)
			break;
		if (type == REC_MEM) {
			__u64 at = get_le(data, 8);

			if (len < 8 || at > size || len - 8 > size - at ||
			    memcmp(want + at, data + 8, len - 8))
				bad++;
		}
		off += REC_HDR + len;
	}
	return bad;
}

/*
 * A guest (firmware enumerating the bus, setpci) or the VMM may turn memory
 * decoding off; the BARs then read as all ones.  A STOP_COPY save of A with
 * decoding off must still carry A's memory and registers, byte for byte,
 * and leave A's decoding off, as userspace set it.
 */
TEST_F_TIMEOUT(pair, stop_copy_decoding_off, 300)
{
	__u32 mask = 0x13572468, status = 0x0badf00d, got = 0;
	struct libvmig_buf s = {};
	unsigned char *want;

	want = malloc(self->size);
	ASSERT_NE(NULL, want);
	fill(self->mem_a, self->size, 11);
	memcpy(want, self->mem_a, self->size);
	memset(self->mem_b, 0, self->size);
	ASSERT_EQ(0, reg(&self->a, IVSHMEM_INTRMASK, &mask, true));
	ASSERT_EQ(0, reg(&self->a, IVSHMEM_INTRSTATUS, &status, true));

	ASSERT_EQ(0, decoding(&self->a, false));
	/* Really off: vfio-pci-core refuses BAR access now. */
	EXPECT_EQ(-EIO, reg(&self->a, IVSHMEM_INTRMASK, &got, false));
	ASSERT_EQ(0, libvmig_save_all(&self->a, &s));
	EXPECT_FALSE(decoding_on(&self->a));
	EXPECT_EQ(0, bad_mem_records(&s, STREAM_HDR + ID_LEN, want, self->size));

	ASSERT_EQ(0, libvmig_resume_all(&self->b, &s, LIBVMIG_QEMU_PIECE));
	EXPECT_EQ(self->size, first_diff(want, self->mem_b, self->size));
	ASSERT_EQ(0, reg(&self->b, IVSHMEM_INTRMASK, &got, false));
	EXPECT_EQ(mask, got);
	ASSERT_EQ(0, reg(&self->b, IVSHMEM_INTRSTATUS, &got, false));
	EXPECT_EQ(status, got);

	/* Abandoned: A runs on with its registers, decoding still off. */
	ASSERT_EQ(0, libvmig_set_state(&self->a, VFIO_DEVICE_STATE_RUNNING, NULL));
	EXPECT_FALSE(decoding_on(&self->a));
	ASSERT_EQ(0, decoding(&self->a, true));
	ASSERT_EQ(0, reg(&self->a, IVSHMEM_INTRSTATUS, &got, false));
	EXPECT_EQ(status, got);
	ASSERT_EQ(0, reg(&self->a, IVSHMEM_INTRMASK, &got, false));
	EXPECT_EQ(mask, got);
	EXPECT_EQ(self->size, first_diff(want, self->mem_a, self->size));
	libvmig_buf_free(&s);
	free(want);
}

/*
 * Pre-copy while decoding is off: the rest of the initial image, the scans
 * and the final pass read A's real memory.  No record carries anything but
 * A's bytes; a scan of the unchanged device finds nothing; a scan finds
 * exactly the blocks changed before decoding went off; B ends up equal to A.
 */
TEST_F_TIMEOUT(pair, precopy_decoding_off, 300)
{
	static const size_t blocks[] = { 1, 3, 64, 200 };
	__u32 mask = 0x2468ace0, got = 0;
	struct vfio_precopy_info info;
	long long scans, forced, scan_ms;
	struct libvmig_buf s = {};
	unsigned char *want;
	size_t pre, i;
	int fd;

	ASSERT_LE(256 * BLOCK, self->size);
	want = malloc(self->size);
	ASSERT_NE(NULL, want);
	fill(self->mem_a, self->size, 12);
	memcpy(want, self->mem_a, self->size);
	memset(self->mem_b, 0, self->size);
	ASSERT_EQ(0, reg(&self->a, IVSHMEM_INTRMASK, &mask, true));

	ASSERT_EQ(0, libvmig_set_state(&self->a, VFIO_DEVICE_STATE_PRE_COPY, &fd));
	EXPECT_EQ(1, libvmig_read_some(fd, &s, 1 << 20));
	ASSERT_EQ(0, decoding(&self->a, false));
	ASSERT_EQ(-ENOMSG, libvmig_read_stream(fd, &s));
	pre = s.len;
	EXPECT_LE(self->size, pre);
	EXPECT_EQ(0, bad_mem_records(&s, STREAM_HDR + ID_LEN, want, self->size));

	/*
	 * An idle device, scanned with decoding off: nothing changed.  The
	 * scans force decoding on in windows of many probes, at most one per
	 * 128 blocks of each scan, against one per 64 if each compare of 64
	 * blocks had a window of its own.  wait_scan() sees two scans at
	 * least, and one more may have begun before it.  A window also
	 * closes after WINDOW_MS or WINDOW_BYTES, and whenever another task
	 * wants the CPU.
	 * The count cannot tell the two behaviours apart, and only the
	 * figures are shown, where a scan lasts so long that time alone
	 * closes more windows than the bound allows, and on one CPU, where
	 * every task that wakes closes a window: in the debug kernel's run on
	 * one CPU the count followed the machine's load, up to 318 windows.
	 */
	scans = ivsh_stat(&self->a, "scans", NULL, 0);
	forced = ivsh_stat(&self->a, "decoding forced", NULL, 0);
	ASSERT_EQ(0, wait_scan(&self->a, fd));
	scans = ivsh_stat(&self->a, "scans", NULL, 0) - scans;
	forced = ivsh_stat(&self->a, "decoding forced", NULL, 0) - forced;
	scan_ms = ivsh_stat(&self->a, "last scan ns", NULL, 0) / 1000000;
	ksft_print_msg("%lld scans of %zu blocks (last %lld ms): %lld forced windows\n",
		       scans, self->size / BLOCK, scan_ms, forced);
	EXPECT_LT(0, forced);
	EXPECT_LE(2, scans);
	if (sysconf(_SC_NPROCESSORS_ONLN) > 1 &&
	    scan_ms / WINDOW_MS + (long long)(self->size / WINDOW_BYTES) <=
	    (long long)(self->size / BLOCK / 128)) {
		EXPECT_GE((long long)((scans + 1) * self->size / BLOCK / 128),
			  forced);
	} else {
		ksft_print_msg("one CPU, or a scan this slow: no bound\n");
	}
	ASSERT_EQ(0, libvmig_precopy_info(fd, &info));
	EXPECT_EQ(0, info.initial_bytes);
	EXPECT_EQ(0, info.dirty_bytes);
	EXPECT_EQ(-ENOMSG, libvmig_read_stream(fd, &s));
	EXPECT_EQ(pre, s.len);

	/* Blocks written, then decoding off again: the scans still see them. */
	ASSERT_EQ(0, decoding(&self->a, true));
	for (i = 0; i < ARRAY_SIZE(blocks); i++)
		self->mem_a[blocks[i] * BLOCK + 99] ^= 0x5a;
	memcpy(want, self->mem_a, self->size);
	ASSERT_EQ(0, decoding(&self->a, false));
	ASSERT_EQ(0, wait_scan(&self->a, fd));
	ASSERT_EQ(0, libvmig_precopy_info(fd, &info));
	EXPECT_EQ(0, info.initial_bytes);
	EXPECT_EQ(ARRAY_SIZE(blocks) * BLOCK_REC, info.dirty_bytes);
	EXPECT_EQ(-ENOMSG, libvmig_read_stream(fd, &s));
	EXPECT_EQ(ARRAY_SIZE(blocks) * BLOCK_REC, s.len - pre);
	EXPECT_EQ(0, bad_mem_records(&s, pre, want, self->size));
	pre = s.len;

	/* Switchover with decoding still off. */
	stop_copy_to_end(_metadata, &self->a, fd, &s);
	EXPECT_EQ(0, bad_mem_records(&s, pre, want, self->size));
	EXPECT_FALSE(decoding_on(&self->a));
	ASSERT_EQ(0, libvmig_resume_all(&self->b, &s, LIBVMIG_QEMU_PIECE));
	EXPECT_EQ(self->size, first_diff(want, self->mem_b, self->size));
	ASSERT_EQ(0, reg(&self->b, IVSHMEM_INTRMASK, &got, false));
	EXPECT_EQ(mask, got);
	ASSERT_EQ(0, libvmig_set_state(&self->a, VFIO_DEVICE_STATE_RUNNING, NULL));
	ASSERT_EQ(0, decoding(&self->a, true));
	libvmig_buf_free(&s);
	free(want);
}

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

struct asker {
	int fd;
	long long until_us;
	atomic_long queries;
};

/* Ask for pre-copy info until @until_us: each asks the worker for a scan. */
static void *asker_fn(void *arg)
{
	struct asker *a = arg;
	struct vfio_precopy_info info;

	while (now_us() < a->until_us && !libvmig_precopy_info(a->fd, &info))
		atomic_fetch_add(&a->queries, 1);
	return NULL;
}

/*
 * While a VMM asks for pre-copy info all the time, so that the worker
 * scans as often as it may, the user's config accesses still get through:
 * reads of PCI_COMMAND, and writes of it, which vfio-pci-core starts with
 * a read.  Each waits while an access window is open, and nothing tells
 * the worker that one waits: the worker must leave room between its
 * windows, and between its scans.  Each access must complete within a
 * quarter of a second (a window lasts 20 ms at most).  On the distro
 * kernel with 64 MiB devices the slowest took 5 ms; with a worker that
 * reopened at once and scanned back to back, 534 ms.
 */
TEST_F_TIMEOUT(pair, config_access_during_scans, 300)
{
	struct asker a = {};
	long long t, worst = 0, scans, windows;
	struct libvmig_buf s = {};
	int n = 0, errors = 0;
	pthread_t th;
	__u16 cmd;

	fill(self->mem_a, self->size, 13);
	ASSERT_EQ(0, libvmig_set_state(&self->a, VFIO_DEVICE_STATE_PRE_COPY,
				       &a.fd));
	ASSERT_EQ(-ENOMSG, libvmig_read_stream(a.fd, &s));
	scans = ivsh_stat(&self->a, "scans", NULL, 0);
	windows = ivsh_stat(&self->a, "access windows", NULL, 0);
	/* Five seconds from here: the initial read may take longer. */
	a.until_us = now_us() + 5000000;
	ASSERT_EQ(0, pthread_create(&th, NULL, asker_fn, &a));
	while (now_us() < a.until_us) {
		t = now_us();
		if (command(&self->a, &cmd, false) ||
		    (n % 4 == 3 && command(&self->a, &cmd, true)))
			errors++;
		t = now_us() - t;
		worst = t > worst ? t : worst;
		n++;
		usleep(1000);
	}
	pthread_join(th, NULL);
	scans = ivsh_stat(&self->a, "scans", NULL, 0) - scans;
	windows = ivsh_stat(&self->a, "access windows", NULL, 0) - windows;
	ksft_print_msg("%d config accesses, slowest %lld us; %lld scans\n",
		       n, worst, scans);
	ksft_print_msg("%ld queries, %lld access windows\n",
		       atomic_load(&a.queries), windows);
	EXPECT_EQ(0, errors);
	EXPECT_LE(2, scans);
	EXPECT_GT(250000, worst);
	ASSERT_EQ(0, libvmig_set_state(&self->a, VFIO_DEVICE_STATE_RUNNING, NULL));
	libvmig_buf_free(&s);
}

/*
 * While userspace keeps A in low-power mode, its BARs may be powered down
 * and the driver does not touch them: the freeze fails with -EIO and the
 * walk unwinds to RUNNING; a pre-copy session fails its stream with -EIO
 * rather than stream what a powered-down BAR reads.  After LOW_POWER_EXIT,
 * A migrates.
 */
TEST_F_TIMEOUT(pair, low_power_refused, 300)
{
	struct libvmig_buf s = {};
	int fd, ret, i;

	fill(self->mem_a, self->size, 13);
	memset(self->mem_b, 0, self->size);
	ASSERT_EQ(0, libvmig_feature(&self->a, VFIO_DEVICE_FEATURE_SET |
				  VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY, NULL, 0));
	EXPECT_EQ(-EIO, libvmig_set_state(&self->a, VFIO_DEVICE_STATE_STOP, NULL));
	EXPECT_EQ(VFIO_DEVICE_STATE_RUNNING, state_of(&self->a));

	ASSERT_EQ(0, libvmig_set_state(&self->a, VFIO_DEVICE_STATE_PRE_COPY, &fd));
	for (i = 0; i < 250; i++) {
		ret = libvmig_read_stream(fd, &s);
		if (ret != -ENOMSG)
			break;
		usleep(20000);
	}
	EXPECT_EQ(-EIO, ret);
	close(fd);
	ASSERT_EQ(0, libvmig_set_state(&self->a, VFIO_DEVICE_STATE_RUNNING, NULL));

	ASSERT_EQ(0, libvmig_feature(&self->a, VFIO_DEVICE_FEATURE_SET |
				  VFIO_DEVICE_FEATURE_LOW_POWER_EXIT, NULL, 0));
	s.len = 0;
	ASSERT_EQ(0, libvmig_save_all(&self->a, &s));
	resume_and_compare(_metadata, &self->b, &s, self->mem_a, self->mem_b,
			   self->size);
	libvmig_buf_free(&s);
}

struct writer {
	unsigned char *mem;
	size_t size;
	atomic_bool stop;
	atomic_ulong writes;
};

/*
 * A guest that keeps writing to a hot sixteenth of the memory, and now and
 * then, every few milliseconds, anywhere: a working set pre-copy can
 * converge on.
 */
static void *writer_fn(void *arg)
{
	struct writer *w = arg;
	unsigned long x = 12345, n = 0;

	while (!atomic_load(&w->stop)) {
		size_t off;

		x = x * 6364136223846793005ul + 1442695040888963407ul;
		if (++n % 256)
			off = (x >> 20) % (w->size / 16);
		else
			off = (x >> 20) % w->size;
		w->mem[off & ~7ul] = x >> 40;
		atomic_fetch_add(&w->writes, 1);
		if (!(n % 256))
			usleep(2000);
	}
	return NULL;
}

/*
 * PRE_COPY while a writer dirties A: iterate until the dirty estimate is
 * small, switch over (the writer stops, as vCPUs would), and B ends up
 * equal to A.
 */
TEST_F_TIMEOUT(pair, precopy_under_writes, 600)
{
	struct writer w = { .mem = self->mem_a, .size = self->size };
	struct vfio_precopy_info info;
	struct libvmig_buf s = {};
	size_t pre_bytes = 0;
	pthread_t t;
	int fd, ret, rounds;

	fill(self->mem_a, self->size, 2);
	memset(self->mem_b, 0, self->size);
	ASSERT_EQ(0, pthread_create(&t, NULL, writer_fn, &w));
	ASSERT_EQ(0, libvmig_set_state(&self->a, VFIO_DEVICE_STATE_PRE_COPY, &fd));

	for (rounds = 0; rounds < 200; rounds++) {
		ASSERT_EQ(0, libvmig_precopy_info(fd, &info));
		if (!info.initial_bytes && info.dirty_bytes < self->size / 8)
			break;
		ret = libvmig_read_some(fd, &s, 4 << 20);
		ASSERT_TRUE(ret == 1 || ret == -ENOMSG) TH_LOG("read: %d", ret);
		if (ret == -ENOMSG)
			usleep(10000);
	}
	pre_bytes = s.len;
	EXPECT_LT(rounds, 200);
	TH_LOG("pre-copy: %zu bytes in %d rounds, dirty estimate %llu, %lu writes",
	       pre_bytes, rounds, (unsigned long long)info.dirty_bytes,
	       atomic_load(&w.writes));

	/* Switchover: the guest stops, then the device. */
	atomic_store(&w.stop, true);
	pthread_join(t, NULL);
	stop_copy_to_end(_metadata, &self->a, fd, &s);
	TH_LOG("stop-copy: %zu more bytes", s.len - pre_bytes);
	resume_and_compare(_metadata, &self->b, &s, self->mem_a, self->mem_b,
			   self->size);
	libvmig_buf_free(&s);
}

/* An idle device after pre-copy sends almost nothing in STOP_COPY. */
TEST_F_TIMEOUT(pair, idle_precopy_then_stop_copy, 300)
{
	struct vfio_precopy_info info;
	struct libvmig_buf s = {};
	__u64 full = 0, rest = 0;
	size_t pre;
	int fd;

	fill(self->mem_a, self->size, 3);
	ASSERT_EQ(0, libvmig_data_size(&self->a, &full));
	ASSERT_EQ(0, libvmig_set_state(&self->a, VFIO_DEVICE_STATE_PRE_COPY, &fd));
	/*
	 * The whole image is initial data, the stream header included; a
	 * record being committed may count twice for a moment, never less.
	 */
	ASSERT_EQ(0, libvmig_precopy_info(fd, &info));
	EXPECT_LE(self->size, info.initial_bytes);
	EXPECT_GE(full + (256 << 10), info.initial_bytes);
	EXPECT_EQ(0, info.dirty_bytes);

	ASSERT_EQ(-ENOMSG, libvmig_read_stream(fd, &s));
	pre = s.len;
	ASSERT_EQ(0, libvmig_precopy_info(fd, &info));
	EXPECT_EQ(0, info.initial_bytes);
	EXPECT_EQ(0, info.dirty_bytes);
	/* What is left to stop-copy: registers and framing. */
	ASSERT_EQ(0, libvmig_data_size(&self->a, &rest));
	EXPECT_GT(4096, rest);

	stop_copy_to_end(_metadata, &self->a, fd, &s);
	TH_LOG("pre-copy %zu bytes, then stop-copy %zu bytes", pre, s.len - pre);
	EXPECT_LT(s.len - pre, self->size / 64);
	EXPECT_GE(rest, s.len - pre);
	resume_and_compare(_metadata, &self->b, &s, self->mem_a, self->mem_b,
			   self->size);
	libvmig_buf_free(&s);
}

/*
 * Dirty accounting is exact: after the initial image, five blocks written
 * through the mmap wake poll() without any read or query (the worker
 * rescans on its own), are reported as exactly five block records of
 * dirty data, and are what the next reads return.
 */
TEST_F_TIMEOUT(pair, precopy_dirty_accounting, 300)
{
	static const size_t blocks[] = { 0, 2, 7, 100, 255 };
	struct vfio_precopy_info info;
	struct libvmig_buf s = {};
	struct pollfd p;
	size_t pre, i;
	int fd, rounds;

	ASSERT_LE(256 * BLOCK, self->size);
	fill(self->mem_a, self->size, 4);
	ASSERT_EQ(0, libvmig_set_state(&self->a, VFIO_DEVICE_STATE_PRE_COPY, &fd));
	ASSERT_EQ(-ENOMSG, libvmig_read_stream(fd, &s));
	pre = s.len;

	/* Let a scan of the idle device pass, then dirty the blocks. */
	usleep(300000);
	for (i = 0; i < ARRAY_SIZE(blocks); i++)
		self->mem_a[blocks[i] * BLOCK + 17] ^= 0xff;
	p.fd = fd;
	p.events = POLLIN;
	EXPECT_EQ(1, poll(&p, 1, 20000));

	for (rounds = 0; rounds < 100; rounds++) {
		ASSERT_EQ(0, libvmig_precopy_info(fd, &info));
		if (info.dirty_bytes >= ARRAY_SIZE(blocks) * BLOCK_REC)
			break;
		usleep(50000);
	}
	EXPECT_EQ(0, info.initial_bytes);
	EXPECT_EQ(ARRAY_SIZE(blocks) * BLOCK_REC, info.dirty_bytes);
	EXPECT_EQ(-ENOMSG, libvmig_read_stream(fd, &s));
	EXPECT_EQ(ARRAY_SIZE(blocks) * BLOCK_REC, s.len - pre);

	stop_copy_to_end(_metadata, &self->a, fd, &s);
	resume_and_compare(_metadata, &self->b, &s, self->mem_a, self->mem_b,
			   self->size);
	libvmig_buf_free(&s);
}

/*
 * The P2P way in and out: RUNNING_P2P -> PRE_COPY_P2P starts the session,
 * writes while quiesced are caught by the final delta.
 */
TEST_F_TIMEOUT(pair, precopy_p2p, 300)
{
	struct libvmig_buf s = {};
	int fd;

	fill(self->mem_a, self->size, 5);
	ASSERT_EQ(0, libvmig_set_state(&self->a, VFIO_DEVICE_STATE_RUNNING_P2P, NULL));
	ASSERT_EQ(0, libvmig_set_state(&self->a, VFIO_DEVICE_STATE_PRE_COPY_P2P, &fd));
	ASSERT_EQ(-ENOMSG, libvmig_read_stream(fd, &s));
	memset(self->mem_a + self->size / 2, 0x3c, 3 * BLOCK + 5);
	stop_copy_to_end(_metadata, &self->a, fd, &s);
	resume_and_compare(_metadata, &self->b, &s, self->mem_a, self->mem_b,
			   self->size);
	libvmig_buf_free(&s);
}

/*
 * A pre-copy abandoned half way, then a new one: the first session's
 * worker and tracker are gone, the second streams everything again.
 */
TEST_F_TIMEOUT(pair, precopy_abandoned, 300)
{
	struct libvmig_buf s = {};
	int fd, old;

	fill(self->mem_a, self->size, 6);
	ASSERT_EQ(0, libvmig_set_state(&self->a, VFIO_DEVICE_STATE_PRE_COPY, &old));
	EXPECT_EQ(1, libvmig_read_some(old, &s, 1 << 20));
	ASSERT_EQ(0, libvmig_set_state(&self->a, VFIO_DEVICE_STATE_RUNNING, NULL));
	EXPECT_EQ(-ENODEV, libvmig_read_some(old, &s, 1));
	close(old);

	s.len = 0;
	ASSERT_EQ(0, libvmig_set_state(&self->a, VFIO_DEVICE_STATE_PRE_COPY, &fd));
	ASSERT_EQ(-ENOMSG, libvmig_read_stream(fd, &s));
	EXPECT_LE(self->size, s.len);
	stop_copy_to_end(_metadata, &self->a, fd, &s);
	resume_and_compare(_metadata, &self->b, &s, self->mem_a, self->mem_b,
			   self->size);
	libvmig_buf_free(&s);
}

/*
 * Resets and closes in the middle of saves, with the worker blocked on a
 * full queue or scanning: the session ends, the FSM is RUNNING, and the
 * device migrates normally afterwards.
 */
TEST_F_TIMEOUT(pair, reset_mid_save, 300)
{
	struct libvmig_buf s = {};
	int fd;

	fill(self->mem_a, self->size, 7);

	/* PRE_COPY, worker waiting for the reader. */
	ASSERT_EQ(0, libvmig_set_state(&self->a, VFIO_DEVICE_STATE_PRE_COPY, &fd));
	EXPECT_EQ(1, libvmig_read_some(fd, &s, 100000));
	ASSERT_EQ(0, libvmig_reset(&self->a));
	EXPECT_EQ(VFIO_DEVICE_STATE_RUNNING, state_of(&self->a));
	EXPECT_EQ(-ENODEV, libvmig_read_some(fd, &s, 1));
	close(fd);

	/* PRE_COPY after the initial image: the worker scans. */
	s.len = 0;
	ASSERT_EQ(0, libvmig_set_state(&self->a, VFIO_DEVICE_STATE_PRE_COPY, &fd));
	ASSERT_EQ(-ENOMSG, libvmig_read_stream(fd, &s));
	ASSERT_EQ(0, libvmig_reset(&self->a));
	EXPECT_EQ(-ENODEV, libvmig_read_some(fd, &s, 1));
	close(fd);

	/* STOP_COPY half read. */
	s.len = 0;
	ASSERT_EQ(0, libvmig_set_state(&self->a, VFIO_DEVICE_STATE_STOP_COPY, &fd));
	EXPECT_EQ(1, libvmig_read_some(fd, &s, 3 << 20));
	ASSERT_EQ(0, libvmig_reset(&self->a));
	EXPECT_EQ(VFIO_DEVICE_STATE_RUNNING, state_of(&self->a));
	EXPECT_EQ(-ENODEV, libvmig_read_some(fd, &s, 1));
	close(fd);

	/* Closing the device with a save in flight, data_fd still open. */
	ASSERT_EQ(0, libvmig_set_state(&self->a, VFIO_DEVICE_STATE_PRE_COPY, &fd));
	munmap(self->mem_a, self->size);
	self->mem_a = NULL;
	libvmig_dev_close(&self->a);
	EXPECT_EQ(-ENODEV, libvmig_read_some(fd, &s, 1));
	close(fd);
	ASSERT_EQ(0, libvmig_dev_open(&self->a, getenv("VMIG_IVSHMEM_A")));
	self->mem_a = libvmig_region_mmap(&self->a, BAR2, &self->size);
	ASSERT_NE(NULL, self->mem_a);
	EXPECT_EQ(VFIO_DEVICE_STATE_RUNNING, state_of(&self->a));

	/* And a migration works as if nothing happened. */
	s.len = 0;
	memset(self->mem_b, 0, self->size);
	ASSERT_EQ(0, libvmig_save_all(&self->a, &s));
	resume_and_compare(_metadata, &self->b, &s, self->mem_a, self->mem_b,
			   self->size);
	libvmig_buf_free(&s);
}

/*
 * VFIO_DEVICE_RESET works whether or not the function has a reset method
 * (scripts/vm.sh --ivshmem-root-bus puts A on the root bus, where it has
 * none and the driver resets the device itself): GET_INFO offers it; from
 * STOP and from ERROR it brings the FSM to RUNNING; it clears both
 * registers, with decoding off too, and keeps the memory and the decoding
 * userspace set.
 */
TEST_F_TIMEOUT(pair, reset_with_or_without_method, 300)
{
	struct libvmig_dev *devs[] = { &self->a, &self->b };
	unsigned char *mems[] = { self->mem_a, self->mem_b };
	unsigned char *want;
	int i;

	want = malloc(self->size);
	ASSERT_NE(NULL, want);
	for (i = 0; i < 2; i++) {
		__u32 mask = 0x11 + i, status = 0x2200 + i, got = ~0u;
		long long resets0, resets;
		struct libvmig_dev *d = devs[i];
		char kind[64] = "";
		bool emulated;

		EXPECT_NE(0, d->info.flags & VFIO_DEVICE_FLAGS_RESET);
		resets0 = ivsh_stat(d, "emulated resets", NULL, 0);
		ASSERT_LE(0, resets0);
		ivsh_stat(d, "reset", kind, sizeof(kind));
		emulated = !strncmp(kind, "emulated", 8);
		TH_LOG("%s: reset %s", d->name, kind);

		fill(mems[i], self->size, 20 + i);
		memcpy(want, mems[i], self->size);

		/* From STOP. */
		ASSERT_EQ(0, reg(d, IVSHMEM_INTRMASK, &mask, true));
		ASSERT_EQ(0, reg(d, IVSHMEM_INTRSTATUS, &status, true));
		ASSERT_EQ(0, libvmig_set_state(d, VFIO_DEVICE_STATE_STOP, NULL));
		ASSERT_EQ(0, libvmig_reset(d));
		EXPECT_EQ(VFIO_DEVICE_STATE_RUNNING, state_of(d));
		ASSERT_EQ(0, reg(d, IVSHMEM_INTRMASK, &got, false));
		EXPECT_EQ(0, got);
		ASSERT_EQ(0, reg(d, IVSHMEM_INTRSTATUS, &got, false));
		EXPECT_EQ(0, got);

		/* From ERROR, with decoding off. */
		ASSERT_EQ(0, reg(d, IVSHMEM_INTRMASK, &mask, true));
		ASSERT_EQ(0, reg(d, IVSHMEM_INTRSTATUS, &status, true));
		ASSERT_EQ(0, libvmig_fail_arc(d, "RUNNING RUNNING_P2P 5 broken"));
		EXPECT_EQ(-EIO, libvmig_set_state(d, VFIO_DEVICE_STATE_STOP, NULL));
		EXPECT_EQ(VFIO_DEVICE_STATE_ERROR, state_of(d));
		ASSERT_EQ(0, decoding(d, false));
		ASSERT_EQ(0, libvmig_reset(d));
		EXPECT_EQ(VFIO_DEVICE_STATE_RUNNING, state_of(d));
		EXPECT_FALSE(decoding_on(d));
		ASSERT_EQ(0, decoding(d, true));
		ASSERT_EQ(0, reg(d, IVSHMEM_INTRMASK, &got, false));
		EXPECT_EQ(0, got);
		ASSERT_EQ(0, reg(d, IVSHMEM_INTRSTATUS, &got, false));
		EXPECT_EQ(0, got);
		EXPECT_EQ(self->size, first_diff(want, mems[i], self->size));

		/* The driver reset the device itself exactly when it had to. */
		resets = ivsh_stat(d, "emulated resets", NULL, 0);
		EXPECT_EQ(resets0 + (emulated ? 2 : 0), resets);
	}
	free(want);
}

/* ---------------------------------------------------------------------- */
/* Streams taken apart and put together again, to craft bad input.         */

/*
 * Feed @s to B: RESUMING, write, RESUMING -> STOP.  Returns the first
 * error, after checking that a failure left B in RESUMING.
 */
static int try_resume(struct __test_metadata *_metadata, struct libvmig_dev *d,
		      const struct libvmig_buf *s)
{
	int fd, ret, ret2;

	EXPECT_EQ(0, libvmig_reset(d));
	ASSERT_EQ(0, libvmig_set_state(d, VFIO_DEVICE_STATE_RESUMING, &fd));
	ret = libvmig_write_stream(fd, s->data, s->len, 4096);
	ret2 = libvmig_set_state(d, VFIO_DEVICE_STATE_STOP, NULL);
	close(fd);
	if (!ret2)
		return ret;
	EXPECT_EQ(VFIO_DEVICE_STATE_RESUMING, state_of(d));
	/* The error is sticky: the arc reports the stream's. */
	if (ret)
		EXPECT_EQ(ret, ret2);
	return ret ?: ret2;
}

/*
 * Take A's stream apart: its first memory record, and the registers.  The
 * identity and the records point into @whole.
 */
static void small_stream(struct __test_metadata *_metadata,
			 struct libvmig_dev *a, unsigned char *mem_a, size_t size,
			 struct libvmig_stream *p, struct libvmig_buf *whole)
{
	int i, nr = 1;

	fill(mem_a, size, 8);
	ASSERT_EQ(0, libvmig_reset(a));
	ASSERT_EQ(0, libvmig_save_all(a, whole));
	ASSERT_EQ(0, libvmig_stream_split(whole, p));
	ASSERT_EQ(ID_LEN, p->id_len);
	ASSERT_LT(0, p->nr);
	ASSERT_EQ(REC_MEM, p->recs[0].type);
	for (i = 1; i < p->nr; i++)
		if (p->recs[i].type == REC_REGS)
			p->recs[nr++] = p->recs[i];
	p->nr = nr;
	ASSERT_EQ(2, p->nr);
}

/* A stream for a BAR2 of another size, or another format: refused. */
TEST_F_TIMEOUT(pair, bad_identity, 300)
{
	struct libvmig_buf whole = {}, s = {};
	struct libvmig_stream p = {};
	unsigned char id[ID_LEN];

	small_stream(_metadata, &self->a, self->mem_a, self->size, &p, &whole);
	memcpy(id, p.id, ID_LEN);
	p.id = id;

	/* The untouched small stream loads: the envelope is right. */
	ASSERT_EQ(0, libvmig_stream_join(&p, &s));
	EXPECT_EQ(0, try_resume(_metadata, &self->b, &s));

	put_le(id + ID_BAR2_SIZE, self->size * 2, 8);
	ASSERT_EQ(0, libvmig_stream_join(&p, &s));
	EXPECT_EQ(-EINVAL, try_resume(_metadata, &self->b, &s));
	put_le(id + ID_BAR2_SIZE, self->size / 2, 8);
	ASSERT_EQ(0, libvmig_stream_join(&p, &s));
	EXPECT_EQ(-EINVAL, try_resume(_metadata, &self->b, &s));
	put_le(id + ID_BAR2_SIZE, self->size, 8);

	put_le(id + ID_VERSION, 2, 4);
	ASSERT_EQ(0, libvmig_stream_join(&p, &s));
	EXPECT_EQ(-EINVAL, try_resume(_metadata, &self->b, &s));

	/* After all that, the real stream migrates. */
	memset(self->mem_b, 0, self->size);
	ASSERT_EQ(0, libvmig_reset(&self->b));
	ASSERT_EQ(0, libvmig_resume_all(&self->b, &whole, LIBVMIG_QEMU_PIECE));
	EXPECT_EQ(self->size, first_diff(self->mem_a, self->mem_b, self->size));
	libvmig_stream_free(&p);
	libvmig_buf_free(&s);
	libvmig_buf_free(&whole);
}

/* Records that pass the envelope but not the driver: refused. */
TEST_F_TIMEOUT(pair, bad_records, 300)
{
	struct libvmig_buf whole = {}, s = {};
	unsigned char mem[8 + 2 * BLOCK], regs[12] = {};
	struct libvmig_stream p = {}, q = {};
	struct libvmig_rec other = { 40, REC_MANDATORY, sizeof(regs), regs };
	struct {
		const char *what;
		__u64 offset;
		__u32 len;		/* payload length */
		int err;
	} mems[] = {
		{ "good, last block", self->size - BLOCK, 8 + BLOCK, 0 },
		{ "past the end", self->size, 8 + BLOCK, -EINVAL },
		{ "straddling the end", self->size - BLOCK, 8 + 2 * BLOCK, -EINVAL },
		{ "offset overflowing", ~0ull & ~(__u64)(BLOCK - 1), 8 + BLOCK, -EINVAL },
		{ "misaligned offset", 512, 8 + BLOCK, -EINVAL },
		{ "partial block", 0, 8 + BLOCK - 1, -EINVAL },
		{ "no data", 0, 8, -EINVAL },
		{ "no offset", 0, 4, -EINVAL },
	};
	size_t i;

	small_stream(_metadata, &self->a, self->mem_a, self->size, &p, &whole);
	memset(mem, 0xa5, sizeof(mem));

	for (i = 0; i < ARRAY_SIZE(mems); i++) {
		ASSERT_EQ(0, libvmig_stream_copy(&q, &p));
		put_le(mem, mems[i].offset, 8);
		q.recs[0].data = mem;
		q.recs[0].len = mems[i].len;
		ASSERT_EQ(0, libvmig_stream_join(&q, &s));
		EXPECT_EQ(mems[i].err, try_resume(_metadata, &self->b, &s))
			TH_LOG("%s", mems[i].what);
	}

	/* Registers: short, long, twice, missing. */
	ASSERT_EQ(0, libvmig_stream_copy(&q, &p));
	q.recs[1].len = 4;
	ASSERT_EQ(0, libvmig_stream_join(&q, &s));
	EXPECT_EQ(-EINVAL, try_resume(_metadata, &self->b, &s));
	q.recs[1].data = regs;
	q.recs[1].len = sizeof(regs);
	ASSERT_EQ(0, libvmig_stream_join(&q, &s));
	EXPECT_EQ(-EINVAL, try_resume(_metadata, &self->b, &s));
	ASSERT_EQ(0, libvmig_stream_copy(&q, &p));
	ASSERT_EQ(0, libvmig_stream_add(&q, &p.recs[1]));
	ASSERT_EQ(0, libvmig_stream_join(&q, &s));
	EXPECT_EQ(-EINVAL, try_resume(_metadata, &self->b, &s));
	ASSERT_EQ(0, libvmig_stream_copy(&q, &p));
	q.nr = 1;
	ASSERT_EQ(0, libvmig_stream_join(&q, &s));
	EXPECT_EQ(-EINVAL, try_resume(_metadata, &self->b, &s));

	/* A mandatory record of a type the format lacks; an optional one. */
	ASSERT_EQ(0, libvmig_stream_copy(&q, &p));
	ASSERT_EQ(0, libvmig_stream_add(&q, &other));
	ASSERT_EQ(0, libvmig_stream_join(&q, &s));
	EXPECT_EQ(-EOPNOTSUPP, try_resume(_metadata, &self->b, &s));
	q.recs[q.nr - 1].flags = 0;
	ASSERT_EQ(0, libvmig_stream_join(&q, &s));
	EXPECT_EQ(0, try_resume(_metadata, &self->b, &s));

	libvmig_stream_free(&q);
	libvmig_stream_free(&p);
	libvmig_buf_free(&s);
	libvmig_buf_free(&whole);
}

/*
 * The state a refused stream leaves: the memory records before the bad
 * one are in BAR2, nothing after it, the registers untouched; a reset
 * returns to RUNNING and the next stream loads.
 */
TEST_F_TIMEOUT(pair, refused_stream_state, 300)
{
	__u32 mask = 0x1234, got = 0;
	struct libvmig_buf whole = {}, s = {};
	unsigned char bad[8 + BLOCK];
	struct libvmig_stream all = {};
	size_t first;
	int fd;

	fill(self->mem_a, self->size, 9);
	ASSERT_EQ(0, libvmig_save_all(&self->a, &whole));
	ASSERT_EQ(0, libvmig_stream_split(&whole, &all));
	ASSERT_EQ(ID_LEN, all.id_len);
	ASSERT_LE(3, all.nr);
	first = all.recs[0].len - 8;
	ASSERT_LE(2 * first, self->size);

	/* Record 0 good, record 1 out of bounds, record 2 good. */
	all.nr = 3;
	memset(bad, 0, sizeof(bad));
	put_le(bad, self->size, 8);
	all.recs[1].data = bad;
	all.recs[1].len = sizeof(bad);
	ASSERT_EQ(0, libvmig_stream_join(&all, &s));

	memset(self->mem_b, 0, self->size);
	ASSERT_EQ(0, reg(&self->b, IVSHMEM_INTRMASK, &mask, true));
	ASSERT_EQ(0, libvmig_set_state(&self->b, VFIO_DEVICE_STATE_RESUMING, &fd));
	EXPECT_EQ(-EINVAL, libvmig_write_stream(fd, s.data, s.len, 4096));
	EXPECT_EQ(-EINVAL, libvmig_set_state(&self->b, VFIO_DEVICE_STATE_STOP, NULL));
	close(fd);
	EXPECT_EQ(VFIO_DEVICE_STATE_RESUMING, state_of(&self->b));
	EXPECT_EQ(0, memcmp(self->mem_a, self->mem_b, first));
	EXPECT_EQ(first, first_diff(self->mem_a, self->mem_b, self->size));
	ASSERT_EQ(0, reg(&self->b, IVSHMEM_INTRMASK, &got, false));
	EXPECT_EQ(mask, got);

	ASSERT_EQ(0, libvmig_reset(&self->b));
	EXPECT_EQ(VFIO_DEVICE_STATE_RUNNING, state_of(&self->b));
	ASSERT_EQ(0, libvmig_resume_all(&self->b, &whole, LIBVMIG_QEMU_PIECE));
	EXPECT_EQ(self->size, first_diff(self->mem_a, self->mem_b, self->size));

	/* Truncated by one byte: written, but RESUMING -> STOP refuses. */
	whole.len--;
	EXPECT_EQ(-EINVAL, try_resume(_metadata, &self->b, &whole));
	libvmig_stream_free(&all);
	libvmig_buf_free(&s);
	libvmig_buf_free(&whole);
}

TEST_HARNESS_MAIN
