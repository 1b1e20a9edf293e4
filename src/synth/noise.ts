// Background memory that looks like a kernel's: slab pages of small objects with list
// heads, reference counts and ops pointers; arrays of struct page; log text, environment
// strings and paths; x86 code; compressed (high-entropy) data; sparse pages; page tables.
// A scanner must tell objects from this, not from random bytes.
//
// Speed (goal: a whole world at <= 5 s/GiB): every kind has a bank of template pages built
// once per world; a page of the image is a template, rotated by a multiple of 64 bytes,
// with its page-relative pointers relocated to the page's own address and a few words
// stamped, all chosen by a hash of the page frame number. Filling a page is two copies and
// a few dozen word writes, and the content of any page can be recomputed on its own
// (tests and object placement read the background of one page without streaming the rest).
import type { Prng } from './prng.js';
import { PAGE_SIZE } from './memory-map.js';
import { textTemplate } from './noise-text.js';
import { codeTemplate, entropyTemplate, firmwareTemplate, lowMemoryTemplate, pageTableTemplate, slabTemplate, sparseTemplate, structPageTemplate } from './noise-kinds.js';

/** Content kinds of a page. 0 is zero; 1..15 are the common kinds; worlds define 16..255. */
export const NoiseKind = {
  zero: 0,
  slab: 1,
  structPages: 2,
  text: 3,
  code: 4,
  entropy: 5,
  sparse: 6,
  pageTable: 7,
  lowMemory: 8,
  firmware: 9,
} as const;
export type NoiseKindName = keyof typeof NoiseKind;
/** First kind number a world may define with NoiseBank.define. */
export const FIRST_WORLD_KIND = 16;

/** What the templates need to know about the world's address space. */
export interface NoiseEnv {
  /** 8 on x86-64, 4 on 32-bit x86. */
  readonly pointerSize: 4 | 8;
  /** Page-relative pointers (a list head pointing at itself) get va = selfBase + pa. */
  readonly selfBase: bigint;
  /** A pointer to some other kernel heap object. */
  heapPointer(rng: Prng): bigint;
  /** A pointer into kernel code or read-only data (an ops table, a function). */
  codePointer(rng: Prng): bigint;
  /** A pointer to a struct page (Linux vmemmap); defaults to heapPointer. */
  structPagePointer?(rng: Prng): bigint;
  /** A user-space pointer. */
  userPointer(rng: Prng): bigint;
  /** Words that real memory of this world would mention (process names, paths). */
  readonly words: readonly string[];
  /** Page frames that exist (for page-table entries). */
  readonly pageCount: number;
}

/** Pointer-sized writes into a template page, recording page-relative pointers for relocation. */
export class TemplatePage {
  readonly bytes = new Uint8Array(PAGE_SIZE);
  readonly view = new DataView(this.bytes.buffer);
  /** Pairs (byte offset of a pointer, page offset it points to). */
  readonly relocs: number[] = [];

  constructor(readonly pointerSize: 4 | 8) {}

  u8(at: number, v: number): void {
    this.bytes[at] = v;
  }
  u16(at: number, v: number): void {
    this.view.setUint16(at, v, true);
  }
  u32(at: number, v: number): void {
    this.view.setUint32(at, v >>> 0, true);
  }
  u64(at: number, v: bigint): void {
    this.view.setBigUint64(at, BigInt.asUintN(64, v), true);
  }
  /** A pointer-sized value. */
  ptr(at: number, v: bigint): void {
    if (this.pointerSize === 8) this.u64(at, v);
    else this.u32(at, Number(BigInt.asUintN(32, v)));
  }
  /** A pointer to `target` bytes into this same page (relocated per page). */
  selfPtr(at: number, target: number): void {
    this.relocs.push(at, target & (PAGE_SIZE - 1));
  }
  ascii(at: number, text: string): number {
    const n = Math.min(text.length, PAGE_SIZE - at);
    for (let i = 0; i < n; i += 1) this.bytes[at + i] = text.charCodeAt(i) & 0xff;
    return n;
  }
}

export type TemplateBuilder = (rng: Prng, env: NoiseEnv, page: TemplatePage, index: number) => void;

interface TemplateSet {
  readonly name: string;
  readonly pages: Uint8Array;
  readonly relocs: Int32Array[];
  /** Overwrite a few words per page with small values (not for text, which it would garble). */
  readonly stamp: boolean;
  /** Rotate templates by 64-byte steps (off for kinds whose layout is page-absolute). */
  readonly rotate: boolean;
}

function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  h ^= h >>> 16;
  return h >>> 0;
}

const BUILTIN: readonly { kind: number; name: string; build: TemplateBuilder; stamp: boolean; rotate: boolean }[] = [
  { kind: NoiseKind.slab, name: 'slab', build: slabTemplate, stamp: true, rotate: true },
  { kind: NoiseKind.structPages, name: 'struct-pages', build: structPageTemplate, stamp: false, rotate: true },
  { kind: NoiseKind.text, name: 'text', build: textTemplate, stamp: false, rotate: true },
  { kind: NoiseKind.code, name: 'code', build: codeTemplate, stamp: false, rotate: true },
  { kind: NoiseKind.entropy, name: 'entropy', build: entropyTemplate, stamp: false, rotate: true },
  { kind: NoiseKind.sparse, name: 'sparse', build: sparseTemplate, stamp: true, rotate: true },
  { kind: NoiseKind.pageTable, name: 'page-table', build: pageTableTemplate, stamp: false, rotate: false },
  { kind: NoiseKind.lowMemory, name: 'low-memory', build: lowMemoryTemplate, stamp: false, rotate: false },
  { kind: NoiseKind.firmware, name: 'firmware', build: firmwareTemplate, stamp: false, rotate: true },
];

export class NoiseBank {
  private readonly sets: (TemplateSet | undefined)[] = new Array(256);
  private readonly salt: number;
  private readonly baseLo: number;
  private readonly baseHi: number;

  constructor(
    readonly env: NoiseEnv,
    private readonly rng: Prng,
    readonly templatesPerKind = 64,
  ) {
    this.salt = rng.child('salt').u32();
    this.baseLo = Number(BigInt.asUintN(32, env.selfBase));
    this.baseHi = Number(BigInt.asUintN(32, env.selfBase >> 32n));
    for (const b of BUILTIN) this.define(b.kind, b.name, b.build, { stamp: b.stamp, rotate: b.rotate });
  }

  /** Build the templates of a kind (FIRST_WORLD_KIND..255 for a world's own kinds). */
  define(kind: number, name: string, build: TemplateBuilder, options: { stamp?: boolean; rotate?: boolean; templates?: number } = {}): void {
    if (!Number.isInteger(kind) || kind < 1 || kind > 255) throw new RangeError(`noise kind ${kind} out of 1..255`);
    const count = options.templates ?? this.templatesPerKind;
    const rng = this.rng.child(`kind:${name}`);
    const pages = new Uint8Array(count * PAGE_SIZE);
    const relocs: Int32Array[] = [];
    for (let i = 0; i < count; i += 1) {
      const page = new TemplatePage(this.env.pointerSize);
      build(rng, this.env, page, i);
      pages.set(page.bytes, i * PAGE_SIZE);
      relocs.push(Int32Array.from(page.relocs));
    }
    this.sets[kind] = { name, pages, relocs, stamp: options.stamp ?? false, rotate: options.rotate ?? true };
  }

  has(kind: number): boolean {
    return kind === 0 || this.sets[kind] !== undefined;
  }

  kindName(kind: number): string {
    return kind === 0 ? 'zero' : (this.sets[kind]?.name ?? `undefined kind ${kind}`);
  }

  /**
   * Write the background of page `pfn` (kind `kind`) at dst[offset .. offset + 4096).
   * `view` is a DataView over dst's whole buffer region (dst.byteOffset-based).
   */
  fillPage(kind: number, pfn: number, dst: Uint8Array, offset: number, view: DataView): void {
    const PAGE = 4096; // local: this runs once per page of the image
    if (kind === 0) {
      dst.fill(0, offset, offset + PAGE);
      return;
    }
    const set = this.sets[kind];
    if (set === undefined) throw new RangeError(`noise kind ${kind} has no templates (define it first)`);
    const h1 = mix32((pfn ^ this.salt) + Math.imul(kind, 0x9e3779b1));
    const t = h1 % set.relocs.length;
    const shift = set.rotate ? ((h1 >>> 16) & 63) * 64 : 0;
    const src = set.pages.subarray(t * PAGE, (t + 1) * PAGE);
    if (shift === 0) {
      dst.set(src, offset);
    } else {
      dst.set(src.subarray(shift), offset);
      dst.set(src.subarray(0, shift), offset + PAGE - shift);
    }
    const relocs = set.relocs[t]!;
    if (relocs.length > 0) {
      // va of the page = selfBase + pfn * 4096, as two 32-bit halves.
      const pageLo = this.baseLo + (pfn % 1048576) * PAGE;
      const pageHi = this.baseHi + Math.floor(pfn / 1048576);
      for (let i = 0; i < relocs.length; i += 2) {
        const at = (relocs[i]! - shift) & (PAGE - 1);
        const target = (relocs[i + 1]! - shift) & (PAGE - 1);
        const lo = pageLo + target;
        if (this.env.pointerSize === 8) {
          view.setUint32(offset + at, lo >>> 0, true);
          view.setUint32(offset + at + 4, (pageHi + Math.floor(lo / 4294967296)) >>> 0, true);
        } else {
          view.setUint32(offset + at, lo >>> 0, true);
        }
      }
    }
    if (set.stamp) {
      // A few words of per-page variety: small counters and flags, as objects differ.
      let h = mix32(h1 ^ 0x5bd1e995);
      for (let k = 0; k < 3; k += 1) {
        const word = (h & 511) * 8;
        h = mix32(h + k);
        view.setUint32(offset + word, h & 0x1f, true);
        view.setUint32(offset + word + 4, 0, true);
      }
    }
  }

  /** The background of one page as a new buffer. */
  page(kind: number, pfn: number): Uint8Array {
    const out = new Uint8Array(PAGE_SIZE);
    this.fillPage(kind, pfn, out, 0, new DataView(out.buffer));
    return out;
  }
}
