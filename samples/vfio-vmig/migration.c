// SPDX-License-Identifier: GPL-2.0-only
/*
 * vmig-mtty, the migration driver: the records that carry the device state,
 * the saving and resuming sessions, and the arc handler.  The vmig core
 * does the rest: the walk over arcs, the data files, the stream envelope.
 */

#include <linux/bitops.h>
#include <linux/build_bug.h>
#include <linux/lockdep.h>
#include <linux/serial_reg.h>
#include <linux/slab.h>
#include <linux/sizes.h>
#include <linux/string.h>
#include <linux/vmig.h>
#include <linux/unaligned.h>

#include "mtty.h"

/**
 * DOC: Records
 *
 * The stream identity is 12 bytes: the model ``vmigmtty``, the format
 * (1), the number of ports and the FIFO size.  A stream of the one-port
 * type therefore never loads into the two-port type, nor the other way
 * round: the core refuses it at the first write.
 *
 * Every record payload starts with its version (1) and has fixed fields of
 * explicit size; 16-bit values are little endian, reserved bytes are zero.
 * The types, from %VMIG_REC_DRIVER_BASE, all mandatory:
 *
 * ======  =======  =====  ===================================================
 * type    name     bytes  payload
 * ======  =======  =====  ===================================================
 * 16      CONFIG   260    version, 3 reserved, the 256 bytes of config space
 * 17      LINE     8      version, port, divisor (le16), LCR, MCR, FCR,
 *                         reserved
 * 18      UART     8      version, port, IER, SCR, LSR (OE only), MSR (delta
 *                         bits only), flags (bit 0: THR-empty interrupt
 *                         latched), reserved
 * 19      FIFO     20     version, port, count, reserved, 16 bytes of receive
 *                         FIFO, oldest first, zero after count
 * 20      IRQ      8      version, interrupt type (0 none, 1 INTx, 2 MSI),
 *                         masked, pending, sent, 3 reserved
 * ======  =======  =====  ===================================================
 *
 * Each record is checked as it arrives: its length, version, port index,
 * reserved bytes, FIFO count (at most 16), and that its registers hold
 * only bits the device keeps; config space must have the device's value in
 * every read-only bit.  Anything else fails the stream with -EINVAL; a
 * record version other than 1 with -EOPNOTSUPP.  The records fill a staged
 * copy of the device; RESUMING -> STOP checks that every record arrived
 * and that they agree with each other (a FIFO count fits the FIFO mode of
 * the line settings, the IRQ record's pending bit is the line the staged
 * registers raise) and only then replaces the device state with the staged
 * copy.  Until then the device is untouched; when the check fails the arc
 * fails with -EINVAL and the device stays in RESUMING, unchanged, until
 * userspace resets it.
 *
 * The interrupt setup (eventfds) belongs to the VMM on each side and is not
 * migrated.  The IRQ record carries the source's view for checking and
 * diagnostics; the destination applies only @sent: an MSI the source
 * already sent for the asserted line is not sent again.  An asserted INTx
 * line is signalled again, since the destination's INTx starts unmasked.
 */

/**
 * DOC: Pre-copy
 *
 * A saving session tracks what the stream already carries of each record
 * that describes the device: the config space, and per port its line
 * settings, registers and FIFO.  A record is *owed* when the stream has
 * no copy of it yet, or the device has changed since that copy was taken.
 * Config space and line settings are initial data (%VMIG_REC_INITIAL),
 * the rest is dirty data.
 *
 * In PRE_COPY and PRE_COPY_P2P, &struct vmig_save_ops.pending reports the
 * framed size of the owed records, as initial and dirty bytes, and a read
 * sends them: at first all of them, later what the guest changed.  When a
 * register access makes a record owed again, the write path calls
 * vmig_save_notify() for a dirty one, so that poll() wakes, and
 * vmig_save_reinit() for an initial one, since reprogramming the line
 * after it was sent is new initial data.  In STOP_COPY the read sends
 * what is still owed, then the IRQ record, and completes the stream.
 *
 * The comparison is exact, so pre-copy never sends a record twice with the
 * same content and never reports bytes it will not send.
 * VFIO_DEVICE_FEATURE_MIG_DATA_SIZE reports the exact size of a STOP_COPY
 * stream that starts from nothing.
 */

#define VMTTY_FORMAT		1
#define VMTTY_REC_VERSION	1

enum vmtty_rec_type {
	VMTTY_REC_CONFIG = VMIG_REC_DRIVER_BASE,
	VMTTY_REC_LINE,
	VMTTY_REC_UART,
	VMTTY_REC_FIFO,
	VMTTY_REC_IRQ,
};

struct vmtty_rec_config {
	u8 version;
	u8 reserved[3];
	u8 space[VMTTY_CFG_SIZE];
} __packed;

struct vmtty_rec_line {
	u8 version;
	u8 port;
	__le16 divisor;
	u8 lcr;
	u8 mcr;
	u8 fcr;
	u8 reserved;
} __packed;

#define VMTTY_UART_THRI		BIT(0)

struct vmtty_rec_uart {
	u8 version;
	u8 port;
	u8 ier;
	u8 scr;
	u8 lsr;
	u8 msr;
	u8 flags;
	u8 reserved;
} __packed;

struct vmtty_rec_fifo {
	u8 version;
	u8 port;
	u8 count;
	u8 reserved;
	u8 data[VMTTY_FIFO_SIZE];
} __packed;

struct vmtty_rec_irq {
	u8 version;
	u8 type;	/* enum vmtty_irq_type */
	u8 masked;	/* INTx masked */
	u8 pending;	/* the interrupt line is asserted */
	u8 sent;	/* ... and was signalled */
	u8 reserved[3];
} __packed;

static_assert(sizeof(struct vmtty_rec_config) == 260);
static_assert(sizeof(struct vmtty_rec_line) == 8);
static_assert(sizeof(struct vmtty_rec_uart) == 8);
static_assert(sizeof(struct vmtty_rec_fifo) == 20);
static_assert(sizeof(struct vmtty_rec_irq) == 8);

union vmtty_rec {
	u8 version;	/* first byte of every record */
	struct vmtty_rec_config config;
	struct vmtty_rec_line line;
	struct vmtty_rec_uart uart;
	struct vmtty_rec_fifo fifo;
	struct vmtty_rec_irq irq;
};

/*
 * The records that describe the device, "slots": config space, then the
 * line settings of each port (initial data), then registers and FIFO of
 * each port (dirty data).  Initial slots come first so that one read adds
 * records of one class after the other, which keeps chunks whole.
 */
#define VMTTY_SLOT_CONFIG	0
#define VMTTY_SLOT_LINE(p)	(1 + (p))
#define VMTTY_SLOT_UART(p)	(1 + VMTTY_MAX_PORTS + 2 * (p))
#define VMTTY_SLOT_FIFO(p)	(2 + VMTTY_MAX_PORTS + 2 * (p))
#define VMTTY_NR_SLOTS		(1 + 3 * VMTTY_MAX_PORTS)
/* Not a slot: sent once, at the end; a bit of vmtty_load.seen. */
#define VMTTY_SEEN_IRQ		BIT(VMTTY_NR_SLOTS)

struct vmtty_slot {
	u16 type;
	bool initial;
	unsigned int port;
	u32 len;
};

/* Describe @slot; false if the device has no such slot (port 1 of 1). */
static bool vmtty_slot_info(const struct vmtty_device *m, unsigned int slot,
			    struct vmtty_slot *d)
{
	if (slot == VMTTY_SLOT_CONFIG) {
		*d = (struct vmtty_slot){ VMTTY_REC_CONFIG, true, 0,
					  sizeof(struct vmtty_rec_config) };
	} else if (slot < VMTTY_SLOT_UART(0)) {
		*d = (struct vmtty_slot){ VMTTY_REC_LINE, true,
					  slot - VMTTY_SLOT_LINE(0),
					  sizeof(struct vmtty_rec_line) };
	} else if ((slot - VMTTY_SLOT_UART(0)) % 2 == 0) {
		*d = (struct vmtty_slot){ VMTTY_REC_UART, false,
					  (slot - VMTTY_SLOT_UART(0)) / 2,
					  sizeof(struct vmtty_rec_uart) };
	} else {
		*d = (struct vmtty_slot){ VMTTY_REC_FIFO, false,
					  (slot - VMTTY_SLOT_FIFO(0)) / 2,
					  sizeof(struct vmtty_rec_fifo) };
	}
	return d->port < m->nr_ports;
}

/* The slots this device has, as a mask. */
static u32 vmtty_slot_mask(const struct vmtty_device *m)
{
	struct vmtty_slot d;
	unsigned int slot;
	u32 mask = 0;

	for (slot = 0; slot < VMTTY_NR_SLOTS; slot++)
		if (vmtty_slot_info(m, slot, &d))
			mask |= BIT(slot);
	return mask;
}

/* ---------------------------------------------------------------------- */
/* Encoding                                                               */

static void vmtty_encode_locked(struct vmtty_device *m,
				const struct vmtty_slot *d, union vmtty_rec *rec)
{
	const struct vmtty_port *p = &m->regs.port[d->port];
	unsigned int i;

	lockdep_assert_held(&m->lock);
	/* Only the record's own bytes: they are all it sends or compares. */
	memset(rec, 0, d->len);
	rec->version = VMTTY_REC_VERSION;
	switch (d->type) {
	case VMTTY_REC_CONFIG:
		memcpy(rec->config.space, m->regs.config, VMTTY_CFG_SIZE);
		break;
	case VMTTY_REC_LINE:
		rec->line.port = d->port;
		rec->line.divisor = cpu_to_le16(p->divisor);
		rec->line.lcr = p->lcr;
		rec->line.mcr = p->mcr;
		rec->line.fcr = p->fcr;
		break;
	case VMTTY_REC_UART:
		rec->uart.port = d->port;
		rec->uart.ier = p->ier;
		rec->uart.scr = p->scr;
		rec->uart.lsr = p->overrun ? UART_LSR_OE : 0;
		rec->uart.msr = p->msr_delta;
		rec->uart.flags = p->thri ? VMTTY_UART_THRI : 0;
		break;
	case VMTTY_REC_FIFO:
		rec->fifo.port = d->port;
		rec->fifo.count = p->rx_count;
		for (i = 0; i < p->rx_count; i++)
			rec->fifo.data[i] = p->rx[(p->rx_head + i) %
						  VMTTY_FIFO_SIZE];
		break;
	}
}

static void vmtty_encode_irq_locked(struct vmtty_device *m,
				    struct vmtty_rec_irq *irq)
{
	enum vmtty_irq_type type = vmtty_irq_type_locked(m);

	memset(irq, 0, sizeof(*irq));
	irq->version = VMTTY_REC_VERSION;
	irq->type = type;
	irq->masked = m->intx_masked;
	irq->pending = vmtty_irq_line(&m->regs, m->nr_ports);
	irq->sent = irq->pending &&
		    (type == VMTTY_IRQ_MSI ? m->msi_sent : m->intx_masked);
}

/* ---------------------------------------------------------------------- */
/* Saving                                                                 */

/**
 * struct vmtty_save - a saving session
 * @mtty: the device
 * @sess: the core's session, for vmig_save_notify() and _reinit()
 * @precopy: in PRE_COPY or PRE_COPY_P2P: report changes to the reader
 * @final: in STOP_COPY: send what is owed, then the end
 * @sent: slots the stream carries a copy of
 * @owed: slots known to be owed; a hint for the write path, kept exact by
 *	every pending() and produce(), which compare all slots.  Without
 *	@copy, exactly the slots not sent yet.
 * @copy: what the stream carries of each slot; only a session born in
 *	pre-copy, whose slots may change after they were sent, has it
 *
 * Everything but @mtty and @sess is under the device lock.
 */
struct vmtty_save {
	struct vmtty_device *mtty;
	struct vmig_session *sess;
	bool precopy;
	bool final;
	u32 sent;
	u32 owed;
	union vmtty_rec *copy;
};

/* Encode @slot into @now; is the stream's copy missing or stale? */
static bool vmtty_slot_owed_locked(struct vmtty_save *s, unsigned int slot,
				   const struct vmtty_slot *d,
				   union vmtty_rec *now)
{
	if (!s->copy && !(s->owed & BIT(slot)))
		return false;
	vmtty_encode_locked(s->mtty, d, now);
	return !s->copy || !(s->sent & BIT(slot)) ||
	       memcmp(now, &s->copy[slot], d->len);
}

static void vmtty_save_pending(struct vmig_session *sess, u64 *initial,
			       u64 *dirty)
{
	struct vmtty_save *s = vmig_session_priv(sess);
	struct vmtty_device *m = s->mtty;
	union vmtty_rec now;
	struct vmtty_slot d;
	unsigned int slot;

	guard(mutex)(&m->lock);
	for (slot = 0; slot < VMTTY_NR_SLOTS; slot++) {
		if (!vmtty_slot_info(m, slot, &d))
			continue;
		if (!vmtty_slot_owed_locked(s, slot, &d, &now)) {
			s->owed &= ~BIT(slot);
			continue;
		}
		s->owed |= BIT(slot);
		if (d.initial)
			*initial += vmig_stream_record_size(d.len);
		else
			*dirty += vmig_stream_record_size(d.len);
	}
}

/*
 * Send every owed record; in STOP_COPY, then the IRQ record, and complete.
 * The device does not change in STOP_COPY, so a call that stops at
 * -ENOBUFS resumes where it stopped.
 */
static int vmtty_save_produce(struct vmig_session *sess)
{
	struct vmtty_save *s = vmig_session_priv(sess);
	struct vmtty_device *m = s->mtty;
	union vmtty_rec now;
	struct vmtty_slot d;
	unsigned int slot;
	u32 flags;
	int ret;

	guard(mutex)(&m->lock);
	for (slot = 0; slot < VMTTY_NR_SLOTS; slot++) {
		if (!vmtty_slot_info(m, slot, &d))
			continue;
		if (!vmtty_slot_owed_locked(s, slot, &d, &now)) {
			s->owed &= ~BIT(slot);
			continue;
		}
		flags = VMIG_REC_MANDATORY;
		if (d.initial && !s->final)
			flags |= VMIG_REC_INITIAL;
		ret = vmig_save_record(sess, d.type, flags, &now, d.len, false);
		if (ret)
			return ret;
		if (s->copy)
			memcpy(&s->copy[slot], &now, d.len);
		s->sent |= BIT(slot);
		s->owed &= ~BIT(slot);
	}
	if (!s->final)
		return 0;

	vmtty_encode_irq_locked(m, &now.irq);
	ret = vmig_save_record(sess, VMTTY_REC_IRQ, VMIG_REC_MANDATORY, &now,
			       sizeof(now.irq), false);
	if (ret)
		return ret;
	vmig_save_complete(sess);
	return 0;
}

static void vmtty_save_free(struct vmtty_save *s)
{
	kfree(s->copy);
	kfree(s);
}

static void vmtty_save_release(struct vmig_session *sess)
{
	struct vmtty_save *s = vmig_session_priv(sess);
	struct vmtty_device *m = s->mtty;

	/* After this the write path cannot reach the session any more. */
	scoped_guard(mutex, &m->lock)
		if (m->save == s)
			m->save = NULL;
	vmtty_save_free(s);
}

static const struct vmig_save_ops vmtty_save_ops = {
	.produce = vmtty_save_produce,
	.pending = vmtty_save_pending,
	.release = vmtty_save_release,
};

/**
 * vmtty_mig_changed_locked() - a register access may have changed state
 * @m: the device
 * @port: the port accessed, or -1 for config space
 *
 * During pre-copy, a record that the stream had a current copy of and
 * that is owed now is news for the reader: new initial data for config
 * space and line settings, dirty data otherwise.  Caller holds @m->lock,
 * which keeps the session alive: its release op clears @m->save under the
 * same lock before the core lets it go.
 */
void vmtty_mig_changed_locked(struct vmtty_device *m, int port)
{
	struct vmtty_save *s = m->save;
	bool reinit = false, notify = false;
	union vmtty_rec now;
	struct vmtty_slot d;
	unsigned int slot;

	lockdep_assert_held(&m->lock);
	if (!s || !s->precopy)
		return;

	for (slot = 0; slot < VMTTY_NR_SLOTS; slot++) {
		if (!vmtty_slot_info(m, slot, &d) || (s->owed & BIT(slot)))
			continue;
		if (port < 0 ? slot != VMTTY_SLOT_CONFIG :
			       slot == VMTTY_SLOT_CONFIG || d.port != port)
			continue;
		if (!vmtty_slot_owed_locked(s, slot, &d, &now))
			continue;
		s->owed |= BIT(slot);
		if (d.initial)
			reinit = true;
		else
			notify = true;
	}
	if (reinit)
		vmig_save_reinit(s->sess);
	else if (notify)
		vmig_save_notify(s->sess);
}

static struct file *vmtty_save_start(struct vmtty_device *m, bool precopy)
{
	struct vmig_session_cfg cfg = {
		.chunk_size = SZ_4K,	/* the whole state takes under 1 KiB */
	};
	struct vmtty_save *s;
	struct file *f;

	s = kzalloc(sizeof(*s), GFP_KERNEL_ACCOUNT);
	if (!s)
		return ERR_PTR(-ENOMEM);
	if (precopy) {
		s->copy = kcalloc(VMTTY_NR_SLOTS, sizeof(*s->copy),
				  GFP_KERNEL_ACCOUNT);
		if (!s->copy) {
			vmtty_save_free(s);
			return ERR_PTR(-ENOMEM);
		}
	}
	s->mtty = m;
	s->precopy = precopy;
	s->final = !precopy;
	s->owed = vmtty_slot_mask(m);
	cfg.priv = s;

	f = vmig_save_open(&m->mig, &vmtty_save_ops, &cfg);
	if (IS_ERR(f)) {
		/* The session never existed: no release op will run. */
		vmtty_save_free(s);
		return f;
	}
	s->sess = vmig_file_session(f);

	guard(mutex)(&m->lock);
	m->save = s;
	return f;
}

/* PRE_COPY_P2P -> STOP_COPY: freeze, and let the session finish. */
static void vmtty_save_final(struct vmtty_device *m)
{
	guard(mutex)(&m->lock);
	m->mode = VMTTY_FROZEN;
	if (m->save) {
		m->save->precopy = false;
		m->save->final = true;
	}
}

static int vmtty_get_data_size(struct vmig_device *mig, unsigned long *bytes)
{
	struct vmtty_device *m = vmtty_from_mig(mig);
	unsigned long n = 0;
	struct vmtty_slot d;
	unsigned int slot;

	/*
	 * Exact: every slot and the IRQ record with their headers; the core
	 * adds the stream header, the identity and the trailer.
	 */
	for (slot = 0; slot < VMTTY_NR_SLOTS; slot++)
		if (vmtty_slot_info(m, slot, &d))
			n += vmig_stream_record_size(d.len);
	n += vmig_stream_record_size(sizeof(struct vmtty_rec_irq));
	*bytes = n;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Resuming                                                               */

/**
 * struct vmtty_load - a resuming session
 * @mtty: the device
 * @seen: slots received, and %VMTTY_SEEN_IRQ
 * @regs: the staged device state
 * @irq: the IRQ record received
 *
 * Only touched under the core's state lock.
 */
struct vmtty_load {
	struct vmtty_device *mtty;
	u32 seen;
	struct vmtty_regs regs;
	struct vmtty_rec_irq irq;
};

static bool vmtty_zero(const u8 *p, size_t len)
{
	return !memchr_inv(p, 0, len);
}

static int vmtty_load_config(struct vmtty_load *l,
			     const struct vmtty_rec_config *r)
{
	if (!vmtty_zero(r->reserved, sizeof(r->reserved)) ||
	    !vmtty_config_valid(l->mtty, r->space))
		return -EINVAL;
	memcpy(l->regs.config, r->space, VMTTY_CFG_SIZE);
	l->seen |= BIT(VMTTY_SLOT_CONFIG);
	return 0;
}

static int vmtty_load_line(struct vmtty_load *l, const struct vmtty_rec_line *r)
{
	struct vmtty_port *p;

	if (r->port >= l->mtty->nr_ports || r->reserved ||
	    r->mcr & ~VMTTY_MCR_MASK || r->fcr & ~VMTTY_FCR_MASK)
		return -EINVAL;
	p = &l->regs.port[r->port];
	p->divisor = le16_to_cpu(r->divisor);
	p->lcr = r->lcr;
	p->mcr = r->mcr;
	p->fcr = r->fcr;
	l->seen |= BIT(VMTTY_SLOT_LINE(r->port));
	return 0;
}

static int vmtty_load_uart(struct vmtty_load *l, const struct vmtty_rec_uart *r)
{
	struct vmtty_port *p;

	if (r->port >= l->mtty->nr_ports || r->reserved ||
	    r->ier & ~VMTTY_IER_MASK || r->lsr & ~UART_LSR_OE ||
	    r->msr & ~UART_MSR_ANY_DELTA || r->flags & ~VMTTY_UART_THRI)
		return -EINVAL;
	p = &l->regs.port[r->port];
	p->ier = r->ier;
	p->scr = r->scr;
	p->overrun = r->lsr & UART_LSR_OE;
	p->msr_delta = r->msr;
	p->thri = r->flags & VMTTY_UART_THRI;
	l->seen |= BIT(VMTTY_SLOT_UART(r->port));
	return 0;
}

static int vmtty_load_fifo(struct vmtty_load *l, const struct vmtty_rec_fifo *r)
{
	struct vmtty_port *p;

	if (r->port >= l->mtty->nr_ports || r->reserved ||
	    r->count > VMTTY_FIFO_SIZE ||
	    !vmtty_zero(r->data + r->count, VMTTY_FIFO_SIZE - r->count))
		return -EINVAL;
	p = &l->regs.port[r->port];
	memcpy(p->rx, r->data, VMTTY_FIFO_SIZE);
	p->rx_head = 0;
	p->rx_count = r->count;
	l->seen |= BIT(VMTTY_SLOT_FIFO(r->port));
	return 0;
}

static int vmtty_load_irq(struct vmtty_load *l, const struct vmtty_rec_irq *r)
{
	if (r->type > VMTTY_IRQ_MSI || r->masked > 1 || r->pending > 1 ||
	    r->sent > r->pending ||
	    !vmtty_zero(r->reserved, sizeof(r->reserved)))
		return -EINVAL;
	l->irq = *r;
	l->seen |= VMTTY_SEEN_IRQ;
	return 0;
}

static int vmtty_resume_load(struct vmig_session *sess, u32 type,
			     const void *data, u32 len)
{
	struct vmtty_load *l = vmig_session_priv(sess);
	union vmtty_rec rec;
	u32 want;

	switch (type) {
	case VMTTY_REC_CONFIG:
		want = sizeof(rec.config);
		break;
	case VMTTY_REC_LINE:
		want = sizeof(rec.line);
		break;
	case VMTTY_REC_UART:
		want = sizeof(rec.uart);
		break;
	case VMTTY_REC_FIFO:
		want = sizeof(rec.fifo);
		break;
	case VMTTY_REC_IRQ:
		want = sizeof(rec.irq);
		break;
	default:
		return -EOPNOTSUPP;
	}
	if (len != want)
		return -EINVAL;
	memcpy(&rec, data, len);
	if (rec.version != VMTTY_REC_VERSION)
		return -EOPNOTSUPP;

	switch (type) {
	case VMTTY_REC_CONFIG:
		return vmtty_load_config(l, &rec.config);
	case VMTTY_REC_LINE:
		return vmtty_load_line(l, &rec.line);
	case VMTTY_REC_UART:
		return vmtty_load_uart(l, &rec.uart);
	case VMTTY_REC_FIFO:
		return vmtty_load_fifo(l, &rec.fifo);
	default:
		return vmtty_load_irq(l, &rec.irq);
	}
}

static void vmtty_resume_release(struct vmig_session *sess)
{
	struct vmtty_load *l = vmig_session_priv(sess);

	if (l->mtty->load == l)
		l->mtty->load = NULL;
	kfree(l);
}

static const struct vmig_resume_ops vmtty_resume_ops = {
	.load = vmtty_resume_load,
	.release = vmtty_resume_release,
};

static struct file *vmtty_resume_start(struct vmtty_device *m)
{
	struct vmig_session_cfg cfg = {
		.chunk_size = sizeof(union vmtty_rec),	/* largest record */
	};
	struct vmtty_load *l;
	struct file *f;

	l = kzalloc(sizeof(*l), GFP_KERNEL_ACCOUNT);
	if (!l)
		return ERR_PTR(-ENOMEM);
	l->mtty = m;
	vmtty_regs_reset(m, &l->regs);
	cfg.priv = l;

	f = vmig_resume_open(&m->mig, &vmtty_resume_ops, &cfg);
	if (IS_ERR(f)) {
		kfree(l);
		return f;
	}
	m->load = l;
	return f;
}

/*
 * RESUMING -> STOP: the stream was sound (the core checked), now check that
 * it is whole and consistent, then replace the device state.  The device
 * is FROZEN, so the interrupt waits for RUNNING.
 */
static int vmtty_resume_commit(struct vmtty_device *m)
{
	struct vmtty_load *l = m->load;
	u32 all = vmtty_slot_mask(m) | VMTTY_SEEN_IRQ;
	unsigned int i;
	bool line;

	if (WARN_ON_ONCE(!l))
		return -EINVAL;
	if ((l->seen & all) != all)
		return -EINVAL;
	for (i = 0; i < m->nr_ports; i++)
		if (l->regs.port[i].rx_count > vmtty_rx_depth(&l->regs.port[i]))
			return -EINVAL;
	line = vmtty_irq_line(&l->regs, m->nr_ports);
	if (l->irq.pending != line)
		return -EINVAL;

	guard(mutex)(&m->lock);
	m->regs = l->regs;
	m->intx_masked = false;
	m->msi_sent = l->irq.sent;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Arcs                                                                   */

static struct file *vmtty_step(struct vmig_device *mig,
			       enum vfio_device_mig_state from,
			       enum vfio_device_mig_state to)
{
	struct vmtty_device *m = vmtty_from_mig(mig);
	int ret;

	switch (VMIG_ARC(from, to)) {
	/* Arcs that only change how the device runs. */
	case VMIG_ARC_OF(RUNNING, RUNNING_P2P):
	case VMIG_ARC_OF(STOP, RUNNING_P2P):
	case VMIG_ARC_OF(PRE_COPY, PRE_COPY_P2P):
		vmtty_set_mode(m, VMTTY_QUIET);
		return NULL;
	case VMIG_ARC_OF(RUNNING_P2P, RUNNING):
	case VMIG_ARC_OF(PRE_COPY_P2P, PRE_COPY):
		vmtty_set_mode(m, VMTTY_RUNNING);
		return NULL;
	case VMIG_ARC_OF(RUNNING_P2P, STOP):
		vmtty_set_mode(m, VMTTY_FROZEN);
		return NULL;

	/* Arcs that end a session: the core ends it, our release ops run. */
	case VMIG_ARC_OF(PRE_COPY, RUNNING):
	case VMIG_ARC_OF(PRE_COPY_P2P, RUNNING_P2P):
	case VMIG_ARC_OF(STOP_COPY, STOP):
		return NULL;
	case VMIG_ARC_OF(RESUMING, STOP):
		ret = vmtty_resume_commit(m);
		return ret ? ERR_PTR(ret) : NULL;

	/* The arc inside the saving group: from pre-copy to the final state. */
	case VMIG_ARC_OF(PRE_COPY_P2P, STOP_COPY):
		vmtty_save_final(m);
		return NULL;

	/* Arcs that start a session. */
	case VMIG_ARC_OF(RUNNING, PRE_COPY):
	case VMIG_ARC_OF(RUNNING_P2P, PRE_COPY_P2P):
		return vmtty_save_start(m, true);
	case VMIG_ARC_OF(STOP, STOP_COPY):
		return vmtty_save_start(m, false);
	case VMIG_ARC_OF(STOP, RESUMING):
		return vmtty_resume_start(m);
	}
	/* With P2P registered, the core asks for no other arc. */
	WARN_ON_ONCE(1);
	return ERR_PTR(-EINVAL);
}

/* VFIO_DEVICE_RESET, under the core's state lock: the device follows. */
static void vmtty_mig_reset(struct vmig_device *mig)
{
	struct vmtty_device *m = vmtty_from_mig(mig);

	guard(mutex)(&m->lock);
	vmtty_reset_locked(m);
}

static const struct vmig_vfio_ops vmtty_mig_vfio_ops =
	VMIG_VFIO_OPS(struct vmtty_device, vdev, mig);

const struct vmig_ops vmtty_mig_ops = {
	.migration_step_device_state = vmtty_step,
	.get_data_size = vmtty_get_data_size,
	.reset = vmtty_mig_reset,
	.vfio_ops = &vmtty_mig_vfio_ops,
};

/**
 * vmtty_mig_init() - set up the stream identity of the device's type
 * @m: the device, with @m->nr_ports set
 */
void vmtty_mig_init(struct vmtty_device *m)
{
	memcpy(m->id.model, "vmigmtty", sizeof(m->id.model));
	m->id.format = VMTTY_FORMAT;
	m->id.nr_ports = m->nr_ports;
	m->id.fifo_size = VMTTY_FIFO_SIZE;
	m->id.reserved = 0;
}
