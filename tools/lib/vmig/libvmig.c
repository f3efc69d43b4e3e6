// SPDX-License-Identifier: GPL-2.0-only
/*
 * libvmig: open a VFIO device through its group and container, drive its
 * migration FSM, move streams, reach its regions.  See vmig.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <assert.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "libvmig.h"

static const char * const state_names[LIBVMIG_NR_STATES] = {
	[VFIO_DEVICE_STATE_ERROR] = "ERROR",
	[VFIO_DEVICE_STATE_STOP] = "STOP",
	[VFIO_DEVICE_STATE_RUNNING] = "RUNNING",
	[VFIO_DEVICE_STATE_STOP_COPY] = "STOP_COPY",
	[VFIO_DEVICE_STATE_RESUMING] = "RESUMING",
	[VFIO_DEVICE_STATE_RUNNING_P2P] = "RUNNING_P2P",
	[VFIO_DEVICE_STATE_PRE_COPY] = "PRE_COPY",
	[VFIO_DEVICE_STATE_PRE_COPY_P2P] = "PRE_COPY_P2P",
};

const char *libvmig_state_str(__u32 state)
{
	return state < LIBVMIG_NR_STATES ? state_names[state] : "INVALID";
}

/* A state by name (any case) or number. */
int libvmig_state_parse(const char *s, __u32 *state)
{
	char *end;
	unsigned long v;
	__u32 i;

	for (i = 0; i < LIBVMIG_NR_STATES; i++) {
		if (!strcasecmp(s, state_names[i])) {
			*state = i;
			return 0;
		}
	}
	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *end || end == s || v > UINT32_MAX)
		return -EINVAL;
	*state = v;
	return 0;
}

bool libvmig_in_saving_group(__u32 state)
{
	return state == VFIO_DEVICE_STATE_PRE_COPY ||
	       state == VFIO_DEVICE_STATE_PRE_COPY_P2P ||
	       state == VFIO_DEVICE_STATE_STOP_COPY;
}

/* Does a request from @from to @to end in an arc that opens a data_fd? */
bool libvmig_starts_session(__u32 from, __u32 to)
{
	if (to == VFIO_DEVICE_STATE_RESUMING)
		return from != VFIO_DEVICE_STATE_RESUMING;
	return libvmig_in_saving_group(to) && !libvmig_in_saving_group(from);
}

/* The states a device with migration @flags has (ERROR is not a target). */
bool libvmig_state_supported(__u64 flags, __u32 state)
{
	bool p2p = flags & VFIO_MIGRATION_P2P;
	bool pre = flags & VFIO_MIGRATION_PRE_COPY;

	switch (state) {
	case VFIO_DEVICE_STATE_STOP:
	case VFIO_DEVICE_STATE_RUNNING:
	case VFIO_DEVICE_STATE_STOP_COPY:
	case VFIO_DEVICE_STATE_RESUMING:
		return true;
	case VFIO_DEVICE_STATE_RUNNING_P2P:
		return p2p;
	case VFIO_DEVICE_STATE_PRE_COPY:
		return pre;
	case VFIO_DEVICE_STATE_PRE_COPY_P2P:
		return p2p && pre;
	}
	return false;
}

static int read_link_base(const char *path, char *out, size_t size)
{
	char buf[PATH_MAX];
	ssize_t n;

	n = readlink(path, buf, sizeof(buf) - 1);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	snprintf(out, size, "%s", basename(buf));
	return 0;
}

/*
 * Open the device at @sysfs_path: its IOMMU group, a container of its own
 * with the type1 IOMMU, then the device.  The name is the last component.
 */
int libvmig_write_file(const char *path, const char *val)
{
	int fd, ret = 0;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

int libvmig_dev_open(struct libvmig_dev *d, const char *sysfs_path)
{
	char link[PATH_MAX + 16], group[32], dev[PATH_MAX + 8];
	struct vfio_group_status st = { .argsz = sizeof(st) };
	char tmp[PATH_MAX];
	int ret;

	memset(d, 0, sizeof(*d));
	d->container = -1;
	d->group = -1;
	d->fd = -1;
	snprintf(d->sysfs, sizeof(d->sysfs), "%s", sysfs_path);
	snprintf(tmp, sizeof(tmp), "%s", sysfs_path);
	snprintf(d->name, sizeof(d->name), "%s", basename(tmp));

	snprintf(link, sizeof(link), "%s/iommu_group", sysfs_path);
	ret = read_link_base(link, group, sizeof(group));
	if (ret)
		return ret;

	d->container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (d->container < 0)
		goto err;
	snprintf(dev, sizeof(dev), "/dev/vfio/%s", group);
	d->group = open(dev, O_RDWR | O_CLOEXEC);
	if (d->group < 0)
		goto err;
	if (ioctl(d->group, VFIO_GROUP_GET_STATUS, &st))
		goto err;
	if (!(st.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		errno = EBUSY;
		goto err;
	}
	if (ioctl(d->group, VFIO_GROUP_SET_CONTAINER, &d->container))
		goto err;
	if (ioctl(d->container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU))
		goto err;
	d->fd = ioctl(d->group, VFIO_GROUP_GET_DEVICE_FD, d->name);
	if (d->fd < 0)
		goto err;
	d->info.argsz = sizeof(d->info);
	if (ioctl(d->fd, VFIO_DEVICE_GET_INFO, &d->info))
		goto err;
	return 0;

err:
	ret = -errno;
	libvmig_dev_close(d);
	return ret;
}

void libvmig_dev_close(struct libvmig_dev *d)
{
	if (d->fd >= 0)
		close(d->fd);
	if (d->group >= 0)
		close(d->group);
	if (d->container >= 0)
		close(d->container);
	d->fd = -1;
	d->group = -1;
	d->container = -1;
}

/* VFIO_DEVICE_FEATURE with @size bytes of data, in and out. */
int libvmig_feature_argsz(struct libvmig_dev *d, __u32 flags, void *data,
			  size_t size, __u32 argsz)
{
	struct vfio_device_feature *f;
	int ret = 0;

	f = calloc(1, sizeof(*f) + size);
	if (!f)
		return -ENOMEM;
	f->argsz = argsz;
	f->flags = flags;
	if (size)
		memcpy(f->data, data, size);
	if (ioctl(d->fd, VFIO_DEVICE_FEATURE, f))
		ret = -errno;
	else if (size)
		memcpy(data, f->data, size);
	free(f);
	return ret;
}

int libvmig_feature(struct libvmig_dev *d, __u32 flags, void *data, size_t size)
{
	return libvmig_feature_argsz(d, flags, data, size,
				  sizeof(struct vfio_device_feature) + size);
}

int libvmig_mig_flags(struct libvmig_dev *d, __u64 *flags)
{
	struct vfio_device_feature_migration m = {};
	int ret;

	ret = libvmig_feature(d, VFIO_DEVICE_FEATURE_GET |
			   VFIO_DEVICE_FEATURE_MIGRATION, &m, sizeof(m));
	if (!ret)
		*flags = m.flags;
	return ret;
}

/*
 * Request @state.  A data_fd the kernel returns goes to *@data_fd, or is
 * closed when @data_fd is NULL; *@data_fd is -1 when none came.
 */
int libvmig_set_state(struct libvmig_dev *d, __u32 state, int *data_fd)
{
	struct vfio_device_feature_mig_state m = { .device_state = state,
						   .data_fd = -1 };
	int ret;

	ret = libvmig_feature(d, VFIO_DEVICE_FEATURE_SET |
			   VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, &m, sizeof(m));
	if (data_fd)
		*data_fd = ret ? -1 : m.data_fd;
	else if (!ret && m.data_fd >= 0)
		close(m.data_fd);
	return ret;
}

int libvmig_get_state(struct libvmig_dev *d, __u32 *state)
{
	struct vfio_device_feature_mig_state m = {};
	int ret;

	ret = libvmig_feature(d, VFIO_DEVICE_FEATURE_GET |
			   VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, &m, sizeof(m));
	if (!ret)
		*state = m.device_state;
	return ret;
}

int libvmig_data_size(struct libvmig_dev *d, __u64 *bytes)
{
	struct vfio_device_feature_mig_data_size m = {};
	int ret;

	ret = libvmig_feature(d, VFIO_DEVICE_FEATURE_GET |
			   VFIO_DEVICE_FEATURE_MIG_DATA_SIZE, &m, sizeof(m));
	if (!ret)
		*bytes = m.stop_copy_length;
	return ret;
}

int libvmig_arcs(struct libvmig_dev *d, struct vmig_device_feature_arcs *out)
{
	memset(out, 0, sizeof(*out));
	return libvmig_feature(d, VFIO_DEVICE_FEATURE_GET |
			    VMIG_DEVICE_FEATURE_ARCS, out, sizeof(*out));
}

int libvmig_precopy_v2(struct libvmig_dev *d)
{
	return libvmig_feature(d, VFIO_DEVICE_FEATURE_SET |
			    VMIG_DEVICE_FEATURE_PRECOPY_INFO_V2, NULL, 0);
}

int libvmig_precopy_info(int data_fd, struct vfio_precopy_info *info)
{
	memset(info, 0, sizeof(*info));
	info->argsz = sizeof(*info);
	return ioctl(data_fd, VFIO_MIG_GET_PRECOPY_INFO, info) ? -errno : 0;
}

int libvmig_reset(struct libvmig_dev *d)
{
	return ioctl(d->fd, VFIO_DEVICE_RESET) ? -errno : 0;
}

/* Arm the core's fault injection for this device; see its debugfs doc. */
int libvmig_fail_arc(struct libvmig_dev *d, const char *spec)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd, ret = 0;

	snprintf(path, sizeof(path), "/sys/kernel/debug/vmig/%s/fail_arc",
		 d->name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, spec, strlen(spec));
	if (n < 0)
		ret = -errno;
	close(fd);
	return ret;
}

int libvmig_region_info(struct libvmig_dev *d, __u32 index,
			struct vfio_region_info *ri)
{
	memset(ri, 0, sizeof(*ri));
	ri->argsz = sizeof(*ri);
	ri->index = index;
	return ioctl(d->fd, VFIO_DEVICE_GET_REGION_INFO, ri) ? -errno : 0;
}

int libvmig_region_rw(struct libvmig_dev *d, __u32 index, __u64 off, void *buf,
		      size_t len, bool write)
{
	struct vfio_region_info ri;
	ssize_t n;
	int ret;

	ret = libvmig_region_info(d, index, &ri);
	if (ret)
		return ret;
	if (write)
		n = pwrite(d->fd, buf, len, ri.offset + off);
	else
		n = pread(d->fd, buf, len, ri.offset + off);
	if (n < 0)
		return -errno;
	return n == (ssize_t)len ? 0 : -EIO;
}

void *libvmig_region_mmap(struct libvmig_dev *d, __u32 index, size_t *len)
{
	struct vfio_region_info ri;
	void *p;

	if (libvmig_region_info(d, index, &ri) ||
	    !(ri.flags & VFIO_REGION_INFO_FLAG_MMAP))
		return NULL;
	p = mmap(NULL, ri.size, PROT_READ | PROT_WRITE, MAP_SHARED, d->fd,
		 ri.offset);
	if (p == MAP_FAILED)
		return NULL;
	*len = ri.size;
	return p;
}

static int buf_reserve(struct libvmig_buf *b, size_t more)
{
	unsigned char *p;
	size_t cap;

	if (b->len + more <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 1 << 16;
	while (cap < b->len + more)
		cap *= 2;
	p = realloc(b->data, cap);
	if (!p)
		return -ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

/*
 * Read until the end of stream, an error, or @max bytes (0: no limit);
 * returns 0 at the end of stream, 1 when @max bytes were read, or the
 * -errno of the read that failed (-ENOMSG at a temporary end during
 * PRE_COPY).  What was read is appended to @b.
 */
int libvmig_read_some(int data_fd, struct libvmig_buf *b, size_t max)
{
	size_t start = b->len;
	ssize_t n;

	for (;;) {
		size_t want = 1 << 20;

		if (max && b->len - start >= max)
			return 1;
		if (max && want > max - (b->len - start))
			want = max - (b->len - start);
		if (buf_reserve(b, want))
			return -ENOMEM;
		n = read(data_fd, b->data + b->len, want);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (!n)
			return 0;
		b->len += n;
	}
}

int libvmig_read_stream(int data_fd, struct libvmig_buf *b)
{
	return libvmig_read_some(data_fd, b, 0);
}

/* Write @len bytes in pieces of at most @piece bytes (0: one write). */
int libvmig_write_stream(int data_fd, const void *data, size_t len, size_t piece)
{
	const unsigned char *p = data;
	size_t off = 0;
	ssize_t n;

	while (off < len) {
		size_t want = len - off;

		if (piece && want > piece)
			want = piece;
		n = write(data_fd, p + off, want);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (!n)
			return -EIO;
		off += n;
	}
	return 0;
}

void libvmig_buf_free(struct libvmig_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

int libvmig_buf_save(const struct libvmig_buf *b, const char *path)
{
	int fd, ret;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	ret = libvmig_write_stream(fd, b->data, b->len, 0);
	if (close(fd) && !ret)
		ret = -errno;
	return ret;
}

int libvmig_buf_load(struct libvmig_buf *b, const char *path)
{
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = libvmig_read_stream(fd, b);
	close(fd);
	return ret;
}

/*
 * The whole state of @d, appended to @b: STOP_COPY, read to the end of
 * stream, then STOP.
 */
int libvmig_save_all(struct libvmig_dev *d, struct libvmig_buf *b)
{
	int fd, ret;

	ret = libvmig_set_state(d, VFIO_DEVICE_STATE_STOP_COPY, &fd);
	if (ret)
		return ret;
	ret = libvmig_read_stream(fd, b);
	close(fd);
	return ret ?: libvmig_set_state(d, VFIO_DEVICE_STATE_STOP, NULL);
}

/*
 * Resume @d from the whole stream @b: RESUMING, writes of at most @piece
 * bytes, then RUNNING.  Returns the first error.
 */
int libvmig_resume_all(struct libvmig_dev *d, const struct libvmig_buf *b,
		       size_t piece)
{
	int fd, ret;

	ret = libvmig_set_state(d, VFIO_DEVICE_STATE_RESUMING, &fd);
	if (ret)
		return ret;
	ret = libvmig_write_stream(fd, b->data, b->len, piece);
	if (!ret)
		ret = libvmig_set_state(d, VFIO_DEVICE_STATE_RUNNING, NULL);
	close(fd);
	return ret;
}

/* The stream envelope of drivers/vfio/vmig/stream.h, all little endian. */
#define LIBVMIG_STREAM_MAGIC	0x4d5254534749474dULL	/* "VMIGSTRM" */
#define LIBVMIG_STREAM_VERSION	2
#define LIBVMIG_REC_END		1

struct libvmig_wire_hdr {
	__le64 magic;
	__le16 version;
	__le16 hdr_len;
	__le32 id_len;
	__le32 flags;
	__le32 check;
};

struct libvmig_wire_rec {
	__le16 type;
	__le16 flags;
	__le32 len;
	__le32 seq;
	__le32 check;
};

struct libvmig_wire_end {
	__le64 nr_records;
	__le64 payload_bytes;
};

/* Naturally aligned: the same layout as the kernel's __packed structs. */
static_assert(sizeof(struct libvmig_wire_hdr) == 24, "stream header");
static_assert(sizeof(struct libvmig_wire_rec) == 16, "record header");

/*
 * XXH64, the check of format version 2: 64-bit multiply-rotate rounds over
 * four lanes of 32-byte stripes, the lanes merged, the tail mixed in 8, 4
 * and 1 bytes, and a final avalanche.
 */
#define XXH_P1	0x9e3779b185ebca87ULL
#define XXH_P2	0xc2b2ae3d27d4eb4fULL
#define XXH_P3	0x165667b19e3779f9ULL
#define XXH_P4	0x85ebca77c2b2ae63ULL
#define XXH_P5	0x27d4eb2f165667c5ULL

static __u64 xxh_rotl(__u64 x, int r)
{
	return (x << r) | (x >> (64 - r));
}

static __u64 xxh_get64(const unsigned char *p)
{
	__u64 v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

static __u64 xxh_get32(const unsigned char *p)
{
	__u32 v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

static __u64 xxh_round(__u64 acc, __u64 in)
{
	return xxh_rotl(acc + in * XXH_P2, 31) * XXH_P1;
}

static __u64 xxh_merge(__u64 h, __u64 lane)
{
	return (h ^ xxh_round(0, lane)) * XXH_P1 + XXH_P4;
}

static __u64 libvmig_xxh64(const void *data, size_t len, __u64 seed)
{
	const unsigned char *p = data, *end = p + len;
	__u64 h;

	if (len >= 32) {
		__u64 v1 = seed + XXH_P1 + XXH_P2, v2 = seed + XXH_P2;
		__u64 v3 = seed, v4 = seed - XXH_P1;

		for (; end - p >= 32; p += 32) {
			v1 = xxh_round(v1, xxh_get64(p));
			v2 = xxh_round(v2, xxh_get64(p + 8));
			v3 = xxh_round(v3, xxh_get64(p + 16));
			v4 = xxh_round(v4, xxh_get64(p + 24));
		}
		h = xxh_rotl(v1, 1) + xxh_rotl(v2, 7) + xxh_rotl(v3, 12) +
		    xxh_rotl(v4, 18);
		h = xxh_merge(xxh_merge(xxh_merge(xxh_merge(h, v1), v2), v3), v4);
	} else {
		h = seed + XXH_P5;
	}
	h += len;
	for (; end - p >= 8; p += 8)
		h = xxh_rotl(h ^ xxh_round(0, xxh_get64(p)), 27) * XXH_P1 + XXH_P4;
	if (end - p >= 4) {
		h = xxh_rotl(h ^ (xxh_get32(p) * XXH_P1), 23) * XXH_P2 + XXH_P3;
		p += 4;
	}
	for (; p < end; p++)
		h = xxh_rotl(h ^ (*p * XXH_P5), 11) * XXH_P1;
	h ^= h >> 33;
	h *= XXH_P2;
	h ^= h >> 29;
	h *= XXH_P3;
	return h ^ (h >> 32);
}

/*
 * The check of a header whose check field is still zero, and what follows
 * it: the low 32 bits of the XXH64 of the bytes, seeded with the XXH64 of
 * the header.
 */
static __u32 libvmig_check_hdr_and(const void *hdr, size_t hdr_len,
				   const void *data, size_t len)
{
	return (__u32)libvmig_xxh64(data, len, libvmig_xxh64(hdr, hdr_len, 0));
}

static int buf_put(struct libvmig_buf *b, const void *data, size_t len)
{
	if (buf_reserve(b, len))
		return -ENOMEM;
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	return 0;
}

/* Append a record to @s, making room as needed. */
int libvmig_stream_add(struct libvmig_stream *s, const struct libvmig_rec *r)
{
	struct libvmig_rec *recs;
	int cap;

	if (s->nr == s->cap) {
		cap = s->cap ? 2 * s->cap : 64;
		recs = reallocarray(s->recs, cap, sizeof(*recs));
		if (!recs)
			return -ENOMEM;
		s->recs = recs;
		s->cap = cap;
	}
	s->recs[s->nr++] = *r;
	return 0;
}

/*
 * Take the stream in @b apart into @s, whose records are replaced: the
 * identity and each record up to the trailer, pointing into @b.  Only the
 * framing is checked (magic, header length, every length within @b, a
 * trailer); checks and sequence numbers are not, nor what follows the
 * trailer.
 */
int libvmig_stream_split(const struct libvmig_buf *b, struct libvmig_stream *s)
{
	struct libvmig_wire_hdr h;
	struct libvmig_wire_rec w;
	struct libvmig_rec r;
	size_t off;
	int ret;

	s->nr = 0;
	if (b->len < sizeof(h))
		return -EINVAL;
	memcpy(&h, b->data, sizeof(h));
	if (le64toh(h.magic) != LIBVMIG_STREAM_MAGIC ||
	    le16toh(h.hdr_len) != sizeof(h) ||
	    le32toh(h.id_len) > b->len - sizeof(h))
		return -EINVAL;
	s->id = b->data + sizeof(h);
	s->id_len = le32toh(h.id_len);

	off = sizeof(h) + s->id_len;
	while (b->len - off >= sizeof(w)) {
		memcpy(&w, b->data + off, sizeof(w));
		off += sizeof(w);
		r.type = le16toh(w.type);
		r.flags = le16toh(w.flags);
		r.len = le32toh(w.len);
		r.data = b->data + off;
		if (r.len > b->len - off)
			return -EINVAL;
		if (r.type == LIBVMIG_REC_END)
			return 0;
		ret = libvmig_stream_add(s, &r);
		if (ret)
			return ret;
		off += r.len;
	}
	return -EINVAL;	/* no trailer */
}

/*
 * Make @dst a copy of @src whose records can change apart from its own;
 * identity and payloads are shared.
 */
int libvmig_stream_copy(struct libvmig_stream *dst, const struct libvmig_stream *src)
{
	int i, ret;

	if (dst == src)
		return 0;
	dst->id = src->id;
	dst->id_len = src->id_len;
	dst->nr = 0;
	for (i = 0; i < src->nr; i++) {
		ret = libvmig_stream_add(dst, &src->recs[i]);
		if (ret)
			return ret;
	}
	return 0;
}

static int stream_put_rec(struct libvmig_buf *out, __u16 type, __u16 flags,
			  const void *data, __u32 len, __u32 seq)
{
	struct libvmig_wire_rec w = {
		.type = htole16(type),
		.flags = htole16(flags),
		.len = htole32(len),
		.seq = htole32(seq),
	};

	w.check = htole32(libvmig_check_hdr_and(&w, sizeof(w), data, len));
	return buf_put(out, &w, sizeof(w)) ?: buf_put(out, data, len);
}

/*
 * Frame @s as a sound stream into @out, which is emptied first and must not
 * be what @s points into: a fresh header, the records numbered from 0 with
 * their checks, and the trailer with their count and payload bytes.
 */
int libvmig_stream_join(const struct libvmig_stream *s, struct libvmig_buf *out)
{
	struct libvmig_wire_hdr h = {
		.magic = htole64(LIBVMIG_STREAM_MAGIC),
		.version = htole16(LIBVMIG_STREAM_VERSION),
		.hdr_len = htole16(sizeof(h)),
		.id_len = htole32(s->id_len),
	};
	struct libvmig_wire_end end;
	__u64 bytes = 0;
	int i, ret;

	out->len = 0;
	h.check = htole32(libvmig_check_hdr_and(&h, sizeof(h), s->id, s->id_len));
	ret = buf_put(out, &h, sizeof(h)) ?: buf_put(out, s->id, s->id_len);
	for (i = 0; !ret && i < s->nr; i++) {
		const struct libvmig_rec *r = &s->recs[i];

		ret = stream_put_rec(out, r->type, r->flags, r->data, r->len, i);
		bytes += r->len;
	}
	if (ret)
		return ret;
	end.nr_records = htole64(s->nr);
	end.payload_bytes = htole64(bytes);
	return stream_put_rec(out, LIBVMIG_REC_END, 0, &end, sizeof(end), s->nr);
}

void libvmig_stream_free(struct libvmig_stream *s)
{
	free(s->recs);
	memset(s, 0, sizeof(*s));
}
