// SPDX-License-Identifier: GPL-2.0-only
/*
 * The migration uAPI of any vmig device, through the standard VFIO ioctls
 * only: every (from, to) request, data_fd rules, bad input, reset in the
 * middle of a session, unwinds seen through fault injection, pre-copy and
 * the arc query.  The devices come from the environment (see VARIANTS);
 * a variant whose device is absent is skipped.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include "libvmig.h"
#include "../kselftest_harness.h"

#define ER	VFIO_DEVICE_STATE_ERROR
#define ST	VFIO_DEVICE_STATE_STOP
#define RU	VFIO_DEVICE_STATE_RUNNING
#define SC	VFIO_DEVICE_STATE_STOP_COPY
#define RE	VFIO_DEVICE_STATE_RESUMING
#define RP	VFIO_DEVICE_STATE_RUNNING_P2P
#define PC	VFIO_DEVICE_STATE_PRE_COPY
#define PP	VFIO_DEVICE_STATE_PRE_COPY_P2P

FIXTURE(dev) {
	struct libvmig_dev d;
	__u64 flags;
	struct libvmig_buf stream;	/* a full STOP_COPY stream of this device */
};

FIXTURE_VARIANT(dev) {
	const char *env;	/* names the variable with the sysfs path */
};

FIXTURE_VARIANT_ADD(dev, mtty1) { .env = "VMIG_MTTY1" };
FIXTURE_VARIANT_ADD(dev, mtty2) { .env = "VMIG_MTTY2" };
FIXTURE_VARIANT_ADD(dev, ivshmem) { .env = "VMIG_IVSHMEM_A" };

/* Back to RUNNING the one way that always works. */
static void back_to_running(struct __test_metadata *_metadata,
			    struct libvmig_dev *d)
{
	__u32 s;

	ASSERT_EQ(0, libvmig_reset(d));
	ASSERT_EQ(0, libvmig_get_state(d, &s));
	ASSERT_EQ(RU, s);
}

FIXTURE_SETUP(dev)
{
	const char *path = getenv(variant->env);

	if (!path || !*path)
		SKIP(return, "%s not set: no such device in this run", variant->env);
	ASSERT_EQ(0, libvmig_dev_open(&self->d, path)) TH_LOG("open %s", path);
	ASSERT_EQ(0, libvmig_mig_flags(&self->d, &self->flags));
	ASSERT_NE(0, self->flags & VFIO_MIGRATION_STOP_COPY);
	back_to_running(_metadata, &self->d);
	ASSERT_EQ(0, libvmig_save_all(&self->d, &self->stream));
	back_to_running(_metadata, &self->d);
}

FIXTURE_TEARDOWN(dev)
{
	if (self->d.fd >= 0)
		libvmig_reset(&self->d);
	libvmig_dev_close(&self->d);
	libvmig_buf_free(&self->stream);
}

/* The name of the arc to fail for an injected fault, with the P2P joins. */
static void arc_spec(char *buf, size_t size, __u32 from, __u32 to,
		     const char *extra)
{
	snprintf(buf, size, "%s %s 5 %s", libvmig_state_str(from),
		 libvmig_state_str(to), extra);
}

/*
 * Put the device in @from the way userspace would.  ERROR is reached by an
 * injected broken arc.  Returns the session fd of @from, if any, in *@fd.
 */
static int reach(struct libvmig_dev *d, __u64 flags, __u32 from, int *fd)
{
	char spec[64];
	int ret;

	*fd = -1;
	if (from == ER) {
		bool p2p = flags & VFIO_MIGRATION_P2P;

		arc_spec(spec, sizeof(spec), RU, p2p ? RP : ST, "broken");
		ret = libvmig_fail_arc(d, spec);
		if (ret)
			return ret;
		ret = libvmig_set_state(d, ST, NULL);
		return ret == -EIO ? 0 : (ret ? ret : -EPROTO);
	}
	return libvmig_set_state(d, from, fd);
}

/* Is a session fd still alive?  Dead ones say -ENODEV to everything. */
static int fd_errno(int fd, bool saving)
{
	char byte = 0;
	ssize_t n;

	if (saving) {
		n = read(fd, &byte, 1);
		return n < 0 ? -errno : 0;
	}
	n = write(fd, &byte, 0);
	if (n < 0)
		return -errno;
	/* A zero-byte write proves nothing; poll tells a dead session. */
	{
		struct pollfd p = { .fd = fd, .events = POLLOUT };

		if (poll(&p, 1, 0) == 1 && (p.revents & POLLHUP))
			return -ENODEV;
	}
	return 0;
}

static bool refused(__u64 flags, __u32 from, __u32 to)
{
	if (from == ER || to == ER || to >= LIBVMIG_NR_STATES)
		return true;
	if (!libvmig_state_supported(flags, to))
		return true;
	return from == SC && (to == PC || to == PP);
}

/* Does a session that was open in @from survive a move to @to? */
static bool session_survives(__u32 from, __u32 to)
{
	if (libvmig_in_saving_group(from))
		return libvmig_in_saving_group(to);
	return from == RE && to == RE;
}

static void check_pairs_from(struct __test_metadata *_metadata,
			     struct libvmig_dev *d, __u64 flags,
			     const struct libvmig_buf *stream, __u32 from)
{
	__u32 to, now;
	int ret;

	for (to = 0; to < LIBVMIG_NR_STATES; to++) {
		int old_fd, new_fd;

		back_to_running(_metadata, d);
		ret = reach(d, flags, from, &old_fd);
		if (from != ER && !libvmig_state_supported(flags, from)) {
			EXPECT_EQ(-EINVAL, ret);
			return;
		}
		ASSERT_EQ(0, ret) TH_LOG("reaching %s", libvmig_state_str(from));

		/* Leaving RESUMING needs a whole stream: give it a real one. */
		if (from == RE)
			ASSERT_EQ(0, libvmig_write_stream(old_fd, stream->data,
							  stream->len,
						       LIBVMIG_QEMU_PIECE));

		ret = libvmig_set_state(d, to, &new_fd);
		ASSERT_EQ(0, libvmig_get_state(d, &now));
		if (refused(flags, from, to)) {
			EXPECT_EQ(-EINVAL, ret) TH_LOG("%s -> %s",
						       libvmig_state_str(from),
						       libvmig_state_str(to));
			EXPECT_EQ(from, now);
			EXPECT_EQ(-1, new_fd);
		} else {
			EXPECT_EQ(0, ret) TH_LOG("%s -> %s", libvmig_state_str(from),
						 libvmig_state_str(to));
			EXPECT_EQ(to, now);
			/* A data_fd exactly when the last arc starts a session. */
			EXPECT_EQ(from != to && libvmig_starts_session(from, to),
				  new_fd >= 0) TH_LOG("%s -> %s data_fd %d",
						      libvmig_state_str(from),
						      libvmig_state_str(to), new_fd);
			if (old_fd >= 0 && from != to)
				EXPECT_EQ(session_survives(from, to) ? 0 : -ENODEV,
					  fd_errno(old_fd, from != RE))
					TH_LOG("old data_fd after %s -> %s",
					       libvmig_state_str(from),
					       libvmig_state_str(to));
		}
		if (old_fd >= 0)
			close(old_fd);
		if (new_fd >= 0)
			close(new_fd);
	}
	back_to_running(_metadata, d);
}

TEST_F(dev, pairs_from_ERROR)
{
	check_pairs_from(_metadata, &self->d, self->flags, &self->stream,
			 VFIO_DEVICE_STATE_ERROR);
}

TEST_F(dev, pairs_from_STOP)
{
	check_pairs_from(_metadata, &self->d, self->flags, &self->stream,
			 VFIO_DEVICE_STATE_STOP);
}

TEST_F(dev, pairs_from_RUNNING)
{
	check_pairs_from(_metadata, &self->d, self->flags, &self->stream,
			 VFIO_DEVICE_STATE_RUNNING);
}

TEST_F(dev, pairs_from_STOP_COPY)
{
	check_pairs_from(_metadata, &self->d, self->flags, &self->stream,
			 VFIO_DEVICE_STATE_STOP_COPY);
}

TEST_F(dev, pairs_from_RESUMING)
{
	check_pairs_from(_metadata, &self->d, self->flags, &self->stream,
			 VFIO_DEVICE_STATE_RESUMING);
}

TEST_F(dev, pairs_from_RUNNING_P2P)
{
	check_pairs_from(_metadata, &self->d, self->flags, &self->stream,
			 VFIO_DEVICE_STATE_RUNNING_P2P);
}

TEST_F(dev, pairs_from_PRE_COPY)
{
	check_pairs_from(_metadata, &self->d, self->flags, &self->stream,
			 VFIO_DEVICE_STATE_PRE_COPY);
}

TEST_F(dev, pairs_from_PRE_COPY_P2P)
{
	check_pairs_from(_metadata, &self->d, self->flags, &self->stream,
			 VFIO_DEVICE_STATE_PRE_COPY_P2P);
}

/* Targets that are not states, and broken requests, change nothing. */
TEST_F(dev, bad_requests)
{
	struct vfio_device_feature_mig_state m = { .device_state = ST };
	static const __u32 bad[] = { ER, LIBVMIG_NR_STATES, 255, 0x80000000u,
				     0xffffffffu };
	unsigned int i;
	__u32 s;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		EXPECT_EQ(-EINVAL, libvmig_set_state(&self->d, bad[i], NULL));
		ASSERT_EQ(0, libvmig_get_state(&self->d, &s));
		EXPECT_EQ(RU, s);
	}
	/* argsz too short for data_fd. */
	EXPECT_EQ(-EINVAL, libvmig_feature_argsz(&self->d, VFIO_DEVICE_FEATURE_SET |
					      VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
					      &m, sizeof(m),
					      sizeof(struct vfio_device_feature) + 4));
	/* Unknown flag bits, and GET with SET. */
	EXPECT_EQ(-EINVAL, libvmig_feature(&self->d, VFIO_DEVICE_FEATURE_SET |
					VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE |
					(1u << 20), &m, sizeof(m)));
	EXPECT_EQ(-EINVAL, libvmig_feature(&self->d, VFIO_DEVICE_FEATURE_SET |
					VFIO_DEVICE_FEATURE_GET |
					VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
					&m, sizeof(m)));
	ASSERT_EQ(0, libvmig_get_state(&self->d, &s));
	EXPECT_EQ(RU, s);
}

/* Device info, data size, the arcs a device with these flags has. */
TEST_F(dev, features)
{
	struct vmig_device_feature_arcs arcs;
	static const __u32 uapi_arcs[][2] = {
		{ RU, RP }, { RU, PC }, { RP, RU }, { RP, ST }, { RP, PP },
		{ ST, RP }, { ST, SC }, { ST, RE }, { SC, ST }, { RE, ST },
		{ PC, RU }, { PC, PP }, { PP, PC }, { PP, RP }, { PP, SC },
	};
	bool p2p = self->flags & VFIO_MIGRATION_P2P;
	__u64 want = 0, bytes = 0;
	unsigned int i;

	EXPECT_NE(0, self->d.info.flags & VFIO_DEVICE_FLAGS_RESET);
	ASSERT_EQ(0, libvmig_data_size(&self->d, &bytes));
	EXPECT_LT(0, bytes);

	for (i = 0; i < ARRAY_SIZE(uapi_arcs); i++)
		if (libvmig_state_supported(self->flags, uapi_arcs[i][0]) &&
		    libvmig_state_supported(self->flags, uapi_arcs[i][1]))
			want |= 1ull << VMIG_ARC_BIT(uapi_arcs[i][0],
						     uapi_arcs[i][1]);
	if (!p2p) {
		want |= 1ull << VMIG_ARC_BIT(RU, ST) | 1ull << VMIG_ARC_BIT(ST, RU);
		if (self->flags & VFIO_MIGRATION_PRE_COPY)
			want |= 1ull << VMIG_ARC_BIT(PC, SC);
	}
	ASSERT_EQ(0, libvmig_arcs(&self->d, &arcs));
	EXPECT_EQ(want, arcs.arcs);
	EXPECT_EQ(self->flags, arcs.migration_flags);
	EXPECT_EQ(RU, arcs.device_state);
}

/* Garbage, truncated and corrupt streams: clean errors, defined states. */
TEST_F(dev, bad_streams)
{
	unsigned char junk[4096];
	size_t len = self->stream.len, mid = len / 2;
	__u32 s;
	int fd;

	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = i * 131 + 7;

	/* Garbage. */
	ASSERT_EQ(0, libvmig_set_state(&self->d, RE, &fd));
	EXPECT_EQ(-EINVAL, libvmig_write_stream(fd, junk, sizeof(junk), 0));
	EXPECT_EQ(-EINVAL, libvmig_write_stream(fd, self->stream.data, len, 0));
	EXPECT_EQ(-EINVAL, libvmig_set_state(&self->d, ST, NULL));
	ASSERT_EQ(0, libvmig_get_state(&self->d, &s));
	EXPECT_EQ(RE, s);
	back_to_running(_metadata, &self->d);
	EXPECT_EQ(-ENODEV, fd_errno(fd, false));
	close(fd);

	/* Truncated, then completed. */
	ASSERT_EQ(0, libvmig_set_state(&self->d, RE, &fd));
	ASSERT_EQ(0, libvmig_write_stream(fd, self->stream.data, len - 1, 1000));
	EXPECT_EQ(-EINVAL, libvmig_set_state(&self->d, RU, NULL));
	ASSERT_EQ(0, libvmig_get_state(&self->d, &s));
	EXPECT_EQ(RE, s);
	ASSERT_EQ(0, libvmig_write_stream(fd, self->stream.data + len - 1, 1, 0));
	EXPECT_EQ(0, libvmig_set_state(&self->d, RU, NULL));
	close(fd);

	/* One byte changed in the middle. */
	self->stream.data[mid] ^= 0x40;
	ASSERT_EQ(0, libvmig_set_state(&self->d, RE, &fd));
	EXPECT_EQ(-EINVAL, libvmig_write_stream(fd, self->stream.data, len, 4096));
	EXPECT_EQ(-EINVAL, libvmig_set_state(&self->d, ST, NULL));
	self->stream.data[mid] ^= 0x40;
	close(fd);
	back_to_running(_metadata, &self->d);

	/* Bytes after the end. */
	ASSERT_EQ(0, libvmig_set_state(&self->d, RE, &fd));
	ASSERT_EQ(0, libvmig_write_stream(fd, self->stream.data, len, 0));
	EXPECT_EQ(-EINVAL, libvmig_write_stream(fd, junk, 1, 0));
	EXPECT_EQ(-EINVAL, libvmig_set_state(&self->d, ST, NULL));
	close(fd);
	back_to_running(_metadata, &self->d);
}

/* A reset in the middle of a session ends it and returns to RUNNING. */
TEST_F(dev, reset_mid_session)
{
	struct libvmig_buf part = {};
	__u32 s;
	int fd;

	ASSERT_EQ(0, libvmig_set_state(&self->d, SC, &fd));
	EXPECT_EQ(1, libvmig_read_some(fd, &part, 16));
	ASSERT_EQ(0, libvmig_reset(&self->d));
	ASSERT_EQ(0, libvmig_get_state(&self->d, &s));
	EXPECT_EQ(RU, s);
	EXPECT_EQ(-ENODEV, fd_errno(fd, true));
	close(fd);
	libvmig_buf_free(&part);

	ASSERT_EQ(0, libvmig_set_state(&self->d, RE, &fd));
	ASSERT_EQ(0, libvmig_write_stream(fd, self->stream.data,
					  self->stream.len / 2, 0));
	ASSERT_EQ(0, libvmig_reset(&self->d));
	EXPECT_EQ(-ENODEV, fd_errno(fd, false));
	close(fd);
	/* And the device migrates normally afterwards. */
	ASSERT_EQ(0, libvmig_set_state(&self->d, RE, &fd));
	ASSERT_EQ(0, libvmig_write_stream(fd, self->stream.data,
					  self->stream.len, 0));
	EXPECT_EQ(0, libvmig_set_state(&self->d, RU, NULL));
	close(fd);
}

/*
 * Unwind, seen from userspace: an injected arc failure walks the device
 * back to where the request started, or into ERROR when the walk had left
 * the session it started in; the arc query reports it.
 */
TEST_F(dev, unwind)
{
	bool p2p = self->flags & VFIO_MIGRATION_P2P;
	bool pre = self->flags & VFIO_MIGRATION_PRE_COPY;
	struct vmig_device_feature_arcs arcs;
	char spec[64];
	__u32 s;
	int fd;

	/* RUNNING -> STOP_COPY failing in its last arc: back to RUNNING. */
	arc_spec(spec, sizeof(spec), ST, SC, "");
	ASSERT_EQ(0, libvmig_fail_arc(&self->d, spec));
	EXPECT_EQ(-EIO, libvmig_set_state(&self->d, SC, &fd));
	EXPECT_EQ(-1, fd);
	ASSERT_EQ(0, libvmig_get_state(&self->d, &s));
	EXPECT_EQ(RU, s);
	ASSERT_EQ(0, libvmig_arcs(&self->d, &arcs));
	EXPECT_EQ(RU, arcs.fail_start);
	EXPECT_EQ(SC, arcs.fail_target);
	EXPECT_EQ(ST, arcs.fail_from);
	EXPECT_EQ(SC, arcs.fail_to);
	EXPECT_EQ(EIO, arcs.fail_errno);
	EXPECT_EQ(VMIG_FAIL_UNWOUND, arcs.fail_result);
	EXPECT_EQ(VMIG_FAIL_INJECTED, arcs.fail_flags);

	/* The first arc failing: nothing to undo. */
	arc_spec(spec, sizeof(spec), RU, p2p ? RP : ST, "");
	ASSERT_EQ(0, libvmig_fail_arc(&self->d, spec));
	EXPECT_EQ(-EIO, libvmig_set_state(&self->d, ST, NULL));
	ASSERT_EQ(0, libvmig_get_state(&self->d, &s));
	EXPECT_EQ(RU, s);

	/* A broken device: ERROR at once, only a reset leaves it. */
	ASSERT_EQ(0, libvmig_fail_arc(&self->d, strcat(spec, "broken")));
	EXPECT_EQ(-EIO, libvmig_set_state(&self->d, ST, NULL));
	ASSERT_EQ(0, libvmig_get_state(&self->d, &s));
	EXPECT_EQ(ER, s);
	EXPECT_EQ(-EINVAL, libvmig_set_state(&self->d, RU, NULL));
	back_to_running(_metadata, &self->d);

	/* RESUMING -> RUNNING failing after RESUMING -> STOP: ERROR. */
	ASSERT_EQ(0, libvmig_set_state(&self->d, RE, &fd));
	ASSERT_EQ(0, libvmig_write_stream(fd, self->stream.data,
					  self->stream.len, 0));
	arc_spec(spec, sizeof(spec), ST, p2p ? RP : RU, "");
	ASSERT_EQ(0, libvmig_fail_arc(&self->d, spec));
	EXPECT_EQ(-EIO, libvmig_set_state(&self->d, RU, NULL));
	ASSERT_EQ(0, libvmig_get_state(&self->d, &s));
	EXPECT_EQ(ER, s);
	ASSERT_EQ(0, libvmig_arcs(&self->d, &arcs));
	EXPECT_EQ(VMIG_FAIL_ERROR, arcs.fail_result);
	close(fd);
	back_to_running(_metadata, &self->d);

	if (!pre)
		return;
	/* PRE_COPY -> STOP failing after leaving the saving group: ERROR. */
	ASSERT_EQ(0, libvmig_set_state(&self->d, PC, &fd));
	arc_spec(spec, sizeof(spec), p2p ? RP : RU, ST, "");
	ASSERT_EQ(0, libvmig_fail_arc(&self->d, spec));
	EXPECT_EQ(-EIO, libvmig_set_state(&self->d, ST, NULL));
	ASSERT_EQ(0, libvmig_get_state(&self->d, &s));
	EXPECT_EQ(ER, s);
	EXPECT_EQ(-ENODEV, fd_errno(fd, true));
	close(fd);
	back_to_running(_metadata, &self->d);

	/* PRE_COPY -> STOP_COPY failing inside the group: back to PRE_COPY. */
	if (!p2p)
		return;
	ASSERT_EQ(0, libvmig_set_state(&self->d, PC, &fd));
	arc_spec(spec, sizeof(spec), PP, SC, "");
	ASSERT_EQ(0, libvmig_fail_arc(&self->d, spec));
	EXPECT_EQ(-EIO, libvmig_set_state(&self->d, SC, NULL));
	ASSERT_EQ(0, libvmig_get_state(&self->d, &s));
	EXPECT_EQ(PC, s);
	/* The session survived the unwind. */
	EXPECT_NE(-ENODEV, fd_errno(fd, true));
	close(fd);
}

/*
 * Pre-copy as QEMU drives it: precopy info, reads to the temporary end,
 * switchover through PRE_COPY_P2P to STOP_COPY, read to the end, and the
 * stream resumes.
 */
TEST_F(dev, precopy)
{
	struct vfio_precopy_info info;
	struct libvmig_buf b = {};
	struct pollfd p;
	int fd, ret, rounds;

	if (!(self->flags & VFIO_MIGRATION_PRE_COPY))
		SKIP(return, "no PRE_COPY");

	ASSERT_EQ(0, libvmig_precopy_v2(&self->d));
	ASSERT_EQ(0, libvmig_set_state(&self->d, PC, &fd));
	ASSERT_EQ(0, libvmig_precopy_info(fd, &info));
	EXPECT_LT(0, info.initial_bytes);
	EXPECT_EQ(0, info.flags);

	/* Short argsz, foreign ioctl. */
	info.argsz = 8;
	EXPECT_EQ(-1, ioctl(fd, VFIO_MIG_GET_PRECOPY_INFO, &info));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, ioctl(fd, VFIO_DEVICE_GET_INFO, &info));
	EXPECT_EQ(ENOTTY, errno);

	/* An idle device reaches the temporary end: -ENOMSG, and 0/0. */
	ret = libvmig_read_stream(fd, &b);
	EXPECT_EQ(-ENOMSG, ret);
	for (rounds = 0; rounds < 1000; rounds++) {
		ASSERT_EQ(0, libvmig_precopy_info(fd, &info));
		if (!info.initial_bytes && !info.dirty_bytes)
			break;
		/* A device with a scanner may still be catching up. */
		usleep(1000);
		libvmig_read_stream(fd, &b);
	}
	EXPECT_EQ(0, info.initial_bytes);
	EXPECT_EQ(0, info.dirty_bytes);

	/* Switchover, read to the permanent end: 0, never ENOMSG. */
	ASSERT_EQ(0, libvmig_set_state(&self->d, SC, NULL));
	EXPECT_EQ(-EINVAL, libvmig_precopy_info(fd, &info));
	EXPECT_EQ(0, libvmig_read_stream(fd, &b));
	EXPECT_EQ(0, libvmig_read_stream(fd, &b));
	p.fd = fd;
	p.events = POLLIN;
	EXPECT_EQ(1, poll(&p, 1, 0));
	ASSERT_EQ(0, libvmig_set_state(&self->d, ST, NULL));
	EXPECT_EQ(-ENODEV, fd_errno(fd, true));
	close(fd);

	/* The stream, pre-copy and all, resumes. */
	back_to_running(_metadata, &self->d);
	ASSERT_EQ(0, libvmig_set_state(&self->d, RE, &fd));
	ASSERT_EQ(0, libvmig_write_stream(fd, b.data, b.len, LIBVMIG_QEMU_PIECE));
	EXPECT_EQ(0, libvmig_set_state(&self->d, RU, NULL));
	close(fd);
	libvmig_buf_free(&b);
}

TEST_HARNESS_MAIN
