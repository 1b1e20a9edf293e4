// The shape of pointers in a kernel address space, as the trainer needs it: which
// pointer mode the matcher's kptr tests use, and which address regions stay fixed
// across boots (so a `range` learned from them holds on images the trainer never
// saw). Regions that move with KASLR (the direct map, vmalloc, vmemmap) are only
// fixed as a group: the kernel randomises them inside one window.
//
// Facts:
// - Linux x86-64, 4-level: Documentation/arch/x86/x86_64/mm.rst (6.1): user space
//   0..0x00007fffffffffff; the direct map, vmalloc and vmemmap bases are randomised
//   together inside [__PAGE_OFFSET_BASE_L4 = 0xffff888000000000, CPU_ENTRY_AREA_BASE =
//   0xfffffe0000000000) by arch/x86/mm/kaslr.c (vaddr_start / vaddr_end); the kernel
//   image is mapped at __START_KERNEL_map = 0xffffffff80000000 over KERNEL_IMAGE_SIZE =
//   1 GiB with CONFIG_RANDOMIZE_BASE; modules follow it up to 0xfffffffffeffffff
//   (MODULES_VADDR = __START_KERNEL_map + KERNEL_IMAGE_SIZE, MODULES_END).
// - Linux x86-64, 5-level: same document; user space up to 0x00ffffffffffffff, the
//   KASLR window starts at __PAGE_OFFSET_BASE_L5 = 0xff11000000000000.
// - Windows x64: user space ends at 0x7ffffffeffff (MmHighestUserAddress), the kernel
//   half starts at 0xffff800000000000 (Windows Internals 7th ed., ch. 5).
// - Windows x86: 2 GiB user / 2 GiB system split without /3GB (same source).
import type { PointerMode } from '../signatures/program.js';
import { KERNEL_BASE } from '../signatures/reference.js';

export interface AddressRegion {
  /** Short name used in reports and constraint notes. */
  name: string;
  /** Inclusive bounds (unsigned). */
  min: bigint;
  max: bigint;
  /** Where the bounds come from. */
  note: string;
}

export interface PointerShape {
  os: 'linux' | 'windows';
  mode: PointerMode;
  /** Pointer width in bytes. */
  width: 4 | 8;
  /** Regions whose bounds do not change from boot to boot, narrowest last. */
  regions: AddressRegion[];
}

const U64_MAX = 0xffff_ffff_ffff_ffffn;
const MM_RST = 'Documentation/arch/x86/x86_64/mm.rst (Linux 6.1)';

const LINUX_4: AddressRegion[] = [
  { name: 'user', min: 1n, max: 0x0000_7fff_ffff_ffffn, note: `user space, ${MM_RST}` },
  { name: 'kernel', min: KERNEL_BASE['x86-64-4'], max: U64_MAX, note: `kernel half, ${MM_RST}` },
  {
    name: 'kaslr-data',
    min: 0xffff_8880_0000_0000n,
    max: 0xffff_fdff_ffff_ffffn,
    note: `direct map, vmalloc and vmemmap: randomised together in [vaddr_start, vaddr_end) by arch/x86/mm/kaslr.c; ${MM_RST}`,
  },
  { name: 'kernel-image', min: 0xffff_ffff_8000_0000n, max: 0xffff_ffff_bfff_ffffn, note: `__START_KERNEL_map + KERNEL_IMAGE_SIZE (1 GiB with RANDOMIZE_BASE), ${MM_RST}` },
  { name: 'modules', min: 0xffff_ffff_c000_0000n, max: 0xffff_ffff_feff_ffffn, note: `MODULES_VADDR..MODULES_END, ${MM_RST}` },
];

const LINUX_5: AddressRegion[] = [
  { name: 'user', min: 1n, max: 0x00ff_ffff_ffff_ffffn, note: `user space with 5-level paging, ${MM_RST}` },
  { name: 'kernel', min: KERNEL_BASE['x86-64-5'], max: U64_MAX, note: `kernel half with 5-level paging, ${MM_RST}` },
  {
    name: 'kaslr-data',
    min: 0xff11_0000_0000_0000n,
    max: 0xffff_fdff_ffff_ffffn,
    note: `direct map, vmalloc and vmemmap with 5-level paging, randomised by arch/x86/mm/kaslr.c; ${MM_RST}`,
  },
  LINUX_4[3]!,
  LINUX_4[4]!,
];

const WINDOWS_64: AddressRegion[] = [
  { name: 'user', min: 0x1_0000n, max: 0x7fff_fffe_ffffn, note: 'MmHighestUserAddress, Windows Internals 7th ed. ch. 5' },
  { name: 'kernel', min: KERNEL_BASE['x86-64-4'], max: U64_MAX, note: 'x64 system space, Windows Internals 7th ed. ch. 5' },
];

const WINDOWS_32: AddressRegion[] = [
  { name: 'user', min: 0x1_0000n, max: 0x7ffe_ffffn, note: 'x86 user space without /3GB, Windows Internals 7th ed. ch. 5' },
  { name: 'kernel', min: KERNEL_BASE['x86-32'], max: 0xffff_ffffn, note: 'x86 system space without /3GB, Windows Internals 7th ed. ch. 5' },
];

/** The pointer shape of an OS, pointer size and paging depth. */
export function pointerShapeFor(os: 'linux' | 'windows', pointerSize: number, pagingLevels: number): PointerShape {
  if (pointerSize === 4) return { os, mode: 'x86-32', width: 4, regions: os === 'windows' ? WINDOWS_32 : [] };
  const five = pagingLevels === 5;
  const mode: PointerMode = five ? 'x86-64-5' : 'x86-64-4';
  if (os === 'windows') return { os, mode, width: 8, regions: WINDOWS_64 };
  return { os, mode, width: 8, regions: five ? LINUX_5 : LINUX_4 };
}

/**
 * The one shape a set of training images shares, or undefined if they cannot train
 * together (another OS or pointer width). Linux x86-64 images of 4- and 5-level paging
 * train together under the 5-level shape: each of its regions contains the 4-level one
 * of the same name (mm.rst: the 5-level user space, kernel half and KASLR window extend
 * the 4-level ones; the kernel image and modules do not move), so a range learned under
 * it holds on both kinds of kernel.
 */
export function commonShape(shapes: readonly PointerShape[]): PointerShape | undefined {
  const first = shapes[0];
  if (first === undefined) return undefined;
  if (shapes.some((s) => s.os !== first.os || s.width !== first.width)) return undefined;
  const modes = new Set(shapes.map((s) => s.mode));
  if (modes.size === 1) return first;
  if (first.os === 'linux' && [...modes].every((m) => m === 'x86-64-4' || m === 'x86-64-5')) return pointerShapeFor('linux', 8, 5);
  return undefined;
}

/** Is `v` a kernel-half pointer for this shape (the matcher's kptr test)? */
export function isKernelPointer(shape: PointerShape, v: bigint): boolean {
  return v >= KERNEL_BASE[shape.mode] && (shape.width === 8 || v <= 0xffff_ffffn);
}

/** The narrowest fixed region holding every value, if any. */
export function narrowestRegion(shape: PointerShape, min: bigint, max: bigint): AddressRegion | undefined {
  let best: AddressRegion | undefined;
  for (const r of shape.regions) {
    if (min < r.min || max > r.max) continue;
    if (best === undefined || r.max - r.min < best.max - best.min) best = r;
  }
  return best;
}
