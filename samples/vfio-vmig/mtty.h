/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * vmig-mtty: an mdev sample of 16550-class serial ports on an emulated PCI
 * function, migrated through the vmig core.  Declarations shared by its
 * three files, best read in this order:
 *
 *   uart.c       the device model: PCI config space, 16550 ports, interrupts
 *   migration.c  the migration driver: records, sessions, arcs
 *   main.c       vfio glue: regions, ioctls, reset, the mdev parent
 *   mtty_test.c  KUnit suite vmig_mtty, for lockdep and KASAN
 *
 * Every symbol of the module starts with vmtty_.
 */
#ifndef _VMTTY_H
#define _VMTTY_H

#include <linux/mutex.h>
#include <linux/types.h>
#include <linux/vfio.h>
#include <linux/vmig.h>

struct eventfd_ctx;
struct vmtty_save;
struct vmtty_load;

#define VMTTY_NAME		"vmig_mtty"
#define VMTTY_MAX_PORTS		2
#define VMTTY_FIFO_SIZE		16	/* receive FIFO of a 16550A */
#define VMTTY_PORT_SPAN		8	/* BAR0 bytes per port */
#define VMTTY_CFG_SIZE		256	/* PCI config space */

/* The register bits a port keeps; the others read as zero. */
#define VMTTY_IER_MASK		0x0f	/* RDI, THRI, RLSI, MSI */
#define VMTTY_MCR_MASK		0x1f	/* DTR, RTS, OUT1, OUT2, LOOP */
#define VMTTY_FCR_MASK		0xc1	/* FIFO enable, receive trigger */

/*
 * What the migration state means for the device (see "Run modes" in
 * uart.c).  The arc handlers set it; everything else reads it under the
 * device lock.
 */
enum vmtty_mode {
	VMTTY_RUNNING,		/* RUNNING, PRE_COPY */
	VMTTY_QUIET,		/* RUNNING_P2P, PRE_COPY_P2P: runs, holds interrupts */
	VMTTY_FROZEN,		/* STOP, STOP_COPY, RESUMING: nothing changes */
};

/* The interrupt the user set up with VFIO_DEVICE_SET_IRQS. */
enum vmtty_irq_type {
	VMTTY_IRQ_NONE,
	VMTTY_IRQ_INTX,
	VMTTY_IRQ_MSI,
};

/*
 * One 16550A port.  The line settings (divisor, LCR, MCR, FCR) change
 * rarely and go early in pre-copy; the rest is runtime state.  LSR and
 * MSR are mostly derived: only their latched bits are stored.
 */
struct vmtty_port {
	u16 divisor;		/* DLL | DLM << 8 */
	u8 lcr;
	u8 mcr;			/* UART_MCR_* bits 0-4 */
	u8 fcr;			/* UART_FCR_ENABLE_FIFO and trigger bits */
	u8 ier;			/* UART_IER_* bits 0-3 */
	u8 scr;
	u8 msr_delta;		/* UART_MSR_ANY_DELTA bits, cleared by reading MSR */
	bool overrun;		/* UART_LSR_OE, cleared by reading LSR */
	bool thri;		/* THR-empty interrupt latched */
	u8 rx_head;		/* oldest byte in @rx */
	u8 rx_count;
	u8 rx[VMTTY_FIFO_SIZE];
};

/* What the guest sees of the device: exactly what a migration moves. */
struct vmtty_regs {
	u8 config[VMTTY_CFG_SIZE];
	struct vmtty_port port[VMTTY_MAX_PORTS];
};

/*
 * The stream identity: a stream loads only into a device whose identity
 * is the same, byte for byte.  Bytes only, so it has no byte order.
 */
struct vmtty_stream_id {
	u8 model[8];		/* "vmigmtty" */
	u8 format;		/* VMTTY_FORMAT */
	u8 nr_ports;
	u8 fifo_size;
	u8 reserved;
} __packed;

/**
 * struct vmtty_device - one mdev instance
 * @vdev: the vfio device; vfio_alloc_device() allocates the whole struct
 * @mig: the migration core's per-device object
 * @nr_ports: 1 or 2, from the mdev type
 * @id: the stream identity of this type
 * @cfg_default: config space after reset
 * @cfg_wmask: bits of config space the guest may write
 * @lock: the device lock, for everything below; see "Locking" in main.c
 * @mode: run mode, from the migration state
 * @regs: the device state the guest sees
 * @intx: INTx trigger, or NULL
 * @msi: MSI trigger, or NULL
 * @intx_masked: INTx is masked, by the user or automatically after firing
 * @msi_sent: the MSI for the current interrupt condition was sent
 * @save: the saving session, if any, for pre-copy tracking
 * @dropped_writes: BAR0 writes ignored while the device was frozen
 * @load: the resuming session, if any.  Only touched under the core's
 *	state lock (arcs and session callbacks), so not under @lock.
 */
struct vmtty_device {
	struct vfio_device vdev;
	struct vmig_device mig;
	unsigned int nr_ports;
	struct vmtty_stream_id id;
	u8 cfg_default[VMTTY_CFG_SIZE];
	u8 cfg_wmask[VMTTY_CFG_SIZE];

	struct mutex lock;		/* see "Locking" in main.c */
	enum vmtty_mode mode;
	struct vmtty_regs regs;
	struct eventfd_ctx *intx;
	struct eventfd_ctx *msi;
	bool intx_masked;
	bool msi_sent;
	struct vmtty_save *save;
	u64 dropped_writes;

	struct vmtty_load *load;
};

static inline struct vmtty_device *vmtty_from_mig(struct vmig_device *mig)
{
	return container_of(mig, struct vmtty_device, mig);
}

/* uart.c: the device model. */
u32 vmtty_bar0_size(unsigned int nr_ports);
void vmtty_config_init(struct vmtty_device *m);
void vmtty_regs_reset(const struct vmtty_device *m, struct vmtty_regs *r);
void vmtty_config_read_locked(struct vmtty_device *m, u32 off, u8 *buf,
			      u32 len);
void vmtty_config_write_locked(struct vmtty_device *m, u32 off,
			       const u8 *buf, u32 len);
u8 vmtty_uart_read_locked(struct vmtty_device *m, unsigned int port,
			  unsigned int reg);
void vmtty_uart_write_locked(struct vmtty_device *m, unsigned int port,
			     unsigned int reg, u8 val);
u8 vmtty_rx_depth(const struct vmtty_port *p);
bool vmtty_irq_line(const struct vmtty_regs *r, unsigned int nr_ports);
enum vmtty_irq_type vmtty_irq_type_locked(struct vmtty_device *m);
void vmtty_irq_update_locked(struct vmtty_device *m);

/**
 * vmtty_set_mode() - enter a run mode
 * @m: the device
 * @mode: the mode the migration state now calls for
 *
 * Entering RUNNING sends the interrupt held in QUIET or FROZEN, if its
 * cause is still there.  Entering another mode sends nothing, and every
 * access that moves the line already did the rest of the update.  Called
 * from the arc handlers, inline: two of the arcs of each P2P walk.
 */
static inline void vmtty_set_mode(struct vmtty_device *m, enum vmtty_mode mode)
{
	guard(mutex)(&m->lock);
	m->mode = mode;
	if (mode == VMTTY_RUNNING)
		vmtty_irq_update_locked(m);
}

bool vmtty_config_valid(const struct vmtty_device *m, const u8 *config);

/* main.c: the guest's and the user's paths, also driven by mtty_test.c. */
void vmtty_bar0_rw(struct vmtty_device *m, u32 off, u8 *buf, u32 len,
		   bool write);
void vmtty_config_rw(struct vmtty_device *m, u32 off, u8 *buf, u32 len,
		     bool write);
int vmtty_reset(struct vmtty_device *m);
void vmtty_reset_locked(struct vmtty_device *m);

/* migration.c: the migration driver. */
extern const struct vmig_ops vmtty_mig_ops;
void vmtty_mig_init(struct vmtty_device *m);
void vmtty_mig_changed_locked(struct vmtty_device *m, int port);

#endif /* _VMTTY_H */
