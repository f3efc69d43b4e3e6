// SPDX-License-Identifier: GPL-2.0-only
/*
 * vmig-latency-bench: what a migration request costs on a device of the
 * vmig core against another VFIO device with migration in the same VM (the
 * kernel's own mtty sample, built from linux-source), as ratios:
 *
 *  - GET_INFO x2: two VFIO_DEVICE_GET_INFO calls, the bare ioctl path that
 *    neither driver's migration code sees;
 *  - GET_STATE: VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE with GET;
 *  - STOP+RUNNING: SET STOP then SET RUNNING, a walk each (with P2P, two
 *    arcs each);
 *  - save cycle: SET STOP_COPY from RUNNING, read the stream to its end,
 *    close it, SET RUNNING; then, as comment lines, the time of each of
 *    these four phases, the median over the rounds as for the requests.
 *    The clock reads between the phases (four per cycle, the same for
 *    both devices) are part of the cycle's time.
 *
 * The devices take turns within each round, so that what the machine does
 * meanwhile weighs on both alike; the figure of an operation is the median
 * over the rounds of its mean time.  A program, not a test: it prints, it
 * does not judge.  Run it in the VM with scripts/bench.sh.
 *
 * usage: vmig-latency-bench [-r ROUNDS] [-n ITERATIONS] DEVICE REFERENCE
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include "libvmig.h"

#define NR_DEVS	2

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *dev, const char *what, int err)
{
	fprintf(stderr, "vmig-latency-bench: %s: %s: %s\n", dev, what,
		strerror(err < 0 ? -err : err));
	exit(1);
}

static void set_state(struct libvmig_dev *d, __u32 state, int *fd)
{
	int ret = libvmig_set_state(d, state, fd);

	if (ret)
		die(d->name, libvmig_state_str(state), ret);
}

static void op_get_info(struct libvmig_dev *d, struct libvmig_buf *b)
{
	struct vfio_device_info info;
	int i;

	(void)b;
	for (i = 0; i < 2; i++) {
		info.argsz = sizeof(info);
		if (ioctl(d->fd, VFIO_DEVICE_GET_INFO, &info))
			die(d->name, "VFIO_DEVICE_GET_INFO", errno);
	}
}

static void op_get_state(struct libvmig_dev *d, struct libvmig_buf *b)
{
	__u32 state;
	int ret = libvmig_get_state(d, &state);

	(void)b;
	if (ret)
		die(d->name, "GET of the state", ret);
}

static void op_stop_running(struct libvmig_dev *d, struct libvmig_buf *b)
{
	(void)b;
	set_state(d, VFIO_DEVICE_STATE_STOP, NULL);
	set_state(d, VFIO_DEVICE_STATE_RUNNING, NULL);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Where a save cycle's time goes, summed over every cycle of a device. */
enum { PH_STOP_COPY, PH_READ, PH_CLOSE, PH_RUNNING, NR_PHASES };

static const char * const phase_names[NR_PHASES] = {
	"SET STOP_COPY", "read", "close", "SET RUNNING",
};

static struct libvmig_dev *phase_devs;
static double phase_sum[NR_DEVS][NR_PHASES];
static long phase_cycles[NR_DEVS];
static double *phase_round[NR_DEVS][NR_PHASES];	/* per round: the mean */

static void op_save_cycle(struct libvmig_dev *d, struct libvmig_buf *b)
{
	double *sum = phase_sum[d - phase_devs], t[NR_PHASES + 1];
	int fd = -1, ret, p;

	t[0] = now();
	set_state(d, VFIO_DEVICE_STATE_STOP_COPY, &fd);
	t[1] = now();
	b->len = 0;
	ret = libvmig_read_stream(fd, b);
	if (ret)
		die(d->name, "reading the STOP_COPY stream", ret);
	t[2] = now();
	close(fd);
	t[3] = now();
	set_state(d, VFIO_DEVICE_STATE_RUNNING, NULL);
	t[4] = now();
	for (p = 0; p < NR_PHASES; p++)
		sum[p] += t[p + 1] - t[p];
	phase_cycles[d - phase_devs]++;
}

/* The cycles since the last call become round @r's means of device @i. */
static void phase_end_round(int i, int r)
{
	int p;

	for (p = 0; p < NR_PHASES; p++) {
		if (r >= 0)
			phase_round[i][p][r] = phase_sum[i][p] / phase_cycles[i];
		phase_sum[i][p] = 0;
	}
	phase_cycles[i] = 0;
}

/* Each phase of a save cycle, per device: the median of its round means. */
static void print_phases(int rounds)
{
	static const char * const who[NR_DEVS] = { "device", "reference" };
	int i, p;

	printf("# save cycle by phase, us (median over the rounds):\n# %-10s", "");
	for (p = 0; p < NR_PHASES; p++)
		printf(" %14s", phase_names[p]);
	printf("\n");
	for (i = 0; i < NR_DEVS; i++) {
		printf("# %-10s", who[i]);
		for (p = 0; p < NR_PHASES; p++)
			printf(" %14.2f", median(phase_round[i][p], rounds) * 1e6);
		printf("\n");
	}
}

static const struct bench_op {
	const char *name;
	void (*run)(struct libvmig_dev *d, struct libvmig_buf *b);
	int weight;		/* iterations are divided by this */
} ops[] = {
	{ "GET_INFO x2", op_get_info, 1 },
	{ "GET_STATE", op_get_state, 1 },
	{ "STOP+RUNNING", op_stop_running, 4 },
	{ "save cycle", op_save_cycle, 8 },
};

int main(int argc, char **argv)
{
	struct libvmig_dev devs[NR_DEVS];
	struct libvmig_buf buf = {};
	int rounds = 15, iters = 400;
	size_t stream_len[NR_DEVS];
	double *t[NR_DEVS];
	unsigned int o;
	int opt, i, r, k;

	while ((opt = getopt(argc, argv, "r:n:")) != -1) {
		switch (opt) {
		case 'r':
			rounds = atoi(optarg);
			break;
		case 'n':
			iters = atoi(optarg);
			break;
		default:
			goto usage;
		}
	}
	if (argc - optind != NR_DEVS || rounds < 1 || iters < 8)
		goto usage;

	phase_devs = devs;
	for (i = 0; i < NR_DEVS; i++) {
		int ret = libvmig_dev_open(&devs[i], argv[optind + i]);

		if (ret)
			die(argv[optind + i], "open", ret);
		t[i] = calloc(rounds, sizeof(double));
		if (!t[i])
			die(devs[i].name, "calloc", ENOMEM);
		for (k = 0; k < NR_PHASES; k++) {
			phase_round[i][k] = calloc(rounds, sizeof(double));
			if (!phase_round[i][k])
				die(devs[i].name, "calloc", ENOMEM);
		}
		op_save_cycle(&devs[i], &buf);
		stream_len[i] = buf.len;
	}

	printf("# %d rounds; per round, per device: %d iterations of a\n"
	       "# request, %d of STOP+RUNNING, %d save cycles\n",
	       rounds, iters, iters / 4, iters / 8);
	printf("# device:    %s (stream %zu bytes)\n", devs[0].name,
	       stream_len[0]);
	printf("# reference: %s (stream %zu bytes)\n", devs[1].name,
	       stream_len[1]);
	printf("%-14s %8s %12s %12s\n", "request", "ratio", "device us",
	       "reference us");
	for (o = 0; o < ARRAY_SIZE(ops); o++) {
		int n = iters / ops[o].weight;
		double m[NR_DEVS];

		/* One untimed round each: caches, first allocations. */
		for (i = 0; i < NR_DEVS; i++)
			for (k = 0; k < n; k++)
				ops[o].run(&devs[i], &buf);
		for (r = 0; r < rounds; r++) {
			for (i = 0; i < NR_DEVS; i++) {
				/* Alternate who goes first. */
				struct libvmig_dev *d = &devs[(i + r) % NR_DEVS];
				double t0;

				if (ops[o].run == op_save_cycle)
					phase_end_round((i + r) % NR_DEVS, -1);
				t0 = now();
				for (k = 0; k < n; k++)
					ops[o].run(d, &buf);
				t[(i + r) % NR_DEVS][r] = (now() - t0) / n;
				if (ops[o].run == op_save_cycle)
					phase_end_round((i + r) % NR_DEVS, r);
			}
		}
		for (i = 0; i < NR_DEVS; i++)
			m[i] = median(t[i], rounds);
		printf("%-14s %8.2f %12.2f %12.2f\n", ops[o].name, m[0] / m[1],
		       m[0] * 1e6, m[1] * 1e6);
	}
	print_phases(rounds);

	for (i = 0; i < NR_DEVS; i++) {
		libvmig_dev_close(&devs[i]);
		free(t[i]);
		for (k = 0; k < NR_PHASES; k++)
			free(phase_round[i][k]);
	}
	libvmig_buf_free(&buf);
	return 0;

usage:
	fprintf(stderr,
		"usage: vmig-latency-bench [-r ROUNDS] [-n ITERATIONS] DEVICE REFERENCE\n");
	return 2;
}
