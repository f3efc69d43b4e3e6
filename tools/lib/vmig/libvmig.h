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

#define VMIG_NR_STATES	(VFIO_DEVICE_STATE_PRE_COPY_P2P + 1)

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#endif

/* An open VFIO device, with the container and group it needs. */
struct vmig_dev {
	char sysfs[PATH_MAX];	/* /sys/bus/{pci,mdev}/devices/<name> */
	char name[64];		/* BDF or mdev UUID */
	int container;
	int group;
	int fd;
	struct vfio_device_info info;
};

/* A growing byte buffer, for whole migration streams. */
struct vmig_buf {
	unsigned char *data;
	size_t len;
	size_t cap;
};

/* Bytes per write() when resuming a device, as QEMU does. */
#define VMIG_QEMU_PIECE	32768

/*
 * A migration stream taken apart, to forge streams whose envelope (header,
 * sequence numbers, CRCs, trailer) is sound and whose content is not.  The
 * envelope is the core's, drivers/vfio/vmig/stream.h.  Identity and
 * payloads point into the buffer the stream was split from, or into any
 * buffer of the caller's that is still there when the stream is joined.
 */
struct vmig_rec {
	__u16 type;
	__u16 flags;
	__u32 len;			/* payload bytes at @data */
	const unsigned char *data;
};

struct vmig_stream {
	const unsigned char *id;	/* device identity, @id_len bytes */
	__u32 id_len;
	struct vmig_rec *recs;		/* the records, trailer excluded */
	int nr;
	int cap;			/* room in @recs */
};

int vmig_dev_open(struct vmig_dev *d, const char *sysfs_path);
void vmig_dev_close(struct vmig_dev *d);

int vmig_feature(struct vmig_dev *d, __u32 flags, void *data, size_t size);
int vmig_feature_argsz(struct vmig_dev *d, __u32 flags, void *data,
		       size_t size, __u32 argsz);
int vmig_mig_flags(struct vmig_dev *d, __u64 *flags);
int vmig_set_state(struct vmig_dev *d, __u32 state, int *data_fd);
int vmig_get_state(struct vmig_dev *d, __u32 *state);
int vmig_data_size(struct vmig_dev *d, __u64 *bytes);
int vmig_arcs(struct vmig_dev *d, struct vmig_device_feature_arcs *out);
int vmig_precopy_v2(struct vmig_dev *d);
int vmig_precopy_info(int data_fd, struct vfio_precopy_info *info);
int vmig_reset(struct vmig_dev *d);
int vmig_fail_arc(struct vmig_dev *d, const char *spec);

int vmig_region_info(struct vmig_dev *d, __u32 index,
		     struct vfio_region_info *ri);
int vmig_region_rw(struct vmig_dev *d, __u32 index, __u64 off, void *buf,
		   size_t len, bool write);
void *vmig_region_mmap(struct vmig_dev *d, __u32 index, size_t *len);

int vmig_read_stream(int data_fd, struct vmig_buf *b);
int vmig_read_some(int data_fd, struct vmig_buf *b, size_t max);
int vmig_write_stream(int data_fd, const void *data, size_t len,
		      size_t piece);
void vmig_buf_free(struct vmig_buf *b);
int vmig_buf_save(const struct vmig_buf *b, const char *path);
int vmig_buf_load(struct vmig_buf *b, const char *path);

int vmig_save_all(struct vmig_dev *d, struct vmig_buf *b);
int vmig_resume_all(struct vmig_dev *d, const struct vmig_buf *b,
		    size_t piece);

int vmig_stream_split(const struct vmig_buf *b, struct vmig_stream *s);
int vmig_stream_add(struct vmig_stream *s, const struct vmig_rec *r);
int vmig_stream_copy(struct vmig_stream *dst, const struct vmig_stream *src);
int vmig_stream_join(const struct vmig_stream *s, struct vmig_buf *out);
void vmig_stream_free(struct vmig_stream *s);

const char *vmig_state_str(__u32 state);
int vmig_state_parse(const char *s, __u32 *state);
bool vmig_state_supported(__u64 flags, __u32 state);
bool vmig_starts_session(__u32 from, __u32 to);
bool vmig_in_saving_group(__u32 state);

#endif /* _LIBVMIG_H */
