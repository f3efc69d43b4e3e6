// SPDX-License-Identifier: GPL-2.0-only
/*
 * vmig stream envelope: the framing every saving session writes and every
 * resuming session checks, so that no driver parses raw bytes itself.
 */

#include <linux/crc32.h>
#include <linux/export.h>
#include <linux/minmax.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/xxhash.h>
#include <linux/vmig.h>
#include <kunit/static_stub.h>
#include <kunit/visibility.h>

#include "stream.h"

/**
 * DOC: Stream envelope
 *
 * Every data stream of a vmig device has the same frame, whatever the
 * driver::
 *
 *   header    magic "VMIGSTRM", format version, header length,
 *             identity length, flags, check
 *   identity  the driver's device identity and configuration
 *   record    type, flags, payload length, sequence number, check,
 *             then the payload
 *   ...
 *   trailer   a record of type END carrying the number of records and
 *             payload bytes before it
 *
 * All integers are little endian.  Each check covers its header, with the
 * check field read as zero, and the bytes that follow it (identity or
 * payload): in format version 2, the one written, the low 32 bits of the
 * XXH64 of those bytes seeded with the XXH64 (seed 0) of the header.
 * Later versions keep the stream header as it is, 24 bytes with that
 * check, so that a reader tells a stream of a future version
 * (-EOPNOTSUPP) from a corrupt one (-EINVAL).  Version 1 streams, whose
 * checks are the CRC32C of the header and the bytes (seeded with ~0,
 * finished with ~), are still read; a core that reads version 1 only
 * refuses a version 2 stream as corrupt, -EINVAL, since it checks the
 * header before its version.  Why version 2 changed the check: the
 * kernel's CRC32C without the SSE4.2 instruction, and with it under TCG,
 * runs slower than the copy it guards (0.6 and 0.13 GB/s in a TCG test VM,
 * 1.9 GB/s on a host core, where XXH64 runs at 2.3 and 17 GB/s), and the
 * check of every byte of a stream decided its speed.  Both find a random
 * corruption but for one case in 2^32; CRC32C also finds every burst of up
 * to 32 bits, which the transports a stream travels over check on their
 * own.  Drivers add records of their own types, numbered from
 * %VMIG_REC_DRIVER_BASE; a record may be marked %VMIG_REC_MANDATORY.
 *
 * The resuming side parses incrementally, whatever the sizes of the writes
 * that feed it, and checks everything before a driver sees a byte:
 *
 * - a wrong magic, a header or record length out of bounds, a check that
 *   fails,
 *   a record out of sequence (dropped, repeated or reordered), a trailer
 *   whose counts disagree, bytes after the trailer, or a stream that ends
 *   before its trailer: -EINVAL;
 * - an identity that differs from the one the device expects: -EINVAL;
 * - a format version, header flag or record flag this core does not know,
 *   or a mandatory record whose type neither the core nor the driver knows:
 *   -EOPNOTSUPP.  Unknown records that are not mandatory are skipped.
 *
 * The first error is sticky: every later write and the RESUMING -> STOP arc
 * fail with it.  A payload is buffered whole and checked before the
 * driver's &struct vmig_resume_ops.load sees it, so that buffer is bounded
 * by the largest record the driver accepts.  No memory for that buffer is
 * not a stream error: the write returns -ENOMEM, or the bytes it took before
 * the payload, and the stream goes on when the rest is written again.
 */

/* CRC32C, Castagnoli: seed with ~0, finish with ~.  Format version 1. */
static u32 vmig_crc(u32 crc, const void *data, size_t len)
{
	return __crc32c_le(crc, data, len);
}

/**
 * vmig_stream_check() - the check of a header and the bytes that follow it
 * @version: the stream's format version, one this core reads
 * @hdr: the header; its check field is read as zero
 * @hdr_len: its length, at most that of &struct vmig_stream_hdr
 * @check_off: offset of its 32-bit check field
 * @data: the bytes after it
 * @len: their length
 *
 * Return: the value of the check field (see "Stream envelope").
 */
VISIBLE_IF_KUNIT u32 vmig_stream_check(u32 version, const void *hdr,
				       size_t hdr_len, size_t check_off,
				       const void *data, size_t len)
{
	static const u8 zero[4];
	u32 crc = ~0U;

	if (WARN_ON_ONCE(hdr_len > sizeof(struct vmig_stream_hdr)))
		return 0;
	if (version >= 2)
		return vmig_check_v2(hdr, hdr_len, check_off, data, len);
	crc = vmig_crc(crc, hdr, check_off);
	crc = vmig_crc(crc, zero, sizeof(zero));
	crc = vmig_crc(crc, hdr + check_off + 4, hdr_len - check_off - 4);
	return ~vmig_crc(crc, data, len);
}
EXPORT_SYMBOL_IF_KUNIT(vmig_stream_check);

/**
 * vmig_stream_overhead() - bytes of framing in a stream without records
 * @id_len: length of the device identity
 *
 * Return: the size of header, identity and trailer.
 */
u32 vmig_stream_overhead(u32 id_len)
{
	return __vmig_stream_overhead(id_len);
}
EXPORT_SYMBOL_GPL(vmig_stream_overhead);

/**
 * vmig_stream_record_size() - bytes a record of @len payload bytes takes
 * @len: payload length
 *
 * For estimates such as &struct vmig_ops.get_data_size.
 *
 * Return: @len plus the record header.
 */
u32 vmig_stream_record_size(u32 len)
{
	return sizeof(struct vmig_rec_hdr) + len;
}
EXPORT_SYMBOL_GPL(vmig_stream_record_size);

/* Write the stream header and identity to @buf; returns bytes written. */
size_t vmig_stream_put_hdr(void *buf, const void *id, u32 id_len)
{
	struct vmig_stream_hdr *h = buf;

	h->magic = cpu_to_le64(VMIG_STREAM_MAGIC);
	h->version = cpu_to_le16(VMIG_STREAM_VERSION);
	h->hdr_len = cpu_to_le16(sizeof(*h));
	h->id_len = cpu_to_le32(id_len);
	h->flags = 0;
	if (id_len)
		memcpy(h + 1, id, id_len);
	h->check = cpu_to_le32(vmig_check_v2(h, sizeof(*h),
					     offsetof(struct vmig_stream_hdr,
						      check),
					     h + 1, id_len));
	return sizeof(*h) + id_len;
}
EXPORT_SYMBOL_IF_KUNIT(vmig_stream_put_hdr);

void vmig_stream_parser_init(struct vmig_stream_parser *p, const void *id,
			     u32 id_len, u32 max_payload,
			     int (*record)(void *ctx, u32 type, u32 flags,
					   const void *data, u32 len),
			     void *ctx)
{
	memset(p, 0, sizeof(*p));
	p->id = id;
	p->id_len = id_len;
	p->max_payload = max_payload;
	p->record = record;
	p->ctx = ctx;
	p->state = VMIG_PARSE_HDR;
	p->need = sizeof(struct vmig_stream_hdr);
}
EXPORT_SYMBOL_IF_KUNIT(vmig_stream_parser_init);

void vmig_stream_parser_destroy(struct vmig_stream_parser *p)
{
	kvfree(p->buf);
	p->buf = NULL;
	p->buf_size = 0;
}
EXPORT_SYMBOL_IF_KUNIT(vmig_stream_parser_destroy);

/* The parser's buffer; a KUnit static stub can make it fail. */
VISIBLE_IF_KUNIT void *vmig_stream_alloc(size_t size)
{
	KUNIT_STATIC_STUB_REDIRECT(vmig_stream_alloc, size);
	return kvmalloc(size, GFP_KERNEL_ACCOUNT);
}
EXPORT_SYMBOL_IF_KUNIT(vmig_stream_alloc);

/*
 * Collect the next @need bytes.  @buf grows only once the first of them
 * arrives (vmig_parse_grow()), so that an allocation failure can be
 * retried with those bytes.
 */
static void vmig_parse_expect(struct vmig_stream_parser *p,
			      enum vmig_parse_state state, u32 need)
{
	p->state = state;
	p->need = need;
	p->have = 0;
}

/*
 * Make @buf hold the item about to be collected, before any byte of it is
 * taken.  Not a stream error: the parser stays where it is, and the caller
 * may offer the same bytes again.
 */
static int vmig_parse_grow(struct vmig_stream_parser *p)
{
	if (p->state == VMIG_PARSE_HDR || p->state == VMIG_PARSE_REC ||
	    p->need <= p->buf_size)
		return 0;

	kvfree(p->buf);
	p->buf_size = 0;
	p->buf = vmig_stream_alloc(p->need);
	if (!p->buf)
		return -ENOMEM;
	p->buf_size = p->need;
	return 0;
}

static int vmig_parse_hdr(struct vmig_stream_parser *p)
{
	struct vmig_stream_hdr *h = &p->hdr;
	u32 id_len;

	memcpy(h, p->small, sizeof(*h));
	if (le64_to_cpu(h->magic) != VMIG_STREAM_MAGIC)
		return -EINVAL;
	/* The only field used before the check: bound it first. */
	id_len = le32_to_cpu(h->id_len);
	if (id_len > VMIG_STREAM_MAX_ID)
		return -EINVAL;
	vmig_parse_expect(p, VMIG_PARSE_ID, id_len);
	return 0;
}

static int vmig_parse_id(struct vmig_stream_parser *p)
{
	struct vmig_stream_hdr *h = &p->hdr;
	u32 version = le16_to_cpu(h->version);

	/* Any version but 1 checks its header as version 2 does. */
	if (vmig_stream_check(version == 1 ? 1 : 2, h, sizeof(*h),
			      offsetof(struct vmig_stream_hdr, check),
			      p->buf, p->need) != le32_to_cpu(h->check))
		return -EINVAL;
	/* Checked only now, so that a corrupt header reads as corrupt. */
	if (version < VMIG_STREAM_VERSION_MIN || version > VMIG_STREAM_VERSION)
		return -EOPNOTSUPP;
	if (le16_to_cpu(h->hdr_len) != sizeof(*h))
		return -EINVAL;
	if (le32_to_cpu(h->flags))
		return -EOPNOTSUPP;
	if (p->need != p->id_len || memcmp(p->buf, p->id, p->id_len))
		return -EINVAL;
	p->version = version;
	vmig_parse_expect(p, VMIG_PARSE_REC, sizeof(struct vmig_rec_hdr));
	return 0;
}

static int vmig_parse_rec(struct vmig_stream_parser *p)
{
	u32 len;

	memcpy(&p->rec, p->small, sizeof(p->rec));
	len = le32_to_cpu(p->rec.len);
	/* The only field used before the check: bound it first. */
	if (len > max_t(u32, p->max_payload, sizeof(struct vmig_stream_end)))
		return -EINVAL;
	vmig_parse_expect(p, VMIG_PARSE_PAYLOAD, len);
	return 0;
}

static int vmig_parse_end(struct vmig_stream_parser *p)
{
	struct vmig_stream_end end;

	if (p->need != sizeof(end))
		return -EINVAL;
	memcpy(&end, p->buf, sizeof(end));
	if (le64_to_cpu(end.nr_records) != p->nr_records ||
	    le64_to_cpu(end.payload_bytes) != p->payload_bytes)
		return -EINVAL;
	p->state = VMIG_PARSE_DONE;
	p->need = 0;
	p->have = 0;
	return 0;
}

static int vmig_parse_payload(struct vmig_stream_parser *p)
{
	u32 type = le16_to_cpu(p->rec.type);
	u32 flags = le16_to_cpu(p->rec.flags);
	u32 len = p->need;
	int ret;

	if (vmig_stream_check(p->version, &p->rec, sizeof(p->rec),
			      offsetof(struct vmig_rec_hdr, check),
			      p->buf, len) != le32_to_cpu(p->rec.check))
		return -EINVAL;
	if (!type || le32_to_cpu(p->rec.seq) != p->nr_records)
		return -EINVAL;
	if (flags & ~VMIG_REC_KNOWN_FLAGS)
		return -EOPNOTSUPP;
	if (type == VMIG_REC_END)
		return vmig_parse_end(p);
	if (len > p->max_payload)
		return -EINVAL;

	if (type < VMIG_REC_DRIVER_BASE)
		ret = -EOPNOTSUPP;	/* reserved for the core, unknown */
	else
		ret = p->record(p->ctx, type, flags, p->buf, len);
	if (ret == -EOPNOTSUPP && !(flags & VMIG_REC_MANDATORY))
		ret = 0;
	if (ret)
		return ret;

	p->nr_records++;
	p->payload_bytes += len;
	vmig_parse_expect(p, VMIG_PARSE_REC, sizeof(struct vmig_rec_hdr));
	return 0;
}

/* The item being collected is complete: check it and move on. */
static int vmig_parse_item(struct vmig_stream_parser *p)
{
	switch (p->state) {
	case VMIG_PARSE_HDR:
		return vmig_parse_hdr(p);
	case VMIG_PARSE_ID:
		return vmig_parse_id(p);
	case VMIG_PARSE_REC:
		return vmig_parse_rec(p);
	case VMIG_PARSE_PAYLOAD:
		return vmig_parse_payload(p);
	default:
		return -EINVAL;
	}
}

static int vmig_parse_fail(struct vmig_stream_parser *p, int err)
{
	p->state = VMIG_PARSE_FAILED;
	p->err = err;
	return err;
}

/*
 * vmig_stream_parse() - feed bytes of a stream to the parser
 *
 * Any split of the stream into calls gives the same result.  Returns 0 while
 * the stream is well formed so far, else the sticky error.  Or -ENOMEM, not
 * sticky, when no buffer could be had for the next item: @offset then
 * counts the bytes taken, and the caller offers the rest again later.
 */
int vmig_stream_parse(struct vmig_stream_parser *p, const void *data,
		      size_t len)
{
	const u8 *in = data;
	int ret;

	if (p->state == VMIG_PARSE_FAILED)
		return p->err;

	while (len || (p->have == p->need && p->state != VMIG_PARSE_DONE)) {
		size_t n;
		u8 *dst;

		if (p->state == VMIG_PARSE_DONE)
			return vmig_parse_fail(p, -EINVAL);	/* after the trailer */

		if (p->have < p->need) {
			ret = vmig_parse_grow(p);
			if (ret)
				return ret;
			dst = (p->state == VMIG_PARSE_HDR ||
			       p->state == VMIG_PARSE_REC) ? p->small : p->buf;
			n = min_t(size_t, len, p->need - p->have);
			memcpy(dst + p->have, in, n);
			p->have += n;
			p->offset += n;
			in += n;
			len -= n;
			if (p->have < p->need)
				break;
		}
		ret = vmig_parse_item(p);
		if (ret)
			return vmig_parse_fail(p, ret);
	}
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(vmig_stream_parse);

/**
 * vmig_stream_direct() - where the next bytes of a payload may be put
 * @p: the parser
 * @room: set to the bytes the payload still lacks
 *
 * A caller that would copy a payload into a buffer of its own only to pass
 * it to vmig_stream_parse() may copy it here instead, up to @room bytes,
 * and then vmig_stream_commit() them.  This may grow the parser's buffer,
 * and the copy writes to it: only the caller that feeds the parser may do
 * either, serialised with its other calls of the parser.  Other readers of
 * the parser (vmig_stream_finish()) see no change before the commit.
 *
 * Return: the address of the payload's next byte, with @room set; NULL if
 * the parser is not collecting a payload (feed it through
 * vmig_stream_parse()); or ERR_PTR(-ENOMEM), no stream error, when its
 * buffer could not grow.
 */
void *vmig_stream_direct(struct vmig_stream_parser *p, u32 *room)
{
	int ret;

	if (p->state != VMIG_PARSE_PAYLOAD || p->have >= p->need)
		return NULL;
	ret = vmig_parse_grow(p);
	if (ret)
		return ERR_PTR(ret);
	*room = p->need - p->have;
	return p->buf + p->have;
}
EXPORT_SYMBOL_IF_KUNIT(vmig_stream_direct);

/**
 * vmig_stream_commit() - take the bytes put where vmig_stream_direct() said
 * @p: the parser
 * @len: how many, at most the room it gave
 *
 * A payload the commit completes is checked and handed on before it
 * returns, as by vmig_stream_parse().
 *
 * Return: 0 while the stream is well formed so far, else the sticky error
 * (never the retryable -ENOMEM: the buffer is there already).
 */
int vmig_stream_commit(struct vmig_stream_parser *p, u32 len)
{
	int ret;

	if (p->state == VMIG_PARSE_FAILED)
		return p->err;
	if (WARN_ON_ONCE(p->state != VMIG_PARSE_PAYLOAD ||
			 len > p->need - p->have || p->need > p->buf_size))
		return vmig_parse_fail(p, -EINVAL);
	p->have += len;
	p->offset += len;
	if (p->have < p->need)
		return 0;
	ret = vmig_parse_item(p);
	return ret ? vmig_parse_fail(p, ret) : 0;
}
EXPORT_SYMBOL_IF_KUNIT(vmig_stream_commit);

/* Is the parser at the first byte of a record header? */
bool vmig_stream_at_record(const struct vmig_stream_parser *p)
{
	return p->state == VMIG_PARSE_REC && !p->have;
}
EXPORT_SYMBOL_IF_KUNIT(vmig_stream_at_record);

/* @ret of vmig_stream_parse() is no stream error: the bytes may come again. */
bool vmig_stream_retryable(const struct vmig_stream_parser *p, int ret)
{
	return ret == -ENOMEM && p->state != VMIG_PARSE_FAILED;
}
EXPORT_SYMBOL_IF_KUNIT(vmig_stream_retryable);

/* The stream must be complete: 0, the sticky error, or -EINVAL if cut short. */
int vmig_stream_finish(struct vmig_stream_parser *p)
{
	if (p->state == VMIG_PARSE_FAILED)
		return p->err;
	return p->state == VMIG_PARSE_DONE ? 0 : -EINVAL;
}
EXPORT_SYMBOL_IF_KUNIT(vmig_stream_finish);
