// The kernel address space of a Linux world: where KASLR put the direct map, vmalloc,
// vmemmap and the kernel image, and the kernel page tables that map them.
//
// Facts (Linux 6.1, x86-64):
// - Memory-region KASLR, arch/x86/mm/kaslr.c kernel_randomize_memory: the direct map,
//   vmalloc and vmemmap are placed in that order from vaddr_start = __PAGE_OFFSET_BASE_L4
//   (0xffff888000000000) or _L5 (0xff11000000000000) to CPU_ENTRY_AREA_BASE
//   (0xfffffe0000000000). Sizes in TB: direct map = min(2^(MAX_PHYSMEM_BITS-40),
//   ceil(RAM / 1 TB) + CONFIG_RANDOMIZE_MEMORY_PHYSICAL_PADDING (0xa)); vmalloc =
//   VMALLOC_SIZE_TB (32 with 4 levels, 12800 with 5); vmemmap = ceil(direct-map TB ·
//   2^28 pages · 64 bytes / 1 TB). remain = span - sizes; region i draws
//   entropy = (rand % (remain / (3 - i) + 1)) & PUD_MASK, base = vaddr + entropy,
//   vaddr = round_up(base + size + 1, PUD_SIZE), remain -= entropy. Bases are 1 GiB
//   aligned (measured: page_offset_base 0xffff88fa80000000 etc. in the real truth).
// - Without KASLR: page_offset_base 0xffff888000000000 (L5 0xff11000000000000),
//   vmalloc_base 0xffffc90000000000 (L5 0xffa0000000000000), vmemmap_base
//   0xffffea0000000000 (L5 0xffd4000000000000) (Documentation/x86/x86_64/mm.rst).
// - Kernel image KASLR, arch/x86/boot/compressed/kaslr.c: physical load address a random
//   2 MiB-aligned (CONFIG_PHYSICAL_ALIGN) slot of usable RAM at or above
//   LOAD_PHYSICAL_ADDR (16 MiB); virtual offset a random 2 MiB slot in
//   [16 MiB, KERNEL_IMAGE_SIZE (1 GiB) - image size]. Then va = pa - phys_base +
//   __START_KERNEL_map, phys_base = pa(_text) - (va(_text) - __START_KERNEL_map), which
//   is negative when the kernel sits lower in physical than in virtual memory (the real
//   train-01 truth has phys_base 0xfffffffffec00000).
// - init_top_pgt is the kernel's root page table, in the image's data
//   (_text + 0x1a10000 in this build, measured).
import { type PhysAddr, phys, virt } from '../../addr.js';
import { UsageError } from '../../errors.js';
import { PageTableBuilder } from '../../layers/page-table-builder.js';
import { type PagingMode, X86_64_4LEVEL, X86_64_5LEVEL } from '../../layers/paging-modes.js';
import { START_KERNEL_MAP } from '../../layers/linear-maps.js';
import type { MemoryMap } from '../memory-map.js';
import { PAGE_SIZE } from '../memory-map.js';
import { NoiseKind } from '../noise.js';
import type { PageAllocator } from '../page-allocator.js';
import type { PageContent } from '../page-content.js';
import type { Prng } from '../prng.js';
import type { LinuxBuild } from './builds.js';

const MiB = 1 << 20;
const TWO_MIB = 2 * MiB;
const GiB = 2n ** 30n;
const TB = 2n ** 40n;
const CPU_ENTRY_AREA_BASE = 0xfffffe0000000000n;
const RANDOMIZE_MEMORY_PHYSICAL_PADDING_TB = 0xan;
const LOAD_PHYSICAL_ADDR = 16 * MiB;
const KERNEL_IMAGE_SIZE = 1024 * MiB;

/** Offsets inside the kernel image as this world lays it out (see scaleImage). */
export interface ImageLayout {
  readonly initStack: number;
  readonly initTopPgt: number;
  readonly initTask: number;
  readonly initStructPid: number;
  readonly initCred: number;
  readonly initSignals: number;
  readonly size: number;
  readonly textEnd: number;
  readonly rodataEnd: number;
  /** 2 MiB regions of the real image per region of this one (1 = real layout). */
  readonly squeeze: number;
}

/**
 * The real image is 54 MiB; a world too small to hold it (tests use 16-64 MiB) gets the
 * same image with its 2 MiB regions squeezed together: offsets inside a 2 MiB region are
 * kept (so init_task, init_top_pgt and the init objects keep their distances), region
 * indices are divided. Worlds from 160 MiB up use the real layout.
 */
export function scaleImage(build: LinuxBuild, memorySize: number): ImageLayout {
  const img = build.image;
  const regions = img.size / TWO_MIB;
  const room = Math.floor((memorySize * 0.3) / TWO_MIB);
  const squeeze = memorySize >= 160 * MiB ? 1 : Math.max(1, Math.ceil(regions / Math.max(2, room)));
  const map = (off: number): number => Math.floor(off / TWO_MIB / squeeze) * TWO_MIB + (off % TWO_MIB);
  return {
    initStack: map(img.initStack),
    initTopPgt: map(img.initTopPgt),
    initTask: map(img.initTask),
    initStructPid: map(img.initStructPid),
    initCred: map(img.initCred),
    initSignals: map(img.initSignals),
    size: Math.ceil(regions / squeeze) * TWO_MIB,
    textEnd: Math.max(TWO_MIB, map(img.textEnd)),
    rodataEnd: Math.max(TWO_MIB, map(img.rodataEnd)),
    squeeze,
  };
}

export interface KernelSpace {
  readonly paging: 4 | 5;
  readonly mode: PagingMode;
  readonly kaslr: boolean;
  readonly pageOffsetBase: bigint;
  readonly vmallocBase: bigint;
  readonly vmemmapBase: bigint;
  /** _text: virtual and physical. */
  readonly textVa: bigint;
  readonly textPa: number;
  readonly image: ImageLayout;
  /** The page-table root (init_top_pgt). */
  readonly pt: PageTableBuilder;
}

export function directVa(ks: KernelSpace, pa: number): bigint {
  return ks.pageOffsetBase + BigInt(pa);
}

/** A kernel-image address for an offset from _text in the *real* image layout. */
export function imageVa(ks: KernelSpace, realOffset: number): bigint {
  const s = ks.image.squeeze;
  const off = s === 1 ? realOffset : Math.floor(realOffset / TWO_MIB / s) * TWO_MIB + (realOffset % TWO_MIB);
  return ks.textVa + BigInt(off);
}

/** phys_base as the kernel stores it (a u64; negative values wrap). */
export function physBase(ks: KernelSpace): bigint {
  return BigInt.asUintN(64, BigInt(ks.textPa) - (ks.textVa - START_KERNEL_MAP));
}

/** pa of a kernel virtual address in the direct map or the kernel image; undefined elsewhere. */
export function kernelPa(ks: KernelSpace, va: bigint): number | undefined {
  if (va >= START_KERNEL_MAP) {
    const off = va - ks.textVa;
    return off >= 0n && off < BigInt(ks.image.size) ? ks.textPa + Number(off) : undefined;
  }
  const off = va - ks.pageOffsetBase;
  return off >= 0n && off < 2n ** 52n ? Number(off) : undefined;
}

function randomizeRegions(rng: Prng, paging: 4 | 5, memoryEnd: number): [bigint, bigint, bigint] {
  const start = paging === 5 ? 0xff11000000000000n : 0xffff888000000000n;
  const maxPhysTb = 2n ** BigInt((paging === 5 ? 52 : 46) - 40);
  const memTb = (BigInt(memoryEnd) + TB - 1n) / TB + RANDOMIZE_MEMORY_PHYSICAL_PADDING_TB;
  const directTb = memTb < maxPhysTb ? memTb : maxPhysTb;
  const vmallocTb = paging === 5 ? 12800n : 32n;
  const vmemmapTb = (directTb * 2n ** 28n * 64n + TB - 1n) / TB;
  const sizes = [directTb * TB, vmallocTb * TB, vmemmapTb * TB];
  let remain = CPU_ENTRY_AREA_BASE - start - sizes.reduce((a, b) => a + b, 0n);
  let vaddr = start;
  const bases: bigint[] = [];
  for (let i = 0; i < 3; i += 1) {
    const range = remain / BigInt(3 - i);
    const entropy = (rng.u64() % (range + 1n)) & ~(GiB - 1n);
    vaddr += entropy;
    bases.push(vaddr);
    vaddr += sizes[i]!;
    vaddr = ((vaddr + 1n + GiB - 1n) / GiB) * GiB;
    remain -= entropy;
  }
  return bases as [bigint, bigint, bigint];
}

/**
 * Choose the address space, reserve and describe the kernel image in physical memory,
 * and build the kernel page tables: the direct map over all RAM (largest pages the
 * alignment allows, up to 1 GiB) and the image (2 MiB pages). vmalloc mappings (stacks)
 * are added later with mapVmallocPage.
 */
export function buildKernelSpace(options: { paging: 4 | 5; kaslr: boolean }, build: LinuxBuild, memory: MemoryMap, pages: PageAllocator, content: PageContent, rng: Prng): KernelSpace {
  const { paging, kaslr } = options;
  const image = scaleImage(build, memory.size);
  // usable[1] is low RAM above 1 MiB (memory-map.ts); the kernel is loaded there.
  const lowUsable = memory.usable[1]!;
  const minLoad = Math.min(LOAD_PHYSICAL_ADDR, Math.floor(memory.size / 4 / TWO_MIB) * TWO_MIB);
  const firstSlot = Math.max(Math.ceil(Math.max(lowUsable.start, minLoad) / TWO_MIB), 1);
  const lastSlot = Math.floor((lowUsable.end - image.size) / TWO_MIB);
  if (lastSlot < firstSlot) throw new UsageError(`a ${memory.size >> 20} MiB world has no room for the ${image.size >> 20} MiB kernel image`);
  const textPa = (kaslr ? firstSlot + rng.int(lastSlot - firstSlot + 1) : firstSlot) * TWO_MIB;
  const virtSlots = Math.floor((KERNEL_IMAGE_SIZE - image.size - LOAD_PHYSICAL_ADDR) / TWO_MIB);
  const textVa = START_KERNEL_MAP + BigInt(LOAD_PHYSICAL_ADDR + (kaslr ? rng.int(virtSlots + 1) * TWO_MIB : 0));
  const [pageOffsetBase, vmallocBase, vmemmapBase] = kaslr
    ? randomizeRegions(rng, paging, memory.end)
    : paging === 5
      ? [0xff11000000000000n, 0xffa0000000000000n, 0xffd4000000000000n]
      : [0xffff888000000000n, 0xffffc90000000000n, 0xffffea0000000000n];

  pages.reserve(textPa, image.size);
  // Content of the image: code, then read-only data (strings, tables), then data and bss.
  content.setKind(textPa, image.textEnd, NoiseKind.code);
  // .rodata: strings (printk formats, names) in a third of it, tables in the rest.
  for (let off = image.textEnd; off < image.rodataEnd; off += TWO_MIB) {
    content.setKind(textPa + off, Math.min(TWO_MIB, image.rodataEnd - off), (off / TWO_MIB) % 3 === 0 ? NoiseKind.text : NoiseKind.sparse);
  }
  content.setKind(textPa + image.rodataEnd, image.size - image.rodataEnd, NoiseKind.sparse);

  const mode = paging === 5 ? X86_64_5LEVEL : X86_64_4LEVEL;
  let first = true;
  const pt = new PageTableBuilder(mode, () => {
    // The root is init_top_pgt inside the image; the other tables come from the buddy allocator.
    if (first) {
      first = false;
      const root = textPa + image.initTopPgt;
      content.setKind(root, PAGE_SIZE, NoiseKind.zero);
      return phys(root);
    }
    return allocTablePage(pages, content);
  });
  const ks: KernelSpace = { paging, mode, kaslr, pageOffsetBase, vmallocBase, vmemmapBase, textVa, textPa, image, pt };
  for (const r of memory.ram) pt.mapRange(virt(pageOffsetBase + BigInt(r.start)), phys(r.start), r.end - r.start, { global: true, noExecute: true }, 2 ** 30);
  pt.mapRange(virt(textVa), phys(textPa), image.size, { global: true }, TWO_MIB);
  return ks;
}

/** A zeroed page for a page table, from the buddy allocator. */
export function allocTablePage(pages: PageAllocator, content: PageContent): PhysAddr {
  const pa = pages.allocPage();
  content.setKind(pa, PAGE_SIZE, NoiseKind.zero);
  return pa;
}

/** Map one 4 KiB vmalloc page (a kernel stack page). */
export function mapVmallocPage(ks: KernelSpace, va: bigint, pa: number): void {
  ks.pt.map(virt(va), phys(pa), PAGE_SIZE, { global: true, noExecute: true });
}
