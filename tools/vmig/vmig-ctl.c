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
 * DEVICE is a sysfs path, a PCI address or an mdev UUID.  With --json each
 * command prints one JSON object on a line of its own; the exit status says
 * what failed (see print_help() and Documentation/userspace-api/vmig-ctl.rst).
 */
#define _GNU_SOURCE	/* strerrorname_np() */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "libvmig.h"

/* Exit codes, documented in --help and Documentation/userspace-api/vmig-ctl.rst */
enum {
	CTL_OK = 0,
	CTL_EDEVICE = 1,	/* the device refused or failed a request */
	CTL_EUSAGE = 2,		/* bad command line */
	CTL_EOPEN = 3,		/* the device cannot be opened */
	CTL_EFILE = 4,		/* a stream file cannot be read or written */
};

struct ctl {
	struct libvmig_dev d;
	const char *name;	/* the device as named on the command line */
	const char *cmd;	/* the command being run, for messages */
	bool json;		/* one JSON object per command on stdout */
	int data_fd;		/* the session the last request opened */
	struct libvmig_buf pre;	/* bytes read during a PRE_COPY phase */
};

static void print_help(FILE *f)
{
	fprintf(f,
		"Usage: vmig-ctl [-j|--json] DEVICE COMMAND [ARGS] [COMMAND [ARGS]]...\n"
		"       vmig-ctl -h|--help\n"
		"\n"
		"Drive the migration of a VFIO device whose driver uses vmig.  DEVICE is\n"
		"a sysfs path, a PCI address or an mdev UUID.  The device stays open for\n"
		"the whole command line, so commands chain; closing it returns the device\n"
		"to RUNNING.\n"
		"\n"
		"Commands:\n"
		"  info                  flags, reset, state, stop-copy size, arcs, last failure\n"
		"  state                 the current state\n"
		"  set STATE             request a state (name or number)\n"
		"  arcs                  the arcs the device implements, last failure\n"
		"  precopy-info          VFIO_MIG_GET_PRECOPY_INFO of the open session\n"
		"  precopy               RUNNING -> PRE_COPY, read to the temporary end\n"
		"  save FILE             (PRE_COPY or RUNNING) -> STOP_COPY, read to the\n"
		"                        end into FILE, -> STOP\n"
		"  load FILE             -> RESUMING, write FILE, -> RUNNING\n"
		"  reset                 VFIO_DEVICE_RESET\n"
		"  fail FROM TO ERRNO [broken]   arm the core's fault injection (debugfs)\n"
		"  read REGION OFFSET COUNT      COUNT one-byte reads at OFFSET\n"
		"  write REGION OFFSET BYTE...   one-byte writes at OFFSET\n"
		"\n"
		"Options:\n"
		"  -j, --json            print one JSON object per command, one a line;\n"
		"                        a failed command prints {\"command\", \"device\",\n"
		"                        \"error\": {\"errno\", \"name\", \"message\"}}\n"
		"  -h, --help            this text\n"
		"\n"
		"Exit status:\n"
		"  0  every command succeeded\n"
		"  1  the device refused or failed a request (the message names it)\n"
		"  2  usage error\n"
		"  3  the device cannot be opened (no such device, not bound to a\n"
		"     vfio driver, group not viable, busy, no permission)\n"
		"  4  a stream file cannot be read or written\n"
		"The first failing command ends the run.\n");
}

/* Exits with CTL_EUSAGE. */
static void usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "vmig-ctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'vmig-ctl --help'.\n");
	exit(CTL_EUSAGE);
}

static void json_str(const char *key, const char *v)
{
	const char *p;

	printf("\"%s\": \"", key);
	for (p = v; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if ((unsigned char)*p < 0x20)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

/* Start a command's JSON object: {"command": ..., "device": ... */
static void json_begin(struct ctl *c)
{
	putchar('{');
	json_str("command", c->cmd);
	printf(", ");
	json_str("device", c->name);
}

static void json_end(void)
{
	printf("}\n");
	fflush(stdout);
}

/*
 * Report a failure of @what (an errno from the device or a file) and return
 * the exit code @code: the device, the command and the errno, in words.
 */
static int fail_code(struct ctl *c, int code, const char *what, int err)
{
	const char *name = strerrorname_np(-err);

	fprintf(stderr, "vmig-ctl: %s: %s: %s: %s (%s)\n", c->name, c->cmd,
		what, strerror(-err), name ?: "?");
	if (c->json) {
		json_begin(c);
		printf(", \"error\": {\"errno\": %d, ", -err);
		json_str("name", name ?: "");
		printf(", ");
		json_str("message", strerror(-err));
		printf(", ");
		json_str("what", what);
		printf("}");
		json_end();
	}
	return code;
}

static int fail(struct ctl *c, const char *what, int err)
{
	return fail_code(c, CTL_EDEVICE, what, err);
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

static const char *const flag_names[] = { "STOP_COPY", "P2P", "PRE_COPY" };
static const __u64 flag_bits[] = { VFIO_MIGRATION_STOP_COPY, VFIO_MIGRATION_P2P,
				   VFIO_MIGRATION_PRE_COPY };

static void print_flags(struct ctl *c, __u64 flags)
{
	const char *sep = "";
	unsigned int i;

	printf(c->json ? ", \"flags\": [" : "flags:");
	for (i = 0; i < ARRAY_SIZE(flag_bits); i++) {
		if (!(flags & flag_bits[i]))
			continue;
		printf(c->json ? "%s\"%s\"" : "%s %s", sep, flag_names[i]);
		if (c->json)
			sep = ", ";
	}
	printf(c->json ? "]" : "\n");
}

static bool arc_bit(__u64 mask, __u32 from, __u32 to)
{
	return mask & (1ull << VMIG_ARC_BIT(from, to));
}

/* The arcs and the last failure, as text lines or as JSON members. */
static void print_arcs(struct ctl *c, const struct vmig_device_feature_arcs *a)
{
	const char *sep = "";
	__u32 from, to;

	printf(c->json ? ", \"arcs\": [" : "arcs:\n");
	for (from = 0; from < LIBVMIG_NR_STATES; from++) {
		for (to = 0; to < LIBVMIG_NR_STATES; to++) {
			bool fd = arc_bit(a->session_arcs, from, to);

			if (!arc_bit(a->arcs, from, to))
				continue;
			if (c->json) {
				printf("%s{\"from\": \"%s\", \"to\": \"%s\", \"data_fd\": %s}",
				       sep, libvmig_state_str(from),
				       libvmig_state_str(to), fd ? "true" : "false");
				sep = ", ";
			} else {
				printf("  %s -> %s%s\n", libvmig_state_str(from),
				       libvmig_state_str(to), fd ? "  (data_fd)" : "");
			}
		}
	}
	if (c->json)
		printf("]");

	if (!a->fail_seq) {
		printf(c->json ? ", \"last_failure\": null" : "last failure: none\n");
		return;
	}
	if (c->json) {
		printf(", \"last_failure\": {\"seq\": %u, \"start\": \"%s\", \"target\": \"%s\", ",
		       a->fail_seq, libvmig_state_str(a->fail_start),
		       libvmig_state_str(a->fail_target));
		printf("\"from\": \"%s\", \"to\": \"%s\", \"errno\": %d, ",
		       libvmig_state_str(a->fail_from), libvmig_state_str(a->fail_to),
		       a->fail_errno);
		json_str("name", strerrorname_np(a->fail_errno) ?: "");
		printf(", \"result\": \"%s\", \"injected\": %s}",
		       a->fail_result == VMIG_FAIL_ERROR ? "error" : "unwound",
		       a->fail_flags & VMIG_FAIL_INJECTED ? "true" : "false");
		return;
	}
	printf("last failure (#%u): %s => %s, arc %s -> %s: %s, %s%s\n",
	       a->fail_seq, libvmig_state_str(a->fail_start),
	       libvmig_state_str(a->fail_target), libvmig_state_str(a->fail_from),
	       libvmig_state_str(a->fail_to), strerror(a->fail_errno),
	       a->fail_result == VMIG_FAIL_ERROR ? "landed in ERROR" : "unwound",
	       a->fail_flags & VMIG_FAIL_INJECTED ? " (injected)" : "");
}

static int cmd_arcs(struct ctl *c)
{
	struct vmig_device_feature_arcs a;
	int ret;

	ret = libvmig_arcs(&c->d, &a);
	if (ret)
		return fail(c, "arc query", ret);
	if (c->json)
		json_begin(c);
	print_arcs(c, &a);
	if (c->json)
		json_end();
	return 0;
}

static int cmd_state(struct ctl *c)
{
	__u32 s;
	int ret = libvmig_get_state(&c->d, &s);

	if (ret)
		return fail(c, "get state", ret);
	if (c->json) {
		json_begin(c);
		printf(", \"state\": \"%s\"", libvmig_state_str(s));
		json_end();
	} else {
		printf("state: %s\n", libvmig_state_str(s));
	}
	return 0;
}

/* Everything is queried first, so that a failure prints no half object. */
static int cmd_info(struct ctl *c)
{
	struct vmig_device_feature_arcs a;
	__u64 flags, bytes;
	__u32 state;
	int ret;

	ret = libvmig_mig_flags(&c->d, &flags);
	if (ret)
		return fail(c, "VFIO_DEVICE_FEATURE_MIGRATION", ret);
	ret = libvmig_get_state(&c->d, &state);
	if (ret)
		return fail(c, "get state", ret);
	ret = libvmig_data_size(&c->d, &bytes);
	if (ret)
		return fail(c, "VFIO_DEVICE_FEATURE_MIG_DATA_SIZE", ret);
	ret = libvmig_arcs(&c->d, &a);
	if (ret)
		return fail(c, "arc query", ret);

	if (c->json) {
		json_begin(c);
		printf(", ");
		json_str("sysfs", c->d.sysfs);
	} else {
		printf("device: %s\n", c->d.sysfs);
	}
	print_flags(c, flags);
	if (c->json) {
		printf(", \"reset\": %s, \"state\": \"%s\", \"stop_copy_bytes\": %llu",
		       c->d.info.flags & VFIO_DEVICE_FLAGS_RESET ? "true" : "false",
		       libvmig_state_str(state), (unsigned long long)bytes);
	} else {
		printf("reset: %s\n",
		       c->d.info.flags & VFIO_DEVICE_FLAGS_RESET ? "yes" : "no");
		printf("state: %s\n", libvmig_state_str(state));
		printf("stop-copy size: %llu bytes\n", (unsigned long long)bytes);
	}
	print_arcs(c, &a);
	if (c->json)
		json_end();
	return 0;
}

static void keep_fd(struct ctl *c, int fd)
{
	if (fd < 0)
		return;
	if (c->data_fd >= 0)
		close(c->data_fd);
	c->data_fd = fd;
}

/* A state request; @quiet when a bigger command reports for itself. */
static int request(struct ctl *c, __u32 s, bool quiet)
{
	char what[64];
	int fd, ret;

	ret = libvmig_set_state(&c->d, s, &fd);
	if (ret) {
		__u32 now;

		snprintf(what, sizeof(what), "set state %s", libvmig_state_str(s));
		fail(c, what, ret);
		if (!libvmig_get_state(&c->d, &now))
			fprintf(stderr, "vmig-ctl: %s: now in %s\n", c->name,
				libvmig_state_str(now));
		return CTL_EDEVICE;
	}
	keep_fd(c, fd);
	if (quiet)
		return 0;
	if (c->json) {
		json_begin(c);
		printf(", \"state\": \"%s\", \"data_fd\": %s",
		       libvmig_state_str(s), fd >= 0 ? "true" : "false");
		json_end();
	} else {
		printf("state: %s%s\n", libvmig_state_str(s),
		       fd >= 0 ? " (data_fd)" : "");
	}
	return 0;
}

static int cmd_set(struct ctl *c, const char *arg)
{
	__u32 s;

	if (libvmig_state_parse(arg, &s)) {
		usage_error("set: no such state: %s", arg);
		return CTL_EUSAGE;
	}
	return request(c, s, false);
}

static int precopy_info(struct ctl *c, struct vfio_precopy_info *info)
{
	int ret;

	if (c->data_fd < 0)
		return fail(c, "no open session", -EBADF);
	ret = libvmig_precopy_info(c->data_fd, info);
	if (ret)
		return fail(c, "VFIO_MIG_GET_PRECOPY_INFO", ret);
	return 0;
}

static void print_precopy_info(struct ctl *c, const struct vfio_precopy_info *info)
{
	if (c->json) {
		printf(", \"initial_bytes\": %llu, \"dirty_bytes\": %llu, \"reinit\": %s",
		       (unsigned long long)info->initial_bytes,
		       (unsigned long long)info->dirty_bytes,
		       info->flags & VFIO_PRECOPY_INFO_REINIT ? "true" : "false");
		return;
	}
	printf("precopy: initial %llu bytes, dirty %llu bytes%s\n",
	       (unsigned long long)info->initial_bytes,
	       (unsigned long long)info->dirty_bytes,
	       info->flags & VFIO_PRECOPY_INFO_REINIT ? ", REINIT" : "");
}

static int cmd_precopy_info(struct ctl *c)
{
	struct vfio_precopy_info info;
	int ret;

	ret = precopy_info(c, &info);
	if (ret)
		return ret;
	if (c->json)
		json_begin(c);
	print_precopy_info(c, &info);
	if (c->json)
		json_end();
	return 0;
}

static int cmd_precopy(struct ctl *c)
{
	struct vfio_precopy_info before, after;
	int ret;

	ret = request(c, VFIO_DEVICE_STATE_PRE_COPY, true);
	if (ret)
		return ret;
	ret = precopy_info(c, &before);
	if (ret)
		return ret;
	ret = libvmig_read_stream(c->data_fd, &c->pre);
	if (ret != -ENOMSG)
		return fail(c, "read to the temporary end", ret ? ret : -EPROTO);
	ret = precopy_info(c, &after);
	if (ret)
		return ret;
	if (c->json) {
		json_begin(c);
		printf(", \"state\": \"PRE_COPY\", \"bytes\": %zu", c->pre.len);
		print_precopy_info(c, &after);
		json_end();
		return 0;
	}
	printf("state: PRE_COPY (data_fd)\n");
	print_precopy_info(c, &before);
	printf("pre-copy: %zu bytes read before the temporary end\n",
	       c->pre.len);
	print_precopy_info(c, &after);
	return 0;
}

static int cmd_save(struct ctl *c, const char *file)
{
	struct libvmig_buf b = c->pre;
	size_t pre = b.len;
	int ret;

	memset(&c->pre, 0, sizeof(c->pre));
	ret = request(c, VFIO_DEVICE_STATE_STOP_COPY, true);
	if (ret)
		goto out;
	ret = libvmig_read_stream(c->data_fd, &b);
	if (ret) {
		ret = fail(c, "read to the end of stream", ret);
		goto out;
	}
	ret = request(c, VFIO_DEVICE_STATE_STOP, true);
	if (ret)
		goto out;
	ret = libvmig_buf_save(&b, file);
	if (ret) {
		ret = fail_code(c, CTL_EFILE, file, ret);
		goto out;
	}
	if (c->json) {
		json_begin(c);
		printf(", ");
		json_str("file", file);
		printf(", \"bytes\": %zu, \"precopy_bytes\": %zu, \"state\": \"STOP\"",
		       b.len, pre);
		json_end();
	} else {
		printf("state: STOP\nsaved %zu bytes to %s\n", b.len, file);
	}
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
		return fail_code(c, CTL_EFILE, file, ret);
	ret = request(c, VFIO_DEVICE_STATE_RESUMING, true);
	if (ret)
		goto out;
	/* QEMU's write size, and edges unrelated to the source's. */
	ret = libvmig_write_stream(c->data_fd, b.data, b.len, LIBVMIG_QEMU_PIECE);
	if (ret) {
		ret = fail(c, "write the stream", ret);
		goto out;
	}
	ret = request(c, VFIO_DEVICE_STATE_RUNNING, true);
	if (ret)
		goto out;
	if (c->json) {
		json_begin(c);
		printf(", ");
		json_str("file", file);
		printf(", \"bytes\": %zu, \"state\": \"RUNNING\"", b.len);
		json_end();
	} else {
		printf("state: RUNNING\nloaded %zu bytes from %s\n", b.len, file);
	}
out:
	libvmig_buf_free(&b);
	return ret;
}

static int cmd_reset(struct ctl *c)
{
	int ret = libvmig_reset(&c->d);

	if (ret)
		return fail(c, "VFIO_DEVICE_RESET", ret);
	if (c->json) {
		json_begin(c);
		json_end();
	} else {
		printf("reset\n");
	}
	return 0;
}

static int cmd_fail(struct ctl *c, char **argv, int *i, int argc)
{
	char spec[128];
	bool broken;
	int ret;

	if (*i + 3 > argc)
		usage_error("fail: needs FROM TO ERRNO");
	broken = *i + 3 < argc && !strcmp(argv[*i + 3], "broken");
	snprintf(spec, sizeof(spec), "%s %s %s%s", argv[*i], argv[*i + 1],
		 argv[*i + 2], broken ? " broken" : "");
	*i += broken ? 4 : 3;
	ret = libvmig_fail_arc(&c->d, spec);
	if (ret)
		return fail(c, "fail_arc in debugfs (mounted? root?)", ret);
	if (c->json) {
		json_begin(c);
		printf(", ");
		json_str("armed", spec);
		json_end();
	} else {
		printf("armed: %s\n", spec);
	}
	return 0;
}

static unsigned long parse_number(const char *cmd, const char *arg)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(arg, &end, 0);
	if (errno || *end || end == arg)
		usage_error("%s: not a number: %s", cmd, arg);
	return v;
}

static int cmd_io(struct ctl *c, bool write, char **argv, int *i, int argc)
{
	unsigned long region, off, n, done = 0;
	const char *sep = "";
	unsigned char byte;
	int ret;

	if (*i + 3 > argc)
		usage_error("%s: needs REGION OFFSET %s", c->cmd,
			    write ? "BYTE..." : "COUNT");
	region = parse_number(c->cmd, argv[*i]);
	off = parse_number(c->cmd, argv[*i + 1]);
	*i += 2;
	if (!write) {
		n = parse_number(c->cmd, argv[(*i)++]);
		if (c->json) {
			json_begin(c);
			printf(", \"region\": %lu, \"offset\": %lu, \"bytes\": [",
			       region, off);
		} else {
			printf("read:");
		}
		while (n--) {
			ret = libvmig_region_rw(&c->d, region, off, &byte, 1, false);
			if (ret) {
				/* Close the line or object begun above. */
				printf(c->json ? "]}\n" : "\n");
				return fail(c, "region read", ret);
			}
			if (c->json)
				printf("%s%u", sep, byte);
			else
				printf(" %02x", byte);
			sep = ", ";
		}
		printf(c->json ? "]}\n" : "\n");
		return 0;
	}
	while (*i < argc) {
		char *end;
		unsigned long v = strtoul(argv[*i], &end, 0);

		if (*end || end == argv[*i])
			break;	/* the next command */
		byte = v;
		ret = libvmig_region_rw(&c->d, region, off, &byte, 1, true);
		if (ret)
			return fail(c, "region write", ret);
		(*i)++;
		done++;
	}
	if (c->json) {
		json_begin(c);
		printf(", \"region\": %lu, \"offset\": %lu, \"written\": %lu",
		       region, off, done);
		json_end();
	}
	return 0;
}

int main(int argc, char **argv)
{
	char path[PATH_MAX];
	struct ctl c = { .data_fd = -1 };
	int i = 1, ret = 0;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			print_help(stdout);
			return CTL_OK;
		} else if (!strcmp(argv[i], "-j") || !strcmp(argv[i], "--json")) {
			c.json = true;
		} else {
			usage_error("unknown option %s", argv[i]);
		}
	}
	if (argc - i < 2)
		usage_error(argc - i ? "no command" : "no device and no command");
	c.name = argv[i++];
	c.cmd = "open";
	resolve(c.name, path, sizeof(path));
	ret = libvmig_dev_open(&c.d, path);
	if (ret)
		return fail_code(&c, CTL_EOPEN,
				 strcmp(path, c.name) ? path : "cannot open", ret);

	while (i < argc && !ret) {
		c.cmd = argv[i++];

		if (!strcmp(c.cmd, "info")) {
			ret = cmd_info(&c);
		} else if (!strcmp(c.cmd, "state")) {
			ret = cmd_state(&c);
		} else if (!strcmp(c.cmd, "arcs")) {
			ret = cmd_arcs(&c);
		} else if (!strcmp(c.cmd, "set")) {
			if (i >= argc)
				usage_error("set: needs a STATE");
			ret = cmd_set(&c, argv[i++]);
		} else if (!strcmp(c.cmd, "precopy-info")) {
			ret = cmd_precopy_info(&c);
		} else if (!strcmp(c.cmd, "precopy")) {
			ret = cmd_precopy(&c);
		} else if (!strcmp(c.cmd, "save")) {
			if (i >= argc)
				usage_error("save: needs a FILE");
			ret = cmd_save(&c, argv[i++]);
		} else if (!strcmp(c.cmd, "load")) {
			if (i >= argc)
				usage_error("load: needs a FILE");
			ret = cmd_load(&c, argv[i++]);
		} else if (!strcmp(c.cmd, "reset")) {
			ret = cmd_reset(&c);
		} else if (!strcmp(c.cmd, "fail")) {
			ret = cmd_fail(&c, argv, &i, argc);
		} else if (!strcmp(c.cmd, "read")) {
			ret = cmd_io(&c, false, argv, &i, argc);
		} else if (!strcmp(c.cmd, "write")) {
			ret = cmd_io(&c, true, argv, &i, argc);
		} else {
			usage_error("unknown command %s", c.cmd);
		}
	}
	if (c.data_fd >= 0)
		close(c.data_fd);
	libvmig_buf_free(&c.pre);
	libvmig_dev_close(&c.d);
	return ret;
}
