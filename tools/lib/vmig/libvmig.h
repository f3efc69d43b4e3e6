/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * libvmig: a small userspace helper for VFIO devices driven by the vmig
 * migration core, shared by the selftests and the vmig CLI.  It speaks only
 * the standard VFIO uAPI plus <linux/vmig.h>; nothing here is specific to
 * one driver.  Functions return 0 or a negative errno, never -1.
 */
#ifndef _LIBVMIG_H
#define _LIBVMIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <linux/types.h>
#include <linux/vfio.h>
#include <linux/vmig.h>

#define LIBVMIG_NR_STATES	(VFIO_DEVICE_STATE_PRE_COPY_P2P + 1)

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#endif

/* An open VFIO device, with the container and group it needs. */
struct libvmig_dev {
	char sysfs[PATH_MAX];	/* /sys/bus/{pci,mdev}/devices/<name> */
	char name[64];		/* BDF or mdev UUID */
	int container;
	int group;
	int fd;
	struct vfio_device_info info;
};

/* A growing byte buffer, for whole migration streams. */
struct libvmig_buf {
	unsigned char *data;
	size_t len;
	size_t cap;
};

/* Bytes per write() when resuming a device, as QEMU does. */
#define LIBVMIG_QEMU_PIECE	32768

/*
 * A migration stream taken apart, to forge streams whose envelope (header,
 * sequence numbers, checks, trailer) is sound and whose content is not.  The
 * envelope is the core's, drivers/vfio/vmig/stream.h.  Identity and
 * payloads point into the buffer the stream was split from, or into any
 * buffer of the caller's that is still there when the stream is joined.
 */
struct libvmig_rec {
	__u16 type;
	__u16 flags;
	__u32 len;			/* payload bytes at @data */
	const unsigned char *data;
};

struct libvmig_stream {
	const unsigned char *id;	/* device identity, @id_len bytes */
	__u32 id_len;
	struct libvmig_rec *recs;		/* the records, trailer excluded */
	int nr;
	int cap;			/* room in @recs */
};

/* Write @val to the sysfs or debugfs file @path: 0 or -errno. */
int libvmig_write_file(const char *path, const char *val);

int libvmig_dev_open(struct libvmig_dev *d, const char *sysfs_path);
void libvmig_dev_close(struct libvmig_dev *d);

int libvmig_feature(struct libvmig_dev *d, __u32 flags, void *data, size_t size);
int libvmig_feature_argsz(struct libvmig_dev *d, __u32 flags, void *data,
			  size_t size, __u32 argsz);
int libvmig_mig_flags(struct libvmig_dev *d, __u64 *flags);
int libvmig_set_state(struct libvmig_dev *d, __u32 state, int *data_fd);
int libvmig_get_state(struct libvmig_dev *d, __u32 *state);
int libvmig_data_size(struct libvmig_dev *d, __u64 *bytes);
int libvmig_arcs(struct libvmig_dev *d, struct vmig_device_feature_arcs *out);
int libvmig_precopy_v2(struct libvmig_dev *d);
int libvmig_precopy_info(int data_fd, struct vfio_precopy_info *info);
int libvmig_reset(struct libvmig_dev *d);
int libvmig_fail_arc(struct libvmig_dev *d, const char *spec);

int libvmig_region_info(struct libvmig_dev *d, __u32 index,
			struct vfio_region_info *ri);
int libvmig_region_rw(struct libvmig_dev *d, __u32 index, __u64 off, void *buf,
		      size_t len, bool write);
void *libvmig_region_mmap(struct libvmig_dev *d, __u32 index, size_t *len);

int libvmig_read_stream(int data_fd, struct libvmig_buf *b);
int libvmig_read_some(int data_fd, struct libvmig_buf *b, size_t max);
int libvmig_write_stream(int data_fd, const void *data, size_t len,
			 size_t piece);
void libvmig_buf_free(struct libvmig_buf *b);
int libvmig_buf_save(const struct libvmig_buf *b, const char *path);
int libvmig_buf_load(struct libvmig_buf *b, const char *path);

int libvmig_save_all(struct libvmig_dev *d, struct libvmig_buf *b);
int libvmig_resume_all(struct libvmig_dev *d, const struct libvmig_buf *b,
		       size_t piece);

int libvmig_stream_split(const struct libvmig_buf *b, struct libvmig_stream *s);
int libvmig_stream_add(struct libvmig_stream *s, const struct libvmig_rec *r);
int libvmig_stream_copy(struct libvmig_stream *dst, const struct libvmig_stream *src);
int libvmig_stream_join(const struct libvmig_stream *s, struct libvmig_buf *out);
void libvmig_stream_free(struct libvmig_stream *s);

const char *libvmig_state_str(__u32 state);
int libvmig_state_parse(const char *s, __u32 *state);
bool libvmig_state_supported(__u64 flags, __u32 state);
bool libvmig_starts_session(__u32 from, __u32 to);
bool libvmig_in_saving_group(__u32 state);

#endif /* _LIBVMIG_H */
