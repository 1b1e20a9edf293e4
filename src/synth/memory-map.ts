// The guest physical address space of a synthetic world, shaped like the QEMU `q35`
// machine the real Linux datasets run on, and the runs each image format stores.
//
// Facts:
// - q35 splits RAM at 2 GiB when it does not fit below 4 GiB: QEMU hw/i386/pc_q35.c
//   pc_q35_init, `if (machine->ram_size >= 0xb0000000 || pcmc->gigabyte_split) lowmem =
//   0x80000000`; gigabyte_split is true for every machine type since pc-q35-4.1. RAM above
//   `lowmem` is placed from 4 GiB up ("ram-above-4g"); the gap is PCI space.
// - QEMU's dump-guest-memory (ELF) writes one PT_LOAD per RAM block plus the 256 KiB BIOS
//   flash at 0xfffc0000 (measured: `kcarve info` on datasets/build/train/*/memory.elf of
//   the real Linux images: runs 0x0..RAM and 0xfffc0000..0x100000000).
// - LiME dumps only "System RAM" resources from /proc/iomem (LiME src/main.c walks
//   iomem_resource for "System RAM"). On a q35 guest Linux's e820 map gives page 0 and
//   the legacy 0x9f000..0x100000 area (EBDA, VGA, option and BIOS ROMs) to reserved, so
//   System RAM starts at 0x1000, resumes at 1 MiB, and the top 128 KiB below `lowmem` are
//   kept by the firmware (SeaBIOS reserves them in its e820 table).
// - A raw image is guest memory from 0, holes stored as zeros (QEMU pmemsave).
import { type PhysAddr, hex, phys } from '../addr.js';
import type { RunSpec } from '../layers/image-writer.js';
import { UsageError } from '../errors.js';

export const PAGE_SIZE = 4096;
const MiB = 1 << 20;
const GiB = 2 ** 30;
/** q35 since QEMU 4.1: RAM beyond this goes above 4 GiB. */
export const Q35_LOWMEM = 2 * GiB;
export const BIOS_FLASH_BASE = 0xfffc0000;
export const BIOS_FLASH_SIZE = 256 * 1024;
/** Legacy area the firmware owns: EBDA from 0x9f000, VGA 0xa0000, ROMs to 1 MiB. */
export const LEGACY_HOLE_START = 0x9f000;
export const LEGACY_HOLE_END = 0x100000;
/** Top of low RAM that SeaBIOS keeps for itself (e820 reserved). */
export const FIRMWARE_RESERVED_TOP = 128 * 1024;

export interface PhysRange {
  readonly start: number;
  readonly end: number;
}

export type SynthFormat = 'raw' | 'lime' | 'elf';

export class MemoryMap {
  /** Guest RAM, ascending, page-aligned. */
  readonly ram: readonly PhysRange[];
  /** RAM the OS may allocate from: RAM minus page 0, the legacy hole and the firmware's top. */
  readonly usable: readonly PhysRange[];
  /** Bytes of RAM. */
  readonly size: number;
  /** One past the highest RAM address. */
  readonly end: number;

  private constructor(ram: PhysRange[], usable: PhysRange[]) {
    this.ram = ram;
    this.usable = usable;
    this.size = ram.reduce((n, r) => n + r.end - r.start, 0);
    this.end = ram[ram.length - 1]!.end;
  }

  /** The RAM layout QEMU q35 gives a guest of `size` bytes (a multiple of 1 MiB, >= 16 MiB). */
  static q35(size: number): MemoryMap {
    if (!Number.isSafeInteger(size) || size < 16 * MiB || size % MiB !== 0) {
      throw new UsageError(`memory size ${size} must be a whole number of MiB, at least 16 MiB`);
    }
    const low = Math.min(size, Q35_LOWMEM);
    const ram: PhysRange[] = [{ start: 0, end: low }];
    if (size > low) ram.push({ start: 4 * GiB, end: 4 * GiB + (size - low) });
    const usable: PhysRange[] = [
      { start: PAGE_SIZE, end: LEGACY_HOLE_START },
      { start: LEGACY_HOLE_END, end: low - FIRMWARE_RESERVED_TOP },
    ];
    if (size > low) usable.push(ram[1]!);
    return new MemoryMap(ram, usable);
  }

  /** True when [pa, pa + length) lies in RAM. */
  isRam(pa: number, length = 1): boolean {
    return this.ram.some((r) => pa >= r.start && pa + length <= r.end);
  }

  /** Highest page frame number + 1 (size of per-page tables). */
  get pageCount(): number {
    return this.end / PAGE_SIZE;
  }

  /** The physical ranges an image of `format` stores (see the file comment). */
  runs(format: SynthFormat): RunSpec[] {
    switch (format) {
      case 'raw':
        return [{ paddr: phys(0), length: this.end }];
      case 'elf':
        return [...this.ram.map((r) => run(r.start, r.end)), run(BIOS_FLASH_BASE, BIOS_FLASH_BASE + BIOS_FLASH_SIZE)].sort(
          (a, b) => a.paddr - b.paddr,
        );
      case 'lime': {
        const low = this.ram[0]!.end;
        const out = [run(PAGE_SIZE, LEGACY_HOLE_START), run(LEGACY_HOLE_END, low - FIRMWARE_RESERVED_TOP)];
        for (const r of this.ram.slice(1)) out.push(run(r.start, r.end));
        return out;
      }
    }
  }

  describe(): string {
    return this.ram.map((r) => `${hex(r.start)}..${hex(r.end)}`).join(', ');
  }
}

function run(start: number, end: number): RunSpec {
  return { paddr: phys(start) as PhysAddr, length: end - start };
}

/** Parse "256M", "1G", "512MiB", "64m" or a byte count. */
export function parseSize(text: string): number {
  const m = /^\s*([0-9]+)\s*([kmgt]?)(i?b)?\s*$/i.exec(text);
  if (!m) throw new UsageError(`--size ${JSON.stringify(text)}: expected a size such as 256M, 1G or 4GiB`);
  const unit = { '': 1, k: 1024, m: MiB, g: GiB, t: 1024 * GiB }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  const n = Number(m[1]) * unit;
  if (!Number.isSafeInteger(n)) throw new UsageError(`--size ${JSON.stringify(text)} is too large`);
  return n;
}
