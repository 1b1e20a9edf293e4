// The common machinery of synthetic worlds: seeded generator, buddy allocator, noise,
// streaming image writer and the option / attack parsers, driven by a toy world plug-in.
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { phys, virt } from '../../src/addr.js';
import { UsageError } from '../../src/errors.js';
import { PagingTranslator, X86_64_4LEVEL, openImage, zeroChunk, writeRawImage } from '../../src/layers/index.js';
import {
  MAX_ORDER,
  MemoryMap,
  NoiseBank,
  NoiseKind,
  PAGE_SIZE,
  PageAllocator,
  PageContent,
  Prng,
  buildWorld,
  parseAttackSpec,
  parseSize,
  resolveSynthOptions,
  synthesize,
  truthJson,
  type PageBlock,
} from '../../src/synth/index.js';
import { firstDifference, useTmpDir } from '../helpers/images.js';
import { TOY_BASE, TOY_MAGIC, toyWorld } from './toy-world.js';

const tmp = useTmpDir('synth-common');
const WORLDS = [toyWorld];

describe('Prng', () => {
  it('repeats a sequence for a seed and differs between seeds and labels', () => {
    const seq = (p: Prng) => Array.from({ length: 8 }, () => p.u32());
    expect(seq(new Prng(42))).toEqual(seq(new Prng(42)));
    expect(seq(new Prng(42))).not.toEqual(seq(new Prng(43)));
    expect(seq(new Prng(42, 'a'))).not.toEqual(seq(new Prng(42, 'b')));
    expect(seq(new Prng(123))).not.toEqual(seq(new Prng('123')));
  });

  it('derives children from the seed and label only, not from how much the parent drew', () => {
    const a = new Prng(5);
    const b = new Prng(5);
    for (let i = 0; i < 1000; i += 1) b.u32();
    expect(a.child('x').u32()).toBe(b.child('x').u32());
    expect(a.child('x').u32()).not.toBe(a.child('y').u32());
  });

  it('draws integers in range, roughly uniformly', () => {
    const p = new Prng(9);
    const counts = new Array<number>(10).fill(0);
    for (let i = 0; i < 20000; i += 1) {
      const x = p.int(10);
      expect(x >= 0 && x < 10).toBe(true);
      counts[x]! += 1;
    }
    // Chi-square with 9 degrees of freedom: 27.9 is the 0.1 % tail.
    const chi = counts.reduce((s, c) => s + (c - 2000) ** 2 / 2000, 0);
    expect(chi).toBeLessThan(27.9);
    fc.assert(fc.property(fc.integer({ min: -1e9, max: 1e9 }), fc.integer({ min: 0, max: 1e9 }), (lo, span) => {
      const x = p.range(lo, lo + span);
      return x >= lo && x <= lo + span;
    }));
  });
});

describe('PageAllocator', () => {
  const regions = [{ start: 0x1000, end: 0x9f000 }, { start: 0x100000, end: 0x2000000 }];

  it('hands out aligned, disjoint blocks inside the usable ranges and merges on free', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 }), fc.array(fc.tuple(fc.integer({ min: 0, max: 6 }), fc.boolean()), { maxLength: 80 }), (seed, ops) => {
        const a = new PageAllocator(0x2000000 / PAGE_SIZE, regions, new Prng(seed));
        const total = a.freePageCount;
        const held: PageBlock[] = [];
        const owner = new Map<number, number>();
        for (const [order, freeOne] of ops) {
          if (freeOne && held.length > 0) {
            const b = held.splice(seed % held.length, 1)[0]!;
            a.free(b);
            for (let p = 0; p < 1 << b.order; p += 1) owner.delete(b.pa / PAGE_SIZE + p);
            continue;
          }
          const b = a.alloc(order);
          expect(b.pa % (PAGE_SIZE << order)).toBe(0);
          expect(regions.some((r) => b.pa >= r.start && b.pa + (PAGE_SIZE << order) <= r.end)).toBe(true);
          for (let p = 0; p < 1 << order; p += 1) {
            expect(owner.has(b.pa / PAGE_SIZE + p)).toBe(false);
            owner.set(b.pa / PAGE_SIZE + p, held.length);
          }
          held.push(b);
        }
        expect(a.freePageCount).toBe(total - owner.size);
        for (const b of held) a.free(b);
        expect(a.freePageCount).toBe(total);
      }),
      { numRuns: 60 },
    );
  });

  it('fragments memory when churned: free space is spread over many blocks of every size', () => {
    const a = new PageAllocator(0x8000000 / PAGE_SIZE, [{ start: 0x100000, end: 0x8000000 }], new Prng(3));
    const before = a.freePageCount;
    const { held, freed } = a.churn(0.5, 0.35);
    const used = held.reduce((n, b) => n + (1 << b.order), 0);
    expect(used / before).toBeGreaterThan(0.25);
    expect(used / before).toBeLessThan(0.45);
    expect(freed.length).toBeGreaterThan(100);
    // After churn a 4 MiB block is rarer than before, and order-0 pages exist.
    let orders = 0;
    for (let o = 0; o <= MAX_ORDER; o += 1) {
      try {
        const probe = new PageAllocator(0x8000000 / PAGE_SIZE, [{ start: 0x100000, end: 0x8000000 }], new Prng(3));
        probe.churn(0.5, 0.35);
        probe.alloc(o);
        orders += 1;
      } catch {
        // no block of this order
      }
    }
    expect(orders).toBeGreaterThan(5);
    // Allocations after churn land all over memory, not in one region.
    const spots = new Set(Array.from({ length: 64 }, () => Math.floor(a.alloc(3).pa / 0x1000000)));
    expect(spots.size).toBeGreaterThan(4);
  });

  it('reserves a range, keeping the rest of its blocks free, and refuses pages in use', () => {
    const a = new PageAllocator(0x1000000 / PAGE_SIZE, [{ start: 0, end: 0x1000000 }], new Prng(1));
    a.reserve(0x345000, 0x3000);
    expect(a.isFree(phys(0x344000))).toBe(true);
    expect(a.isFree(phys(0x345000))).toBe(false);
    expect(a.isFree(phys(0x347000))).toBe(false);
    expect(a.isFree(phys(0x348000))).toBe(true);
    expect(a.freePageCount).toBe(0x1000 - 3);
    expect(() => a.reserve(0x346000, 0x1000)).toThrow(UsageError);
  });
});

describe('noise', () => {
  const memory = MemoryMap.q35(32 << 20);
  const env = {
    pointerSize: 8 as const,
    selfBase: TOY_BASE,
    heapPointer: (r: Prng) => TOY_BASE + BigInt(r.int(1 << 19) * 64),
    codePointer: (r: Prng) => 0xffffffff81000000n + BigInt(r.int(1 << 20) * 16),
    userPointer: (r: Prng) => 0x7f0000000000n + BigInt(r.int(1 << 30) * 8),
    words: ['sshd'],
    pageCount: memory.pageCount,
  };

  it('gives a page the same bytes every time, different pages different bytes', () => {
    const bank = new NoiseBank(env, new Prng(1), 8);
    for (const kind of [NoiseKind.slab, NoiseKind.text, NoiseKind.code, NoiseKind.structPages, NoiseKind.sparse]) {
      expect(firstDifference(bank.page(kind, 77), bank.page(kind, 77))).toBe(-1);
      expect(firstDifference(bank.page(kind, 77), bank.page(kind, 78))).not.toBe(-1);
      expect(firstDifference(bank.page(kind, 77), new NoiseBank(env, new Prng(1), 8).page(kind, 77))).toBe(-1);
    }
    expect(bank.page(NoiseKind.zero, 5).every((b) => b === 0)).toBe(true);
  });

  it('relocates page-relative pointers to the page they land in (self-linked list heads)', () => {
    const bank = new NoiseBank(env, new Prng(2), 8);
    let selfLinked = 0;
    for (const pfn of [0x123, 0x4567, 0x7fff]) {
      const page = bank.page(NoiseKind.slab, pfn);
      const v = new DataView(page.buffer);
      const pageVa = TOY_BASE + BigInt(pfn * PAGE_SIZE);
      for (let at = 0; at < PAGE_SIZE; at += 8) {
        const x = v.getBigUint64(at, true);
        if (x === pageVa + BigInt(at)) selfLinked += 1;
      }
    }
    expect(selfLinked).toBeGreaterThan(3);
  });

  it('looks like kernel memory: slab pages hold kernel pointers, text pages printable strings', () => {
    const bank = new NoiseBank(env, new Prng(3), 16);
    let pointers = 0;
    let printable = 0;
    for (let pfn = 0; pfn < 16; pfn += 1) {
      const slab = new DataView(bank.page(NoiseKind.slab, pfn).buffer);
      for (let at = 0; at < PAGE_SIZE; at += 8) if (slab.getBigUint64(at, true) >> 47n === 0x1ffffn) pointers += 1;
      const text = bank.page(NoiseKind.text, pfn);
      printable += text.filter((c) => (c >= 0x20 && c < 0x7f) || c === 10 || c === 0).length;
    }
    expect(pointers / (16 * 512)).toBeGreaterThan(0.1);
    expect(printable / (16 * PAGE_SIZE)).toBeGreaterThan(0.95);
  });
});

describe('image writer', () => {
  it('writes a sparse raw image: zero chunks become holes that read back as zeros', () => {
    const path = tmp('sparse.raw');
    const size = 64 << 20;
    writeRawImage(path, [{ paddr: phys(0), length: size }], function* () {
      const data = new Uint8Array(1 << 20).fill(0xab);
      for (let i = 0; i < 64; i += 1) yield i % 16 === 0 ? data : zeroChunk(1 << 20);
    });
    const st = statSync(path);
    expect(st.size).toBe(size);
    expect(st.blocks * 512).toBeLessThan(size / 4);
    const img = openImage(path);
    try {
      expect(img.readPhys(phys(1 << 20), 16).every((b) => b === 0)).toBe(true);
      expect(img.readPhys(phys(16 << 20), 16).every((b) => b === 0xab)).toBe(true);
    } finally {
      img.close();
    }
  });

  it('writes the same world in raw, LiME and ELF with the same bytes at every address, objects and page tables included', () => {
    const args = { os: 'toy', seed: 11, size: '24M', procs: 12, exited: 0, hidden: 0 };
    const images = (['raw', 'lime', 'elf'] as const).map((format) => synthesize({ ...args, format, out: tmp(`fmt-${format}`) }, WORLDS));
    const readers = images.map((r) => openImage(r.imagePath));
    try {
      const truth = images[0]!.truth;
      for (const t of truth.tasks) {
        const pa = Number(t.pa);
        const bytes = readers.map((r) => r.readPhys(phys(pa), 32));
        const view = new DataView(bytes[0]!.buffer, bytes[0]!.byteOffset);
        expect(view.getUint32(0, true)).toBe(TOY_MAGIC);
        expect(view.getUint32(4, true)).toBe(t.pid);
        expect(view.getBigUint64(24, true)).toBe(BigInt(t.va));
        for (const b of bytes.slice(1)) expect(firstDifference(b, bytes[0]!)).toBe(-1);
      }
      // Every object's va translates through the world's page table to its pa.
      const walker = new PagingTranslator(readers[0]!, X86_64_4LEVEL, phys(Number(truth.layout["dtb"])));
      for (const t of truth.tasks) expect(walker.translateVirt(virt(BigInt(t.va)))).toBe(Number(t.pa));
      // Same bytes over all of RAM except where LiME has no run (page 0, the legacy hole).
      for (const pa of [0x100000, 0x7ff000, 0x1000000, 0x17df000]) {
        const a = readers[0]!.readPhys(phys(pa), PAGE_SIZE);
        expect(firstDifference(readers[1]!.readPhys(phys(pa), PAGE_SIZE), a)).toBe(-1);
        expect(firstDifference(readers[2]!.readPhys(phys(pa), PAGE_SIZE), a)).toBe(-1);
      }
      expect(readers[1]!.isMappedPhys(phys(0), 16)).toBe(false);
      expect(readers[2]!.isMappedPhys(phys(0xfffc0000), 16)).toBe(true);
    } finally {
      for (const r of readers) r.close();
    }
  });

  it('is deterministic: the same arguments give byte-identical image and truth, another seed does not', () => {
    const hash = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');
    const a = synthesize({ os: 'toy', seed: 5, size: '16M', procs: 5, format: 'elf', out: tmp('det-a') }, WORLDS);
    const b = synthesize({ os: 'toy', seed: 5, size: '16M', procs: 5, format: 'elf', out: tmp('det-b') }, WORLDS);
    const c = synthesize({ os: 'toy', seed: 6, size: '16M', procs: 5, format: 'elf', out: tmp('det-c') }, WORLDS);
    expect(hash(a.imagePath)).toBe(hash(b.imagePath));
    expect(hash(a.truthPath)).toBe(hash(b.truthPath));
    expect(hash(a.imagePath)).not.toBe(hash(c.imagePath));
  });

  it('buildWorld.readPhys agrees with the written image', () => {
    const { plugin, options } = resolveSynthOptions({ os: 'toy', seed: 2, size: '16M', procs: 3 }, WORLDS);
    const w = buildWorld(plugin, options);
    const r = synthesize({ os: 'toy', seed: 2, size: '16M', procs: 3, out: tmp('readphys') }, WORLDS);
    const img = openImage(r.imagePath);
    try {
      for (const pa of [0, 0x9f000, 0x100000, Number(r.truth.tasks[0]!.pa) & ~0xfff, 0xff0000]) {
        expect(firstDifference(w.readPhys(pa, PAGE_SIZE), img.readPhys(phys(pa), PAGE_SIZE))).toBe(-1);
      }
      expect(truthJson(r.truth)).toContain('"generator": "kcarve synth"');
    } finally {
      img.close();
    }
  });
});

describe('options and attacks', () => {
  it('parses sizes', () => {
    expect(parseSize('256M')).toBe(256 << 20);
    expect(parseSize('1G')).toBe(2 ** 30);
    expect(parseSize('4GiB')).toBe(4 * 2 ** 30);
    expect(parseSize('65536')).toBe(65536);
    expect(() => parseSize('12X')).toThrow('--size "12X": expected a size such as 256M, 1G or 4GiB');
  });

  it('maps q35 RAM above 2 GiB to 4 GiB and each format to its runs', () => {
    const m = MemoryMap.q35(3 * 2 ** 30);
    expect(m.ram).toEqual([{ start: 0, end: 2 ** 31 }, { start: 2 ** 32, end: 2 ** 32 + 2 ** 30 }]);
    expect(m.runs('raw')).toEqual([{ paddr: 0, length: 2 ** 32 + 2 ** 30 }]);
    expect(m.runs('elf').map((r) => r.paddr)).toEqual([0, 0xfffc0000, 2 ** 32]);
    expect(m.runs('lime')[0]).toEqual({ paddr: 0x1000, length: 0x9f000 - 0x1000 });
    const content = new PageContent(m);
    expect(content.kindAt(0)).toBe(NoiseKind.lowMemory);
    expect(content.kindAt(0xfffc0000 / PAGE_SIZE)).toBe(NoiseKind.firmware);
  });

  it('parses attack specs against the world and rejects bad ones with exact messages', () => {
    const known = { comm: 'x', pid: 'y' };
    expect(parseAttackSpec('comm, pid,random:2', 'toy', known, ['a', 'b', 'c'])).toEqual({ text: 'comm, pid,random:2', named: ['comm', 'pid'], random: 2 });
    expect(parseAttackSpec('none', 'toy', known, [])).toEqual({ text: '', named: [], random: 0 });
    expect(() => parseAttackSpec('flags', 'toy', known, [])).toThrow('--attack "flags": unknown attack "flags" for toy (known: comm, pid, random:N)');
    expect(() => parseAttackSpec('comm,,pid', 'toy', known, [])).toThrow('--attack "comm,,pid": empty term');
    expect(() => parseAttackSpec('random:x', 'toy', known, ['a'])).toThrow('--attack "random:x": "random:x" needs a positive whole number N');
    expect(() => parseAttackSpec('random:4', 'toy', known, ['a', 'b'])).toThrow('random:4 asks for more fields than the 2 a toy world can mutate');
    expect(() => parseAttackSpec('comm,comm', 'toy', known, [])).toThrow('"comm" is given twice');
  });

  it('checks every option and names it in the error', () => {
    const bad: [Record<string, unknown>, string][] = [
      [{ os: 'plan9' }, '--os "plan9": no synthetic world for this OS (known: toy)'],
      [{ os: 'toy', build: 'toy-9' }, '--build "toy-9": unknown for toy (known: toy-1, toy-2)'],
      [{ os: 'toy', size: '8M' }, '--size 8M: a toy toy-1 world needs at least 16 MiB'],
      [{ os: 'toy', procs: '-1' }, '--procs "-1": expected a whole number from 0 to 100000'],
      [{ os: 'toy', procs: 2, hidden: 3 }, '--hidden 3: cannot hide more processes than --procs 2'],
      [{ os: 'toy', format: 'vmem' }, '--format "vmem": expected one of raw, lime, elf'],
      [{ os: 'toy', paging: 5 }, '--paging "5": a toy world supports 4'],
      [{ os: 'toy', attack: 'tasks' }, 'unknown attack "tasks" for toy'],
    ];
    for (const [args, message] of bad) {
      expect(() => resolveSynthOptions(args, WORLDS)).toThrow(UsageError);
      expect(() => resolveSynthOptions(args, WORLDS)).toThrow(message);
    }
  });
});
