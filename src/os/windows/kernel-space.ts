// The kernel address space of a Windows image: the kernel DTB's page tables (PAE on XP,
// 4-level on x64) for VA → PA, a reverse map built from the same tables on first need
// for PA → VA (./reverse-map.ts), and the image for bytes. Rebuilt in every thread from
// the plain-data KernelSpaceInfo discovery produced.
import { type PhysAddr, type VirtAddr, phys, virt } from '../../addr.js';
import { InvalidAddressError, UsageError } from '../../errors.js';
import { PagingTranslator } from '../../layers/paging.js';
import { X86_64_4LEVEL, X86_PAE } from '../../layers/paging-modes.js';
import type { PhysReadable } from '../../layers/physical.js';
import type { KernelSpace } from '../../signatures/edges.js';
import type { PointerMode } from '../../signatures/program.js';
import type { KernelSpaceInfo, WindowsSpaceInfo } from '../types.js';
import { KernelReverseMap } from './reverse-map.js';

/** Translations remembered per space (page number → frame); cleared when full. */
const TLB_LIMIT = 1 << 16;

export class WindowsKernelSpace implements KernelSpace {
  readonly translator: PagingTranslator;
  private reverse: KernelReverseMap | undefined;
  private readonly tlb = new Map<bigint, number>();

  constructor(
    readonly image: PhysReadable,
    readonly pointerMode: PointerMode,
    readonly dtb: PhysAddr,
    /** Lowest kernel VA, and the self-map window the reverse map leaves out. */
    readonly kernelStart: bigint,
    readonly selfMap: { start: bigint; end: bigint },
  ) {
    this.translator = new PagingTranslator(image, pointerMode === 'x86-32' ? X86_PAE : X86_64_4LEVEL, dtb);
  }

  translateVirt(va: VirtAddr): PhysAddr {
    const page = va >> 12n;
    const frame = this.tlb.get(page);
    if (frame !== undefined) return phys(frame + Number(va & 0xfffn));
    const pa = this.translator.translateVirt(va);
    if (this.tlb.size >= TLB_LIMIT) this.tlb.clear();
    this.tlb.set(page, pa - Number(va & 0xfffn));
    return pa;
  }

  /** The reverse map, built on first use (one walk of the kernel page tables). */
  reverseMap(): KernelReverseMap {
    this.reverse ??= new KernelReverseMap(this.translator, this.kernelStart, this.selfMap.start, this.selfMap.end);
    return this.reverse;
  }

  virtOfPhys(pa: PhysAddr): VirtAddr | undefined {
    return this.reverseMap().virtOfPhys(pa);
  }

  readPhys(pa: PhysAddr, length: number): Uint8Array {
    return this.image.readPhys(pa, length);
  }

  /** `length` bytes at kernel VA `va`, page by page (throws InvalidAddressError where unmapped). */
  readVirt(va: VirtAddr, length: number): Uint8Array {
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const at = virt(va + BigInt(done));
      const pa = this.translateVirt(at);
      const n = Math.min(length - done, 4096 - (pa % 4096));
      out.set(this.image.readPhys(pa, n), done);
      done += n;
    }
    return out;
  }

  /** The physical address of `va`, or undefined where it does not translate. */
  tryTranslate(va: bigint): PhysAddr | undefined {
    if (va < 0n || va > 0xffff_ffff_ffff_ffffn) return undefined;
    try {
      return this.translateVirt(va as VirtAddr);
    } catch (err) {
      if (err instanceof InvalidAddressError) return undefined;
      throw err;
    }
  }
}

/** The Windows part of a KernelSpaceInfo, or an error naming what is missing. */
export function windowsInfo(info: KernelSpaceInfo): WindowsSpaceInfo {
  if (info.windows === undefined || info.dtb === undefined) {
    throw new UsageError(`the Windows OS support was given a kernel space it did not describe (os ${info.os}, dtb ${info.dtb ?? 'none'}, no windows part)`);
  }
  return info.windows;
}

/** Rebuild the space from its plain description (any thread). */
export function windowsKernelSpace(image: PhysReadable, info: KernelSpaceInfo): WindowsKernelSpace {
  const w = windowsInfo(info);
  return new WindowsKernelSpace(image, info.pointerMode, phys(BigInt(info.dtb!)), BigInt(w.kernelStart), {
    start: BigInt(w.selfMap.start),
    end: BigInt(w.selfMap.end),
  });
}


