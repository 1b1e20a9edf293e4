import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { phys } from '../src/addr.js';
import { ImageFormatError, InvalidAddressError, UsageError } from '../src/errors.js';
import { MemoryPhysical } from '../src/layers/memory-physical.js';
import { checkRuns, holesOf } from '../src/layers/physical.js';
import { patternBytes } from './helpers/images.js';

function layer(): MemoryPhysical {
  // Two adjacent runs at 0x1000 and 0x1100, a hole, a run at 0x3000.
  return new MemoryPhysical([
    { paddr: phys(0x1000), bytes: patternBytes(1, 0x100) },
    { paddr: phys(0x1100), bytes: patternBytes(2, 0x100) },
    { paddr: phys(0x3000), bytes: patternBytes(3, 0x10) },
  ]);
}

describe('physical layer over runs', () => {
  it('reports runs, holes, sizes', () => {
    const l = layer();
    expect(l.runs.map((r) => [r.paddr, r.fileOffset, r.length])).toEqual([
      [0x1000, 0, 0x100],
      [0x1100, 0x100, 0x100],
      [0x3000, 0x200, 0x10],
    ]);
    expect(l.holes()).toEqual([
      { paddr: 0, length: 0x1000 },
      { paddr: 0x1200, length: 0x1e00 },
    ]);
    expect(l.mappedSize).toBe(0x210);
    expect(l.endAddress).toBe(0x3010);
    expect(l.format).toBe('memory');
  });

  it('reads across adjacent runs', () => {
    const l = layer();
    const got = l.readPhys(phys(0x10f8), 16);
    expect([...got]).toEqual([...patternBytes(1, 0x100).subarray(0xf8), ...patternBytes(2, 0x100).subarray(0, 8)]);
    expect(l.isMappedPhys(phys(0x1000), 0x200)).toBe(true);
  });

  it('throws InvalidAddressError naming the first byte in a hole', () => {
    const l = layer();
    expect(l.isMappedPhys(phys(0x11f0), 0x20)).toBe(false);
    expect(() => l.readPhys(phys(0x11f0), 0x20)).toThrow(InvalidAddressError);
    expect(() => l.readPhys(phys(0x11f0), 0x20)).toThrow(
      'physical address 0x1200: not in <memory> (reading 0x11f0..0x1210: the address is in a hole between runs)',
    );
    expect(() => l.readPhys(phys(0x3010), 1)).toThrow('physical address 0x3010: not in <memory> (reading 0x3010:');
    expect(() => l.readPhys(phys(0), 1)).toThrow('physical address 0x0');
    expect(l.readPhys(phys(0x2000), 0)).toEqual(new Uint8Array(0));
    // A wild length fails on the hole before anything is allocated for it.
    expect(() => l.readPhys(phys(0x1000), 2 ** 45)).toThrow('physical address 0x1200');
  });

  it('writePhys changes what readPhys returns, across runs, and refuses holes', () => {
    const l = layer();
    l.writePhys(phys(0x10fe), new Uint8Array([1, 2, 3, 4]));
    expect([...l.readPhys(phys(0x10fe), 4)]).toEqual([1, 2, 3, 4]);
    expect(() => l.writePhys(phys(0x11ff), new Uint8Array(2))).toThrow('physical address 0x1200');
  });

  it('rejects unsorted or overlapping segments', () => {
    expect(
      () =>
        new MemoryPhysical([
          { paddr: phys(0x2000), bytes: new Uint8Array(16) },
          { paddr: phys(0x1000), bytes: new Uint8Array(16) },
        ]),
    ).toThrow(UsageError);
    expect(
      () =>
        new MemoryPhysical([
          { paddr: phys(0x1000), bytes: new Uint8Array(0x20) },
          { paddr: phys(0x1010), bytes: new Uint8Array(16) },
        ]),
    ).toThrow('MemoryPhysical: <memory>: run #1 (physical 0x1010..0x1020) overlaps run #0 (physical 0x1000..0x1020)');
  });

  it('readPhys agrees with a byte-by-byte model on random layouts', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ gap: fc.integer({ min: 0, max: 64 }), length: fc.integer({ min: 1, max: 64 }) }), {
          minLength: 1,
          maxLength: 6,
        }),
        fc.integer({ min: 0, max: 600 }),
        fc.integer({ min: 0, max: 80 }),
        (shape, start, length) => {
          const model = new Map<number, number>();
          let cursor = 0;
          const segments = shape.map((s, i) => {
            cursor += s.gap;
            const bytes = patternBytes(i + 7, s.length);
            bytes.forEach((b, k) => model.set(cursor + k, b));
            const seg = { paddr: phys(cursor), bytes };
            cursor += s.length;
            return seg;
          });
          const l = new MemoryPhysical(segments);
          let firstMissing: number | undefined;
          for (let a = start; a < start + length; a++) {
            if (!model.has(a)) {
              firstMissing = a;
              break;
            }
          }
          expect(l.isMappedPhys(phys(start), length)).toBe(firstMissing === undefined);
          if (firstMissing === undefined) {
            const got = l.readPhys(phys(start), length);
            for (let k = 0; k < length; k++) expect(got[k]).toBe(model.get(start + k));
          } else {
            try {
              l.readPhys(phys(start), length);
              expect.unreachable('read of a hole succeeded');
            } catch (err) {
              expect(err).toBeInstanceOf(InvalidAddressError);
              expect((err as InvalidAddressError).address).toBe(BigInt(firstMissing));
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('checkRuns', () => {
  const c = (paddr: number, fileOffset: number, length: number, label: string) => ({
    paddr,
    fileOffset,
    length,
    headerOffset: 0x40,
    label,
  });

  it('sorts runs and keeps adjacent ones apart', () => {
    const runs = checkRuns('img', [c(0x2000, 0x1000, 0x1000, 'b'), c(0x1000, 0, 0x1000, 'a')], 0x2000);
    expect(runs).toEqual([
      { paddr: 0x1000, fileOffset: 0, length: 0x1000 },
      { paddr: 0x2000, fileOffset: 0x1000, length: 0x1000 },
    ]);
    expect(holesOf(runs)).toEqual([{ paddr: 0, length: 0x1000 }]);
  });

  it('merges overlaps that agree on file data only when asked', () => {
    const overlapping = [c(0x1000, 0x100, 0x800, 'a'), c(0x1400, 0x500, 0x800, 'b')];
    expect(() => checkRuns('img', overlapping, 0x2000)).toThrow(
      'img at offset 0x40: b (physical 0x1400..0x1c00) overlaps a (physical 0x1000..0x1800)',
    );
    expect(checkRuns('img', overlapping, 0x2000, { mergeConsistentOverlaps: true })).toEqual([
      { paddr: 0x1000, fileOffset: 0x100, length: 0xc00 },
    ]);
    expect(() =>
      checkRuns('img', [c(0x1000, 0x100, 0x800, 'a'), c(0x1400, 0x900, 0x800, 'b')], 0x2000, { mergeConsistentOverlaps: true }),
    ).toThrow('with different file data');
  });

  it('rejects file-space overlap, runs past the file and past 52 bits', () => {
    expect(() => checkRuns('img', [c(0x1000, 0, 0x100, 'a'), c(0x5000, 0x80, 0x100, 'b')], 0x1000)).toThrow(
      'img at offset 0x40: b (file 0x80..0x180) shares file bytes with a (file 0x0..0x100)',
    );
    expect(() => checkRuns('img', [c(0x1000, 0xf00, 0x200, 'a')], 0x1000)).toThrow(ImageFormatError);
    expect(() => checkRuns('img', [c(0x1000, 0xf00, 0x200, 'a')], 0x1000)).toThrow(
      'img at offset 0x40: a: data at file offset 0xf00+0x200 extends past the end of the file (4096 bytes; truncated image?)',
    );
    expect(() => checkRuns('img', [c(2 ** 52 - 0x10, 0, 0x20, 'a')], 0x1000)).toThrow('passes the 52-bit physical address limit');
  });
});
