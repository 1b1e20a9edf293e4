// Page-aligned byte buffers for file I/O.
//
// Why: on this project's machines `fs.readSync` into a destination that starts just
// past a 4 KiB boundary runs several times slower than into an aligned one (the
// kernel's copy to user space is sensitive to the destination's alignment). A plain
// `new ArrayBuffer(n)` of a few hundred KiB comes from glibc's mmap path and starts
// 16 bytes past a page boundary, exactly the slow case, and JavaScript cannot see
// the address to correct it. A WebAssembly.Memory is allocated by V8 directly from
// the OS page allocator (whole pages, not malloc), so its buffer starts on a page
// boundary; slicing it at multiples of 4096 keeps every view aligned.

const WASM_PAGE = 65536;

// lib ES2022 + @types/node do not declare WebAssembly; this is the one constructor used.
interface WasmMemoryConstructor {
  new (descriptor: { initial: number; maximum?: number }): { readonly buffer: ArrayBuffer };
}
const WasmMemory = (globalThis as unknown as { WebAssembly: { Memory: WasmMemoryConstructor } }).WebAssembly
  .Memory;

/** Bytes per allocation granule: views handed out start at multiples of this. */
export const IO_ALIGNMENT = 4096;

/**
 * A zero-filled Uint8Array of `size` bytes whose first byte is page-aligned in
 * memory. Each call reserves its own memory; allocate once per reader and reuse.
 */
export function alignedBuffer(size: number): Uint8Array {
  if (!Number.isSafeInteger(size) || size <= 0) throw new RangeError(`not a buffer size: ${size}`);
  const pages = Math.ceil(size / WASM_PAGE);
  // 65536 wasm pages = 4 GiB, the most a 32-bit wasm memory can hold.
  if (pages > 65536) throw new RangeError(`aligned buffer of ${size} bytes is too large`);
  const memory = new WasmMemory({ initial: pages, maximum: pages });
  return new Uint8Array(memory.buffer, 0, size);
}

// Each WebAssembly.Memory reserves a large stretch of address space (V8 adds guard
// regions), so buffers are pooled: a reader or writer takes one when it opens and gives
// it back when it closes, and a process that opens thousands of images one after the
// other keeps reusing a few.
const pool = new Map<number, Uint8Array[]>();

/** An aligned buffer of exactly `size` bytes from the pool (contents undefined). */
export function acquireAlignedBuffer(size: number): Uint8Array {
  return pool.get(size)?.pop() ?? alignedBuffer(size);
}

/** Return a buffer from acquireAlignedBuffer; the caller must not use it afterwards. */
export function releaseAlignedBuffer(buffer: Uint8Array): void {
  const free = pool.get(buffer.length) ?? [];
  if (free.length < 8) free.push(buffer);
  pool.set(buffer.length, free);
}
