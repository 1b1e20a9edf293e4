// robustness.json, schema kcarve-robustness/1: what `kcarve train --robustness` reads.
//
// {
//   "schema": "kcarve-robustness/1",
//   "kernel": { "release", "vmlinuz" },
//   "layout": { "type": "task_struct", "source", "hash": "sha256:<BTF>", "size", "alloc_size" },
//   "campaign": { "command", "seed", "trials_per_mutation", "mutations", "max_array_elements",
//                 "timing", "runs": [...], "seconds", "trials_run", "trials_remaining" },
//   "target": "<which task the verdicts are about>",
//   "verdict_rule": "<text>",
//   "profile": { "changed_during_workload": [...], "order": "<text>" },
//   "summary": { "members", "robust", "fragile", "unknown", "outcomes": {...} },
//   "members": { "<path>": MemberResult }      // see verdict.ts
// }
import type { MutationKind } from './mutations.js';
import type { MemberPlan } from './plan.js';
import type { CampaignFile } from './store.js';
import type { TrialRecord } from './trial.js';
import { memberResult, VERDICT_RULE, type MemberResult } from './verdict.js';
import { OUTCOMES, type Outcome } from './classify.js';

export const ROBUSTNESS_SCHEMA = 'kcarve-robustness/1';

export interface Robustness {
  schema: typeof ROBUSTNESS_SCHEMA;
  kernel: { release: string; vmlinuz: string };
  layout: { type: 'task_struct'; source: string; hash: string; size: number; alloc_size: number };
  campaign: {
    command: string;
    seed: number;
    trials_per_mutation: number;
    mutations: MutationKind[];
    members_filter: string[] | null;
    max_array_elements: number;
    timing: CampaignFile['timing'];
    guest: string;
    runs: CampaignFile['runs'];
    seconds: number;
    trials_run: number;
    trials_remaining: number;
    union_aliases_folded: number;
    leaves_past_slab_object: number;
  };
  target: string;
  verdict_rule: string;
  profile: { changed_during_workload: string[]; order: string };
  summary: { members: number; robust: number; fragile: number; unknown: number; outcomes: Partial<Record<Outcome, number>> };
  members: Record<string, MemberResult>;
}

export interface RobustnessInput {
  campaign: CampaignFile;
  plan: MemberPlan;
  records: TrialRecord[];
  trials: number;
  layoutHash: string;
  layoutSource: string;
  vmlinuz: string;
  allocSize: number;
  sizeofTaskStruct: number;
  profiled: string[];
  remaining: number;
}

export const TARGET_NOTE =
  'kfz-target, a single-threaded user process (thread-group leader, child of pid 1); each trial corrupts its task_struct ' +
  'while it sleeps, then it sleeps/wakes, forks a child (which copies the corrupted task_struct and must exit 7), reads ' +
  '/proc/self/{stat,status,maps}, has the same files read by pid 1, receives SIGUSR1 and exits 42. Outcomes count a broken ' +
  'child as a broken target.';

export function buildRobustness(input: RobustnessInput): Robustness {
  const byMember = new Map<string, TrialRecord[]>();
  for (const r of input.records) byMember.set(r.member, [...(byMember.get(r.member) ?? []), r]);
  const members: Record<string, MemberResult> = {};
  const summary = { members: 0, robust: 0, fragile: 0, unknown: 0, outcomes: {} as Partial<Record<Outcome, number>> };
  for (const m of input.plan.members) {
    const res = memberResult(m, byMember.get(m.path) ?? [], input.trials);
    members[m.path] = res;
    summary.members++;
    summary[res.verdict]++;
  }
  for (const o of OUTCOMES) {
    const n = input.records.filter((r) => r.outcome === o).length;
    if (n > 0) summary.outcomes[o] = n;
  }
  const c = input.campaign;
  return {
    schema: ROBUSTNESS_SCHEMA,
    kernel: { release: c.kernel_release, vmlinuz: input.vmlinuz },
    layout: { type: 'task_struct', source: input.layoutSource, hash: input.layoutHash, size: input.sizeofTaskStruct, alloc_size: input.allocSize },
    campaign: {
      command: c.runs[c.runs.length - 1]?.command ?? '',
      seed: c.seed,
      trials_per_mutation: input.trials,
      mutations: c.mutations,
      members_filter: c.members,
      max_array_elements: c.max_array_elements,
      timing: c.timing,
      guest: 'QEMU q35, TCG, -cpu max,-la57, -smp 2, 256 MiB; kernel cmdline console=ttyS0 quiet panic=-1 oops=panic; snapshot restored (loadvm) before every trial',
      runs: c.runs,
      seconds: c.runs.reduce((s, r) => s + r.seconds, 0),
      trials_run: input.records.length,
      trials_remaining: input.remaining,
      union_aliases_folded: input.plan.aliased,
      leaves_past_slab_object: input.plan.beyondObject,
    },
    target: TARGET_NOTE,
    verdict_rule: VERDICT_RULE,
    profile: {
      changed_during_workload: input.profiled,
      order: 'well-known members first (src/fuzz/plan.ts WELL_KNOWN), then members the kernel wrote during a clean run, then the rest by offset; trials in rounds (every member\'s trial 0 first)',
    },
    summary,
    members,
  };
}
