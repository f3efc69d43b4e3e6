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
 *     status) plus the driver's tracking memory, versus the BAR size.
 *
 * A program, not a test: it prints, it does not judge.  Run it in the VM
 * with scripts/bench.sh.
 *
 * usage: vmig-ivshmem-bench DEVICE [ROUNDS]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>

#include "libvmig.h"

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

int main(int argc, char **argv)
{
	int rounds = argc > 2 ? atoi(argv[2]) : 3;
	struct save_result full = {}, pre = {}, r;
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
		*(unsigned long long *)(bar + i) = i * 0x9e3779b97f4a7c15ull;

	/* Warm both paths once, then keep the best of @rounds. */
	memcpy(copy, bar, size);
	save(&d, &b, false, &r);
	full.secs = 1e9;
	for (k = 0; k < rounds; k++) {
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
	printf("userspace copy of BAR2 (mmap)             %8.0f MiB/s\n",
	       size / t_copy / (1 << 20));
	printf("STOP_COPY stream read                     %8.0f MiB/s  (%zu bytes)\n",
	       full.len / full.secs / (1 << 20), full.len);
	printf("ratio stream / copy throughput            %8.2f\n",
	       (full.len / full.secs) / (size / t_copy));
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

	libvmig_buf_free(&b);
	free(copy);
	munmap(bar, size);
	libvmig_dev_close(&d);
	return 0;
}
