// From trial records to per-member verdicts: the content of robustness.json.
//
// The rule (after Dolan-Gavitt et al., "Robust signatures for kernel data structures",
// CCS 2009: a signature should rest only on fields that an attacker cannot change
// without crashing the OS or breaking the process, measured by corrupting fields of a
// live process in a VM):
//
//   robust  — every trial of every mutation that applies to the member broke the system
//             or the target (panic, hang, target_died, target_stuck), and each such
//             mutation ran at least the requested number of trials;
//   fragile — every trial of every applicable mutation ended with the target done and
//             the corrupted value still in place (survived): an attacker may change it
//             freely, so a signature must not constrain it;
//   unknown — anything else: mixed outcomes (e.g. zero crashes but a bit flip survives),
//             a value the kernel rewrote (repaired), or too few trials.
//
// The verdict is about the *target* task: the thread-group leader whose task_struct was
// corrupted (kfz-target). Its forked child copies the corrupted value (dup_task_struct)
// and the campaign's workload counts a child's failure as the target's.
//
// Per mutation the same rule gives a sub-verdict, so a trainer can, for instance, keep a
// "non-zero" constraint on a member that is robust to zeroing but not to bit flips.
import type { Outcome } from './classify.js';
import { BREAKING, OUTCOMES } from './classify.js';
import type { MutationKind } from './mutations.js';
import type { TrialRecord } from './trial.js';

export type Verdict = 'robust' | 'fragile' | 'unknown';

export const VERDICT_RULE =
  'robust: every trial of every applicable mutation broke the system or the target (panic, hang, target_died, target_stuck) ' +
  'and each applicable mutation ran the requested number of trials; fragile: every such trial survived with the corrupted ' +
  'value still in place; unknown: mixed outcomes, kernel-repaired values, or too few trials. After Dolan-Gavitt et al., ' +
  '"Robust signatures for kernel data structures", CCS 2009.';

export interface MutationResult {
  trials: number;
  outcomes: Partial<Record<Outcome, number>>;
  verdict: Verdict;
}

export interface MemberResult {
  offset: number;
  size: number;
  kind: string;
  /** Bitfields: the member's bits inside the storage unit at `offset`. */
  bits?: { position: number; length: number };
  /** Union alternatives at the same bytes, tested once under this name. */
  aliases?: string[];
  /** Mutations that cannot change this member (e.g. zeroing a zero member; pointer on a non-pointer). */
  not_applicable: MutationKind[];
  trials: number;
  outcomes: Partial<Record<Outcome, number>>;
  by_mutation: Partial<Record<MutationKind, MutationResult>>;
  verdict: Verdict;
  reason: string;
  /** The kernel printed a WARNING in at least one trial. */
  warned?: number;
}

export interface PlannedMember {
  path: string;
  offset: number;
  size: number;
  kind: string;
  bits?: { position: number; length: number };
  aliases: string[];
  /** Mutations that change this member (others are not applicable). */
  applicable: MutationKind[];
  notApplicable: MutationKind[];
}

function verdictOf(records: TrialRecord[], wanted: number): { verdict: Verdict; reason: string } {
  if (records.length === 0) return { verdict: 'unknown', reason: 'no trials' };
  const breaking = records.filter((r) => BREAKING.has(r.outcome)).length;
  const survived = records.filter((r) => r.outcome === 'survived').length;
  if (records.length < wanted) return { verdict: 'unknown', reason: `${records.length} of ${wanted} trials run` };
  if (breaking === records.length) return { verdict: 'robust', reason: `all ${records.length} trials broke the system or the target` };
  if (survived === records.length) return { verdict: 'fragile', reason: `all ${records.length} trials survived with the value changed` };
  const repaired = records.filter((r) => r.outcome === 'repaired').length;
  return { verdict: 'unknown', reason: `mixed: ${breaking} broke, ${survived} survived, ${repaired} repaired` };
}

function count(records: TrialRecord[]): Partial<Record<Outcome, number>> {
  const out: Partial<Record<Outcome, number>> = {};
  for (const o of OUTCOMES) {
    const n = records.filter((r) => r.outcome === o).length;
    if (n > 0) out[o] = n;
  }
  return out;
}

/** Aggregate the records of one member. `trialsWanted` is per applicable mutation. */
export function memberResult(m: PlannedMember, records: TrialRecord[], trialsWanted: number): MemberResult {
  const byMutation: Partial<Record<MutationKind, MutationResult>> = {};
  let short = false;
  for (const kind of m.applicable) {
    const rs = records.filter((r) => r.mutation === kind);
    if (rs.length < trialsWanted) short = true;
    if (rs.length === 0) continue;
    byMutation[kind] = { trials: rs.length, outcomes: count(rs), verdict: verdictOf(rs, trialsWanted).verdict };
  }
  let { verdict, reason } = verdictOf(records, 0);
  if (m.applicable.length === 0) ({ verdict, reason } = { verdict: 'unknown', reason: 'no mutation changes this member' });
  else if (short && verdict !== 'unknown') {
    // Fewer trials than asked for: a verdict needs every applicable mutation to have run.
    reason = `${reason}, but not every applicable mutation ran ${trialsWanted} trial(s)`;
    verdict = 'unknown';
  }
  const warned = records.filter((r) => r.warned).length;
  const res: MemberResult = {
    offset: m.offset, size: m.size, kind: m.kind,
    not_applicable: m.notApplicable, trials: records.length, outcomes: count(records), by_mutation: byMutation, verdict, reason,
  };
  if (m.bits) res.bits = m.bits;
  if (m.aliases.length > 0) res.aliases = m.aliases;
  if (warned > 0) res.warned = warned;
  return res;
}
