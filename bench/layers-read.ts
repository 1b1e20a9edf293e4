// How fast the physical and virtual layers read, on an image in the page cache.
// Not a test: figures depend on the machine. Run: node --import tsx bench/layers-read.ts [MiB]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { phys, virt } from '../src/addr.js';
import {
  PageTableBuilder,
  PagingTranslator,
  X86_64_4LEVEL,
  alignedBuffer,
  bumpAllocator,
  openImage,
  overlayRunBytes,
  writeElfCoreImage,
} from '../src/layers/index.js';

const mib = Number(process.argv[2] ?? 256);
const size = mib << 20;
const dir = mkdtempSync(join(tmpdir(), 'kcarve-bench-'));
const path = join(dir, 'bench.elf');

function time<T>(label: string, bytesOrOps: number, unit: 'GB/s' | 'M/s', fn: () => T): T {
  let best = Infinity;
  let result!: T;
  for (let i = 0; i < 3; i++) {
    const t0 = process.hrtime.bigint();
    result = fn();
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  const rate = unit === 'GB/s' ? bytesOrOps / best / 1e9 : bytesOrOps / best / 1e6;
  console.log(`${label.padEnd(52)} ${rate.toFixed(2).padStart(8)} ${unit}`);
  return result;
}

// Page tables mapping the whole image with 4 KiB pages, tables placed in the last 8 MiB.
const tablesAt = size - (8 << 20);
const builder = new PageTableBuilder(X86_64_4LEVEL, bumpAllocator(tablesAt, size));
const vbase = 0xffff_c900_0000_0000n;
builder.mapRange(virt(vbase), phys(0), tablesAt, {}, 4096);
const chunk = new Uint8Array(1 << 20).fill(0xa5);
const source = overlayRunBytes(function* (run) {
  for (let done = 0; done < run.length; done += chunk.length) yield chunk.subarray(0, Math.min(chunk.length, run.length - done));
}, builder.tablePages());
time(`write ${mib} MiB ELF core (streamed, tables overlaid)`, size, 'GB/s', () =>
  writeElfCoreImage(path, [{ paddr: phys(0), length: size }], source),
);

const image = openImage(path);
const aligned = alignedBuffer(1 << 20);
const plain = new Uint8Array((1 << 20) + 4096).subarray(16, 16 + (1 << 20));
const sweep = (target: Uint8Array) => () => {
  for (let pa = 0; pa + target.length <= size; pa += target.length) image.readPhysInto(phys(pa), target);
};
// Interleaved, best of 7 each: the two differ little unless the machine is quiet.
const best = { aligned: 0, plain: 0 };
for (let i = 0; i < 7; i++) {
  for (const [k, target] of [['aligned', aligned], ['plain', plain]] as const) {
    const t0 = process.hrtime.bigint();
    sweep(target)();
    best[k] = Math.max(best[k], size / (Number(process.hrtime.bigint() - t0) / 1e9) / 1e9);
  }
}
console.log(`${'readPhysInto 1 MiB blocks, page-aligned target'.padEnd(52)} ${best.aligned.toFixed(2).padStart(8)} GB/s`);
console.log(`${'readPhysInto 1 MiB blocks, malloc target + 16 B'.padEnd(52)} ${best.plain.toFixed(2).padStart(8)} GB/s`);

const n = 200_000;
let x = 12345;
const rnd = () => ((x = (x * 1103515245 + 12345) >>> 0), x);
time('readPhys 8 bytes, random over 512 KiB (page-cache hits)', n, 'M/s', () => {
  for (let i = 0; i < n; i++) image.readPhys(phys((rnd() % ((512 << 10) - 8)) & ~7), 8);
});
time(`readPhys 8 bytes, random over ${mib} MiB (mostly misses)`, n, 'M/s', () => {
  for (let i = 0; i < n; i++) image.readPhys(phys((rnd() % (size - 8)) & ~7), 8);
});
const t = new PagingTranslator(image, X86_64_4LEVEL, builder.root);
time('translateVirt, 4 KiB pages, random over 4 MiB of VA', n, 'M/s', () => {
  for (let i = 0; i < n; i++) t.translateVirt(virt(vbase + BigInt(rnd() % (4 << 20))));
});
const m = time('mappings() over the whole image', tablesAt / 4096, 'M/s', () => {
  let count = 0;
  for (const _ of t.mappings()) count++;
  return count;
});
console.log(`(${m} mappings enumerated)`);
image.close();
rmSync(dir, { recursive: true, force: true });
