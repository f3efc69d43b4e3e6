/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Tracepoints of the vmig core: one per arc, one per walk, session starts
 * and ends, resets.  Enable with /sys/kernel/tracing/events/vmig/.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM vmig

#if !defined(_VMIG_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _VMIG_TRACE_H

#include <linux/tracepoint.h>
#include <linux/vmig.h>

/*
 * One arc: @ns is its time, read only while the event is on, so 0 for an
 * arc that was under way when it was turned on.
 */
TRACE_EVENT(vmig_arc,
	    TP_PROTO(struct vmig_device *mig, u32 from, u32 to, int err,
		     u64 ns),
	    TP_ARGS(mig, from, to, err, ns),
	    TP_STRUCT__entry(__string(dev, mig->name)
			     __field(u32, from)
			     __field(u32, to)
			     __field(int, err)
			     __field(u64, ns)),
	    TP_fast_assign(__assign_str(dev);
			   __entry->from = from;
			   __entry->to = to;
			   __entry->err = err;
			   __entry->ns = ns;),
	    TP_printk("%s %s -> %s err=%d %llu ns", __get_str(dev),
		      vmig_state_name(__entry->from),
		      vmig_state_name(__entry->to), __entry->err, __entry->ns)
);

TRACE_EVENT(vmig_walk,
	    TP_PROTO(struct vmig_device *mig, u32 start, u32 target, u32 end,
		     int err, u32 arcs),
	    TP_ARGS(mig, start, target, end, err, arcs),
	    TP_STRUCT__entry(__string(dev, mig->name)
			     __field(u32, start)
			     __field(u32, target)
			     __field(u32, end)
			     __field(int, err)
			     __field(u32, arcs)),
	    TP_fast_assign(__assign_str(dev);
			   __entry->start = start;
			   __entry->target = target;
			   __entry->end = end;
			   __entry->err = err;
			   __entry->arcs = arcs;),
	    TP_printk("%s %s => %s: now %s, err=%d, %u arcs", __get_str(dev),
		      vmig_state_name(__entry->start),
		      vmig_state_name(__entry->target),
		      vmig_state_name(__entry->end), __entry->err,
		      __entry->arcs)
);

TRACE_EVENT(vmig_session,
	    TP_PROTO(struct vmig_device *mig, bool saving, const char *event,
		     u64 bytes),
	    TP_ARGS(mig, saving, event, bytes),
	    TP_STRUCT__entry(__string(dev, mig->name)
			     __field(bool, saving)
			     __string(event, event)
			     __field(u64, bytes)),
	    TP_fast_assign(__assign_str(dev);
			   __entry->saving = saving;
			   __assign_str(event);
			   __entry->bytes = bytes;),
	    TP_printk("%s %s session %s, %llu bytes", __get_str(dev),
		      __entry->saving ? "saving" : "resuming",
		      __get_str(event), __entry->bytes)
);

TRACE_EVENT(vmig_reset,
	    TP_PROTO(struct vmig_device *mig, u32 from),
	    TP_ARGS(mig, from),
	    TP_STRUCT__entry(__string(dev, mig->name)
			     __field(u32, from)),
	    TP_fast_assign(__assign_str(dev);
			   __entry->from = from;),
	    TP_printk("%s reset from %s to RUNNING", __get_str(dev),
		      vmig_state_name(__entry->from))
);

#endif /* _VMIG_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE trace
#include <trace/define_trace.h>
