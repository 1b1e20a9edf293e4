// Structure access for a Windows world: every offset comes from the build's layout pack by
// name (`EPROCESS.off('ActiveProcessLinks')`); no offset of a kernel structure lives in
// code. A `Struct` is a typed window onto the bytes of one object (a pool block holds the
// pool header, optional headers, object header and body, each a Struct at its offset).
import { type Layout, loadLayout } from '../../types/index.js';
import type { Writable } from '../../types/writer.js';
import type { WindowsBuild } from './builds.js';

const hasCache = new WeakMap<Layout, Map<string, boolean>>();

/** A structure instance at `base` inside `bytes`, written and read by member path. */
export class Struct {
  constructor(
    readonly L: Layout,
    readonly type: string,
    readonly bytes: Uint8Array,
    readonly base: number,
  ) {}

  set(path: string, value: Writable): this {
    this.L.write(this.type, path, this.bytes, value, this.base);
    return this;
  }

  get(path: string): number | bigint {
    const v = this.L.readMember(this.type, path, this.bytes, this.base);
    if (typeof v !== 'number' && typeof v !== 'bigint') throw new RangeError(`${this.type}.${path} is not a scalar`);
    return v;
  }

  /** A pointer-sized or wider member as bigint. */
  big(path: string): bigint {
    return BigInt(this.get(path));
  }

  /** True when the layout has `path` in this type (members differ between builds). */
  has(path: string): boolean {
    let known = hasCache.get(this.L);
    if (known === undefined) {
      known = new Map();
      hasCache.set(this.L, known);
    }
    const key = `${this.type}\u0000${path}`;
    let v = known.get(key);
    if (v === undefined) {
      try {
        this.L.member(this.type, path);
        v = true;
      } catch {
        v = false;
      }
      known.set(key, v);
    }
    return v;
  }

  /** Set `path` if this build's layout has it; returns whether it did. */
  trySet(path: string, value: Writable): boolean {
    if (!this.has(path)) return false;
    this.set(path, value);
    return true;
  }

  off(path: string): number {
    return this.L.offsetOf(this.type, path);
  }

  size(path: string): number {
    return this.L.member(this.type, path).size;
  }

  /** Raw bytes of a member (a copy). */
  raw(path: string): Uint8Array {
    const m = this.L.member(this.type, path);
    return this.bytes.slice(this.base + m.offset, this.base + m.offset + m.size);
  }

  /** Overwrite a member with raw bytes of its size. */
  setRaw(path: string, bytes: Uint8Array): void {
    this.set(path, bytes);
  }
}

export interface WinLayout {
  readonly L: Layout;
  readonly build: WindowsBuild;
  readonly ptrSize: 4 | 8;
  readonly sizes: {
    eprocess: number;
    ethread: number;
    kthread: number;
    kprocess: number;
    objectHeader: number;
    poolHeader: number;
    handleTable: number;
    handleEntry: number;
    peb: number;
    params: number;
    listEntry: number;
    unicodeString: number;
  };
  /** _OBJECT_HEADER.Body: where the object starts after its header. */
  readonly bodyOffset: number;
  /** Pool block granularity in bytes (BlockSize unit). */
  readonly gran: number;
  /** Length of ImageFileName (15 or 16). */
  readonly nameLength: number;
  /** Sizes of the optional object headers by type name. */
  optionalSize(type: string): number;
  struct(type: string, bytes: Uint8Array, base: number): Struct;
  off(type: string, path: string): number;
}

const cache = new Map<string, WinLayout>();

export function winLayout(build: WindowsBuild): WinLayout {
  const hit = cache.get(build.name);
  if (hit) return hit;
  const L = loadLayout(build.isfPath);
  const f = build.facts;
  if (L.pointerSize !== f.pointer_size) throw L.error(undefined, undefined, `pointer size ${L.pointerSize} disagrees with the facts (${f.pointer_size})`);
  const bodyOffset = L.offsetOf('_OBJECT_HEADER', 'Body');
  if (bodyOffset !== f.object_header.body_offset) throw L.error('_OBJECT_HEADER', 'Body', `at ${bodyOffset}, the facts say ${f.object_header.body_offset}`);
  if (L.sizeOf('_POOL_HEADER') !== f.pool.header_size) throw L.error('_POOL_HEADER', undefined, `size ${L.sizeOf('_POOL_HEADER')}, the facts say ${f.pool.header_size}`);
  const nameLength = L.member('_EPROCESS', f.image_file_name.member).size;
  const w: WinLayout = {
    L,
    build,
    ptrSize: f.pointer_size,
    sizes: {
      eprocess: L.sizeOf('_EPROCESS'),
      ethread: L.sizeOf('_ETHREAD'),
      kthread: L.sizeOf('_KTHREAD'),
      kprocess: L.sizeOf('_KPROCESS'),
      objectHeader: bodyOffset,
      poolHeader: f.pool.header_size,
      handleTable: L.sizeOf('_HANDLE_TABLE'),
      handleEntry: L.sizeOf('_HANDLE_TABLE_ENTRY'),
      peb: L.sizeOf('_PEB'),
      params: L.sizeOf('_RTL_USER_PROCESS_PARAMETERS'),
      listEntry: L.sizeOf('_LIST_ENTRY'),
      unicodeString: L.sizeOf('_UNICODE_STRING'),
    },
    bodyOffset,
    gran: f.pool.granularity,
    nameLength,
    optionalSize: (type) => L.sizeOf(type),
    struct: (type, bytes, base) => new Struct(L, type, bytes, base),
    off: (type, path) => L.offsetOf(type, path),
  };
  cache.set(build.name, w);
  return w;
}

/** Round `n` up to a multiple of `to`. */
export function roundUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

/** UTF-16LE bytes of `s` (what UNICODE_STRING buffers hold), without a terminator. */
export function utf16(s: string): Uint8Array {
  const out = new Uint8Array(s.length * 2);
  for (let i = 0; i < s.length; i += 1) {
    const c = s.charCodeAt(i);
    out[2 * i] = c & 0xff;
    out[2 * i + 1] = c >>> 8;
  }
  return out;
}

/** The 4 tag bytes as stored: the ASCII tag, with bit 31 set when the build protects object tags (before Windows 8). */
export function poolTagBytes(tag: string, protectedBit: boolean): Uint8Array {
  if (tag.length !== 4) throw new RangeError(`pool tag ${JSON.stringify(tag)} is not 4 characters`);
  const b = new Uint8Array(4);
  for (let i = 0; i < 4; i += 1) b[i] = tag.charCodeAt(i) & 0xff;
  if (protectedBit) b[3] = b[3]! | 0x80;
  return b;
}
