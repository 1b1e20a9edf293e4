// Physical → kernel virtual address for Windows: an EPROCESS in pool has no fixed VA
// (pool pages are mapped one by one, VA order ≠ PA order), so the only way from a
// scanned physical address to the address its neighbours point to is the kernel's own
// page tables. This map is built once from every present mapping of the kernel half
// (PagingTranslator.mappings), leaving out the self-map window, where each page-table
// page shows up once more.
//
// Where a physical page has two kernel mappings (XP: low memory is mapped by large pages
// at 0x80000000 + pa, and a paged-pool page there also by a 4 KiB PTE in the paged pool),
// the 4 KiB mapping wins: pool allocations are addressed through their pool's PTEs, and
// the large-page window covers them only by accident of placement.
//
// Cost: one walk of the kernel page tables, reading each table page once (4 KiB per
// page directory / table) and one entry per mapped page; memory 16 bytes per run of
// physically and virtually contiguous 4 KiB pages. `bench/windows-scan.ts` reports it.
import { type PhysAddr, type VirtAddr, virt } from '../../addr.js';
import type { MappedRange, PagingTranslator } from '../../layers/paging.js';
import { coalesceMappings } from '../../layers/paging.js';

interface Ranges {
  /** Start PA of each range, ascending. */
  pa: Float64Array;
  length: Float64Array;
  va: BigUint64Array;
}

function pack(list: MappedRange[]): Ranges {
  list.sort((a, b) => a.pa - b.pa);
  const out: Ranges = { pa: new Float64Array(list.length), length: new Float64Array(list.length), va: new BigUint64Array(list.length) };
  list.forEach((r, i) => {
    out.pa[i] = r.pa;
    out.length[i] = r.length;
    out.va[i] = r.va;
  });
  return out;
}

function find(r: Ranges, pa: number): VirtAddr | undefined {
  let lo = 0;
  let hi = r.pa.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (r.pa[mid]! <= pa) lo = mid + 1;
    else hi = mid - 1;
  }
  const i = lo - 1;
  if (i < 0 || pa >= r.pa[i]! + r.length[i]!) return undefined;
  return virt(r.va[i]! + BigInt(pa - r.pa[i]!));
}

export interface ReverseMapStats {
  /** Coalesced runs of 4 KiB mappings and of large-page mappings. */
  smallRuns: number;
  largeRuns: number;
  /** Bytes of kernel VA mapped (self-map window excluded). */
  mappedBytes: number;
  buildMs: number;
  /** Page-table pages the walk could not read (their subtrees are skipped). */
  unreadableTables: number;
}

export class KernelReverseMap {
  private readonly small: Ranges;
  private readonly large: Ranges;
  readonly stats: ReverseMapStats;

  /**
   * Walk `translator`'s mappings from `kernelStart` up, skipping [selfStart, selfEnd).
   * Tables outside the image are skipped and counted, not fatal: a dump may lack them.
   */
  constructor(translator: PagingTranslator, kernelStart: bigint, selfStart: bigint, selfEnd: bigint) {
    const t0 = performance.now();
    let unreadableTables = 0;
    const onUnreadableTable = (): void => {
      unreadableTables += 1;
    };
    const small: MappedRange[] = [];
    const large: MappedRange[] = [];
    const top = translator.mode.signExtend ? 0xffff_ffff_ffff_ffffn : (1n << BigInt(translator.mode.vaBits)) - 1n;
    const windows: [bigint, bigint][] = [];
    if (selfStart > kernelStart) windows.push([kernelStart, selfStart - 1n]);
    if (selfEnd <= top) windows.push([selfEnd > kernelStart ? selfEnd : kernelStart, top]);
    let mappedBytes = 0;
    for (const [from, to] of windows) {
      const pages = translator.mappings({ from: virt(from), to: virt(to), onUnreadableTable });
      // Split by page size first so that coalescing never merges across sizes.
      const fours: { va: VirtAddr; pa: PhysAddr; size: number; level: string }[] = [];
      const bigs: typeof fours = [];
      for (const m of pages) {
        if (m.va < from || m.va > to) continue;
        mappedBytes += m.size;
        (m.size === 4096 ? fours : bigs).push(m);
      }
      small.push(...coalesceMappings(fours));
      large.push(...coalesceMappings(bigs));
    }
    this.small = pack(small);
    this.large = pack(large);
    this.stats = { smallRuns: small.length, largeRuns: large.length, mappedBytes, buildMs: performance.now() - t0, unreadableTables };
  }

  /** The kernel VA of `pa` (a 4 KiB mapping preferred over a large page), or undefined. */
  virtOfPhys(pa: PhysAddr): VirtAddr | undefined {
    return find(this.small, pa) ?? find(this.large, pa);
  }

  /** Start PAs and lengths of every 4 KiB-mapped run (pool pages), for searches over them. */
  *smallRuns(): Generator<{ pa: number; va: bigint; length: number }> {
    for (let i = 0; i < this.small.pa.length; i += 1) yield { pa: this.small.pa[i]!, va: this.small.va[i]!, length: this.small.length[i]! };
  }
}
