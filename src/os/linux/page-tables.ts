// The kernel's page tables without symbols.
//
// Any process page-table root translates every kernel address: pgd_alloc copies
// the kernel half (entries 256..511) of swapper_pg_dir = init_top_pgt into each new
// PGD (arch/x86/mm/pgtable.c pgd_ctor / clone_pgd_range). So a root found from a
// task (mm->pgd) or a CPU's CR3 is verified by translating the direct-map base back
// to physical 0, then used to find the kernel image's mappings and, among the
// kernel image's own pages, init_top_pgt itself: the page whose user half is empty
// and whose kernel half equals the process root's (arch/x86/kernel/head_64.S puts
// init_top_pgt in the image's .data).
import { type PhysAddr, type VirtAddr, hex, phys, virt } from '../../addr.js';
import { InvalidAddressError } from '../../errors.js';
import { PagingTranslator, coalesceMappings, type MappedRange } from '../../layers/paging.js';
import { X86_64_4LEVEL, X86_64_5LEVEL, type PagingMode } from '../../layers/paging-modes.js';
import type { PhysReadable, PhysicalReader } from '../../layers/physical.js';
import { acquireAlignedBuffer, releaseAlignedBuffer } from '../../layers/aligned-buffer.js';
import { KERNEL_IMAGE_SIZE, START_KERNEL_MAP } from './kernel-facts.js';

export function pagingMode(levels: number): PagingMode {
  return levels === 5 ? X86_64_5LEVEL : X86_64_4LEVEL;
}

/** Does `root` under `mode` map the direct-map base to PA 0 and each probe VA to its PA? */
export function verifyRoot(
  image: PhysReadable,
  mode: PagingMode,
  root: PhysAddr,
  pageOffsetBase: bigint,
  probes: ReadonlyArray<readonly [VirtAddr, PhysAddr]> = [],
): boolean {
  const walker = new PagingTranslator(image, mode, root);
  try {
    if (walker.translateVirt(virt(pageOffsetBase)) !== 0) return false;
    for (const [va, pa] of probes) if (walker.translateVirt(va) !== pa) return false;
    return true;
  } catch (err) {
    if (err instanceof InvalidAddressError || err instanceof RangeError) return false;
    throw err;
  }
}

export interface KernelImageMap {
  /** Coalesced mappings of [__START_KERNEL_map, +KERNEL_IMAGE_SIZE). */
  ranges: MappedRange[];
  /** VA − PA shared by most mapped bytes of the image. */
  delta: bigint;
  /** Share of the mapped bytes at that delta. */
  share: number;
}

/** The kernel image's mappings under `root`, or undefined when none are present. */
export function kernelImageMappings(image: PhysReadable, mode: PagingMode, root: PhysAddr): KernelImageMap | undefined {
  const walker = new PagingTranslator(image, mode, root);
  const ranges = [
    ...coalesceMappings(
      walker.mappings({
        from: virt(START_KERNEL_MAP),
        to: virt(START_KERNEL_MAP + KERNEL_IMAGE_SIZE - 1n),
        onUnreadableTable: () => {},
      }),
    ),
  ].filter((r) => BigInt(r.va) >= START_KERNEL_MAP && BigInt(r.va) < START_KERNEL_MAP + KERNEL_IMAGE_SIZE);
  if (ranges.length === 0) return undefined;
  const bytes = new Map<bigint, number>();
  let total = 0;
  for (const r of ranges) {
    const d = BigInt(r.va) - BigInt(r.pa);
    bytes.set(d, (bytes.get(d) ?? 0) + r.length);
    total += r.length;
  }
  let best: [bigint, number] = [0n, -1];
  for (const [d, n] of bytes) if (n > best[1]) best = [d, n];
  return { ranges, delta: best[0], share: best[1] / total };
}

/** Low-word mask of an entry for comparing copies: the CPU sets A and D (bits 5, 6) in each copy on its own. */
const LOW_COMPARE_MASK = ~0x60 >>> 0;
const CHUNK = 1 << 20;

/**
 * Visit the kernel image's mapped bytes in page-aligned chunks (Uint32 words, little
 * endian). The words are a view of one reused, page-aligned buffer, valid until the next
 * chunk: a fresh 1 MiB array per chunk made this read of ~50 MiB take 0.3–0.7 s (new
 * memory to fault in, and a destination 16 bytes past a page boundary, which `read`
 * copies into several times slower; see src/layers/aligned-buffer.ts).
 */
function* imageChunks(image: PhysReadable, map: KernelImageMap): Generator<{ pa: number; words: Uint32Array }> {
  const buffer = acquireAlignedBuffer(CHUNK);
  try {
    for (const r of map.ranges) {
      for (let off = 0; off < r.length; off += CHUNK) {
        const n = Math.min(CHUNK, r.length - off);
        const bytes = buffer.subarray(0, n);
        try {
          const into = (image as Partial<PhysicalReader>).readPhysInto;
          if (into !== undefined) into.call(image, phys(r.pa + off), bytes);
          else bytes.set(image.readPhys(phys(r.pa + off), n));
        } catch (err) {
          if (err instanceof InvalidAddressError) continue;
          throw err;
        }
        yield { pa: r.pa + off, words: new Uint32Array(bytes.buffer, bytes.byteOffset, n >>> 2) };
      }
    }
  } finally {
    releaseAlignedBuffer(buffer);
  }
}

export interface InitTopPgtSearch {
  found?: PhysAddr;
  /** All pages that matched. */
  matches: PhysAddr[];
  /** For each match, how often its kernel-image VA appears in the image (init_mm.pgd holds it). */
  references: number[];
  pagesExamined: number;
}

/**
 * Among the kernel image's mapped pages, the pages whose user half (entries 0..255)
 * is empty and whose kernel half equals that of `processRoot` (A/D bits aside).
 * A freed process PGD can look the same (its user half is cleared on exit) and may
 * sit in freed init memory the image map still covers; init_top_pgt is the match the
 * kernel refers to by its kernel-image VA (init_mm.pgd = swapper_pg_dir, mm/init-mm.c).
 */
export function findInitTopPgt(image: PhysReadable, map: KernelImageMap, processRoot: PhysAddr): InitTopPgtSearch {
  const refBytes = image.readPhys(processRoot, 4096);
  const ref = new Uint32Array(refBytes.buffer, refBytes.byteOffset, 1024);
  const matches: PhysAddr[] = [];
  let pagesExamined = 0;
  let anyPresent = false;
  for (let i = 512; i < 1024; i += 2) if ((ref[i]! & 1) === 1) anyPresent = true;
  if (!anyPresent) return { matches, references: [], pagesExamined };
  for (const { pa, words } of imageChunks(image, map)) {
    for (let page = 0; page + 1024 <= words.length; page += 1024) {
      pagesExamined += 1;
      if (pa + page * 4 === processRoot) continue;
      let ok = true;
      for (let i = 0; i < 512 && ok; i++) if (words[page + i] !== 0) ok = false;
      for (let i = 512; i < 1024 && ok; i += 2) {
        if (((words[page + i]! & LOW_COMPARE_MASK) >>> 0) !== ((ref[i]! & LOW_COMPARE_MASK) >>> 0) || words[page + i + 1] !== ref[i + 1]) ok = false;
      }
      if (ok) matches.push(phys(pa + page * 4));
    }
  }
  const references =
    matches.length > 1 ? countImageReferences(imageChunks(image, map), matches.map((m) => BigInt(m) + map.delta)) : matches.map(() => 0);
  if (matches.length === 1) return { found: matches[0]!, matches, references, pagesExamined };
  const referenced = matches.filter((_, i) => references[i]! > 0);
  return referenced.length === 1 ? { found: referenced[0]!, matches, references, pagesExamined } : { matches, references, pagesExamined };
}

/** How many aligned 8-byte words of the kernel image hold each value. */
function countImageReferences(chunks: Iterable<{ words: Uint32Array }>, values: readonly bigint[]): number[] {
  const lo = values.map((v) => Number(v & 0xffff_ffffn));
  const hi = values.map((v) => Number(v >> 32n));
  const counts = values.map(() => 0);
  for (const { words } of chunks) {
    for (let i = 0; i + 1 < words.length; i += 2) {
      const w = words[i + 1]!;
      for (let k = 0; k < values.length; k++) if (w === hi[k] && words[i] === lo[k]) counts[k]! += 1;
    }
  }
  return counts;
}

export function describeRanges(ranges: readonly MappedRange[]): string {
  const total = ranges.reduce((n, r) => n + r.length, 0);
  return `${ranges.length} range(s), ${(total / 2 ** 20).toFixed(1)} MiB from ${hex(ranges[0]!.va)}`;
}
