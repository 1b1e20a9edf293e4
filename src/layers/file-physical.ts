// A physical layer backed by an image file, read through a file descriptor.
//
// Small reads (page-table entries, one structure) dominate address translation and
// object carving, and they cluster: four entries of one walk, the fields of one
// task_struct. They go through a small LRU cache of 4 KiB file pages held in one
// page-aligned arena (see aligned-buffer.ts for why alignment matters). Large reads go
// straight from the file into the caller's buffer. The scan engine does not read
// through here at all: its workers map the file themselves from `runs`.
import { closeSync, readSync } from 'node:fs';
import { hex } from '../addr.js';
import { ImageIOError } from '../errors.js';
import { acquireAlignedBuffer, releaseAlignedBuffer } from './aligned-buffer.js';
import { type ImageFormat, type PhysicalRun, RunsPhysical, assertValidRuns } from './physical.js';

const PAGE = 4096;
/** Cached file pages per open image (1 MiB). */
const CACHE_PAGES = 256;
/** Reads up to this many bytes go through the page cache; larger ones bypass it. */
const CACHED_READ_MAX = 4 * PAGE;

/** LRU cache of file pages. Map iteration order is insertion order: oldest first. */
class PageCache {
  arena = acquireAlignedBuffer(CACHE_PAGES * PAGE);
  /** Bytes of each slot that hold file data (a short last page has fewer). */
  readonly valid = new Int32Array(CACHE_PAGES);
  private readonly slotOf = new Map<number, number>();
  private readonly free: number[] = Array.from({ length: CACHE_PAGES }, (_, i) => CACHE_PAGES - 1 - i);

  /** Slot holding file page `page`, loading it with `load(slot)` on a miss. */
  slot(page: number, load: (slot: number) => number): number {
    const hit = this.slotOf.get(page);
    if (hit !== undefined) {
      this.slotOf.delete(page);
      this.slotOf.set(page, hit);
      return hit;
    }
    let slot = this.free.pop();
    if (slot === undefined) {
      const [oldPage, oldSlot] = this.slotOf.entries().next().value as [number, number];
      this.slotOf.delete(oldPage);
      slot = oldSlot;
    }
    try {
      this.valid[slot] = load(slot);
    } catch (err) {
      this.free.push(slot);
      throw err;
    }
    this.slotOf.set(page, slot);
    return slot;
  }

  /** Forget every page and give the arena back to the pool. */
  release(): void {
    for (const slot of this.slotOf.values()) this.free.push(slot);
    this.slotOf.clear();
    releaseAlignedBuffer(this.arena);
    this.arena = new Uint8Array(0);
  }
}

export class FilePhysical extends RunsPhysical {
  private fd: number | undefined;
  private readonly cache = new PageCache();

  /**
   * Use `openImage` or `openImageRuns` (open-image.ts) rather than this constructor.
   * The runs are checked (sorted, disjoint, inside fileSize); `fd` is owned by the new
   * object.
   */
  constructor(
    format: ImageFormat,
    path: string,
    detail: string,
    runs: readonly PhysicalRun[],
    fileSize: number,
    fd: number,
  ) {
    assertValidRuns(path, runs, fileSize);
    super(format, path, detail, runs, fileSize);
    this.fd = fd;
  }

  close(): void {
    if (this.fd !== undefined) {
      closeSync(this.fd);
      this.fd = undefined;
      this.cache.release();
    }
  }

  private openFd(): number {
    if (this.fd === undefined) throw new Error(`${this.path}: image is closed`);
    return this.fd;
  }

  private shrank(offset: number): never {
    throw new ImageIOError(
      this.path,
      offset,
      `file ended early: it had ${this.fileSize} bytes when opened and changed while kcarve read it`,
    );
  }

  private pread(target: Uint8Array, targetOffset: number, length: number, position: number): number {
    try {
      return readSync(this.openFd(), target, targetOffset, length, position);
    } catch (err) {
      if (err instanceof ImageIOError || !(err instanceof Error)) throw err;
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      throw new ImageIOError(this.path, position, `read failed (${code}): ${err.message}`, { cause: err });
    }
  }

  protected readFile(fileOffset: number, target: Uint8Array, targetOffset: number, length: number): void {
    if (length <= CACHED_READ_MAX) {
      this.readCached(fileOffset, target, targetOffset, length);
      return;
    }
    let done = 0;
    while (done < length) {
      const n = this.pread(target, targetOffset + done, length - done, fileOffset + done);
      if (n === 0) this.shrank(fileOffset + done);
      done += n;
    }
  }

  private readCached(fileOffset: number, target: Uint8Array, targetOffset: number, length: number): void {
    const { arena, valid } = this.cache;
    let done = 0;
    while (done < length) {
      const offset = fileOffset + done;
      const page = Math.floor(offset / PAGE);
      const slot = this.cache.slot(page, (s) => this.loadPage(page, s));
      const inPage = offset - page * PAGE;
      const n = Math.min(length - done, PAGE - inPage);
      if (inPage + n > valid[slot]!) this.shrank(page * PAGE + valid[slot]!);
      const base = slot * PAGE + inPage;
      target.set(arena.subarray(base, base + n), targetOffset + done);
      done += n;
    }
  }

  /** Read file page `page` into cache slot `slot`; returns the bytes read. */
  private loadPage(page: number, slot: number): number {
    const want = Math.min(PAGE, this.fileSize - page * PAGE);
    if (want <= 0) this.shrank(page * PAGE);
    let got = 0;
    while (got < want) {
      const n = this.pread(this.cache.arena, slot * PAGE + got, want - got, page * PAGE + got);
      if (n === 0) break;
      got += n;
    }
    return got;
  }

  override toString(): string {
    return `FilePhysical(${this.format} ${this.path}, ${this.runs.length} runs, end ${hex(this.endAddress)})`;
  }
}
