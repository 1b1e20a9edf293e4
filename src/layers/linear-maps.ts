// The Linux x86-64 kernel's two linear maps, as translators: no page-table walk, just
// an offset. Useful before the page tables are found (they are how one finds them) and
// much faster than a walk when the kernel itself uses these maps.
//
// Facts (arch/x86/include/asm/page_64_types.h, Linux 6.x; Documentation/arch/x86/x86_64/mm.rst):
// - Direct map ("physmap"): va = pa + page_offset_base. Without KASLR the base is
//   __PAGE_OFFSET_BASE_L4 = 0xffff888000000000 (4-level) or __PAGE_OFFSET_BASE_L5 =
//   0xff11000000000000 (5-level); CONFIG_RANDOMIZE_MEMORY moves it (the variable
//   `page_offset_base` holds the value). Its window is 64 TiB with 4-level paging
//   (0xffff888000000000..0xffffc87fffffffff) and 32 PiB with 5-level.
// - Kernel image map: va = pa - phys_base + __START_KERNEL_map, __START_KERNEL_map =
//   0xffffffff80000000 (see __phys_addr_nodebug in arch/x86/include/asm/page_64.h),
//   over KERNEL_IMAGE_SIZE = 1 GiB with CONFIG_RANDOMIZE_BASE, else 512 MiB.
import { MAX_PHYS_ADDR, type PhysAddr, type VirtAddr, hex, phys, virt } from '../addr.js';
import { InvalidAddressError, UsageError } from '../errors.js';
import type { AddressTranslator, TranslatedSpan } from './virtual.js';

export const PAGE_OFFSET_BASE_L4: VirtAddr = virt(0xffff_8880_0000_0000n);
export const PAGE_OFFSET_BASE_L5: VirtAddr = virt(0xff11_0000_0000_0000n);
/** Size of the direct-map window with 4-level paging (64 TiB). */
export const DIRECT_MAP_SIZE_L4 = 2n ** 46n;
/** Size of the direct-map window with 5-level paging (32 PiB). */
export const DIRECT_MAP_SIZE_L5 = 2n ** 55n;
export const START_KERNEL_MAP: VirtAddr = virt(0xffff_ffff_8000_0000n);
/** KERNEL_IMAGE_SIZE with CONFIG_RANDOMIZE_BASE (the distribution default). */
export const KERNEL_IMAGE_SIZE = 2n ** 30n;

/** va → pa = va - vaBase + paBase over [vaBase, vaBase + size). */
abstract class LinearMap implements AddressTranslator {
  abstract readonly description: string;

  protected constructor(
    readonly vaBase: VirtAddr,
    readonly paBase: PhysAddr,
    readonly size: bigint,
  ) {
    if (BigInt(vaBase) + size > 1n << 64n) throw new UsageError(`linear map at ${hex(vaBase)} of ${hex(size)} bytes wraps`);
  }

  translateVirtSpan(va: VirtAddr): TranslatedSpan {
    const off = BigInt(va) - BigInt(this.vaBase);
    if (off < 0n || off >= this.size) {
      throw new InvalidAddressError(
        'virtual',
        va,
        `outside the ${this.description} (${hex(this.vaBase)}..${hex(BigInt(this.vaBase) + this.size)})`,
      );
    }
    const pa = BigInt(this.paBase) + off;
    if (pa >= BigInt(MAX_PHYS_ADDR)) {
      throw new InvalidAddressError('virtual', va, `maps to ${hex(pa)} via the ${this.description}, past the 52-bit physical limit`);
    }
    const toEndOfMap = this.size - off;
    const toPhysLimit = BigInt(MAX_PHYS_ADDR) - pa;
    const length = toEndOfMap < toPhysLimit ? toEndOfMap : toPhysLimit;
    return { pa: phys(pa), length: Number(length) };
  }

  translateVirt(va: VirtAddr): PhysAddr {
    return this.translateVirtSpan(va).pa;
  }

  /** The inverse: the virtual address this map gives physical `pa`. */
  virtOfPhys(pa: PhysAddr): VirtAddr {
    const off = BigInt(pa) - BigInt(this.paBase);
    if (off < 0n || off >= this.size) {
      throw new InvalidAddressError('physical', BigInt(pa), `not covered by the ${this.description}`);
    }
    return virt(BigInt(this.vaBase) + off);
  }
}

/** Linux's direct map: pa = va - page_offset_base. */
export class DirectMap extends LinearMap {
  readonly description: string;

  /** `size` defaults to the 4-level window (64 TiB); pass DIRECT_MAP_SIZE_L5 for 5-level. */
  constructor(pageOffsetBase: VirtAddr, size: bigint = DIRECT_MAP_SIZE_L4) {
    super(pageOffsetBase, phys(0), size);
    this.description = `Linux direct map at ${hex(pageOffsetBase)}`;
  }
}

/** Linux's kernel-image map: pa = va - __START_KERNEL_map + phys_base. */
export class KernelImageMap extends LinearMap {
  readonly description: string;

  constructor(physBase: PhysAddr, options: { startKernelMap?: VirtAddr; size?: bigint } = {}) {
    const start = options.startKernelMap ?? START_KERNEL_MAP;
    super(start, physBase, options.size ?? KERNEL_IMAGE_SIZE);
    this.description = `Linux kernel-image map at ${hex(start)} (phys_base ${hex(physBase)})`;
  }
}
