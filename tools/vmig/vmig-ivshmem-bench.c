// SPDX-License-Identifier: GPL-2.0-only
/*
 * vmig-ivshmem-bench: what a save of an ivshmem-plain device costs, as
 * ratios that hold whatever the machine:
 *
 *  1. stream throughput: reading the STOP_COPY stream of the device versus
 *     a plain userspace copy of the same BAR2 through its mmap;
 *  2. what pre-copy saves: bytes STOP_COPY still sends after a pre-copy of
 *     an idle device, versus the whole stream, and the STOP_COPY time (the
 *     downtime) with and without pre-copy;
 *  3. kernel memory: the most chunk memory a save held (the core's debugfs
 *     status) plus the driver's tracking memory, versus the BAR size;
 *  4. resuming: writing the stream back into the device versus a plain
 *     userspace write of the same BAR2 through its mmap;
 *  5. pre-copy under load: while a thread writes BAR2 at a steady rate, a
 *     VMM-like loop reads what pre-copy sends and asks PRECOPY_INFO; then
 *     the bytes STOP_COPY still sends, and what each PRECOPY_INFO cost.
 *  6. for scale, the plain copy and write of BAR2 again, and in other
 *     instruction forms (x86-64): the kernel's among them.
 *
 * Throughputs are the best of ROUNDS runs of each path, and of more for a
 * BAR2 under 256 MiB: as many as move 256 MiB, at most 64, since a 16 MiB
 * copy under TCG lasts some 15 ms and one slow run decides nothing.  The
 * pre-copy saves run ROUNDS times whatever the size.
 *
 * A program, not a test: it prints, it does not judge.  Run it in the VM
 * with scripts/bench.sh.
 *
 * usage: vmig-ivshmem-bench DEVICE [ROUNDS]
 */
#include <errno.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>

#include "libvmig.h"

/* What BAR2 holds at offset @i, a multiple of 8, during the benchmark. */
#define PATTERN(i)	((i) * 0x9e3779b97f4a7c15ull)

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "vmig-ivshmem-bench: %s: %s\n", what, strerror(-err));
	exit(1);
}

/* A number from a "key: value" line of a debugfs file, or -1. */
static long long debugfs_value(const char *dev, const char *file,
			       const char *key)
{
	char path[PATH_MAX], line[512];
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/kernel/debug/vmig/%s/%s", dev, file);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char *p = strstr(line, key);

		if (p && sscanf(p + strlen(key), " %lld", &v) == 1)
			break;
	}
	fclose(f);
	return v;
}

struct save_result {
	size_t pre_len;		/* bytes read before STOP_COPY */
	size_t len;		/* the whole stream */
	double secs;		/* the whole save */
	double stop_secs;	/* from the STOP_COPY request to the end */
	long long peak;		/* the core's peak chunk memory of the save */
};

/* One save, read to the end, then a reset; the stream is left in @b. */
static void save(struct libvmig_dev *d, struct libvmig_buf *b, bool precopy,
		 struct save_result *r)
{
	struct vfio_precopy_info info;
	double t0, t1;
	int fd, ret;

	b->len = 0;
	r->pre_len = 0;
	t0 = now();
	if (precopy) {
		ret = libvmig_set_state(d, VFIO_DEVICE_STATE_PRE_COPY, &fd);
		if (ret)
			die("RUNNING -> PRE_COPY", ret);
		ret = libvmig_read_stream(fd, b);
		if (ret != -ENOMSG)
			die("read to the temporary end", ret ? ret : -EPROTO);
		r->pre_len = b->len;
		/* Iterate once more, as a VMM would: the device rescans. */
		ret = libvmig_precopy_info(fd, &info);
		if (ret)
			die("precopy info", ret);
		usleep(500000);
		ret = libvmig_read_stream(fd, b);
		if (ret != -ENOMSG || b->len != r->pre_len)
			die("an idle device found changed", ret ? ret : -EPROTO);
		t1 = now();
		ret = libvmig_set_state(d, VFIO_DEVICE_STATE_STOP_COPY, NULL);
	} else {
		t1 = now();
		ret = libvmig_set_state(d, VFIO_DEVICE_STATE_STOP_COPY, &fd);
	}
	if (ret)
		die("-> STOP_COPY", ret);
	ret = libvmig_read_stream(fd, b);
	if (ret)
		die("read to the end", ret);
	r->len = b->len;
	r->secs = now() - t0;
	r->stop_secs = now() - t1;
	close(fd);
	/* Ends the session: the core records its peak memory. */
	ret = libvmig_reset(d);
	if (ret)
		die("reset", ret);
	r->peak = debugfs_value(d->name, "status", "last saving session: peak");
}

/* The writer of the loaded pre-copy: whole 4 KiB blocks at @rate bytes/s. */
struct writer {
	unsigned char *bar;
	size_t size;
	double rate;
	atomic_int stop;
	size_t written;
	pthread_t thread;
};

static void *writer_run(void *arg)
{
	struct writer *w = arg;
	unsigned long long x = 0x2545f4914f6cdd1dull;
	double t0 = now();

	while (!atomic_load(&w->stop)) {
		/* Catch up with the rate every millisecond. */
		while (w->written < (now() - t0) * w->rate) {
			size_t blk;

			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			blk = (x % (w->size / 4096)) * 4096;
			memset(w->bar + blk, (int)x, 4096);
			w->written += 4096;
		}
		usleep(1000);
	}
	return NULL;
}

struct load_result {
	size_t written;		/* bytes the writer wrote during pre-copy */
	size_t pre_len;		/* bytes pre-copy sent */
	size_t stop_len;	/* bytes STOP_COPY sent */
	int queries;		/* PRECOPY_INFO calls */
	double info_mean;	/* their mean and longest time, s */
	double info_max;
};

/*
 * Pre-copy for @secs while BAR2 is written at @rate bytes/s, as a VMM
 * iterates: read to the temporary end, ask PRECOPY_INFO, wait 50 ms.  The
 * writer stops right before STOP_COPY, as a guest's vCPUs do; what
 * pre-copy had queued and nobody read yet counts as STOP_COPY's.
 */
static void loaded_save(struct libvmig_dev *d, unsigned char *bar, size_t size,
			double rate, double secs, struct libvmig_buf *b,
			struct load_result *r)
{
	struct writer w = { .bar = bar, .size = size, .rate = rate };
	struct vfio_precopy_info info;
	double t0, t, info_sum = 0;
	int fd, ret;

	memset(r, 0, sizeof(*r));
	b->len = 0;
	ret = libvmig_set_state(d, VFIO_DEVICE_STATE_PRE_COPY, &fd);
	if (ret)
		die("RUNNING -> PRE_COPY", ret);
	if (pthread_create(&w.thread, NULL, writer_run, &w))
		die("pthread_create", -EAGAIN);
	t0 = now();
	do {
		ret = libvmig_read_stream(fd, b);
		if (ret != -ENOMSG)
			die("pre-copy read", ret ? ret : -EPROTO);
		t = now();
		ret = libvmig_precopy_info(fd, &info);
		t = now() - t;
		if (ret)
			die("precopy info", ret);
		r->queries++;
		info_sum += t;
		if (t > r->info_max)
			r->info_max = t;
		usleep(50000);
	} while (now() - t0 < secs);
	/* Straight to STOP_COPY, as a VMM goes once the vCPUs stopped. */
	atomic_store(&w.stop, 1);
	pthread_join(w.thread, NULL);
	r->written = w.written;
	r->info_mean = info_sum / r->queries;
	r->pre_len = b->len;
	ret = libvmig_set_state(d, VFIO_DEVICE_STATE_STOP_COPY, NULL);
	if (ret)
		die("PRE_COPY -> STOP_COPY", ret);
	ret = libvmig_read_stream(fd, b);
	if (ret)
		die("read to the end", ret);
	r->stop_len = b->len - r->pre_len;
	close(fd);
	ret = libvmig_reset(d);
	if (ret)
		die("reset", ret);
}

/*
 * The plain copy and write again in other instruction forms, for scale:
 * a VMM calls memcpy(), but under TCG the forms differ widely in speed,
 * and the kernel's paths use two of them: 64-bit moves (the driver's BAR
 * copies) and rep movsq (copy_to_user() on a CPU without ERMS).  Each
 * loop is written in assembly, so that no compiler changes its form, and
 * is a function of its own, aligned to 256 bytes by the Makefile, so that
 * it stays within one page (see ivsh_bar_read()).  They copy whole
 * 64-byte lines: BAR2 is a power of two of at least 4 KiB.
 */
#if defined(__x86_64__) && !defined(__ILP32__)
static void copy_movq(void *dst, const void *src, size_t len)
{
	char *d = dst, *end = d + len;
	const char *s = src;

	for (; d < end; d += 64, s += 64)
		asm volatile("movq (%1), %%rax\n\tmovq %%rax, (%0)\n\t"
			     "movq 8(%1), %%rdx\n\tmovq %%rdx, 8(%0)\n\t"
			     "movq 16(%1), %%rax\n\tmovq %%rax, 16(%0)\n\t"
			     "movq 24(%1), %%rdx\n\tmovq %%rdx, 24(%0)\n\t"
			     "movq 32(%1), %%rax\n\tmovq %%rax, 32(%0)\n\t"
			     "movq 40(%1), %%rdx\n\tmovq %%rdx, 40(%0)\n\t"
			     "movq 48(%1), %%rax\n\tmovq %%rax, 48(%0)\n\t"
			     "movq 56(%1), %%rdx\n\tmovq %%rdx, 56(%0)"
			     : : "r" (d), "r" (s) : "rax", "rdx", "memory");
}

static void copy_sse2(void *dst, const void *src, size_t len)
{
	char *d = dst, *end = d + len;
	const char *s = src;

	for (; d < end; d += 64, s += 64)
		asm volatile("movdqu (%1), %%xmm0\n\t"
			     "movdqu 16(%1), %%xmm1\n\t"
			     "movdqu 32(%1), %%xmm2\n\t"
			     "movdqu 48(%1), %%xmm3\n\t"
			     "movdqu %%xmm0, (%0)\n\t"
			     "movdqu %%xmm1, 16(%0)\n\t"
			     "movdqu %%xmm2, 32(%0)\n\t"
			     "movdqu %%xmm3, 48(%0)"
			     : : "r" (d), "r" (s)
			     : "xmm0", "xmm1", "xmm2", "xmm3", "memory");
}

static void copy_movsq(void *dst, const void *src, size_t len)
{
	size_t n = len / 8;

	asm volatile("rep movsq" : "+D" (dst), "+S" (src), "+c" (n) : : "memory");
}

static void copy_movsb(void *dst, const void *src, size_t len)
{
	asm volatile("rep movsb" : "+D" (dst), "+S" (src), "+c" (len) : : "memory");
}
#endif

static void copy_libc(void *dst, const void *src, size_t len)
{
	memcpy(dst, src, len);
}

static const struct copy_form {
	const char *name;
	void (*copy)(void *dst, const void *src, size_t len);
} forms[] = {
	{ "memcpy(), measured again", copy_libc },
#if defined(__x86_64__) && !defined(__ILP32__)
	{ "64-bit moves, 8 per loop", copy_movq },
	{ "rep movsq", copy_movsq },
	{ "128-bit SSE2 moves, 4 per loop", copy_sse2 },
	{ "rep movsb", copy_movsb },
#endif
};

/* The pattern main() writes to BAR2: does BAR2 still hold it? */
static bool bar_pattern_ok(const unsigned char *bar, size_t size)
{
	size_t i;

	for (i = 0; i < size; i += 8)
		if (*(const unsigned long long *)(bar + i) != PATTERN(i))
			return false;
	return true;
}

/*
 * Best times of @rounds copies of BAR2 out to @buf and back, per form.
 * BAR2 must hold the pattern when every form has written it back once,
 * and at the end.
 */
static void copy_forms(unsigned char *bar, unsigned char *buf, size_t size,
		       int rounds, double *t_in, double *t_out)
{
	double t0, t;
	size_t i;
	int k;

	for (i = 0; i < ARRAY_SIZE(forms); i++) {
		t_in[i] = 1e9;
		t_out[i] = 1e9;
	}
	for (k = 0; k < rounds; k++) {
		for (i = 0; i < ARRAY_SIZE(forms); i++) {
			if (!k)
				memset(buf, 0, size);
			t0 = now();
			forms[i].copy(buf, bar, size);
			t = now() - t0;
			if (t < t_in[i])
				t_in[i] = t;
			if (!k && !bar_pattern_ok(buf, size))
				die(forms[i].name, -EIO);
			t0 = now();
			forms[i].copy(bar, buf, size);
			t = now() - t0;
			if (t < t_out[i])
				t_out[i] = t;
			if (!k && !bar_pattern_ok(bar, size))
				die(forms[i].name, -EIO);
		}
	}
	if (!bar_pattern_ok(bar, size))
		die("the copy forms changed the device memory", -EIO);
}

int main(int argc, char **argv)
{
	static const double rates[] = { 1 << 20, 8 << 20, 32 << 20 };
	double t_write = 1e9, t_resume = 1e9, residue[ARRAY_SIZE(rates)];
	size_t b_len_full;
	struct load_result lr;
	int rounds = argc > 2 ? atoi(argv[2]) : 3, io_rounds;
	struct save_result full = {}, pre = {}, r;
	double t_form_in[ARRAY_SIZE(forms)], t_form_out[ARRAY_SIZE(forms)];
	double t_copy = 1e9, t;
	long long track, scan_ns, final_ns;
	unsigned char *bar, *copy;
	struct libvmig_buf b = {};
	struct libvmig_dev d;
	size_t size, i;
	int ret, k;

	if (argc < 2 || rounds < 1) {
		fprintf(stderr, "usage: vmig-ivshmem-bench DEVICE [ROUNDS]\n");
		return 2;
	}
	ret = libvmig_dev_open(&d, argv[1]);
	if (ret)
		die(argv[1], ret);
	bar = libvmig_region_mmap(&d, VFIO_PCI_BAR2_REGION_INDEX, &size);
	if (!bar)
		die("mmap BAR2", -errno);
	copy = malloc(size);
	if (!copy)
		die("malloc", -ENOMEM);
	for (i = 0; i < size; i += 8)
		*(unsigned long long *)(bar + i) = PATTERN(i);

	/* Warm both paths once, then keep the best of @io_rounds. */
	io_rounds = size < (256 << 20) / 64 ? 64 : (256 << 20) / size;
	if (io_rounds < rounds)
		io_rounds = rounds;
	memcpy(copy, bar, size);
	save(&d, &b, false, &r);
	full.secs = 1e9;
	for (k = 0; k < io_rounds; k++) {
		double t0 = now();

		memcpy(copy, bar, size);
		t = now() - t0;
		if (t < t_copy)
			t_copy = t;
		save(&d, &b, false, &r);
		if (r.secs < full.secs)
			full = r;
	}
	if (memcmp(copy, bar, size) || b.len < size)
		die("the device memory changed under the benchmark", -EIO);

	/* Resuming: the last stream written back, against a plain write. */
	b_len_full = b.len;
	for (k = 0; k < io_rounds; k++) {
		double t0 = now();

		memcpy(bar, copy, size);
		t = now() - t0;
		if (t < t_write)
			t_write = t;
		memset(bar, 0, size);
		ret = libvmig_set_state(&d, VFIO_DEVICE_STATE_STOP, NULL);
		if (ret)
			die("RUNNING -> STOP", ret);
		t0 = now();
		ret = libvmig_resume_all(&d, &b, 1 << 20);
		t = now() - t0;
		if (ret)
			die("resume", ret);
		if (t < t_resume)
			t_resume = t;
		if (memcmp(copy, bar, size))
			die("the resumed device differs", -EIO);
	}

	/* Each form copies BAR2 out and back, and must find it unchanged. */
	copy_forms(bar, copy, size, io_rounds, t_form_in, t_form_out);

	pre.stop_secs = 1e9;
	for (k = 0; k < rounds; k++) {
		save(&d, &b, true, &r);
		if (r.stop_secs < pre.stop_secs)
			pre = r;
	}
	track = debugfs_value(d.name, "ivshmem", "tracking memory:");
	scan_ns = debugfs_value(d.name, "ivshmem", "last scan ns:");
	final_ns = debugfs_value(d.name, "ivshmem", "last final pass ns:");

	printf("BAR2 size                                 %zu MiB\n", size >> 20);
	printf("best of, copy and save, write and resume  %d runs\n", io_rounds);
	printf("userspace copy of BAR2 (mmap)             %8.0f MiB/s\n",
	       size / t_copy / (1 << 20));
	printf("STOP_COPY stream read                     %8.0f MiB/s  (%zu bytes)\n",
	       full.len / full.secs / (1 << 20), full.len);
	printf("ratio stream / copy throughput            %8.2f\n",
	       (full.len / full.secs) / (size / t_copy));
	printf("userspace write of BAR2 (mmap)            %8.0f MiB/s\n",
	       size / t_write / (1 << 20));
	printf("RESUMING stream write (1 MiB writes)      %8.0f MiB/s\n",
	       b_len_full / t_resume / (1 << 20));
	printf("ratio resume / write throughput           %8.2f\n",
	       (b_len_full / t_resume) / (size / t_write));
	printf("idle pre-copy                             %zu bytes, then STOP_COPY %zu bytes\n",
	       pre.pre_len, pre.len - pre.pre_len);
	printf("ratio STOP_COPY after pre-copy / stream   %.2e\n",
	       (double)(pre.len - pre.pre_len) / full.len);
	printf("STOP_COPY time, without / after pre-copy  %.3f s / %.3f s\n",
	       full.stop_secs, pre.stop_secs);
	printf("pre-copy scan / final pass over BAR2      %.3f s / %.3f s\n",
	       scan_ns / 1e9, final_ns / 1e9);
	printf("peak chunk memory, STOP_COPY / pre-copy   %lld / %lld bytes\n",
	       full.peak, pre.peak);
	printf("tracking memory of a pre-copy save        %lld bytes\n", track);
	if (pre.peak >= 0 && track >= 0)
		printf("ratio peak kernel memory / BAR2           %.2e (%.2f %%)\n",
		       (double)((pre.peak > full.peak ? pre.peak : full.peak) +
				track) / size,
		       100.0 * ((pre.peak > full.peak ? pre.peak : full.peak) +
				track) / size);

	printf("userspace copy forms, from / to BAR2      MiB/s, best of %d\n",
	       io_rounds);
	for (i = 0; i < ARRAY_SIZE(forms); i++)
		printf("  %-39s %8.0f / %.0f\n", forms[i].name,
		       size / t_form_in[i] / (1 << 20),
		       size / t_form_out[i] / (1 << 20));

	printf("pre-copy under load, 3 s each, PRECOPY_INFO every 50 ms:\n");
	printf("  write MiB/s  written MiB  pre-copy MiB  STOP_COPY MiB");
	printf("  STOP_COPY/BAR2  queries  PRECOPY_INFO us mean/max\n");
	for (i = 0; i < ARRAY_SIZE(rates); i++) {
		loaded_save(&d, bar, size, rates[i], 3, &b, &lr);
		printf("  %11.0f %12.1f %13.1f %14.2f %15.2e %8d %12.0f / %.0f\n",
		       rates[i] / (1 << 20), lr.written / 1048576.0,
		       lr.pre_len / 1048576.0, lr.stop_len / 1048576.0,
		       (double)lr.stop_len / size, lr.queries,
		       lr.info_mean * 1e6, lr.info_max * 1e6);
		residue[i] = (double)lr.stop_len / size;
	}

	/* One line for scripts/bench.sh's table. */
	printf("summary: %zu %.2f %.2f %.2e %.2e %.2e %.2e %.2e %lld %.3f\n",
	       size >> 20, (full.len / full.secs) / (size / t_copy),
	       (b_len_full / t_resume) / (size / t_write),
	       (double)(pre.len - pre.pre_len) / full.len,
	       residue[0], residue[1], residue[2],
	       (double)((pre.peak > full.peak ? pre.peak : full.peak) + track) /
	       size, (pre.peak > full.peak ? pre.peak : full.peak) + track,
	       full.stop_secs);

	libvmig_buf_free(&b);
	free(copy);
	munmap(bar, size);
	libvmig_dev_close(&d);
	return 0;
}
