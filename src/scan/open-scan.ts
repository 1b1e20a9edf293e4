// Setting up a scan from plain-data options: register plugin modules, choose the OS
// support and signature, load the signature, take hints, open the image, make (or
// borrow) the pool. `runScan`, `runPslist` and `runXview` all start here.
import { UsageError } from '../errors.js';
import { type FileImageFormat, openImage } from '../layers/open-image.js';
import { osRef, registerOsModule } from '../os/index.js';
import type { DiscoveryHints } from '../os/types.js';
import type { Signature } from '../signatures/load.js';
import { programSpan } from '../signatures/program.js';
import { hintsFromTruth } from './hints.js';
import type { HashMode } from './identity.js';
import { DEFAULT_CHUNK_SIZE, checkPlanOptions, mergeSegments } from './plan.js';
import { type ScanPool, checkWorkers, createScanPool, defaultWorkerCount } from './pool.js';
import type { ProgressListener } from './progress.js';
import { ScanSession } from './session.js';
import { readSignatureDoc, scanSignature } from './signature-cache.js';
import type { ScanTarget } from './target.js';
import { scanPointerMode } from './verify.js';
import { timePhase } from '../timing.js';

/** The inputs of a scan: plain data (a job queue can carry them), plus two callbacks. */
export interface RunScanOptions {
  /** The image file: QEMU ELF core, LiME or raw. */
  image: string;
  /** Read the file as this format instead of detecting it. */
  format?: FileImageFormat;
  /** A registered OS support name, or 'auto' (default): see ./target.ts. */
  os?: string;
  /** Plugin modules to register first (paths or file: URLs; see src/os/index.ts). */
  osModules?: string[];
  /** Signature file; default: the OS support's default signature. */
  signature?: string;
  /** Layout file to resolve the signature against instead of the one it names. */
  layout?: string;
  /** Worker threads (0 = this thread, the same code). Default: none up to IN_THREAD_UP_TO of guest memory, else CPUs available, at most one per chunk. */
  workers?: number;
  /** Run in this pool instead of making one (it is not closed; `workers` is ignored). */
  pool?: ScanPool;
  /** Bytes per chunk of the value pass (default 64 MiB). */
  chunkSize?: number;
  /** Discovery hints (symbols, direct-map base, page-table root, paging levels). */
  hints?: DiscoveryHints;
  /** A truth file to take hints from (kcarve-truth/1); `hints` win over it. */
  truth?: string;
  /** How the image is hashed for the result (default 'edges'). */
  hash?: HashMode;
  /** How the matcher reads the image (default 'read'; see ScanOptions.io in src/native/types.ts). */
  io?: 'read' | 'map';
  /** Module URL of the task handler instead of the scan worker (tests inject failures). */
  workerEntry?: string;
  /**
   * Called as the scan advances; the first call comes before any task is sent. With
   * OS detection (os 'auto', no signature) each OS tried starts a new series of events.
   */
  onProgress?: ProgressListener;
  /**
   * Candidates from which the graph pass runs in the pool (default 20000); fewer are
   * verified in this thread by the same functions, sparing each worker the seconds it
   * takes to build a full kernel layout. 0: always in the pool.
   */
  graphInPoolFrom?: number;
}

export const DEFAULT_GRAPH_IN_POOL_FROM = 20_000;

/** Images with at most this much guest memory are scanned in the calling thread unless `workers` is given. */
export const IN_THREAD_UP_TO = 2 ** 30;

export interface OpenScan {
  session: ScanSession;
  target: ScanTarget;
  sig: Signature;
  hints: DiscoveryHints;
  chunkSize: number;
  workers: number;
  /** performance.now() when setup began. */
  started: number;
  close(): Promise<void>;
}

/** Hints from `truth`, overridden key by key by explicit `hints`. */
export function mergeHints(options: Pick<RunScanOptions, 'hints' | 'truth'>): DiscoveryHints {
  const fromTruth = options.truth === undefined ? {} : hintsFromTruth(options.truth);
  return { ...fromTruth, ...(options.hints ?? {}) };
}

export async function registerPlugins(options: Pick<RunScanOptions, 'osModules'>): Promise<void> {
  for (const m of options.osModules ?? []) await registerOsModule(m);
}

export async function openScan(options: RunScanOptions, target: ScanTarget): Promise<OpenScan> {
  const started = performance.now();
  const hints = mergeHints(options);
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  // The chunk size alone now; with the program's span and alignment once it is loaded.
  checkPlanOptions({ chunkSize, span: 1, alignment: 1 });
  const graphInPoolFrom = options.graphInPoolFrom ?? DEFAULT_GRAPH_IN_POOL_FROM;
  if (!Number.isSafeInteger(graphInPoolFrom) || graphInPoolFrom < 0) {
    throw new UsageError(`graphInPoolFrom must be a non-negative integer (got ${String(graphInPoolFrom)})`);
  }
  const workers = options.workers === undefined ? undefined : checkWorkers(options.workers);
  const ref = osRef(target.plugin.name);
  const entry = options.workerEntry === undefined ? {} : { workerEntry: options.workerEntry };

  // The image first (a bad one fails before threads start), then the pool, whose threads
  // boot while this thread loads the signature (compiling its schema validator and
  // building its layout take a while the first time).
  const image = timePhase('open the image', () => openImage(options.image, options.format === undefined ? {} : { format: options.format }));
  let pool = options.pool;
  const ownsPool = pool === undefined;
  let session: ScanSession;
  let sig: Signature;
  try {
    if (pool === undefined) {
      // No more workers than chunks: a small image needs no idle threads. Up to
      // IN_THREAD_UP_TO of guest memory, none: the native matcher sweeps a GiB in this
      // thread in about the time the threads take to boot (bench/scan).
      const chunks = mergeSegments(image.runs).reduce((n, seg) => n + Math.ceil(seg.length / chunkSize), 0);
      const byDefault = image.mappedSize <= IN_THREAD_UP_TO ? 0 : Math.min(defaultWorkerCount(), Math.max(1, chunks));
      pool = await timePhase('start the worker pool', () => createScanPool({ workers: workers ?? byDefault, ...entry }));
    }
    const inThread = await createScanPool({ workers: 0, ...entry });
    sig = timePhase('load the signature and its layout', () => scanSignature(readSignatureDoc(target.signatureFile), target.signatureFile, options.layout, false));
    const program = sig.program(scanPointerMode(sig, hints.pagingLevels));
    checkPlanOptions({ chunkSize, span: programSpan(program), alignment: program.alignment });
    session = new ScanSession(image, {
      sig,
      signature: { file: target.signatureFile, doc: sig.doc, ...(options.layout === undefined ? {} : { layout: options.layout }) },
      os: target.plugin.support,
      osRef: ref,
      pool,
      inThread,
      graphInPoolFrom,
      chunkSize,
      hints,
      ...(options.io === undefined ? {} : { io: options.io }),
      ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
    });
  } catch (err) {
    image.close();
    if (ownsPool && pool !== undefined) await pool.close();
    throw err;
  }
  const s = session;
  const p = pool;
  return {
    session: s,
    target,
    sig,
    hints,
    chunkSize,
    workers: p.workers,
    started,
    close: async () => {
      s.close();
      if (ownsPool) await p.close();
    },
  };
}

/** Run `body` on an open scan and close it afterwards, whatever happens. */
export async function withScan<T>(options: RunScanOptions, target: ScanTarget, body: (scan: OpenScan) => Promise<T>): Promise<T> {
  const scan = await openScan(options, target);
  try {
    return await body(scan);
  } finally {
    await timePhase('close the image and the worker pool', () => scan.close());
  }
}
