// SPDX-License-Identifier: GPL-2.0-only
/*
 * vmig-ivshmem-vfio-pci device commands: what quiesce, freeze, save and load
 * mean for QEMU's ivshmem-plain, the stream format of its state, and the
 * dirty tracking.  Nothing here knows the FSM or the data files.
 */

#include <linux/bitmap.h>
#include <linux/delay.h>
#include <linux/io.h>
#include <linux/jiffies.h>
#include <linux/lockdep.h>
#include <linux/overflow.h>
#include <linux/pci.h>
#include <linux/rwsem.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/unaligned.h>
#include <linux/xxhash.h>

#include "cmd.h"

/**
 * DOC: Device commands
 *
 * QEMU's ivshmem-plain is a window on host memory: BAR2 is the shared
 * memory (RAM-backed, prefetchable, any power-of-two size), BAR0 holds four
 * 32-bit registers, of which INTRMASK and INTRSTATUS are state (IVPOSITION
 * is the host's peer number, read-only, and DOORBELL is write-only and
 * unused without peers).  The device has no engine: it starts no DMA and,
 * without a chardev server, raises no interrupt.  The commands are therefore
 * small, and honest about it:
 *
 * quiesce (RUNNING -> RUNNING_P2P, PRE_COPY -> PRE_COPY_P2P)
 *	A device with doorbell peers would stop ringing them here.
 *	ivshmem-plain initiates nothing, so quiesce only checks that the
 *	function still answers config cycles.
 * freeze (RUNNING_P2P -> STOP, PRE_COPY_P2P -> STOP_COPY)
 *	Captures INTRMASK and INTRSTATUS.  Reading INTRSTATUS clears it, so
 *	freeze writes the value back at once: the device looks untouched.  From
 *	then on the captured registers are the device's state.  BAR2 cannot be
 *	frozen from here: userspace can still write it through its mmap, and
 *	keeping vCPUs and other users away from it in STOP is the VMM's duty,
 *	as the uAPI asks.  Revoking the mmap would need vfio-pci-core's
 *	memory_lock for writing, which arcs must not wait for (see the core's
 *	"Locking").
 * unfreeze (STOP -> RUNNING_P2P)
 *	Writes the frozen (or loaded) registers back, so that the device runs
 *	on with exactly the state a stream would carry.
 * reset (VFIO_DEVICE_RESET on a function without a reset method)
 *	Clears INTRMASK and INTRSTATUS, as QEMU's reset of the device does;
 *	the memory is kept, as it is across a real reset.  See "Reset" in the
 *	driver's documentation.
 *
 * BAR access.  The driver uses vfio-pci-core's own mapping of each BAR
 * (vfio_pci_core_setup_barmap(), pci_iomap(): uncached-minus), the same
 * memory type that userspace's mmap of the BAR gets, so no conflicting
 * alias is created.  BAR2 moves in 64-bit loads and stores, eight per
 * loop (ivsh_bar_read(), ivsh_bar_write()): memcpy_fromio() and
 * memcpy_toio() use 32-bit string moves on x86, which under TCG copied at
 * half the speed of the 64-bit loop (1.8 against 3.2 GB/s in a test VM).
 * Under QEMU the BAR is guest RAM: TCG ignores the memory type, and KVM
 * maps RAM-backed regions write-back whatever the guest's PAT says, so a
 * write-back or write-combining kernel alias would buy nothing there while
 * risking PAT conflicts with the user mapping.  (On a real prefetchable BAR,
 * ioremap_wc() and streaming loads would be the choice.)  Every access
 * happens inside an access window.
 */

/**
 * DOC: Access windows
 *
 * A BAR whose function does not decode memory reads as all ones and drops
 * writes.  Userspace may turn decoding off at any time: QEMU does when it
 * resets the device at startup, before it loads the device state; a guest
 * does through QEMU when its firmware enumerates the bus again on reboot,
 * or with setpci.  A save that read the BARs then would freeze INTRMASK and
 * INTRSTATUS as 0xffffffff and stream pages of 0xff, and the destination
 * would write them over its memory; a load would lose what it writes.
 *
 * So the driver touches the BARs only inside an access window, opened by
 * ivsh_cmd_access_try() and closed by ivsh_cmd_access_end():
 *
 * - The window holds vfio-pci-core's memory_lock for reading.  Every
 *   change vfio-pci-core makes to memory decoding or to the power state on
 *   behalf of userspace (a write of PCI_COMMAND through the config region,
 *   VFIO_DEVICE_RESET, a hot reset, low-power entry and exit, a PM control
 *   write, its own probe of the ROM and set-up of MSI and MSI-X, which turn
 *   decoding on for a moment) holds memory_lock for writing, so
 *   none can happen inside a window, and a window sees the latest user
 *   value of PCI_COMMAND, in hardware and in vconfig alike.
 * - The lock is only ever tried, never waited for: a reset holds it for
 *   writing while reset_done waits for the core's state lock, which arcs
 *   hold, and ending a session waits for the save worker.  Waiting for
 *   memory_lock, or for config access, in either would close a cycle; a
 *   trylock cannot, and lockdep does not add dependencies for it.  Arcs retry for up to 200 ms
 *   and then fail with -EBUSY (a reset that holds the lock will move the
 *   FSM to RUNNING anyway); the worker retries until its session ends.
 *   Nothing inside a window sleeps, but for the save worker's poll for a
 *   free chunk in a window that forced decoding on.  An arc's window is
 *   one register access.  The save worker's closes as soon as a writer of memory_lock
 *   waits (ivsh_cmd_access_wanted()): such a writer waits for one record
 *   or one scan of 64 blocks at most.  Others cannot be seen waiting: a
 *   user config access sleeps in the PCI core until the last window closes
 *   (vfio-pci-core's write of PCI_COMMAND too, since it reads the register
 *   that way before it takes memory_lock), and a hot reset only tries
 *   memory_lock.  For them the worker's window lasts 20 ms or 16 MiB of
 *   BAR2 at most, and the next opens 500 us after it closed at the
 *   earliest (see "Saving").
 * - A function in a low-power state (the user's low-power entry, or a
 *   power state other than D0) is not accessed: the window fails with
 *   -EIO.
 * - If PCI_COMMAND_MEMORY is off, the window turns it on and, when
 *   closing, off again.  The save worker's windows and an arc's (the freeze
 *   at switchover) may overlap, so windows are counted: the first to open
 *   turns decoding on, the last to close turns it off.  Only that bit is
 *   touched, and always from a value read just before the write, never
 *   from a saved copy.  The physical BARs stay where the host put them
 *   (vfio-pci virtualises the BAR registers), so this makes the real
 *   memory visible to the kernel mapping and nothing else.  While any
 *   window is open, user config space access is blocked
 *   (pci_cfg_access_trylock(), taken by the first window and dropped by
 *   the last): a guest that reads PCI_COMMAND waits for the window and
 *   never sees the forced bit, vconfig does not change, and the user mmap
 *   keeps failing with SIGBUS.  PCI core resets (sysfs, AER, bus resets of
 *   other drivers) hold the same lock, so a window never opens during
 *   one.  vfio-pci-core forces decoding the same way when it probes the
 *   ROM or sets up MSI and MSI-X.
 *
 * Saves in PRE_COPY read with decoding forced on like any other access,
 * rather than skipping a pass made while decoding was off: ivshmem's memory
 * is host RAM that holds its content whatever the command register says,
 * so a forced read is the real content and neither puts garbage in the
 * stream nor hides a change from a scan; skipping would stall pre-copy for
 * as long as a guest leaves decoding off (a guest sitting in its firmware),
 * for nothing.
 *
 * What remains.  vfio-pci-core masks and unmasks INTx by a read-modify-
 * write of PCI_COMMAND (pci_intx(), and pci_check_and_mask_intx() in its
 * interrupt handler) without memory_lock.  Only if one of those falls
 * between the read and the write that turn decoding on, or between those
 * that turn it off, one side's bit is lost.  If ours is lost, decoding is
 * off at the end of the window; ivsh_cmd_access_end() checks that and says
 * -EAGAIN, and the caller reads again (the save worker) or fails with -EIO
 * (an arc; a freeze may then have cleared INTRSTATUS without putting it
 * back).  If INTX_DISABLE is lost, INTx stays masked or unmasked until
 * the next mask or unmask; ivshmem-plain has no interrupt source, so
 * nothing depends on it.  A freeze whose window was disturbed puts
 * INTRSTATUS back in a second window, and reports the device broken
 * (vmig_arc_broken()) if even that fails.
 */

/**
 * DOC: Dirty tracking
 *
 * ivshmem-plain has no dirty log, and writes through the user's mmap never
 * reach the kernel.  During PRE_COPY the driver therefore keeps, for every
 * IVSH_BLOCK (4 KiB) block of BAR2, the xxh64 of the bytes the stream last
 * carried for it, hashed from the record buffer itself so that the hash
 * always describes what was sent even while the guest keeps writing; the
 * core keeps which blocks were sent and which are known dirty.  Asked
 * which blocks changed (&struct vmig_region_ops.changed), the driver reads
 * each into a scratch buffer and compares its hash; the core's final pass
 * in STOP_COPY asks once more and reads the changed blocks again into the
 * stream.  A change is missed only if it keeps the 64-bit hash, a chance
 * of 2^-64 per changed block.
 *
 * Cost.  Memory: 8 bytes of hash here and 2 bits in the core per 4 KiB
 * block, 0.2 % of BAR2 (2 MiB and 64 KiB of bitmaps for 1 GiB), plus one
 * 4 KiB scratch block, allocated only for a session that starts in a
 * PRE_COPY state; a STOP_COPY-only session tracks nothing.  CPU: a scan
 * reads all of BAR2 once and hashes it (xxh64 runs at several GB/s
 * natively; reading the BAR dominates); the final pass is one more scan,
 * plus a second read of each block it found changed.  4 KiB blocks match
 * the granularity of guest writes, so a scattered writer dirties as little
 * as possible; larger blocks would shrink the hashes but resend more.
 */

/**
 * ivsh_cmd_probe() - is this an ivshmem-plain function the driver can migrate
 * @pdev: the PCI function
 * @bar2_size: its device memory size, on success
 *
 * Return: 0, or -ENODEV when BAR0 or BAR2 is missing or unusable.
 */
int ivsh_cmd_probe(struct pci_dev *pdev, u64 *bar2_size)
{
	resource_size_t len2 = pci_resource_len(pdev, 2);

	if (!(pci_resource_flags(pdev, 0) & IORESOURCE_MEM) ||
	    pci_resource_len(pdev, 0) < IVSH_BAR0_MIN) {
		pci_err(pdev, "no BAR0 registers\n");
		return -ENODEV;
	}
	if (!(pci_resource_flags(pdev, 2) & IORESOURCE_MEM) || !len2 ||
	    len2 % IVSH_BLOCK || len2 / IVSH_BLOCK > VMIG_REGION_MAX_BLOCKS) {
		pci_err(pdev, "BAR2 of %pa bytes cannot be migrated\n", &len2);
		return -ENODEV;
	}
	*bar2_size = len2;
	return 0;
}

/**
 * ivsh_cmd_open() - map the BARs for the commands
 * @ivsh: the device, after vfio_pci_core_enable()
 *
 * The mappings are vfio-pci-core's, kept until vfio_pci_core_disable().
 *
 * Return: 0 or -errno.
 */
int ivsh_cmd_open(struct ivsh_device *ivsh)
{
	struct vfio_pci_core_device *core = &ivsh->core;
	int ret;

	ret = vfio_pci_core_setup_barmap(core, 0);
	if (ret)
		return ret;
	ret = vfio_pci_core_setup_barmap(core, 2);
	if (ret)
		return ret;
	ivsh->bar0 = core->barmap[0];
	ivsh->bar2 = core->barmap[2];
	return 0;
}

/**
 * ivsh_cmd_close() - forget the BAR mappings
 * @ivsh: the device; vfio-pci-core unmaps the BARs after this
 */
void ivsh_cmd_close(struct ivsh_device *ivsh)
{
	ivsh->bar0 = NULL;
	ivsh->bar2 = NULL;
}

/**
 * ivsh_cmd_stream_id() - the identity a stream of this device carries
 * @ivsh: the device
 * @id: filled in: model, format version, BAR2 size
 *
 * A stream loads only into a device with the same identity, so a BAR2 of
 * another size, or another format version, is refused by the core.
 */
void ivsh_cmd_stream_id(struct ivsh_device *ivsh, struct ivsh_stream_id *id)
{
	memset(id, 0, sizeof(*id));
	strscpy_pad(id->model, IVSH_MODEL, sizeof(id->model));
	id->version = cpu_to_le32(IVSH_FORMAT_VERSION);
	id->bar2_size = cpu_to_le64(ivsh->bar2_size);
}

static int ivsh_cmd_present(struct ivsh_device *ivsh)
{
	return pci_device_is_present(ivsh->core.pdev) ? 0 : -ENODEV;
}

/* How long an arc tries to open an access window before giving up. */
#define IVSH_ACCESS_WAIT_MS	200

/*
 * Memory decoding on; *@forced tells whether it was off.  Only the memory
 * bit changes, in a value read just before.
 */
static int ivsh_cmd_decode_force(struct pci_dev *pdev, bool *forced)
{
	u16 cmd;

	if (pci_read_config_word(pdev, PCI_COMMAND, &cmd) ||
	    PCI_POSSIBLE_ERROR(cmd))
		return -ENODEV;
	*forced = !(cmd & PCI_COMMAND_MEMORY);
	if (*forced)
		pci_write_config_word(pdev, PCI_COMMAND,
				      cmd | PCI_COMMAND_MEMORY);
	return 0;
}

/*
 * Undo ivsh_cmd_decode_force() if @forced.  -EAGAIN if decoding went off
 * meanwhile, so that what was read in between may be all ones.
 */
static int ivsh_cmd_decode_restore(struct pci_dev *pdev, bool forced)
{
	u16 cmd;

	if (pci_read_config_word(pdev, PCI_COMMAND, &cmd) ||
	    PCI_POSSIBLE_ERROR(cmd))
		return -ENODEV;
	if (!(cmd & PCI_COMMAND_MEMORY))
		return -EAGAIN;
	if (forced)
		pci_write_config_word(pdev, PCI_COMMAND,
				      cmd & ~PCI_COMMAND_MEMORY);
	return 0;
}

/**
 * ivsh_cmd_access_try() - open an access window on the BARs, if possible now
 * @ivsh: the device
 *
 * See "Access windows".  On success vfio-pci-core's memory_lock is held for
 * reading until ivsh_cmd_access_end(); sleep on nothing in between that
 * others may wait for.
 *
 * Return: 0; -EAGAIN when memory_lock is held for writing (a config write,
 * a reset or a power transition is under way): try again; -EIO when the
 * function is in a low-power state; -ENODEV when it no longer answers.
 */
int ivsh_cmd_access_try(struct ivsh_device *ivsh)
{
	struct vfio_pci_core_device *core = &ivsh->core;
	bool first = false, forced;
	int ret = 0;

	if (!down_read_trylock(&core->memory_lock))
		return -EAGAIN;
	if (core->pm_runtime_engaged || core->pdev->current_state != PCI_D0) {
		ret = -EIO;
		goto out_unlock;
	}
	spin_lock(&ivsh->access_lock);
	if (!ivsh->access_users) {
		/*
		 * Config access blocked for the user, and no PCI core reset
		 * (they block it too) under way: nobody sees or changes
		 * PCI_COMMAND while decoding is forced on.
		 */
		if (!pci_cfg_access_trylock(core->pdev)) {
			ret = -EAGAIN;
		} else {
			ret = ivsh_cmd_decode_force(core->pdev,
						    &ivsh->access_forced);
			if (ret)
				pci_cfg_access_unlock(core->pdev);
			else
				first = true;
		}
	}
	if (!ret)
		ivsh->access_users++;
	forced = first && ivsh->access_forced;
	spin_unlock(&ivsh->access_lock);
	if (!ret) {
		spin_lock(&ivsh->stats.lock);
		ivsh->stats.windows += first;
		ivsh->stats.decode_forced += forced;
		spin_unlock(&ivsh->stats.lock);
		return 0;
	}
out_unlock:
	up_read(&core->memory_lock);
	return ret;
}

/**
 * ivsh_cmd_access_end() - close an access window
 * @ivsh: the device
 *
 * Return: 0; -EAGAIN when decoding was found off: what the window read may
 * be all ones and must not be used; -ENODEV when the function no longer
 * answers.
 */
int ivsh_cmd_access_end(struct ivsh_device *ivsh)
{
	struct vfio_pci_core_device *core = &ivsh->core;
	bool last;
	int ret;

	lockdep_assert_held_read(&core->memory_lock);
	spin_lock(&ivsh->access_lock);
	last = !--ivsh->access_users;
	ret = ivsh_cmd_decode_restore(core->pdev, last && ivsh->access_forced);
	if (last)
		pci_cfg_access_unlock(core->pdev);
	spin_unlock(&ivsh->access_lock);
	up_read(&core->memory_lock);
	return ret;
}

/**
 * ivsh_cmd_access_check() - is what the open window read so far valid
 * @ivsh: the device, in an access window
 *
 * Within a window nothing but a lost update (see "What remains") turns
 * decoding off, and nothing turns it on again: so decoding found on now
 * was on for every read made in the window so far.
 *
 * Return: 0; -EAGAIN when decoding is off: what the window read may be all
 * ones and must not be used; -ENODEV when the function no longer answers.
 */
int ivsh_cmd_access_check(struct ivsh_device *ivsh)
{
	struct pci_dev *pdev = ivsh->core.pdev;
	u16 cmd;

	lockdep_assert_held_read(&ivsh->core.memory_lock);
	if (pci_read_config_word(pdev, PCI_COMMAND, &cmd) ||
	    PCI_POSSIBLE_ERROR(cmd))
		return -ENODEV;
	return cmd & PCI_COMMAND_MEMORY ? 0 : -EAGAIN;
}

/**
 * ivsh_cmd_access_forced() - did the open windows turn decoding on
 * @ivsh: the device, in an access window
 *
 * Set by the first window to open and read by the last to close, so it
 * holds still while the caller's window is open.
 *
 * Return: true when memory decoding was off before the windows opened.
 */
bool ivsh_cmd_access_forced(struct ivsh_device *ivsh)
{
	bool forced;

	lockdep_assert_held_read(&ivsh->core.memory_lock);
	spin_lock(&ivsh->access_lock);
	forced = ivsh->access_forced;
	spin_unlock(&ivsh->access_lock);
	return forced;
}

/**
 * ivsh_cmd_access_wanted() - does someone wait for the window to close
 * @ivsh: the device, in an access window
 *
 * Return: true while a writer of vfio-pci-core's memory_lock (a config
 * write, a reset, a power transition) waits.
 */
bool ivsh_cmd_access_wanted(struct ivsh_device *ivsh)
{
	return rwsem_is_contended(&ivsh->core.memory_lock);
}

/* An access window for an arc: retried for a while, never waited for. */
static int ivsh_cmd_access_begin(struct ivsh_device *ivsh)
{
	unsigned long deadline = jiffies + msecs_to_jiffies(IVSH_ACCESS_WAIT_MS);
	int ret;

	while ((ret = ivsh_cmd_access_try(ivsh)) == -EAGAIN) {
		if (time_after(jiffies, deadline))
			return -EBUSY;
		usleep_range(500, 1000);
	}
	return ret;
}

/* Close an arc's window: a disturbed one fails the arc. */
static int ivsh_cmd_access_done(struct ivsh_device *ivsh)
{
	int ret = ivsh_cmd_access_end(ivsh);

	return ret == -EAGAIN ? -EIO : ret;
}

/**
 * ivsh_cmd_quiesce() - stop initiating anything towards peers
 * @ivsh: the device
 *
 * Return: 0, or -ENODEV if the function no longer answers.
 */
int ivsh_cmd_quiesce(struct ivsh_device *ivsh)
{
	return ivsh_cmd_present(ivsh);
}

/**
 * ivsh_cmd_unquiesce() - undo ivsh_cmd_quiesce()
 * @ivsh: the device
 *
 * Return: 0, or -ENODEV if the function no longer answers.
 */
int ivsh_cmd_unquiesce(struct ivsh_device *ivsh)
{
	return ivsh_cmd_present(ivsh);
}

/**
 * ivsh_cmd_freeze() - capture the registers as the device's state
 * @ivsh: the device
 *
 * Return: 0, or the error of an access window that could not be opened or
 * was disturbed (-EBUSY, -EIO, -ENODEV).
 */
int ivsh_cmd_freeze(struct ivsh_device *ivsh)
{
	struct ivsh_regs regs;
	int ret;

	ret = ivsh_cmd_access_begin(ivsh);
	if (ret)
		return ret;
	regs.intrmask = ioread32(ivsh->bar0 + IVSH_REG_INTRMASK);
	regs.intrstatus = ioread32(ivsh->bar0 + IVSH_REG_INTRSTATUS);
	/* The read cleared it: put it back. */
	iowrite32(regs.intrstatus, ivsh->bar0 + IVSH_REG_INTRSTATUS);
	ret = ivsh_cmd_access_done(ivsh);
	if (!ret) {
		ivsh->frozen = regs;
		return 0;
	}

	/*
	 * The window was disturbed: the read may have cleared INTRSTATUS
	 * and the write-back been lost.  Put it back once more; if that
	 * fails too, the device is not in the state the arc started from.
	 */
	if (ivsh_cmd_access_begin(ivsh)) {
		vmig_arc_broken(&ivsh->mig);
		return ret;
	}
	iowrite32(regs.intrstatus, ivsh->bar0 + IVSH_REG_INTRSTATUS);
	if (ivsh_cmd_access_done(ivsh))
		vmig_arc_broken(&ivsh->mig);
	return ret;
}

static void ivsh_cmd_write_regs(struct ivsh_device *ivsh,
				const struct ivsh_regs *regs)
{
	iowrite32(regs->intrmask, ivsh->bar0 + IVSH_REG_INTRMASK);
	iowrite32(regs->intrstatus, ivsh->bar0 + IVSH_REG_INTRSTATUS);
}

/* Write @regs to the device in an arc's access window. */
static int ivsh_cmd_put_regs(struct ivsh_device *ivsh,
			     const struct ivsh_regs *regs)
{
	int ret;

	ret = ivsh_cmd_access_begin(ivsh);
	if (ret)
		return ret;
	ivsh_cmd_write_regs(ivsh, regs);
	return ivsh_cmd_access_done(ivsh);
}

/**
 * ivsh_cmd_unfreeze() - let the device run on from its frozen state
 * @ivsh: the device
 *
 * Return: 0, or the error of the access window (-EBUSY, -EIO, -ENODEV).
 */
int ivsh_cmd_unfreeze(struct ivsh_device *ivsh)
{
	return ivsh_cmd_put_regs(ivsh, &ivsh->frozen);
}

/**
 * ivsh_cmd_reset_locked() - reset the registers, as the device's reset does
 * @ivsh: the device; the caller holds vfio-pci-core's memory_lock for
 *	writing, so no access window can be open
 *
 * Clears INTRMASK and INTRSTATUS, with decoding forced on around the
 * writes; the memory is kept.
 *
 * Return: 0; -EIO when the function is in a low-power state or decoding
 * went off during the writes; -ENODEV when it no longer answers.
 */
int ivsh_cmd_reset_locked(struct ivsh_device *ivsh)
{
	struct vfio_pci_core_device *core = &ivsh->core;
	static const struct ivsh_regs zero;
	bool forced;
	int ret;

	lockdep_assert_held_write(&core->memory_lock);
	/* Windows hold memory_lock for reading: none is open. */
	WARN_ON_ONCE(ivsh->access_users);
	/* The ioctl that brought us here holds the device out of runtime PM. */
	if (core->pdev->current_state != PCI_D0)
		return -EIO;
	ret = ivsh_cmd_decode_force(core->pdev, &forced);
	if (ret)
		return ret;
	ivsh_cmd_write_regs(ivsh, &zero);
	ret = ivsh_cmd_decode_restore(core->pdev, forced);
	return ret == -EAGAIN ? -EIO : ret;
}

/**
 * ivsh_cmd_hash_alloc() - the per-block hashes of a BAR2 of @bar2_size bytes
 * @bar2_size: a multiple of IVSH_BLOCK
 *
 * Return: the array, zeroed, or NULL; free it with kvfree().
 */
u64 *ivsh_cmd_hash_alloc(u64 bar2_size)
{
	return kvcalloc(bar2_size / IVSH_BLOCK, sizeof(u64), GFP_KERNEL_ACCOUNT);
}

/*
 * Copy @len bytes, a multiple of 8, between BAR2 and memory in 64-bit
 * accesses, eight per loop.  BAR2 is memory: no access has a side effect,
 * so neither the order nor the width matters beyond the speed.  The
 * memory side goes through get_unaligned() and put_unaligned(): the
 * core's chunks keep memory records 8-byte aligned, but nothing here
 * relies on it (plain moves on x86).
 *
 * Each is a function of its own, aligned to 256 bytes, so that its loop
 * stays within one page wherever the code around it lands: in the
 * distro build each takes under 210 bytes with its 16-byte prefix, while
 * an instrumented build (KASAN, KCSAN, coverage) may grow past 256 and
 * lose that.  Under TCG, where the benchmarks run, QEMU links translated
 * blocks directly only within a guest page: the resuming copy's loop,
 * inlined into ivsh_cmd_load(), once moved across a page boundary after
 * an unrelated change elsewhere, and resuming 256 MiB fell by a third.
 */
static_assert(IVSH_BLOCK % 8 == 0 && IVSH_MEM_ALIGN % 8 == 0);

static noinline __aligned(256) void
ivsh_bar_read(void *dst, const void __iomem *src, size_t len)
{
	const u64 __iomem *s = src;
	size_t i = 0, n = len / 8;
	u64 *d = dst;

	for (; i + 8 <= n; i += 8) {
		put_unaligned(__raw_readq(s + i), d + i);
		put_unaligned(__raw_readq(s + i + 1), d + i + 1);
		put_unaligned(__raw_readq(s + i + 2), d + i + 2);
		put_unaligned(__raw_readq(s + i + 3), d + i + 3);
		put_unaligned(__raw_readq(s + i + 4), d + i + 4);
		put_unaligned(__raw_readq(s + i + 5), d + i + 5);
		put_unaligned(__raw_readq(s + i + 6), d + i + 6);
		put_unaligned(__raw_readq(s + i + 7), d + i + 7);
	}
	for (; i < n; i++)
		put_unaligned(__raw_readq(s + i), d + i);
}

static noinline __aligned(256) void
ivsh_bar_write(void __iomem *dst, const void *src, size_t len)
{
	size_t i = 0, n = len / 8;
	u64 __iomem *d = dst;
	const u64 *s = src;

	for (; i + 8 <= n; i += 8) {
		__raw_writeq(get_unaligned(s + i), d + i);
		__raw_writeq(get_unaligned(s + i + 1), d + i + 1);
		__raw_writeq(get_unaligned(s + i + 2), d + i + 2);
		__raw_writeq(get_unaligned(s + i + 3), d + i + 3);
		__raw_writeq(get_unaligned(s + i + 4), d + i + 4);
		__raw_writeq(get_unaligned(s + i + 5), d + i + 5);
		__raw_writeq(get_unaligned(s + i + 6), d + i + 6);
		__raw_writeq(get_unaligned(s + i + 7), d + i + 7);
	}
	for (; i < n; i++)
		__raw_writeq(get_unaligned(s + i), d + i);
}

/**
 * ivsh_cmd_read_mem() - read a run of BAR2 into memory
 * @ivsh: the device, in an access window
 * @off: offset into BAR2, a multiple of IVSH_BLOCK
 * @len: bytes, a multiple of IVSH_BLOCK
 * @buf: where to, @len bytes
 */
void ivsh_cmd_read_mem(struct ivsh_device *ivsh, u64 off, u32 len, void *buf)
{
	lockdep_assert_held_read(&ivsh->core.memory_lock);
	ivsh_bar_read(buf, ivsh->bar2 + off, len);
}

/**
 * ivsh_cmd_track_mem() - hash blocks as the stream carries them
 * @hash: the per-block hashes
 * @block: first block
 * @nr_blocks: number of blocks
 * @data: their content, read by ivsh_cmd_read_mem() in a window that
 *	closed without error, from the record that carries them
 */
void ivsh_cmd_track_mem(u64 *hash, u32 block, u32 nr_blocks, const void *data)
{
	u32 i;

	for (i = 0; i < nr_blocks; i++)
		hash[block + i] = xxh64(data + (size_t)i * IVSH_BLOCK,
					IVSH_BLOCK, 0);
}

/**
 * ivsh_cmd_block_changed() - does a block differ from what was sent
 * @ivsh: the device, in an access window
 * @hash: the per-block hashes; @block's is that of what the stream carries
 * @block: the block
 * @scratch: IVSH_BLOCK bytes, clobbered
 *
 * The answer counts only if the window closes without error.
 *
 * Return: true if the block changed.
 */
bool ivsh_cmd_block_changed(struct ivsh_device *ivsh, const u64 *hash,
			    u32 block, void *scratch)
{
	lockdep_assert_held_read(&ivsh->core.memory_lock);
	ivsh_bar_read(scratch, ivsh->bar2 + (u64)block * IVSH_BLOCK, IVSH_BLOCK);
	return xxh64(scratch, IVSH_BLOCK, 0) != hash[block];
}

/**
 * ivsh_cmd_save_regs() - the registers as a REGS record payload
 * @regs: the frozen registers
 * @payload: a reserved REGS record
 */
void ivsh_cmd_save_regs(const struct ivsh_regs *regs, void *payload)
{
	struct ivsh_rec_regs *rec = payload;

	rec->intrmask = cpu_to_le32(regs->intrmask);
	rec->intrstatus = cpu_to_le32(regs->intrstatus);
}

static int ivsh_cmd_load_mem(struct ivsh_device *ivsh, struct ivsh_resume *res,
			     const void *data, u32 len)
{
	const struct ivsh_rec_mem *rec = data;
	u64 off, end;
	int ret;
	u32 n;

	if (len < sizeof(*rec) + IVSH_MEM_ALIGN)
		return -EINVAL;
	n = len - sizeof(*rec);
	off = le64_to_cpu(rec->offset);
	if (n % IVSH_MEM_ALIGN || n > IVSH_MEM_MAX_DATA ||
	    off % IVSH_MEM_ALIGN)
		return -EINVAL;
	if (check_add_overflow(off, (u64)n, &end) || end > ivsh->bar2_size)
		return -EINVAL;
	ret = ivsh_cmd_access_begin(ivsh);
	if (ret)
		return ret;
	ivsh_bar_write(ivsh->bar2 + off, rec->data, n);
	ret = ivsh_cmd_access_done(ivsh);
	if (ret)
		return ret;
	res->mem_bytes += n;
	return 0;
}

static int ivsh_cmd_load_regs(struct ivsh_resume *res, const void *data,
			      u32 len)
{
	const struct ivsh_rec_regs *rec = data;

	if (len != sizeof(*rec) || res->have_regs)
		return -EINVAL;
	res->regs.intrmask = le32_to_cpu(rec->intrmask);
	res->regs.intrstatus = le32_to_cpu(rec->intrstatus);
	res->have_regs = true;
	return 0;
}

/**
 * ivsh_cmd_load() - check one record of a stream and apply it
 * @ivsh: the device, in RESUMING
 * @res: the resuming session's state
 * @type: record type
 * @data: payload, whose envelope the core checked
 * @len: payload length
 *
 * Memory records go to BAR2 at once; the registers are kept until
 * ivsh_cmd_load_commit().  A record that fails leaves BAR2 with the
 * records before it and the registers untouched.
 *
 * Return: 0; -EINVAL for a record out of bounds, misaligned, of a wrong
 * length, or a second REGS record; -EOPNOTSUPP for a type this format does
 * not have; the error of the access window for a memory record (-EBUSY,
 * -EIO, -ENODEV).
 */
int ivsh_cmd_load(struct ivsh_device *ivsh, struct ivsh_resume *res, u32 type,
		  const void *data, u32 len)
{
	switch (type) {
	case IVSH_REC_MEM:
		return ivsh_cmd_load_mem(ivsh, res, data, len);
	case IVSH_REC_REGS:
		return ivsh_cmd_load_regs(res, data, len);
	}
	return -EOPNOTSUPP;
}

/**
 * ivsh_cmd_load_commit() - the stream is complete: take on its registers
 * @ivsh: the device, leaving RESUMING for STOP
 * @res: the resuming session's state
 *
 * The registers become the frozen state and are written to the device.
 *
 * Return: 0; -EINVAL if the stream carried no registers; the error of the
 * access window (-EBUSY, -EIO, -ENODEV).
 */
int ivsh_cmd_load_commit(struct ivsh_device *ivsh, struct ivsh_resume *res)
{
	int ret;

	if (!res->have_regs)
		return -EINVAL;
	ret = ivsh_cmd_put_regs(ivsh, &res->regs);
	if (ret)
		return ret;
	ivsh->frozen = res->regs;
	return 0;
}
