// SPDX-License-Identifier: GPL-2.0-only
/*
 * KUnit suite vmig_mtty: the sample's own paths under lockdep and KASAN,
 * which the distro kernel of the VM tests does not have.  The devices here
 * have no vfio_device: the test drives the guest's path (vmtty_bar0_rw(),
 * vmtty_config_rw()), the FSM (vmig_set_state()), VFIO_DEVICE_RESET
 * (vmtty_reset()) and the data files directly.
 */

#include <kunit/test.h>
#include <linux/debug_locks.h>
#include <linux/err.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/jiffies.h>
#include <linux/kthread.h>
#include <linux/serial_reg.h>
#include <linux/slab.h>
#include <linux/vmig.h>

#include "mtty.h"

#define MT_FLAGS	(VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P | \
			 VFIO_MIGRATION_PRE_COPY)
#define MT_BUF		4096

static void mt_free(void *data)
{
	struct vmtty_device *m = data;

	/* Data files of the test may still be on their way out. */
	flush_delayed_fput();
	vmig_close(&m->mig);
	vmig_uninit(&m->mig);
	mutex_destroy(&m->lock);
	kfree(m);
}

/* A device as vmtty_init_dev() and vmtty_open_device() leave it. */
static struct vmtty_device *mt_new(struct kunit *test, unsigned int ports)
{
	struct vmtty_device *m = kzalloc(sizeof(*m), GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, m);
	m->nr_ports = ports;
	mutex_init(&m->lock);
	vmtty_config_init(m);
	vmtty_mig_init(m);
	vmtty_regs_reset(m, &m->regs);
	KUNIT_ASSERT_EQ(test, vmig_init(&m->mig, NULL, &vmtty_mig_ops, MT_FLAGS),
			0);
	KUNIT_ASSERT_EQ(test, vmig_set_stream_id(&m->mig, &m->id, sizeof(m->id)),
			0);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, mt_free, m), 0);
	vmig_open(&m->mig);
	return m;
}

static void mt_out(struct vmtty_device *m, unsigned int port,
		   unsigned int reg, u8 val)
{
	vmtty_bar0_rw(m, port * VMTTY_PORT_SPAN + reg, &val, 1, true);
}

static u8 mt_in(struct vmtty_device *m, unsigned int port, unsigned int reg)
{
	u8 val;

	vmtty_bar0_rw(m, port * VMTTY_PORT_SPAN + reg, &val, 1, false);
	return val;
}

/* Loopback, FIFO on, then @msg looped back. */
static void mt_setup(struct vmtty_device *m, unsigned int port, u16 divisor,
		     const char *msg)
{
	mt_out(m, port, UART_LCR, UART_LCR_DLAB);
	mt_out(m, port, UART_DLL, divisor & 0xff);
	mt_out(m, port, UART_DLM, divisor >> 8);
	mt_out(m, port, UART_LCR, UART_LCR_WLEN8);
	mt_out(m, port, UART_FCR, UART_FCR_ENABLE_FIFO | UART_FCR_CLEAR_RCVR);
	mt_out(m, port, UART_MCR, UART_MCR_LOOP);
	while (*msg)
		mt_out(m, port, UART_TX, *msg++);
}

static struct file *mt_goto(struct kunit *test, struct vmtty_device *m,
			    u32 state)
{
	struct file *f = vmig_set_state(&m->mig, state);

	KUNIT_ASSERT_FALSE_MSG(test, IS_ERR(f), "-> %s: %ld",
			       vmig_state_name(state), PTR_ERR(f));
	return f;
}

/* Read until the stream pauses or ends; returns that read's result. */
static ssize_t mt_drain(struct file *f, u8 *buf, size_t *len)
{
	loff_t pos = 0;
	ssize_t n;

	for (;;) {
		n = kernel_read(f, buf + *len, MT_BUF - *len, &pos);
		if (n <= 0)
			return n;
		*len += n;
		if (*len == MT_BUF)
			*len = 0;	/* only the result matters here */
	}
}

/* Save on a two-port device, resume on another; a one-port one refuses. */
static void vmtty_test_roundtrip(struct kunit *test)
{
	struct vmtty_device *a = mt_new(test, 2), *b = mt_new(test, 2);
	struct vmtty_device *c = mt_new(test, 1);
	u8 *buf = kunit_kzalloc(test, MT_BUF, GFP_KERNEL);
	size_t len = 0;
	struct file *f;
	loff_t pos = 0;
	const char *p;

	KUNIT_ASSERT_NOT_NULL(test, buf);
	mt_setup(a, 0, 0x0c, "port 0");
	mt_setup(a, 1, 0x30, "one");
	mt_out(a, 1, UART_SCR, 0x5a);

	f = mt_goto(test, a, VFIO_DEVICE_STATE_STOP_COPY);
	KUNIT_EXPECT_EQ(test, mt_drain(f, buf, &len), 0);
	mt_goto(test, a, VFIO_DEVICE_STATE_STOP);
	fput(f);

	f = mt_goto(test, b, VFIO_DEVICE_STATE_RESUMING);
	KUNIT_EXPECT_EQ(test, kernel_write(f, buf, len, &pos), (ssize_t)len);
	mt_goto(test, b, VFIO_DEVICE_STATE_RUNNING);
	fput(f);
	KUNIT_EXPECT_MEMEQ(test, b->regs.config, a->regs.config, VMTTY_CFG_SIZE);
	KUNIT_EXPECT_EQ(test, mt_in(b, 1, UART_SCR), 0x5a);
	for (p = "port 0"; *p; p++)
		KUNIT_EXPECT_EQ(test, mt_in(b, 0, UART_RX), *p);
	for (p = "one"; *p; p++)
		KUNIT_EXPECT_EQ(test, mt_in(b, 1, UART_RX), *p);
	KUNIT_EXPECT_EQ(test, mt_in(b, 1, UART_LSR) & UART_LSR_DR, 0);

	pos = 0;
	f = mt_goto(test, c, VFIO_DEVICE_STATE_RESUMING);
	KUNIT_EXPECT_EQ(test, kernel_write(f, buf, len, &pos), -EINVAL);
	KUNIT_EXPECT_EQ(test, PTR_ERR(vmig_set_state(&c->mig,
						     VFIO_DEVICE_STATE_STOP)),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, vmtty_reset(c), 0);
	KUNIT_EXPECT_EQ(test, vmig_get_state(&c->mig), VFIO_DEVICE_STATE_RUNNING);
	fput(f);
}

struct mt_guest {
	struct vmtty_device *m;
	unsigned long accesses;
};

/* The guest: loopback bytes in and out, line and command changes. */
static int mt_guest_fn(void *arg)
{
	struct mt_guest *g = arg;
	u16 cmd;

	while (!kthread_should_stop()) {
		mt_out(g->m, 0, UART_TX, 'g');
		mt_in(g->m, 0, UART_RX);
		mt_out(g->m, 0, UART_LCR, g->accesses & 4 ? UART_LCR_WLEN8 :
			      UART_LCR_WLEN7);
		mt_in(g->m, 0, UART_LSR);
		cmd = g->accesses & 8 ? 1 : 0;
		vmtty_config_rw(g->m, 4, (u8 *)&cmd, 2, true);
		g->accesses += 5;
		cond_resched();
	}
	return 0;
}

/*
 * Sessions start, end and are cut short by resets while the guest keeps
 * accessing the device: the write path meets sessions as they go, under
 * lockdep and KASAN.
 */
static void vmtty_test_races(struct kunit *test)
{
	struct vmtty_device *m = mt_new(test, 2);
	u8 *buf = kunit_kzalloc(test, MT_BUF, GFP_KERNEL);
	struct mt_guest g = { .m = m };
	unsigned long deadline, rounds = 0;
	struct task_struct *t;
	struct file *f;
	size_t len;
	ssize_t n;

	if (!debug_locks)
		kunit_skip(test, "lockdep is already off");
	KUNIT_ASSERT_NOT_NULL(test, buf);
	mt_setup(m, 0, 1, "");
	t = kthread_run(mt_guest_fn, &g, "vmtty-guest");
	KUNIT_ASSERT_FALSE(test, IS_ERR(t));
	get_task_struct(t);

	deadline = jiffies + 2 * HZ;
	while (time_before(jiffies, deadline)) {
		len = 0;
		f = mt_goto(test, m, VFIO_DEVICE_STATE_PRE_COPY);
		n = mt_drain(f, buf, &len);
		KUNIT_EXPECT_EQ(test, n, -ENOMSG);
		mt_goto(test, m, VFIO_DEVICE_STATE_RUNNING);
		KUNIT_EXPECT_EQ(test, mt_drain(f, buf, &len), -ENODEV);
		fput(f);

		f = mt_goto(test, m, VFIO_DEVICE_STATE_PRE_COPY);
		KUNIT_EXPECT_EQ(test, vmtty_reset(m), 0);
		KUNIT_EXPECT_EQ(test, mt_drain(f, buf, &len), -ENODEV);
		fput(f);

		mt_goto(test, m, VFIO_DEVICE_STATE_RUNNING_P2P);
		f = mt_goto(test, m, VFIO_DEVICE_STATE_PRE_COPY_P2P);
		n = mt_drain(f, buf, &len);
		KUNIT_EXPECT_EQ(test, n, -ENOMSG);
		mt_goto(test, m, VFIO_DEVICE_STATE_STOP_COPY);
		KUNIT_EXPECT_EQ(test, mt_drain(f, buf, &len), 0);
		mt_goto(test, m, VFIO_DEVICE_STATE_RUNNING);
		fput(f);
		rounds++;
		cond_resched();
	}
	kthread_stop(t);
	put_task_struct(t);
	kunit_info(test, "%lu rounds against %lu guest accesses\n", rounds,
		   g.accesses);
	KUNIT_EXPECT_GT(test, rounds, 0);
	KUNIT_EXPECT_GT(test, g.accesses, 0);
}

/* Every case fails if lockdep reported anything while it ran. */
static int vmtty_test_init(struct kunit *test)
{
	test->priv = (void *)(unsigned long)debug_locks;
	return 0;
}

static void vmtty_test_exit(struct kunit *test)
{
	if (test->priv)
		KUNIT_EXPECT_TRUE_MSG(test, debug_locks, "lockdep reported");
}

static struct kunit_case vmtty_test_cases[] = {
	KUNIT_CASE(vmtty_test_roundtrip),
	KUNIT_CASE_SLOW(vmtty_test_races),
	{}
};

static struct kunit_suite vmtty_test_suite = {
	.name = "vmig_mtty",
	.init = vmtty_test_init,
	.exit = vmtty_test_exit,
	.test_cases = vmtty_test_cases,
};

kunit_test_suite(vmtty_test_suite);
