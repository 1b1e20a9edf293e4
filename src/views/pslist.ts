// `runPslist(options)`: the kernel's own process list, as the kernel sees it. The list
// head is found the way the scan finds the kernel address space: the value pass gives
// candidates, the OS's discovery finds the address space (and the list head, from a
// scanned init_task / System process or from symbols), and the OS walks the list with
// cycle and length guards. Each entry is carved on the main thread. No graph pass: the
// list decides what is listed, not the signature.
import { hex } from '../addr.js';
import type { KernelSpaceInfo, ListWalkResult, ProcessRecord } from '../os/types.js';
import type { OpenScan, RunScanOptions } from '../scan/open-scan.js';
import type { Missed } from '../scan/progress.js';
import { type DetectionReport, type RunIdentity, runForTarget, startIdentity } from '../scan/run-scan.js';
import { carveObject, verifyContext } from '../scan/verify.js';
import type { Unverified } from '../scan/messages.js';

export const PSLIST_RESULT_SCHEMA = 'kcarve-pslist/1';

export interface WalkSummary {
  /** Objects the walk reached (the head included). */
  entries: number;
  stoppedBecause?: string;
}

export interface PslistResult extends RunIdentity {
  schema: typeof PSLIST_RESULT_SCHEMA;
  kernel?: KernelSpaceInfo;
  /** The listed objects, carved, in list order. */
  records: ProcessRecord[];
  /** Listed objects that could not be carved (not wholly in the image). */
  uncarved: Unverified[];
  walk: WalkSummary;
  /** The value pass (which finds the list head) could not cover these. */
  complete: boolean;
  missed: Missed[];
  notes: string[];
  timings: { setupMs: number; valuePassMs: number; discoverMs: number; walkMs: number; totalMs: number };
  detection?: DetectionReport;
}

export function summarizeWalk(walk: ListWalkResult): WalkSummary {
  return { entries: walk.entries.length, ...(walk.stoppedBecause === undefined ? {} : { stoppedBecause: walk.stoppedBecause }) };
}

/** Discovery and the list walk on an open scan (used by pslist and xview). */
export async function discoverAndWalk(scan: OpenScan): Promise<{ kernel?: KernelSpaceInfo; walk: ListWalkResult; valuePassMs: number; discoverMs: number; walkMs: number; candidates: number }> {
  const { session } = scan;
  let t = performance.now();
  const value = await session.valuePass();
  const valuePassMs = performance.now() - t;
  if (value.candidates.length === 0) {
    return {
      walk: { entries: [], stoppedBecause: 'no candidate matched the value constraints, so no list head was found' },
      valuePassMs,
      discoverMs: 0,
      walkMs: 0,
      candidates: 0,
    };
  }
  t = performance.now();
  const kernel = session.discover(value.candidates);
  const discoverMs = performance.now() - t;
  t = performance.now();
  const walk = session.os.walkList(session.image, session.sig, session.kernelSpace(kernel), kernel, scan.hints);
  return { kernel, walk, valuePassMs, discoverMs, walkMs: performance.now() - t, candidates: value.candidates.length };
}

async function pslistOpen(scan: OpenScan, hash: RunScanOptions['hash']): Promise<PslistResult> {
  const identity = startIdentity(scan, hash);
  const setupMs = performance.now() - scan.started;
  const { kernel, walk, valuePassMs, discoverMs, walkMs } = await discoverAndWalk(scan);
  const records: ProcessRecord[] = [];
  const uncarved: Unverified[] = [];
  const notes: string[] = [];
  if (kernel !== undefined) {
    const ctx = verifyContext(scan.sig, scan.session.os, scan.session.kernelSpace(kernel), kernel);
    for (const e of walk.entries) {
      const c = carveObject(ctx, e.pa);
      if (c.kind === 'record') records.push(c.record);
      else uncarved.push({ pa: e.pa, reason: c.reason });
    }
  }
  if (walk.stoppedBecause !== undefined) notes.push(`the list walk stopped early: ${walk.stoppedBecause}`);
  if (uncarved.length > 0) notes.push(`${uncarved.length} listed object(s) could not be carved, first at ${hex(uncarved[0]!.pa)}`);
  const id = await identity();
  scan.session.finish();
  return {
    schema: PSLIST_RESULT_SCHEMA,
    ...id,
    ...(kernel === undefined ? {} : { kernel }),
    records,
    uncarved,
    walk: summarizeWalk(walk),
    complete: scan.session.missed.length === 0,
    missed: scan.session.missed,
    notes,
    timings: { setupMs, valuePassMs, discoverMs, walkMs, totalMs: performance.now() - scan.started },
  };
}

/** Walk the kernel's process list of one image (see runForTarget for `os: 'auto'`). */
export async function runPslist(options: RunScanOptions): Promise<PslistResult> {
  const { result, detection } = await runForTarget(options, (scan) => pslistOpen(scan, options.hash), (r) => r.records.length);
  return detection === undefined ? result : { ...result, detection };
}
