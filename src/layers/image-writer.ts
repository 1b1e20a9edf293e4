// What the format writers share: the description of the runs to write, the callback
// that produces their bytes chunk by chunk (so a 4 GiB synthetic image never exists in
// memory at once), and a buffered, seekable file sink.
import { closeSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { MAX_PHYS_ADDR, type PhysAddr, hex, phys } from '../addr.js';
import { ImageIOError, UsageError } from '../errors.js';
import { acquireAlignedBuffer, releaseAlignedBuffer } from './aligned-buffer.js';
import type { ImageFormat, PhysicalReader, PhysicalRun } from './physical.js';

/** A range of guest physical memory to write. */
export interface RunSpec {
  readonly paddr: PhysAddr;
  readonly length: number;
}

/**
 * Produces the bytes of `run`, in order, in chunks of any size. The chunks must add up
 * to exactly `run.length` bytes. A chunk may be reused by the producer once the next
 * one is requested (the sink copies or writes it before asking again).
 */
export type RunBytes = (run: RunSpec, index: number) => Iterable<Uint8Array>;

/** What a writer produced: the runs as a reader of the file will see them. */
export interface WrittenImage {
  readonly path: string;
  readonly format: ImageFormat;
  readonly runs: PhysicalRun[];
  readonly fileSize: number;
}

/** Reject run lists a writer cannot represent: none, unsorted, overlapping, empty or too high. */
export function checkRunSpecs(writer: string, runs: readonly RunSpec[]): void {
  // An image without memory is not readable back (every reader rejects it).
  if (runs.length === 0) throw new UsageError(`${writer}: no runs to write`);
  let end = 0;
  runs.forEach((r, i) => {
    if (!Number.isSafeInteger(r.paddr) || r.paddr < 0) throw new UsageError(`${writer}: run #${i} has no valid paddr`);
    if (!Number.isSafeInteger(r.length) || r.length <= 0) {
      throw new UsageError(`${writer}: run #${i} length ${r.length} is not a positive integer`);
    }
    if (r.paddr + r.length > MAX_PHYS_ADDR) {
      throw new UsageError(`${writer}: run #${i} at ${hex(r.paddr)} passes the 52-bit physical address limit`);
    }
    if (r.paddr < end) {
      throw new UsageError(`${writer}: run #${i} at ${hex(r.paddr)} is out of order or overlaps the run before it`);
    }
    end = r.paddr + r.length;
  });
}

const SINK_BUFFER = 1 << 20;

/** Chunks made by zeroChunk(): all zeros, never modified, skipped with a seek by the sink. */
const sparseZeroChunks = new WeakSet<Uint8Array>();
const zeroChunkCache = new Map<number, Uint8Array>();

/**
 * A chunk of `length` zero bytes that a RunBytes producer may yield for memory it knows
 * is zero: the sink seeks over it instead of writing, so the file gets a sparse hole
 * (no disk space; reads back as zeros). The chunk is shared and must not be modified;
 * overlayRunBytes copies it before patching, like any chunk.
 */
export function zeroChunk(length: number): Uint8Array {
  if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`zeroChunk: bad length ${length}`);
  let chunk = zeroChunkCache.get(length);
  if (chunk === undefined) {
    chunk = new Uint8Array(length);
    sparseZeroChunks.add(chunk);
    if (zeroChunkCache.size < 16) zeroChunkCache.set(length, chunk);
  }
  return chunk;
}

/** Buffered sequential writer over a new file, with seek for sparse holes. */
export class ImageSink {
  private readonly fd: number;
  private buffer = acquireAlignedBuffer(SINK_BUFFER);
  private buffered = 0;
  /** File offset of buffer[0]. */
  private base = 0;
  private closed = false;

  constructor(readonly path: string) {
    try {
      this.fd = openSync(path, 'w');
    } catch (err) {
      throw this.ioError(0, 'cannot create the file', err);
    }
  }

  /** File offset the next byte goes to. */
  get position(): number {
    return this.base + this.buffered;
  }

  private ioError(offset: number, what: string, err: unknown): ImageIOError {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    return new ImageIOError(this.path, offset, `${what} (${code}): ${(err as Error).message}`, { cause: err });
  }

  private flush(): void {
    let done = 0;
    while (done < this.buffered) {
      try {
        done += writeSync(this.fd, this.buffer, done, this.buffered - done, this.base + done);
      } catch (err) {
        throw this.ioError(this.base + done, 'write failed', err);
      }
    }
    this.base += this.buffered;
    this.buffered = 0;
  }

  write(bytes: Uint8Array): void {
    if (sparseZeroChunks.has(bytes)) {
      // Known zeros (zeroChunk): leave a hole. finish() sets the size, so a trailing hole is kept.
      this.seek(this.position + bytes.length);
      return;
    }
    if (this.buffered + bytes.length <= SINK_BUFFER) {
      this.buffer.set(bytes, this.buffered);
      this.buffered += bytes.length;
      return;
    }
    this.flush();
    if (bytes.length < SINK_BUFFER) {
      this.buffer.set(bytes, 0);
      this.buffered = bytes.length;
      return;
    }
    let done = 0;
    while (done < bytes.length) {
      try {
        done += writeSync(this.fd, bytes, done, bytes.length - done, this.base + done);
      } catch (err) {
        throw this.ioError(this.base + done, 'write failed', err);
      }
    }
    this.base += bytes.length;
  }

  /** Continue writing at `offset`; skipped bytes read as zeros (a sparse hole). */
  seek(offset: number): void {
    this.flush();
    this.base = offset;
  }

  /** Write run `index` from `source`, checking it yields exactly run.length bytes. */
  writeRun(writer: string, run: RunSpec, index: number, source: RunBytes): void {
    let written = 0;
    for (const chunk of source(run, index)) {
      if (written + chunk.length > run.length) {
        throw new UsageError(
          `${writer}: the byte source for run #${index} (${hex(run.paddr)}) produced more than ${run.length} bytes`,
        );
      }
      this.write(chunk);
      written += chunk.length;
    }
    if (written !== run.length) {
      throw new UsageError(
        `${writer}: the byte source for run #${index} (${hex(run.paddr)}) produced ${written} bytes, expected ${run.length}`,
      );
    }
  }

  /** Flush, set the file's size to `size` (extending sparsely), and close. */
  finish(size: number): void {
    this.flush();
    try {
      ftruncateSync(this.fd, size);
    } catch (err) {
      throw this.ioError(size, 'cannot set the file size', err);
    }
    this.closed = true;
    this.releaseBuffer();
    closeSync(this.fd);
  }

  private releaseBuffer(): void {
    releaseAlignedBuffer(this.buffer);
    this.buffer = new Uint8Array(0);
  }

  /** Close without finishing (after an error). */
  abort(): void {
    if (this.closed) return;
    this.closed = true;
    this.releaseBuffer();
    try {
      closeSync(this.fd);
    } catch {
      // Already failing; the first error is the one to report.
    }
  }
}

/** Run `body` with a sink on `path`, closing the file whatever happens. */
export function withSink<T>(path: string, body: (sink: ImageSink) => T): T {
  const sink = new ImageSink(path);
  try {
    return body(sink);
  } finally {
    sink.abort();
  }
}

/** A RunBytes that reads each run from an existing physical layer, `chunkSize` at a time. */
export function runBytesFrom(reader: PhysicalReader, chunkSize = 1 << 20): RunBytes {
  return function* (run: RunSpec): Iterable<Uint8Array> {
    const buffer = new Uint8Array(Math.min(chunkSize, run.length));
    for (let done = 0; done < run.length; done += buffer.length) {
      const n = Math.min(buffer.length, run.length - done);
      const view = n === buffer.length ? buffer : buffer.subarray(0, n);
      reader.readPhysInto(phys(run.paddr + done), view);
      yield view;
    }
  };
}

/** Bytes to place at a physical address, over whatever a RunBytes produces there. */
export interface PhysPatch {
  readonly paddr: PhysAddr;
  readonly bytes: Uint8Array;
}

/**
 * Wrap `source` so that the bytes of `patches` replace its output where they overlap
 * (later patches win). Lets a generator stream a multi-GiB image from a cheap source
 * and still place page tables (PageTableBuilder.tablePages()) and objects in it
 * without holding the image. Chunks that touch a patch are copied before patching,
 * so the source's buffers are never modified. Patch bytes outside every run are
 * simply not written.
 */
export function overlayRunBytes(source: RunBytes, patches: readonly PhysPatch[]): RunBytes {
  const sorted = patches.map((p, order) => ({ ...p, order })).sort((a, b) => a.paddr - b.paddr || a.order - b.order);
  const longest = sorted.reduce((m, p) => Math.max(m, p.bytes.length), 0);
  /** Index of the first patch that may end after `pa`. */
  const firstCandidate = (pa: number): number => {
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (sorted[mid]!.paddr + longest <= pa) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  return function* (run: RunSpec, index: number): Iterable<Uint8Array> {
    let pa: number = run.paddr;
    for (const chunk of source(run, index)) {
      const end = pa + chunk.length;
      let out = chunk;
      const hits: (typeof sorted)[number][] = [];
      for (let i = firstCandidate(pa); i < sorted.length && sorted[i]!.paddr < end; i++) {
        const p = sorted[i]!;
        if (p.paddr + p.bytes.length > pa) hits.push(p);
      }
      if (hits.length > 0) {
        out = chunk.slice();
        hits.sort((a, b) => a.order - b.order);
        for (const p of hits) {
          const from = Math.max(pa, p.paddr);
          const to = Math.min(end, p.paddr + p.bytes.length);
          out.set(p.bytes.subarray(from - p.paddr, to - p.paddr), from - pa);
        }
      }
      yield out;
      pa = end;
    }
  };
}
