// What every page of a world holds before objects are placed: a content kind per page
// frame (zero, slab, text, ...; see noise.ts), the noise bank that turns a kind into bytes,
// and the background a running system leaves (populateBackground).
import { hex } from '../addr.js';
import { BIOS_FLASH_BASE, BIOS_FLASH_SIZE, FIRMWARE_RESERVED_TOP, LEGACY_HOLE_END, LEGACY_HOLE_START, type MemoryMap, PAGE_SIZE } from './memory-map.js';
import { NoiseKind, type NoiseBank } from './noise.js';
import type { PageAllocator, PageBlock } from './page-allocator.js';
import type { Prng } from './prng.js';

const VGA_START = 0xa0000;
const ROM_START = 0xc0000;
const BIOS_FLASH_FIRST_PFN = BIOS_FLASH_BASE / PAGE_SIZE;
const BIOS_FLASH_END_PFN = (BIOS_FLASH_BASE + BIOS_FLASH_SIZE) / PAGE_SIZE;

export class PageContent {
  /** Content kind of each page frame below memory.end (0 = zero). */
  readonly kinds: Uint8Array;
  private noise: NoiseBank | undefined;

  constructor(readonly memory: MemoryMap) {
    this.kinds = new Uint8Array(memory.pageCount);
    this.markFirmwareAreas();
  }

  /** The bank that gives each kind its bytes; set once the world knows its address space. */
  setNoise(bank: NoiseBank): void {
    this.noise = bank;
  }

  get bank(): NoiseBank {
    if (this.noise === undefined) throw new Error('PageContent: no noise bank set (call setNoise first)');
    return this.noise;
  }

  /** Give [pa, pa + length) (page-aligned) the content kind `kind`. */
  setKind(pa: number, length: number, kind: number): void {
    if (pa % PAGE_SIZE !== 0 || length % PAGE_SIZE !== 0 || pa + length > this.kinds.length * PAGE_SIZE) {
      throw new RangeError(`setKind: ${hex(pa)} +${hex(length)} is not page-aligned inside memory`);
    }
    this.kinds.fill(kind, pa / PAGE_SIZE, (pa + length) / PAGE_SIZE);
  }

  /** The kind of page `pfn`; the BIOS flash above RAM is firmware, other non-RAM is zero. */
  kindAt(pfn: number): number {
    if (pfn >= BIOS_FLASH_FIRST_PFN && pfn < BIOS_FLASH_END_PFN) return NoiseKind.firmware;
    return pfn < this.kinds.length ? this.kinds[pfn]! : NoiseKind.zero;
  }

  /** The background bytes of page `pfn` into dst[offset, offset + 4096). */
  fillPage(pfn: number, dst: Uint8Array, offset: number, view: DataView): void {
    const kind = this.kindAt(pfn);
    if (kind === 0) dst.fill(0, offset, offset + 4096);
    else this.bank.fillPage(kind, pfn, dst, offset, view);
  }

  /** The background of one page, as a new buffer. */
  page(pfn: number): Uint8Array {
    const out = new Uint8Array(PAGE_SIZE);
    this.fillPage(pfn, out, 0, new DataView(out.buffer));
    return out;
  }

  /**
   * Page 0 holds the IVT and BIOS data area; the EBDA page, option ROMs and BIOS shadow
   * below 1 MiB are firmware; VGA memory (0xa0000..0xc0000) reads as zero in a dump of an
   * idle text console; the firmware keeps the top 128 KiB of low RAM (memory-map.ts).
   */
  private markFirmwareAreas(): void {
    this.kinds[0] = NoiseKind.lowMemory;
    this.kinds.fill(NoiseKind.sparse, LEGACY_HOLE_START / PAGE_SIZE, VGA_START / PAGE_SIZE);
    this.kinds.fill(NoiseKind.firmware, ROM_START / PAGE_SIZE, LEGACY_HOLE_END / PAGE_SIZE);
    const lowTop = this.memory.ram[0]!.end;
    this.kinds.fill(NoiseKind.firmware, (lowTop - FIRMWARE_RESERVED_TOP) / PAGE_SIZE, lowTop / PAGE_SIZE);
  }
}

/** How much of memory a running system has touched, and with what. */
export interface BackgroundOptions {
  /** Fraction of the free pages allocated by earlier activity (default 0.5). */
  readonly used?: number;
  /** Fraction of those blocks freed again, keeping stale bytes (default 0.35). */
  readonly freeBack?: number;
  /** Fraction of freed blocks that read as zero (pages freed after a user zeroed them; default 0.15). */
  readonly freedZero?: number;
  /** Relative weights of the content kinds of touched blocks. */
  readonly mix?: Readonly<Partial<Record<number, number>>>;
}

/**
 * Kinds of touched memory by default. Measured shape to aim for: the real 256 MiB guests
 * (datasets/build/train) have ~68 % zero pages after boot, ~7 % pointer-rich pages, ~1.5 %
 * text, the rest mostly code and data of user programs; a system that has run longer has
 * fewer zero pages, so the default touches half of memory.
 */
export const DEFAULT_MIX: Readonly<Record<number, number>> = {
  [NoiseKind.slab]: 22,
  [NoiseKind.structPages]: 3,
  [NoiseKind.text]: 3,
  [NoiseKind.code]: 18,
  [NoiseKind.entropy]: 25,
  [NoiseKind.sparse]: 24,
  [NoiseKind.pageTable]: 5,
};

/**
 * Fragment `pages` and fill `content` the way earlier activity would: blocks still held
 * get a kind from the mix, freed blocks keep a kind (stale data) or read as zero. Returns
 * the blocks, so a world can point its heap pointers into held ones.
 */
export function populateBackground(pages: PageAllocator, content: PageContent, rng: Prng, options: BackgroundOptions = {}): { held: PageBlock[]; freed: PageBlock[] } {
  const mix = options.mix ?? DEFAULT_MIX;
  const kinds = Object.keys(mix).map(Number);
  const weights = kinds.map((k) => mix[k] ?? 0);
  const { held, freed } = pages.churn(options.used ?? 0.5, options.freeBack ?? 0.35);
  const freedZero = options.freedZero ?? 0.15;
  const size = (b: PageBlock) => PAGE_SIZE << b.order;
  for (const b of held) content.setKind(b.pa, size(b), kinds[rng.weighted(weights)]!);
  for (const b of freed) content.setKind(b.pa, size(b), rng.chance(freedZero) ? NoiseKind.zero : kinds[rng.weighted(weights)]!);
  return { held, freed };
}
