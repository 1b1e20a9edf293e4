// A robustness campaign: boot N guests, profile, plan, run trials in parallel, append
// every record to trials.jsonl, write robustness.json. Resumable: a rerun with the same
// --out skips the trials already recorded.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { EnvironmentError, UsageError } from '../errors.js';
import { buildFuzzInitramfs, buildGuestArtifacts, DEFAULT_BUILD_DIR } from '../datasets/linux/guest-build.js';
import { findLinuxToolchain, findExecutable } from '../datasets/linux/toolchain.js';
import { btfToLayout } from '../types/btf-layout.js';
import { parseBtf } from '../types/btf.js';
import { extractKernelBtf } from '../types/kernel-image.js';
import type { Layout } from '../types/layout.js';
import { classifyTrial } from './classify.js';
import { FuzzGuest } from './guest.js';
import { MUTATION_KINDS, spanOf, type MutationKind } from './mutations.js';
import { changedMembers, planMembers, trialKey, trialQueue, type PlannedSpan, type QueueItem } from './plan.js';
import { Progress, type ProgressSink } from './progress.js';
import { buildRobustness, type Robustness } from './report.js';
import { CampaignStore, type CampaignFile, type CampaignSettings } from './store.js';
import { DEFAULT_TIMING, observe, plannedWrite, runTrial, type TrialTiming } from './trial.js';

export interface CampaignOptions {
  out: string;
  guests?: number;
  /** Member patterns (see plan.ts memberMatches); all members when absent. */
  members?: string[];
  mutations?: MutationKind[];
  /** Trials per member and mutation. */
  trials?: number;
  seed?: number;
  maxArrayElements?: number;
  /** BTF source (vmlinuz, vmlinux, raw BTF, .gz); default: the vmlinuz the guest boots. */
  layout?: string;
  /** Stop taking new trials after this long (the campaign resumes later). */
  budgetMs?: number;
  /** Stop after this many trials in this run. */
  limit?: number;
  timing?: Partial<TrialTiming>;
  /** Recorded in robustness.json. */
  command?: string;
  buildDir?: string;
  log?: (line: string) => void;
  progress?: ProgressSink;
}

export interface CampaignResult {
  robustness: Robustness;
  path: string;
  /** Trials run now, and in total. */
  ran: number;
  total: number;
  remaining: number;
}

export interface CampaignLayout {
  layout: Layout;
  hash: string;
  release: string | undefined;
}

/** A layout from a kernel file, hashed by its BTF bytes (the same BTF gives the same hash from any container). */
export function loadCampaignLayout(path: string): CampaignLayout {
  let raw: Uint8Array = readFileSync(path);
  if (raw[0] === 0x1f && raw[1] === 0x8b) raw = gunzipSync(raw);
  const k = extractKernelBtf(raw, path);
  const layout = btfToLayout(parseBtf(k.btf, path), path, k.pointerSize !== undefined ? { pointerSize: k.pointerSize } : {});
  return { layout, hash: `sha256:${createHash('sha256').update(k.btf).digest('hex')}`, release: k.release };
}

const PROFILE_RUNS = 2;

export async function runCampaign(options: CampaignOptions): Promise<CampaignResult> {
  const log = options.log ?? (() => {});
  const guests = options.guests ?? 1;
  if (!Number.isInteger(guests) || guests < 1 || guests > 16) throw new UsageError(`--guests must be an integer from 1 to 16 (got ${guests})`);
  const trials = options.trials ?? 1;
  if (!Number.isInteger(trials) || trials < 1 || trials > 1000) throw new UsageError(`--trials must be an integer from 1 to 1000 (got ${trials})`);
  const mutations = options.mutations ?? [...MUTATION_KINDS];
  for (const m of mutations) if (!MUTATION_KINDS.includes(m)) throw new UsageError(`--mutations: unknown mutation ${JSON.stringify(m)} (one of ${MUTATION_KINDS.join(', ')})`);
  const seed = options.seed ?? 1;
  const maxArrayElements = options.maxArrayElements ?? 16;
  const timing: TrialTiming = { ...DEFAULT_TIMING, ...options.timing };
  const started = Date.now();

  const tc = findLinuxToolchain();
  if (!findExecutable('qemu-img')) throw new EnvironmentError('qemu-img', 'not found on PATH (creates the qcow2 that holds the snapshot)', 'apt-get install -y qemu-utils');
  const cl = loadCampaignLayout(options.layout ?? tc.vmlinuz);
  if (cl.release && cl.release !== tc.kernelRelease) {
    throw new UsageError(`--layout ${options.layout} is for kernel ${cl.release}, the guest boots ${tc.kernelRelease}`);
  }
  const store = new CampaignStore(options.out);
  const settings: CampaignSettings = {
    schema: 'kcarve-fuzz-campaign/1', kernel_release: tc.kernelRelease, layout_hash: cl.hash, seed,
    max_array_elements: maxArrayElements, mutations, members: options.members ?? null, timing,
  };
  const prev = store.readCampaign();
  if (prev) store.checkResume(prev, settings);
  const campaign: CampaignFile = { ...settings, runs: prev?.runs ?? [] };
  const run = { command: options.command ?? 'runCampaign()', started: new Date(started).toISOString(), finished: null as string | null, seconds: 0, trials: 0, guests };
  campaign.runs.push(run);
  store.writeCampaign(campaign);
  const records = store.readTrials();
  if (store.torn > 0) log(`${store.torn} torn line(s) in ${store.trialsPath} ignored`);

  const art = buildGuestArtifacts(tc, options.buildDir ?? DEFAULT_BUILD_DIR, log);
  const initramfs = join(store.dir, 'kfz-initramfs.cpio');
  buildFuzzInitramfs(art, initramfs);
  const spec = (index: number) => ({ qemu: tc.qemu, vmlinuz: tc.vmlinuz, initramfs, index, log });
  log(`booting ${guests} guest(s): ${tc.kernelRelease} under TCG, -smp 2, 256 MiB`);
  const booted = await Promise.allSettled(Array.from({ length: guests }, (_, i) => bootWithRetry(spec(i), log)));
  const pool: (FuzzGuest | undefined)[] = booted.map((b) => (b.status === 'fulfilled' ? b.value : undefined));
  const failed = booted.find((b): b is PromiseRejectedResult => b.status === 'rejected');
  if (failed) {
    await Promise.all(pool.map((g) => g?.shutdown()));
    throw failed.reason;
  }
  try {
    const g0 = pool[0]!;
    const alloc = g0.info.taskStructAlloc;
    const allSpans = cl.layout.leaves('task_struct', { maxArrayElements }).filter((l) => l.offset + l.size <= alloc).map(spanOf);
    const profiled = await profile(store, g0, allSpans, timing, log);
    const plan = planMembers({
      layout: cl.layout, allocSize: alloc, snapshot: g0.snapshotTask, donors: g0.snapshotDonors, mutations,
      filters: options.members, maxArrayElements, profiled: new Set(profiled), seed,
    });
    writeFileSync(store.planPath, `${JSON.stringify({ trials, allocSize: alloc, sizeofTaskStruct: g0.info.taskStructSize, layoutSource: options.layout ?? tc.vmlinuz, vmlinuz: tc.vmlinuz, profiled, aliased: plan.aliased, beyondObject: plan.beyondObject, members: plan.members }, null, 1)}\n`);
    const done = new Set(records.map((r) => trialKey(r.member, r.mutation, r.trial)));
    let queue = trialQueue(plan.members, trials, done);
    if (options.limit !== undefined) queue = queue.slice(0, options.limit);
    log(`${plan.members.length} members (${plan.aliased} union aliases folded, ${plan.beyondObject} leaves past the ${alloc}-byte slab object left out); ${queue.length} trials to run, ${done.size} done before`);

    const progress = new Progress(queue.length, options.progress ?? process.stderr);
    const deadline = options.budgetMs !== undefined ? started + options.budgetMs : Infinity;
    let next = 0;
    const retries = new Map<QueueItem, number>();
    const pending: QueueItem[] = [];
    // A member's bytes may differ between guests' snapshots (e.g. a counter that is zero in
    // one): a mutation that changes nothing in one guest is handed to the others.
    const noopIn = new Map<QueueItem, Set<number>>();
    const take = (slot: number): QueueItem | undefined => {
      if (Date.now() > deadline) return undefined;
      const i = pending.findIndex((p) => !noopIn.get(p)?.has(slot));
      if (i >= 0) return pending.splice(i, 1)[0];
      return queue[next++];
    };
    const worker = async (slot: number) => {
      for (let item = take(slot); item; item = take(slot)) {
        let guest = pool[slot];
        if (!guest || !guest.alive) {
          await guest?.shutdown();
          pool[slot] = guest = await bootWithRetry(spec(slot), log).catch(() => undefined);
          if (!guest) {
            log(`guest ${slot} could not be booted again; its worker stops`);
            pending.push(item);
            return;
          }
        }
        const { original, written } = plannedWrite(guest, item.member.span, item.mutation, item.trial, seed);
        if (!written) {
          const seen = noopIn.get(item) ?? new Set<number>();
          seen.add(slot);
          noopIn.set(item, seen);
          if (seen.size < pool.length) pending.push(item);
          else log(`${item.member.path} ${item.mutation}: changes nothing in any guest's snapshot; not run`);
          continue;
        }
        try {
          const r = await runTrial(guest, item.member.span, item.mutation, item.trial, written, original, timing);
          store.appendTrial(r);
          records.push(r);
          run.trials++;
          progress.tick(`${r.member} ${r.mutation} → ${r.outcome}`);
        } catch (err) {
          const n = (retries.get(item) ?? 0) + 1;
          retries.set(item, n);
          log(`guest ${slot}: ${item.member.path} ${item.mutation} #${item.trial}: ${(err as Error).message.split('\n')[0]}; restarting the guest${n < 3 ? ', the trial is retried' : ', trial given up'}`);
          if (n < 3) pending.push(item);
          await guest.shutdown();
          pool[slot] = undefined;
        }
      }
    };
    await Promise.all(pool.map((_, i) => worker(i)));
    progress.finish();
    const remaining = trialQueue(plan.members, trials, new Set(records.map((r) => trialKey(r.member, r.mutation, r.trial)))).length;
    run.finished = new Date().toISOString();
    run.seconds = Math.round((Date.now() - started) / 1000);
    store.writeCampaign(campaign);
    const robustness = buildRobustness({
      campaign, plan, records, trials, layoutHash: cl.hash, layoutSource: options.layout ?? tc.vmlinuz, vmlinuz: tc.vmlinuz,
      allocSize: alloc, sizeofTaskStruct: g0.info.taskStructSize, profiled, remaining,
    });
    writeFileSync(store.robustnessPath, `${JSON.stringify(robustness, null, 2)}\n`);
    return { robustness, path: store.robustnessPath, ran: run.trials, total: records.length, remaining };
  } finally {
    await Promise.all(pool.map((g) => g?.shutdown()));
  }
}

async function bootWithRetry(spec: Parameters<typeof FuzzGuest.start>[0], log: (s: string) => void): Promise<FuzzGuest | undefined> {
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      return await FuzzGuest.start(spec);
    } catch (err) {
      log(`guest ${spec.index ?? 0}: boot attempt ${attempt} failed: ${(err as Error).message.split('\n')[0]}`);
      if (attempt === 3) throw err;
    }
  }
  return undefined;
}

/**
 * The profiling pass: clean runs of the workload with nothing corrupted; the members
 * whose bytes differ after the work from the snapshot are those the kernel wrote.
 * Also proves the harness: a clean run that does not survive stops the campaign.
 */
async function profile(store: CampaignStore, guest: FuzzGuest, spans: ReturnType<typeof spanOf>[], timing: TrialTiming, log: (s: string) => void): Promise<string[]> {
  try {
    const saved = JSON.parse(readFileSync(store.profilePath, 'utf8')) as { changed: string[] };
    if (Array.isArray(saved.changed)) return saved.changed;
  } catch {
    // no profile yet
  }
  const changed = new Set<string>();
  for (let i = 0; i < PROFILE_RUNS; i++) {
    await guest.restore();
    const obs = await observe(guest, timing, () => guest.readPhys(guest.info.target.pa, guest.info.taskStructAlloc));
    const c = classifyTrial({ ...obs });
    if (c.outcome !== 'survived' || !obs.readback) {
      throw new EnvironmentError('kfz', `a clean trial (nothing corrupted) ended as ${c.outcome}: ${c.detail}; the harness is not sound on this machine\nserial:\n${obs.serial.split('\n').filter((l) => !l.includes('kfz: hb')).slice(-20).join('\n')}`);
    }
    for (const p of changedMembers(spans, guest.snapshotTask, obs.readback)) changed.add(p);
  }
  const list = [...changed];
  writeFileSync(store.profilePath, `${JSON.stringify({ runs: PROFILE_RUNS, changed: list }, null, 2)}\n`);
  log(`profiling: ${list.length} members written by the kernel during a clean run`);
  return list;
}

/** Rebuild robustness.json from a campaign directory's records (no guest needed), e.g. while a campaign runs. */
export function reportCampaign(out: string): CampaignResult {
  const store = new CampaignStore(out);
  const campaign = store.readCampaign();
  if (!campaign) throw new UsageError(`${out} holds no campaign (no campaign.json)`);
  let saved: {
    trials: number; allocSize: number; sizeofTaskStruct: number; layoutSource: string; vmlinuz: string; profiled: string[];
    aliased: number; beyondObject: number; members: PlannedSpan[];
  };
  try {
    saved = JSON.parse(readFileSync(store.planPath, 'utf8'));
  } catch (err) {
    throw new UsageError(`${store.planPath}: unreadable (${(err as Error).message}); the campaign never got past its profiling pass`);
  }
  const records = store.readTrials();
  const plan = { members: saved.members, aliased: saved.aliased, beyondObject: saved.beyondObject };
  const remaining = trialQueue(plan.members, saved.trials, new Set(records.map((r) => trialKey(r.member, r.mutation, r.trial)))).length;
  const robustness = buildRobustness({
    campaign, plan, records, trials: saved.trials, layoutHash: campaign.layout_hash, layoutSource: saved.layoutSource, vmlinuz: saved.vmlinuz,
    allocSize: saved.allocSize, sizeofTaskStruct: saved.sizeofTaskStruct, profiled: saved.profiled, remaining,
  });
  writeFileSync(store.robustnessPath, `${JSON.stringify(robustness, null, 2)}\n`);
  return { robustness, path: store.robustnessPath, ran: 0, total: records.length, remaining };
}
