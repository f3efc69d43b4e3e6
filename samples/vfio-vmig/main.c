// SPDX-License-Identifier: GPL-2.0-only
/*
 * vmig-mtty, the vfio glue: an mdev parent "vmig_mtty" with the types
 * vmig_mtty-1 (one port) and vmig_mtty-2 (two ports), whose devices are
 * vfio-pci style devices on the emulated IOMMU: config space and BAR0
 * through read() and write() on the device file, INTx and MSI through
 * eventfds, VFIO_DEVICE_RESET, and migration through the vmig core.
 */

#include <linux/cleanup.h>
#include <linux/debugfs.h>
#include <linux/eventfd.h>
#include <linux/mdev.h>
#include <linux/module.h>
#include <linux/overflow.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vfio.h>
#include <linux/vmig.h>

#include "mtty.h"

/* Read when a device is created: a change applies to devices created later. */
static bool vmtty_precopy = true;
module_param_named(precopy, vmtty_precopy, bool, 0644);
MODULE_PARM_DESC(precopy,
		 "Offer PRE_COPY to devices created from now on (default: Y); with N, they migrate in STOP_COPY alone");

/**
 * DOC: Locking
 *
 * Three levels, always taken in this order:
 *
 * 1. the core's state lock (&vmig_device.state_lock).  The core holds it
 *    around arcs, session callbacks and release ops, open and close, and
 *    around its reset, which calls the driver's reset op, so that no arc
 *    runs between the FSM's reset and the device's.
 * 2. the device lock (&vmtty_device.lock): registers, config space, run
 *    mode, interrupt setup and the pointer to the saving session.  Region
 *    reads and writes and VFIO_DEVICE_SET_IRQS take it alone; arcs,
 *    session callbacks and reset take it under the state lock.
 * 3. spinlocks taken inside calls made under the device lock: the
 *    session's, in vmig_save_record(), vmig_save_notify() and
 *    vmig_save_reinit(), and the eventfd's, in eventfd_signal().
 *
 * No path takes the state lock while it holds the device lock, so the two
 * cannot deadlock, and user memory is copied with neither held.
 *
 * The write path reaches a saving session through &vmtty_device.save,
 * under the device lock.  The core ends a session under the state lock by
 * calling its release op, which clears that pointer under the device lock
 * and only then frees it; the core drops its own reference to the session
 * after the release op returned.  So whenever the write path finds the
 * pointer set, the session is alive, even while the FSM is leaving the
 * saving group on another CPU.
 */

#define VMTTY_TOTAL_PORTS	24
#define VMTTY_OFFSET_SHIFT	40
#define VMTTY_OFFSET_MASK	(BIT_ULL(VMTTY_OFFSET_SHIFT) - 1)

/* Ports left for new devices, over both types. */
static atomic_t vmtty_avail_ports = ATOMIC_INIT(VMTTY_TOTAL_PORTS);

struct vmtty_type {
	struct mdev_type type;
	unsigned int nr_ports;
};

static struct vmtty_type vmtty_types[] = {
	{ .type = { .sysfs_name = "1", .pretty_name = "vmig_mtty, one port" },
	  .nr_ports = 1 },
	{ .type = { .sysfs_name = "2", .pretty_name = "vmig_mtty, two ports" },
	  .nr_ports = 2 },
};

static struct mdev_type *vmtty_mdev_types[] = {
	&vmtty_types[0].type,
	&vmtty_types[1].type,
};

/* The mdev parent: a device of class vmig_mtty, named vmig_mtty. */
struct vmtty_parent {
	struct device dev;
	struct mdev_parent parent;
};

static struct vmtty_parent *vmtty_parent;

/* ---------------------------------------------------------------------- */
/* Regions                                                                */

static u64 vmtty_region_size(struct vmtty_device *m, u32 index)
{
	switch (index) {
	case VFIO_PCI_CONFIG_REGION_INDEX:
		return VMTTY_CFG_SIZE;
	case VFIO_PCI_BAR0_REGION_INDEX:
		return vmtty_bar0_size(m->nr_ports);
	}
	return 0;
}

/**
 * vmtty_bar0_rw() - an access to BAR0, as the guest makes it
 * @m: the device
 * @off: offset in BAR0
 * @buf: bytes to write, or filled in
 * @len: bytes; @off + @len within BAR0
 * @write: direction
 *
 * One register access per byte, under the device lock, then a word to the
 * saving session about the ports touched.
 */
void vmtty_bar0_rw(struct vmtty_device *m, u32 off, u8 *buf, u32 len,
		   bool write)
{
	unsigned long touched = 0;
	unsigned int port, reg;
	u32 i;

	guard(mutex)(&m->lock);
	for (i = 0; i < len; i++) {
		port = (off + i) / VMTTY_PORT_SPAN;
		reg = (off + i) % VMTTY_PORT_SPAN;
		if (port >= m->nr_ports) {
			/* The BAR is rounded up to a power of two. */
			buf[i] = 0xff;
			continue;
		}
		if (write)
			vmtty_uart_write_locked(m, port, reg, buf[i]);
		else
			buf[i] = vmtty_uart_read_locked(m, port, reg);
		__set_bit(port, &touched);
	}
	/* Reads change state too: they consume and acknowledge. */
	for_each_set_bit(port, &touched, VMTTY_MAX_PORTS)
		vmtty_mig_changed_locked(m, port);
}

/**
 * vmtty_config_rw() - an access to config space
 * @m: the device
 * @off: offset in config space
 * @buf: bytes to write, or filled in
 * @len: bytes; @off + @len within config space
 * @write: direction
 */
void vmtty_config_rw(struct vmtty_device *m, u32 off, u8 *buf, u32 len,
		     bool write)
{
	guard(mutex)(&m->lock);
	if (!write) {
		vmtty_config_read_locked(m, off, buf, len);
		return;
	}
	vmtty_config_write_locked(m, off, buf, len);
	vmtty_mig_changed_locked(m, -1);
}

static ssize_t vmtty_rw(struct vmtty_device *m, char __user *ubuf,
			size_t count, loff_t *ppos, bool write)
{
	u32 index = *ppos >> VMTTY_OFFSET_SHIFT;
	u64 off = *ppos & VMTTY_OFFSET_MASK, end;
	u8 buf[VMTTY_CFG_SIZE];

	if (*ppos < 0 || !count || check_add_overflow(off, (u64)count, &end) ||
	    end > vmtty_region_size(m, index))
		return -EINVAL;
	/* Regions are at most VMTTY_CFG_SIZE bytes: @buf holds any access. */
	if (write && copy_from_user(buf, ubuf, count))
		return -EFAULT;

	if (index == VFIO_PCI_BAR0_REGION_INDEX)
		vmtty_bar0_rw(m, off, buf, count, write);
	else
		vmtty_config_rw(m, off, buf, count, write);

	if (!write && copy_to_user(ubuf, buf, count))
		return -EFAULT;
	*ppos += count;
	return count;
}

static ssize_t vmtty_read(struct vfio_device *vdev, char __user *buf,
			  size_t count, loff_t *ppos)
{
	return vmtty_rw(container_of(vdev, struct vmtty_device, vdev), buf,
			count, ppos, false);
}

static ssize_t vmtty_write(struct vfio_device *vdev, const char __user *buf,
			   size_t count, loff_t *ppos)
{
	return vmtty_rw(container_of(vdev, struct vmtty_device, vdev),
			(char __user *)buf, count, ppos, true);
}

/* ---------------------------------------------------------------------- */
/* ioctls                                                                 */

static int vmtty_get_info(void __user *arg)
{
	unsigned long minsz = offsetofend(struct vfio_device_info, num_irqs);
	struct vfio_device_info info;

	if (copy_from_user(&info, arg, minsz))
		return -EFAULT;
	if (info.argsz < minsz)
		return -EINVAL;
	info.flags = VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET;
	info.num_regions = VFIO_PCI_NUM_REGIONS;
	info.num_irqs = VFIO_PCI_NUM_IRQS;
	return copy_to_user(arg, &info, minsz) ? -EFAULT : 0;
}

static int vmtty_get_region_info(struct vmtty_device *m, void __user *arg)
{
	unsigned long minsz = offsetofend(struct vfio_region_info, offset);
	struct vfio_region_info info;

	if (copy_from_user(&info, arg, minsz))
		return -EFAULT;
	if (info.argsz < minsz || info.index >= VFIO_PCI_NUM_REGIONS)
		return -EINVAL;
	info.size = vmtty_region_size(m, info.index);
	info.offset = (u64)info.index << VMTTY_OFFSET_SHIFT;
	info.flags = info.size ? VFIO_REGION_INFO_FLAG_READ |
				 VFIO_REGION_INFO_FLAG_WRITE : 0;
	info.cap_offset = 0;
	return copy_to_user(arg, &info, minsz) ? -EFAULT : 0;
}

/* INTx and MSI have one vector each; MSI-X, ERR and REQ none. */
static u32 vmtty_irq_count(u32 index)
{
	return index == VFIO_PCI_INTX_IRQ_INDEX ||
	       index == VFIO_PCI_MSI_IRQ_INDEX;
}

static int vmtty_get_irq_info(void __user *arg)
{
	unsigned long minsz = offsetofend(struct vfio_irq_info, count);
	struct vfio_irq_info info;

	if (copy_from_user(&info, arg, minsz))
		return -EFAULT;
	if (info.argsz < minsz || info.index >= VFIO_PCI_NUM_IRQS)
		return -EINVAL;
	info.count = vmtty_irq_count(info.index);
	info.flags = 0;
	if (info.index == VFIO_PCI_INTX_IRQ_INDEX)
		info.flags = VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE |
			     VFIO_IRQ_INFO_AUTOMASKED;
	else if (info.index == VFIO_PCI_MSI_IRQ_INDEX)
		info.flags = VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE;
	return copy_to_user(arg, &info, minsz) ? -EFAULT : 0;
}

/* ACTION_MASK / ACTION_UNMASK of INTx, without eventfds. */
static int vmtty_intx_mask(struct vmtty_device *m,
			   const struct vfio_irq_set *hdr, const u8 *data)
{
	bool mask = hdr->flags & VFIO_IRQ_SET_ACTION_MASK;

	if (hdr->index != VFIO_PCI_INTX_IRQ_INDEX || hdr->count != 1)
		return -EINVAL;
	/* Unmasking through an eventfd (a resampler) is not implemented. */
	if (hdr->flags & VFIO_IRQ_SET_DATA_EVENTFD)
		return -EINVAL;
	if ((hdr->flags & VFIO_IRQ_SET_DATA_BOOL) && !data[0])
		return 0;

	guard(mutex)(&m->lock);
	if (!m->intx)
		return -EINVAL;
	m->intx_masked = mask;
	/* Unmasked with the line still up: it fires again. */
	vmtty_irq_update_locked(m);
	return 0;
}

/* ACTION_TRIGGER: set up, tear down or test-fire INTx or MSI. */
static int vmtty_set_trigger(struct vmtty_device *m,
			     const struct vfio_irq_set *hdr, const u8 *data)
{
	bool intx = hdr->index == VFIO_PCI_INTX_IRQ_INDEX;
	u32 type = hdr->flags & VFIO_IRQ_SET_DATA_TYPE_MASK;
	struct eventfd_ctx *ctx = NULL, *old = NULL, **slot;
	bool busy;
	s32 fd;

	if (hdr->count && type != VFIO_IRQ_SET_DATA_EVENTFD) {
		/* DATA_NONE or a true DATA_BOOL: fire, as a loopback test. */
		if (type == VFIO_IRQ_SET_DATA_BOOL && !data[0])
			return 0;
		guard(mutex)(&m->lock);
		slot = intx ? &m->intx : &m->msi;
		if (*slot)
			eventfd_signal(*slot);
		return 0;
	}
	if (!hdr->count && type != VFIO_IRQ_SET_DATA_NONE)
		return -EINVAL;

	if (hdr->count) {
		fd = *(const s32 *)data;
		if (fd < -1)
			return -EINVAL;
		if (fd >= 0) {
			ctx = eventfd_ctx_fdget(fd);
			if (IS_ERR(ctx))
				return PTR_ERR(ctx);
		}
	}

	scoped_guard(mutex, &m->lock) {
		/* Like vfio-pci: one type at a time, disable before switching. */
		busy = ctx && (intx ? m->msi : m->intx);
		if (!busy) {
			slot = intx ? &m->intx : &m->msi;
			old = *slot;
			*slot = ctx;
			if (intx)
				m->intx_masked = false;
			else
				m->msi_sent = false;
			vmtty_irq_update_locked(m);
		}
	}
	if (busy) {
		eventfd_ctx_put(ctx);
		return -EINVAL;
	}
	if (old)
		eventfd_ctx_put(old);
	return 0;
}

static int vmtty_set_irqs(struct vmtty_device *m, void __user *arg)
{
	unsigned long minsz = offsetofend(struct vfio_irq_set, count);
	struct vfio_irq_set hdr;
	size_t data_size;
	u8 data[sizeof(s32)];
	int ret;

	if (copy_from_user(&hdr, arg, minsz))
		return -EFAULT;
	ret = vfio_set_irqs_validate_and_prepare(&hdr,
						 vmtty_irq_count(hdr.index),
						 VFIO_PCI_NUM_IRQS, &data_size);
	if (ret)
		return ret;
	/* At most one vector: data_size is at most one s32. */
	if (data_size && copy_from_user(data, arg + minsz, data_size))
		return -EFAULT;

	switch (hdr.flags & VFIO_IRQ_SET_ACTION_TYPE_MASK) {
	case VFIO_IRQ_SET_ACTION_MASK:
	case VFIO_IRQ_SET_ACTION_UNMASK:
		return vmtty_intx_mask(m, &hdr, data);
	case VFIO_IRQ_SET_ACTION_TRIGGER:
		return vmtty_set_trigger(m, &hdr, data);
	}
	return -EINVAL;
}

/* The device as after a PCI function reset; interrupt setup stays. */
void vmtty_reset_locked(struct vmtty_device *m)
{
	lockdep_assert_held(&m->lock);
	vmtty_regs_reset(m, &m->regs);
	m->mode = VMTTY_RUNNING;
	m->intx_masked = false;
	m->msi_sent = false;
}

/**
 * vmtty_reset() - VFIO_DEVICE_RESET
 * @m: the device
 *
 * The core's reset ends any session, resets the device through
 * &vmig_ops.reset (vmtty_mig_reset()) and returns the FSM to RUNNING
 * without an arc, all under its state lock, so that the run mode always
 * matches the FSM.
 *
 * Return: 0.
 */
int vmtty_reset(struct vmtty_device *m)
{
	vmig_reset(&m->mig);
	return 0;
}

static long vmtty_ioctl(struct vfio_device *vdev, unsigned int cmd,
			unsigned long arg)
{
	struct vmtty_device *m = container_of(vdev, struct vmtty_device, vdev);
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case VFIO_DEVICE_GET_INFO:
		return vmtty_get_info(uarg);
	case VFIO_DEVICE_GET_REGION_INFO:
		return vmtty_get_region_info(m, uarg);
	case VFIO_DEVICE_GET_IRQ_INFO:
		return vmtty_get_irq_info(uarg);
	case VFIO_DEVICE_SET_IRQS:
		return vmtty_set_irqs(m, uarg);
	case VFIO_DEVICE_RESET:
		return vmtty_reset(m);
	}
	return -ENOTTY;
}

/* The core's features; this device has none of its own. */
static int vmtty_device_feature(struct vfio_device *vdev, u32 flags,
				void __user *arg, size_t argsz)
{
	struct vmtty_device *m = container_of(vdev, struct vmtty_device, vdev);

	return vmig_device_feature(&m->mig, flags, arg, argsz);
}

/* ---------------------------------------------------------------------- */
/* Open, close, debugfs                                                   */

/* A new user finds the device reset, as vfio-pci resets on open. */
static int vmtty_open_device(struct vfio_device *vdev)
{
	struct vmtty_device *m = container_of(vdev, struct vmtty_device, vdev);

	scoped_guard(mutex, &m->lock)
		vmtty_reset_locked(m);
	vmig_open(&m->mig);
	return 0;
}

static void vmtty_close_device(struct vfio_device *vdev)
{
	struct vmtty_device *m = container_of(vdev, struct vmtty_device, vdev);
	struct eventfd_ctx *intx, *msi;

	/* Ends the session, whose release op takes the device lock. */
	vmig_close(&m->mig);
	scoped_guard(mutex, &m->lock) {
		intx = m->intx;
		msi = m->msi;
		m->intx = NULL;
		m->msi = NULL;
		m->mode = VMTTY_RUNNING;
	}
	if (intx)
		eventfd_ctx_put(intx);
	if (msi)
		eventfd_ctx_put(msi);
}

static const char * const vmtty_mode_names[] = {
	[VMTTY_RUNNING] = "running",
	[VMTTY_QUIET] = "quiet",
	[VMTTY_FROZEN] = "frozen",
};

static const char * const vmtty_irq_names[] = {
	[VMTTY_IRQ_NONE] = "none",
	[VMTTY_IRQ_INTX] = "INTx",
	[VMTTY_IRQ_MSI] = "MSI",
};

/* debugfs vmig/<uuid>/mtty: the registers, for people and demos. */
static int vmtty_regs_show(struct seq_file *s, void *unused)
{
	struct vmtty_device *m = s->private;
	unsigned int i, j;

	guard(mutex)(&m->lock);
	seq_printf(s, "mode: %s\nirq: %s%s, line %s\ndropped writes: %llu\n",
		   vmtty_mode_names[m->mode],
		   vmtty_irq_names[vmtty_irq_type_locked(m)],
		   m->intx_masked ? " (masked)" : "",
		   vmtty_irq_line(&m->regs, m->nr_ports) ? "up" : "down",
		   m->dropped_writes);
	for (i = 0; i < m->nr_ports; i++) {
		const struct vmtty_port *p = &m->regs.port[i];

		seq_printf(s, "port %u: divisor %#x lcr %#x mcr %#x fcr %#x ier %#x scr %#x%s%s, rx %u:",
			   i, p->divisor, p->lcr, p->mcr, p->fcr, p->ier,
			   p->scr, p->overrun ? ", overrun" : "",
			   p->thri ? ", thri" : "", p->rx_count);
		for (j = 0; j < p->rx_count; j++)
			seq_printf(s, " %02x",
				   p->rx[(p->rx_head + j) % VMTTY_FIFO_SIZE]);
		seq_putc(s, '\n');
	}
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(vmtty_regs);

/* ---------------------------------------------------------------------- */
/* Device life cycle and the mdev parent                                  */

static bool vmtty_take_ports(unsigned int n)
{
	int avail = atomic_read(&vmtty_avail_ports);

	do {
		if (avail < n)
			return false;
	} while (!atomic_try_cmpxchg(&vmtty_avail_ports, &avail, avail - n));
	return true;
}

static int vmtty_init_dev(struct vfio_device *vdev)
{
	struct vmtty_device *m = container_of(vdev, struct vmtty_device, vdev);
	struct mdev_device *mdev = to_mdev_device(vdev->dev);
	struct vmtty_type *type = container_of(mdev->type, struct vmtty_type,
					       type);
	int ret;

	if (!vmtty_take_ports(type->nr_ports))
		return -ENOSPC;
	m->nr_ports = type->nr_ports;
	mutex_init(&m->lock);
	vmtty_config_init(m);
	vmtty_mig_init(m);
	vmtty_regs_reset(m, &m->regs);

	ret = vmig_init(&m->mig, vdev, &vmtty_mig_ops,
			VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P |
			(READ_ONCE(vmtty_precopy) ? VFIO_MIGRATION_PRE_COPY : 0));
	if (ret)
		goto err_return_ports;
	ret = vmig_set_stream_id(&m->mig, &m->id, sizeof(m->id));
	if (ret)
		goto err_uninit_mig;
	debugfs_create_file("mtty", 0444, vmig_debugfs_dir(&m->mig), m,
			    &vmtty_regs_fops);
	return 0;

err_uninit_mig:
	vmig_uninit(&m->mig);

err_return_ports:
	mutex_destroy(&m->lock);
	atomic_add(m->nr_ports, &vmtty_avail_ports);
	return ret;
}

static void vmtty_release_dev(struct vfio_device *vdev)
{
	struct vmtty_device *m = container_of(vdev, struct vmtty_device, vdev);

	vmig_uninit(&m->mig);
	mutex_destroy(&m->lock);
	atomic_add(m->nr_ports, &vmtty_avail_ports);
}

static const struct vfio_device_ops vmtty_dev_ops = {
	.name = "vfio-vmig-mtty",
	.init = vmtty_init_dev,
	.release = vmtty_release_dev,
	.open_device = vmtty_open_device,
	.close_device = vmtty_close_device,
	.read = vmtty_read,
	.write = vmtty_write,
	.ioctl = vmtty_ioctl,
	.device_feature = vmtty_device_feature,
	.bind_iommufd = vfio_iommufd_emulated_bind,
	.unbind_iommufd = vfio_iommufd_emulated_unbind,
	.attach_ioas = vfio_iommufd_emulated_attach_ioas,
	.detach_ioas = vfio_iommufd_emulated_detach_ioas,
};

static int vmtty_probe(struct mdev_device *mdev)
{
	struct vmtty_device *m;
	int ret;

	m = vfio_alloc_device(vmtty_device, vdev, &mdev->dev, &vmtty_dev_ops);
	if (IS_ERR(m))
		return PTR_ERR(m);
	ret = vfio_register_emulated_iommu_dev(&m->vdev);
	if (ret)
		goto err_put_device;
	dev_set_drvdata(&mdev->dev, m);
	return 0;

err_put_device:
	vfio_put_device(&m->vdev);
	return ret;
}

static void vmtty_remove(struct mdev_device *mdev)
{
	struct vmtty_device *m = dev_get_drvdata(&mdev->dev);

	vfio_unregister_group_dev(&m->vdev);
	vfio_put_device(&m->vdev);
}

static unsigned int vmtty_get_available(struct mdev_type *mtype)
{
	struct vmtty_type *type = container_of(mtype, struct vmtty_type, type);

	return atomic_read(&vmtty_avail_ports) / type->nr_ports;
}

static ssize_t vmtty_show_description(struct mdev_type *mtype, char *buf)
{
	struct vmtty_type *type = container_of(mtype, struct vmtty_type, type);

	return sysfs_emit(buf, "%u 16550A port%s, %u-byte FIFO, migratable\n",
			  type->nr_ports, type->nr_ports > 1 ? "s" : "",
			  VMTTY_FIFO_SIZE);
}

static struct mdev_driver vmtty_driver = {
	.device_api = VFIO_DEVICE_API_PCI_STRING,
	.driver = {
		.name = VMTTY_NAME,
		.owner = THIS_MODULE,
		.mod_name = KBUILD_MODNAME,
	},
	.probe = vmtty_probe,
	.remove = vmtty_remove,
	.get_available = vmtty_get_available,
	.show_description = vmtty_show_description,
};

/* The class gives the parent its name in mdev types: vmig_mtty-1. */
static const struct class vmtty_class = {
	.name = VMTTY_NAME,
};

static void vmtty_parent_release(struct device *dev)
{
	kfree(container_of(dev, struct vmtty_parent, dev));
}

static int __init vmtty_module_init(void)
{
	struct vmtty_parent *p;
	int ret;

	ret = mdev_register_driver(&vmtty_driver);
	if (ret)
		return ret;
	ret = class_register(&vmtty_class);
	if (ret)
		goto err_unregister_driver;

	p = kzalloc(sizeof(*p), GFP_KERNEL);
	if (!p) {
		ret = -ENOMEM;
		goto err_unregister_class;
	}
	device_initialize(&p->dev);
	p->dev.class = &vmtty_class;
	p->dev.release = vmtty_parent_release;
	ret = dev_set_name(&p->dev, VMTTY_NAME);
	if (ret)
		goto err_put_device;
	ret = device_add(&p->dev);
	if (ret)
		goto err_put_device;

	ret = mdev_register_parent(&p->parent, &p->dev, &vmtty_driver,
				   vmtty_mdev_types,
				   ARRAY_SIZE(vmtty_mdev_types));
	if (ret)
		goto err_del_device;
	vmtty_parent = p;
	return 0;

err_del_device:
	device_del(&p->dev);
err_put_device:
	put_device(&p->dev);
err_unregister_class:
	class_unregister(&vmtty_class);
err_unregister_driver:
	mdev_unregister_driver(&vmtty_driver);
	return ret;
}

static void __exit vmtty_module_exit(void)
{
	mdev_unregister_parent(&vmtty_parent->parent);
	device_unregister(&vmtty_parent->dev);
	class_unregister(&vmtty_class);
	mdev_unregister_driver(&vmtty_driver);
}

module_init(vmtty_module_init);
module_exit(vmtty_module_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Sample mdev 16550A serial device, migrated through vmig");
