// SPDX-License-Identifier: GPL-2.0-only
/*
 * The vmig ivshmem-plain driver: device memory migrates byte for byte,
 * with and without pre-copy, while a writer keeps dirtying the source.
 *
 * Devices (sysfs paths) come from VMIG_IVSHMEM_A and VMIG_IVSHMEM_B, two
 * ivshmem-plain functions of the same BAR2 size bound to
 * vmig-ivshmem-vfio-pci; missing ones skip.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "vmig.h"
#include "../kselftest_harness.h"

#define BAR0		VFIO_PCI_BAR0_REGION_INDEX
#define BAR2		VFIO_PCI_BAR2_REGION_INDEX
#define IVSHMEM_INTRMASK 0x0

FIXTURE(pair) {
	struct vmig_dev a, b;
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
	ASSERT_EQ(0, vmig_dev_open(&self->a, a));
	ASSERT_EQ(0, vmig_dev_open(&self->b, b));
	self->mem_a = vmig_region_mmap(&self->a, BAR2, &self->size);
	ASSERT_NE(NULL, self->mem_a);
	self->mem_b = vmig_region_mmap(&self->b, BAR2, &size_b);
	ASSERT_NE(NULL, self->mem_b);
	ASSERT_EQ(self->size, size_b);
}

FIXTURE_TEARDOWN(pair)
{
	if (self->mem_a)
		munmap(self->mem_a, self->size);
	if (self->mem_b)
		munmap(self->mem_b, self->size);
	vmig_dev_close(&self->a);
	vmig_dev_close(&self->b);
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

static int resume(struct vmig_dev *d, const struct vmig_buf *s)
{
	int fd, ret;

	ret = vmig_set_state(d, VFIO_DEVICE_STATE_RESUMING, &fd);
	if (ret)
		return ret;
	ret = vmig_write_stream(fd, s->data, s->len, 32768);
	if (!ret)
		ret = vmig_set_state(d, VFIO_DEVICE_STATE_RUNNING, NULL);
	close(fd);
	return ret;
}

/* STOP_COPY alone: all of BAR2 and the registers, byte for byte. */
TEST_F_TIMEOUT(pair, stop_copy, 300)
{
	__u32 mask = 0x5a5aa5a5, got = 0;
	struct vmig_buf s = {};
	int fd;

	fill(self->mem_a, self->size, 1);
	memset(self->mem_b, 0, self->size);
	ASSERT_EQ(0, vmig_region_rw(&self->a, BAR0, IVSHMEM_INTRMASK, &mask,
				    4, true));
	ASSERT_EQ(0, vmig_set_state(&self->a, VFIO_DEVICE_STATE_STOP_COPY, &fd));
	ASSERT_EQ(0, vmig_read_stream(fd, &s));
	close(fd);
	EXPECT_LE(self->size, s.len);
	ASSERT_EQ(0, resume(&self->b, &s));
	EXPECT_EQ(self->size, first_diff(self->mem_a, self->mem_b, self->size));
	ASSERT_EQ(0, vmig_region_rw(&self->b, BAR0, IVSHMEM_INTRMASK, &got,
				    4, false));
	EXPECT_EQ(mask, got);
	vmig_buf_free(&s);
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
	struct vmig_buf s = {};
	size_t pre_bytes = 0;
	pthread_t t;
	int fd, ret, rounds;

	fill(self->mem_a, self->size, 2);
	memset(self->mem_b, 0, self->size);
	ASSERT_EQ(0, pthread_create(&t, NULL, writer_fn, &w));
	ASSERT_EQ(0, vmig_set_state(&self->a, VFIO_DEVICE_STATE_PRE_COPY, &fd));

	for (rounds = 0; rounds < 200; rounds++) {
		ASSERT_EQ(0, vmig_precopy_info(fd, &info));
		if (!info.initial_bytes && info.dirty_bytes < self->size / 8)
			break;
		ret = vmig_read_some(fd, &s, 4 << 20);
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
	ASSERT_EQ(0, vmig_set_state(&self->a, VFIO_DEVICE_STATE_STOP_COPY, NULL));
	ASSERT_EQ(0, vmig_read_stream(fd, &s));
	close(fd);
	TH_LOG("stop-copy: %zu more bytes", s.len - pre_bytes);
	ASSERT_EQ(0, resume(&self->b, &s));
	EXPECT_EQ(self->size, first_diff(self->mem_a, self->mem_b, self->size));
	vmig_buf_free(&s);
}

/* An idle device after pre-copy sends almost nothing in STOP_COPY. */
TEST_F_TIMEOUT(pair, idle_precopy_then_stop_copy, 300)
{
	struct vmig_buf s = {};
	size_t pre;
	int fd;

	fill(self->mem_a, self->size, 3);
	ASSERT_EQ(0, vmig_set_state(&self->a, VFIO_DEVICE_STATE_PRE_COPY, &fd));
	ASSERT_EQ(-ENOMSG, vmig_read_stream(fd, &s));
	pre = s.len;
	ASSERT_EQ(0, vmig_set_state(&self->a, VFIO_DEVICE_STATE_STOP_COPY, NULL));
	ASSERT_EQ(0, vmig_read_stream(fd, &s));
	close(fd);
	TH_LOG("pre-copy %zu bytes, then stop-copy %zu bytes", pre, s.len - pre);
	EXPECT_LT(s.len - pre, self->size / 64);
	ASSERT_EQ(0, resume(&self->b, &s));
	EXPECT_EQ(self->size, first_diff(self->mem_a, self->mem_b, self->size));
	vmig_buf_free(&s);
}

TEST_HARNESS_MAIN
