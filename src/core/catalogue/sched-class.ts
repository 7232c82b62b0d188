// SPDX-License-Identifier: MIT
/**
 * TRC_SCHED_CLASS records of the schedulers that emit any: credit, credit2, RTDS and null (ARINC653 has an id but
 * no trace points). Layouts are the structs of `xen/common/sched/*.c`; `unit:du` is their `{u16 unit, u16 dom}` word.
 * @module
 */
import { fromRows } from './layout.js';
import type { BuiltinDecoder } from './layout.js';

/** Decoders of the scheduler-specific ids 0x00022xxx. */
export function schedClassDecoders(): BuiltinDecoder[] {
  return fromRows([
    // credit (scheduler id 0)
    [0x00022001, 'credit_sched_tasklet', ''],
    [0x00022002, 'credit_acct_start', 'domid:u32 unit:u32 active_units:u32'],
    [0x00022003, 'credit_acct_stop', 'domid:u32 unit:u32 active_units:u32'],
    [0x00022004, 'credit_stolen_unit', 'peer_cpu:u32 domid:u32 unit:u32'],
    [0x00022005, 'credit_picked_cpu', 'domid:u32 unit:u32 cpu:u32'],
    [0x00022006, 'credit_tickle', 'cpu:u32'],
    [0x00022007, 'credit_boost_start', 'domid:u32 unit:u32'],
    [0x00022008, 'credit_boost_end', 'domid:u32 unit:u32'],
    [0x00022009, 'credit_schedule', 'cpu:u16 tasklet:u8 idle:u8'],
    [0x0002200a, 'credit_ratelimit', 'unit:du runtime_ns:u32'],
    [0x0002200b, 'credit_steal_check', 'peer_cpu:u32 checked:u32'],

    // credit2 (scheduler id 1). Event 18 was never assigned: picked_cpu is 19 (the old formats file is off by one).
    // Padding words after 64-bit members were stack rubble before 4.18 and zero since; they are skipped.
    [0x00022201, 'credit2_tick', ''],
    [0x00022202, 'credit2_runq_pos', 'unit:du pos:u32'],
    // budget is INT_MIN when the domain has no cap.
    [0x00022203, 'credit2_credit_burn', 'unit:du credit:i32 budget:i32 delta:i32'],
    [0x00022204, 'credit2_credit_add', ''],
    [0x00022205, 'credit2_tickle_check', 'unit:du credit:i32 score:i32'],
    [0x00022206, 'credit2_tickle', 'cpu:u16 _:16'],
    [0x00022207, 'credit2_credit_reset', 'unit:du credit_start:i32 credit_end:i32'],
    [0x00022208, 'credit2_sched_tasklet', ''],
    [0x00022209, 'credit2_update_load', ''],
    [0x0002220a, 'credit2_runq_assign', 'unit:du rq_id:u16 _:16'],
    [0x0002220b, 'credit2_update_unit_load', 'avgload:u64 unit:du shift:u32'],
    [0x0002220c, 'credit2_update_runq_load', 'rq_avgload:u64 b_avgload:u64 rq_load:u16 rq_id:u8 shift:u8 _:32'],
    [0x0002220d, 'credit2_tickle_new', 'unit:du cpu:u32 credit:i32'],
    [0x0002220e, 'credit2_runq_max_weight', 'rq_id:u16 max_weight:u16'],
    [0x0002220f, 'credit2_migrate', 'unit:du rq_id:u16 target_rq_id:u16'],
    [0x00022210, 'credit2_load_check', 'lrq_id:u16 orq_id:u16 load_delta:u32'],
    [0x00022211, 'credit2_load_balance', 'lb_avgload:u64 ob_avgload:u64 lrq_id:u16 orq_id:u16 _:32'],
    // rq_id is -1 when no runqueue was found.
    [0x00022213, 'credit2_picked_cpu', 'b_avgload:u64 unit:du rq_id:i16 new_cpu:u16'],
    [0x00022214, 'credit2_runq_candidate', 'unit:du tickled_cpu:i32 credit:i32'],
    [0x00022215, 'credit2_schedule', 'cpu:u16 rq_id:u16 tasklet:u8 idle:u8 smt_idle:u8 tickled:u8'],
    [0x00022216, 'credit2_ratelimit', 'unit:du runtime_ns:u32'],
    [0x00022217, 'credit2_runq_cand_check', 'unit:du'],

    // RTDS (scheduler id 4). Packed structs: the 64-bit members sit right after the unit/dom word.
    [0x00022801, 'rtds_tickle', 'cpu:u16 _:16'],
    [0x00022802, 'rtds_runq_pick', 'unit:du deadline_ns:i64 budget_ns:i64'],
    // Up to 4.17 has_extratime was a bool: one byte followed by three bytes of rubble; a full word since 4.18.
    [
      0x00022803,
      'rtds_budget_burn',
      'unit:du budget_ns:i64 delta_ns:i32 priority_level:u32 has_extratime:u8 _:24',
      { until: '4.17' },
    ],
    [
      0x00022803,
      'rtds_budget_burn',
      'unit:du budget_ns:i64 delta_ns:i32 priority_level:u32 has_extratime:u32',
      { since: '4.18' },
    ],
    [0x00022804, 'rtds_budget_replenish', 'unit:du priority_level:u32 deadline_ns:i64 budget_ns:i64'],
    [0x00022805, 'rtds_sched_tasklet', ''],
    [0x00022806, 'rtds_schedule', 'cpu:u16 tasklet:u8 tickled:b4 idle:b4'],

    // null (scheduler id 5). In schedule, unit and domid are -1 when the pCPU has no unit assigned.
    [0x00022a01, 'null_picked_cpu', 'unit:du new_cpu:u32'],
    [0x00022a02, 'null_unit_assign', 'unit:du cpu:u32'],
    [0x00022a03, 'null_unit_deassign', 'unit:du cpu:u32'],
    [0x00022a04, 'null_migrate', 'unit:du cpu:u16 new_cpu:u16'],
    [0x00022a05, 'null_schedule', 'tasklet:u16 cpu:u16 unit:dus'],
    [0x00022a06, 'null_sched_tasklet', ''],
  ]);
}
