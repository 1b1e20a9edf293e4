// The walker against hand-written tables (entries placed byte by byte, indices worked
// out by hand, so a wrong bit width in the mode tables cannot cancel out), and against
// a plain model of "which VA range maps to which PA" on random builder-made tables.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type VirtAddr, phys, virt } from '../src/addr.js';
import { InvalidAddressError, UsageError } from '../src/errors.js';
import { MemoryPhysical } from '../src/layers/memory-physical.js';
import { PageTableBuilder, bumpAllocator } from '../src/layers/page-table-builder.js';
import { type Mapping, PagingTranslator, coalesceMappings } from '../src/layers/paging.js';
import {
  type PagingMode,
  X86_64_4LEVEL,
  X86_64_5LEVEL,
  X86_PAE,
  canonicalize,
  isCanonical,
  pageSizes,
  rootTableOfCr3,
} from '../src/layers/paging-modes.js';

const P_RW_A_D = 0x63n;
const PS = 0x80n;
const NX = 1n << 63n;

function tables(size = 0x10000): { mem: MemoryPhysical; put: (pa: number, entry: bigint) => void } {
  const mem = MemoryPhysical.zeroed([{ paddr: 0, length: size }]);
  const put = (pa: number, entry: bigint) => {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, entry, true);
    mem.writePhys(phys(pa), b);
  };
  return { mem, put };
}

const v = (x: bigint): VirtAddr => virt(x);

describe('x86-64 4-level walk on hand-written tables', () => {
  const { mem, put } = tables();
  put(0x1000 + 273 * 8, 0x2000n | P_RW_A_D); // PML4[273]: the direct-map slot 0xffff888000000000
  put(0x2000 + 0 * 8, 0x3000n | P_RW_A_D); // PDPT[0]
  put(0x3000 + 1 * 8, 0x4000n | P_RW_A_D); // PD[1]
  put(0x4000 + 1 * 8, 0x5000n | P_RW_A_D | NX); // PT[1] → 4 KiB frame 0x5000, NX set
  put(0x3000 + 2 * 8, 0x4000_0000n | PS | 0x1000n | P_RW_A_D); // PD[2] → 2 MiB page; bit 12 is PAT
  put(0x2000 + 1 * 8, 0x1_4000_0000n | PS | P_RW_A_D); // PDPT[1] → 1 GiB page
  put(0x3000 + 3 * 8, 0x777_7000n); // PD[3]: not present, junk left behind
  put(0x2000 + 2 * 8, 0x90_0000n | P_RW_A_D); // PDPT[2] → a PD outside the image
  put(0x1000 + 0 * 8, 0x6000n | PS | P_RW_A_D); // PML4[0] with PS: reserved
  const t = new PagingTranslator(mem, X86_64_4LEVEL, phys(0x1000 | 0x5)); // CR3 with PCID bits

  it('translates 4 KiB, 2 MiB and 1 GiB pages, masking NX and PAT', () => {
    expect(t.rootTable).toBe(0x1000);
    expect(t.translateVirt(v(0xffff_8880_0020_1234n))).toBe(0x5234);
    expect(t.translateVirt(v(0xffff_8880_0041_2345n))).toBe(0x4001_2345);
    expect(t.translateVirt(v(0xffff_8880_4345_6789n))).toBe(0x1_4345_6789);
    const w = t.walkVirt(v(0xffff_8880_0020_1234n));
    expect(w.steps.map((s) => [s.level, s.index, s.entryPa])).toEqual([
      ['PML4', 273, 0x1888],
      ['PDPT', 0, 0x2000],
      ['PD', 1, 0x3008],
      ['PT', 1, 0x4008],
    ]);
    expect(w.pageSize).toBe(4096);
    expect(t.translateVirtSpan(v(0xffff_8880_0041_2345n))).toEqual({ pa: 0x4001_2345, length: 0x20_0000 - 0x1_2345 });
  });

  it('names the VA and the level where a walk fails', () => {
    expect(() => t.translateVirt(v(0xffff_8880_0060_0000n))).toThrow(
      'virtual address 0xffff888000600000: not mapped: PD entry #3 at physical 0x3018 is not present (0x7777000)',
    );
    expect(() => t.translateVirt(v(0xffff_8880_0020_2000n))).toThrow(
      'virtual address 0xffff888000202000: not mapped: PT entry #2 at physical 0x4010 is not present (0x0)',
    );
    expect(() => t.translateVirt(v(0x1000n))).toThrow(
      'virtual address 0x1000: PML4 entry #0 at physical 0x1000 sets PS, which is reserved at this level',
    );
    expect(() => t.translateVirt(v(0x0000_8000_0000_0000n))).toThrow(
      'virtual address 0x800000000000: not a canonical address for x86-64-4 paging',
    );
    expect(() => t.translateVirt(v(0xffff_8880_8000_0000n))).toThrow(
      'virtual address 0xffff888080000000: PD entry at physical 0x900000 is not in the image (x86-64-4 paging from 0x1000)',
    );
    expect(() => t.translateVirt(v(0xffff_8880_8000_0000n))).toThrow(InvalidAddressError);
  });

  it('enumerates the present leaves in VA order', () => {
    expect(() => [...t.mappings()]).toThrow('PD table at physical 0x900000 is not in the image');
    const unreadable: string[] = [];
    const all = [...t.mappings({ onUnreadableTable: (i) => unreadable.push(`${i.level}@${i.tablePa.toString(16)}`) })];
    expect(all).toEqual([
      { va: 0xffff_8880_0020_1000n, pa: 0x5000, size: 0x1000, level: 'PT' },
      { va: 0xffff_8880_0040_0000n, pa: 0x4000_0000, size: 0x20_0000, level: 'PD' },
      { va: 0xffff_8880_4000_0000n, pa: 0x1_4000_0000, size: 0x4000_0000, level: 'PDPT' },
    ]);
    expect(unreadable).toEqual(['PD@900000']);
    const window = [...t.mappings({ from: v(0xffff_8880_0030_0000n), to: v(0xffff_8880_3fff_ffffn) })];
    expect(window.map((m) => m.va)).toEqual([0xffff_8880_0040_0000n]);
  });
});

describe('rootTableOfCr3', () => {
  it('drops PCID, flag and no-flush bits', () => {
    expect(rootTableOfCr3(X86_64_4LEVEL, 0x8000_0000_1aa0_1805n)).toBe(0x1aa0_1000);
    expect(rootTableOfCr3(X86_64_5LEVEL, 0x0000_0001_2345_6018n)).toBe(0x1_2345_6000);
    expect(rootTableOfCr3(X86_PAE, 0x0031_9038n)).toBe(0x0031_9020);
  });
});

describe('x86-64 5-level walk on hand-written tables', () => {
  const { mem, put } = tables();
  put(0x1000 + 273 * 8, 0x2000n | P_RW_A_D); // PML5[273]: 0xff11000000000000 (the L5 direct map)
  put(0x2000, 0x3000n | P_RW_A_D); // PML4[0]
  put(0x3000, 0x4000n | P_RW_A_D); // PDPT[0]
  put(0x4000, 0x5000n | P_RW_A_D); // PD[0]
  put(0x5000 + 8, 0x6000n | P_RW_A_D); // PT[1]
  const t = new PagingTranslator(mem, X86_64_5LEVEL, phys(0x1000));

  it('walks five levels', () => {
    expect(t.translateVirt(v(0xff11_0000_0000_1234n))).toBe(0x6234);
    expect(t.walkVirt(v(0xff11_0000_0000_1234n)).steps.map((s) => s.level)).toEqual(['PML5', 'PML4', 'PDPT', 'PD', 'PT']);
    expect([...t.mappings()]).toEqual([{ va: 0xff11_0000_0000_1000n, pa: 0x6000, size: 4096, level: 'PT' }]);
  });

  it('uses the 57-bit canonical rule', () => {
    expect(isCanonical(X86_64_5LEVEL, 0xff11_0000_0000_0000n)).toBe(true);
    expect(isCanonical(X86_64_4LEVEL, 0xff11_0000_0000_0000n)).toBe(false);
    expect(() => t.translateVirt(v(0x0100_0000_0000_0000n))).toThrow('not a canonical address for x86-64-5 paging');
  });
});

describe('x86 PAE walk on hand-written tables', () => {
  const { mem, put } = tables();
  // CR3 = 0x1020: PAE's PDPT is 32-byte aligned, not page-aligned.
  put(0x1020 + 2 * 8, 0x2000n | 0x1n); // PDPTE[2] (VA 0x80000000..): Present only
  put(0x2000 + 2 * 8, 0x3000n | P_RW_A_D); // PD[2]
  put(0x3000 + 1 * 8, 0x7000n | P_RW_A_D); // PT[1]
  put(0x2000 + 3 * 8, 0x1_0020_0000n | PS | P_RW_A_D); // PD[3] → 2 MiB page above 4 GiB
  put(0x1020 + 3 * 8, 0x4000n | 0x81n); // PDPTE[3] with PS: reserved in PAE
  const t = new PagingTranslator(mem, X86_PAE, phys(0x1020));

  it('translates through a 4-entry PDPT', () => {
    expect(t.rootTable).toBe(0x1020);
    expect(t.translateVirt(v(0x8040_1234n))).toBe(0x7234);
    expect(t.walkVirt(v(0x8040_1234n)).steps.map((s) => [s.level, s.index, s.entryPa])).toEqual([
      ['PDPT', 2, 0x1030],
      ['PD', 2, 0x2010],
      ['PT', 1, 0x3008],
    ]);
    expect(t.translateVirt(v(0x8065_4321n))).toBe(0x1_0025_4321);
  });

  it('rejects 64-bit VAs and PS in a PDPTE', () => {
    expect(() => t.translateVirt(v(0x1_0000_0000n))).toThrow('not a canonical address for x86-pae paging');
    expect(() => t.translateVirt(v(0xc000_0000n))).toThrow('PDPT entry #3 at physical 0x1038 sets PS, which is reserved');
    expect([...t.mappings()].map((m) => [m.va, m.pa, m.size])).toEqual([
      [0x8040_1000n, 0x7000, 4096],
      [0x8060_0000n, 0x1_0020_0000, 0x20_0000],
    ]);
  });
});

// ---- property tests against a model ------------------------------------------------

interface ModelMapping {
  va: bigint;
  pa: number;
  size: number;
}

function modelLookup(model: ModelMapping[], va: bigint): number | undefined {
  for (const m of model) if (va >= m.va && va < m.va + BigInt(m.size)) return m.pa + Number(va - m.va);
  return undefined;
}

/** Top-level slots the random mappings use: few, so tables are shared and conflicts happen. */
function topSlots(mode: PagingMode): number[] {
  return mode === X86_PAE ? [0, 1, 2, 3] : [0, 1, 255, 256, 273, 511];
}

const requestArb = fc.record({
  slot: fc.nat(),
  sizeIndex: fc.nat(),
  offsetPages: fc.nat({ max: 1 << 20 }),
  frame: fc.nat({ max: 1 << 24 }),
  unmap: fc.boolean(),
});

interface MapRequest {
  slot: number;
  sizeIndex: number;
  offsetPages: number;
  frame: number;
  unmap: boolean;
}

function buildRandom(mode: PagingMode, requests: MapRequest[]) {
  const sizes = pageSizes(mode);
  const top = mode.levels[0]!;
  const slots = topSlots(mode);
  const builder = new PageTableBuilder(mode, bumpAllocator(0x1000, 0x1000_0000));
  const live: ModelMapping[] = [];
  const placed: ModelMapping[] = [];
  for (const r of requests) {
    const size = sizes[r.sizeIndex % sizes.length]!;
    const slot = slots[r.slot % slots.length]!;
    // Keep pages in the first 4 GiB of the slot (PAE: the whole 1 GiB slot).
    const window = Math.min(2 ** top.shift, 2 ** 32);
    const offset = (BigInt(r.offsetPages) * 4096n) % BigInt(window);
    const raw = (BigInt(slot) << BigInt(top.shift)) + offset - (offset % BigInt(size));
    const va = canonicalize(mode, raw);
    if (placed.some((m) => va < m.va + BigInt(m.size) && m.va < va + BigInt(size))) continue;
    const pa = ((r.frame * 4096) % 2 ** 44) - (((r.frame * 4096) % 2 ** 44) % size);
    builder.map(virt(va), phys(pa), size);
    const m = { va, pa, size };
    placed.push(m);
    if (r.unmap) builder.unmap(virt(va));
    else live.push(m);
  }
  return { builder, live };
}

describe.each([X86_64_4LEVEL, X86_64_5LEVEL, X86_PAE])('walker vs model, $name', (mode) => {
  it('translateVirt and mappings() agree with the model on random tables', () => {
    fc.assert(
      fc.property(
        fc.array(requestArb, { minLength: 1, maxLength: 30 }),
        fc.boolean(),
        fc.array(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), { maxLength: 20 }),
        fc.nat(),
        (requests, viaImage, randomVas, seed) => {
          const { builder, live } = buildRandom(mode, requests);
          let reader: PagingTranslator['physical'] = builder;
          if (viaImage) {
            // Copy the tables into a physical layer: the walker must not care where they live.
            const pages = builder.tablePages();
            const mem = new MemoryPhysical(pages.map((p) => ({ paddr: p.paddr, bytes: p.bytes.slice() })));
            reader = mem;
          }
          const t = new PagingTranslator(reader, mode, builder.root);
          // Inside every live mapping: first byte, last byte, a middle byte.
          for (const m of live) {
            for (const off of [0, m.size - 1, (seed % m.size) & ~7]) {
              const va = virt(m.va + BigInt(off));
              expect(t.translateVirt(va)).toBe(m.pa + off);
              expect(t.translateVirtSpan(va).length).toBe(m.size - off);
            }
          }
          // Anywhere: canonical VAs translate exactly when the model maps them.
          const probes = [...randomVas.map((x) => canonicalize(mode, x % (1n << BigInt(mode.vaBits)))), ...live.map((m) => m.va + BigInt(m.size))];
          for (const va of probes) {
            if (!isCanonical(mode, va)) continue;
            const want = modelLookup(live, va);
            if (want === undefined) expect(() => t.translateVirt(virt(va))).toThrow(InvalidAddressError);
            else expect(t.translateVirt(virt(va))).toBe(want);
          }
          // Enumeration: exactly the live mappings, in VA order.
          const listed = [...t.mappings()].map((m: Mapping) => ({ va: BigInt(m.va), pa: m.pa, size: m.size }));
          const want = [...live].sort((a, b) => (a.va < b.va ? -1 : 1));
          expect(listed).toEqual(want);
          // A window lists the mappings that intersect it.
          if (want.length > 0) {
            const pick = want[seed % want.length]!;
            const from = pick.va + BigInt(pick.size) - 1n;
            const inWindow = [...t.mappings({ from: virt(from) })].map((m) => BigInt(m.va));
            expect(inWindow).toEqual(want.filter((m) => m.va + BigInt(m.size) - 1n >= from).map((m) => m.va));
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('PageTableBuilder', () => {
  const alloc = () => bumpAllocator(0x10_0000, 0x20_0000);

  it('refuses conflicting, unaligned and impossible mappings', () => {
    const b = new PageTableBuilder(X86_64_4LEVEL, alloc());
    b.map(virt(0xffff_8880_0020_0000n), phys(0x20_0000), 0x20_0000);
    expect(() => b.map(virt(0xffff_8880_0020_1000n), phys(0x1000), 4096)).toThrow(
      'map 0xffff888000201000: already inside a 2097152-byte page mapped at the PD level',
    );
    b.map(virt(0xffff_8880_0060_1000n), phys(0x1000), 4096);
    expect(() => b.map(virt(0xffff_8880_0060_0000n), phys(0x20_0000), 0x20_0000)).toThrow(
      'map 0xffff888000600000: a table of smaller pages is already mapped there',
    );
    expect(() => b.map(virt(0xffff_8880_0000_1000n), phys(0x20_0000), 0x20_0000)).toThrow(
      'map: 0xffff888000001000 → 0x200000 is not aligned to the 2097152-byte page',
    );
    expect(() => b.map(virt(0x0000_8000_0000_0000n), phys(0), 4096)).toThrow(
      'map: 0x800000000000 is not a canonical x86-64-4 address',
    );
    const pae = new PageTableBuilder(X86_PAE, alloc());
    expect(() => pae.map(virt(0x4000_0000n), phys(0x4000_0000), 0x4000_0000)).toThrow(
      'map: x86-pae has no 1073741824-byte pages (has 4096, 2097152)',
    );
    expect(() => b.unmap(virt(0x1000n))).toThrow('unmap: 0x1000 is not mapped');
  });

  it('checks what the allocator hands out', () => {
    expect(() => new PageTableBuilder(X86_64_4LEVEL, () => phys(0x1234))).toThrow(
      'page-table allocator returned 0x1234, not 4 KiB-aligned',
    );
    const b = new PageTableBuilder(X86_64_4LEVEL, bumpAllocator(0x1000, 0x3000));
    // The root took 0x1000; mapping needs a PDPT, PD and PT but only 0x2000 is left.
    expect(() => b.map(virt(0x1000n), phys(0x1000), 4096)).toThrow('page-table allocator: no room left below 0x3000');
  });

  it('mapRange picks the largest pages alignment allows and writeTo fills an image', () => {
    const b = new PageTableBuilder(X86_64_4LEVEL, alloc());
    const base = 0xffff_8880_0000_0000n;
    // 4K at 0x1ff000, 511 × 2M, 1G at 0x40000000, 2M at 0x80000000, 4K at 0x80200000.
    b.mapRange(virt(base + 0x1f_f000n), phys(0x1f_f000), 0x8000_2000);
    const mem = MemoryPhysical.zeroed([{ paddr: 0x10_0000, length: 0x10_0000 }]);
    b.writeTo(mem);
    const t = new PagingTranslator(mem, X86_64_4LEVEL, b.root);
    const sizes = [...t.mappings()].map((m) => m.size);
    expect(sizes).toEqual([4096, ...new Array(511).fill(0x20_0000), 0x4000_0000, 0x20_0000, 4096]);
    const ranges = [...coalesceMappings(t.mappings())];
    expect(ranges).toEqual([{ va: base + 0x1f_f000n, pa: 0x1f_f000, length: 0x8000_2000 }]);
  });

  it('setEntry builds a self-referencing PML4 (the Windows self-map)', () => {
    const b = new PageTableBuilder(X86_64_4LEVEL, alloc());
    const self = 0x1edn;
    const selfVa = canonicalize(X86_64_4LEVEL, (self << 39n) | (self << 30n) | (self << 21n) | (self << 12n));
    expect(selfVa).toBe(0xffff_f6fb_7dbe_d000n);
    b.setEntry(virt(canonicalize(X86_64_4LEVEL, self << 39n)), 0, BigInt(b.root) | P_RW_A_D);
    b.map(virt(0xffff_8000_0000_0000n), phys(0x5000), 4096);
    const t = new PagingTranslator(b, X86_64_4LEVEL, b.root);
    expect(t.translateVirt(virt(selfVa))).toBe(b.root);
    expect(t.translateVirt(virt(0xffff_8000_0000_0123n))).toBe(0x5123);
    const listed = [...t.mappings()];
    expect(listed).toContainEqual({ va: selfVa, pa: b.root, size: 4096, level: 'PT' });
  });
});

