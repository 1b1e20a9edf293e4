// Writers and readers tied together: write random runs in each format, open the file
// with format detection, and get the same runs and bytes back.
import { readFileSync, statSync, truncateSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { phys } from '../src/addr.js';
import { ImageIOError, InvalidAddressError, UsageError } from '../src/errors.js';
import { PN_XNUM, writeElfCoreImage } from '../src/layers/elf-core.js';
import { type RunSpec, type WrittenImage, overlayRunBytes, runBytesFrom } from '../src/layers/image-writer.js';
import { writeLimeImage } from '../src/layers/lime.js';
import { MemoryPhysical } from '../src/layers/memory-physical.js';
import { openImage, openImageRuns } from '../src/layers/open-image.js';
import type { PhysicalReader } from '../src/layers/physical.js';
import { writeRawImage } from '../src/layers/raw.js';
import { chunkedSource, firstDifference, patternBytes, useTmpDir } from './helpers/images.js';

const tmp = useTmpDir('formats');

type Writer = 'raw' | 'lime' | 'elf64' | 'elf32' | 'elf64-aligned';

function write(kind: Writer, path: string, runs: RunSpec[], contents: Uint8Array[], chunks: number[]): WrittenImage {
  const source = chunkedSource(contents, chunks);
  switch (kind) {
    case 'raw':
      return writeRawImage(path, runs, source);
    case 'lime':
      return writeLimeImage(path, runs, source);
    case 'elf64':
      return writeElfCoreImage(path, runs, source);
    case 'elf32':
      return writeElfCoreImage(path, runs, source, { elfClass: 32 });
    case 'elf64-aligned':
      return writeElfCoreImage(path, runs, source, { dataAlignment: 4096 });
  }
}

const layoutArb = fc.record({
  base: fc.integer({ min: 0, max: 1 << 20 }),
  shape: fc.array(
    fc.record({
      // gap 0 makes adjacent runs, which must stay separate runs and read across.
      gap: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 3 * 4096 })),
      length: fc.integer({ min: 1, max: 3 * 4096 + 17 }),
    }),
    { minLength: 1, maxLength: 7 },
  ),
  chunks: fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 4 }),
  seed: fc.integer({ min: 1, max: 1 << 30 }),
});

function buildRuns(base: number, shape: { gap: number; length: number }[], seed: number) {
  const runs: RunSpec[] = [];
  const contents: Uint8Array[] = [];
  let cursor = base;
  shape.forEach((s, i) => {
    cursor += i === 0 ? 0 : s.gap;
    runs.push({ paddr: phys(cursor), length: s.length });
    contents.push(patternBytes(seed + i, s.length));
    cursor += s.length;
  });
  return { runs, contents };
}

/** The byte a reader must return at `pa`, or undefined in a hole. */
function expectedByte(runs: RunSpec[], contents: Uint8Array[], pa: number, raw: boolean): number | undefined {
  for (let i = 0; i < runs.length; i++) {
    const r = runs[i]!;
    if (pa >= r.paddr && pa < r.paddr + r.length) return contents[i]![pa - r.paddr];
  }
  const end = runs[runs.length - 1]!.paddr + runs[runs.length - 1]!.length;
  return raw && pa < end ? 0 : undefined;
}

function checkReadBack(kind: Writer, image: PhysicalReader, written: WrittenImage, runs: RunSpec[], contents: Uint8Array[]) {
  const raw = kind === 'raw';
  expect(image.format).toBe(raw ? 'raw' : kind === 'lime' ? 'lime' : 'elf-core');
  expect(image.fileSize).toBe(written.fileSize);
  expect(image.runs).toEqual(written.runs);
  if (raw) {
    const end = runs[runs.length - 1]!.paddr + runs[runs.length - 1]!.length;
    expect(image.runs).toEqual([{ paddr: 0, fileOffset: 0, length: end }]);
  } else {
    expect(image.runs.map((r) => [r.paddr, r.length])).toEqual(runs.map((r) => [r.paddr, r.length]));
  }
  // Every run reads back whole.
  runs.forEach((r, i) => expect(firstDifference(image.readPhys(r.paddr, r.length), contents[i]!)).toBe(-1));
  // Reads straddling each run's end: into the next run, a hole, or the end of memory.
  for (const r of runs) {
    const start = Math.max(0, r.paddr + r.length - 9);
    const want: (number | undefined)[] = [];
    for (let a = start; a < start + 20; a++) want.push(expectedByte(runs, contents, a, raw));
    if (want.every((b) => b !== undefined)) {
      expect([...image.readPhys(phys(start), 20)]).toEqual(want);
    } else {
      const firstHole = start + want.indexOf(undefined);
      expect(() => image.readPhys(phys(start), 20)).toThrow(`physical address 0x${firstHole.toString(16)}:`);
      expect(image.isMappedPhys(phys(start), 20)).toBe(false);
    }
  }
}

describe.each<Writer>(['raw', 'lime', 'elf64', 'elf32', 'elf64-aligned'])('%s writer → openImage', (kind) => {
  it('reads back identical runs and bytes (property)', () => {
    let n = 0;
    fc.assert(
      fc.property(layoutArb, ({ base, shape, chunks, seed }) => {
        const { runs, contents } = buildRuns(base, shape, seed);
        const path = tmp(`${kind}-${n++}.img`);
        const written = write(kind, path, runs, contents, chunks);
        expect(statSync(path).size).toBe(written.fileSize);
        const image = openImage(path);
        try {
          checkReadBack(kind, image, written, runs, contents);
        } finally {
          image.close();
        }
      }),
      { numRuns: 25 },
    );
  });
});

describe('format details', () => {
  it('raw writes holes sparsely and they read as zeros', () => {
    const path = tmp('sparse.raw');
    const runs = [
      { paddr: phys(0x1000), length: 0x1000 },
      { paddr: phys(64 << 20), length: 0x1000 },
    ];
    writeRawImage(path, runs, chunkedSource([patternBytes(1, 0x1000), patternBytes(2, 0x1000)]));
    const st = statSync(path);
    expect(st.size).toBe((64 << 20) + 0x1000);
    // 64 MiB apparent size, a few KiB allocated (tmpfs and ext4 both keep holes).
    expect(st.blocks * 512).toBeLessThan(1 << 20);
    const image = openImage(path);
    expect([...image.readPhys(phys(0x2000), 16)]).toEqual(new Array(16).fill(0));
    expect(image.detail).toContain('raw');
    image.close();
  });

  it('ELF32 header fields match the gABI layout QEMU writes for 32-bit guests', () => {
    const path = tmp('small32.elf');
    writeElfCoreImage(path, [{ paddr: phys(0x9000), length: 0x10 }], chunkedSource([patternBytes(3, 0x10)]), {
      elfClass: 32,
    });
    const b = readFileSync(path);
    expect([...b.subarray(0, 7)]).toEqual([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1]);
    expect(b.readUInt16LE(16)).toBe(4); // ET_CORE
    expect(b.readUInt16LE(18)).toBe(3); // EM_386
    expect(b.readUInt32LE(28)).toBe(52); // e_phoff
    expect(b.readUInt16LE(42)).toBe(32); // e_phentsize
    expect(b.readUInt16LE(44)).toBe(2); // PT_NOTE + 1 PT_LOAD
    const load = 52 + 32;
    expect(b.readUInt32LE(load)).toBe(1); // PT_LOAD
    expect(b.readUInt32LE(load + 4)).toBe(52 + 2 * 32); // p_offset: right after the headers (no notes)
    expect(b.readUInt32LE(load + 12)).toBe(0x9000); // p_paddr
    expect(b.readUInt32LE(load + 16)).toBe(0x10); // p_filesz
    const image = openImage(path);
    expect(image.detail).toBe('ELF32 core, e_machine 3 (i386), 1 PT_LOAD');
    image.close();
  });

  it(`uses PN_XNUM and sh_info when there are ${PN_XNUM} or more program headers`, () => {
    const path = tmp('xnum.elf');
    const count = PN_XNUM - 1; // + PT_NOTE = 0xffff program headers: too many for e_phnum
    const runs = Array.from({ length: count }, (_, i) => ({ paddr: phys(i * 2), length: 1 }));
    const contents = runs.map((_, i) => new Uint8Array([i & 0xff]));
    const written = writeElfCoreImage(path, runs, chunkedSource(contents));
    const b = readFileSync(path);
    expect(b.readUInt16LE(56)).toBe(PN_XNUM); // e_phnum
    const shoff = Number(b.readBigUInt64LE(40));
    expect(shoff).toBe(64 + 56 * PN_XNUM);
    expect(b.readUInt32LE(shoff + 44)).toBe(PN_XNUM); // sh_info: the real count
    const image = openImage(path);
    expect(image.runs.length).toBe(count);
    expect(image.runs).toEqual(written.runs);
    expect(image.detail).toContain(`PN_XNUM: ${PN_XNUM} program headers counted in sh_info`);
    expect(image.readPhys(phys(2 * 1000), 1)[0]).toBe(1000 & 0xff);
    expect(() => image.readPhys(phys(1), 1)).toThrow(InvalidAddressError);
    image.close();
  });

  it('a file that shrinks after opening gives ImageIOError, not short data', () => {
    const path = tmp('shrinks.lime');
    writeLimeImage(path, [{ paddr: phys(0), length: 0x20000 }], chunkedSource([patternBytes(4, 0x20000)]));
    const image = openImage(path);
    truncateSync(path, 0x8000);
    expect(() => image.readPhys(phys(0x10000), 8)).toThrow(ImageIOError);
    expect(() => image.readPhys(phys(0x10000), 0x10000)).toThrow(
      `${path} at offset 0x10020: file ended early: it had ${0x20020} bytes when opened and changed while kcarve read it`,
    );
    image.close();
    expect(() => image.readPhys(phys(0), 1)).toThrow('image is closed');
  });

  it('the page cache returns the right bytes under eviction and across file pages', () => {
    const path = tmp('cache.elf');
    const size = 3 << 20; // more than the 1 MiB cache
    const bytes = patternBytes(5, size);
    // Unaligned data offset (QEMU layout) so cached file pages straddle run starts.
    writeElfCoreImage(path, [{ paddr: phys(0x100000), length: size }], chunkedSource([bytes], [65536]));
    const image = openImage(path);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: size - 1 }), fc.integer({ min: 1, max: 20000 }), (offset, length) => {
        const n = Math.min(length, size - offset);
        expect(firstDifference(image.readPhys(phys(0x100000 + offset), n), bytes.subarray(offset, offset + n))).toBe(-1);
      }),
      { numRuns: 400 },
    );
    image.close();
  });

  it('openImageRuns reopens from a descriptor and still checks the runs', () => {
    const path = tmp('descriptor.lime');
    const written = writeLimeImage(path, [{ paddr: phys(0x5000), length: 100 }], chunkedSource([patternBytes(8, 100)]));
    const again = openImageRuns(path, 'lime', written.runs, 'from a descriptor');
    expect(firstDifference(again.readPhys(phys(0x5000), 100), patternBytes(8, 100))).toBe(-1);
    again.close();
    expect(() => openImageRuns(path, 'lime', [{ paddr: phys(0), fileOffset: 100, length: 100 }])).toThrow(
      `${path}: run #0: data at file offset 0x64+0x64 extends past the end of the file (132 bytes; truncated image?)`,
    );
  });

  it('converts between formats through runBytesFrom', () => {
    const mem = new MemoryPhysical([
      { paddr: phys(0x1000), bytes: patternBytes(6, 5000) },
      { paddr: phys(0x10000), bytes: patternBytes(7, 300) },
    ]);
    const path = tmp('converted.lime');
    writeLimeImage(path, mem.runs, runBytesFrom(mem, 777));
    const image = openImage(path);
    for (const r of mem.runs) expect(firstDifference(image.readPhys(r.paddr, r.length), mem.readPhys(r.paddr, r.length))).toBe(-1);
    image.close();
  });

  it('writers refuse run lists they cannot represent, and sources that lie about length', () => {
    const path = tmp('refused.img');
    const one = chunkedSource([new Uint8Array(16)]);
    expect(() => writeLimeImage(path, [], one)).toThrow('writeLimeImage: no runs to write');
    expect(() =>
      writeRawImage(
        path,
        [
          { paddr: phys(0x2000), length: 16 },
          { paddr: phys(0x1000), length: 16 },
        ],
        one,
      ),
    ).toThrow('writeRawImage: run #1 at 0x1000 is out of order or overlaps the run before it');
    expect(() => writeElfCoreImage(path, [{ paddr: phys(0), length: 0 }], one)).toThrow(UsageError);
    expect(() => writeLimeImage(path, [{ paddr: phys(0), length: 32 }], chunkedSource([new Uint8Array(32)], [16]))).not.toThrow();
    const short = function* () {
      yield new Uint8Array(10);
    };
    expect(() => writeLimeImage(path, [{ paddr: phys(0), length: 16 }], short)).toThrow(
      'writeLimeImage: the byte source for run #0 (0x0) produced 10 bytes, expected 16',
    );
    const long = function* () {
      yield new Uint8Array(20);
    };
    expect(() => writeElfCoreImage(path, [{ paddr: phys(0), length: 16 }], long)).toThrow('produced more than 16 bytes');
    expect(() =>
      writeElfCoreImage(path, [{ paddr: phys(2 ** 32), length: 16 }], one, { elfClass: 32 }),
    ).toThrow('an ELF32 core needs every physical address and file offset below 4 GiB');
  });

  it('overlayRunBytes places patches over a streamed source (property)', () => {
    let n = 0;
    fc.assert(
      fc.property(
        layoutArb,
        fc.array(fc.record({ at: fc.integer({ min: 0, max: 40000 }), length: fc.integer({ min: 1, max: 9000 }) }), {
          maxLength: 8,
        }),
        ({ base, shape, chunks, seed }, patchShapes) => {
          const { runs, contents } = buildRuns(base, shape, seed);
          const patches = patchShapes.map((p, i) => ({ paddr: phys(base + p.at), bytes: patternBytes(seed + 100 + i, p.length) }));
          // Model: run contents with each patch applied in order, clipped to the runs.
          const want = contents.map((c) => c.slice());
          for (const p of patches) {
            runs.forEach((r, i) => {
              const from = Math.max(r.paddr, p.paddr);
              const to = Math.min(r.paddr + r.length, p.paddr + p.bytes.length);
              if (from < to) want[i]!.set(p.bytes.subarray(from - p.paddr, to - p.paddr), from - r.paddr);
            });
          }
          const path = tmp(`overlay-${n++}.lime`);
          writeLimeImage(path, runs, overlayRunBytes(chunkedSource(contents, chunks), patches));
          const image = openImage(path);
          try {
            runs.forEach((r, i) => expect(firstDifference(image.readPhys(r.paddr, r.length), want[i]!)).toBe(-1));
          } finally {
            image.close();
          }
          // The source's own buffers were not modified.
          contents.forEach((c, i) => expect(firstDifference(c, patternBytes(seed + i, c.length))).toBe(-1));
        },
      ),
      { numRuns: 25 },
    );
  });
});
