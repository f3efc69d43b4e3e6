// SPDX-License-Identifier: GPL-2.0-only
/*
 * The vmig_mtty sample device: what its guest sees survives a migration.
 * Bytes written in loopback mode, the line configuration and the scratch
 * register are saved on one instance and read back on another; streams of
 * the other device type are refused; pre-copy sends the configuration
 * early and reports what the guest changes afterwards.
 *
 * Devices (sysfs paths) come from VMIG_MTTY1, VMIG_MTTY1_B (one port) and
 * VMIG_MTTY2, VMIG_MTTY2_B (two ports); missing ones skip.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmig.h"
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

#define LCR_DLAB	0x80
#define LCR_8N1		0x03
#define MCR_LOOP	0x10
#define LSR_DR		0x01
#define FCR_ENABLE	0x07	/* enable and clear both FIFOs */

#define BAR0		VFIO_PCI_BAR0_REGION_INDEX

static int uart_out(struct vmig_dev *d, int port, int reg, __u8 v)
{
	return vmig_region_rw(d, BAR0, port * 8 + reg, &v, 1, true);
}

static int uart_in(struct vmig_dev *d, int port, int reg, __u8 *v)
{
	return vmig_region_rw(d, BAR0, port * 8 + reg, v, 1, false);
}

/* Program a port as a guest driver would, then loop @msg back into it. */
static void uart_setup(struct __test_metadata *_metadata, struct vmig_dev *d,
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
static void uart_check(struct __test_metadata *_metadata, struct vmig_dev *d,
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

static int save(struct vmig_dev *d, struct vmig_buf *b)
{
	int fd, ret;

	ret = vmig_set_state(d, VFIO_DEVICE_STATE_STOP_COPY, &fd);
	if (ret)
		return ret;
	ret = vmig_read_stream(fd, b);
	close(fd);
	return ret ?: vmig_set_state(d, VFIO_DEVICE_STATE_STOP, NULL);
}

/* Resume @b, in 32 KiB writes as QEMU does; returns the first error. */
static int load(struct vmig_dev *d, const struct vmig_buf *b)
{
	int fd, ret;

	ret = vmig_set_state(d, VFIO_DEVICE_STATE_RESUMING, &fd);
	if (ret)
		return ret;
	ret = vmig_write_stream(fd, b->data, b->len, 32768);
	if (!ret)
		ret = vmig_set_state(d, VFIO_DEVICE_STATE_RUNNING, NULL);
	close(fd);
	return ret;
}

FIXTURE(pair) {
	struct vmig_dev a, b;
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
	ASSERT_EQ(0, vmig_dev_open(&self->a, a));
	ASSERT_EQ(0, vmig_dev_open(&self->b, b));
	ASSERT_EQ(0, vmig_reset(&self->a));
	ASSERT_EQ(0, vmig_reset(&self->b));
	self->ports = variant->ports;
}

FIXTURE_TEARDOWN(pair)
{
	vmig_dev_close(&self->a);
	vmig_dev_close(&self->b);
}

/* Save on A, resume on B: B's guest finds A's UART, bytes and all. */
TEST_F(pair, loopback_bytes_survive)
{
	struct vmig_buf s = {};
	int p;

	for (p = 0; p < self->ports; p++)
		uart_setup(_metadata, &self->a, p, 0x0c + p, 0xa5 + p,
			   p ? "port1" : "vmig!");
	ASSERT_EQ(0, save(&self->a, &s));
	ASSERT_EQ(0, load(&self->b, &s));
	for (p = 0; p < self->ports; p++)
		uart_check(_metadata, &self->b, p, 0x0c + p, 0xa5 + p,
			   p ? "port1" : "vmig!");
	vmig_buf_free(&s);
}

/* A reset clears what the guest programmed. */
TEST_F(pair, reset_clears)
{
	__u8 v;

	uart_setup(_metadata, &self->a, 0, 1, 0x5a, "x");
	ASSERT_EQ(0, vmig_reset(&self->a));
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
	struct vmig_buf s = {};
	struct pollfd p;
	int fd;

	uart_setup(_metadata, &self->a, 0, 0x30, 0x11, "ab");
	ASSERT_EQ(0, vmig_precopy_v2(&self->a));
	ASSERT_EQ(0, vmig_set_state(&self->a, VFIO_DEVICE_STATE_PRE_COPY, &fd));
	ASSERT_EQ(0, vmig_precopy_info(fd, &info));
	EXPECT_LT(0, info.initial_bytes);
	ASSERT_EQ(-ENOMSG, vmig_read_stream(fd, &s));
	ASSERT_EQ(0, vmig_precopy_info(fd, &info));
	EXPECT_EQ(0, info.initial_bytes);
	EXPECT_EQ(0, info.dirty_bytes);

	/* The running guest sends two more bytes: dirty, and poll wakes. */
	ASSERT_EQ(0, uart_out(&self->a, 0, UART_RBR, 'c'));
	ASSERT_EQ(0, uart_out(&self->a, 0, UART_RBR, 'd'));
	ASSERT_EQ(0, vmig_precopy_info(fd, &info));
	EXPECT_LT(0, info.dirty_bytes);
	p.fd = fd;
	p.events = POLLIN;
	EXPECT_EQ(1, poll(&p, 1, 1000));
	ASSERT_EQ(-ENOMSG, vmig_read_stream(fd, &s));

	/* It reprograms the divisor: new initial data. */
	ASSERT_EQ(0, uart_out(&self->a, 0, UART_LCR, LCR_DLAB));
	ASSERT_EQ(0, uart_out(&self->a, 0, UART_DLL, 0x60));
	ASSERT_EQ(0, uart_out(&self->a, 0, UART_LCR, LCR_8N1));
	ASSERT_EQ(0, vmig_precopy_info(fd, &info));
	EXPECT_EQ(VFIO_PRECOPY_INFO_REINIT, info.flags);
	EXPECT_LT(0, info.initial_bytes);
	ASSERT_EQ(-ENOMSG, vmig_read_stream(fd, &s));

	ASSERT_EQ(0, vmig_set_state(&self->a, VFIO_DEVICE_STATE_STOP_COPY, NULL));
	ASSERT_EQ(0, vmig_read_stream(fd, &s));
	close(fd);
	ASSERT_EQ(0, load(&self->b, &s));
	uart_check(_metadata, &self->b, 0, 0x60, 0x11, "abcd");
	vmig_buf_free(&s);
}

/* A stream of the other type (port count) is refused, cleanly. */
TEST(wrong_type_refused)
{
	const char *one = getenv("VMIG_MTTY1"), *two = getenv("VMIG_MTTY2");
	struct vmig_dev a, b;
	struct vmig_buf s = {};
	__u32 st;
	int fd;

	if (!one || !two)
		SKIP(return, "VMIG_MTTY1 or VMIG_MTTY2 not set");
	ASSERT_EQ(0, vmig_dev_open(&a, two));
	ASSERT_EQ(0, vmig_dev_open(&b, one));
	ASSERT_EQ(0, save(&a, &s));
	ASSERT_EQ(0, vmig_set_state(&b, VFIO_DEVICE_STATE_RESUMING, &fd));
	EXPECT_EQ(-EINVAL, vmig_write_stream(fd, s.data, s.len, 32768));
	EXPECT_EQ(-EINVAL, vmig_set_state(&b, VFIO_DEVICE_STATE_STOP, NULL));
	ASSERT_EQ(0, vmig_get_state(&b, &st));
	EXPECT_EQ(VFIO_DEVICE_STATE_RESUMING, st);
	close(fd);
	EXPECT_EQ(0, vmig_reset(&b));
	vmig_buf_free(&s);
	vmig_dev_close(&a);
	vmig_dev_close(&b);
}

TEST_HARNESS_MAIN
