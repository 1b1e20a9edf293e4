// `runScan(options)`: the library entry behind `kcarve scan` — one image in, every
// process object the signature finds out, with everything needed to interpret the
// result later (DESIGN.md, "Beyond one machine"): the image's hash, the signature's
// name, version and hash, kcarve's version, the kernel address space found, timings,
// and what the scan could not cover.
//
// Pipeline: value pass in the pool → discovery (main thread) → graph pass in the pool
// → records ascending by physical address.
import { basename, resolve } from 'node:path';
import { KcarveError, UsageError } from '../errors.js';
import type { KernelSpaceInfo, ProcessRecord } from '../os/types.js';
import { KCARVE_VERSION } from '../version.js';
import { type ImageHash, type SignatureIdentity, hashImage, signatureIdentity } from './identity.js';
import type { Rejections, Unverified } from './messages.js';
import { type OpenScan, type RunScanOptions, registerPlugins, withScan } from './open-scan.js';
import type { Missed } from './progress.js';
import { type ScanTarget, chooseTarget } from './target.js';
import { endPhase } from '../timing.js';

export const SCAN_RESULT_SCHEMA = 'kcarve-scan/1';

export interface ImageIdentity {
  path: string;
  format: string;
  detail: string;
  fileSize: number;
  /** Bytes of guest memory the image holds (sum of its runs). */
  mappedSize: number;
  runs: number;
  holes: number;
  hash: ImageHash;
}

export interface ScanTimings {
  /** Loading the signature, opening the image, starting the pool. */
  setupMs: number;
  valuePassMs: number;
  discoverMs: number;
  graphPassMs: number;
  totalMs: number;
}

export interface ScanResult extends RunIdentity {
  schema: typeof SCAN_RESULT_SCHEMA;
  /** The kernel address space found; absent when the value pass found no candidate. */
  kernel?: KernelSpaceInfo;
  /** Carved process objects, ascending by pa, one per object. */
  records: ProcessRecord[];
  stats: {
    /** Chunks of the value pass. */
    chunks: number;
    /** Value-constraint hits. */
    candidates: number;
    /** Candidates accepted and carved (records.length). */
    accepted: number;
    rejected: Rejections;
    /** Candidates whose object could not be read whole (an object across a hole, a pointer into one). */
    unverified: Unverified[];
  };
  /** False when `missed` is not empty. */
  complete: boolean;
  /** What the scan could not cover, and why. */
  missed: Missed[];
  /** Remarks for the reader (why discovery was skipped, ...). */
  notes: string[];
  timings: ScanTimings;
  /** With `os: 'auto'` and no signature: what each OS support found. */
  detection?: DetectionReport;
}

export interface DetectionReport {
  chosen: string;
  /** The signature of the chosen target (it tells the build when an OS has one default per build). */
  signature?: string;
  tried: { os: string; signature?: string; records?: number; error?: string }[];
}

/** What every result (scan, pslist, xview) says about its inputs. */
export interface RunIdentity {
  kcarveVersion: string;
  image: ImageIdentity;
  signature: SignatureIdentity;
  /** The registry name of the OS support used. */
  os: string;
  options: { workers: number; chunkSize: number; io: 'read' | 'map' };
}

/** Start hashing the image (it overlaps the scan); await `identity()` at the end. */
export function startIdentity(scan: OpenScan, hashMode: RunScanOptions['hash']): () => Promise<RunIdentity> {
  const image = scan.session.image;
  const hashing = hashImage(image.path, image.fileSize, hashMode ?? 'edges');
  // Keep a failed hash from being reported as unhandled while the scan runs.
  hashing.catch(() => undefined);
  return async () => ({
    kcarveVersion: KCARVE_VERSION,
    image: {
      path: resolve(image.path),
      format: image.format,
      detail: image.detail,
      fileSize: image.fileSize,
      mappedSize: image.mappedSize,
      runs: image.runs.length,
      holes: image.holes().length,
      hash: await hashing,
    },
    signature: signatureIdentity(scan.sig),
    os: scan.target.plugin.name,
    options: { workers: scan.workers, chunkSize: scan.chunkSize, io: scan.session.options.io ?? 'read' },
  });
}

/** Value pass, discovery and graph pass on an open scan; the result with its identity. */
export async function scanOpen(scan: OpenScan, hashMode: RunScanOptions['hash']): Promise<ScanResult> {
  const { session } = scan;
  const identity = startIdentity(scan, hashMode);
  const setupMs = performance.now() - scan.started;

  let t = performance.now();
  const value = await session.valuePass();
  const valuePassMs = performance.now() - t;
  endPhase('value pass', t);

  const notes: string[] = [];
  let kernel: KernelSpaceInfo | undefined;
  let records: ProcessRecord[] = [];
  let rejected: Rejections | undefined;
  let unverified: Unverified[] = [];
  let discoverMs = 0;
  let graphPassMs = 0;
  if (value.candidates.length === 0) {
    notes.push('no candidate matched the value constraints, so the kernel address space was not searched');
  } else {
    t = performance.now();
    kernel = session.discover(value.candidates);
    discoverMs = performance.now() - t;
    endPhase('discover the kernel address space', t);
    t = performance.now();
    const graph = await session.graphPass(kernel, value.candidates);
    graphPassMs = performance.now() - t;
    endPhase('graph pass', t);
    ({ records, rejected, unverified } = graph);
  }
  t = performance.now();
  const id = await identity();
  endPhase('wait for the image hash', t);
  session.finish();
  return {
    schema: SCAN_RESULT_SCHEMA,
    ...id,
    ...(kernel === undefined ? {} : { kernel }),
    records,
    stats: {
      chunks: value.chunks,
      candidates: value.candidates.length,
      accepted: records.length,
      rejected: rejected ?? { valueRecheck: 0, locate: 0, targetConstraints: 0, requiredEdge: 0, minScore: 0, duplicate: 0 },
      unverified,
    },
    complete: session.missed.length === 0,
    missed: [...session.missed].sort((a, b) => a.paddr - b.paddr || (a.phase === b.phase ? 0 : a.phase === 'value' ? -1 : 1)),
    notes,
    timings: { setupMs, valuePassMs, discoverMs, graphPassMs, totalMs: performance.now() - scan.started },
  };
}

/**
 * Run `body` on an open scan of the image with the OS support and signature the options
 * choose (./target.ts). With `os` 'auto' (the default) and no signature, every
 * registered OS support with a default signature is tried and the one whose result
 * `count`s the most objects wins; ties and "none found anything" are UsageErrors asking
 * for --os. The detection report says what each one found.
 */
export async function runForTarget<T>(
  options: RunScanOptions,
  body: (scan: OpenScan) => Promise<T>,
  count: (result: T) => number,
): Promise<{ result: T; detection?: DetectionReport }> {
  await registerPlugins(options);
  const target = chooseTarget(options.os, options.signature);
  if (!Array.isArray(target)) return { result: await withScan(options, target, body) };
  // One OS support's builds (--os NAME) or every OS support (--os auto).
  const byBuild = target.every((t) => t.plugin === target[0]!.plugin);
  const os = `--os ${byBuild ? target[0]!.plugin.name : 'auto'}`;
  const who = byBuild ? "build's default signature" : 'OS support';
  const ask = byBuild ? 'pass --signature FILE' : 'pass --os NAME';
  const label = (t: ScanTarget): string => (byBuild ? basename(t.signatureFile) : t.plugin.name);
  const tried: DetectionReport['tried'] = [];
  let best: { result: T; t: ScanTarget; n: number } | undefined;
  let tie = false;
  for (const t of target) {
    let result: T;
    try {
      result = await withScan(options, t, body);
    } catch (err) {
      // Discovery failing, or a signature whose layout does not fit: "not this OS".
      // Errors that are not kcarve's own are bugs and propagate.
      if (!(err instanceof KcarveError)) throw err;
      tried.push({ os: t.plugin.name, signature: t.signatureFile, error: err.message });
      continue;
    }
    const n = count(result);
    tried.push({ os: t.plugin.name, signature: t.signatureFile, records: n });
    if (best === undefined || n > best.n) {
      best = { result, t, n };
      tie = false;
    } else if (n === best.n) {
      tie = true;
    }
  }
  const summary = tried.map((x, i) => `${label(target[i]!)}: ${x.error ?? `${x.records} object(s)`}`).join('; ');
  if (best === undefined || best.n === 0) {
    throw new UsageError(`${os}: no ${who} found process objects in ${options.image} (${summary}); ${ask}`);
  }
  if (tie) throw new UsageError(`${os}: ${byBuild ? "builds' default signatures" : 'OS supports'} found equally many objects in ${options.image} (${summary}); ${ask}`);
  return { result: best.result, detection: { chosen: best.t.plugin.name, signature: best.t.signatureFile, tried } };
}

/** Scan one image: every process object the signature finds (see runForTarget for `os: 'auto'`). */
export async function runScan(options: RunScanOptions): Promise<ScanResult> {
  const { result, detection } = await runForTarget(options, (scan) => scanOpen(scan, options.hash), (r) => r.records.length);
  return detection === undefined ? result : { ...result, detection };
}
