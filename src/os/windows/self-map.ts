// Windows maps its own page tables through one self-referencing entry, and that is how a
// kernel page-table root is recognised in an image without symbols (facts
// address_space; Volatility 3 framework/automagic/windows.py, DtbSelfRef64bit and
// DtbSelfRefPae, read for the facts):
// - x64: one PML4 entry in the kernel half points to the PML4 page itself — entry 0x1ED
//   up to Windows 10 1511, a random one per boot since 1607 (facts pml4_self_ref_note).
// - XP PAE: CR3 names a 32-byte table of four PDPTEs; entries 0..3 of the fourth page
//   directory point at the four page directories, mapping them at PDE_BASE 0xC0600000
//   (facts self_map_index.pae, pte_base 0xC0000000).
// A process's root carries the kernel half too, so each process DTB passes; telling the
// kernel's own (System's) apart is discovery's job (./discover.ts).
import { type PhysAddr, phys } from '../../addr.js';
import { InvalidAddressError } from '../../errors.js';
import type { PhysReadable } from '../../layers/physical.js';
import { canonicalize, X86_64_4LEVEL } from '../../layers/paging-modes.js';

/** Entry bits 51:12: the next table's frame (Intel SDM vol. 3A, 4.4-4.5). */
const FRAME = 0x000f_ffff_ffff_f000n;
const PRESENT = 1n;

export interface SelfMap {
  /** x64: the PML4 index of the self-reference; PAE: 3 (the fourth page directory). */
  index: number;
  /** VA range the page tables appear at: [start, end). */
  start: bigint;
  end: bigint;
  /** Present entries of the user half of the root (PML4 0..255; PAE: PDEs of directories 0 and 1). */
  userEntries: number;
}

function entries(bytes: Uint8Array): BigUint64Array {
  return new BigUint64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

function read(image: PhysReadable, pa: number, length: number): Uint8Array | undefined {
  try {
    return image.readPhys(phys(pa), length);
  } catch (err) {
    if (err instanceof InvalidAddressError || err instanceof RangeError) return undefined;
    throw err;
  }
}

/**
 * If the page at `dtb` (x64 CR3; low flag bits ignored) is a PML4 with a self-referencing
 * entry in the kernel half and at least `minKernelEntries` other present kernel-half
 * entries, describe it; else undefined.
 */
export function x64SelfMap(image: PhysReadable, dtb: bigint, minKernelEntries = 1): SelfMap | undefined {
  const root = dtb & FRAME;
  if (root === 0n || root >= 2n ** 52n) return undefined;
  const page = read(image, Number(root), 4096);
  if (page === undefined) return undefined;
  const e = entries(page);
  let index = -1;
  let kernel = 0;
  for (let i = 256; i < 512; i += 1) {
    const v = e[i]!;
    if ((v & PRESENT) === 0n) continue;
    if ((v & FRAME) === root) {
      if (index >= 0) return undefined; // two self-references: not a Windows PML4
      index = i;
    } else {
      kernel += 1;
    }
  }
  if (index < 0 || kernel < minKernelEntries) return undefined;
  let userEntries = 0;
  for (let i = 0; i < 256; i += 1) if ((e[i]! & PRESENT) !== 0n) userEntries += 1;
  const start = canonicalize(X86_64_4LEVEL, BigInt(index) << 39n);
  return { index, start, end: start + (1n << 39n), userEntries };
}

/**
 * If `dtb` (XP PAE CR3: a 32-byte aligned PDPT below 4 GiB) names four present page
 * directories whose fourth maps the four in its entries 0..3, describe the self-map.
 * `pteBase` is the facts' PTE_BASE (0xC0000000).
 */
export function paeSelfMap(image: PhysReadable, dtb: bigint, pteBase: bigint): SelfMap | undefined {
  if (dtb === 0n || dtb % 32n !== 0n || dtb >= 2n ** 32n) return undefined;
  const pdpt = read(image, Number(dtb), 32);
  if (pdpt === undefined) return undefined;
  const p = entries(pdpt);
  const dirs: bigint[] = [];
  for (let k = 0; k < 4; k += 1) {
    if ((p[k]! & PRESENT) === 0n) return undefined;
    dirs.push(p[k]! & FRAME);
  }
  const top = read(image, Number(dirs[3]!), 4096);
  if (top === undefined) return undefined;
  const t = entries(top);
  for (let k = 0; k < 4; k += 1) {
    if ((t[k]! & PRESENT) === 0n || (t[k]! & FRAME) !== dirs[k]) return undefined;
  }
  let userEntries = 0;
  for (const k of [0, 1]) {
    const d = read(image, Number(dirs[k]!), 4096);
    if (d === undefined) continue;
    const de = entries(d);
    for (let i = 0; i < 512; i += 1) if ((de[i]! & PRESENT) !== 0n) userEntries += 1;
  }
  // Four directories of 512 entries, each mapping a 4 KiB table page: 4 · 2 MiB of PTEs.
  return { index: 3, start: pteBase, end: pteBase + 4n * (2n << 20n), userEntries };
}

/** The page-table root (as a PhysAddr) of a CR3 value: bits 51:12 (x64), bits 31:5 (PAE). */
export function rootOf(dtb: bigint, pae: boolean): PhysAddr {
  return phys(pae ? dtb & 0xffff_ffe0n : dtb & FRAME);
}
