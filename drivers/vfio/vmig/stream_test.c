// SPDX-License-Identifier: GPL-2.0-only
/*
 * KUnit suite for the vmig stream envelope: well-formed streams in every
 * split, every truncation, every single-byte corruption, crafted streams
 * for each documented errno, and a long run of random mutations.
 */

#include <kunit/static_stub.h>
#include <kunit/test.h>
#include <linux/prandom.h>
#include <linux/slab.h>
#include <linux/vmig.h>
#include <linux/xxhash.h>

#include "stream.h"

MODULE_IMPORT_NS(EXPORTED_FOR_KUNIT_TESTING);

#define TS_ID		"vmig-test model=1 size=4096"
#define TS_MAX		4096
#define TS_TYPE		(VMIG_REC_DRIVER_BASE + 1)
#define TS_MAX_RECS	8

/* One record as the driver is meant to see it. */
struct ts_rec {
	u32 type;
	u32 len;
	u32 sum;	/* a checksum of the payload, to compare deliveries */
};

/* What a parse delivered to the driver's callback. */
struct ts_sink {
	struct ts_rec recs[TS_MAX_RECS];
	int nr;
	int refuse_type;	/* the "driver" answers -EOPNOTSUPP for it */
};

static u32 ts_sum(const void *data, u32 len)
{
	return lower_32_bits(xxh64(data, len, 0x1234));
}

static int ts_record(void *ctx, u32 type, u32 flags, const void *data, u32 len)
{
	struct ts_sink *sink = ctx;

	if (type == sink->refuse_type)
		return -EOPNOTSUPP;
	if (sink->nr < TS_MAX_RECS) {
		sink->recs[sink->nr].type = type;
		sink->recs[sink->nr].len = len;
		sink->recs[sink->nr].sum = ts_sum(data, len);
	}
	sink->nr++;
	return 0;
}

/* A stream under construction, in a kunit-managed buffer. */
struct ts_stream {
	u8 *buf;
	size_t len;
	size_t size;
	u32 nr;
	u64 payload;
};

static void ts_begin(struct kunit *test, struct ts_stream *s, const char *id)
{
	s->size = 256 * 1024;
	s->buf = kunit_kzalloc(test, s->size, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, s->buf);
	s->len = vmig_stream_put_hdr(s->buf, id, strlen(id));
	s->nr = 0;
	s->payload = 0;
}

/* Append a record; @fill chooses the payload bytes. */
static void ts_add(struct kunit *test, struct ts_stream *s, u32 type,
		   u32 flags, u32 len, u8 fill)
{
	u8 *rec = s->buf + s->len;
	u32 i;

	KUNIT_ASSERT_LE(test, s->len + sizeof(struct vmig_rec_hdr) + len,
			s->size);
	for (i = 0; i < len; i++)
		rec[sizeof(struct vmig_rec_hdr) + i] = fill + i * 7;
	vmig_stream_seal(rec, type, flags, len, s->nr);
	s->len += sizeof(struct vmig_rec_hdr) + len;
	s->nr++;
	s->payload += len;
}

static void ts_end(struct kunit *test, struct ts_stream *s)
{
	struct vmig_stream_end end = {
		.nr_records = cpu_to_le64(s->nr),
		.payload_bytes = cpu_to_le64(s->payload),
	};
	u8 *rec = s->buf + s->len;

	memcpy(rec + sizeof(struct vmig_rec_hdr), &end, sizeof(end));
	vmig_stream_seal(rec, VMIG_REC_END, 0, sizeof(end), s->nr);
	s->len += sizeof(struct vmig_rec_hdr) + sizeof(end);
}

/* The stream most cases start from: four records of assorted sizes. */
static void ts_sample(struct kunit *test, struct ts_stream *s)
{
	ts_begin(test, s, TS_ID);
	ts_add(test, s, TS_TYPE, VMIG_REC_MANDATORY, 100, 1);
	ts_add(test, s, TS_TYPE + 1, 0, 0, 0);
	ts_add(test, s, TS_TYPE, 0, 1000, 2);
	ts_add(test, s, TS_TYPE + 2, VMIG_REC_MANDATORY, 17, 3);
	ts_end(test, s);
}

/*
 * Put up to @len bytes of @data where vmig_stream_direct() says, as write()
 * does with a long payload.  Returns the bytes taken, 0 when the parser
 * collects no payload, or the error.
 */
static long ts_direct(struct vmig_stream_parser *p, const u8 *data,
		      size_t len)
{
	u32 room;
	void *dst;
	int ret;

	dst = vmig_stream_direct(p, &room);
	if (IS_ERR_OR_NULL(dst))
		return PTR_ERR_OR_ZERO(dst);
	len = min_t(size_t, len, room);
	memcpy(dst, data, len);
	ret = vmig_stream_commit(p, len);
	return ret ?: len;
}

/*
 * Parse @len bytes of @data split at the offsets @rnd chooses (or in one
 * call when @rnd is NULL), then finish.  With @rnd, payloads are put in
 * place by ts_direct() about every other call.  Returns the first error.
 */
static int ts_parse(const u8 *data, size_t len, struct ts_sink *sink,
		    struct rnd_state *rnd, u32 max_payload)
{
	struct vmig_stream_parser p;
	size_t off = 0;
	long taken;
	int ret = 0;

	vmig_stream_parser_init(&p, TS_ID, strlen(TS_ID), max_payload,
				ts_record, sink);
	while (off < len && !ret) {
		size_t n = len - off;

		if (rnd)
			n = min_t(size_t, n, 1 + prandom_u32_state(rnd) % 300);
		if (rnd && prandom_u32_state(rnd) & 1) {
			taken = ts_direct(&p, data + off, n);
			if (taken) {
				ret = min(taken, 0L);
				off += max(taken, 0L);
				continue;
			}
		}
		ret = vmig_stream_parse(&p, data + off, n);
		off += n;
	}
	if (!ret)
		ret = vmig_stream_finish(&p);
	vmig_stream_parser_destroy(&p);
	return ret;
}

static void vmig_stream_roundtrip(struct kunit *test)
{
	struct ts_sink sink = {}, again = {};
	struct rnd_state rnd;
	struct ts_stream s;
	size_t i;

	ts_sample(test, &s);
	KUNIT_ASSERT_EQ(test, ts_parse(s.buf, s.len, &sink, NULL, TS_MAX), 0);
	KUNIT_ASSERT_EQ(test, sink.nr, 4);
	KUNIT_EXPECT_EQ(test, sink.recs[0].len, 100);
	KUNIT_EXPECT_EQ(test, sink.recs[1].len, 0);
	KUNIT_EXPECT_EQ(test, sink.recs[2].len, 1000);
	KUNIT_EXPECT_EQ(test, sink.recs[3].type, TS_TYPE + 2);

	/* Byte by byte, and in random pieces: the same records. */
	{
		struct vmig_stream_parser p;

		vmig_stream_parser_init(&p, TS_ID, strlen(TS_ID), TS_MAX,
					ts_record, &again);
		for (i = 0; i < s.len; i++)
			KUNIT_ASSERT_EQ(test, vmig_stream_parse(&p, s.buf + i, 1), 0);
		KUNIT_EXPECT_EQ(test, vmig_stream_finish(&p), 0);
		vmig_stream_parser_destroy(&p);
		KUNIT_EXPECT_EQ(test, again.nr, sink.nr);
		KUNIT_EXPECT_EQ(test, memcmp(again.recs, sink.recs,
					     sizeof(sink.recs)), 0);
	}
	prandom_seed_state(&rnd, 42);
	for (i = 0; i < 100; i++) {
		memset(&again, 0, sizeof(again));
		KUNIT_ASSERT_EQ(test, ts_parse(s.buf, s.len, &again, &rnd, TS_MAX), 0);
		KUNIT_EXPECT_EQ(test, memcmp(again.recs, sink.recs,
					     sizeof(sink.recs)), 0);
	}
}

/* A stream cut anywhere before its end is refused, never accepted. */
static void vmig_stream_every_truncation(struct kunit *test)
{
	struct ts_sink sink;
	struct ts_stream s;
	size_t cut;

	ts_sample(test, &s);
	for (cut = 0; cut < s.len; cut++) {
		memset(&sink, 0, sizeof(sink));
		KUNIT_EXPECT_EQ_MSG(test, ts_parse(s.buf, cut, &sink, NULL, TS_MAX),
				    -EINVAL, "cut at %zu of %zu", cut, s.len);
		KUNIT_EXPECT_LE(test, sink.nr, 4);
	}
}

/* Any changed byte is caught; the driver never sees a corrupt record. */
static void vmig_stream_every_byte(struct kunit *test)
{
	static const u8 deltas[] = { 0x01, 0x80, 0xff };
	struct ts_sink sink, good = {};
	struct ts_stream s;
	size_t off;
	unsigned int d;
	int ret, i;

	ts_sample(test, &s);
	KUNIT_ASSERT_EQ(test, ts_parse(s.buf, s.len, &good, NULL, TS_MAX), 0);
	for (off = 0; off < s.len; off++) {
		for (d = 0; d < ARRAY_SIZE(deltas); d++) {
			memset(&sink, 0, sizeof(sink));
			s.buf[off] ^= deltas[d];
			ret = ts_parse(s.buf, s.len, &sink, NULL, TS_MAX);
			s.buf[off] ^= deltas[d];
			KUNIT_EXPECT_EQ_MSG(test, ret, -EINVAL, "byte %zu ^ %#x",
					    off, deltas[d]);
			/* What was delivered is a prefix of the real records. */
			for (i = 0; i < min(sink.nr, TS_MAX_RECS); i++)
				KUNIT_EXPECT_EQ(test, sink.recs[i].sum,
						good.recs[i].sum);
		}
	}
}

/*
 * The checks against values computed outside the kernel (the XXH64 and
 * the bitwise CRC32C of another implementation), for a record header
 * {type 0x10, flags 1, len 5, seq 3, check 0} and two payloads: a change
 * of seed order, of the bytes hashed or of the truncation shows here even
 * when reader and writer agree with each other.
 */
static void vmig_stream_known_answers(struct kunit *test)
{
	static const u8 hdr[16] = { 0x10, 0, 1, 0, 5, 0, 0, 0, 3 };
	u8 big[100];
	int i;

	for (i = 0; i < sizeof(big); i++)
		big[i] = i * 7 + 1;
	KUNIT_EXPECT_EQ(test, vmig_stream_check(2, hdr, sizeof(hdr), 12,
						"hello", 5), 0x0783046e);
	KUNIT_EXPECT_EQ(test, vmig_stream_check(1, hdr, sizeof(hdr), 12,
						"hello", 5), 0x0c28aca2);
	KUNIT_EXPECT_EQ(test, vmig_stream_check(2, hdr, sizeof(hdr), 12,
						big, sizeof(big)), 0x1057dc88);
	KUNIT_EXPECT_EQ(test, vmig_stream_check(1, hdr, sizeof(hdr), 12,
						big, sizeof(big)), 0x48f54f33);
	/* The check field is read as zero, whatever it holds. */
	{
		u8 h[16];

		memcpy(h, hdr, sizeof(h));
		memset(h + 12, 0xa5, 4);
		KUNIT_EXPECT_EQ(test, vmig_stream_check(2, h, sizeof(h), 12,
							"hello", 5), 0x0783046e);
		KUNIT_EXPECT_EQ(test, vmig_stream_check(1, h, sizeof(h), 12,
							"hello", 5), 0x0c28aca2);
	}
}

/* Make @s a stream of format @version: its number and every check. */
static void ts_recheck(struct kunit *test, struct ts_stream *s, u32 version)
{
	struct vmig_stream_hdr *h = (struct vmig_stream_hdr *)s->buf;
	size_t off = sizeof(*h) + le32_to_cpu(h->id_len);
	struct vmig_rec_hdr *r;

	h->version = cpu_to_le16(version);
	h->check = cpu_to_le32(vmig_stream_check(version, h, sizeof(*h),
						 offsetof(struct vmig_stream_hdr,
							  check),
						 h + 1,
						 le32_to_cpu(h->id_len)));
	while (off < s->len) {
		r = (struct vmig_rec_hdr *)(s->buf + off);
		KUNIT_ASSERT_LE(test, off + sizeof(*r) + le32_to_cpu(r->len),
				s->len);
		r->check = cpu_to_le32(vmig_stream_check(version, r, sizeof(*r),
							 offsetof(struct vmig_rec_hdr,
								  check),
							 r + 1,
							 le32_to_cpu(r->len)));
		off += sizeof(*r) + le32_to_cpu(r->len);
	}
}

/*
 * Version 1 streams, checked with CRC32C, are still read: the same
 * records as the version 2 stream they were made from, and a change of
 * any byte is caught.  Neither version's checks pass for the other.
 */
static void vmig_stream_version1(struct kunit *test)
{
	struct ts_sink good = {}, sink = {};
	struct vmig_stream_hdr *h;
	struct ts_stream s;
	size_t off;
	u8 *orig;
	int ret;

	ts_sample(test, &s);
	h = (struct vmig_stream_hdr *)s.buf;
	KUNIT_ASSERT_EQ(test, le16_to_cpu(h->version), 2);
	KUNIT_ASSERT_EQ(test, ts_parse(s.buf, s.len, &good, NULL, TS_MAX), 0);
	/* ts_recheck() computes what vmig_stream_seal() wrote. */
	orig = kunit_kmalloc(test, s.len, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, orig);
	memcpy(orig, s.buf, s.len);
	ts_recheck(test, &s, 2);
	KUNIT_EXPECT_EQ(test, memcmp(orig, s.buf, s.len), 0);
	KUNIT_EXPECT_EQ(test, ts_parse(s.buf, s.len, &sink, NULL, TS_MAX), 0);
	/* A version 2 stream that says 1: -EINVAL, not read as version 1. */
	h->version = cpu_to_le16(1);
	KUNIT_EXPECT_EQ(test, ts_parse(s.buf, s.len, &sink, NULL, TS_MAX),
			-EINVAL);

	ts_recheck(test, &s, 1);
	memset(&sink, 0, sizeof(sink));
	KUNIT_ASSERT_EQ(test, ts_parse(s.buf, s.len, &sink, NULL, TS_MAX), 0);
	KUNIT_EXPECT_EQ(test, sink.nr, good.nr);
	KUNIT_EXPECT_EQ(test, memcmp(sink.recs, good.recs, sizeof(good.recs)),
			0);
	for (off = 0; off < s.len; off++) {
		s.buf[off] ^= 0x10;
		ret = ts_parse(s.buf, s.len, &sink, NULL, TS_MAX);
		s.buf[off] ^= 0x10;
		KUNIT_EXPECT_EQ_MSG(test, ret, -EINVAL, "byte %zu", off);
	}

	/* A version 1 header over records checked as version 2: -EINVAL. */
	ts_sample(test, &s);
	h = (struct vmig_stream_hdr *)s.buf;
	h->version = cpu_to_le16(1);
	h->check = cpu_to_le32(vmig_stream_check(1, h, sizeof(*h),
						 offsetof(struct vmig_stream_hdr,
							  check),
						 h + 1, strlen(TS_ID)));
	KUNIT_EXPECT_EQ(test, ts_parse(s.buf, s.len, &sink, NULL, TS_MAX),
			-EINVAL);
}

/* Streams that are sound but say what this core cannot do. */
static void vmig_stream_crafted(struct kunit *test)
{
	struct vmig_stream_hdr *h;
	struct ts_sink sink = {};
	struct ts_stream s;
	int i;

	/* Unknown mandatory driver record: -EOPNOTSUPP. */
	ts_begin(test, &s, TS_ID);
	ts_add(test, &s, TS_TYPE + 9, VMIG_REC_MANDATORY, 8, 0);
	ts_end(test, &s);
	sink.refuse_type = TS_TYPE + 9;
	KUNIT_EXPECT_EQ(test, ts_parse(s.buf, s.len, &sink, NULL, TS_MAX),
			-EOPNOTSUPP);

	/* The same record not mandatory: skipped, the stream is fine. */
	ts_begin(test, &s, TS_ID);
	ts_add(test, &s, TS_TYPE + 9, 0, 8, 0);
	ts_add(test, &s, TS_TYPE, 0, 8, 0);
	ts_end(test, &s);
	memset(&sink, 0, sizeof(sink));
	sink.refuse_type = TS_TYPE + 9;
	KUNIT_EXPECT_EQ(test, ts_parse(s.buf, s.len, &sink, NULL, TS_MAX), 0);
	KUNIT_EXPECT_EQ(test, sink.nr, 1);

	/* A type reserved for the core: mandatory refused, optional skipped. */
	ts_begin(test, &s, TS_ID);
	ts_add(test, &s, 5, VMIG_REC_MANDATORY, 4, 0);
	ts_end(test, &s);
	memset(&sink, 0, sizeof(sink));
	KUNIT_EXPECT_EQ(test, ts_parse(s.buf, s.len, &sink, NULL, TS_MAX),
			-EOPNOTSUPP);
	ts_begin(test, &s, TS_ID);
	ts_add(test, &s, 5, 0, 4, 0);
	ts_end(test, &s);
	KUNIT_EXPECT_EQ(test, ts_parse(s.buf, s.len, &sink, NULL, TS_MAX), 0);

	/* Type 0 is never valid. */
	ts_begin(test, &s, TS_ID);
	ts_add(test, &s, 0, 0, 4, 0);
	ts_end(test, &s);
	KUNIT_EXPECT_EQ(test, ts_parse(s.buf, s.len, &sink, NULL, TS_MAX),
			-EINVAL);

	/* Another device's identity: -EINVAL. */
	ts_begin(test, &s, "vmig-test model=2 size=4096");
	ts_end(test, &s);
	KUNIT_EXPECT_EQ(test, ts_parse(s.buf, s.len, &sink, NULL, TS_MAX),
			-EINVAL);

	/*
	 * A future format version, whose header is checked as version 2's:
	 * -EOPNOTSUPP, also when it says its header is longer; version 0
	 * too.  The same with a stale check: -EINVAL.
	 */
	for (i = 0; i < 3; i++) {
		ts_begin(test, &s, TS_ID);
		h = (struct vmig_stream_hdr *)s.buf;
		h->version = cpu_to_le16(i == 1 ? 0 : VMIG_STREAM_VERSION + 1);
		if (i == 2)
			h->hdr_len = cpu_to_le16(sizeof(*h) + 8);
		ts_end(test, &s);
		KUNIT_EXPECT_EQ(test, ts_parse(s.buf, s.len, &sink, NULL, TS_MAX),
				-EINVAL);
		h->check = cpu_to_le32(vmig_stream_check(2, h, sizeof(*h),
							 offsetof(struct vmig_stream_hdr,
								  check),
							 TS_ID, strlen(TS_ID)));
		KUNIT_EXPECT_EQ(test, ts_parse(s.buf, s.len, &sink, NULL, TS_MAX),
				-EOPNOTSUPP);
	}

	/* A record larger than the driver accepts: -EINVAL before buffering. */
	ts_begin(test, &s, TS_ID);
	ts_add(test, &s, TS_TYPE, 0, 2000, 0);
	ts_end(test, &s);
	KUNIT_EXPECT_EQ(test, ts_parse(s.buf, s.len, &sink, NULL, 1000),
			-EINVAL);

	/* Anything after the trailer: -EINVAL. */
	ts_sample(test, &s);
	s.buf[s.len++] = 0;
	KUNIT_EXPECT_EQ(test, ts_parse(s.buf, s.len, &sink, NULL, TS_MAX),
			-EINVAL);

	/* Not a stream at all. */
	memset(s.buf, 0xa5, 512);
	KUNIT_EXPECT_EQ(test, ts_parse(s.buf, 512, &sink, NULL, TS_MAX),
			-EINVAL);
}

/* A dropped, repeated or swapped record is caught by its sequence number. */
static void vmig_stream_sequence(struct kunit *test)
{
	size_t rec1, rec2, rec3, l1, l2;
	struct ts_sink sink = {};
	struct ts_stream s;
	u8 *copy;

	ts_sample(test, &s);
	copy = kunit_kzalloc(test, s.size, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, copy);
	rec1 = sizeof(struct vmig_stream_hdr) + strlen(TS_ID);
	l1 = sizeof(struct vmig_rec_hdr) + 100;
	rec2 = rec1 + l1;
	l2 = sizeof(struct vmig_rec_hdr);
	rec3 = rec2 + l2;

	/* Drop the first record. */
	memcpy(copy, s.buf, rec1);
	memcpy(copy + rec1, s.buf + rec2, s.len - rec2);
	KUNIT_EXPECT_EQ(test, ts_parse(copy, s.len - l1, &sink, NULL, TS_MAX),
			-EINVAL);
	/* Repeat it. */
	memcpy(copy, s.buf, rec2);
	memcpy(copy + rec2, s.buf + rec1, l1);
	memcpy(copy + rec2 + l1, s.buf + rec2, s.len - rec2);
	KUNIT_EXPECT_EQ(test, ts_parse(copy, s.len + l1, &sink, NULL, TS_MAX),
			-EINVAL);
	/* Swap the first two. */
	memcpy(copy, s.buf, rec1);
	memcpy(copy + rec1, s.buf + rec2, l2);
	memcpy(copy + rec1 + l2, s.buf + rec1, l1);
	memcpy(copy + rec3, s.buf + rec3, s.len - rec3);
	KUNIT_EXPECT_EQ(test, ts_parse(copy, s.len, &sink, NULL, TS_MAX),
			-EINVAL);
}

#define TS_FUZZ_ROUNDS	100000

/*
 * Random mutations of valid streams, fed in random pieces.  Every outcome
 * must be success with exactly the original records, or one of the two
 * documented errnos; KASAN and UBSAN watch the parser meanwhile.
 */
static void vmig_stream_fuzz(struct kunit *test)
{
	unsigned int outcome[3] = {}, round;
	struct ts_sink good = {}, sink;
	struct rnd_state rnd;
	struct ts_stream s;
	u8 *m;

	ts_sample(test, &s);
	KUNIT_ASSERT_EQ(test, ts_parse(s.buf, s.len, &good, NULL, TS_MAX), 0);
	m = kunit_kzalloc(test, s.len + 64, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, m);
	prandom_seed_state(&rnd, 0x766d6967);

	for (round = 0; round < TS_FUZZ_ROUNDS; round++) {
		size_t len = s.len, pos, n;
		int ret, i, k;

		memcpy(m, s.buf, s.len);
		for (k = 1 + prandom_u32_state(&rnd) % 4; k; k--) {
			pos = prandom_u32_state(&rnd) % len;
			switch (prandom_u32_state(&rnd) % 6) {
			case 0:		/* flip a bit */
				m[pos] ^= BIT(prandom_u32_state(&rnd) % 8);
				break;
			case 1:		/* set a byte */
				m[pos] = prandom_u32_state(&rnd);
				break;
			case 2:		/* set a little-endian word to an edge */
				n = min_t(size_t, 4, len - pos);
				memset(m + pos, prandom_u32_state(&rnd) & 1 ?
				       0xff : 0, n);
				break;
			case 3:		/* cut the stream */
				len = pos;
				break;
			case 4:		/* delete bytes */
				n = min_t(size_t, 1 + prandom_u32_state(&rnd) % 16,
					  len - pos);
				memmove(m + pos, m + pos + n, len - pos - n);
				len -= n;
				break;
			case 5:		/* insert bytes */
				n = 1 + prandom_u32_state(&rnd) % 16;
				if (len + n > s.len + 64)
					break;
				memmove(m + pos + n, m + pos, len - pos);
				for (i = 0; i < n; i++)
					m[pos + i] = prandom_u32_state(&rnd);
				len += n;
				break;
			}
			if (!len)
				break;
		}

		memset(&sink, 0, sizeof(sink));
		ret = ts_parse(m, len, &sink, &rnd, TS_MAX);
		if (!ret) {
			/* Only a mutation that changed nothing may pass. */
			KUNIT_ASSERT_EQ(test, sink.nr, good.nr);
			KUNIT_ASSERT_EQ(test, memcmp(sink.recs, good.recs,
						     sizeof(good.recs)), 0);
			outcome[0]++;
		} else if (ret == -EINVAL) {
			outcome[1]++;
		} else {
			KUNIT_ASSERT_EQ_MSG(test, ret, -EOPNOTSUPP,
					    "round %u: errno %d", round, ret);
			outcome[2]++;
		}
	}
	kunit_info(test, "%u mutated streams: %u unchanged and accepted, %u -EINVAL, %u -EOPNOTSUPP\n",
		   TS_FUZZ_ROUNDS, outcome[0], outcome[1], outcome[2]);
	KUNIT_EXPECT_EQ(test, outcome[0] + outcome[1] + outcome[2],
			TS_FUZZ_ROUNDS);
	/* Most mutations must be caught as corruption. */
	KUNIT_EXPECT_GT(test, outcome[1], TS_FUZZ_ROUNDS / 2);
}

/* The first error is sticky. */
static void vmig_stream_sticky(struct kunit *test)
{
	struct vmig_stream_parser p;
	struct ts_sink sink = {};
	struct ts_stream s;

	ts_sample(test, &s);
	vmig_stream_parser_init(&p, TS_ID, strlen(TS_ID), TS_MAX, ts_record,
				&sink);
	s.buf[0] ^= 1;
	KUNIT_EXPECT_EQ(test, vmig_stream_parse(&p, s.buf,
						sizeof(struct vmig_stream_hdr)),
			-EINVAL);
	s.buf[0] ^= 1;
	KUNIT_EXPECT_EQ(test, vmig_stream_parse(&p, s.buf, s.len), -EINVAL);
	KUNIT_EXPECT_EQ(test, vmig_stream_finish(&p), -EINVAL);
	KUNIT_EXPECT_EQ(test, sink.nr, 0);
	vmig_stream_parser_destroy(&p);
}

static void *ts_no_memory(size_t size)
{
	return NULL;
}

/*
 * A new parser for @sink that took @s up to its first payload, @head bytes
 * in, and that payload put in place whole, not yet committed.  Returns
 * where it went; @room is its length.
 */
static u8 *ts_first_payload(struct kunit *test, struct vmig_stream_parser *p,
			    struct ts_sink *sink, const struct ts_stream *s,
			    size_t head, u32 *room)
{
	u8 *dst;

	vmig_stream_parser_init(p, TS_ID, strlen(TS_ID), TS_MAX, ts_record,
				sink);
	KUNIT_ASSERT_EQ(test, vmig_stream_parse(p, s->buf, head), 0);
	dst = vmig_stream_direct(p, room);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, dst);
	memcpy(dst, s->buf + head, *room);
	return dst;
}

/*
 * Payloads put in place: the room is what the payload lacks, a payload
 * completed by a commit is checked and delivered then, no memory for it
 * is no stream error, and a corrupt one fails the stream for good.
 */
static void vmig_stream_direct_cases(struct kunit *test)
{
	size_t head = sizeof(struct vmig_stream_hdr) + strlen(TS_ID) +
		      sizeof(struct vmig_rec_hdr);
	struct vmig_stream_parser p;
	struct ts_sink sink = {};
	struct ts_stream s;
	u8 *dst, *again;
	u32 room;

	ts_sample(test, &s);
	vmig_stream_parser_init(&p, TS_ID, strlen(TS_ID), TS_MAX, ts_record,
				&sink);
	KUNIT_EXPECT_NULL(test, vmig_stream_direct(&p, &room));
	KUNIT_EXPECT_FALSE(test, vmig_stream_at_record(&p));
	KUNIT_ASSERT_EQ(test, vmig_stream_parse(&p, s.buf, head), 0);

	/* No memory: nothing taken, and the same bytes may come again. */
	kunit_activate_static_stub(test, vmig_stream_alloc, ts_no_memory);
	KUNIT_EXPECT_EQ(test, PTR_ERR(vmig_stream_direct(&p, &room)), -ENOMEM);
	kunit_deactivate_static_stub(test, vmig_stream_alloc);
	KUNIT_EXPECT_EQ(test, p.state, VMIG_PARSE_PAYLOAD);
	KUNIT_EXPECT_EQ(test, p.have, 0);
	KUNIT_EXPECT_EQ(test, p.offset, head);
	KUNIT_EXPECT_TRUE(test, vmig_stream_retryable(&p, -ENOMEM));

	dst = vmig_stream_direct(&p, &room);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, dst);
	KUNIT_EXPECT_EQ(test, room, 100);
	memcpy(dst, s.buf + head, 40);
	KUNIT_EXPECT_EQ(test, vmig_stream_commit(&p, 40), 0);
	KUNIT_EXPECT_EQ(test, sink.nr, 0);
	again = vmig_stream_direct(&p, &room);
	KUNIT_EXPECT_PTR_EQ(test, again, dst + 40);
	KUNIT_EXPECT_EQ(test, room, 60);
	memcpy(again, s.buf + head + 40, 60);
	KUNIT_EXPECT_EQ(test, vmig_stream_commit(&p, 60), 0);
	KUNIT_EXPECT_EQ(test, sink.nr, 1);
	KUNIT_EXPECT_EQ(test, p.offset, head + 100);
	/* A record header is next: no payload to put in place. */
	KUNIT_EXPECT_NULL(test, vmig_stream_direct(&p, &room));
	KUNIT_EXPECT_TRUE(test, vmig_stream_at_record(&p));
	KUNIT_EXPECT_EQ(test, vmig_stream_parse(&p, s.buf + head + 100,
						s.len - head - 100), 0);
	KUNIT_EXPECT_EQ(test, vmig_stream_finish(&p), 0);
	KUNIT_EXPECT_EQ(test, sink.nr, 4);
	vmig_stream_parser_destroy(&p);

	/* One byte of the payload wrong: the commit that completes it fails. */
	memset(&sink, 0, sizeof(sink));
	dst = ts_first_payload(test, &p, &sink, &s, head, &room);
	dst[99] ^= 0x10;
	KUNIT_EXPECT_EQ(test, vmig_stream_commit(&p, room), -EINVAL);
	KUNIT_EXPECT_EQ(test, sink.nr, 0);
	KUNIT_EXPECT_NULL(test, vmig_stream_direct(&p, &room));
	KUNIT_EXPECT_EQ(test, vmig_stream_finish(&p), -EINVAL);
	vmig_stream_parser_destroy(&p);

	/*
	 * The driver refuses the mandatory record: the error is sticky, and
	 * a later commit returns it, not the -EINVAL of a misuse.
	 */
	memset(&sink, 0, sizeof(sink));
	sink.refuse_type = TS_TYPE;
	ts_first_payload(test, &p, &sink, &s, head, &room);
	KUNIT_EXPECT_EQ(test, vmig_stream_commit(&p, room), -EOPNOTSUPP);
	KUNIT_EXPECT_EQ(test, vmig_stream_commit(&p, 1), -EOPNOTSUPP);
	KUNIT_EXPECT_EQ(test, vmig_stream_parse(&p, s.buf, 1), -EOPNOTSUPP);
	KUNIT_EXPECT_EQ(test, vmig_stream_finish(&p), -EOPNOTSUPP);
	vmig_stream_parser_destroy(&p);
}

static struct kunit_case vmig_stream_cases[] = {
	KUNIT_CASE(vmig_stream_roundtrip),
	KUNIT_CASE(vmig_stream_every_truncation),
	KUNIT_CASE(vmig_stream_every_byte),
	KUNIT_CASE(vmig_stream_crafted),
	KUNIT_CASE(vmig_stream_version1),
	KUNIT_CASE(vmig_stream_known_answers),
	KUNIT_CASE(vmig_stream_sequence),
	KUNIT_CASE(vmig_stream_sticky),
	KUNIT_CASE(vmig_stream_direct_cases),
	KUNIT_CASE_SLOW(vmig_stream_fuzz),
	{}
};

static struct kunit_suite vmig_stream_suite = {
	.name = "vmig_stream",
	.test_cases = vmig_stream_cases,
};

kunit_test_suite(vmig_stream_suite);
