/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The vmig next-state table, as data only.  Included once by fsm.c, and by
 * the host tool scripts/vmig_fsm_dot.c that renders the state diagram of
 * Documentation/driver-api/vfio-vmig.rst from it, so the picture cannot
 * drift from the code.  Needs u8, VMIG_NR_STATES and the uAPI state enum.
 */
#ifndef _VMIG_FSM_TABLE_H
#define _VMIG_FSM_TABLE_H

/*
 * The next-state table: vmig_fsm_next[cur][target] is the state after the
 * first arc of the path from cur to target, cur itself when cur == target,
 * and ERROR when no path exists.  It is the closed form of the two path
 * rules of the "The migration FSM" DOC block in fsm.c; the KUnit suite
 * vmig_fsm recomputes it by breadth-first search and compares.  Rows are the
 * current state, columns the target, both in enum order.
 */
#define ER	VFIO_DEVICE_STATE_ERROR
#define ST	VFIO_DEVICE_STATE_STOP
#define RU	VFIO_DEVICE_STATE_RUNNING
#define SC	VFIO_DEVICE_STATE_STOP_COPY
#define RE	VFIO_DEVICE_STATE_RESUMING
#define RP	VFIO_DEVICE_STATE_RUNNING_P2P
#define PC	VFIO_DEVICE_STATE_PRE_COPY
#define PP	VFIO_DEVICE_STATE_PRE_COPY_P2P

static const u8 vmig_fsm_next[VMIG_NR_STATES][VMIG_NR_STATES] = {
	/*        ER  ST  RU  SC  RE  RP  PC  PP     (target) */
	[ER] = {  ER, ER, ER, ER, ER, ER, ER, ER },
	[ST] = {  ER, ST, RP, SC, RE, RP, RP, RP },
	[RU] = {  ER, RP, RU, RP, RP, RP, PC, RP },
	[SC] = {  ER, ST, ST, SC, ST, ST, ER, ER },
	[RE] = {  ER, ST, ST, ST, RE, ST, ST, ST },
	[RP] = {  ER, ST, RU, ST, ST, RP, RU, PP },
	[PC] = {  ER, RU, RU, PP, RU, RU, PC, PP },
	[PP] = {  ER, RP, RP, SC, RP, RP, PC, PP },
};

#undef ER
#undef ST
#undef RU
#undef SC
#undef RE
#undef RP
#undef PC
#undef PP

#endif /* _VMIG_FSM_TABLE_H */
