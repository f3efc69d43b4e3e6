// SPDX-License-Identifier: GPL-2.0-only
/*
 * vmig-ctl: inspect and drive the migration of a VFIO device, for driver
 * authors and VMM developers.  It uses only the standard VFIO uAPI and the
 * vmig arc query, so it works with any device driven by vmig.
 *
 * A device is open for the whole command line, and closing it returns the
 * device to RUNNING, so commands are chained in one invocation:
 *
 *   vmig-ctl DEVICE info
 *   vmig-ctl DEVICE set STOP_COPY state
 *   vmig-ctl DEVICE save FILE            (RUNNING -> STOP_COPY -> STOP)
 *   vmig-ctl DEVICE precopy save FILE    (PRE_COPY first, to its end)
 *   vmig-ctl DEVICE load FILE read 0 0 5 (RESUMING -> RUNNING, then read)
 *
 * DEVICE is a sysfs path, a PCI address or an mdev UUID.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "libvmig.h"

struct ctl {
	struct libvmig_dev d;
	int data_fd;		/* the session the last request opened */
	struct libvmig_buf pre;	/* bytes read during a PRE_COPY phase */
};

static void usage(void)
{
	fprintf(stderr,
		"Usage: vmig-ctl DEVICE COMMAND [ARGS] [COMMAND [ARGS]]...\n"
		"  info                  flags, state, data size, arcs, last failure\n"
		"  state                 the current state\n"
		"  set STATE             request a state (name or number)\n"
		"  arcs                  the arcs the device implements\n"
		"  precopy-info          VFIO_MIG_GET_PRECOPY_INFO of the open session\n"
		"  precopy               RUNNING -> PRE_COPY, read to the temporary end\n"
		"  save FILE             (PRE_COPY or RUNNING) -> STOP_COPY, read to the\n"
		"                        end into FILE, -> STOP\n"
		"  load FILE             -> RESUMING, write FILE, -> RUNNING\n"
		"  reset                 VFIO_DEVICE_RESET\n"
		"  fail FROM TO ERRNO [broken]   arm the core's fault injection\n"
		"  read REGION OFFSET COUNT      COUNT one-byte reads at OFFSET\n"
		"  write REGION OFFSET BYTE...   one-byte writes at OFFSET\n");
	exit(2);
}

static int fail(const char *what, int err)
{
	fprintf(stderr, "vmig-ctl: %s: %s\n", what, strerror(-err));
	return err;
}

static void resolve(const char *arg, char *path, size_t size)
{
	static const char * const buses[] = { "/sys/bus/pci/devices",
					      "/sys/bus/mdev/devices" };
	struct stat st;
	unsigned int i;

	if (strchr(arg, '/')) {
		snprintf(path, size, "%s", arg);
		return;
	}
	for (i = 0; i < ARRAY_SIZE(buses); i++) {
		snprintf(path, size, "%s/%s", buses[i], arg);
		if (!stat(path, &st))
			return;
	}
	snprintf(path, size, "%s", arg);
}

static void print_flags(__u64 flags)
{
	printf("flags: STOP_COPY%s%s\n",
	       flags & VFIO_MIGRATION_P2P ? " P2P" : "",
	       flags & VFIO_MIGRATION_PRE_COPY ? " PRE_COPY" : "");
}

static int cmd_arcs(struct ctl *c, bool brief)
{
	struct vmig_device_feature_arcs a;
	__u32 from, to;
	int ret;

	ret = libvmig_arcs(&c->d, &a);
	if (ret)
		return fail("arc query", ret);
	if (!brief) {
		printf("arcs:\n");
		for (from = 0; from < LIBVMIG_NR_STATES; from++)
			for (to = 0; to < LIBVMIG_NR_STATES; to++)
				if (a.arcs & (1ull << VMIG_ARC_BIT(from, to)))
					printf("  %s -> %s%s\n", libvmig_state_str(from),
					       libvmig_state_str(to),
					       a.session_arcs &
					       (1ull << VMIG_ARC_BIT(from, to)) ?
					       "  (data_fd)" : "");
	}
	if (!a.fail_seq) {
		printf("last failure: none\n");
		return 0;
	}
	printf("last failure (#%u): %s => %s, arc %s -> %s: %s, %s%s\n",
	       a.fail_seq, libvmig_state_str(a.fail_start),
	       libvmig_state_str(a.fail_target), libvmig_state_str(a.fail_from),
	       libvmig_state_str(a.fail_to), strerror(a.fail_errno),
	       a.fail_result == VMIG_FAIL_ERROR ? "landed in ERROR" : "unwound",
	       a.fail_flags & VMIG_FAIL_INJECTED ? " (injected)" : "");
	return 0;
}

static int cmd_state(struct ctl *c)
{
	__u32 s;
	int ret = libvmig_get_state(&c->d, &s);

	if (ret)
		return fail("get state", ret);
	printf("state: %s\n", libvmig_state_str(s));
	return 0;
}

static int cmd_info(struct ctl *c)
{
	__u64 flags, bytes;
	int ret;

	printf("device: %s\n", c->d.sysfs);
	ret = libvmig_mig_flags(&c->d, &flags);
	if (ret)
		return fail("VFIO_DEVICE_FEATURE_MIGRATION", ret);
	print_flags(flags);
	printf("reset: %s\n",
	       c->d.info.flags & VFIO_DEVICE_FLAGS_RESET ? "yes" : "no");
	ret = cmd_state(c);
	if (ret)
		return ret;
	ret = libvmig_data_size(&c->d, &bytes);
	if (ret)
		return fail("VFIO_DEVICE_FEATURE_MIG_DATA_SIZE", ret);
	printf("stop-copy size: %llu bytes\n", (unsigned long long)bytes);
	return cmd_arcs(c, false);
}

static void keep_fd(struct ctl *c, int fd)
{
	if (fd < 0)
		return;
	if (c->data_fd >= 0)
		close(c->data_fd);
	c->data_fd = fd;
}

static int cmd_set(struct ctl *c, const char *arg)
{
	__u32 s;
	int fd, ret;

	if (libvmig_state_parse(arg, &s))
		return fail(arg, -EINVAL);
	ret = libvmig_set_state(&c->d, s, &fd);
	if (ret) {
		fail("set state", ret);
		cmd_state(c);
		return ret;
	}
	keep_fd(c, fd);
	printf("state: %s%s\n", libvmig_state_str(s), fd >= 0 ? " (data_fd)" : "");
	return 0;
}

static int cmd_precopy_info(struct ctl *c)
{
	struct vfio_precopy_info info;
	int ret;

	if (c->data_fd < 0)
		return fail("precopy-info", -EBADF);
	ret = libvmig_precopy_info(c->data_fd, &info);
	if (ret)
		return fail("VFIO_MIG_GET_PRECOPY_INFO", ret);
	printf("precopy: initial %llu bytes, dirty %llu bytes%s\n",
	       (unsigned long long)info.initial_bytes,
	       (unsigned long long)info.dirty_bytes,
	       info.flags & VFIO_PRECOPY_INFO_REINIT ? ", REINIT" : "");
	return 0;
}

static int cmd_precopy(struct ctl *c)
{
	int ret;

	ret = cmd_set(c, "PRE_COPY");
	if (ret)
		return ret;
	cmd_precopy_info(c);
	ret = libvmig_read_stream(c->data_fd, &c->pre);
	if (ret != -ENOMSG)
		return fail("read to the temporary end", ret ? ret : -EPROTO);
	printf("pre-copy: %zu bytes read before the temporary end\n",
	       c->pre.len);
	return cmd_precopy_info(c);
}

static int cmd_save(struct ctl *c, const char *file)
{
	struct libvmig_buf b = c->pre;
	int ret;

	memset(&c->pre, 0, sizeof(c->pre));
	ret = cmd_set(c, "STOP_COPY");
	if (ret)
		goto out;
	ret = libvmig_read_stream(c->data_fd, &b);
	if (ret) {
		fail("read to the end of stream", ret);
		goto out;
	}
	ret = cmd_set(c, "STOP");
	if (ret)
		goto out;
	ret = libvmig_buf_save(&b, file);
	if (ret)
		fail(file, ret);
	else
		printf("saved %zu bytes to %s\n", b.len, file);
out:
	libvmig_buf_free(&b);
	return ret;
}

static int cmd_load(struct ctl *c, const char *file)
{
	struct libvmig_buf b = {};
	int ret;

	ret = libvmig_buf_load(&b, file);
	if (ret)
		return fail(file, ret);
	ret = cmd_set(c, "RESUMING");
	if (!ret) {
		/* QEMU's write size, and edges unrelated to the source's. */
		ret = libvmig_write_stream(c->data_fd, b.data, b.len,
					   LIBVMIG_QEMU_PIECE);
		if (ret)
			fail("write the stream", ret);
	}
	if (!ret)
		ret = cmd_set(c, "RUNNING");
	if (!ret)
		printf("loaded %zu bytes from %s\n", b.len, file);
	libvmig_buf_free(&b);
	return ret;
}

static int cmd_fail(struct ctl *c, char **argv, int *i, int argc)
{
	char spec[128];
	bool broken;
	int ret;

	if (*i + 3 > argc)
		usage();
	broken = *i + 3 < argc && !strcmp(argv[*i + 3], "broken");
	snprintf(spec, sizeof(spec), "%s %s %s%s", argv[*i], argv[*i + 1],
		 argv[*i + 2], broken ? " broken" : "");
	*i += broken ? 4 : 3;
	ret = libvmig_fail_arc(&c->d, spec);
	if (ret)
		return fail("fail_arc (debugfs mounted? root?)", ret);
	printf("armed: %s\n", spec);
	return 0;
}

static int cmd_io(struct ctl *c, bool write, char **argv, int *i, int argc)
{
	unsigned long region, off, n;
	unsigned char byte;
	int ret;

	if (*i + 3 > argc)
		usage();
	region = strtoul(argv[*i], NULL, 0);
	off = strtoul(argv[*i + 1], NULL, 0);
	*i += 2;
	if (!write) {
		n = strtoul(argv[(*i)++], NULL, 0);
		printf("read:");
		while (n--) {
			ret = libvmig_region_rw(&c->d, region, off, &byte, 1, false);
			if (ret)
				return fail("region read", ret);
			printf(" %02x", byte);
		}
		printf("\n");
		return 0;
	}
	while (*i < argc) {
		char *end;
		unsigned long v = strtoul(argv[*i], &end, 0);

		if (*end)
			break;	/* the next command */
		byte = v;
		ret = libvmig_region_rw(&c->d, region, off, &byte, 1, true);
		if (ret)
			return fail("region write", ret);
		(*i)++;
	}
	return 0;
}

int main(int argc, char **argv)
{
	char path[PATH_MAX];
	struct ctl c = { .data_fd = -1 };
	int i, ret = 0;

	if (argc < 3)
		usage();
	resolve(argv[1], path, sizeof(path));
	ret = libvmig_dev_open(&c.d, path);
	if (ret)
		return -fail(path, ret);

	for (i = 2; i < argc && !ret;) {
		const char *cmd = argv[i++];

		if (!strcmp(cmd, "info")) {
			ret = cmd_info(&c);
		} else if (!strcmp(cmd, "state")) {
			ret = cmd_state(&c);
		} else if (!strcmp(cmd, "arcs")) {
			ret = cmd_arcs(&c, false);
		} else if (!strcmp(cmd, "set") && i < argc) {
			ret = cmd_set(&c, argv[i++]);
		} else if (!strcmp(cmd, "precopy-info")) {
			ret = cmd_precopy_info(&c);
		} else if (!strcmp(cmd, "precopy")) {
			ret = cmd_precopy(&c);
		} else if (!strcmp(cmd, "save") && i < argc) {
			ret = cmd_save(&c, argv[i++]);
		} else if (!strcmp(cmd, "load") && i < argc) {
			ret = cmd_load(&c, argv[i++]);
		} else if (!strcmp(cmd, "reset")) {
			ret = libvmig_reset(&c.d);
			if (ret)
				fail("VFIO_DEVICE_RESET", ret);
		} else if (!strcmp(cmd, "fail")) {
			ret = cmd_fail(&c, argv, &i, argc);
		} else if (!strcmp(cmd, "read")) {
			ret = cmd_io(&c, false, argv, &i, argc);
		} else if (!strcmp(cmd, "write")) {
			ret = cmd_io(&c, true, argv, &i, argc);
		} else {
			usage();
		}
	}
	if (c.data_fd >= 0)
		close(c.data_fd);
	libvmig_buf_free(&c.pre);
	libvmig_dev_close(&c.d);
	return ret ? 1 : 0;
}
