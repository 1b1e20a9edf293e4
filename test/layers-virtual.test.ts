import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { phys, virt } from '../src/addr.js';
import { InvalidAddressError } from '../src/errors.js';
import {
  DIRECT_MAP_SIZE_L5,
  DirectMap,
  KernelImageMap,
  PAGE_OFFSET_BASE_L4,
  PAGE_OFFSET_BASE_L5,
} from '../src/layers/linear-maps.js';
import { MemoryPhysical } from '../src/layers/memory-physical.js';
import { PageTableBuilder, bumpAllocator } from '../src/layers/page-table-builder.js';
import { PagingTranslator } from '../src/layers/paging.js';
import { X86_64_4LEVEL, X86_PAE } from '../src/layers/paging-modes.js';
import { VirtualLayer } from '../src/layers/virtual.js';
import { firstDifference, patternBytes } from './helpers/images.js';

describe('Linux linear maps', () => {
  it('direct map: pa = va - page_offset_base, inside its window', () => {
    const dm = new DirectMap(PAGE_OFFSET_BASE_L4);
    expect(dm.translateVirt(virt(0xffff_8880_0123_4567n))).toBe(0x123_4567);
    expect(dm.virtOfPhys(phys(0x123_4567))).toBe(0xffff_8880_0123_4567n);
    expect(() => dm.translateVirt(virt(0xffff_887f_ffff_ffffn))).toThrow(
      'virtual address 0xffff887fffffffff: outside the Linux direct map at 0xffff888000000000 (0xffff888000000000..0xffffc88000000000)',
    );
    // The top of the 64 TiB window is still below 2^52, so it translates.
    expect(dm.translateVirt(virt(0xffff_c87f_ffff_f000n))).toBe(2 ** 46 - 0x1000);
    expect(() => dm.translateVirt(virt(0xffff_c880_0000_0000n))).toThrow(InvalidAddressError);
    const randomized = new DirectMap(virt(0xffff_9d4a_c000_0000n));
    expect(randomized.translateVirt(virt(0xffff_9d4a_c000_1000n))).toBe(0x1000);
  });

  it('5-level direct map stops at the 52-bit physical limit', () => {
    const dm = new DirectMap(PAGE_OFFSET_BASE_L5, DIRECT_MAP_SIZE_L5);
    expect(dm.translateVirt(virt(0xff11_0000_0000_2000n))).toBe(0x2000);
    expect(() => dm.translateVirt(virt(0xff11_0000_0000_0000n + (1n << 52n)))).toThrow('past the 52-bit physical limit');
    expect(dm.translateVirtSpan(virt(0xff11_0000_0000_0000n)).length).toBe(2 ** 52);
  });

  it('kernel-image map: pa = va - __START_KERNEL_map + phys_base', () => {
    const km = new KernelImageMap(phys(0x3a00_0000));
    expect(km.translateVirt(virt(0xffff_ffff_8100_0000n))).toBe(0x3b00_0000);
    expect(() => km.translateVirt(virt(0xffff_ffff_c000_0000n))).toThrow(
      'outside the Linux kernel-image map at 0xffffffff80000000 (phys_base 0x3a000000)',
    );
    expect(km.virtOfPhys(phys(0x3a00_1000))).toBe(0xffff_ffff_8000_1000n);
  });
});

describe('VirtualLayer', () => {
  // Three VA pages mapped to scattered frames; the fourth VA page is not mapped, and one
  // frame lies outside the image.
  const mem = new MemoryPhysical([
    { paddr: phys(0x10_0000), bytes: new Uint8Array(0x10_0000) }, // tables
    { paddr: phys(0x40_0000), bytes: patternBytes(1, 0x4000) },
  ]);
  const builder = new PageTableBuilder(X86_64_4LEVEL, bumpAllocator(0x10_0000, 0x20_0000));
  const base = 0xffff_c900_0000_0000n;
  builder.map(virt(base), phys(0x40_3000), 4096);
  builder.map(virt(base + 0x1000n), phys(0x40_0000), 4096);
  builder.map(virt(base + 0x2000n), phys(0x40_2000), 4096);
  builder.map(virt(base + 0x4000n), phys(0x90_0000), 4096); // frame not in the image
  builder.writeTo(mem);
  const layer = new VirtualLayer(mem, new PagingTranslator(mem, X86_64_4LEVEL, builder.root));
  const frame = (pa: number) => mem.readPhys(phys(pa), 4096);

  it('reads across page boundaries into differently placed frames', () => {
    const want = new Uint8Array([...frame(0x40_3000), ...frame(0x40_0000), ...frame(0x40_2000)]);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0x3000 }), fc.integer({ min: 0, max: 0x3000 }), (start, length) => {
        const n = Math.min(length, 0x3000 - start);
        const got = layer.readVirt(virt(base + BigInt(start)), n);
        expect(firstDifference(got, want.subarray(start, start + n))).toBe(-1);
        expect(layer.isMappedVirt(virt(base + BigInt(start)), n)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('names the first VA that does not translate, or whose frame the image lacks', () => {
    expect(() => layer.readVirt(virt(base + 0x2ff0n), 0x20)).toThrow(
      'virtual address 0xffffc90000003000: not mapped: PT entry #3 at physical',
    );
    expect(layer.isMappedVirt(virt(base + 0x2ff0n), 0x20)).toBe(false);
    expect(() => layer.readVirt(virt(base + 0x4008n), 8)).toThrow(
      'virtual address 0xffffc90000004008: translates to physical 0x900008 (via x86-64-4 paging from 0x100000), which <memory> does not hold',
    );
    expect(layer.isMappedVirt(virt(base + 0x4008n), 8)).toBe(false);
    expect(() => layer.readVirt(virt(0xffff_ffff_ffff_fff8n), 16)).toThrow('wraps past the top of the address space');
  });

  it('works the same over a PAE translator and over a linear map', () => {
    const pae = new PageTableBuilder(X86_PAE, bumpAllocator(0x10_0000, 0x20_0000));
    pae.map(virt(0x8000_0000n), phys(0x40_1000), 4096);
    pae.map(virt(0x8000_1000n), phys(0x40_0000), 4096);
    const m = new MemoryPhysical([
      { paddr: phys(0x10_0000), bytes: new Uint8Array(0x10_0000) },
      { paddr: phys(0x40_0000), bytes: patternBytes(2, 0x2000) },
    ]);
    pae.writeTo(m);
    const got = new VirtualLayer(m, new PagingTranslator(m, X86_PAE, pae.root)).readVirt(virt(0x8000_0ffcn), 8);
    expect([...got]).toEqual([...m.readPhys(phys(0x40_1ffc), 4), ...m.readPhys(phys(0x40_0000), 4)]);
    const direct = new VirtualLayer(m, new DirectMap(PAGE_OFFSET_BASE_L4));
    expect([...direct.readVirt(virt(0xffff_8880_0040_0ffcn), 8)]).toEqual([...m.readPhys(phys(0x40_0ffc), 8)]);
  });
});
