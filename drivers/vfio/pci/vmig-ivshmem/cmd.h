/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * vmig-ivshmem-vfio-pci: what the vfio glue (main.c) and the device-command
 * layer (cmd.c) share.  main.c owns the FSM arcs, the data sessions and the
 * save worker; cmd.c owns everything that touches the device or knows the
 * stream format: BAR mappings, quiesce and freeze, the device state as
 * records, their checks on load, and the dirty tracker.
 */
#ifndef _VMIG_IVSHMEM_CMD_H
#define _VMIG_IVSHMEM_CMD_H

#include <linux/build_bug.h>
#include <linux/spinlock.h>
#include <linux/stddef.h>
#include <linux/types.h>
#include <linux/vfio_pci_core.h>
#include <linux/vmig.h>

/* QEMU's ivshmem BAR0 registers. */
#define IVSH_REG_INTRMASK	0x0
#define IVSH_REG_INTRSTATUS	0x4	/* reading clears it */
#define IVSH_REG_IVPOSITION	0x8	/* read-only */
#define IVSH_REG_DOORBELL	0xc	/* write-only */
#define IVSH_BAR0_MIN		0x10

/*
 * Stream format, version 1.  Everything little endian, every record
 * mandatory:
 *
 *   identity   struct ivsh_stream_id: model, format version, BAR2 size
 *   MEM        struct ivsh_rec_mem and data: a run of BAR2 at an offset;
 *              offset and length multiples of IVSH_MEM_ALIGN, length at
 *              most IVSH_MEM_MAX_DATA.  Any number, in any order; a later
 *              record for the same bytes wins.
 *   REGS       struct ivsh_rec_regs: the BAR0 registers, exactly once.
 */
#define IVSH_FORMAT_VERSION	1
#define IVSH_MODEL		"qemu-ivshmem"

#define IVSH_REC_MEM		(VMIG_REC_DRIVER_BASE + 0)
#define IVSH_REC_REGS		(VMIG_REC_DRIVER_BASE + 1)

#define IVSH_MEM_ALIGN		4096
#define IVSH_MEM_MAX_DATA	(1024 * 1024)

struct ivsh_stream_id {
	char model[16];		/* IVSH_MODEL, NUL padded */
	__le32 version;		/* IVSH_FORMAT_VERSION */
	__le32 reserved;	/* 0 */
	__le64 bar2_size;	/* bytes of device memory */
} __packed;
static_assert(sizeof(struct ivsh_stream_id) == 32);

struct ivsh_rec_mem {
	__le64 offset;		/* into BAR2 */
	u8 data[];		/* the rest of the record */
} __packed;
static_assert(sizeof(struct ivsh_rec_mem) == 8);
/* The core's region records (vmig_region_save_open()) are MEM records. */
static_assert(sizeof(struct ivsh_rec_mem) == sizeof(struct vmig_region_rec));
static_assert(offsetof(struct ivsh_rec_mem, data) ==
	      offsetof(struct vmig_region_rec, data));

struct ivsh_rec_regs {
	__le32 intrmask;
	__le32 intrstatus;
} __packed;
static_assert(sizeof(struct ivsh_rec_regs) == 8);

/* The registers that are device state; IVPOSITION is the host's. */
struct ivsh_regs {
	u32 intrmask;
	u32 intrstatus;
};

/*
 * Dirty tracking: BAR2 in blocks of IVSH_BLOCK bytes, each with the xxh64
 * of the bytes the stream last carried for it.
 */
#define IVSH_BLOCK		4096
static_assert(IVSH_BLOCK % IVSH_MEM_ALIGN == 0);

/**
 * struct ivsh_stats - what debugfs shows besides the core's status
 * @lock: protects the members below
 * @track_bytes: hash and scratch memory of the current or last save
 * @windows: access windows opened while none was open
 * @decode_forced: of those, the ones that turned memory decoding on (and
 *	off again when closing): two config writes each
 * @saves: saving sessions started
 * @loads: records loaded
 * @emulated_resets: VFIO_DEVICE_RESETs the driver did itself
 * @reset: how VFIO_DEVICE_RESET resets the function, as found at open
 */
struct ivsh_stats {
	spinlock_t lock;	/* the members below */
	u64 track_bytes;
	u64 windows;
	u64 decode_forced;
	u64 saves;
	u64 loads;
	u64 emulated_resets;
	const char *reset;
};

/**
 * struct ivsh_device - one ivshmem-plain function bound to this driver
 * @core: the vfio-pci-core device; its vdev is what vfio.ko sees
 * @mig: the migration core's per-device object
 * @bar2_size: bytes of device memory
 * @bar0: BAR0 mapping, valid while the device is open
 * @bar2: BAR2 mapping, valid while the device is open
 * @access_lock: protects @access_users and @access_forced
 * @access_users: access windows open; the save worker's and an arc's may
 *	overlap
 * @access_forced: the first window found decoding off and turned it on;
 *	the last one turns it off
 * @frozen: the registers as frozen in STOP, STOP_COPY and RESUMING
 * @save: the current saving session's data, or NULL
 * @resume: the current resuming session's data, or NULL
 * @stats: counters for debugfs
 *
 * @frozen, @save and @resume are protected by the core's state lock: only
 * arcs and session callbacks touch them.
 */
struct ivsh_device {
	struct vfio_pci_core_device core;
	struct vmig_device mig;
	u64 bar2_size;
	void __iomem *bar0;
	void __iomem *bar2;
	spinlock_t access_lock;	/* @access_users, @access_forced */
	unsigned int access_users;
	bool access_forced;
	struct ivsh_regs frozen;
	struct ivsh_save *save;
	struct ivsh_resume *resume;
	struct ivsh_stats stats;
};

/**
 * struct ivsh_resume - a resuming session's state
 * @regs: the registers the stream carried
 * @have_regs: @regs arrived
 * @mem_bytes: bytes of BAR2 written
 */
struct ivsh_resume {
	struct ivsh_regs regs;
	bool have_regs;
	u64 mem_bytes;
};

int ivsh_cmd_probe(struct pci_dev *pdev, u64 *bar2_size);
int ivsh_cmd_open(struct ivsh_device *ivsh);
void ivsh_cmd_close(struct ivsh_device *ivsh);
void ivsh_cmd_stream_id(struct ivsh_device *ivsh, struct ivsh_stream_id *id);

int ivsh_cmd_access_try(struct ivsh_device *ivsh);
int ivsh_cmd_access_end(struct ivsh_device *ivsh);
int ivsh_cmd_access_check(struct ivsh_device *ivsh);
bool ivsh_cmd_access_forced(struct ivsh_device *ivsh);
bool ivsh_cmd_access_wanted(struct ivsh_device *ivsh);

int ivsh_cmd_quiesce(struct ivsh_device *ivsh);
int ivsh_cmd_unquiesce(struct ivsh_device *ivsh);
int ivsh_cmd_freeze(struct ivsh_device *ivsh);
int ivsh_cmd_unfreeze(struct ivsh_device *ivsh);
int ivsh_cmd_reset_locked(struct ivsh_device *ivsh);

u64 *ivsh_cmd_hash_alloc(u64 bar2_size);
void ivsh_cmd_read_mem(struct ivsh_device *ivsh, u64 off, u32 len, void *buf);
void ivsh_cmd_track_mem(u64 *hash, u32 block, u32 nr_blocks, const void *data);
bool ivsh_cmd_block_changed(struct ivsh_device *ivsh, const u64 *hash,
			    u32 block, void *scratch);
void ivsh_cmd_save_regs(const struct ivsh_regs *regs, void *payload);

int ivsh_cmd_load(struct ivsh_device *ivsh, struct ivsh_resume *res, u32 type,
		  const void *data, u32 len);
int ivsh_cmd_load_commit(struct ivsh_device *ivsh, struct ivsh_resume *res);

#endif /* _VMIG_IVSHMEM_CMD_H */
