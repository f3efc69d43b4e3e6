// SPDX-License-Identifier: GPL-2.0-only
/*
 * vmig FSM: the next-state table, the masking of optional states and the
 * walker that turns one userspace request into a sequence of driver arcs.
 */

#include <linux/bug.h>
#include <linux/err.h>
#include <linux/export.h>
#include <linux/file.h>
#include <linux/ktime.h>
#include <linux/lockdep.h>
#include <linux/vmig.h>
#include <kunit/visibility.h>

#include "vmig_priv.h"

/**
 * DOC: The migration FSM
 *
 * The VFIO migration uAPI is a finite state machine of eight states.  Fifteen
 * *arcs* join them; a driver implements each arc it supports as one step of
 * its &struct vmig_ops.migration_step_device_state handler::
 *
 *   RUNNING      -> RUNNING_P2P, PRE_COPY
 *   RUNNING_P2P  -> RUNNING, STOP, PRE_COPY_P2P
 *   STOP         -> RUNNING_P2P, STOP_COPY, RESUMING
 *   STOP_COPY    -> STOP
 *   RESUMING     -> STOP
 *   PRE_COPY     -> RUNNING, PRE_COPY_P2P
 *   PRE_COPY_P2P -> PRE_COPY, RUNNING_P2P, STOP_COPY
 *
 * Any other request is a *combination transition* that the core performs by
 * walking arcs along the shortest path.  Two rules make that path unique:
 *
 * - A state of the saving group (PRE_COPY, PRE_COPY_P2P, STOP_COPY) may be
 *   an interior state of a path only if the whole path stays inside the
 *   saving group, i.e. inside one data session.  PRE_COPY -> STOP_COPY
 *   therefore passes PRE_COPY_P2P, while PRE_COPY -> STOP leaves the group at
 *   once through RUNNING.
 * - STOP_COPY -> PRE_COPY and STOP_COPY -> PRE_COPY_P2P are refused.
 *
 * ERROR is never a valid target.  The device reaches it only when a walk
 * fails and cannot be unwound, and leaves it only through a reset, which
 * returns it to RUNNING.
 *
 * Optional states are masked by the device's migration flags.  Without
 * VFIO_MIGRATION_P2P the states RUNNING_P2P and PRE_COPY_P2P do not exist for
 * the device: they can neither be requested nor be seen, and the walker
 * steps over them, so that RUNNING and STOP, and PRE_COPY and STOP_COPY,
 * become adjacent.  Without VFIO_MIGRATION_PRE_COPY the PRE_COPY states are
 * refused; no path between other states passes through them.
 */

/**
 * DOC: Arc handlers
 *
 * A driver implements &struct vmig_ops.migration_step_device_state, which
 * performs one arc and nothing else.  The core guarantees:
 *
 * - @from is the state the core last committed, i.e. the state the device
 *   is in, and @from -> @to is an arc of the FSM as the device's flags shape
 *   it: one of the fifteen arcs, or, without VFIO_MIGRATION_P2P, one of the
 *   joined arcs RUNNING -> STOP, STOP -> RUNNING and PRE_COPY -> STOP_COPY;
 * - the handler runs with &vmig_device.state_lock held, so arcs of one
 *   device never run concurrently with each other or with a reset.
 *
 * And it expects:
 *
 * - on success, the device is in @to.  An arc that starts a session
 *   (RUNNING -> PRE_COPY, RUNNING_P2P -> PRE_COPY_P2P, STOP -> STOP_COPY,
 *   STOP -> RESUMING) returns the session's data file; every other arc
 *   returns NULL.  The core checks both ways: a missing file, or a file from
 *   any other arc, is a driver bug that earns a warning, -EIO and the
 *   unwind of a failed arc, and the stray file is released;
 * - on failure, an ERR_PTR() and the device still in @from, so that the core
 *   can walk back.  When the device cannot be left in @from, the handler
 *   calls vmig_arc_broken() before returning: the FSM goes to ERROR at once
 *   and no further arc is asked for;
 * - an arc that leaves a session's group (the saving group, or RESUMING)
 *   ends that session.  An arc into a session state may fail, for instance
 *   RESUMING -> STOP when the data written was incomplete or invalid.
 */

/**
 * DOC: Walking a request and unwinding it
 *
 * vmig_set_state() turns one userspace request into arcs.  A request for
 * ERROR, for a value outside the enum, for a state the device's flags do not
 * have, or for a forbidden transition, and any request while the FSM is in
 * ERROR, is refused with -EINVAL before any arc runs.  A request for the
 * current state succeeds at once.  Otherwise the walker asks for the next
 * arc from the table, commits the new state once the arc succeeded, and
 * repeats until the target is reached; only the final arc of a walk can
 * start a session (a saving-group state is never interior to a path that
 * leaves the group), so it alone can return a file.
 *
 * When an arc fails, the FSM stands in the state before that arc, and the
 * walker tries to give userspace back the state it started from:
 *
 * - the failing arc was the first one: nothing to undo;
 * - the driver reported the device broken: ERROR, no further arc;
 * - the walk started in the saving group and has left it, or started in
 *   RESUMING and has left it: ERROR.  The session's data file was ended by
 *   the arc that left, and a new arc back into the group would start a new
 *   session, not restore the old one.  For example PRE_COPY -> STOP fails
 *   in RUNNING -> RUNNING_P2P: ERROR;
 * - otherwise: walk back to the start along the table's own path, for
 *   example RUNNING -> STOP_COPY failing in STOP -> STOP_COPY unwinds
 *   through STOP -> RUNNING_P2P -> RUNNING.  If an unwind arc fails too, or
 *   the way back is forbidden, ERROR.
 *
 * The request returns the error of the arc that failed, not that of the
 * unwind.  The state reached, the start or ERROR, is what
 * VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE with GET reports afterwards.
 * ERROR is left only through a reset of the device, which returns the FSM
 * to RUNNING without any arc.
 */

#include "fsm_table.h"

/* The migration flag a state needs beyond VFIO_MIGRATION_STOP_COPY. */
static const u32 vmig_state_needs[VMIG_NR_STATES] = {
	[VFIO_DEVICE_STATE_RUNNING_P2P] = VFIO_MIGRATION_P2P,
	[VFIO_DEVICE_STATE_PRE_COPY] = VFIO_MIGRATION_PRE_COPY,
	[VFIO_DEVICE_STATE_PRE_COPY_P2P] = VFIO_MIGRATION_P2P |
					   VFIO_MIGRATION_PRE_COPY,
};

static const char * const vmig_state_names[VMIG_NR_STATES] = {
	[VFIO_DEVICE_STATE_ERROR] = "ERROR",
	[VFIO_DEVICE_STATE_STOP] = "STOP",
	[VFIO_DEVICE_STATE_RUNNING] = "RUNNING",
	[VFIO_DEVICE_STATE_STOP_COPY] = "STOP_COPY",
	[VFIO_DEVICE_STATE_RESUMING] = "RESUMING",
	[VFIO_DEVICE_STATE_RUNNING_P2P] = "RUNNING_P2P",
	[VFIO_DEVICE_STATE_PRE_COPY] = "PRE_COPY",
	[VFIO_DEVICE_STATE_PRE_COPY_P2P] = "PRE_COPY_P2P",
};

/**
 * vmig_state_name() - printable name of a migration state
 * @state: a value of enum vfio_device_mig_state, or anything else
 *
 * Return: the state's name as in the uAPI enum, without its prefix, or
 * "INVALID" for a value outside the enum.
 */
const char *vmig_state_name(u32 state)
{
	return state < VMIG_NR_STATES ? vmig_state_names[state] : "INVALID";
}
EXPORT_SYMBOL_GPL(vmig_state_name);

/**
 * vmig_in_saving_group() - is @state one of PRE_COPY, PRE_COPY_P2P, STOP_COPY
 * @state: a migration state
 *
 * The saving group shares one data session: moving between its states does
 * not end the session, leaving the group does.
 *
 * Return: true for the three saving states.
 */
bool vmig_in_saving_group(u32 state)
{
	return __vmig_in_saving_group(state);
}
EXPORT_SYMBOL_GPL(vmig_in_saving_group);

/**
 * vmig_state_supported() - may a device with @flags be in @state
 * @flags: VFIO_MIGRATION_* flags of the device
 * @state: a value of enum vfio_device_mig_state, or anything else
 *
 * ERROR is "supported" in the sense that every device may land in it; it is
 * never a valid target of a request.
 *
 * Return: true if @state exists for a device with @flags.
 */
bool vmig_state_supported(u32 flags, u32 state)
{
	if (state >= VMIG_NR_STATES || !(flags & VFIO_MIGRATION_STOP_COPY))
		return false;
	return (flags & vmig_state_needs[state]) == vmig_state_needs[state];
}
EXPORT_SYMBOL_GPL(vmig_state_supported);

/**
 * vmig_arc_valid() - is @from -> @to one of the fifteen FSM arcs
 * @from: the state an arc leaves
 * @to: the state it enters
 *
 * Return: true if the uAPI defines the arc, whatever a device supports.
 */
bool vmig_arc_valid(u32 from, u32 to)
{
	if (from >= VMIG_NR_STATES || to >= VMIG_NR_STATES || from == to)
		return false;
	if (from == VFIO_DEVICE_STATE_ERROR || to == VFIO_DEVICE_STATE_ERROR)
		return false;
	return vmig_fsm_next[from][to] == to;
}
EXPORT_SYMBOL_GPL(vmig_arc_valid);

/**
 * vmig_arc_starts_session() - does the arc @from -> @to open a data session
 * @from: the state the arc leaves
 * @to: the state it enters
 *
 * The four arcs RUNNING -> PRE_COPY, RUNNING_P2P -> PRE_COPY_P2P,
 * STOP -> STOP_COPY and STOP -> RESUMING start a session, and only they may
 * return a data file.
 *
 * Return: true for those four arcs.
 */
bool vmig_arc_starts_session(u32 from, u32 to)
{
	if (!vmig_arc_valid(from, to))
		return false;
	return __vmig_starts_session(from, to);
}
EXPORT_SYMBOL_GPL(vmig_arc_starts_session);

/* vmig_next_state(), inline in the walker: it runs once per arc. */
static __always_inline u32 __vmig_next_state(u32 flags, u32 cur, u32 target)
{
	u32 next;

	if (target == VFIO_DEVICE_STATE_ERROR ||
	    !vmig_state_supported(flags, cur) ||
	    !vmig_state_supported(flags, target))
		return VFIO_DEVICE_STATE_ERROR;

	next = vmig_fsm_next[cur][target];
	while (!vmig_state_supported(flags, next))
		next = vmig_fsm_next[next][target];
	return next;
}

/**
 * vmig_next_state() - next state on the way from @cur to @target
 * @flags: VFIO_MIGRATION_* flags of the device
 * @cur: the state the device is in
 * @target: the state userspace asked for
 *
 * Looks up the table and steps over the P2P states when the device does not
 * have them, so the result is always a state the device supports.
 *
 * Return: @cur when @cur == @target, the state after the next arc when a
 * path exists, or VFIO_DEVICE_STATE_ERROR when the request must be refused:
 * @target is ERROR, out of range or unsupported, @cur is ERROR, or the
 * transition is forbidden (STOP_COPY -> PRE_COPY*).
 */
u32 vmig_next_state(u32 flags, u32 cur, u32 target)
{
	return __vmig_next_state(flags, cur, target);
}
EXPORT_SYMBOL_GPL(vmig_next_state);

/* Debugfs and the KUnit suites read the raw table through this. */
u32 vmig_fsm_table(u32 cur, u32 target)
{
	if (cur >= VMIG_NR_STATES || target >= VMIG_NR_STATES)
		return VFIO_DEVICE_STATE_ERROR;
	return vmig_fsm_next[cur][target];
}
EXPORT_SYMBOL_IF_KUNIT(vmig_fsm_table);

/**
 * vmig_arc_broken() - report from an arc handler that the device is broken
 * @mig: the per-device object
 *
 * An arc that fails and cannot leave the device in the state it started
 * from calls this before returning its error.  The core then moves the FSM
 * to ERROR at once and runs no further arc, not even an unwind.  Only valid
 * from inside &struct vmig_ops.migration_step_device_state.
 */
void vmig_arc_broken(struct vmig_device *mig)
{
	lockdep_assert_held(&mig->state_lock);
	mig->arc_broken = true;
}
EXPORT_SYMBOL_GPL(vmig_arc_broken);

/*
 * The debugfs fault injection: fail the arc @from -> @to without running
 * the driver's handler, as a driver would that leaves the device unchanged,
 * or report the device broken.
 */
static bool vmig_inject_locked(struct vmig_device *mig, u32 from, u32 to,
			       int *err)
{
	if (!mig->inject.count || mig->inject.from != from ||
	    mig->inject.to != to)
		return false;
	mig->inject.count--;
	if (mig->inject.broken)
		mig->state = VFIO_DEVICE_STATE_ERROR;
	*err = mig->inject.err;
	return true;
}

/*
 * The arc's time goes to the trace only: no clock is read while the trace
 * is off (under TCG a read can cost more than the arc).
 */
static __always_inline u64 vmig_arc_clock(void)
{
	return trace_vmig_arc_enabled() ? ktime_get_ns() : 0;
}

static __always_inline void vmig_trace_arc(struct vmig_device *mig, u32 from,
					   u32 to, int err, u64 t0)
{
	if (trace_vmig_arc_enabled())
		trace_vmig_arc(mig, from, to, err, t0 ? ktime_get_ns() - t0 : 0);
}

/*
 * Run one arc and commit it.  On success returns 0 and stores the data file,
 * if any, in *filp.  On failure returns -errno with the FSM either still in
 * the arc's start state or, when the device is broken, in ERROR.  @final_arc
 * says whether this arc is the last of the walk: only the last arc may hand
 * out a data file, and it must when it starts a session.
 */
static __always_inline int vmig_step_locked(struct vmig_device *mig, u32 next,
					    bool final_arc, struct file **filp,
					    bool *injected)
{
	u32 cur = mig->state;
	bool want_file = final_arc && __vmig_starts_session(cur, next);
	struct vmig_session *sess = NULL;
	u64 t0 = vmig_arc_clock();
	struct file *f = NULL;
	int ret = 0;

	lockdep_assert_held(&mig->state_lock);

	/* Leaving RESUMING needs a whole, sound stream. */
	if (cur == VFIO_DEVICE_STATE_RESUMING && mig->session)
		ret = vmig_session_resume_check_locked(mig->session);
	if (!ret && vmig_inject_locked(mig, cur, next, &ret))
		*injected = true;
	if (ret)
		goto out_failed;

	mig->arc_broken = false;
	f = mig->ops->migration_step_device_state(mig, cur, next);
	if (IS_ERR(f)) {
		ret = PTR_ERR(f);
		f = NULL;
		if (mig->arc_broken)
			mig->state = VFIO_DEVICE_STATE_ERROR;
		goto out_failed;
	}

	/*
	 * The arc did run: from here on the device is in @next even if the
	 * driver broke the file contract, so record that before judging it.
	 */
	mig->state = next;
	if (mig->arc_broken) {
		/* Claimed success but said the device is broken. */
		mig->state = VFIO_DEVICE_STATE_ERROR;
		ret = -EIO;
	} else if (WARN_ON_ONCE(!!f != want_file)) {
		/* A file from an arc that may not start a session, or none. */
		ret = -EIO;
	} else if (f) {
		sess = vmig_session_of_arc(mig, f,
					   next != VFIO_DEVICE_STATE_RESUMING);
		/* Not a fresh session of ours of the right kind. */
		if (WARN_ON_ONCE(!sess))
			ret = -EIO;
	}
	if (ret) {
		if (f) {
			vmig_session_abandon_locked(f);
			fput(f);
		}
		goto out_failed;
	}

	if (f) {
		/*
		 * A new session only starts outside the old one's group, whose
		 * session the arc that left it ended and detached.  Attaching
		 * syncs the new one.
		 */
		if (WARN_ON_ONCE(mig->session))
			vmig_session_detach_locked(mig);
		vmig_session_attach_locked(sess);
	} else {
		vmig_session_sync_locked(mig);
	}
	mig->arc_ok[cur][next]++;
	vmig_trace_arc(mig, cur, next, 0, t0);
	*filp = f;
	return 0;

out_failed:
	vmig_session_sync_locked(mig);
	mig->arc_failed[cur][next]++;
	vmig_trace_arc(mig, cur, next, ret, t0);
	return ret;
}

/*
 * Can the walk that started in @start and stands in @cur still go back?  Not
 * once it left the data session it started in: the session's file was ended
 * by the arc that left, and a new arc into the group would start a new
 * session, not restore the old one.
 */
static bool vmig_unwind_possible(u32 start, u32 cur)
{
	if (__vmig_in_saving_group(start) && !__vmig_in_saving_group(cur))
		return false;
	if (start == VFIO_DEVICE_STATE_RESUMING &&
	    cur != VFIO_DEVICE_STATE_RESUMING)
		return false;
	return true;
}

/*
 * Walk back from the current state to @start along the natural arcs.  Any
 * failure on the way, including an arc that hands out a file, lands the FSM
 * in ERROR.  Returns the number of arcs tried.
 */
static u32 vmig_unwind_locked(struct vmig_device *mig, u32 start)
{
	struct file *f = NULL;
	bool injected = false;
	u32 next, arcs = 0;

	lockdep_assert_held(&mig->state_lock);

	if (mig->state == VFIO_DEVICE_STATE_ERROR || mig->state == start)
		return 0;
	if (!vmig_unwind_possible(start, mig->state)) {
		mig->state = VFIO_DEVICE_STATE_ERROR;
		return 0;
	}

	while (mig->state != start) {
		next = __vmig_next_state(mig->flags, mig->state, start);
		if (next == VFIO_DEVICE_STATE_ERROR) {
			mig->state = VFIO_DEVICE_STATE_ERROR;
			break;
		}
		arcs++;
		if (vmig_step_locked(mig, next, false, &f, &injected)) {
			mig->state = VFIO_DEVICE_STATE_ERROR;
			break;
		}
	}
	return arcs;
}

static void vmig_record_failure(struct vmig_device *mig, u32 start, u32 target,
				u32 from, u32 to, int err, bool injected)
{
	struct vmig_failure *lf = &mig->last_failure;

	lf->seq++;
	lf->start = start;
	lf->target = target;
	lf->from = from;
	lf->to = to;
	lf->err = err;
	lf->end = mig->state;
	lf->injected = injected;
}

/*
 * vmig_set_state() with the state lock held; inline in the two entry points
 * of a request, vmig_set_state() and vfio.ko's vmig_vfio_set_state().
 */
static __always_inline struct file *__vmig_set_state_locked(struct vmig_device *mig,
							    u32 target)
{
	u32 start = mig->state, arcs = 0;
	struct file *filp = NULL;
	bool injected = false;
	u32 next = start, from = start;
	int ret;

	lockdep_assert_held(&mig->state_lock);

	if (__vmig_next_state(mig->flags, start, target) ==
	    VFIO_DEVICE_STATE_ERROR)
		return ERR_PTR(-EINVAL);
	if (start == target)
		return NULL;

	mig->nr_walks++;
	while (mig->state != target) {
		from = mig->state;
		next = __vmig_next_state(mig->flags, from, target);
		/* Every state on a valid path has a valid next state. */
		if (WARN_ON_ONCE(next == VFIO_DEVICE_STATE_ERROR)) {
			ret = -EINVAL;
			goto out_unwind;
		}
		arcs++;
		ret = vmig_step_locked(mig, next, next == target, &filp,
				       &injected);
		if (ret)
			goto out_unwind;
	}
	trace_vmig_walk(mig, start, target, mig->state, 0, arcs);
	return filp;

out_unwind:
	arcs += vmig_unwind_locked(mig, start);
	vmig_session_sync_locked(mig);
	vmig_record_failure(mig, start, target, from, next, ret, injected);
	trace_vmig_walk(mig, start, target, mig->state, ret, arcs);
	return ERR_PTR(ret);
}

VISIBLE_IF_KUNIT struct file *vmig_set_state_locked(struct vmig_device *mig,
						    u32 target)
{
	return __vmig_set_state_locked(mig, target);
}
EXPORT_SYMBOL_IF_KUNIT(vmig_set_state_locked);

/**
 * vmig_set_state() - move the FSM to @target, arc by arc
 * @mig: the per-device object
 * @target: the state userspace asked for
 *
 * Calls &struct vmig_ops.migration_step_device_state once per arc of the path
 * from the current state to @target and commits each state only after its
 * arc succeeded.  When an arc fails, walks back to the starting state along
 * natural arcs; when that is impossible because the walk already left the
 * data session it started in, or when an unwind arc fails too, the FSM lands
 * in ERROR.  A request for ERROR, for a state the device does not support or
 * for a value outside the enum is refused before any arc runs, as is any
 * request while the FSM is in ERROR.  Sessions end as the FSM leaves their
 * group.  Runs under &vmig_device.state_lock; the vfio glue calls it for
 * VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, drivers need not.
 *
 * Return: the data file of the session the final arc started, NULL when the
 * walk succeeded without starting one, or ERR_PTR(): -EINVAL for a refused
 * request, or the error of the arc that failed.  After an error the FSM is in
 * the starting state or in ERROR; vmig_get_state() tells which.
 */
struct file *vmig_set_state(struct vmig_device *mig, u32 target)
{
	guard(mutex)(&mig->state_lock);
	return vmig_set_state_locked(mig, target);
}
EXPORT_SYMBOL_GPL(vmig_set_state);

/**
 * vmig_vfio_set_state() - vfio.ko's SET of VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE
 * @vdev: a vfio device whose mig_ops come from VMIG_VFIO_OPS()
 * @new_state: the state userspace asked for
 *
 * For VMIG_VFIO_OPS() only, like vmig_vfio_get_state() and
 * vmig_vfio_get_data_size(): they find the device through the
 * &struct vmig_vfio_ops that holds them.  Here, next to the walker, so
 * that a request makes one call into the core before the arcs.
 *
 * Return: as vmig_set_state().
 */
struct file *vmig_vfio_set_state(struct vfio_device *vdev,
				 enum vfio_device_mig_state new_state)
{
	struct vmig_device *mig = vmig_from_vdev(vdev);

	guard(mutex)(&mig->state_lock);
	return __vmig_set_state_locked(mig, new_state);
}
EXPORT_SYMBOL_GPL(vmig_vfio_set_state);

/**
 * vmig_get_state() - the state the FSM is in
 * @mig: the per-device object
 *
 * Return: the state reached by the last walk or reset, also after a failed
 * request.
 */
enum vfio_device_mig_state vmig_get_state(struct vmig_device *mig)
{
	return __vmig_get_state(mig);
}
EXPORT_SYMBOL_GPL(vmig_get_state);
