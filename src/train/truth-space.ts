// The kernel address space of a training image, rebuilt from its truth.json: the
// trainer follows pointers of known objects, so it takes the address-space facts the
// image builder recorded instead of discovering them (discovery is the scan's job).
//
// Linux: the direct map (va = pa + page_offset_base, Documentation/arch/x86/x86_64/
// mm.rst) answers most pointers without a walk; everything else (vmalloc'd stacks, the
// kernel image, modules) goes through the kernel page tables rooted at
// layout.init_top_pgt_pa. Windows: the page tables rooted at layout.dtb.
// virtOfPhys gives the truth's own VA for truth objects (init_task lives in the kernel
// image and its self-pointers use that VA), else the direct-map VA (Linux) or nothing.
import { type PhysAddr, type VirtAddr, hex, phys, virt } from '../addr.js';
import { InvalidAddressError, UsageError } from '../errors.js';
import { DIRECT_MAP_SIZE_L4, DIRECT_MAP_SIZE_L5 } from '../layers/linear-maps.js';
import { PagingTranslator } from '../layers/paging.js';
import { type PagingMode, X86_64_4LEVEL, X86_64_5LEVEL, X86_PAE } from '../layers/paging-modes.js';
import type { PhysicalReader } from '../layers/physical.js';
import type { KernelSpace } from '../signatures/edges.js';
import type { PointerMode } from '../signatures/program.js';
import type { TruthFile } from './truth-file.js';

function pagingModeOf(levels: number, truthPath: string): PagingMode {
  switch (levels) {
    case 5:
      return X86_64_5LEVEL;
    case 4:
      return X86_64_4LEVEL;
    case 3:
      return X86_PAE;
    default:
      throw new UsageError(`${truthPath}: kernel.paging_levels ${levels} has no page-table walker (expected 3, 4 or 5)`);
  }
}

export class TruthKernelSpace implements KernelSpace {
  readonly pageOffsetBase: bigint | undefined;
  readonly walker: PagingTranslator | undefined;
  private readonly directMapEnd: bigint;
  private readonly vaOfPa = new Map<number, bigint>();

  constructor(
    readonly physical: PhysicalReader,
    readonly truth: TruthFile,
    readonly pointerMode: PointerMode,
  ) {
    const L = truth.layout;
    const num = (key: string): bigint | undefined => {
      const v = L[key];
      if (v === undefined) return undefined;
      try {
        return BigInt(v);
      } catch {
        throw new UsageError(`${truth.path}: layout.${key} is not a number: ${JSON.stringify(v)}`);
      }
    };
    const root = truth.os === 'linux' ? num('init_top_pgt_pa') : num('dtb');
    this.walker = root === undefined ? undefined : new PagingTranslator(physical, pagingModeOf(truth.pagingLevels, truth.path), phys(root));
    this.pageOffsetBase = truth.os === 'linux' ? num('page_offset_base') : undefined;
    // The direct map's window is 64 TiB (32 PiB with 5-level paging), but with KASLR
    // vmalloc space may start a few TiB after page_offset_base (arch/x86/mm/kaslr.c sizes
    // the direct-map region by the RAM present, plus padding): only addresses of
    // memory the image holds are taken as direct-map addresses; the rest are walked.
    const window = truth.pagingLevels === 5 ? DIRECT_MAP_SIZE_L5 : DIRECT_MAP_SIZE_L4;
    const ram = BigInt(physical.endAddress);
    this.directMapEnd = (this.pageOffsetBase ?? 0n) + (ram < window ? ram : window);
    for (const o of truth.objects) this.vaOfPa.set(o.pa, o.va);
  }

  translateVirt(va: VirtAddr): PhysAddr {
    const v = BigInt(va);
    const pob = this.pageOffsetBase;
    if (pob !== undefined && v >= pob && v < this.directMapEnd && v - pob < 2n ** 52n) return phys(v - pob);
    if (this.walker === undefined) throw new InvalidAddressError('virtual', v, `not in the direct map and ${this.truth.path} names no page-table root`);
    return this.walker.translateVirt(va);
  }

  virtOfPhys(pa: PhysAddr): VirtAddr | undefined {
    const known = this.vaOfPa.get(pa);
    if (known !== undefined) return virt(known);
    return this.pageOffsetBase === undefined ? undefined : virt(this.pageOffsetBase + BigInt(pa));
  }

  readPhys(pa: PhysAddr, length: number): Uint8Array {
    return this.physical.readPhys(pa, length);
  }

  /**
   * `length` bytes at a kernel VA, page by page (a vmalloc'd target may not be
   * physically contiguous). Throws InvalidAddressError when any page does not translate
   * or lies in a hole.
   */
  readVirt(va: bigint, length: number): Uint8Array {
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const at = va + BigInt(done);
      if (at > 0xffff_ffff_ffff_ffffn) throw new InvalidAddressError('virtual', at, 'read wraps past the top of the address space');
      const pa = this.translateVirt(virt(at));
      const n = Math.min(length - done, 4096 - (pa % 4096));
      this.physical.readPhysInto(pa, out.subarray(done, done + n));
      done += n;
    }
    return out;
  }

  toString(): string {
    const dm = this.pageOffsetBase === undefined ? '' : `direct map at ${hex(this.pageOffsetBase)}, `;
    return `${this.truth.os} kernel space from ${this.truth.path}: ${dm}${this.walker ? this.walker.description : 'no page tables'}`;
  }
}
