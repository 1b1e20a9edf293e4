// Paging modes as data. One walker (paging.ts) and one builder (page-table-builder.ts)
// read these tables; a new mode is a new table, not new code.
//
// Facts from the Intel SDM, vol. 3A, ch. 4 (Paging), sections 4.4 (PAE) and 4.5
// (4-level and 5-level), tables 4-8..4-11 and 4-14..4-20:
// - Every entry is 8 bytes in these modes. Bit 0 is Present; bit 7 is PS in a PDPTE or
//   PDE (1 GiB / 2 MiB page) and is reserved in a PML5E/PML4E/PAE-PDPTE; in a PTE bit 7
//   is PAT, not PS. Bit 63 is XD. Bits 51:12 (up to MAXPHYADDR-1) hold the next table's
//   address; a large page's frame is bits 51:<page shift> (bit 12 of a large-page entry
//   is its PAT bit).
// - 4-level: CR3[51:12] → PML4; VA indices 47:39, 38:30, 29:21, 20:12; VA bits 63:48
//   must copy bit 47 (canonical). 5-level (CR4.LA57): PML5 index 56:48 on top; bits
//   63:57 copy bit 56.
// - PAE (32-bit, e.g. Windows XP with PAE kernel): CR3[31:5] → a 32-byte table of 4
//   PDPTEs indexed by VA 31:30; then PD (29:21, PS → 2 MiB) and PT (20:12). In a PDPTE
//   only Present may be set among the low flag bits: bits 2:1 and 8:5 are reserved
//   (SDM table 4-8), so tables there carry no R/W or U/S.

import { type PhysAddr, phys } from '../addr.js';

export type PagingModeName = 'x86-64-4' | 'x86-64-5' | 'x86-pae';

export interface PagingLevel {
  /** The SDM's name for the table at this level. */
  readonly name: string;
  /** Lowest VA bit of this level's index. An entry here spans 2^shift bytes. */
  readonly shift: number;
  /** Width of the index in VA bits (table has 2^bits entries). */
  readonly bits: number;
  /** PS=1 at this level maps a page of 2^shift bytes. */
  readonly largePage: boolean;
  /** False where the entry may set no flag but Present when it points to a table (PAE PDPTE). */
  readonly tableFlags: boolean;
}

export interface PagingMode {
  readonly name: PagingModeName;
  /** Root table first, page table last. The last level always maps 4 KiB pages. */
  readonly levels: readonly PagingLevel[];
  /** Bytes per entry. */
  readonly entrySize: 8;
  /** Significant VA bits (48, 57, 32). */
  readonly vaBits: number;
  /** Canonical addresses: VA bits above vaBits copy bit vaBits-1. Else they must be 0. */
  readonly signExtend: boolean;
  /** The root table's address is the CR3 value rounded down to this (4096; PAE: 32). */
  readonly rootAlignment: number;
  /** Entry address bits run up to this bit, exclusive (52: the architectural MAXPHYADDR ceiling). */
  readonly addressBits: number;
}

const PT: PagingLevel = { name: 'PT', shift: 12, bits: 9, largePage: false, tableFlags: true };
const PD: PagingLevel = { name: 'PD', shift: 21, bits: 9, largePage: true, tableFlags: true };
const PDPT: PagingLevel = { name: 'PDPT', shift: 30, bits: 9, largePage: true, tableFlags: true };
const PML4: PagingLevel = { name: 'PML4', shift: 39, bits: 9, largePage: false, tableFlags: true };
const PML5: PagingLevel = { name: 'PML5', shift: 48, bits: 9, largePage: false, tableFlags: true };

export const X86_64_4LEVEL: PagingMode = {
  name: 'x86-64-4',
  levels: [PML4, PDPT, PD, PT],
  entrySize: 8,
  vaBits: 48,
  signExtend: true,
  rootAlignment: 4096,
  addressBits: 52,
};

export const X86_64_5LEVEL: PagingMode = {
  name: 'x86-64-5',
  levels: [PML5, PML4, PDPT, PD, PT],
  entrySize: 8,
  vaBits: 57,
  signExtend: true,
  rootAlignment: 4096,
  addressBits: 52,
};

export const X86_PAE: PagingMode = {
  name: 'x86-pae',
  levels: [{ name: 'PDPT', shift: 30, bits: 2, largePage: false, tableFlags: false }, PD, PT],
  entrySize: 8,
  vaBits: 32,
  signExtend: false,
  rootAlignment: 32,
  addressBits: 52,
};

export const PAGING_MODES: Readonly<Record<PagingModeName, PagingMode>> = {
  'x86-64-4': X86_64_4LEVEL,
  'x86-64-5': X86_64_5LEVEL,
  'x86-pae': X86_PAE,
};

/** Entry bits (SDM tables 4-14..4-20). */
export const PTE_PRESENT = 0x1;
export const PTE_WRITABLE = 0x2;
export const PTE_USER = 0x4;
export const PTE_ACCESSED = 0x20;
export const PTE_DIRTY = 0x40;
export const PTE_PS = 0x80;
export const PTE_GLOBAL = 0x100;
/** Bit 63, as the high 32-bit half of an entry holds it. */
export const PTE_HI_NX = 0x80000000;

/** Page sizes a mode can map: 4 KiB plus each large-page level's span, ascending. */
export function pageSizes(mode: PagingMode): number[] {
  const sizes = mode.levels.filter((l) => l.largePage).map((l) => 2 ** l.shift);
  return [4096, ...sizes].sort((a, b) => a - b);
}

/** True when `va` is canonical (or, for PAE, fits in 32 bits). */
export function isCanonical(mode: PagingMode, va: bigint): boolean {
  if (va < 0n || va > 0xffff_ffff_ffff_ffffn) return false;
  const high = va >> BigInt(mode.vaBits - 1);
  if (!mode.signExtend) return va >> BigInt(mode.vaBits) === 0n;
  const all = (1n << BigInt(64 - mode.vaBits + 1)) - 1n;
  return high === 0n || high === all;
}

/** Extend a vaBits-wide address to its canonical 64-bit form. */
export function canonicalize(mode: PagingMode, va: bigint): bigint {
  if (!mode.signExtend) return va;
  const sign = 1n << BigInt(mode.vaBits - 1);
  return va & sign ? va | (0xffff_ffff_ffff_ffffn ^ ((1n << BigInt(mode.vaBits)) - 1n)) : va;
}

/**
 * The root table address in a CR3 value (e.g. from a QEMU CPU-state note): bits 51:12
 * for 4/5-level paging, where the low bits are PCID or PWT/PCD flags (SDM 4.5, table
 * 4-13) and bit 63 is the no-flush hint of MOV to CR3; bits 31:5 for PAE (SDM 4.4.1).
 */
export function rootTableOfCr3(mode: PagingMode, cr3: bigint): PhysAddr {
  const high = mode.signExtend ? (1n << BigInt(mode.addressBits)) - 1n : 0xffff_ffffn;
  const mask = high & ~BigInt(mode.rootAlignment - 1);
  return phys(cr3 & mask);
}
