// SPDX-License-Identifier: GPL-2.0-only
/*
 * vmig-mtty, the device model: the PCI config space of the function, its
 * 16550A ports and its interrupt line.  Nothing here knows about vfio
 * regions or migration; main.c feeds it register accesses and
 * migration.c moves &struct vmtty_regs.
 */

#include <linux/eventfd.h>
#include <linux/lockdep.h>
#include <linux/pci_ids.h>
#include <linux/pci_regs.h>
#include <linux/serial_reg.h>
#include <linux/string.h>
#include <linux/unaligned.h>

#include "mtty.h"

/**
 * DOC: The device
 *
 * Each mdev is one PCI function of class serial (07 00 02, a 16550
 * compatible UART) with one or two ports.  Its identity is the one of the
 * QEMU ``pci-serial`` and ``pci-serial-2x`` functions (1b36:0002 and
 * 1b36:0003), whose programming model it follows; a guest's stock 8250 PCI
 * driver, which matches serial functions by class and counts the ports
 * from the size of their one I/O BAR, can drive it.  BAR0 is an I/O BAR
 * with eight registers per port: 8 bytes for one port, 16 for two.  The
 * only capability is MSI with one vector; INTx is pin A.
 *
 * Each port is a 16550A with a 16-byte receive FIFO.  The transmitter is
 * infinitely fast: THR is empty again as soon as it was written, so LSR
 * always reports THRE and TEMT.  In loopback mode (MCR.LOOP) a byte
 * written to THR arrives in the port's own receive FIFO and the modem
 * inputs follow the modem outputs (RTS to CTS, DTR to DSR, OUT1 to RI,
 * OUT2 to DCD); otherwise a transmitted byte leaves on a line that nothing
 * is connected to, and the inputs say that an idle, ready peer is there
 * (CTS, DSR and DCD set).  A full FIFO drops the new byte and sets the
 * overrun error; with the FIFO disabled the one-byte holding register is
 * overwritten instead.
 *
 * Interrupts, in IIR priority: receiver line status (overrun), received
 * data (at or above the FIFO trigger level, or below it as a character
 * timeout: there is no clock, so the timeout has always expired), THR
 * empty (latched when THR is written or the interrupt is enabled while
 * THR is empty, cleared by reading IIR or writing THR), and modem status
 * (delta bits).  The function's interrupt line is the OR of its ports.
 * With MSI set up it sends one message each time the line rises; with
 * INTx it behaves like vfio-pci's level interrupt: it fires, masks itself
 * until the user unmasks it, and fires again then if the line is still
 * up.
 */

/**
 * DOC: Run modes
 *
 * The migration state reaches the device as one of three run modes, set by
 * the arc handlers:
 *
 * RUNNING (RUNNING, PRE_COPY)
 *	The device works as described above.
 * QUIET (RUNNING_P2P, PRE_COPY_P2P)
 *	The P2P states stop a device from starting transactions towards
 *	others.  This device does no DMA; the one thing it sends out is its
 *	interrupt, which on real PCI with MSI is a memory write.  So in QUIET
 *	it keeps working on register accesses, and the interrupts it raises
 *	are held; they are sent when it returns to RUNNING, if their cause is
 *	still there.
 * FROZEN (STOP, STOP_COPY, RESUMING)
 *	The state must not change.  Register reads of BAR0 return what they
 *	would return, without their side effects (RBR does not consume, LSR
 *	and MSR do not clear, IIR does not acknowledge); writes to BAR0 are
 *	dropped and counted.  Config space stays fully accessible, as the
 *	uAPI requires for external subsystems, and so does interrupt setup:
 *	a VMM restores both while the device is RESUMING.  Nothing is
 *	signalled.
 *
 * The device has no timer and no backend, so it never changes on its own:
 * every change of state comes from a register access.
 */

#define VMTTY_VENDOR		0x1b36	/* the QEMU pci-serial functions */
#define VMTTY_DEVICE_1		0x0002
#define VMTTY_DEVICE_2		0x0003
#define VMTTY_MSI_CAP		0x40

/* BAR0 holds eight registers per port; BARs are powers of two. */
u32 vmtty_bar0_size(unsigned int nr_ports)
{
	return roundup_pow_of_two(nr_ports * VMTTY_PORT_SPAN);
}

static void vmtty_put16(u8 *cfg, u8 *wmask, unsigned int off, u16 val,
			u16 mask)
{
	put_unaligned_le16(val, cfg + off);
	put_unaligned_le16(mask, wmask + off);
}

static void vmtty_put32(u8 *cfg, u8 *wmask, unsigned int off, u32 val,
			u32 mask)
{
	put_unaligned_le32(val, cfg + off);
	put_unaligned_le32(mask, wmask + off);
}

/**
 * vmtty_config_init() - build the config space of the device's type
 * @m: the device, with @m->nr_ports set
 *
 * Fills in the reset value of config space and the mask of the bits the
 * guest may write.  Every other bit is read-only, which also makes BAR
 * sizing work: writing all ones to BAR0 reads back its size mask.
 */
void vmtty_config_init(struct vmtty_device *m)
{
	u8 *cfg = m->cfg_default, *wm = m->cfg_wmask;
	u16 device = m->nr_ports == 1 ? VMTTY_DEVICE_1 : VMTTY_DEVICE_2;

	memset(cfg, 0, VMTTY_CFG_SIZE);
	memset(wm, 0, VMTTY_CFG_SIZE);

	vmtty_put16(cfg, wm, PCI_VENDOR_ID, VMTTY_VENDOR, 0);
	vmtty_put16(cfg, wm, PCI_DEVICE_ID, device, 0);
	vmtty_put16(cfg, wm, PCI_COMMAND, 0,
		    PCI_COMMAND_IO | PCI_COMMAND_MASTER |
		    PCI_COMMAND_INTX_DISABLE);
	vmtty_put16(cfg, wm, PCI_STATUS, PCI_STATUS_CAP_LIST, 0);
	cfg[PCI_REVISION_ID] = 0x01;
	cfg[PCI_CLASS_PROG] = 0x02;		/* 16550 compatible */
	vmtty_put16(cfg, wm, PCI_CLASS_DEVICE, PCI_CLASS_COMMUNICATION_SERIAL,
		    0);
	vmtty_put32(cfg, wm, PCI_BASE_ADDRESS_0, PCI_BASE_ADDRESS_SPACE_IO,
		    ~(vmtty_bar0_size(m->nr_ports) - 1) &
		    PCI_BASE_ADDRESS_IO_MASK);
	vmtty_put16(cfg, wm, PCI_SUBSYSTEM_VENDOR_ID, VMTTY_VENDOR, 0);
	vmtty_put16(cfg, wm, PCI_SUBSYSTEM_ID, device, 0);
	cfg[PCI_CAPABILITY_LIST] = VMTTY_MSI_CAP;
	cfg[PCI_INTERRUPT_PIN] = 1;		/* INTA# */
	wm[PCI_INTERRUPT_LINE] = 0xff;

	/* MSI, one vector, 64-bit address. */
	cfg[VMTTY_MSI_CAP + PCI_CAP_LIST_ID] = PCI_CAP_ID_MSI;
	cfg[VMTTY_MSI_CAP + PCI_CAP_LIST_NEXT] = 0;
	vmtty_put16(cfg, wm, VMTTY_MSI_CAP + PCI_MSI_FLAGS, PCI_MSI_FLAGS_64BIT,
		    PCI_MSI_FLAGS_ENABLE);
	vmtty_put32(cfg, wm, VMTTY_MSI_CAP + PCI_MSI_ADDRESS_LO, 0, 0xfffffffc);
	vmtty_put32(cfg, wm, VMTTY_MSI_CAP + PCI_MSI_ADDRESS_HI, 0, 0xffffffff);
	vmtty_put16(cfg, wm, VMTTY_MSI_CAP + PCI_MSI_DATA_64, 0, 0xffff);
}

/**
 * vmtty_config_valid() - could @config be this device's config space
 * @m: the device
 * @config: VMTTY_CFG_SIZE bytes, as a stream carries them
 *
 * Return: true if every read-only bit has its reset value, i.e. the guest
 * could have produced @config by writing to the device.
 */
bool vmtty_config_valid(const struct vmtty_device *m, const u8 *config)
{
	unsigned int i;

	for (i = 0; i < VMTTY_CFG_SIZE; i++)
		if ((config[i] ^ m->cfg_default[i]) & ~m->cfg_wmask[i])
			return false;
	return true;
}

/**
 * vmtty_regs_reset() - the device state after a reset
 * @m: the device, for its config space and number of ports
 * @r: filled in
 */
void vmtty_regs_reset(const struct vmtty_device *m, struct vmtty_regs *r)
{
	memset(r, 0, sizeof(*r));
	memcpy(r->config, m->cfg_default, VMTTY_CFG_SIZE);
}

/* ---------------------------------------------------------------------- */
/* Interrupts                                                             */

/* FIFO depth: 16 bytes, or the one-byte holding register of a 16450. */
u8 vmtty_rx_depth(const struct vmtty_port *p)
{
	return p->fcr & UART_FCR_ENABLE_FIFO ? VMTTY_FIFO_SIZE : 1;
}

static u8 vmtty_rx_trigger(const struct vmtty_port *p)
{
	static const u8 levels[] = { 1, 4, 8, 14 };

	if (!(p->fcr & UART_FCR_ENABLE_FIFO))
		return 1;
	return levels[UART_FCR_R_TRIG_BITS(p->fcr)];
}

/* The interrupt a port asserts, as IIR identifies it. */
static u8 vmtty_port_iir(const struct vmtty_port *p)
{
	if ((p->ier & UART_IER_RLSI) && p->overrun)
		return UART_IIR_RLSI;
	if ((p->ier & UART_IER_RDI) && p->rx_count)
		return p->rx_count >= vmtty_rx_trigger(p) ? UART_IIR_RDI :
							    UART_IIR_RX_TIMEOUT;
	if ((p->ier & UART_IER_THRI) && p->thri)
		return UART_IIR_THRI;
	if ((p->ier & UART_IER_MSI) && p->msr_delta)
		return UART_IIR_MSI;
	return UART_IIR_NO_INT;
}

/**
 * vmtty_irq_line() - is the function's interrupt line asserted
 * @r: a device state, live or staged
 * @nr_ports: its number of ports
 *
 * Return: true if any port has an interrupt pending.
 */
bool vmtty_irq_line(const struct vmtty_regs *r, unsigned int nr_ports)
{
	unsigned int i;

	for (i = 0; i < nr_ports; i++)
		if (vmtty_port_iir(&r->port[i]) != UART_IIR_NO_INT)
			return true;
	return false;
}

/* The interrupt the user set up; MSI wins, as only one can be enabled. */
enum vmtty_irq_type vmtty_irq_type_locked(struct vmtty_device *m)
{
	lockdep_assert_held(&m->lock);
	if (m->msi)
		return VMTTY_IRQ_MSI;
	return m->intx ? VMTTY_IRQ_INTX : VMTTY_IRQ_NONE;
}

/**
 * vmtty_irq_update_locked() - signal the interrupt if it is due
 * @m: the device
 *
 * Called after anything that may change the interrupt line, the run mode,
 * the interrupt setup or the INTx mask.  Caller holds @m->lock.
 */
void vmtty_irq_update_locked(struct vmtty_device *m)
{
	u16 cmd = get_unaligned_le16(m->regs.config + PCI_COMMAND);

	lockdep_assert_held(&m->lock);
	if (!vmtty_irq_line(&m->regs, m->nr_ports)) {
		m->msi_sent = false;
		return;
	}
	/* Held while QUIET or FROZEN, sent on the way back to RUNNING. */
	if (m->mode != VMTTY_RUNNING)
		return;

	switch (vmtty_irq_type_locked(m)) {
	case VMTTY_IRQ_MSI:
		if (m->msi_sent)
			return;
		m->msi_sent = true;
		eventfd_signal(m->msi);
		return;
	case VMTTY_IRQ_INTX:
		if (m->intx_masked || (cmd & PCI_COMMAND_INTX_DISABLE))
			return;
		m->intx_masked = true;
		eventfd_signal(m->intx);
		return;
	case VMTTY_IRQ_NONE:
		return;
	}
}

/* ---------------------------------------------------------------------- */
/* Config space                                                           */

/**
 * vmtty_config_read_locked() - read config space
 * @m: the device
 * @off: offset, with @off + @len <= VMTTY_CFG_SIZE
 * @buf: filled in
 * @len: bytes
 *
 * The interrupt status bit of the status register follows the line.
 * Caller holds @m->lock.
 */
void vmtty_config_read_locked(struct vmtty_device *m, u32 off, u8 *buf,
			      u32 len)
{
	lockdep_assert_held(&m->lock);
	memcpy(buf, m->regs.config + off, len);
	if (off <= PCI_STATUS && off + len > PCI_STATUS &&
	    vmtty_irq_line(&m->regs, m->nr_ports))
		buf[PCI_STATUS - off] |= PCI_STATUS_INTERRUPT;
}

/**
 * vmtty_config_write_locked() - write config space
 * @m: the device
 * @off: offset, with @off + @len <= VMTTY_CFG_SIZE
 * @buf: the bytes
 * @len: bytes
 *
 * Only the writable bits change.  Works in every run mode.  Caller holds
 * @m->lock.
 */
void vmtty_config_write_locked(struct vmtty_device *m, u32 off,
			       const u8 *buf, u32 len)
{
	u8 *cfg = m->regs.config;
	u32 i;

	lockdep_assert_held(&m->lock);
	for (i = off; i < off + len; i++)
		cfg[i] = (cfg[i] & ~m->cfg_wmask[i]) |
			 (buf[i - off] & m->cfg_wmask[i]);
	/* The INTx disable bit may have changed. */
	vmtty_irq_update_locked(m);
}

/* ---------------------------------------------------------------------- */
/* The 16550A ports                                                       */

/* The modem inputs: looped back from the outputs, or an idle peer. */
static u8 vmtty_msr_lines(const struct vmtty_port *p)
{
	u8 lines = 0;

	if (!(p->mcr & UART_MCR_LOOP))
		return UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS;
	if (p->mcr & UART_MCR_DTR)
		lines |= UART_MSR_DSR;
	if (p->mcr & UART_MCR_RTS)
		lines |= UART_MSR_CTS;
	if (p->mcr & UART_MCR_OUT1)
		lines |= UART_MSR_RI;
	if (p->mcr & UART_MCR_OUT2)
		lines |= UART_MSR_DCD;
	return lines;
}

static void vmtty_write_mcr(struct vmtty_port *p, u8 val)
{
	u8 old = vmtty_msr_lines(p), now, diff;

	p->mcr = val & VMTTY_MCR_MASK;
	now = vmtty_msr_lines(p);
	diff = old ^ now;
	if (diff & UART_MSR_CTS)
		p->msr_delta |= UART_MSR_DCTS;
	if (diff & UART_MSR_DSR)
		p->msr_delta |= UART_MSR_DDSR;
	if (diff & UART_MSR_DCD)
		p->msr_delta |= UART_MSR_DDCD;
	if ((old & UART_MSR_RI) && !(now & UART_MSR_RI))
		p->msr_delta |= UART_MSR_TERI;
}

static void vmtty_rx_clear(struct vmtty_port *p)
{
	p->rx_head = 0;
	p->rx_count = 0;
	memset(p->rx, 0, sizeof(p->rx));
}

static void vmtty_rx_push(struct vmtty_port *p, u8 c)
{
	u8 depth = vmtty_rx_depth(p);

	if (p->rx_count == depth) {
		p->overrun = true;
		/* A full FIFO drops the byte; a 16450 overwrites its RBR. */
		if (depth == 1)
			p->rx[p->rx_head] = c;
		return;
	}
	p->rx[(p->rx_head + p->rx_count) % VMTTY_FIFO_SIZE] = c;
	p->rx_count++;
}

static u8 vmtty_rx_pop(struct vmtty_port *p, bool peek)
{
	u8 c;

	if (!p->rx_count)
		return 0;
	c = p->rx[p->rx_head];
	if (!peek) {
		p->rx_head = (p->rx_head + 1) % VMTTY_FIFO_SIZE;
		p->rx_count--;
	}
	return c;
}

static void vmtty_write_fcr(struct vmtty_port *p, u8 val)
{
	/* Switching the FIFOs on or off empties them. */
	if ((val ^ p->fcr) & UART_FCR_ENABLE_FIFO || val & UART_FCR_CLEAR_RCVR)
		vmtty_rx_clear(p);
	p->fcr = val & VMTTY_FCR_MASK;
}

static void vmtty_write_thr(struct vmtty_port *p, u8 c)
{
	if (p->mcr & UART_MCR_LOOP)
		vmtty_rx_push(p, c);
	/* Sent at once: THR is empty again. */
	p->thri = true;
}

static void vmtty_write_ier(struct vmtty_port *p, u8 val)
{
	/* Enabling the THR-empty interrupt while THR is empty raises it. */
	if (val & ~p->ier & UART_IER_THRI)
		p->thri = true;
	p->ier = val & VMTTY_IER_MASK;
}

/**
 * vmtty_uart_read_locked() - a guest read of a port register
 * @m: the device
 * @port: port index, below @m->nr_ports
 * @reg: register offset, 0 to 7
 *
 * Reads consume and acknowledge as on a 16550A, except while the device is
 * FROZEN, when they have no side effects.  Caller holds @m->lock.
 *
 * Return: the register's value.
 */
u8 vmtty_uart_read_locked(struct vmtty_device *m, unsigned int port,
			  unsigned int reg)
{
	struct vmtty_port *p = &m->regs.port[port];
	bool peek = m->mode == VMTTY_FROZEN;
	bool dlab = p->lcr & UART_LCR_DLAB;
	u8 val = 0;

	lockdep_assert_held(&m->lock);
	switch (reg) {
	case UART_RX:
		val = dlab ? p->divisor & 0xff : vmtty_rx_pop(p, peek);
		break;
	case UART_IER:
		val = dlab ? p->divisor >> 8 : p->ier;
		break;
	case UART_IIR:
		val = vmtty_port_iir(p);
		if (val == UART_IIR_THRI && !peek)
			p->thri = false;
		if (p->fcr & UART_FCR_ENABLE_FIFO)
			val |= UART_IIR_FIFO_ENABLED_16550A;
		break;
	case UART_LCR:
		val = p->lcr;
		break;
	case UART_MCR:
		val = p->mcr;
		break;
	case UART_LSR:
		val = UART_LSR_THRE | UART_LSR_TEMT;
		if (p->rx_count)
			val |= UART_LSR_DR;
		if (p->overrun)
			val |= UART_LSR_OE;
		if (!peek)
			p->overrun = false;
		break;
	case UART_MSR:
		val = vmtty_msr_lines(p) | p->msr_delta;
		if (!peek)
			p->msr_delta = 0;
		break;
	case UART_SCR:
		val = p->scr;
		break;
	}
	if (!peek)
		vmtty_irq_update_locked(m);
	return val;
}

/**
 * vmtty_uart_write_locked() - a guest write of a port register
 * @m: the device
 * @port: port index, below @m->nr_ports
 * @reg: register offset, 0 to 7
 * @val: the byte written
 *
 * Dropped while the device is FROZEN.  Caller holds @m->lock.
 */
void vmtty_uart_write_locked(struct vmtty_device *m, unsigned int port,
			     unsigned int reg, u8 val)
{
	struct vmtty_port *p = &m->regs.port[port];
	bool dlab = p->lcr & UART_LCR_DLAB;

	lockdep_assert_held(&m->lock);
	if (m->mode == VMTTY_FROZEN) {
		m->dropped_writes++;
		return;
	}

	switch (reg) {
	case UART_TX:
		if (dlab)
			p->divisor = (p->divisor & 0xff00) | val;
		else
			vmtty_write_thr(p, val);
		break;
	case UART_IER:
		if (dlab)
			p->divisor = (p->divisor & 0x00ff) | val << 8;
		else
			vmtty_write_ier(p, val);
		break;
	case UART_FCR:
		vmtty_write_fcr(p, val);
		break;
	case UART_LCR:
		p->lcr = val;
		break;
	case UART_MCR:
		vmtty_write_mcr(p, val);
		break;
	case UART_SCR:
		p->scr = val;
		break;
	default:
		/* LSR and MSR are read-only. */
		break;
	}
	vmtty_irq_update_locked(m);
}
