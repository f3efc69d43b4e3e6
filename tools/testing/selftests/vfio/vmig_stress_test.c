// SPDX-License-Identifier: GPL-2.0-only
/*
 * Concurrency stress of one vmig device.  For a bounded time, hammer
 * threads call every entry point of the device at once: SET of random
 * targets (and of values outside the enum), GET, read(), write(), poll()
 * and VFIO_MIG_GET_PRECOPY_INFO on data fds that are current or stale,
 * VFIO_DEVICE_RESET, close and reopen of the device, MIG_DATA_SIZE, the
 * arc query, and guest accesses that make pre-copy data new again
 * (vmig_mtty: config space and LCR/divisor writes, i.e. REINIT; ivshmem:
 * stores into BAR2 through the region and through a mapping).  Meanwhile
 * a migrator thread migrates the device again and again into a second
 * device of the same kind and checks every migration that completed: the
 * stream, folded into the state it describes (the last record of each
 * kind wins; ivshmem memory records are laid out in an image of BAR2),
 * must equal what a full save of the destination gives back after the
 * resume, byte for byte.  Every other migration runs "quiet": the
 * disruptive calls pause, so the migration must succeed, pre-copy must
 * end with nothing pending, and the source, saved again, must also give
 * the same state.  The others run contested, and may fail, but only with
 * an errno of the table below.
 *
 * At the end the source device is removed (mdev: remove; PCI: unbind)
 * while its device fd, a mapping and data fds are still open: removal
 * waits for the device fd, and completes once it is closed; data fds then
 * say ENODEV.  The device is then created again (the same UUID and type;
 * driver_override and drivers_probe for the PCI function) and must migrate
 * both ways, so that later tests in the same VM still find it.
 *
 * Every errno any call returns must be in this table, or the test fails:
 *
 *   call                 errno       driver   why
 *   -------------------  ----------  -------  ----------------------------
 *   SET device state     EINVAL      both     ERROR, a value outside the
 *                                             enum, any request from ERROR;
 *                                             leaving RESUMING without a
 *                                             complete, sound stream
 *                        EBUSY       ivshmem  no access window for 200 ms
 *                                             (a reset or config write
 *                                             holds memory_lock)
 *                        EIO         ivshmem  access window disturbed
 *   GET device state     -
 *   read() data fd       ENODEV      both     its session ended
 *                        ENOMSG      both     PRE_COPY, nothing pending
 *                        EBADF       both     a resuming fd (write only)
 *                        EIO         ivshmem  the save worker's window was
 *                                             disturbed three times
 *                        EINTR       both     only when the run ends
 *   write() data fd      ENODEV      both     its session ended
 *                        EBADF       both     a saving fd (read only)
 *                        EINVAL      both     not a sound stream (garbage,
 *                                             or a stream written twice)
 *                        EBUSY, EIO  ivshmem  a memory record's window
 *                        EINTR       both     only when the run ends
 *   poll() data fd       EINTR       both     only when the run ends
 *   PRECOPY_INFO         ENODEV      both     its session ended
 *                        EINVAL      both     not in a PRE_COPY state, or
 *                                             a resuming fd
 *   VFIO_DEVICE_RESET    EAGAIN      ivshmem  pci_try_reset_function():
 *                                             config access is held by an
 *                                             access window
 *   MIG_DATA_SIZE        -
 *   arc query            -
 *   device (re)open      -
 *   region read/write    -
 *   BAR2 store (mmap)    -                    no SIGBUS either
 *
 * ivshmem resets and reopens come at most four times a second: see
 * decoding_may_toggle() for why.
 *
 * Values are checked too: GET and the arc query report a valid state, the
 * arc query the same arcs and flags each time, MIG_DATA_SIZE is never 0,
 * PRECOPY_INFO never reports more than 2^40 bytes (an underflow would),
 * flags only REINIT, poll() never POLLNVAL.  A call that blocks for more
 * than a minute is a failure, and every thread must exit on time.
 *
 * Devices (sysfs paths): VMIG_MTTY1 and VMIG_MTTY1_B, VMIG_IVSHMEM_A and
 * VMIG_IVSHMEM_B; missing ones skip.  The time per driver is -d SECONDS,
 * else $VMIG_STRESS_SECONDS, else 60.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "libvmig.h"
#include "../kselftest_harness.h"

#define BAR0		VFIO_PCI_BAR0_REGION_INDEX
#define BAR2		VFIO_PCI_BAR2_REGION_INDEX
#define CONFIG		VFIO_PCI_CONFIG_REGION_INDEX

/* vmig_mtty: 16550 registers of port 0, and its stream records. */
#define UART_RBR	0
#define UART_DLL	0
#define UART_DLM	1
#define UART_LCR	3
#define UART_MCR	4
#define UART_LSR	5
#define UART_SCR	7
#define LCR_DLAB	0x80
#define LCR_8N1		0x03
#define MCR_LOOP	0x10
#define LSR_DR		0x01
#define PCI_INTERRUPT_LINE	0x3c
#define MTTY_REC_FIRST	16	/* CONFIG, LINE, UART, FIFO, IRQ */
#define MTTY_REC_LAST	20

/* ivshmem: registers and stream records. */
#define IVSH_INTRMASK	0x0
#define IVSH_REC_MEM	16
#define IVSH_REC_REGS	17
#define IVSH_BLOCK	4096
#define IVSH_ID_BAR2	24	/* offset of the BAR2 size in the identity */

#define NR_HAMMERS	4
#define NR_SLOTS	6	/* data fds kept; slot 0 is the migrator's */
#define STUCK_SECONDS	60	/* a call this long is a hang */
#define MAX_VIOLATIONS	16
#define MAX_ERRNO	134
#define SANE_BYTES	0x10000000000ull	/* 1 TiB */

enum stress_op {
	OP_SET, OP_GET, OP_READ, OP_WRITE, OP_POLL, OP_INFO, OP_RESET,
	OP_REOPEN, OP_SIZE, OP_ARCS, OP_GUEST, OP_STORE, NR_OPS
};

static const char * const op_names[NR_OPS] = {
	[OP_SET] = "SET", [OP_GET] = "GET", [OP_READ] = "read",
	[OP_WRITE] = "write", [OP_POLL] = "poll", [OP_INFO] = "PRECOPY_INFO",
	[OP_RESET] = "reset", [OP_REOPEN] = "reopen",
	[OP_SIZE] = "MIG_DATA_SIZE", [OP_ARCS] = "arcs",
	[OP_GUEST] = "guest-write", [OP_STORE] = "BAR2-store",
};

/* Calls that change the device under the migrator: paused when quiet. */
static const bool op_disrupts[NR_OPS] = {
	[OP_SET] = true, [OP_WRITE] = true, [OP_RESET] = true,
	[OP_REOPEN] = true, [OP_GUEST] = true, [OP_STORE] = true,
};

enum { DRV_MTTY = 1, DRV_IVSHMEM = 2, DRV_ALL = 3 };

/* The table of the top comment; EINTR is handled apart. */
static const struct {
	enum stress_op op;
	int drivers;
	int err;
} allowlist[] = {
	{ OP_SET, DRV_ALL, EINVAL },
	{ OP_SET, DRV_IVSHMEM, EBUSY },
	{ OP_SET, DRV_IVSHMEM, EIO },
	{ OP_READ, DRV_ALL, ENODEV },
	{ OP_READ, DRV_ALL, ENOMSG },
	{ OP_READ, DRV_ALL, EBADF },
	{ OP_READ, DRV_IVSHMEM, EIO },
	{ OP_WRITE, DRV_ALL, ENODEV },
	{ OP_WRITE, DRV_ALL, EBADF },
	{ OP_WRITE, DRV_ALL, EINVAL },
	{ OP_WRITE, DRV_IVSHMEM, EBUSY },
	{ OP_WRITE, DRV_IVSHMEM, EIO },
	{ OP_INFO, DRV_ALL, ENODEV },
	{ OP_INFO, DRV_ALL, EINVAL },
	{ OP_RESET, DRV_IVSHMEM, EAGAIN },
};

/* Weights of the hammers' calls. */
static const int op_weight[NR_OPS] = {
	[OP_SET] = 6, [OP_GET] = 5, [OP_READ] = 12, [OP_WRITE] = 5,
	[OP_POLL] = 6, [OP_INFO] = 8, [OP_RESET] = 2, [OP_REOPEN] = 1,
	[OP_SIZE] = 4, [OP_ARCS] = 4, [OP_GUEST] = 8, [OP_STORE] = 6,
};

struct stress;

struct worker {
	struct stress *st;
	pthread_t thread;
	int id;
	__u64 rnd;
	atomic_int op;		/* the call in progress, or -1 */
	atomic_llong since;	/* when it started, in ms */
	bool started;
};

/* The state a stream describes, folded from its records. */
struct image {
	const unsigned char *id;
	__u32 id_len;
	unsigned char *mem;		/* ivshmem: BAR2 */
	unsigned char *covered;		/* per block: some record carried it */
	size_t mem_size;
	struct {
		const unsigned char *data;
		__u32 len;
	} slot[32];			/* the last record per kind */
};

struct stress {
	int driver;
	const char *path_a, *path_b;
	struct libvmig_dev a;		/* shared: fd replaced on reopen */
	pthread_rwlock_t dev_lock;
	struct libvmig_dev b;		/* the migrator's alone */
	__u64 mig_flags;
	struct vmig_device_feature_arcs arcs;
	size_t bar2_size;

	pthread_mutex_t pool_lock;
	int slot_fd[NR_SLOTS];
	bool slot_mine[NR_SLOTS];	/* the migrator reads it: hammers don't */
	atomic_int newest;		/* the slot a SET filled last */
	struct libvmig_buf sample;	/* a sound stream, for writes */

	atomic_bool stop;
	atomic_bool stopping;		/* EINTR is expected now */
	atomic_bool quiet;
	atomic_int inflight;		/* disruptive calls under way */
	atomic_llong next_toggle;	/* see decoding_may_toggle() */
	atomic_bool dumped;		/* stacks printed for a hang */
	atomic_llong ops[NR_OPS];
	atomic_llong errs[NR_OPS][MAX_ERRNO];
	atomic_llong reinits;		/* PRECOPY_INFO said REINIT */

	long migrations, checked, quiet_checked, abandoned;
	double seconds;

	pthread_mutex_t log_lock;
	int nr_violations;
	char violations[MAX_VIOLATIONS][200];

	struct worker hammers[NR_HAMMERS];
	struct worker migrator;
};

static int stress_seconds = 60;

static long long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}

static __u64 rnd(struct worker *w)
{
	w->rnd ^= w->rnd << 13;
	w->rnd ^= w->rnd >> 7;
	w->rnd ^= w->rnd << 17;
	return w->rnd;
}

static void violation(struct stress *st, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&st->log_lock);
	if (st->nr_violations < MAX_VIOLATIONS) {
		va_start(ap, fmt);
		vsnprintf(st->violations[st->nr_violations],
			  sizeof(st->violations[0]), fmt, ap);
		va_end(ap);
	}
	st->nr_violations++;
	pthread_mutex_unlock(&st->log_lock);
}

static bool errno_allowed(struct stress *st, enum stress_op op, int err)
{
	size_t i;

	if (err == EINTR)
		return atomic_load(&st->stopping) &&
		       (op == OP_READ || op == OP_WRITE || op == OP_POLL);
	for (i = 0; i < ARRAY_SIZE(allowlist); i++)
		if (allowlist[i].op == op && allowlist[i].err == err &&
		    (allowlist[i].drivers & st->driver))
			return true;
	return false;
}

/*
 * Count a call and judge its errno (0 for success).  @strict: no errno at
 * all is acceptable (a quiet migration, the destination).  Returns
 * whether the call succeeded.
 */
static bool outcome(struct stress *st, enum stress_op op, int err, bool strict,
		    const char *what)
{
	atomic_fetch_add(&st->ops[op], 1);
	if (!err)
		return true;
	if (err > 0 && err < MAX_ERRNO)
		atomic_fetch_add(&st->errs[op][err], 1);
	if (!strict && errno_allowed(st, op, err))
		return false;
	violation(st, "%s%s%s: errno %d (%s)%s", op_names[op], what ? " " : "",
		  what ?: "", err, strerror(err),
		  strict ? " where nothing may fail" : ", not in the table");
	return false;
}

static void op_begin(struct worker *w, enum stress_op op)
{
	atomic_store(&w->since, now_ms());
	atomic_store(&w->op, op);
}

static void op_end(struct worker *w)
{
	atomic_store(&w->op, -1);
}

/* ---------------------------------------------------------------------- */
/*
 * The shared device: a call holds dev_lock for reading while it uses the
 * fd, a reopen holds it for writing, so its close is the last one and the
 * device closes for real.  Data fds: every call works on a dup() of its
 * own, so that a close elsewhere never hands it a reused number.
 */

static void dev_get(struct stress *st, struct libvmig_dev *d)
{
	pthread_rwlock_rdlock(&st->dev_lock);
	*d = st->a;
}

static void dev_put(struct stress *st)
{
	pthread_rwlock_unlock(&st->dev_lock);
}

/* A dup of the data fd in @slot, or of a random one; -1 if none. */
static int slot_get(struct stress *st, int slot, bool consume)
{
	int fd = -1;

	pthread_mutex_lock(&st->pool_lock);
	if (st->slot_fd[slot] >= 0 && !(consume && st->slot_mine[slot]))
		fd = dup(st->slot_fd[slot]);
	pthread_mutex_unlock(&st->pool_lock);
	return fd;
}

/* Keep @fd (ours now) in @slot; the fd there before is closed. */
static void slot_put(struct stress *st, int slot, int fd, bool mine)
{
	int old;

	pthread_mutex_lock(&st->pool_lock);
	old = st->slot_fd[slot];
	st->slot_fd[slot] = fd;
	st->slot_mine[slot] = mine;
	pthread_mutex_unlock(&st->pool_lock);
	if (old >= 0)
		close(old);
}

static void slot_release(struct stress *st, int slot)
{
	pthread_mutex_lock(&st->pool_lock);
	st->slot_mine[slot] = false;
	pthread_mutex_unlock(&st->pool_lock);
}

/* ---------------------------------------------------------------------- */
/* Single calls, counted and judged. */

static bool sane_state(struct stress *st, __u32 s)
{
	return s == VFIO_DEVICE_STATE_ERROR ||
	       libvmig_state_supported(st->mig_flags, s);
}

static int do_set(struct stress *st, struct libvmig_dev *d, __u32 target,
		  int *fd, bool strict)
{
	int ret = libvmig_set_state(d, target, fd);

	outcome(st, OP_SET, -ret, strict, libvmig_state_str(target));
	return ret;
}

static int do_get(struct stress *st, struct libvmig_dev *d, __u32 *s)
{
	int ret = libvmig_get_state(d, s);

	if (outcome(st, OP_GET, -ret, true, NULL) && !sane_state(st, *s))
		violation(st, "GET: state %u", *s);
	return ret;
}

static int do_reset(struct stress *st, struct libvmig_dev *d, bool strict)
{
	int ret, tries = 0;

	/* A reset that found config access taken is tried again. */
	do {
		ret = libvmig_reset(d);
		outcome(st, OP_RESET, -ret, strict && ret != -EAGAIN, NULL);
	} while (strict && ret == -EAGAIN && ++tries < 200 && !usleep(5000));
	if (ret && strict)
		violation(st, "reset: errno %d after %d tries", -ret, tries);
	return ret;
}

static void do_info(struct stress *st, int fd, bool strict)
{
	struct vfio_precopy_info info;
	int ret = libvmig_precopy_info(fd, &info);

	if (!outcome(st, OP_INFO, -ret, strict, NULL))
		return;
	if (info.flags & VFIO_PRECOPY_INFO_REINIT)
		atomic_fetch_add(&st->reinits, 1);
	if (info.initial_bytes >= SANE_BYTES || info.dirty_bytes >= SANE_BYTES ||
	    (info.flags & ~(__u64)VFIO_PRECOPY_INFO_REINIT))
		violation(st, "PRECOPY_INFO: initial %llu dirty %llu flags %#llx",
			  (unsigned long long)info.initial_bytes,
			  (unsigned long long)info.dirty_bytes,
			  (unsigned long long)info.flags);
}

static void do_poll(struct stress *st, int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLOUT };
	int n = poll(&p, 1, ms);

	if (!outcome(st, OP_POLL, n < 0 ? errno : 0, false, NULL))
		return;
	if (n == 1 && (p.revents & POLLNVAL))
		violation(st, "poll: POLLNVAL");
}

static void do_size(struct stress *st, struct libvmig_dev *d)
{
	__u64 bytes = 0;
	int ret = libvmig_data_size(d, &bytes);

	if (outcome(st, OP_SIZE, -ret, true, NULL) && !bytes)
		violation(st, "MIG_DATA_SIZE: 0");
}

static void do_arcs(struct stress *st, struct libvmig_dev *d)
{
	struct vmig_device_feature_arcs a;
	int ret = libvmig_arcs(d, &a);

	if (!outcome(st, OP_ARCS, -ret, true, NULL))
		return;
	if (a.arcs != st->arcs.arcs || a.session_arcs != st->arcs.session_arcs ||
	    a.migration_flags != st->arcs.migration_flags ||
	    !sane_state(st, a.device_state))
		violation(st, "arcs: %#llx/%#llx flags %#x state %u",
			  (unsigned long long)a.arcs,
			  (unsigned long long)a.session_arcs,
			  a.migration_flags, a.device_state);
}

static int region_rw(struct stress *st, struct libvmig_dev *d, __u32 index,
		     __u64 off, void *buf, size_t len, bool write, bool strict)
{
	int ret = libvmig_region_rw(d, index, off, buf, len, write);

	outcome(st, OP_GUEST, -ret, strict, NULL);
	return ret;
}

static int uart_out(struct stress *st, struct libvmig_dev *d, int reg, __u8 v)
{
	return region_rw(st, d, BAR0, reg, &v, 1, true, true);
}

static int uart_in(struct stress *st, struct libvmig_dev *d, int reg, __u8 *v)
{
	return region_rw(st, d, BAR0, reg, v, 1, false, true);
}

/* ---------------------------------------------------------------------- */
/* Guest activity: what changes the device's state. */

/* mtty: new line settings (initial data, REINIT) or config space. */
static void mtty_guest(struct worker *w, struct libvmig_dev *d)
{
	struct stress *st = w->st;
	__u64 r = rnd(w);
	__u8 v = r >> 8;

	switch (r % 4) {
	case 0:
		region_rw(st, d, CONFIG, PCI_INTERRUPT_LINE, &v, 1, true, true);
		break;
	case 1:
		uart_out(st, d, UART_LCR, LCR_DLAB);
		uart_out(st, d, UART_DLL, v | 1);
		uart_out(st, d, UART_LCR, LCR_8N1);
		break;
	case 2:
		uart_out(st, d, UART_LCR, LCR_8N1 | (v & 0x3c));
		break;
	default:
		/* Dirty data: bytes looped back, and one consumed. */
		uart_out(st, d, UART_MCR, MCR_LOOP);
		uart_out(st, d, UART_RBR, v);
		uart_in(st, d, UART_RBR, &v);
		break;
	}
}

/* ivshmem: a few bytes of BAR2 through the region. */
static void ivsh_guest(struct worker *w, struct libvmig_dev *d)
{
	struct stress *st = w->st;
	__u64 val = rnd(w), off = (rnd(w) % (st->bar2_size / 8)) * 8;

	region_rw(st, d, BAR2, off, &val, sizeof(val), true, true);
}

static __thread sigjmp_buf bus_env;
static __thread atomic_int bus_armed;

static void on_sigbus(int sig)
{
	if (!atomic_load(&bus_armed))
		abort();
	siglongjmp(bus_env, 1);
}

/* ivshmem: stores through a fresh mapping of BAR2, then unmap. */
static void ivsh_store(struct worker *w, struct libvmig_dev *d)
{
	struct stress *st = w->st;
	__u64 *p;
	size_t len, i;
	void *map;

	map = libvmig_region_mmap(d, BAR2, &len);
	if (!map) {
		outcome(st, OP_STORE, errno ?: EIO, true, "mmap");
		return;
	}
	p = map;
	if (sigsetjmp(bus_env, 1)) {
		atomic_store(&bus_armed, 0);
		violation(st, "BAR2 store: SIGBUS");
		munmap(map, len);
		return;
	}
	atomic_store(&bus_armed, 1);
	/* Atomic, so that the compiler keeps every store. */
	for (i = 0; i < 8; i++)
		__atomic_store_n(&p[rnd(w) % (len / 8)], rnd(w),
				 __ATOMIC_RELAXED);
	atomic_store(&bus_armed, 0);
	munmap(map, len);
	outcome(st, OP_STORE, 0, true, NULL);
}

/* ---------------------------------------------------------------------- */
/* The hammers. */

/* The calls that need the device fd; the others use a data fd. */
static const bool op_on_device[NR_OPS] = {
	[OP_SET] = true, [OP_GET] = true, [OP_RESET] = true, [OP_SIZE] = true,
	[OP_ARCS] = true, [OP_GUEST] = true, [OP_STORE] = true,
};

static void hammer_one(struct worker *w, enum stress_op op)
{
	struct stress *st = w->st;
	struct libvmig_dev d;
	int slot = 1 + rnd(w) % (NR_SLOTS - 1);
	int any = rnd(w) % 4 ? atomic_load(&st->newest) : rnd(w) % NR_SLOTS;
	char buf[4096];
	__u32 s;
	int fd, ret;
	ssize_t n;

	if (op_on_device[op])
		dev_get(st, &d);
	op_begin(w, op);
	switch (op) {
	case OP_SET:
		/*
		 * Pre-copy, where reads, guest writes and REINIT meet, half
		 * of the time; now and then a value no device has.
		 */
		s = rnd(w) % 9 == 8 ? 8 + rnd(w) % 4 : rnd(w) % 8;
		if (rnd(w) & 1)
			s = rnd(w) & 1 ? VFIO_DEVICE_STATE_PRE_COPY :
			    VFIO_DEVICE_STATE_PRE_COPY_P2P;
		fd = -1;
		if (!do_set(st, &d, s, &fd, false) && fd >= 0) {
			slot_put(st, slot, fd, false);
			atomic_store(&st->newest, slot);
		}
		break;
	case OP_GET:
		do_get(st, &d, &s);
		break;
	case OP_READ:
		fd = slot_get(st, any, true);
		if (fd < 0)
			break;
		n = read(fd, buf, 1 + rnd(w) % sizeof(buf));
		outcome(st, OP_READ, n < 0 ? errno : 0, false, NULL);
		close(fd);
		break;
	case OP_WRITE:
		fd = slot_get(st, any, true);
		if (fd < 0)
			break;
		if (rnd(w) & 1) {
			/* A sound stream, as a VMM writes it. */
			ret = libvmig_write_stream(fd, st->sample.data,
						   st->sample.len,
						   LIBVMIG_QEMU_PIECE);
			outcome(st, OP_WRITE, -ret, false, NULL);
		} else {
			size_t len = 1 + rnd(w) % sizeof(buf), i;

			for (i = 0; i < len; i++)
				buf[i] = rnd(w);
			n = write(fd, buf, len);
			outcome(st, OP_WRITE, n < 0 ? errno : 0, false, NULL);
		}
		close(fd);
		break;
	case OP_POLL:
		fd = slot_get(st, any, false);
		if (fd < 0)
			break;
		do_poll(st, fd, rnd(w) % 4);
		close(fd);
		break;
	case OP_INFO:
		fd = slot_get(st, any, false);
		if (fd < 0)
			break;
		do_info(st, fd, false);
		close(fd);
		break;
	case OP_RESET:
		do_reset(st, &d, false);
		break;
	case OP_REOPEN:
		/*
		 * With no other call on the device fd, close it and open
		 * another: the device really closes (every session ends) and
		 * opens again in RUNNING.
		 */
		pthread_rwlock_wrlock(&st->dev_lock);
		close(st->a.fd);
		st->a.fd = ioctl(st->a.group, VFIO_GROUP_GET_DEVICE_FD,
				 st->a.name);
		ret = st->a.fd < 0 ? errno : 0;
		if (!ret && (st->mig_flags & VFIO_MIGRATION_PRE_COPY))
			libvmig_precopy_v2(&st->a);
		pthread_rwlock_unlock(&st->dev_lock);
		outcome(st, OP_REOPEN, ret, true, NULL);
		if (ret)
			atomic_store(&st->stop, true);	/* nothing can go on */
		break;
	case OP_SIZE:
		do_size(st, &d);
		break;
	case OP_ARCS:
		do_arcs(st, &d);
		break;
	case OP_GUEST:
		if (st->driver == DRV_MTTY)
			mtty_guest(w, &d);
		else
			ivsh_guest(w, &d);
		break;
	case OP_STORE:
		ivsh_store(w, &d);
		break;
	case NR_OPS:
		break;
	}
	op_end(w);
	if (op_on_device[op])
		dev_put(st);
}

static enum stress_op pick_op(struct worker *w)
{
	int total = 0, r, i;

	for (i = 0; i < NR_OPS; i++)
		if (i != OP_STORE || w->st->driver == DRV_IVSHMEM)
			total += op_weight[i];
	r = rnd(w) % total;
	for (i = 0; i < NR_OPS; i++) {
		if (i == OP_STORE && w->st->driver != DRV_IVSHMEM)
			continue;
		if (r < op_weight[i])
			break;
		r -= op_weight[i];
	}
	return i;
}

/*
 * A reset or a close and open of a PCI function turns its memory decoding
 * off and on, which changes the guest's memory map.  QEMU 10.0's TCG with
 * two vCPUs can abort when that happens while the other vCPU is in the
 * middle of an MMIO access ("iotlb_to_section: Assertion `section_index <
 * d->map.sections_nb' failed"), which takes the whole VM down.  So for
 * ivshmem these come at most every IVSH_TOGGLE_MS, all threads together.
 */
#define IVSH_TOGGLE_MS	250

static bool decoding_may_toggle(struct stress *st, enum stress_op op)
{
	long long next, t;

	if (st->driver != DRV_IVSHMEM || (op != OP_RESET && op != OP_REOPEN))
		return true;
	t = now_ms();
	next = atomic_load(&st->next_toggle);
	return t >= next &&
	       atomic_compare_exchange_strong(&st->next_toggle, &next,
					      t + IVSH_TOGGLE_MS);
}

static void *hammer_fn(void *arg)
{
	struct worker *w = arg;
	struct stress *st = w->st;
	enum stress_op op;

	while (!atomic_load(&st->stop)) {
		op = pick_op(w);
		if (!decoding_may_toggle(st, op))
			continue;
		if (!op_disrupts[op]) {
			hammer_one(w, op);
			continue;
		}
		/* Paired with the migrator's quiet, then inflight. */
		atomic_fetch_add(&st->inflight, 1);
		if (!atomic_load(&st->quiet))
			hammer_one(w, op);
		atomic_fetch_sub(&st->inflight, 1);
	}
	return NULL;
}

/* ---------------------------------------------------------------------- */
/* Streams folded into the state they describe. */

static __u64 get_le(const unsigned char *p, int n)
{
	__u64 v = 0;

	while (n--)
		v = v << 8 | p[n];
	return v;
}

static void image_free(struct image *img)
{
	free(img->mem);
	free(img->covered);
	memset(img, 0, sizeof(*img));
}

/* Returns 0, or a message for what makes the stream unusable. */
static const char *image_fold(struct stress *st, const struct libvmig_buf *b,
			      struct image *img)
{
	struct libvmig_stream s = {};
	const char *err = NULL;
	int i, key;

	memset(img, 0, sizeof(*img));
	if (libvmig_stream_split(b, &s))
		return "stream does not split";
	img->id = s.id;
	img->id_len = s.id_len;
	if (st->driver == DRV_IVSHMEM) {
		img->mem_size = st->bar2_size;
		img->mem = calloc(1, img->mem_size);
		img->covered = calloc(1, img->mem_size / IVSH_BLOCK);
		if (!img->mem || !img->covered) {
			err = "out of memory";
			goto out;
		}
	}
	for (i = 0; i < s.nr && !err; i++) {
		const struct libvmig_rec *r = &s.recs[i];

		if (st->driver == DRV_IVSHMEM && r->type == IVSH_REC_MEM) {
			__u64 off;
			__u32 len;

			if (r->len < 8) {
				err = "short memory record";
				break;
			}
			off = get_le(r->data, 8);
			len = r->len - 8;
			if (off > img->mem_size || len > img->mem_size - off ||
			    off % IVSH_BLOCK || len % IVSH_BLOCK) {
				err = "memory record out of BAR2";
				break;
			}
			memcpy(img->mem + off, r->data + 8, len);
			memset(img->covered + off / IVSH_BLOCK, 1,
			       len / IVSH_BLOCK);
			continue;
		}
		if (st->driver == DRV_IVSHMEM) {
			key = r->type == IVSH_REC_REGS ? 0 : -1;
		} else if (r->type >= MTTY_REC_FIRST && r->type <= MTTY_REC_LAST &&
			   r->len >= 2 && r->data[1] < 4) {
			/* Per port records carry the port in byte 1. */
			key = (r->type - MTTY_REC_FIRST) * 4;
			if (r->type != MTTY_REC_FIRST && r->type != MTTY_REC_LAST)
				key += r->data[1];
		} else {
			key = -1;
		}
		if (key < 0) {
			err = "unknown record";
			break;
		}
		img->slot[key].data = r->data;
		img->slot[key].len = r->len;
	}
	if (!err && img->covered && memchr(img->covered, 0,
					   img->mem_size / IVSH_BLOCK))
		err = "BAR2 not all in the stream";
out:
	libvmig_stream_free(&s);
	return err;
}

/* NULL when equal, else what differs. */
static const char *image_diff(const struct image *x, const struct image *y,
			      char *why, size_t len)
{
	size_t i;

	if (x->id_len != y->id_len || memcmp(x->id, y->id, x->id_len))
		return "identity";
	if (x->mem_size != y->mem_size)
		return "BAR2 size";
	if (x->mem && memcmp(x->mem, y->mem, x->mem_size)) {
		for (i = 0; x->mem[i] == y->mem[i]; i++)
			;
		snprintf(why, len, "BAR2 byte %#zx", i);
		return why;
	}
	for (i = 0; i < ARRAY_SIZE(x->slot); i++) {
		if (x->slot[i].len != y->slot[i].len ||
		    (x->slot[i].len &&
		     memcmp(x->slot[i].data, y->slot[i].data, x->slot[i].len))) {
			snprintf(why, len, "record slot %zu (%u vs %u bytes)", i,
				 x->slot[i].len, y->slot[i].len);
			return why;
		}
	}
	return NULL;
}

/* ---------------------------------------------------------------------- */
/* The migrator. */

/* The destination is ours alone: any failure there is a failure. */
static int dest_scramble(struct stress *st, struct worker *w,
			 const __u64 *offs, int n)
{
	struct libvmig_dev *b = &st->b;
	__u64 junk[IVSH_BLOCK / 8];
	__u32 mask = rnd(w);
	int i, j, ret;

	ret = do_reset(st, b, true);
	if (ret)
		return ret;
	if (st->driver == DRV_MTTY) {
		ret = uart_out(st, b, UART_SCR, rnd(w)) ?:
		      uart_out(st, b, UART_LCR, LCR_DLAB) ?:
		      uart_out(st, b, UART_DLL, rnd(w)) ?:
		      uart_out(st, b, UART_LCR, LCR_8N1 | 0x08);
		return ret;
	}
	for (i = 0; i < n; i++) {
		for (j = 0; j < (int)ARRAY_SIZE(junk); j++)
			junk[j] = rnd(w);
		ret = region_rw(st, b, BAR2, offs[i], junk, sizeof(junk), true,
				true);
		if (ret)
			return ret;
	}
	return region_rw(st, b, BAR0, IVSH_INTRMASK, &mask, 4, true, true);
}

/* Give the source state no earlier migration had. */
static void source_prepare(struct stress *st, struct worker *w, __u64 *offs,
			   int n)
{
	__u64 data[IVSH_BLOCK / 8];
	__u32 mask = rnd(w);
	struct libvmig_dev a;
	int i, j;
	__u8 v;

	dev_get(st, &a);
	if (st->driver == DRV_MTTY) {
		/* Drain what earlier rounds looped back, then loop more. */
		for (i = 0; i < 32; i++)
			if (uart_in(st, &a, UART_LSR, &v) || !(v & LSR_DR) ||
			    uart_in(st, &a, UART_RBR, &v))
				break;
		uart_out(st, &a, UART_LCR, LCR_DLAB);
		uart_out(st, &a, UART_DLL, rnd(w));
		uart_out(st, &a, UART_DLM, rnd(w));
		uart_out(st, &a, UART_LCR, LCR_8N1 | (rnd(w) & 0x3c));
		uart_out(st, &a, UART_MCR, MCR_LOOP);
		uart_out(st, &a, UART_SCR, rnd(w));
		for (i = rnd(w) % 8; i >= 0; i--)
			uart_out(st, &a, UART_RBR, rnd(w));
	} else {
		for (i = 0; i < n; i++) {
			offs[i] = (rnd(w) % (st->bar2_size / IVSH_BLOCK)) *
				  IVSH_BLOCK;
			for (j = 0; j < (int)ARRAY_SIZE(data); j++)
				data[j] = rnd(w);
			region_rw(st, &a, BAR2, offs[i], data, sizeof(data),
				  true, true);
		}
		region_rw(st, &a, BAR0, IVSH_INTRMASK, &mask, 4, true, true);
	}
	dev_put(st);
}

/* The source's device fd for one call: a reopen may come in between. */
static int source_set(struct stress *st, __u32 target, int *fd, bool strict)
{
	struct libvmig_dev a;
	int ret;

	dev_get(st, &a);
	ret = do_set(st, &a, target, fd, strict);
	dev_put(st);
	return ret;
}

/*
 * Read @fd until the end of the stream, or in pre-copy until nothing is
 * pending (-ENOMSG, which is a success then and a failure in STOP_COPY).
 */
static int read_until(struct stress *st, int fd, struct libvmig_buf *s,
		      bool precopy, bool strict)
{
	int ret = libvmig_read_some(fd, s, 0);

	if (ret == -ENOMSG && precopy)
		ret = 0;
	else if (ret == -ENOMSG)
		violation(st, "read: ENOMSG in STOP_COPY");
	outcome(st, OP_READ, -ret, strict, "migration");
	return ret;
}

/*
 * Save the source into @s: with pre-copy (most of the time, when the
 * device has it) or straight from STOP.  Returns 0 when the stream is
 * complete and the source in STOP.
 */
static int source_save(struct stress *st, struct worker *w,
		       struct libvmig_buf *s, bool quiet)
{
	bool precopy = (st->mig_flags & VFIO_MIGRATION_PRE_COPY) && rnd(w) % 4;
	struct vfio_precopy_info info;
	int fd, ret, rounds;

	if (!precopy) {
		ret = source_set(st, VFIO_DEVICE_STATE_STOP_COPY, &fd, quiet);
		if (ret)
			return ret;
		slot_put(st, 0, dup(fd), true);
		goto stop_copy;
	}

	ret = source_set(st, VFIO_DEVICE_STATE_PRE_COPY, &fd, quiet);
	if (ret)
		return ret;
	/* Hammers poll it and ask PRECOPY_INFO, and never read it. */
	slot_put(st, 0, dup(fd), true);
	for (rounds = 0; rounds < 4; rounds++) {
		ret = read_until(st, fd, s, true, quiet);
		if (ret)
			goto out_fd;
		op_begin(w, OP_INFO);
		ret = libvmig_precopy_info(fd, &info);
		op_end(w);
		if (!outcome(st, OP_INFO, -ret, quiet, "migration"))
			goto out_fd;
		if (info.flags & VFIO_PRECOPY_INFO_REINIT)
			atomic_fetch_add(&st->reinits, 1);
		/* Nothing changes a quiet source: all of it was sent. */
		if (quiet && (info.initial_bytes || info.dirty_bytes))
			violation(st, "quiet pre-copy: %llu initial, %llu dirty bytes after ENOMSG",
				  (unsigned long long)info.initial_bytes,
				  (unsigned long long)info.dirty_bytes);
		if (quiet)
			break;
	}
	if (st->mig_flags & VFIO_MIGRATION_P2P) {
		ret = source_set(st, VFIO_DEVICE_STATE_PRE_COPY_P2P, NULL, quiet);
		if (ret)
			goto out_fd;
	}
	ret = source_set(st, VFIO_DEVICE_STATE_STOP_COPY, NULL, quiet);
	if (ret)
		goto out_fd;
stop_copy:
	ret = read_until(st, fd, s, false, quiet);
	if (!ret)
		ret = source_set(st, VFIO_DEVICE_STATE_STOP, NULL, quiet);
out_fd:
	slot_release(st, 0);
	close(fd);
	return ret;
}

/* Resume @s into the destination and save it again, into @back. */
static int dest_roundtrip(struct stress *st, const struct libvmig_buf *s,
			  struct libvmig_buf *back)
{
	struct libvmig_dev *b = &st->b;
	int ret;

	ret = libvmig_resume_all(b, s, LIBVMIG_QEMU_PIECE);
	if (outcome(st, OP_WRITE, -ret, true, "resume destination"))
		ret = libvmig_save_all(b, back);
	if (!ret)
		outcome(st, OP_READ, -ret, true, "save destination");
	if (!ret)
		ret = do_set(st, b, VFIO_DEVICE_STATE_RUNNING, NULL, true);
	return ret;
}

static bool same_state(struct stress *st, const struct libvmig_buf *x,
		       const struct libvmig_buf *y, const char *what)
{
	struct image ix, iy;
	const char *err;
	char why[96];

	err = image_fold(st, x, &ix);
	if (err) {
		violation(st, "%s: source stream: %s", what, err);
		image_free(&ix);
		return false;
	}
	err = image_fold(st, y, &iy);
	if (!err)
		err = image_diff(&ix, &iy, why, sizeof(why));
	if (err)
		violation(st, "%s: %s differs", what, err);
	image_free(&ix);
	image_free(&iy);
	return !err;
}

/*
 * One migration.  Quiet: the hammers' disruptive calls pause, so every
 * step must work.  Contested: any step may fail with an allowed errno,
 * and the attempt is given up; a stream that reached its end is checked
 * all the same.
 */
static void migrate_once(struct stress *st, struct worker *w, bool quiet)
{
	struct libvmig_buf s = {}, back = {}, again = {};
	struct libvmig_dev a;
	__u64 offs[8];
	__u32 state;
	int ret;

	if (quiet) {
		atomic_store(&st->quiet, true);
		while (atomic_load(&st->inflight))
			usleep(100);
	}
	st->migrations++;

	/* From wherever the hammers left it to RUNNING. */
	dev_get(st, &a);
	ret = do_get(st, &a, &state);
	if (!ret && state != VFIO_DEVICE_STATE_RUNNING)
		ret = do_set(st, &a, VFIO_DEVICE_STATE_RUNNING, NULL, false);
	if (ret)
		ret = do_reset(st, &a, quiet);
	if (!ret && (st->mig_flags & VFIO_MIGRATION_PRE_COPY))
		libvmig_precopy_v2(&a);
	dev_put(st);
	if (ret)
		goto out_abandon;

	source_prepare(st, w, offs, ARRAY_SIZE(offs));
	ret = dest_scramble(st, w, offs, ARRAY_SIZE(offs));
	if (ret)
		goto out_abandon;
	ret = source_save(st, w, &s, quiet);
	if (ret)
		goto out_abandon;

	/* A complete stream: it must resume into the same state. */
	if (quiet) {
		/* The source, still in STOP, saves to the same state. */
		dev_get(st, &a);
		ret = libvmig_save_all(&a, &again);
		dev_put(st);
		if (outcome(st, OP_READ, -ret, true, "save source again"))
			same_state(st, &s, &again, "source saved again");
	}
	ret = dest_roundtrip(st, &s, &back);
	if (!ret && same_state(st, &s, &back, "destination")) {
		st->checked++;
		st->quiet_checked += quiet;
	}
	if (!st->sample.len && !ret) {
		st->sample = s;
		memset(&s, 0, sizeof(s));
	}
	source_set(st, VFIO_DEVICE_STATE_RUNNING, NULL, quiet);
	goto out;

out_abandon:
	if (quiet)
		violation(st, "quiet migration failed: %d", ret);
	st->abandoned++;
out:
	atomic_store(&st->quiet, false);
	libvmig_buf_free(&s);
	libvmig_buf_free(&back);
	libvmig_buf_free(&again);
}

static void *migrator_fn(void *arg)
{
	struct worker *w = arg;
	struct stress *st = w->st;

	long long t, quiet_ms = 0, contested_ms = 0;
	bool quiet;

	/*
	 * Half of the time quiet, half contested, whatever a migration
	 * costs: an ivshmem save takes long, and when it is contested it is
	 * mostly given up early.
	 */
	while (!atomic_load(&st->stop)) {
		quiet = quiet_ms < contested_ms;
		t = now_ms();
		migrate_once(st, w, quiet);
		if (!quiet)
			usleep(rnd(w) % 20000);
		t = now_ms() - t;
		if (quiet)
			quiet_ms += t;
		else
			contested_ms += t;
	}
	return NULL;
}

/* ---------------------------------------------------------------------- */
/* Running the threads, on time. */

static void on_sigusr1(int sig)
{
}

static void worker_start(struct stress *st, struct worker *w, int id,
			 void *(*fn)(void *))
{
	w->st = st;
	w->id = id;
	w->rnd = 0x9e3779b97f4a7c15ull * (id + 1) ^ (__u64)now_ms() << 16 ^ getpid();
	atomic_store(&w->op, -1);
	w->started = !pthread_create(&w->thread, NULL, fn, w);
	if (!w->started)
		violation(st, "thread %d not created", id);
}

/* Calls that take too long are hangs. */

/* Where every thread of ours is in the kernel, once, for a hang. */
static void dump_stacks(struct stress *st)
{
	char path[300], line[256];
	struct dirent *e;
	DIR *dir;
	FILE *f;

	if (atomic_exchange(&st->dumped, true))
		return;
	dir = opendir("/proc/self/task");
	if (!dir)
		return;
	while ((e = readdir(dir))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/stack",
			 e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		ksft_print_msg("kernel stack of thread %s:\n", e->d_name);
		while (fgets(line, sizeof(line), f))
			ksft_print_msg("  %s", line);
		fclose(f);
	}
	closedir(dir);
	/* And the kernel's view: blocked tasks and every CPU. */
	if (!libvmig_write_file("/proc/sysrq-trigger", "w") &&
	    !libvmig_write_file("/proc/sysrq-trigger", "l")) {
		sleep(2);
		fflush(stdout);
		if (system("dmesg | tail -n 400 | sed 's/^/# dmesg: /'"))
			ksft_print_msg("dmesg failed\n");
	}
}

/* Calls that take too long are hangs. */

static void watch(struct stress *st, struct worker *w, long long t)
{
	int op = atomic_load(&w->op);

	if (op >= 0 && t - atomic_load(&w->since) > STUCK_SECONDS * 1000) {
		violation(st, "thread %d: %s blocked for more than %d s", w->id,
			  op_names[op], STUCK_SECONDS);
		atomic_store(&w->since, t);
		dump_stacks(st);
	}
}

/* Stop every thread: a blocked call is interrupted; none may stay. */
static bool workers_stop(struct stress *st, int grace)
{
	struct worker *all[NR_HAMMERS + 1];
	long long end = now_ms() + grace * 1000LL;
	struct timespec ts;
	bool ok = true;
	int i;

	for (i = 0; i < NR_HAMMERS; i++)
		all[i] = &st->hammers[i];
	all[NR_HAMMERS] = &st->migrator;
	atomic_store(&st->stop, true);
	for (i = 0; i <= NR_HAMMERS; i++) {
		struct worker *w = all[i];

		while (w->started) {
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 200 * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			if (!pthread_timedjoin_np(w->thread, NULL, &ts)) {
				w->started = false;
				break;
			}
			watch(st, w, now_ms());
			if (now_ms() > end) {
				dump_stacks(st);
				violation(st, "thread %d did not exit (in %s)",
					  w->id, atomic_load(&w->op) >= 0 ?
					  op_names[atomic_load(&w->op)] : "-");
				ok = false;
				break;
			}
			/* The migrator finishes its round; hammers stop now. */
			if (w != &st->migrator || now_ms() > end - 30000) {
				atomic_store(&st->stopping, true);
				pthread_kill(w->thread, SIGUSR1);
			}
		}
	}
	return ok;
}

/* ---------------------------------------------------------------------- */
/* sysfs */

struct remover {
	pthread_t thread;
	char path[PATH_MAX];
	char val[64];
	atomic_bool done;
	int ret;
};

static void *remover_fn(void *arg)
{
	struct remover *r = arg;

	r->ret = libvmig_write_file(r->path, r->val);
	atomic_store(&r->done, true);
	return NULL;
}

/* ---------------------------------------------------------------------- */
/* The test */

FIXTURE(stress) {
	struct stress *st;
};

FIXTURE_VARIANT(stress) {
	const char *a, *b;
	int driver;
};

FIXTURE_VARIANT_ADD(stress, mtty) {
	.a = "VMIG_MTTY1", .b = "VMIG_MTTY1_B", .driver = DRV_MTTY,
};

FIXTURE_VARIANT_ADD(stress, ivshmem) {
	.a = "VMIG_IVSHMEM_A", .b = "VMIG_IVSHMEM_B", .driver = DRV_IVSHMEM,
};

FIXTURE_SETUP(stress)
{
	const char *a = getenv(variant->a), *b = getenv(variant->b);
	pthread_rwlockattr_t attr;
	struct vfio_region_info ri;
	struct stress *st;
	int i;

	if (!a || !b)
		SKIP(return, "%s or %s not set", variant->a, variant->b);
	st = calloc(1, sizeof(*st));
	ASSERT_NE(NULL, st);
	self->st = st;
	st->driver = variant->driver;
	st->path_a = a;
	st->path_b = b;
	st->a.fd = -1;
	st->b.fd = -1;
	pthread_rwlockattr_init(&attr);
	/* Or a reopen would wait for a pause that never comes. */
	pthread_rwlockattr_setkind_np(&attr,
				      PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&st->dev_lock, &attr);
	pthread_mutex_init(&st->pool_lock, NULL);
	pthread_mutex_init(&st->log_lock, NULL);
	for (i = 0; i < NR_SLOTS; i++)
		st->slot_fd[i] = -1;

	ASSERT_EQ(0, libvmig_dev_open(&st->a, a));
	ASSERT_EQ(0, libvmig_dev_open(&st->b, b));
	ASSERT_EQ(0, libvmig_reset(&st->a));
	ASSERT_EQ(0, libvmig_reset(&st->b));
	ASSERT_EQ(0, libvmig_mig_flags(&st->a, &st->mig_flags));
	ASSERT_EQ(0, libvmig_arcs(&st->a, &st->arcs));
	if (st->driver == DRV_IVSHMEM) {
		ASSERT_EQ(0, libvmig_region_info(&st->a, BAR2, &ri));
		st->bar2_size = ri.size;
		ASSERT_EQ(0, libvmig_region_info(&st->b, BAR2, &ri));
		ASSERT_EQ(st->bar2_size, ri.size);
		ASSERT_LE(IVSH_BLOCK * 16, st->bar2_size);
	}
}

FIXTURE_TEARDOWN(stress)
{
	struct stress *st = self->st;
	int i;

	if (!st)
		return;
	for (i = 0; i < NR_SLOTS; i++)
		if (st->slot_fd[i] >= 0)
			close(st->slot_fd[i]);
	libvmig_dev_close(&st->a);
	libvmig_dev_close(&st->b);
	libvmig_buf_free(&st->sample);
	free(st);
}

static void print_stats(struct stress *st)
{
	long long total = 0, n;
	int op, e;

	for (op = 0; op < NR_OPS; op++) {
		n = atomic_load(&st->ops[op]);
		total += n;
		if (!n)
			continue;
		ksft_print_msg("%-14s %9lld calls %9.1f/s\n", op_names[op], n,
			       n / st->seconds);
		for (e = 1; e < MAX_ERRNO; e++)
			if (atomic_load(&st->errs[op][e]))
				ksft_print_msg("%-14s   %9lld x %s\n", "",
					       (long long)atomic_load(&st->errs[op][e]),
					       strerrorname_np(e) ?: "?");
	}
	ksft_print_msg("%-14s %9lld calls %9.1f/s in %.1f s\n", "total", total,
		       total / st->seconds, st->seconds);
	ksft_print_msg("PRECOPY_INFO reported REINIT %lld times\n",
		       (long long)atomic_load(&st->reinits));
	ksft_print_msg("migrations: %ld tried, %ld checked identical (%ld quiet), %ld given up\n",
		       st->migrations, st->checked, st->quiet_checked,
		       st->abandoned);
}

static void report_violations(struct __test_metadata *_metadata,
			      struct stress *st)
{
	int i;

	for (i = 0; i < st->nr_violations && i < MAX_VIOLATIONS; i++)
		ksft_print_msg("violation: %s\n", st->violations[i]);
	EXPECT_EQ(0, st->nr_violations);
	st->nr_violations = 0;
}

/* One quiet migration, by the test thread, that must work and check. */
static void checked_migration(struct __test_metadata *_metadata,
			      struct stress *st)
{
	long before = st->quiet_checked;

	migrate_once(st, &st->migrator, true);
	report_violations(_metadata, st);
	ASSERT_EQ(before + 1, st->quiet_checked);
}

/*
 * Remove the source (mdev remove, PCI unbind) while its device fd, a
 * mapping of BAR2 and data fds are open: removal waits for the device fd
 * and finishes once it is closed; then bring the device back.
 */
static void remove_and_restore(struct __test_metadata *_metadata,
			       struct stress *st)
{
	char link[PATH_MAX + 16], target[PATH_MAX], create[PATH_MAX + 16];
	char name[64], driver[64] = "";
	struct remover r = {};
	struct libvmig_dev *a = &st->a;
	struct timespec ts;
	size_t map_len = 0;
	void *map = NULL;
	int fd, live = -1, i;
	char byte;

	snprintf(name, sizeof(name), "%s", a->name);
	if (st->driver == DRV_MTTY) {
		snprintf(link, sizeof(link), "%s/mdev_type", st->path_a);
		ASSERT_NE(NULL, realpath(link, target));
		snprintf(create, sizeof(create), "%s/create", target);
		snprintf(r.path, sizeof(r.path), "%s/remove", st->path_a);
		snprintf(r.val, sizeof(r.val), "1");
	} else {
		snprintf(link, sizeof(link), "%s/driver", st->path_a);
		ASSERT_NE(NULL, realpath(link, target));
		snprintf(driver, sizeof(driver), "%s", basename(target));
		snprintf(r.path, sizeof(r.path), "%s/driver/unbind", st->path_a);
		snprintf(r.val, sizeof(r.val), "%s", name);
		map = libvmig_region_mmap(a, BAR2, &map_len);
		ASSERT_NE(NULL, map);
	}

	/*
	 * A live saving session besides the stale fds of the stress.  Its
	 * requests may have left the device in ERROR, or RESUMING with a
	 * stream that cannot load (RUNNING is then refused with EINVAL): a
	 * reset leaves either.
	 */
	ASSERT_EQ(0, libvmig_reset(a));
	ASSERT_EQ(0, libvmig_set_state(a, VFIO_DEVICE_STATE_RUNNING, NULL));
	ASSERT_EQ(0, libvmig_set_state(a, VFIO_DEVICE_STATE_PRE_COPY, &live));

	ASSERT_EQ(0, pthread_create(&r.thread, NULL, remover_fn, &r));
	usleep(500 * 1000);
	EXPECT_FALSE(atomic_load(&r.done)) TH_LOG("%s did not wait", r.path);
	/* Still a device while it waits: its data fd answers. */
	fd = live;
	EXPECT_EQ(0, poll(&(struct pollfd){ .fd = fd, .events = POLLIN }, 1, 0) < 0);

	/* Close what holds the device: removal completes. */
	if (map)
		munmap(map, map_len);
	libvmig_dev_close(a);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 60;
	ASSERT_EQ(0, pthread_timedjoin_np(r.thread, NULL, &ts))
		TH_LOG("%s still blocked after the device fd closed", r.path);
	EXPECT_EQ(0, r.ret);

	/* Data fds outlive it, and say so. */
	for (i = -1; i < NR_SLOTS; i++) {
		struct vfio_precopy_info info;

		fd = i < 0 ? live : st->slot_fd[i];
		if (fd < 0)
			continue;
		if (i < 0 || rnd(&st->migrator) & 1) {
			EXPECT_EQ(-1, read(fd, &byte, 1));
			EXPECT_TRUE(errno == ENODEV || errno == EBADF);
		}
		EXPECT_TRUE(libvmig_precopy_info(fd, &info) == -ENODEV ||
			    libvmig_precopy_info(fd, &info) == -EINVAL);
		close(fd);
		if (i >= 0)
			st->slot_fd[i] = -1;
	}
	close(live);

	/* Bring it back as vm-devices.sh made it. */
	if (st->driver == DRV_MTTY) {
		EXPECT_NE(0, access(st->path_a, F_OK));
		ASSERT_EQ(0, libvmig_write_file(create, name));
	} else {
		char probe[PATH_MAX + 32];

		snprintf(link, sizeof(link), "%s/driver", st->path_a);
		EXPECT_NE(0, access(link, F_OK));
		snprintf(probe, sizeof(probe), "%s/driver_override", st->path_a);
		ASSERT_EQ(0, libvmig_write_file(probe, driver));
		ASSERT_EQ(0, libvmig_write_file("/sys/bus/pci/drivers_probe", name));
		ASSERT_NE(NULL, realpath(link, target));
		ASSERT_STREQ(driver, basename(target));
	}
	ASSERT_EQ(0, libvmig_dev_open(a, st->path_a));
}

/* Swap source and destination. */
static void swap_devices(struct stress *st)
{
	struct libvmig_dev t = st->a;
	const char *p = st->path_a;

	st->a = st->b;
	st->b = t;
	st->path_a = st->path_b;
	st->path_b = p;
}

TEST_F_TIMEOUT(stress, run, 60 + 600)
{
	struct stress *st = self->st;
	long long start, t;
	int i;

	signal(SIGUSR1, SIG_IGN);
	ASSERT_EQ(0, sigaction(SIGUSR1, &(struct sigaction){
		.sa_handler = on_sigusr1 }, NULL));
	ASSERT_EQ(0, sigaction(SIGBUS, &(struct sigaction){
		.sa_handler = on_sigbus, .sa_flags = SA_NODEFER }, NULL));
	st->migrator.st = st;
	st->migrator.id = NR_HAMMERS;
	st->migrator.rnd = 0x2545f4914f6cdd1dull ^ (__u64)now_ms();
	atomic_store(&st->migrator.op, -1);

	/* One quiet migration first: a sound stream for the hammers. */
	checked_migration(_metadata, st);
	ASSERT_NE(0, st->sample.len);

	start = now_ms();
	for (i = 0; i < NR_HAMMERS; i++)
		worker_start(st, &st->hammers[i], i, hammer_fn);
	worker_start(st, &st->migrator, NR_HAMMERS, migrator_fn);
	while ((t = now_ms()) - start < stress_seconds * 1000LL) {
		usleep(100 * 1000);
		for (i = 0; i < NR_HAMMERS; i++)
			watch(st, &st->hammers[i], t);
		watch(st, &st->migrator, t);
	}
	/* The migrator may be in the middle of a long save: give it time. */
	EXPECT_TRUE(workers_stop(st, 300));
	st->seconds = (now_ms() - start) / 1000.0;
	atomic_store(&st->stopping, false);
	print_stats(st);
	report_violations(_metadata, st);
	EXPECT_LT(0, st->checked);

	/* The device goes and comes back, and still migrates both ways. */
	remove_and_restore(_metadata, st);
	checked_migration(_metadata, st);
	swap_devices(st);
	checked_migration(_metadata, st);
	swap_devices(st);
	ksft_print_msg("after removal: 2 migrations checked byte-identical\n");
}

/* -d SECONDS, else $VMIG_STRESS_SECONDS; the rest is the harness's. */
int main(int argc, char **argv)
{
	const char *env = getenv("VMIG_STRESS_SECONDS");
	int i, j;

	if (env)
		stress_seconds = atoi(env);
	for (i = j = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-d") && i + 1 < argc) {
			stress_seconds = atoi(argv[++i]);
			continue;
		}
		argv[j++] = argv[i];
	}
	argc = j;
	argv[argc] = NULL;
	if (stress_seconds < 1)
		stress_seconds = 1;
	/* Above the run, the end phase and a slow migration or two. */
	_stress_run_object->timeout = stress_seconds + 600;
	return test_harness_run(argc, argv);
}
