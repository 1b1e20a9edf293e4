// Kernel globals in the data section of ntoskrnl's image: PsActiveProcessHead (the head
// of the process list), PspCidTable (pointer to the CID handle table),
// PsInitialSystemProcess, the object types (XP: PsProcessType/PsThreadType pointers; 7 and
// later: ObTypeIndexTable), ObHeaderCookie (Windows 10) and HandleTableListHead (every
// handle table's HandleTableList is on it). The packs have no symbols (README: kernel
// addresses differ per build and boot), so this world places them itself and records
// their addresses in truth.layout.
import type { PhysCanvas } from '../canvas.js';
import { PAGE_SIZE } from '../memory-map.js';
import type { Prng } from '../prng.js';
import type { WinKernelSpace } from './address-space.js';
import type { Struct, WinLayout } from './layout.js';
import { roundUp } from './layout.js';

export class KernelData {
  /** VA and PA of the first byte of the area. */
  readonly va: bigint;
  readonly pa: number;
  readonly bytes: Uint8Array;
  private cursor = 0;
  readonly symbols = new Map<string, bigint>();
  private readonly sizes = new Map<string, number>();

  constructor(
    private readonly w: WinLayout,
    ks: WinKernelSpace,
    rng: Prng,
    pages = 2,
  ) {
    // Somewhere in the image's data (after read-only data), page-aligned.
    const dataPages = Math.floor((ks.image.size - ks.image.rodataEnd) / PAGE_SIZE) - pages;
    const off = ks.image.rodataEnd + rng.int(Math.max(1, dataPages)) * PAGE_SIZE;
    const pageOff = off - ((ks.image.pa + off) % PAGE_SIZE);
    this.va = ks.image.va + BigInt(pageOff);
    this.pa = ks.imagePa(this.va);
    this.bytes = new Uint8Array(pages * PAGE_SIZE);
    this.cursor = 16 * (1 + rng.int(32));
  }

  /** Reserve `size` bytes for symbol `name` (pointer-aligned, with a little room between symbols). */
  reserve(name: string, size: number): { off: number; va: bigint } {
    const off = roundUp(this.cursor, Math.max(this.w.ptrSize, 8));
    if (off + size > this.bytes.length) throw new Error(`synth windows: kernel data area full at ${name}`);
    this.cursor = off + size + this.w.ptrSize * 2;
    const va = this.va + BigInt(off);
    this.symbols.set(name, va);
    this.sizes.set(name, size);
    return { off, va };
  }

  /** A structure of the layout as symbol `name`. */
  struct(name: string, type: string): { s: Struct; va: bigint } {
    const { off, va } = this.reserve(name, this.w.L.sizeOf(type));
    return { s: this.w.struct(type, this.bytes, off), va };
  }

  /** A pointer-sized variable. */
  setPointer(name: string, value: bigint): bigint {
    const { off, va } = this.reserve(name, this.w.ptrSize);
    const v = new DataView(this.bytes.buffer);
    if (this.w.ptrSize === 8) v.setBigUint64(off, value, true);
    else v.setUint32(off, Number(BigInt.asUintN(32, value)), true);
    return va;
  }

  /** A 32-bit variable. */
  setU32(name: string, value: number): bigint {
    const { off, va } = this.reserve(name, 4);
    new DataView(this.bytes.buffer).setUint32(off, value >>> 0, true);
    return va;
  }

  /** An array of pointers (ObTypeIndexTable). */
  setPointers(name: string, values: readonly bigint[]): bigint {
    const { off, va } = this.reserve(name, values.length * this.w.ptrSize);
    const v = new DataView(this.bytes.buffer);
    values.forEach((x, i) => (this.w.ptrSize === 8 ? v.setBigUint64(off + 8 * i, x, true) : v.setUint32(off + 4 * i, Number(BigInt.asUintN(32, x)), true)));
    return va;
  }

  symbol(name: string): bigint {
    const v = this.symbols.get(name);
    if (v === undefined) throw new Error(`synth windows: no kernel symbol ${name}`);
    return v;
  }

  /** Physical address of a symbol. */
  symbolPa(name: string): number {
    return this.pa + Number(this.symbol(name) - this.va);
  }

  /** Write the symbols over the image's background (the bytes between them keep the data-section noise). */
  commit(canvas: PhysCanvas): void {
    const area = canvas.read(this.pa, this.bytes.length);
    for (const [name, va] of this.symbols) {
      const off = Number(va - this.va);
      area.set(this.bytes.subarray(off, off + this.sizes.get(name)!), off);
    }
    canvas.write(this.pa, area);
  }
}
