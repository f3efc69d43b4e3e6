/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The vmig stream envelope: on-the-wire layout and the incremental parser.
 * Private to the core; drivers see records only.
 */
#ifndef _VMIG_STREAM_H
#define _VMIG_STREAM_H

#include <linux/bug.h>
#include <linux/string.h>
#include <linux/types.h>
#include <linux/vmig.h>
#include <linux/wordpart.h>
#include <linux/xxhash.h>
#include <asm/byteorder.h>

/* "VMIGSTRM", little endian. */
#define VMIG_STREAM_MAGIC	0x4d5254534749474dULL
/* Format version written; versions read: from VMIG_STREAM_VERSION_MIN. */
#define VMIG_STREAM_VERSION	2
#define VMIG_STREAM_VERSION_MIN	1

/*
 * The stream starts with this header, followed by @id_len bytes of device
 * identity.  @check covers the header, with @check read as zero, and the
 * identity (see vmig_stream_check()).  All fields little endian.
 */
struct vmig_stream_hdr {
	__le64 magic;
	__le16 version;
	__le16 hdr_len;
	__le32 id_len;
	__le32 flags;
	__le32 check;
} __packed;

/*
 * Then records: this header and @len bytes of payload.  @seq numbers the
 * records from 0, the trailer included, so that a dropped, repeated or
 * reordered record is caught where it happens.  @check covers the header,
 * with @check read as zero, and the payload.
 */
struct vmig_rec_hdr {
	__le16 type;
	__le16 flags;
	__le32 len;
	__le32 seq;
	__le32 check;
} __packed;

#define VMIG_REC_MAX_TYPE	0xffff

/* Record types of the core. */
#define VMIG_REC_END		1	/* the trailer, always last */

/* Payload of the trailer: what came before it. */
struct vmig_stream_end {
	__le64 nr_records;
	__le64 payload_bytes;
} __packed;

#define VMIG_REC_KNOWN_FLAGS	VMIG_REC_MANDATORY

/* vmig_stream_overhead(), for the core's own use. */
static inline u32 __vmig_stream_overhead(u32 id_len)
{
	return sizeof(struct vmig_stream_hdr) + id_len +
	       sizeof(struct vmig_rec_hdr) + sizeof(struct vmig_stream_end);
}

size_t vmig_stream_put_hdr(void *buf, const void *id, u32 id_len);

/*
 * The check of format version 2 and later (see vmig_stream_check()); inline
 * where every record is sealed.  @hdr_len is at most that of &struct
 * vmig_stream_hdr.
 */
static __always_inline u32 vmig_check_v2(const void *hdr, size_t hdr_len,
					 size_t check_off, const void *data,
					 size_t len)
{
	u8 h[sizeof(struct vmig_stream_hdr)];

	memcpy(h, hdr, hdr_len);
	memset(h + check_off, 0, sizeof(u32));
	return lower_32_bits(xxh64(data, len, xxh64(h, hdr_len, 0)));
}

/* Fill in the header of the record at @rec whose payload follows it. */
static inline void vmig_stream_seal(void *rec, u32 type, u32 flags, u32 len,
				    u32 seq)
{
	struct vmig_rec_hdr *r = rec;

	r->type = cpu_to_le16(type);
	r->flags = cpu_to_le16(flags & VMIG_REC_KNOWN_FLAGS);
	r->len = cpu_to_le32(len);
	r->seq = cpu_to_le32(seq);
	BUILD_BUG_ON(VMIG_STREAM_VERSION < 2);
	r->check = cpu_to_le32(vmig_check_v2(r, sizeof(*r),
					     offsetof(struct vmig_rec_hdr, check),
					     r + 1, len));
}

enum vmig_parse_state {
	VMIG_PARSE_HDR,		/* collecting struct vmig_stream_hdr */
	VMIG_PARSE_ID,		/* collecting the identity */
	VMIG_PARSE_REC,		/* collecting a struct vmig_rec_hdr */
	VMIG_PARSE_PAYLOAD,	/* collecting a payload */
	VMIG_PARSE_DONE,	/* the trailer was checked */
	VMIG_PARSE_FAILED,	/* sticky: @err */
};

/**
 * struct vmig_stream_parser - incremental, bounds-checked stream parser
 * @id: the identity the stream must carry
 * @id_len: its length
 * @max_payload: largest record payload accepted
 * @record: called for each record that passed every check, except the
 *	trailer; returns 0, -EOPNOTSUPP for an unknown type, or -errno
 * @ctx: argument of @record
 * @version: the stream's format version, once its header was checked
 * @state: where the parser is
 * @err: the error that failed the stream, once @state is FAILED
 * @hdr: the stream header, once complete
 * @rec: the current record header
 * @small: collects the fixed-size headers
 * @buf: collects the identity and payloads, grown up to @max_payload
 * @buf_size: allocated size of @buf
 * @need: bytes the current item has in all
 * @have: bytes of it collected so far
 * @nr_records: records accepted, the trailer excluded
 * @payload_bytes: their payload bytes
 * @offset: bytes consumed so far, for error messages
 */
struct vmig_stream_parser {
	const void *id;
	u32 id_len;
	u32 max_payload;
	int (*record)(void *ctx, u32 type, u32 flags, const void *data, u32 len);
	void *ctx;

	u32 version;
	enum vmig_parse_state state;
	int err;
	struct vmig_stream_hdr hdr;
	struct vmig_rec_hdr rec;
	u8 small[sizeof(struct vmig_stream_hdr)];
	u8 *buf;
	u32 buf_size;
	u32 need;
	u32 have;
	u64 nr_records;
	u64 payload_bytes;
	u64 offset;
};

void vmig_stream_parser_init(struct vmig_stream_parser *p, const void *id,
			     u32 id_len, u32 max_payload,
			     int (*record)(void *ctx, u32 type, u32 flags,
					   const void *data, u32 len),
			     void *ctx);
void vmig_stream_parser_destroy(struct vmig_stream_parser *p);
int vmig_stream_parse(struct vmig_stream_parser *p, const void *data,
		      size_t len);
void *vmig_stream_direct(struct vmig_stream_parser *p, u32 *room);
int vmig_stream_commit(struct vmig_stream_parser *p, u32 len);
bool vmig_stream_at_record(const struct vmig_stream_parser *p);
bool vmig_stream_retryable(const struct vmig_stream_parser *p, int ret);
int vmig_stream_finish(struct vmig_stream_parser *p);

/* Visible to the KUnit suites only; static otherwise. */
#if IS_ENABLED(CONFIG_KUNIT)
void *vmig_stream_alloc(size_t size);
u32 vmig_stream_check(u32 version, const void *hdr, size_t hdr_len,
		      size_t check_off, const void *data, size_t len);
#endif

#endif /* _VMIG_STREAM_H */
