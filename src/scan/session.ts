// One scan of one image with one signature and one OS support: the image opened on the
// main thread, the pool, and the three steps every command (scan, pslist, xview) is
// built from:
//   valuePass()  the native matcher over every chunk, in the pool → candidate pas
//   discover()   the OS finds the kernel address space (main thread) → KernelSpaceInfo
//   graphPass()  candidates verified and carved in the pool → ProcessRecords
// Results are merged in ascending physical address order. A task that fails on a fault
// of the image, or because its worker threw or died, is reported in `missed`; a bad
// signature or bad options end the scan with their error.
import { randomUUID } from 'node:crypto';
import { type PhysAddr, hex } from '../addr.js';
import type { FilePhysical } from '../layers/file-physical.js';
import type { FileImageFormat } from '../layers/open-image.js';
import type { OsRef } from '../os/index.js';
import type { DiscoveryHints, KernelSpaceInfo, OsSupport, ProcessRecord } from '../os/types.js';
import type { KernelSpace } from '../signatures/edges.js';
import type { Signature } from '../signatures/load.js';
import { type Program, programSpan } from '../signatures/program.js';
import {
  type GraphDone,
  type ImageDescriptor,
  NO_REJECTIONS,
  type Rejections,
  type ScanTask,
  type SignatureSource,
  type TaskResult,
  type ValueDone,
  type Unverified,
  isRangeFault,
  reviveError,
} from './messages.js';
import { type Chunk, planChunks, rangeText } from './plan.js';
import type { ScanPool } from './pool.js';
import { type Missed, ProgressTracker, type ProgressListener } from './progress.js';
import { scanPointerMode } from './verify.js';

/** Candidates per graph task at most (smaller batches when there are few, to use every worker). */
export const MAX_GRAPH_BATCH = 4096;

export interface SessionOptions {
  sig: Signature;
  signature: SignatureSource;
  os: OsSupport;
  osRef: OsRef;
  pool: ScanPool;
  /** Runs tasks in this thread (the same worker functions): small graph passes go here. */
  inThread: ScanPool;
  /** Candidates from which the graph pass runs in `pool` rather than `inThread`. */
  graphInPoolFrom: number;
  chunkSize: number;
  hints: DiscoveryHints;
  io?: 'read' | 'map';
  onProgress?: ProgressListener;
}

export interface ValuePass {
  /** Physical addresses of value hits, ascending. */
  candidates: PhysAddr[];
  chunks: number;
  /** The program the value pass ran (pointer mode: see scanPointerMode). */
  program: Program;
}

export interface GraphPass {
  records: ProcessRecord[];
  rejected: Rejections;
  unverified: Unverified[];
}

function describeError(err: unknown): Missed['error'] {
  if (err instanceof Error) return { name: err.name, message: err.message, ...(err.stack === undefined ? {} : { stack: err.stack }) };
  return { name: typeof err, message: String(err) };
}

export class ScanSession {
  readonly scanId = randomUUID();
  readonly missed: Missed[] = [];
  readonly progress: ProgressTracker;
  readonly descriptor: ImageDescriptor;

  /** `image` is owned by the session from here on (close() closes it). */
  constructor(
    readonly image: FilePhysical,
    readonly options: SessionOptions,
  ) {
    this.progress = new ProgressTracker(image.mappedSize, options.onProgress);
    this.descriptor = {
      path: image.path,
      format: image.format as FileImageFormat,
      runs: image.runs.map((r) => ({ paddr: r.paddr, fileOffset: r.fileOffset, length: r.length })),
      fileSize: image.fileSize,
      detail: image.detail,
    };
  }

  get sig(): Signature {
    return this.options.sig;
  }

  get os(): OsSupport {
    return this.options.os;
  }

  /** Run a task; a worker failure comes back as undefined after being recorded. */
  private async runTask(
    pool: ScanPool,
    task: ScanTask,
    onMissed: (error: Missed['error'], kind: Missed['kind']) => void,
  ): Promise<ValueDone | GraphDone | undefined> {
    let result: TaskResult;
    try {
      result = await pool.run(task);
    } catch (err) {
      onMissed(describeError(err), 'worker-failure');
      return undefined;
    }
    if (result.ok) return result;
    const err = reviveError(result.error);
    if (!isRangeFault(err)) throw err;
    onMissed(describeError(err), 'unreadable');
    return undefined;
  }

  /** The native matcher over every chunk of every run; hits ascending. */
  async valuePass(): Promise<ValuePass> {
    const sig = this.sig;
    const program = sig.program(scanPointerMode(sig, this.options.hints.pagingLevels));
    const chunks = planChunks(this.image.runs, {
      chunkSize: this.options.chunkSize,
      span: programSpan(program),
      alignment: program.alignment,
    });
    // The first event comes before any task is sent.
    this.progress.update({ phase: 'value' });
    const perChunk = await Promise.all(chunks.map((chunk) => this.scanChunk(chunk, program)));
    const candidates: PhysAddr[] = [];
    for (const hits of perChunk) for (const pa of hits) candidates.push(pa as PhysAddr);
    for (let i = 1; i < candidates.length; i++) {
      if (!(candidates[i - 1]! < candidates[i]!)) throw new Error(`internal: value hits out of order at ${hex(candidates[i]!)}`);
    }
    return { candidates, chunks: chunks.length, program };
  }

  private async scanChunk(chunk: Chunk, program: Program): Promise<Float64Array> {
    const task: ScanTask = {
      kind: 'value',
      scanId: this.scanId,
      image: this.descriptor,
      program,
      programSource: this.sig.file,
      chunk,
      ...(this.options.io === undefined ? {} : { io: this.options.io }),
    };
    const result = await this.runTask(this.options.pool, task, (error, kind) => {
      this.missed.push({
        phase: 'value',
        paddr: chunk.paddr,
        length: chunk.length,
        kind,
        reason: `${kind === 'unreadable' ? 'could not read' : 'worker failed on'} physical ${rangeText(chunk.paddr, chunk.length)}: ${error.message}`,
        error,
      });
      this.progress.add({ bytesDone: chunk.length, failedTasks: 1 });
    });
    if (result === undefined) return new Float64Array(0);
    if (result.kind !== 'value') throw new Error(`internal: a value task returned a ${result.kind} result`);
    this.progress.add({ bytesDone: chunk.length, candidates: result.hits.length });
    return result.hits;
  }

  /** The OS finds the kernel address space (main thread). */
  discover(candidates: readonly PhysAddr[]): KernelSpaceInfo {
    this.progress.update({ phase: 'discover' });
    return this.os.discover(this.image, this.sig, candidates, this.options.hints);
  }

  /** The kernel address space in this thread (pslist and xview read through it). */
  kernelSpace(kernel: KernelSpaceInfo): KernelSpace {
    return this.os.kernelSpace(this.image, kernel);
  }

  /**
   * Verify and carve the candidates; records ascending by pa, one per object. In the
   * pool from `graphInPoolFrom` candidates on, else in this thread: each worker would
   * first build the signature's layout (seconds for a full kernel BTF), while a few
   * thousand candidates take milliseconds here. The same functions run either way.
   */
  async graphPass(kernel: KernelSpaceInfo, candidates: readonly PhysAddr[]): Promise<GraphPass> {
    this.progress.update({ phase: 'graph' });
    const pool = candidates.length >= this.options.graphInPoolFrom ? this.options.pool : this.options.inThread;
    const workers = Math.max(1, pool.workers);
    const size = Math.min(MAX_GRAPH_BATCH, Math.max(1, Math.ceil(candidates.length / (4 * workers))));
    const batches: PhysAddr[][] = [];
    for (let i = 0; i < candidates.length; i += size) batches.push(candidates.slice(i, i + size));
    const done = await Promise.all(batches.map((batch, batchIndex) => this.checkBatch(pool, kernel, batch, batchIndex)));

    const rejected = { ...NO_REJECTIONS };
    const unverified: Unverified[] = [];
    let records: ProcessRecord[] = [];
    for (const r of done) {
      if (r === undefined) continue;
      for (const k of Object.keys(rejected) as (keyof Rejections)[]) rejected[k] += r.rejected[k];
      unverified.push(...r.unverified);
      records.push(...r.records);
    }
    // Located targets (scan.locate) need not come in candidate order; two hits may
    // locate one object: keep the first.
    records.sort((a, b) => a.pa - b.pa);
    const unique = records.filter((r, i) => i === 0 || records[i - 1]!.pa !== r.pa);
    rejected.duplicate += records.length - unique.length;
    records = unique;
    return { records, rejected, unverified };
  }

  private async checkBatch(pool: ScanPool, kernel: KernelSpaceInfo, batch: PhysAddr[], batchIndex: number): Promise<GraphDone | undefined> {
    const task: ScanTask = {
      kind: 'graph',
      scanId: this.scanId,
      image: this.descriptor,
      signature: this.options.signature,
      os: this.options.osRef,
      kernel,
      batchIndex,
      candidates: batch,
    };
    const first = batch[0]!;
    const last = batch[batch.length - 1]!;
    const result = await this.runTask(pool, task, (error, kind) => {
      this.missed.push({
        phase: 'graph',
        paddr: first,
        length: last - first + 1,
        candidates: batch,
        kind,
        reason: `${batch.length} candidate(s) in physical ${rangeText(first, last - first + 1)} not verified: ${error.message}`,
        error,
      });
      this.progress.add({ checked: batch.length, failedTasks: 1 });
    });
    if (result === undefined) return undefined;
    if (result.kind !== 'graph') throw new Error(`internal: a graph task returned a ${result.kind} result`);
    this.progress.add({ checked: batch.length, accepted: result.records.length });
    return result;
  }

  /** The final progress event. */
  finish(): void {
    this.progress.update({ phase: 'done' });
  }

  close(): void {
    this.options.pool.release(this.scanId);
    this.options.inThread.release(this.scanId);
    this.image.close();
  }
}
