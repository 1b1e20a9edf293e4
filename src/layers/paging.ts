// The page-table walker: one loop over a PagingMode's levels (paging-modes.ts) does
// x86-64 4-level, 5-level and 32-bit PAE translation, and one recursive pass over the
// same levels enumerates every mapping. Entries are read through a PhysReadable, so
// the tables may live in an image file, in memory, or in a PageTableBuilder.
//
// Entries are decoded as two 32-bit halves: every field kcarve needs (Present, PS, the
// address bits 51:12) fits in a JS number that way, and bigint stays out of the loop
// except for the virtual address itself.
import { type PhysAddr, type VirtAddr, hex, phys, virt } from '../addr.js';
import { InvalidAddressError } from '../errors.js';
import { type PagingLevel, type PagingMode, PTE_PRESENT, PTE_PS, canonicalize, isCanonical } from './paging-modes.js';
import type { PhysReadable, PhysicalReader } from './physical.js';
import type { AddressTranslator, TranslatedSpan } from './virtual.js';

/** One entry read during a walk. */
export interface WalkStep {
  readonly level: string;
  readonly index: number;
  readonly entryPa: PhysAddr;
  readonly entry: bigint;
}

export interface Translation {
  readonly pa: PhysAddr;
  /** Size of the page that maps the address (4 KiB, 2 MiB, 1 GiB). */
  readonly pageSize: number;
  /** The level whose entry mapped the page ('PT', 'PD' for 2 MiB, 'PDPT' for 1 GiB). */
  readonly level: string;
  readonly steps: readonly WalkStep[];
}

/** One present leaf entry: [va, va + size) maps to [pa, pa + size). */
export interface Mapping {
  readonly va: VirtAddr;
  readonly pa: PhysAddr;
  readonly size: number;
  readonly level: string;
}

export interface MappingsOptions {
  /** Only mappings that end at or after this VA (default 0). */
  readonly from?: VirtAddr;
  /** Only mappings that start at or before this VA, inclusive (default the top). */
  readonly to?: VirtAddr;
  /**
   * Called for a table the physical layer does not hold (its subtree is skipped).
   * Without it such a table throws InvalidAddressError.
   */
  readonly onUnreadableTable?: (info: { level: string; tablePa: PhysAddr; va: VirtAddr; error: InvalidAddressError }) => void;
}

/** Frame address in an entry whose low half is `lo`, high half `hi`, for a page of 2^shift. */
function frameOf(lo: number, hi: number, shift: number, addressBits: number): number {
  const hiMask = 2 ** (addressBits - 32) - 1;
  if (shift >= 32) return (hi & hiMask & ~(2 ** (shift - 32) - 1)) * 2 ** 32;
  const loMask = (0xffffffff << shift) >>> 0;
  return (hi & hiMask) * 2 ** 32 + ((lo & loMask) >>> 0);
}

function entryBigint(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

/** Bits [shift, shift + bits) of a VA given as two 32-bit halves. */
function vaBits(lo: number, hi: number, shift: number, bits: number): number {
  const mask = 2 ** bits - 1;
  if (shift >= 32) return (hi >>> (shift - 32)) & mask;
  if (shift + bits <= 32) return (lo >>> shift) & mask;
  return ((lo >>> shift) | (hi << (32 - shift))) & mask;
}

export class PagingTranslator implements AddressTranslator {
  /** The root table's physical address (the CR3 value with its low bits cleared). */
  readonly rootTable: PhysAddr;
  readonly description: string;
  private readonly shifts: bigint[];
  // One 8-byte scratch buffer for entries when the layer can read into it.
  private readonly scratch = new Uint8Array(8);
  private readonly scratchView = new DataView(this.scratch.buffer);
  private readonly readInto: ((pa: PhysAddr, target: Uint8Array) => void) | undefined;

  /** `cr3` is the register value (DTB); its low flag bits (PCID, PWT, PCD) are ignored. */
  constructor(
    readonly physical: PhysReadable,
    readonly mode: PagingMode,
    cr3: PhysAddr,
  ) {
    this.rootTable = phys(cr3 - (cr3 % mode.rootAlignment));
    this.description = `${mode.name} paging from ${hex(this.rootTable)}`;
    this.shifts = mode.levels.map((l) => BigInt(l.shift));
    const withInto = physical as Partial<PhysicalReader>;
    this.readInto = typeof withInto.readPhysInto === 'function' ? withInto.readPhysInto.bind(physical) : undefined;
  }

  /** The entry at entryPa as [low half, high half]. */
  private readEntry(va: VirtAddr, level: PagingLevel, entryPa: number): [number, number] {
    try {
      if (this.readInto !== undefined) {
        this.readInto(phys(entryPa), this.scratch);
        return [this.scratchView.getUint32(0, true), this.scratchView.getUint32(4, true)];
      }
      const bytes = this.physical.readPhys(phys(entryPa), 8);
      const view = new DataView(bytes.buffer, bytes.byteOffset, 8);
      return [view.getUint32(0, true), view.getUint32(4, true)];
    } catch (err) {
      if (err instanceof InvalidAddressError) {
        throw new InvalidAddressError(
          'virtual',
          va,
          `${level.name} entry at physical ${hex(entryPa)} is not in the image (${this.description})`,
        );
      }
      throw err;
    }
  }

  /** Translate `va`, returning every entry read on the way. */
  walkVirt(va: VirtAddr): Translation {
    const steps: WalkStep[] = [];
    const t = this.walk(va, steps);
    return { ...t, steps };
  }

  /**
   * The walk itself. Index and offset arithmetic runs on the VA's two 32-bit halves
   * (no level spans more than 30 offset bits, so offsets fit); bigint only appears
   * when a step is recorded or an error is built.
   */
  private walk(va: VirtAddr, steps: WalkStep[] | undefined): Omit<Translation, 'steps'> {
    const { mode } = this;
    if (!isCanonical(mode, va)) {
      throw new InvalidAddressError('virtual', va, `not a canonical address for ${mode.name} paging`);
    }
    const vaLo = Number(BigInt.asUintN(32, va));
    const vaHi = Number(BigInt.asUintN(32, va >> 32n));
    let table: number = this.rootTable;
    const last = mode.levels.length - 1;
    for (let i = 0; i <= last; i++) {
      const level = mode.levels[i]!;
      const index = vaBits(vaLo, vaHi, level.shift, level.bits);
      const entryPa = table + index * mode.entrySize;
      const [lo, hi] = this.readEntry(va, level, entryPa);
      steps?.push({ level: level.name, index, entryPa: phys(entryPa), entry: entryBigint(lo, hi) });
      if ((lo & PTE_PRESENT) === 0) {
        throw new InvalidAddressError(
          'virtual',
          va,
          `not mapped: ${level.name} entry #${index} at physical ${hex(entryPa)} is not present (${hex(entryBigint(lo, hi))})`,
        );
      }
      const ps = (lo & PTE_PS) !== 0;
      if (i === last || (ps && level.largePage)) {
        const frame = frameOf(lo, hi, level.shift, mode.addressBits);
        const pageSize = 2 ** level.shift;
        const offset = level.shift >= 32 ? Number(BigInt.asUintN(level.shift, va)) : (vaLo % pageSize);
        return { pa: phys(frame + offset), pageSize, level: level.name };
      }
      if (ps) {
        // The CPU raises a reserved-bit page fault here (SDM 4.5: PS is reserved in a PML4E/PML5E).
        throw new InvalidAddressError(
          'virtual',
          va,
          `${level.name} entry #${index} at physical ${hex(entryPa)} sets PS, which is reserved at this level`,
        );
      }
      table = frameOf(lo, hi, 12, mode.addressBits);
    }
    throw new Error('unreachable: the last level always maps a page');
  }

  translateVirtSpan(va: VirtAddr): TranslatedSpan {
    const t = this.walk(va, undefined);
    return { pa: t.pa, length: t.pageSize - (t.pa % t.pageSize) };
  }

  translateVirt(va: VirtAddr): PhysAddr {
    return this.walk(va, undefined).pa;
  }

  /**
   * Every present leaf mapping, in ascending VA order (canonical addresses: the lower
   * half first, then the upper half). Lazy: stop iterating to stop walking. Self-
   * referencing entries (Windows' self-map) are followed like the CPU would, so the
   * page tables show up as mappings too.
   */
  *mappings(options: MappingsOptions = {}): Generator<Mapping, void, undefined> {
    const from = BigInt(options.from ?? 0n);
    const to = BigInt(options.to ?? 0xffff_ffff_ffff_ffffn);
    yield* this.walkTable(0, this.rootTable, 0n, from, to, options);
  }

  private *walkTable(
    depth: number,
    tablePa: number,
    base: bigint,
    from: bigint,
    to: bigint,
    options: MappingsOptions,
  ): Generator<Mapping, void, undefined> {
    const { mode } = this;
    const level = mode.levels[depth]!;
    const entries = 2 ** level.bits;
    let table: Uint8Array;
    try {
      table = this.physical.readPhys(phys(tablePa), entries * mode.entrySize);
    } catch (err) {
      if (err instanceof InvalidAddressError && options.onUnreadableTable !== undefined) {
        options.onUnreadableTable({ level: level.name, tablePa: phys(tablePa), va: virt(canonicalize(mode, base)), error: err });
        return;
      }
      if (err instanceof InvalidAddressError) {
        throw new InvalidAddressError(
          'virtual',
          canonicalize(mode, base),
          `${level.name} table at physical ${hex(tablePa)} is not in the image (${this.description})`,
        );
      }
      throw err;
    }
    const view = new DataView(table.buffer, table.byteOffset, table.byteLength);
    const shift = this.shifts[depth]!;
    const span = 1n << shift;
    const last = depth === mode.levels.length - 1;
    for (let index = 0; index < entries; index++) {
      const lo = view.getUint32(index * 8, true);
      if ((lo & PTE_PRESENT) === 0) continue;
      const raw = base | (BigInt(index) << shift);
      const va = canonicalize(mode, raw);
      if (va + span - 1n < from || va > to) continue;
      const hi = view.getUint32(index * 8 + 4, true);
      const ps = (lo & PTE_PS) !== 0;
      if (last || (ps && level.largePage)) {
        yield { va: virt(va), pa: phys(frameOf(lo, hi, level.shift, mode.addressBits)), size: 2 ** level.shift, level: level.name };
      } else if (!ps) {
        yield* this.walkTable(depth + 1, frameOf(lo, hi, 12, mode.addressBits), raw, from, to, options);
      }
      // PS set where it is reserved: the CPU faults on such an entry, so it maps nothing.
    }
  }
}

/** A run of mappings contiguous in both spaces. */
export interface MappedRange {
  readonly va: VirtAddr;
  readonly pa: PhysAddr;
  readonly length: number;
}

/** Merge consecutive mappings whose VA and PA ranges both continue the previous one. */
export function* coalesceMappings(mappings: Iterable<Mapping>): Generator<MappedRange, void, undefined> {
  let cur: { va: bigint; pa: number; length: number } | undefined;
  for (const m of mappings) {
    if (cur !== undefined && cur.va + BigInt(cur.length) === BigInt(m.va) && cur.pa + cur.length === m.pa) {
      cur.length += m.size;
      continue;
    }
    if (cur !== undefined) yield { va: virt(cur.va), pa: phys(cur.pa), length: cur.length };
    cur = { va: BigInt(m.va), pa: m.pa, length: m.size };
  }
  if (cur !== undefined) yield { va: virt(cur.va), pa: phys(cur.pa), length: cur.length };
}
