// SPDX-License-Identifier: GPL-2.0-only
/*
 * The vmig_mtty sample device: what its guest sees survives a migration.
 * Bytes written in loopback mode, the line configuration and the scratch
 * register are saved on one instance and read back on another; streams of
 * the other device type are refused; pre-copy sends the configuration
 * early and reports what the guest changes afterwards.
 *
 * The device model around it is checked too: config space and BAR sizing,
 * a frozen device in STOP, interrupts through eventfds and how they cross
 * a migration, forged streams whose envelope is sound but whose records
 * are not, and guest accesses racing sessions and resets.
 *
 * Devices (sysfs paths) come from VMIG_MTTY1, VMIG_MTTY1_B (one port) and
 * VMIG_MTTY2, VMIG_MTTY2_B (two ports); missing ones skip.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>

#include "libvmig.h"
#include "../kselftest_harness.h"

/* 16550 registers, 8 per port in the I/O BAR. */
#define UART_RBR	0	/* read: receive buffer; write: THR */
#define UART_IER	1
#define UART_FCR	2	/* write: FIFO control; read: IIR */
#define UART_LCR	3
#define UART_MCR	4
#define UART_LSR	5
#define UART_SCR	7
#define UART_DLL	0	/* with LCR.DLAB */
#define UART_DLM	1

#define IER_RDI		0x01
#define LCR_DLAB	0x80
#define LCR_8N1		0x03
#define MCR_LOOP	0x10
#define LSR_DR		0x01
#define LSR_OE		0x02
#define FCR_ENABLE	0x07	/* enable and clear both FIFOs */

#define BAR0		VFIO_PCI_BAR0_REGION_INDEX
#define CONFIG		VFIO_PCI_CONFIG_REGION_INDEX
#define INTX		VFIO_PCI_INTX_IRQ_INDEX
#define MSI		VFIO_PCI_MSI_IRQ_INDEX

static int uart_out(struct libvmig_dev *d, int port, int reg, __u8 v)
{
	return libvmig_region_rw(d, BAR0, port * 8 + reg, &v, 1, true);
}

static int uart_in(struct libvmig_dev *d, int port, int reg, __u8 *v)
{
	return libvmig_region_rw(d, BAR0, port * 8 + reg, v, 1, false);
}

/* Program a port as a guest driver would, then loop @msg back into it. */
static void uart_setup(struct __test_metadata *_metadata, struct libvmig_dev *d,
		       int port, __u16 divisor, __u8 scratch, const char *msg)
{
	ASSERT_EQ(0, uart_out(d, port, UART_LCR, LCR_DLAB));
	ASSERT_EQ(0, uart_out(d, port, UART_DLL, divisor & 0xff));
	ASSERT_EQ(0, uart_out(d, port, UART_DLM, divisor >> 8));
	ASSERT_EQ(0, uart_out(d, port, UART_LCR, LCR_8N1));
	ASSERT_EQ(0, uart_out(d, port, UART_FCR, FCR_ENABLE));
	ASSERT_EQ(0, uart_out(d, port, UART_MCR, MCR_LOOP));
	ASSERT_EQ(0, uart_out(d, port, UART_SCR, scratch));
	for (; *msg; msg++)
		ASSERT_EQ(0, uart_out(d, port, UART_RBR, *msg));
}

/* Read back everything uart_setup() left, and the looped bytes. */
static void uart_check(struct __test_metadata *_metadata, struct libvmig_dev *d,
		       int port, __u16 divisor, __u8 scratch, const char *msg)
{
	__u8 v, lo, hi;

	ASSERT_EQ(0, uart_in(d, port, UART_LCR, &v));
	EXPECT_EQ(LCR_8N1, v);
	ASSERT_EQ(0, uart_in(d, port, UART_MCR, &v));
	EXPECT_EQ(MCR_LOOP, v & MCR_LOOP);
	ASSERT_EQ(0, uart_in(d, port, UART_SCR, &v));
	EXPECT_EQ(scratch, v);
	ASSERT_EQ(0, uart_out(d, port, UART_LCR, LCR_DLAB | LCR_8N1));
	ASSERT_EQ(0, uart_in(d, port, UART_DLL, &lo));
	ASSERT_EQ(0, uart_in(d, port, UART_DLM, &hi));
	ASSERT_EQ(0, uart_out(d, port, UART_LCR, LCR_8N1));
	EXPECT_EQ(divisor, lo | hi << 8);

	for (; *msg; msg++) {
		ASSERT_EQ(0, uart_in(d, port, UART_LSR, &v));
		ASSERT_NE(0, v & LSR_DR) TH_LOG("no data for '%c'", *msg);
		ASSERT_EQ(0, uart_in(d, port, UART_RBR, &v));
		EXPECT_EQ(*msg, v);
	}
	ASSERT_EQ(0, uart_in(d, port, UART_LSR, &v));
	EXPECT_EQ(0, v & LSR_DR);
}

static int cfg_read(struct libvmig_dev *d, int off, void *v, size_t len)
{
	return libvmig_region_rw(d, CONFIG, off, v, len, false);
}

static int cfg_write(struct libvmig_dev *d, int off, const void *v, size_t len)
{
	return libvmig_region_rw(d, CONFIG, off, (void *)v, len, true);
}

/* VFIO_DEVICE_SET_IRQS for one vector, with @len bytes of data. */
static int set_irqs(struct libvmig_dev *d, __u32 index, __u32 flags,
		    __u32 count, const void *data, size_t len)
{
	char buf[sizeof(struct vfio_irq_set) + sizeof(__s32)];
	struct vfio_irq_set *set = (struct vfio_irq_set *)buf;

	set->argsz = sizeof(*set) + len;
	set->flags = flags;
	set->index = index;
	set->start = 0;
	set->count = count;
	memcpy(set->data, data, len);
	return ioctl(d->fd, VFIO_DEVICE_SET_IRQS, set) ? -errno : 0;
}

static int irq_trigger(struct libvmig_dev *d, __u32 index, int efd)
{
	__s32 fd = efd;

	return set_irqs(d, index, VFIO_IRQ_SET_DATA_EVENTFD |
			VFIO_IRQ_SET_ACTION_TRIGGER, 1, &fd, sizeof(fd));
}

static int irq_disable(struct libvmig_dev *d, __u32 index)
{
	return set_irqs(d, index, VFIO_IRQ_SET_DATA_NONE |
			VFIO_IRQ_SET_ACTION_TRIGGER, 0, NULL, 0);
}

static int intx_unmask(struct libvmig_dev *d)
{
	return set_irqs(d, INTX, VFIO_IRQ_SET_DATA_NONE |
			VFIO_IRQ_SET_ACTION_UNMASK, 1, NULL, 0);
}

/* How often the eventfd fired since the last look. */
static int fired(int efd)
{
	__u64 n;

	if (read(efd, &n, sizeof(n)) != sizeof(n))
		return errno == EAGAIN ? 0 : -errno;
	return n;
}

/*
 * Forged streams.  The envelope is the core's (see stream.h there): a
 * header with the identity, records of type, flags, length, sequence and
 * check, and a trailer of type 1 with the counts.  The tests take a real
 * stream apart, change a record, and frame it again with fresh sequence
 * numbers, checks and trailer (libvmig_stream_split() and libvmig_stream_join()),
 * so that the envelope is sound and only the driver can object.
 */
#define REC_CONFIG	16
#define REC_LINE	17
#define REC_UART	18
#define REC_FIFO	19
#define REC_IRQ		20
#define REC_MANDATORY	1

/* The last record of @type for @port (ignored for CONFIG and IRQ). */
static struct libvmig_rec *records_find(struct libvmig_stream *r, __u16 type,
					int port)
{
	int i;

	for (i = r->nr - 1; i >= 0; i--)
		if (r->recs[i].type == type &&
		    (type == REC_CONFIG || type == REC_IRQ ||
		     r->recs[i].data[1] == port))
			return &r->recs[i];
	return NULL;
}

static void records_drop(struct libvmig_stream *r, struct libvmig_rec *x)
{
	int i = x - r->recs;

	memmove(x, x + 1, (r->nr - i - 1) * sizeof(*x));
	r->nr--;
}

FIXTURE(pair) {
	struct libvmig_dev a, b;
	int ports;
};

FIXTURE_VARIANT(pair) {
	const char *a, *b;
	int ports;
};

FIXTURE_VARIANT_ADD(pair, one_port) {
	.a = "VMIG_MTTY1", .b = "VMIG_MTTY1_B", .ports = 1,
};

FIXTURE_VARIANT_ADD(pair, two_ports) {
	.a = "VMIG_MTTY2", .b = "VMIG_MTTY2_B", .ports = 2,
};

FIXTURE_SETUP(pair)
{
	const char *a = getenv(variant->a), *b = getenv(variant->b);

	self->a.fd = -1;
	self->b.fd = -1;
	if (!a || !b)
		SKIP(return, "%s or %s not set", variant->a, variant->b);
	ASSERT_EQ(0, libvmig_dev_open(&self->a, a));
	ASSERT_EQ(0, libvmig_dev_open(&self->b, b));
	ASSERT_EQ(0, libvmig_reset(&self->a));
	ASSERT_EQ(0, libvmig_reset(&self->b));
	self->ports = variant->ports;
}

FIXTURE_TEARDOWN(pair)
{
	libvmig_dev_close(&self->a);
	libvmig_dev_close(&self->b);
}

/* Save on A, resume on B: B's guest finds A's UART, bytes and all. */
TEST_F(pair, loopback_bytes_survive)
{
	struct libvmig_buf s = {};
	int p;

	for (p = 0; p < self->ports; p++)
		uart_setup(_metadata, &self->a, p, 0x0c + p, 0xa5 + p,
			   p ? "port1" : "vmig!");
	ASSERT_EQ(0, libvmig_save_all(&self->a, &s));
	ASSERT_EQ(0, libvmig_resume_all(&self->b, &s, LIBVMIG_QEMU_PIECE));
	for (p = 0; p < self->ports; p++)
		uart_check(_metadata, &self->b, p, 0x0c + p, 0xa5 + p,
			   p ? "port1" : "vmig!");
	libvmig_buf_free(&s);
}

/* A reset clears what the guest programmed. */
TEST_F(pair, reset_clears)
{
	__u8 v;

	uart_setup(_metadata, &self->a, 0, 1, 0x5a, "x");
	ASSERT_EQ(0, libvmig_reset(&self->a));
	ASSERT_EQ(0, uart_in(&self->a, 0, UART_SCR, &v));
	EXPECT_EQ(0, v);
	ASSERT_EQ(0, uart_in(&self->a, 0, UART_LSR, &v));
	EXPECT_EQ(0, v & LSR_DR);
}

/*
 * Pre-copy: the configuration goes early; bytes the guest adds afterwards
 * show up as dirty and wake poll(); reprogramming the line after it was
 * sent is new initial data, REINIT for an opted-in user.
 */
TEST_F(pair, precopy_tracks_the_guest)
{
	struct vfio_precopy_info info;
	struct libvmig_buf s = {};
	struct pollfd p;
	int fd;

	uart_setup(_metadata, &self->a, 0, 0x30, 0x11, "ab");
	ASSERT_EQ(0, libvmig_precopy_v2(&self->a));
	ASSERT_EQ(0, libvmig_set_state(&self->a, VFIO_DEVICE_STATE_PRE_COPY, &fd));
	ASSERT_EQ(0, libvmig_precopy_info(fd, &info));
	EXPECT_LT(0, info.initial_bytes);
	ASSERT_EQ(-ENOMSG, libvmig_read_stream(fd, &s));
	ASSERT_EQ(0, libvmig_precopy_info(fd, &info));
	EXPECT_EQ(0, info.initial_bytes);
	EXPECT_EQ(0, info.dirty_bytes);

	/* The running guest sends two more bytes: dirty, and poll wakes. */
	ASSERT_EQ(0, uart_out(&self->a, 0, UART_RBR, 'c'));
	ASSERT_EQ(0, uart_out(&self->a, 0, UART_RBR, 'd'));
	ASSERT_EQ(0, libvmig_precopy_info(fd, &info));
	EXPECT_LT(0, info.dirty_bytes);
	p.fd = fd;
	p.events = POLLIN;
	EXPECT_EQ(1, poll(&p, 1, 1000));
	ASSERT_EQ(-ENOMSG, libvmig_read_stream(fd, &s));

	/* It reprograms the divisor: new initial data. */
	ASSERT_EQ(0, uart_out(&self->a, 0, UART_LCR, LCR_DLAB));
	ASSERT_EQ(0, uart_out(&self->a, 0, UART_DLL, 0x60));
	ASSERT_EQ(0, uart_out(&self->a, 0, UART_LCR, LCR_8N1));
	ASSERT_EQ(0, libvmig_precopy_info(fd, &info));
	EXPECT_EQ(VFIO_PRECOPY_INFO_REINIT, info.flags);
	EXPECT_LT(0, info.initial_bytes);
	ASSERT_EQ(-ENOMSG, libvmig_read_stream(fd, &s));

	ASSERT_EQ(0, libvmig_set_state(&self->a, VFIO_DEVICE_STATE_STOP_COPY, NULL));
	ASSERT_EQ(0, libvmig_read_stream(fd, &s));
	close(fd);
	ASSERT_EQ(0, libvmig_resume_all(&self->b, &s, LIBVMIG_QEMU_PIECE));
	uart_check(_metadata, &self->b, 0, 0x60, 0x11, "abcd");
	libvmig_buf_free(&s);
}

/* A stream of the other type (port count) is refused, cleanly. */
TEST(wrong_type_refused)
{
	const char *one = getenv("VMIG_MTTY1"), *two = getenv("VMIG_MTTY2");
	struct libvmig_dev a, b;
	struct libvmig_buf s = {};
	__u32 st;
	int fd;

	if (!one || !two)
		SKIP(return, "VMIG_MTTY1 or VMIG_MTTY2 not set");
	ASSERT_EQ(0, libvmig_dev_open(&a, two));
	ASSERT_EQ(0, libvmig_dev_open(&b, one));
	ASSERT_EQ(0, libvmig_save_all(&a, &s));
	ASSERT_EQ(0, libvmig_set_state(&b, VFIO_DEVICE_STATE_RESUMING, &fd));
	EXPECT_EQ(-EINVAL, libvmig_write_stream(fd, s.data, s.len, 32768));
	EXPECT_EQ(-EINVAL, libvmig_set_state(&b, VFIO_DEVICE_STATE_STOP, NULL));
	ASSERT_EQ(0, libvmig_get_state(&b, &st));
	EXPECT_EQ(VFIO_DEVICE_STATE_RESUMING, st);
	close(fd);
	EXPECT_EQ(0, libvmig_reset(&b));
	libvmig_buf_free(&s);
	libvmig_dev_close(&a);
	libvmig_dev_close(&b);
}

/* MIG_DATA_SIZE is exact for a STOP_COPY stream from RUNNING. */
TEST_F(pair, data_size_is_exact)
{
	struct libvmig_buf s = {};
	__u64 bytes;

	uart_setup(_metadata, &self->a, 0, 0x0c, 0x77, "size");
	ASSERT_EQ(0, libvmig_data_size(&self->a, &bytes));
	ASSERT_EQ(0, libvmig_save_all(&self->a, &s));
	EXPECT_EQ(s.len, bytes);
	libvmig_buf_free(&s);
}

/* Config space: identity, BAR sizing, read-only bits; the region table. */
TEST_F(pair, config_space)
{
	__u32 bar0 = self->ports == 1 ? 8 : 16, v32, ones = 0xffffffff;
	struct vfio_region_info ri;
	struct vfio_irq_info ii = { .argsz = sizeof(ii) };
	__u16 v16;
	__u8 v8;

	ASSERT_EQ(0, libvmig_region_info(&self->a, CONFIG, &ri));
	EXPECT_EQ(256, ri.size);
	ASSERT_EQ(0, libvmig_region_info(&self->a, BAR0, &ri));
	EXPECT_EQ(bar0, ri.size);
	ASSERT_EQ(0, libvmig_region_info(&self->a, VFIO_PCI_BAR1_REGION_INDEX, &ri));
	EXPECT_EQ(0, ri.size);
	EXPECT_EQ(-EINVAL, libvmig_region_info(&self->a, VFIO_PCI_NUM_REGIONS, &ri));

	ASSERT_EQ(0, cfg_read(&self->a, 0, &v32, 4));
	EXPECT_EQ(0x1b36 | (self->ports == 1 ? 2 : 3) << 16, v32);
	ASSERT_EQ(0, cfg_read(&self->a, 9, &v8, 1));
	EXPECT_EQ(0x02, v8);			/* 16550 compatible */
	ASSERT_EQ(0, cfg_read(&self->a, 10, &v16, 2));
	EXPECT_EQ(0x0700, v16);			/* serial controller */

	/* BAR sizing: all ones read back as the size mask, I/O space. */
	ASSERT_EQ(0, cfg_write(&self->a, 0x10, &ones, 4));
	ASSERT_EQ(0, cfg_read(&self->a, 0x10, &v32, 4));
	EXPECT_EQ(~(bar0 - 1) | 1, v32);
	v32 = 0xc000;
	ASSERT_EQ(0, cfg_write(&self->a, 0x10, &v32, 4));
	ASSERT_EQ(0, cfg_read(&self->a, 0x10, &v32, 4));
	EXPECT_EQ(0xc001, v32);

	/* Read-only bits stay; a ROM BAR does not exist. */
	v16 = 0x1234;
	ASSERT_EQ(0, cfg_write(&self->a, 0, &v16, 2));
	ASSERT_EQ(0, cfg_read(&self->a, 0, &v16, 2));
	EXPECT_EQ(0x1b36, v16);
	ASSERT_EQ(0, cfg_write(&self->a, 0x30, &ones, 4));
	ASSERT_EQ(0, cfg_read(&self->a, 0x30, &v32, 4));
	EXPECT_EQ(0, v32);

	/* Accesses outside a region. */
	EXPECT_EQ(-EINVAL, cfg_read(&self->a, 255, &v16, 2));
	EXPECT_EQ(-EINVAL, libvmig_region_rw(&self->a, BAR0, bar0, &v8, 1, false));
	EXPECT_EQ(-EINVAL, libvmig_region_rw(&self->a, VFIO_PCI_BAR2_REGION_INDEX,
					     0, &v8, 1, false));

	ii.index = INTX;
	ASSERT_EQ(0, ioctl(self->a.fd, VFIO_DEVICE_GET_IRQ_INFO, &ii));
	EXPECT_EQ(1, ii.count);
	EXPECT_NE(0, ii.flags & VFIO_IRQ_INFO_AUTOMASKED);
	ii.index = MSI;
	ASSERT_EQ(0, ioctl(self->a.fd, VFIO_DEVICE_GET_IRQ_INFO, &ii));
	EXPECT_EQ(1, ii.count);
	ii.index = VFIO_PCI_MSIX_IRQ_INDEX;
	ASSERT_EQ(0, ioctl(self->a.fd, VFIO_DEVICE_GET_IRQ_INFO, &ii));
	EXPECT_EQ(0, ii.count);
	ii.argsz = 8;
	EXPECT_EQ(-1, ioctl(self->a.fd, VFIO_DEVICE_GET_IRQ_INFO, &ii));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(VFIO_PCI_NUM_IRQS, self->a.info.num_irqs);
	EXPECT_EQ(VFIO_PCI_NUM_REGIONS, self->a.info.num_regions);
	EXPECT_NE(0, self->a.info.flags & VFIO_DEVICE_FLAGS_PCI);
	ri.argsz = 8;
	ri.index = CONFIG;
	EXPECT_EQ(-1, ioctl(self->a.fd, VFIO_DEVICE_GET_REGION_INFO, &ri));
	EXPECT_EQ(EINVAL, errno);
}

/* A full FIFO drops the byte and reports an overrun, which migrates. */
TEST_F(pair, overrun_survives)
{
	const char *msg = "0123456789abcdefXYZ";	/* 19 bytes, 16 fit */
	struct libvmig_buf s = {};
	__u8 v;

	uart_setup(_metadata, &self->a, 0, 1, 0, msg);
	ASSERT_EQ(0, libvmig_save_all(&self->a, &s));
	ASSERT_EQ(0, libvmig_resume_all(&self->b, &s, LIBVMIG_QEMU_PIECE));
	ASSERT_EQ(0, uart_in(&self->b, 0, UART_LSR, &v));
	EXPECT_EQ(LSR_OE | LSR_DR, v & (LSR_OE | LSR_DR));
	ASSERT_EQ(0, uart_in(&self->b, 0, UART_LSR, &v));
	EXPECT_EQ(0, v & LSR_OE);		/* reading LSR cleared it */
	uart_check(_metadata, &self->b, 0, 1, 0, "0123456789abcdef");
	libvmig_buf_free(&s);
}

/* STOP freezes the ports: reads have no side effects, writes vanish. */
TEST_F(pair, stop_freezes_the_ports)
{
	__u16 cmd = 0x0001, v16;
	__u8 v;

	uart_setup(_metadata, &self->a, 0, 3, 0x42, "hi");
	ASSERT_EQ(0, libvmig_set_state(&self->a, VFIO_DEVICE_STATE_STOP, NULL));
	ASSERT_EQ(0, uart_out(&self->a, 0, UART_SCR, 0x99));
	ASSERT_EQ(0, uart_out(&self->a, 0, UART_RBR, '!'));
	ASSERT_EQ(0, uart_in(&self->a, 0, UART_SCR, &v));
	EXPECT_EQ(0x42, v);
	ASSERT_EQ(0, uart_in(&self->a, 0, UART_RBR, &v));
	EXPECT_EQ('h', v);
	ASSERT_EQ(0, uart_in(&self->a, 0, UART_RBR, &v));
	EXPECT_EQ('h', v);
	/* Config space keeps working, as the uAPI asks. */
	ASSERT_EQ(0, cfg_write(&self->a, 4, &cmd, 2));
	ASSERT_EQ(0, cfg_read(&self->a, 4, &v16, 2));
	EXPECT_EQ(cmd, v16);

	ASSERT_EQ(0, libvmig_set_state(&self->a, VFIO_DEVICE_STATE_RUNNING, NULL));
	uart_check(_metadata, &self->a, 0, 3, 0x42, "hi");
}

/*
 * MSI: one message each time the line rises.  Held while P2P, sent on the
 * way back to RUNNING.  INTx cannot be enabled while MSI is.
 */
TEST_F(pair, msi_follows_the_line)
{
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), other;
	__u8 v;

	ASSERT_LE(0, efd);
	other = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ASSERT_LE(0, other);
	ASSERT_EQ(0, irq_trigger(&self->a, MSI, efd));
	uart_setup(_metadata, &self->a, 0, 1, 0, "");
	ASSERT_EQ(0, uart_out(&self->a, 0, UART_IER, IER_RDI));
	EXPECT_EQ(0, fired(efd));

	ASSERT_EQ(0, uart_out(&self->a, 0, UART_RBR, 'x'));
	EXPECT_EQ(1, fired(efd));
	ASSERT_EQ(0, uart_out(&self->a, 0, UART_RBR, 'y'));
	EXPECT_EQ(0, fired(efd));		/* the line was up already */
	ASSERT_EQ(0, uart_in(&self->a, 0, UART_RBR, &v));
	ASSERT_EQ(0, uart_in(&self->a, 0, UART_RBR, &v));

	ASSERT_EQ(0, libvmig_set_state(&self->a, VFIO_DEVICE_STATE_RUNNING_P2P,
				       NULL));
	ASSERT_EQ(0, uart_out(&self->a, 0, UART_RBR, 'z'));
	EXPECT_EQ(0, fired(efd));
	ASSERT_EQ(0, libvmig_set_state(&self->a, VFIO_DEVICE_STATE_RUNNING, NULL));
	EXPECT_EQ(1, fired(efd));

	EXPECT_EQ(-EINVAL, irq_trigger(&self->a, INTX, other));
	ASSERT_EQ(0, irq_disable(&self->a, MSI));
	ASSERT_EQ(0, irq_trigger(&self->a, INTX, other));
	ASSERT_EQ(0, irq_disable(&self->a, INTX));
	close(other);
	close(efd);
}

/* INTx fires, masks itself, and fires again on unmask while still up. */
TEST_F(pair, intx_masks_itself)
{
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	__u8 v, yes = 1;

	ASSERT_LE(0, efd);
	EXPECT_EQ(-EINVAL, intx_unmask(&self->a));	/* no INTx yet */
	ASSERT_EQ(0, irq_trigger(&self->a, INTX, efd));
	uart_setup(_metadata, &self->a, 0, 1, 0, "");
	ASSERT_EQ(0, uart_out(&self->a, 0, UART_IER, IER_RDI));

	ASSERT_EQ(0, uart_out(&self->a, 0, UART_RBR, 'a'));
	EXPECT_EQ(1, fired(efd));
	ASSERT_EQ(0, uart_out(&self->a, 0, UART_RBR, 'b'));
	EXPECT_EQ(0, fired(efd));		/* masked */
	ASSERT_EQ(0, intx_unmask(&self->a));
	EXPECT_EQ(1, fired(efd));		/* still up */
	ASSERT_EQ(0, uart_in(&self->a, 0, UART_RBR, &v));
	ASSERT_EQ(0, uart_in(&self->a, 0, UART_RBR, &v));
	ASSERT_EQ(0, intx_unmask(&self->a));
	EXPECT_EQ(0, fired(efd));		/* down */

	/* Masked by the user; a true DATA_BOOL trigger test-fires. */
	ASSERT_EQ(0, set_irqs(&self->a, INTX, VFIO_IRQ_SET_DATA_NONE |
			      VFIO_IRQ_SET_ACTION_MASK, 1, NULL, 0));
	ASSERT_EQ(0, uart_out(&self->a, 0, UART_RBR, 'c'));
	EXPECT_EQ(0, fired(efd));
	ASSERT_EQ(0, set_irqs(&self->a, INTX, VFIO_IRQ_SET_DATA_BOOL |
			      VFIO_IRQ_SET_ACTION_UNMASK, 1, &yes, 1));
	EXPECT_EQ(1, fired(efd));
	ASSERT_EQ(0, set_irqs(&self->a, INTX, VFIO_IRQ_SET_DATA_BOOL |
			      VFIO_IRQ_SET_ACTION_TRIGGER, 1, &yes, 1));
	EXPECT_EQ(1, fired(efd));

	/* Bad requests. */
	EXPECT_EQ(-EINVAL, set_irqs(&self->a, INTX, VFIO_IRQ_SET_DATA_NONE |
				    VFIO_IRQ_SET_ACTION_MASK |
				    VFIO_IRQ_SET_ACTION_UNMASK, 1, NULL, 0));
	EXPECT_EQ(-EINVAL, set_irqs(&self->a, MSI, VFIO_IRQ_SET_DATA_NONE |
				    VFIO_IRQ_SET_ACTION_MASK, 1, NULL, 0));
	EXPECT_EQ(-EINVAL, set_irqs(&self->a, VFIO_PCI_MSIX_IRQ_INDEX,
				    VFIO_IRQ_SET_DATA_NONE |
				    VFIO_IRQ_SET_ACTION_TRIGGER, 0, NULL, 0));
	EXPECT_EQ(-EBADF, irq_trigger(&self->a, MSI, 1000));
	EXPECT_EQ(-EINVAL, irq_trigger(&self->a, MSI, -2));
	EXPECT_EQ(-EINVAL, set_irqs(&self->a, INTX, VFIO_IRQ_SET_DATA_EVENTFD |
				    VFIO_IRQ_SET_ACTION_UNMASK, 1, &efd,
				    sizeof(efd)));
	/* fd -1 tears the trigger down: nothing fires any more. */
	ASSERT_EQ(0, irq_trigger(&self->a, INTX, -1));
	ASSERT_EQ(0, uart_out(&self->a, 0, UART_RBR, 'd'));
	EXPECT_EQ(0, fired(efd));
	EXPECT_EQ(-EINVAL, intx_unmask(&self->a));
	close(efd);
}

/*
 * An interrupt the source raised but could not send (no MSI set up) is
 * sent by the destination once it runs; one the source sent is not sent
 * again.
 */
TEST_F(pair, interrupts_cross_migration)
{
	int ea = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	int eb = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	struct libvmig_buf s = {};

	ASSERT_LE(0, ea);
	ASSERT_LE(0, eb);
	uart_setup(_metadata, &self->a, 0, 1, 0, "q");
	ASSERT_EQ(0, uart_out(&self->a, 0, UART_IER, IER_RDI));
	ASSERT_EQ(0, libvmig_save_all(&self->a, &s));
	ASSERT_EQ(0, irq_trigger(&self->b, MSI, eb));
	ASSERT_EQ(0, libvmig_resume_all(&self->b, &s, LIBVMIG_QEMU_PIECE));
	EXPECT_EQ(1, fired(eb));
	libvmig_buf_free(&s);

	ASSERT_EQ(0, libvmig_reset(&self->a));
	ASSERT_EQ(0, libvmig_reset(&self->b));
	fired(eb);
	ASSERT_EQ(0, irq_trigger(&self->a, MSI, ea));
	uart_setup(_metadata, &self->a, 0, 1, 0, "");
	ASSERT_EQ(0, uart_out(&self->a, 0, UART_IER, IER_RDI));
	ASSERT_EQ(0, uart_out(&self->a, 0, UART_RBR, 'r'));
	EXPECT_EQ(1, fired(ea));
	ASSERT_EQ(0, libvmig_save_all(&self->a, &s));
	ASSERT_EQ(0, libvmig_resume_all(&self->b, &s, LIBVMIG_QEMU_PIECE));
	EXPECT_EQ(0, fired(eb));
	uart_check(_metadata, &self->b, 0, 1, 0, "r");
	libvmig_buf_free(&s);
	close(ea);
	close(eb);
}

/* The records change the device only when the whole stream is in. */
TEST_F(pair, staged_until_stop)
{
	struct libvmig_buf s = {};
	__u8 v;
	int fd;

	uart_setup(_metadata, &self->a, 0, 1, 0x3c, "st");
	ASSERT_EQ(0, libvmig_save_all(&self->a, &s));
	ASSERT_EQ(0, uart_out(&self->b, 0, UART_SCR, 0x11));
	ASSERT_EQ(0, libvmig_set_state(&self->b, VFIO_DEVICE_STATE_RESUMING, &fd));
	ASSERT_EQ(0, libvmig_write_stream(fd, s.data, s.len, 7));
	ASSERT_EQ(0, uart_in(&self->b, 0, UART_SCR, &v));
	EXPECT_EQ(0x11, v);
	ASSERT_EQ(0, libvmig_set_state(&self->b, VFIO_DEVICE_STATE_STOP, NULL));
	ASSERT_EQ(0, uart_in(&self->b, 0, UART_SCR, &v));
	EXPECT_EQ(0x3c, v);
	close(fd);
	libvmig_buf_free(&s);
}

/*
 * Streams with a sound envelope and bad records: the driver refuses them
 * at write() or at RESUMING -> STOP, and the device stays as it was.
 */
struct forgery {
	const char *what;
	__u16 type;		/* record to change */
	int off;		/* byte of its payload to set, or -1 */
	__u8 val;
	bool drop;		/* drop the record instead */
	bool cut;		/* shorten it by a byte */
	__u16 add_flags;	/* add an unknown record with these flags */
	bool add;
	int write_err;
	int stop_err;
};

static const struct forgery forgeries[] = {
	{ "FIFO count 17", REC_FIFO, 2, 17, .write_err = -EINVAL },
	{ "FIFO byte past the count", REC_FIFO, 4 + 15, 'x',
	  .write_err = -EINVAL },
	{ "port index", REC_UART, 1, 7, .write_err = -EINVAL },
	{ "IER bit 4", REC_UART, 2, 0x10, .write_err = -EINVAL },
	{ "LSR bit other than OE", REC_UART, 4, 0x01, .write_err = -EINVAL },
	{ "MCR bit 5", REC_LINE, 5, 0x30, .write_err = -EINVAL },
	{ "reserved byte", REC_LINE, 7, 1, .write_err = -EINVAL },
	{ "vendor id", REC_CONFIG, 4, 0x34, .write_err = -EINVAL },
	{ "interrupt type 3", REC_IRQ, 1, 3, .write_err = -EINVAL },
	{ "record version 2", REC_LINE, 0, 2, .write_err = -EOPNOTSUPP },
	{ "short record", REC_UART, -1, .cut = true, .write_err = -EINVAL },
	{ "unknown mandatory record", .add = true,
	  .add_flags = REC_MANDATORY, .write_err = -EOPNOTSUPP },
	{ "unknown optional record", .add = true },
	{ "no FIFO record", REC_FIFO, -1, .drop = true, .stop_err = -EINVAL },
	{ "no IRQ record", REC_IRQ, -1, .drop = true, .stop_err = -EINVAL },
	{ "interrupt pending without a cause", REC_IRQ, 3, 1,
	  .stop_err = -EINVAL },
	{ "5 bytes in a disabled FIFO", REC_LINE, 6, 0, .stop_err = -EINVAL },
};

TEST_F(pair, forged_records)
{
	struct libvmig_buf s = {}, framed = {};
	struct libvmig_stream r = {};
	unsigned char payload[512];
	unsigned int i;
	__u32 st;

	uart_setup(_metadata, &self->a, 0, 0x0c, 0x5e, "forge");
	ASSERT_EQ(0, libvmig_save_all(&self->a, &s));

	for (i = 0; i < ARRAY_SIZE(forgeries); i++) {
		const struct forgery *f = &forgeries[i];
		struct libvmig_rec extra = { 0x7fff, f->add_flags, 3,
					  (const unsigned char *)"new" };
		struct libvmig_rec *x = NULL;
		struct libvmig_buf bad = {};
		__u8 v;
		int fd, ret;

		ASSERT_EQ(0, libvmig_stream_split(&s, &r));
		if (f->type) {
			x = records_find(&r, f->type, 0);
			ASSERT_NE(NULL, x) TH_LOG("%s: no record", f->what);
		}
		if (f->drop) {
			records_drop(&r, x);
		} else if (f->cut) {
			x->len--;
		} else if (x) {
			/* The records point into s: change a copy. */
			ASSERT_GE(sizeof(payload), x->len);
			memcpy(payload, x->data, x->len);
			payload[f->off] = f->val;
			x->data = payload;
		}
		if (f->add)
			ASSERT_EQ(0, libvmig_stream_add(&r, &extra));
		ASSERT_EQ(0, libvmig_stream_join(&r, &bad));

		ASSERT_EQ(0, libvmig_reset(&self->b));
		ASSERT_EQ(0, uart_out(&self->b, 0, UART_SCR, 0x11));
		ASSERT_EQ(0, libvmig_set_state(&self->b, VFIO_DEVICE_STATE_RESUMING,
					       &fd));
		ret = libvmig_write_stream(fd, bad.data, bad.len, 0);
		EXPECT_EQ(f->write_err, ret) TH_LOG("%s", f->what);
		ret = libvmig_set_state(&self->b, VFIO_DEVICE_STATE_STOP, NULL);
		EXPECT_EQ(f->write_err ?: f->stop_err, ret) TH_LOG("%s", f->what);
		ASSERT_EQ(0, libvmig_get_state(&self->b, &st));
		ASSERT_EQ(0, uart_in(&self->b, 0, UART_SCR, &v));
		if (ret) {
			EXPECT_EQ(VFIO_DEVICE_STATE_RESUMING, st);
			EXPECT_EQ(0x11, v) TH_LOG("%s changed the device", f->what);
		} else {
			EXPECT_EQ(VFIO_DEVICE_STATE_STOP, st);
			EXPECT_EQ(0x5e, v);
		}
		close(fd);
		libvmig_buf_free(&bad);
	}
	/* And the genuine stream, framed again the same way, loads. */
	ASSERT_EQ(0, libvmig_stream_split(&s, &r));
	ASSERT_EQ(0, libvmig_stream_join(&r, &framed));
	ASSERT_EQ(0, libvmig_reset(&self->b));
	ASSERT_EQ(0, libvmig_resume_all(&self->b, &framed, LIBVMIG_QEMU_PIECE));
	uart_check(_metadata, &self->b, 0, 0x0c, 0x5e, "forge");
	libvmig_stream_free(&r);
	libvmig_buf_free(&framed);
	libvmig_buf_free(&s);
}

/* Pre-copy notices reads too: consuming a byte dirties the FIFO. */
TEST_F(pair, precopy_sees_reads)
{
	struct vfio_precopy_info info;
	struct libvmig_buf s = {};
	__u8 v;
	int fd;

	uart_setup(_metadata, &self->a, 0, 2, 0, "xyz");
	ASSERT_EQ(0, libvmig_set_state(&self->a, VFIO_DEVICE_STATE_PRE_COPY, &fd));
	ASSERT_EQ(-ENOMSG, libvmig_read_stream(fd, &s));
	ASSERT_EQ(0, uart_in(&self->a, 0, UART_RBR, &v));
	EXPECT_EQ('x', v);
	ASSERT_EQ(0, libvmig_precopy_info(fd, &info));
	EXPECT_EQ(0, info.initial_bytes);
	EXPECT_LT(0, info.dirty_bytes);
	/* Without the opt-in there is no REINIT, only new initial bytes. */
	ASSERT_EQ(0, uart_out(&self->a, 0, UART_LCR, LCR_DLAB | LCR_8N1));
	ASSERT_EQ(0, uart_out(&self->a, 0, UART_LCR, LCR_8N1 | 0x04));
	ASSERT_EQ(0, libvmig_precopy_info(fd, &info));
	EXPECT_EQ(0, info.flags);
	EXPECT_LT(0, info.initial_bytes);
	/* An unchanged device in PRE_COPY_P2P: nothing new. */
	ASSERT_EQ(-ENOMSG, libvmig_read_stream(fd, &s));
	ASSERT_EQ(0, libvmig_set_state(&self->a, VFIO_DEVICE_STATE_PRE_COPY_P2P,
				       NULL));
	ASSERT_EQ(0, libvmig_precopy_info(fd, &info));
	EXPECT_EQ(0, info.initial_bytes);
	EXPECT_EQ(0, info.dirty_bytes);
	ASSERT_EQ(0, libvmig_set_state(&self->a, VFIO_DEVICE_STATE_STOP_COPY, NULL));
	ASSERT_EQ(0, libvmig_read_stream(fd, &s));
	close(fd);
	ASSERT_EQ(0, libvmig_resume_all(&self->b, &s, LIBVMIG_QEMU_PIECE));
	ASSERT_EQ(0, uart_in(&self->b, 0, UART_LCR, &v));
	EXPECT_EQ(LCR_8N1 | 0x04, v);
	ASSERT_EQ(0, uart_in(&self->b, 0, UART_RBR, &v));
	EXPECT_EQ('y', v);
	libvmig_buf_free(&s);
}

/*
 * A guest hammering the ports while sessions start and end under it, and
 * resets cut them short: the write path meets sessions as they go away.
 * Every access succeeds, and the device still migrates afterwards.
 */
struct hammer {
	struct libvmig_dev *d;
	atomic_bool stop;
	long ops;
	long errors;
};

static void *hammer_fn(void *arg)
{
	struct hammer *h = arg;
	__u8 v;

	while (!atomic_load(&h->stop)) {
		h->errors += !!uart_out(h->d, 0, UART_RBR, 'h');
		h->errors += !!uart_in(h->d, 0, UART_RBR, &v);
		h->errors += !!uart_out(h->d, 0, UART_LCR, h->ops & 1 ?
					LCR_8N1 : LCR_8N1 | 0x04);
		h->ops += 3;
	}
	return NULL;
}

TEST_F(pair, guest_races_sessions)
{
	struct hammer h = { .d = &self->a };
	struct libvmig_buf s = {};
	struct timespec t0, t;
	pthread_t thread;
	int fd, rounds = 0;

	uart_setup(_metadata, &self->a, 0, 1, 0, "");
	ASSERT_EQ(0, libvmig_precopy_v2(&self->a));
	ASSERT_EQ(0, pthread_create(&thread, NULL, hammer_fn, &h));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		ASSERT_EQ(0, libvmig_set_state(&self->a, VFIO_DEVICE_STATE_PRE_COPY,
					       &fd));
		libvmig_read_stream(fd, &s);
		ASSERT_EQ(0, libvmig_set_state(&self->a, VFIO_DEVICE_STATE_RUNNING,
					       NULL));
		close(fd);
		ASSERT_EQ(0, libvmig_set_state(&self->a, VFIO_DEVICE_STATE_PRE_COPY,
					       &fd));
		ASSERT_EQ(0, libvmig_reset(&self->a));
		close(fd);
		ASSERT_EQ(0, libvmig_set_state(&self->a,
					       VFIO_DEVICE_STATE_PRE_COPY_P2P, &fd));
		libvmig_read_stream(fd, &s);
		ASSERT_EQ(0, libvmig_set_state(&self->a, VFIO_DEVICE_STATE_STOP_COPY,
					       NULL));
		ASSERT_EQ(0, libvmig_read_stream(fd, &s));
		ASSERT_EQ(0, libvmig_set_state(&self->a, VFIO_DEVICE_STATE_RUNNING,
					       NULL));
		close(fd);
		libvmig_buf_free(&s);
		rounds++;
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (t.tv_sec - t0.tv_sec < 2);
	atomic_store(&h.stop, true);
	pthread_join(thread, NULL);
	TH_LOG("%d rounds against %ld guest accesses", rounds, h.ops);
	EXPECT_EQ(0, h.errors);
	EXPECT_LT(0, h.ops);

	uart_setup(_metadata, &self->a, 0, 0x0d, 0x0e, "end");
	ASSERT_EQ(0, libvmig_save_all(&self->a, &s));
	ASSERT_EQ(0, libvmig_resume_all(&self->b, &s, LIBVMIG_QEMU_PIECE));
	uart_check(_metadata, &self->b, 0, 0x0d, 0x0e, "end");
	libvmig_buf_free(&s);
}

/*
 * The parent has ports for 24 ports' worth of devices: once they are
 * taken, creating another device fails, and removing one makes room.
 */
static int sysfs_write(const char *dir, const char *file, const char *val)
{
	char path[PATH_MAX];

	if (snprintf(path, sizeof(path), "%s/%s", dir, file) >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
	return libvmig_write_file(path, val);
}

static int sysfs_read_int(const char *dir, const char *file)
{
	char path[PATH_MAX], buf[32] = "";
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (read(fd, buf, sizeof(buf) - 1) < 0)
		buf[0] = 0;
	close(fd);
	return atoi(buf);
}

TEST(instances_are_limited)
{
	const char *types = "/sys/class/mdev_bus/vmig_mtty/mdev_supported_types";
	char two[PATH_MAX], one[PATH_MAX], uuid[64], dev[PATH_MAX];
	int avail, made = 0, i;

	snprintf(two, sizeof(two), "%s/vmig_mtty-2", types);
	snprintf(one, sizeof(one), "%s/vmig_mtty-1", types);
	avail = sysfs_read_int(two, "available_instances");
	if (avail < 0)
		SKIP(return, "no vmig_mtty parent");
	ASSERT_GE(12, avail);
	for (i = 0; i < avail; i++) {
		snprintf(uuid, sizeof(uuid),
			 "5eed0000-0000-4000-8000-%012x", i);
		ASSERT_EQ(0, sysfs_write(two, "create", uuid));
		made++;
	}
	EXPECT_EQ(0, sysfs_read_int(two, "available_instances"));
	snprintf(uuid, sizeof(uuid), "5eed0000-0000-4000-8000-%012x", made);
	EXPECT_EQ(-ENOSPC, sysfs_write(two, "create", uuid));
	/* An odd port may be left for the one-port type. */
	EXPECT_GE(1, sysfs_read_int(one, "available_instances"));

	for (i = 0; i < made; i++) {
		snprintf(dev, sizeof(dev),
			 "/sys/bus/mdev/devices/5eed0000-0000-4000-8000-%012x", i);
		EXPECT_EQ(0, sysfs_write(dev, "remove", "1"));
	}
	EXPECT_EQ(avail, sysfs_read_int(two, "available_instances"));
}

/*
 * A data file may outlive its device: keep data_fd, close the device and
 * remove the mdev.  The device goes at once (its ports come back), and the
 * files still work enough to say ENODEV.
 */
TEST(data_fd_outlives_device)
{
	const char *type =
		"/sys/class/mdev_bus/vmig_mtty/mdev_supported_types/vmig_mtty-1";
	const char *uuid = "5eed0000-0000-4000-8000-0000000000ff";
	char dev[PATH_MAX], byte = 0;
	struct vfio_precopy_info info = { .argsz = sizeof(info) };
	struct libvmig_dev d;
	int avail, sfd, rfd;

	avail = sysfs_read_int(type, "available_instances");
	if (avail < 1)
		SKIP(return, "no vmig_mtty parent or no room for a device");
	snprintf(dev, sizeof(dev), "/sys/bus/mdev/devices/%s", uuid);
	ASSERT_EQ(0, sysfs_write(type, "create", uuid));
	ASSERT_EQ(0, libvmig_dev_open(&d, dev));

	/* An ended saving session, and a live resuming one. */
	ASSERT_EQ(0, libvmig_set_state(&d, VFIO_DEVICE_STATE_PRE_COPY, &sfd));
	ASSERT_EQ(0, libvmig_set_state(&d, VFIO_DEVICE_STATE_STOP, NULL));
	ASSERT_EQ(0, libvmig_set_state(&d, VFIO_DEVICE_STATE_RESUMING, &rfd));
	libvmig_dev_close(&d);
	ASSERT_EQ(0, sysfs_write(dev, "remove", "1"));
	EXPECT_NE(0, access(dev, F_OK));

	EXPECT_EQ(-1, write(rfd, &byte, 1));
	EXPECT_EQ(ENODEV, errno);
	EXPECT_EQ(-1, read(sfd, &byte, 1));
	EXPECT_EQ(ENODEV, errno);
	EXPECT_EQ(-ENODEV, libvmig_precopy_info(sfd, &info));
	/* Nothing pins the device: it was released with the remove. */
	EXPECT_EQ(avail, sysfs_read_int(type, "available_instances"));
	close(sfd);
	close(rfd);
	EXPECT_EQ(avail, sysfs_read_int(type, "available_instances"));
}

TEST_HARNESS_MAIN
