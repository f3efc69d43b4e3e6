/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * vmig: the VFIO live-migration core.
 *
 * A driver implements the single FSM arcs of the VFIO migration uAPI; vmig
 * owns the rest: the next-state table, the walk over several arcs with its
 * unwind, the masking of optional states and the device state itself.
 */
#ifndef _LINUX_VMIG_H
#define _LINUX_VMIG_H

#include <linux/types.h>
#include <linux/mutex.h>
#include <linux/vfio.h>

struct file;
struct vmig_device;

/* Number of states of enum vfio_device_mig_state (ERROR .. PRE_COPY_P2P). */
#define VMIG_NR_STATES		(VFIO_DEVICE_STATE_PRE_COPY_P2P + 1)

/* Every migration flag the core knows how to drive. */
#define VMIG_KNOWN_FLAGS	(VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P | \
				 VFIO_MIGRATION_PRE_COPY)

/**
 * VMIG_ARC() - encode the arc @from -> @to as one integer
 * @from: state the arc leaves
 * @to: state the arc enters
 *
 * Meant for switch statements in arc handlers, so that each case names an
 * arc of the FSM: ``case VMIG_ARC(STOP, STOP_COPY):`` after a local
 * shorthand, or with the full names of enum vfio_device_mig_state.
 */
#define VMIG_ARC(from, to)	((from) * VMIG_NR_STATES + (to))

/**
 * struct vmig_ops - what a driver provides to the migration core
 * @migration_step_device_state: perform exactly one FSM arc, from the
 *	current state @from to the adjacent state @to.  The core only ever
 *	asks for arcs of the FSM (see vmig_arc_valid()) that the device's
 *	migration flags allow, in an order that walks the shortest path to the
 *	state userspace requested, and it calls this with the state lock held.
 *
 *	Return a new data file when the arc starts a session (see
 *	vmig_arc_starts_session()), NULL when the arc succeeded without
 *	starting one, or an ERR_PTR() when it failed.  A failed arc must leave
 *	the device in @from; when that is impossible, call vmig_arc_broken()
 *	before returning the error and the core moves the FSM to ERROR.
 */
struct vmig_ops {
	struct file *(*migration_step_device_state)(struct vmig_device *mig,
						    enum vfio_device_mig_state from,
						    enum vfio_device_mig_state to);
};

/**
 * struct vmig_device - per-device migration state owned by the core
 * @ops: the driver's arc handlers
 * @flags: VFIO_MIGRATION_* flags the device supports
 * @state_lock: serialises walks, resets and every reader of @state
 * @state: the FSM state the device is in
 * @arc_broken: set by vmig_arc_broken() while an arc runs
 *
 * Drivers embed this structure in their own device structure, initialise it
 * with vmig_init() and get back to their structure with container_of().  All
 * members are private to the core.
 */
struct vmig_device {
	const struct vmig_ops *ops;
	u32 flags;
	struct mutex state_lock;	/* see the lock graph in fsm.c */
	enum vfio_device_mig_state state;
	bool arc_broken;
};

int vmig_init(struct vmig_device *mig, const struct vmig_ops *ops, u32 flags);
void vmig_uninit(struct vmig_device *mig);

bool vmig_state_supported(u32 flags, u32 state);
bool vmig_arc_valid(u32 from, u32 to);
bool vmig_arc_starts_session(u32 from, u32 to);
bool vmig_in_saving_group(u32 state);
u32 vmig_next_state(u32 flags, u32 cur, u32 target);
const char *vmig_state_name(u32 state);

struct file *vmig_set_state_locked(struct vmig_device *mig, u32 target);
struct file *vmig_set_state(struct vmig_device *mig, u32 target);
enum vfio_device_mig_state vmig_get_state(struct vmig_device *mig);
void vmig_reset_locked(struct vmig_device *mig);
void vmig_reset(struct vmig_device *mig);
void vmig_arc_broken(struct vmig_device *mig);

#endif /* _LINUX_VMIG_H */
