// The parameters of one real Linux image and the workload they determine.
//
// Everything the host decides is a pure function of the parameters (names, the process
// tree, which threads go where, which processes are hidden, how short-lived processes
// end): the same seed gives the same guest configuration. The kernel itself is not
// deterministic (pids, slab placement, KASLR offsets, timing differ from boot to boot),
// so two images built from the same seed have the same workload, not the same bytes.
import { UsageError } from '../../errors.js';

export type UnlinkStyle = 'self' | 'stale' | 'poison';
export const UNLINK_STYLES: readonly UnlinkStyle[] = ['self', 'stale', 'poison'];

export interface LinuxImageParams {
  /** Guest RAM in MiB. */
  memMiB: number;
  seed: number;
  /** Long-lived workload processes (hidden ones included). */
  procs: number;
  /** Extra threads spread over the long-lived processes. */
  threads: number;
  /** How many of the long-lived processes are unlinked from the task list. */
  hide: number;
  /** Short-lived processes: they run, exit and are reaped before the dump. */
  exited: number;
  kaslr: boolean;
  unlinkStyle: UnlinkStyle;
  paging: 4 | 5;
}

export const DEFAULT_LINUX_PARAMS: LinuxImageParams = {
  memMiB: 256,
  seed: 1,
  procs: 8,
  threads: 4,
  hide: 2,
  exited: 3,
  kaslr: true,
  unlinkStyle: 'self',
  paging: 4,
};

/**
 * The small real image that end-to-end tests build (TCG, 256 MiB, a few processes, two
 * hidden, two exited). Tests that use these exact parameters with cachedLinuxImage()
 * share one build per CI run (datasets/build/images/).
 */
export const E2E_LINUX_PARAMS: LinuxImageParams = {
  memMiB: 256,
  seed: 42,
  procs: 5,
  threads: 3,
  hide: 2,
  exited: 2,
  kaslr: true,
  unlinkStyle: 'poison',
  paging: 4,
};

/** Limits of the guest side: kcw.c (MAXP 256, MAXT 1024), kcarve_truth.c (64 threads per hidden process). */
export const LIMITS = {
  memMiB: [128, 2816] as const, // q35 puts RAM above 2.75 GiB past the PCI hole (QEMU hw/i386/pc_q35.c)
  procs: 200,
  exited: 200,
  threads: 400,
  threadsPerProc: 60,
};

function intInRange(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max} (got ${JSON.stringify(value)})`);
  }
  return value;
}

/** Fill defaults and check every option; exact messages name the option. */
export function resolveLinuxParams(input: Partial<LinuxImageParams>): LinuxImageParams {
  const p = { ...DEFAULT_LINUX_PARAMS, ...input };
  intInRange('mem', p.memMiB, LIMITS.memMiB[0], LIMITS.memMiB[1]);
  intInRange('seed', p.seed, 0, 2 ** 32 - 1);
  intInRange('procs', p.procs, 1, LIMITS.procs);
  intInRange('threads', p.threads, 0, LIMITS.threads);
  intInRange('exited', p.exited, 0, LIMITS.exited);
  intInRange('hide', p.hide, 0, p.procs);
  if (p.threads > p.procs * LIMITS.threadsPerProc) {
    throw new UsageError(`--threads ${p.threads} is more than ${LIMITS.threadsPerProc} per process for --procs ${p.procs}`);
  }
  if (!UNLINK_STYLES.includes(p.unlinkStyle)) {
    throw new UsageError(`--unlink-style must be one of ${UNLINK_STYLES.join(', ')} (got ${JSON.stringify(p.unlinkStyle)})`);
  }
  if (p.paging !== 4 && p.paging !== 5) throw new UsageError(`--paging must be 4 or 5 (got ${JSON.stringify(p.paging)})`);
  if (typeof p.kaslr !== 'boolean') throw new UsageError(`--kaslr must be on or off`);
  return p;
}

export interface PlannedProc {
  index: number;
  /** -1: a child of init; else the index of its parent among the long-lived processes. */
  parent: number;
  name: string;
  hidden: boolean;
  threads: string[];
}

export interface PlannedExit {
  index: number;
  /** -1: a child of init; else the index of its (short-lived) parent. */
  parent: number;
  name: string;
  /** join: the threads end before the process; group: exit_group ends them. */
  mode: 'join' | 'group';
  threads: string[];
}

export interface WorkloadPlan {
  procs: PlannedProc[];
  exited: PlannedExit[];
  unlinkStyle: UnlinkStyle;
}

/** xorshift32 (Marsaglia, "Xorshift RNGs", J. Stat. Softw. 2003) seeded through a mix. */
export class SeededRandom {
  private state: number;
  constructor(seed: number) {
    // Mix so that neighbouring seeds start far apart; never 0 (xorshift's fixed point).
    this.state = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ 0xc2b2ae35) >>> 0 || 0x6d2b79f5;
    for (let i = 0; i < 8; i++) this.nextU32();
  }
  nextU32(): number {
    let x = this.state;
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state;
  }
  /** Uniform integer in [0, n). */
  below(n: number): number {
    return Math.floor((this.nextU32() / 2 ** 32) * n);
  }
  chance(p: number): boolean {
    return this.nextU32() / 2 ** 32 < p;
  }
  hex(digits: number): string {
    let s = '';
    while (s.length < digits) s += this.nextU32().toString(16).padStart(8, '0');
    return s.slice(0, digits);
  }
}

/** The workload for these parameters (names are at most 15 bytes: TASK_COMM_LEN - 1). */
export function planWorkload(params: LinuxImageParams): WorkloadPlan {
  const rng = new SeededRandom(params.seed);
  const procs: PlannedProc[] = [];
  for (let i = 0; i < params.procs; i++) {
    // A parent/child chain is guaranteed (1 under 0); the rest form a random forest.
    const parent = i === 0 ? -1 : i === 1 ? 0 : rng.chance(0.5) ? rng.below(i) : -1;
    procs.push({ index: i, parent, name: `ks${i}-${rng.hex(6)}`, hidden: false, threads: [] });
  }
  // Which processes are hidden: a seeded choice without repetition.
  const order = procs.map((p) => p.index);
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.below(i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const hidden = order.slice(0, params.hide);
  for (const i of hidden) procs[i]!.hidden = true;
  // Threads: the first one goes to a hidden process (so hidden threads are exercised).
  for (let t = 0; t < params.threads; t++) {
    let owner = t === 0 && hidden.length > 0 ? hidden[0]! : rng.below(procs.length);
    while (procs[owner]!.threads.length >= LIMITS.threadsPerProc) owner = (owner + 1) % procs.length;
    const p = procs[owner]!;
    p.threads.push(`kt${owner}.${p.threads.length + 1}-${rng.hex(4)}`);
  }
  const exited: PlannedExit[] = [];
  for (let i = 0; i < params.exited; i++) {
    const parent = i > 0 && rng.chance(0.4) ? rng.below(i) : -1;
    const mode = rng.chance(0.5) ? 'join' : 'group';
    const threads = rng.chance(0.5) ? [`ky${i}.1-${rng.hex(4)}`] : [];
    exited.push({ index: i, parent, name: `kx${i}-${rng.hex(6)}`, mode, threads });
  }
  return { procs, exited, unlinkStyle: params.unlinkStyle };
}

/** /etc/kcarve.conf for the guest's kcw (format documented in kcw.c). */
export function guestConfig(plan: WorkloadPlan, modulePath: string, settleMs = 500): string {
  const lines = [`# kcarve guest workload (generated)`, `module ${modulePath}`];
  for (const p of plan.procs) lines.push(`proc ${p.index} ${p.parent} ${p.name}`);
  for (const p of plan.procs) for (const t of p.threads) lines.push(`thread proc ${p.index} ${t}`);
  for (const e of plan.exited) lines.push(`exited ${e.index} ${e.parent} ${e.name} ${e.mode}`);
  for (const e of plan.exited) for (const t of e.threads) lines.push(`thread exited ${e.index} ${t}`);
  for (const p of plan.procs) if (p.hidden) lines.push(`hide ${p.index} ${plan.unlinkStyle}`);
  lines.push(`settle_ms ${settleMs}`);
  return `${lines.join('\n')}\n`;
}
