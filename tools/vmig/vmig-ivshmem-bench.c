// SPDX-License-Identifier: GPL-2.0-only
/*
 * vmig-ivshmem-bench: what a save of an ivshmem-plain device costs, as
 * ratios that hold whatever the machine:
 *
 *  1. stream throughput: reading the STOP_COPY stream of the device versus
 *     a plain userspace copy of the same BAR2 through its mmap;
 *  2. what pre-copy saves: bytes STOP_COPY still sends after a pre-copy of
 *     an idle device, versus the whole stream;
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

#include "vmig.h"

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

/* Read the whole STOP_COPY stream; returns its length. */
static size_t save(struct vmig_dev *d, struct vmig_buf *b, bool precopy,
		   size_t *pre_len, double *secs)
{
	double t0;
	int fd, ret;

	b->len = 0;
	*pre_len = 0;
	t0 = now();
	if (precopy) {
		ret = vmig_set_state(d, VFIO_DEVICE_STATE_PRE_COPY, &fd);
		if (ret)
			die("RUNNING -> PRE_COPY", ret);
		ret = vmig_read_stream(fd, b);
		if (ret != -ENOMSG)
			die("read to the temporary end", ret ? ret : -EPROTO);
		*pre_len = b->len;
		ret = vmig_set_state(d, VFIO_DEVICE_STATE_STOP_COPY, NULL);
	} else {
		ret = vmig_set_state(d, VFIO_DEVICE_STATE_STOP_COPY, &fd);
	}
	if (ret)
		die("-> STOP_COPY", ret);
	ret = vmig_read_stream(fd, b);
	if (ret)
		die("read to the end", ret);
	*secs = now() - t0;
	close(fd);
	ret = vmig_reset(d);
	if (ret)
		die("reset", ret);
	return b->len;
}

int main(int argc, char **argv)
{
	struct vmig_buf b = {};
	double t_copy = 1e9, t_stream = 1e9, t;
	int rounds = argc > 2 ? atoi(argv[2]) : 3;
	size_t size, pre, total, i;
	long long peak, track;
	struct vmig_dev d;
	unsigned char *bar, *copy;
	int ret, r;

	if (argc < 2) {
		fprintf(stderr, "usage: vmig-ivshmem-bench DEVICE [ROUNDS]\n");
		return 2;
	}
	ret = vmig_dev_open(&d, argv[1]);
	if (ret)
		die(argv[1], ret);
	bar = vmig_region_mmap(&d, VFIO_PCI_BAR2_REGION_INDEX, &size);
	if (!bar)
		die("mmap BAR2", -errno);
	copy = malloc(size);
	if (!copy)
		die("malloc", -ENOMEM);
	for (i = 0; i < size; i += 4096)
		bar[i] = i >> 12;

	/* Warm both paths once, then keep the best of @rounds. */
	memcpy(copy, bar, size);
	save(&d, &b, false, &pre, &t);
	for (r = 0; r < rounds; r++) {
		double t0 = now();

		memcpy(copy, bar, size);
		t = now() - t0;
		if (t < t_copy)
			t_copy = t;
		save(&d, &b, false, &pre, &t);
		if (t < t_stream)
			t_stream = t;
	}
	total = b.len;
	peak = debugfs_value(d.name, "status", "last saving session: peak");

	printf("BAR2 size                     %zu MiB\n", size >> 20);
	printf("userspace copy of BAR2        %.0f MiB/s\n", size / t_copy / (1 << 20));
	printf("STOP_COPY stream read         %.0f MiB/s (%zu bytes)\n",
	       total / t_stream / (1 << 20), total);
	printf("ratio stream / copy           %.2f\n", t_copy / t_stream * total / size);

	save(&d, &b, true, &pre, &t);
	printf("pre-copy of an idle device    %zu bytes, then STOP_COPY %zu bytes\n",
	       pre, b.len - pre);
	printf("ratio STOP_COPY after pre-copy / whole stream   %.5f\n",
	       (double)(b.len - pre) / total);

	track = debugfs_value(d.name, "ivshmem", "tracking memory:");
	printf("peak chunk memory of a save   %lld bytes\n", peak);
	printf("driver tracking memory        %lld bytes\n", track);
	if (peak >= 0)
		printf("ratio kernel memory / BAR2    %.5f\n",
		       (double)(peak + (track > 0 ? track : 0)) / size);

	vmig_buf_free(&b);
	free(copy);
	munmap(bar, size);
	vmig_dev_close(&d);
	return 0;
}
