// The Linux kernel address space of an image, rebuilt from its plain description
// (KernelSpaceInfo) in any thread. Direct-map addresses translate by subtraction
// (the kernel maps all RAM there, Documentation/x86/x86_64/mm.rst); anything else
// — vmalloc'd stacks, the kernel image, modules — goes through the page tables.
// The inverse, virtOfPhys, gives the kernel-image VA for bytes of the kernel image
// (init_task lives there, its self-pointers use that VA) and the direct-map VA
// otherwise.
import { type PhysAddr, type VirtAddr, hex, phys, virt } from '../../addr.js';
import { InvalidAddressError, UsageError } from '../../errors.js';
import { PagingTranslator } from '../../layers/paging.js';
import type { PhysicalReader } from '../../layers/physical.js';
import type { KernelSpace } from '../../signatures/edges.js';
import type { PointerMode } from '../../signatures/program.js';
import type { KernelSpaceInfo } from '../types.js';
import { DIRECT_MAP_SIZE_L4, DIRECT_MAP_SIZE_L5 } from '../../layers/linear-maps.js';
import { pagingMode } from './page-tables.js';

export class LinuxKernelSpace implements KernelSpace {
  readonly pointerMode: PointerMode;
  readonly pageOffsetBase: bigint;
  readonly kernelImageDelta: bigint | undefined;
  readonly pagingLevels: number;
  readonly walker: PagingTranslator | undefined;
  private readonly directMapEnd: bigint;
  /** init_task: the one task object in the kernel image, addressed by its image VA. */
  private readonly initTask: { va: bigint; pa: number; size: number } | undefined;

  constructor(
    readonly image: PhysicalReader,
    readonly info: KernelSpaceInfo,
  ) {
    if (info.os !== 'linux') throw new UsageError(`a Linux kernel space needs Linux discovery results (got os ${info.os})`);
    if (info.pageOffsetBase === undefined) throw new UsageError('a Linux kernel space needs pageOffsetBase');
    this.pointerMode = info.pointerMode;
    this.pagingLevels = info.pagingLevels;
    this.pageOffsetBase = BigInt(info.pageOffsetBase);
    this.directMapEnd = this.pageOffsetBase + (info.pagingLevels === 5 ? DIRECT_MAP_SIZE_L5 : DIRECT_MAP_SIZE_L4);
    this.kernelImageDelta = info.kernelImageDelta === undefined ? undefined : BigInt(info.kernelImageDelta);
    this.walker = info.dtb === undefined ? undefined : new PagingTranslator(image, pagingMode(info.pagingLevels), phys(BigInt(info.dtb)));
    const it = info.linux?.initTask;
    this.initTask = it && { va: BigInt(it.va), pa: Number(BigInt(it.pa)), size: it.size };
  }

  translateVirt(va: VirtAddr): PhysAddr {
    const v = BigInt(va);
    if (v >= this.pageOffsetBase && v < this.directMapEnd) {
      const pa = v - this.pageOffsetBase;
      if (pa < 2n ** 52n) return phys(pa);
    }
    if (this.walker === undefined) {
      throw new InvalidAddressError('virtual', v, 'outside the direct map, and no kernel page-table root is known');
    }
    return this.walker.translateVirt(va);
  }

  /**
   * The direct-map VA, except inside init_task, which the kernel addresses by its
   * kernel-image VA. (Other bytes of the kernel image's physical range cannot be told
   * apart this way: freed init memory there is reused by slabs, addressed through the
   * direct map, while the image map may still cover it when PTI is off.)
   */
  virtOfPhys(pa: PhysAddr): VirtAddr | undefined {
    const it = this.initTask;
    if (it !== undefined && pa >= it.pa && pa < it.pa + it.size) return virt(it.va + BigInt(pa - it.pa));
    return virt(this.pageOffsetBase + BigInt(pa));
  }

  readPhys(pa: PhysAddr, length: number): Uint8Array {
    return this.image.readPhys(pa, length);
  }

  readPhysInto(pa: PhysAddr, target: Uint8Array): void {
    this.image.readPhysInto(pa, target);
  }

  /** Bytes at a kernel VA, page by page (a read may cross into a page mapped elsewhere). */
  readVirt(va: VirtAddr, length: number): Uint8Array {
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const at = BigInt(va) + BigInt(done);
      const pa = this.translateVirt(virt(at));
      const n = Math.min(length - done, 4096 - (pa % 4096));
      this.image.readPhysInto(pa, out.subarray(done, done + n));
      done += n;
    }
    return out;
  }

  /** A u64 at a kernel VA. */
  readU64Virt(va: bigint): bigint {
    const b = this.readVirt(virt(va), 8);
    return new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
  }

  toString(): string {
    return `Linux kernel space: direct map at ${hex(this.pageOffsetBase)}, ${this.pagingLevels}-level paging${this.walker ? ` from ${hex(this.walker.rootTable)}` : ''}`;
  }
}
