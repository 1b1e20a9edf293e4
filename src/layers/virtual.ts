// A virtual layer: a translator (page tables, or a linear kernel map) on top of a
// physical layer. Reads in virtual space go page by page, each page translated on its
// own, so a read that crosses into a page mapped elsewhere (or not at all) is right.
import { type PhysAddr, type VirtAddr, hex, virt } from '../addr.js';
import { InvalidAddressError } from '../errors.js';
import type { PhysicalReader } from './physical.js';

/** Where a virtual address goes, and how far from it the mapping stays contiguous. */
export interface TranslatedSpan {
  readonly pa: PhysAddr;
  /** Bytes from the VA on that map to pa, pa + 1, ... (to the end of its page or region). */
  readonly length: number;
}

/** Anything that maps kernel or process virtual addresses to physical ones. */
export interface AddressTranslator {
  /** For messages: 'x86-64-4 paging from 0x1aa000', 'Linux direct map at 0xffff888000000000'. */
  readonly description: string;
  /** The physical address of `va`; throws InvalidAddressError('virtual', va, why). */
  translateVirt(va: VirtAddr): PhysAddr;
  /** Like translateVirt, plus how many bytes from `va` stay physically contiguous. */
  translateVirtSpan(va: VirtAddr): TranslatedSpan;
}

const U64_END = 1n << 64n;

export class VirtualLayer {
  constructor(
    readonly physical: PhysicalReader,
    readonly translator: AddressTranslator,
  ) {}

  translateVirt(va: VirtAddr): PhysAddr {
    return this.translator.translateVirt(va);
  }

  /**
   * `length` bytes at `va`. Throws InvalidAddressError naming the first virtual address
   * that does not translate, or (space 'physical') the first physical byte not in the image.
   */
  readVirt(va: VirtAddr, length: number): Uint8Array {
    if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`not a read length: ${length}`);
    if (BigInt(va) + BigInt(length) > U64_END) {
      throw new InvalidAddressError('virtual', va, `a ${length}-byte read wraps past the top of the address space`);
    }
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const at = virt(BigInt(va) + BigInt(done));
      const span = this.translator.translateVirtSpan(at);
      const n = Math.min(length - done, span.length);
      try {
        this.physical.readPhysInto(span.pa, out.subarray(done, done + n));
      } catch (err) {
        if (err instanceof InvalidAddressError && err.space === 'physical') {
          throw new InvalidAddressError(
            'virtual',
            at,
            `translates to physical ${hex(span.pa)} (via ${this.translator.description}), which ${this.physical.path} does not hold`,
          );
        }
        throw err;
      }
      done += n;
    }
    return out;
  }

  /** True when every byte of [va, va + length) translates to a byte the image holds. */
  isMappedVirt(va: VirtAddr, length: number): boolean {
    let done = 0;
    while (done < length) {
      const at = BigInt(va) + BigInt(done);
      if (at >= U64_END) return false;
      let span: TranslatedSpan;
      try {
        span = this.translator.translateVirtSpan(virt(at));
      } catch (err) {
        if (err instanceof InvalidAddressError) return false;
        throw err;
      }
      const n = Math.min(length - done, span.length);
      if (!this.physical.isMappedPhys(span.pa, n)) return false;
      done += n;
    }
    return true;
  }
}
