// Which members a campaign corrupts, with which mutations, in which order.
//
// Members are the leaves of task_struct (Layout.leaves): nested structs flattened,
// arrays expanded up to `maxArrayElements` elements (longer ones are one member), union
// alternatives that cover the same bytes tested once. Leaves past the slab object
// (arch_task_struct_size: x86 sizes the FPU state at the end at boot) are left out: a
// write there would corrupt the *next* object in the slab, not the target.
//
// Order: the members signatures are known to lean on first, then the members the
// kernel wrote during a clean run of the workload (the profiling pass), then the rest by
// offset. Trials go in rounds (every member's trial 0 before any trial 1), so a campaign
// cut short by its time budget has covered as many members as it could.
import { UsageError } from '../errors.js';
import type { Layout } from '../types/layout.js';
import type { LeafMember } from '../types/members.js';
import { applies, mutate, spanOf, trialRandom, type MemberSpan, type MutationKind } from './mutations.js';
import type { PlannedMember } from './verdict.js';

/** Members forensic signatures for task_struct commonly constrain (issue 8's list and Volatility's linux plugins). */
export const WELL_KNOWN = [
  'stack', 'mm', 'active_mm', 'cred', 'real_cred', 'sched_class', 'tasks.next', 'tasks.prev', 'comm', 'pid', 'tgid',
  'start_time', 'start_boottime', 'flags', '__state', 'exit_state', 'real_parent', 'parent', 'group_leader', 'thread_pid',
  'stack_canary', 'signal', 'children.next', 'children.prev', 'sibling.next', 'sibling.prev', 'thread_group.next',
  'thread_group.prev', 'thread_node.next', 'thread_node.prev', 'usage.refs.counter', 'exit_signal', 'prio', 'static_prio',
  'normal_prio', 'policy', 'files', 'fs', 'nsproxy', 'sighand', 'pid_links[0].next', 'pid_links[0].pprev',
];

export interface PlannedSpan extends PlannedMember {
  span: MemberSpan;
  /** Priority class: 0 well known, 1 written during the profiling run, 2 the rest. */
  priority: 0 | 1 | 2;
}

/** `tasks` matches tasks.next and tasks.prev, `se` every se.*, `pid_links[0]` its members; `*` is a wildcard. */
export function memberMatches(path: string, pattern: string): boolean {
  if (pattern.includes('*')) {
    const re = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
    return re.test(path);
  }
  return path === pattern || path.startsWith(`${pattern}.`) || path.startsWith(`${pattern}[`);
}

/** Byte ranges where two copies of the struct differ, mapped to the members that cover them. */
export function changedMembers(spans: MemberSpan[], before: Buffer, after: Buffer): string[] {
  const out: string[] = [];
  for (const s of spans) {
    if (s.offset + s.size > before.length || s.offset + s.size > after.length) continue;
    const a = before.subarray(s.offset, s.offset + s.size);
    const b = after.subarray(s.offset, s.offset + s.size);
    if (!s.bits) {
      if (!a.equals(b)) out.push(s.path);
      continue;
    }
    let differ = false;
    for (let bit = s.bits.position; bit < s.bits.position + s.bits.length; bit++) {
      if (((a[bit >> 3]! ^ b[bit >> 3]!) >> (bit & 7)) & 1) differ = true;
    }
    if (differ) out.push(s.path);
  }
  return out;
}

export interface PlanInput {
  layout: Layout;
  /** Slab object size of task_struct in the guest. */
  allocSize: number;
  /** The target's task_struct bytes in the snapshot, and donors' (for pointer mutations). */
  snapshot: Buffer;
  donors: Buffer[];
  mutations: readonly MutationKind[];
  filters?: string[];
  maxArrayElements: number;
  /** Members the profiling pass saw written. */
  profiled: ReadonlySet<string>;
  seed: number;
}

export interface MemberPlan {
  members: PlannedSpan[];
  /** Leaves left out because they lie past the slab object. */
  beyondObject: number;
  /** Union alternatives folded into another member. */
  aliased: number;
}

export function planMembers(input: PlanInput): MemberPlan {
  const leaves: LeafMember[] = input.layout.leaves('task_struct', { maxArrayElements: input.maxArrayElements });
  const byBytes = new Map<string, PlannedSpan>();
  const members: PlannedSpan[] = [];
  let beyondObject = 0;
  let aliased = 0;
  for (const leaf of leaves) {
    if (leaf.offset + leaf.size > input.allocSize) {
      beyondObject++;
      continue;
    }
    if (input.filters && input.filters.length > 0 && !input.filters.some((f) => memberMatches(leaf.path, f))) continue;
    const span = spanOf(leaf);
    const key = `${span.offset}:${span.size}:${span.bits?.position ?? ''}:${span.bits?.length ?? ''}`;
    const same = byBytes.get(key);
    if (same) {
      same.aliases.push(leaf.path);
      aliased++;
      continue;
    }
    const original = input.snapshot.subarray(span.offset, span.offset + span.size);
    const donors = input.donors.map((d) => d.subarray(span.offset, span.offset + span.size));
    const applicable: MutationKind[] = [];
    const notApplicable: MutationKind[] = [];
    for (const kind of input.mutations) {
      const ok = applies(span, kind) && mutate(span, kind, original, trialRandom(input.seed, span.path, kind, 0), donors) !== undefined;
      (ok ? applicable : notApplicable).push(kind);
    }
    const priority = WELL_KNOWN.some((w) => memberMatches(leaf.path, w)) ? 0 : input.profiled.has(leaf.path) ? 1 : 2;
    const m: PlannedSpan = {
      path: leaf.path, offset: leaf.offset, size: leaf.size, kind: leaf.kind, aliases: [], applicable, notApplicable, span, priority,
    };
    if (span.bits) m.bits = span.bits;
    byBytes.set(key, m);
    members.push(m);
  }
  if (input.filters && input.filters.length > 0 && members.length === 0) {
    throw new UsageError(`--members ${input.filters.join(',')} matches no task_struct member inside the slab object (${input.allocSize} bytes)`);
  }
  const wk = (p: string) => {
    const i = WELL_KNOWN.findIndex((w) => memberMatches(p, w));
    return i < 0 ? WELL_KNOWN.length : i;
  };
  members.sort((a, b) => a.priority - b.priority || (a.priority === 0 ? wk(a.path) - wk(b.path) : 0) || a.offset - b.offset);
  return { members, beyondObject, aliased };
}

export interface QueueItem {
  member: PlannedSpan;
  mutation: MutationKind;
  trial: number;
}

export function trialKey(member: string, mutation: MutationKind, trial: number): string {
  return `${member}|${mutation}|${trial}`;
}

/** Every (member, mutation, trial) not yet done, in rounds. */
export function trialQueue(members: PlannedSpan[], trials: number, done: ReadonlySet<string>): QueueItem[] {
  const out: QueueItem[] = [];
  for (let t = 0; t < trials; t++) {
    for (const m of members) {
      for (const kind of m.applicable) if (!done.has(trialKey(m.path, kind, t))) out.push({ member: m, mutation: kind, trial: t });
    }
  }
  return out;
}
