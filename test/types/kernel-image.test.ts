import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { LayoutError } from '../../src/errors.js';
import { extractKernelBtf, findBanner, vmlinuxFromBzImage } from '../../src/types/kernel-image.js';
import { layoutFromBytes } from '../../src/types/load.js';
import { parseElf } from '../../src/types/elf.js';
import { bcjX86Decode, crc64, decodeXz } from '../../src/types/xz.js';
import { writeBzImage } from '../helpers/btf-writer.js';
import { MINI_BTF, SAMPLE, miniVmlinux } from '../fixtures/types/make-fixtures.js';

const require = createRequire(import.meta.url);
const fixture = (name: string): Uint8Array => new Uint8Array(readFileSync(new URL(`../fixtures/types/${name}`, import.meta.url)));

describe('xz decoding (fixtures made by XZ Utils 5.4.1)', () => {
  const sample = SAMPLE();

  it('decodes x86 BCJ + LZMA2 with a CRC32 check (the kernel payload format)', () => {
    expect(Buffer.from(decodeXz(fixture('x86-sample.bcj.xz'), 'bcj.xz')).equals(Buffer.from(sample))).toBe(true);
  });

  it('decodes several blocks with a CRC64 check, and a SHA-256 check', () => {
    expect(Buffer.from(decodeXz(fixture('x86-sample.crc64-blocks.xz'), 'b.xz')).equals(Buffer.from(sample))).toBe(true);
    expect(Buffer.from(decodeXz(fixture('x86-sample.sha256.xz'), 's.xz')).equals(Buffer.from(sample))).toBe(true);
  });

  it('CRC-64 matches the published check value of "123456789"', () => {
    // The xz spec's CRC64 (ECMA-182, reflected) check value: 0x995DC9BBDF1939FA.
    expect(crc64(Buffer.from('123456789'))).toBe(0x995dc9bbdf1939fan);
  });

  it('BCJ decode leaves data without E8/E9 untouched', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const clean = bytes.map((b) => (b === 0xe8 || b === 0xe9 ? 0x90 : b));
        const copy = Uint8Array.from(clean);
        bcjX86Decode(copy);
        expect(copy).toEqual(clean);
      }),
    );
  });

  it('a flipped byte anywhere is a LayoutError (check, CRC or structure), never a crash', () => {
    const good = fixture('x86-sample.bcj.xz');
    fc.assert(
      fc.property(fc.nat(good.length - 1), fc.integer({ min: 1, max: 255 }), (at, x) => {
        const bad = Uint8Array.from(good);
        bad[at] ^= x;
        let out: Uint8Array | undefined;
        try {
          out = decodeXz(bad, 'bad.xz');
        } catch (err) {
          expect(err).toBeInstanceOf(LayoutError);
          expect((err as Error).message).toMatch(/^bad\.xz: xz data at offset 0x[0-9a-f]+: /);
          return;
        }
        // Only a flip that the format cannot notice may decode; it must still be the right size.
        expect(out.length).toBe(sample.length);
      }),
      { numRuns: 150 },
    );
  });

  it('every truncation is a LayoutError', () => {
    const good = fixture('x86-sample.sha256.xz');
    for (const n of [0, 5, 12, 13, 20, 100, good.length - 70, good.length - 12, good.length - 1]) {
      expect(() => decodeXz(good.subarray(0, n), 'cut.xz')).toThrow(LayoutError);
    }
  });

  it('refuses output past the limit before decoding it', () => {
    expect(() => decodeXz(fixture('x86-sample.bcj.xz'), 'big.xz', 0, { maxOutput: 1000 })).toThrow(/exceeds the limit of 1000 bytes/);
  });

  it('reads what @napi-rs/lzma writes', () => {
    const xz = require('@napi-rs/lzma/xz') as { compressSync(d: Uint8Array): Buffer };
    const text = Buffer.from('{"hello": "world"}'.repeat(1000));
    expect(Buffer.from(decodeXz(xz.compressSync(text), 'n.xz')).equals(text)).toBe(true);
  });
});

describe('kernel images', () => {
  const elf = miniVmlinux();

  it('finds .BTF and the linked banner (with build number) in a vmlinux ELF', () => {
    const k = extractKernelBtf(elf, 'vmlinux');
    expect(k.kind).toBe('elf');
    expect(Buffer.from(k.btf).equals(Buffer.from(MINI_BTF))).toBe(true);
    expect(k.banner).toBe('Linux version 6.1.0-test-amd64 (t@e) (gcc) #1 SMP\n');
    expect(k.release).toBe('6.1.0-test-amd64');
    expect(parseElf(elf, 'vmlinux').sections.map((s) => s.name)).toEqual(['', '.text', '.rodata', '.BTF', '.shstrtab']);
  });

  it('decompresses an xz bzImage (x86 BCJ payload + appended size, as Kbuild writes it)', () => {
    const xz = fixture('vmlinux-mini.elf.xz');
    const payload = new Uint8Array(xz.length + 4);
    payload.set(xz);
    new DataView(payload.buffer).setUint32(xz.length, elf.length, true); // size_append
    const img = writeBzImage(payload);
    const { vmlinux, compression, release } = vmlinuxFromBzImage(img, 'vmlinuz');
    expect(compression).toBe('xz');
    expect(release).toBe('6.1.0-test-amd64');
    expect(Buffer.from(vmlinux).equals(Buffer.from(elf))).toBe(true);
    const layout = layoutFromBytes(img, 'vmlinuz');
    expect(layout.offsetOf('mini', 'b')).toBe(4);
    expect(layout.metadata.kernelRelease).toBe('6.1.0-test-amd64');
    expect(layout.metadata.banner).toMatch(/#1 SMP\n$/);
  });

  it('decompresses a gzip bzImage', () => {
    const img = writeBzImage(gzipSync(elf));
    const k = extractKernelBtf(img, 'vmlinuz.gz');
    expect(k).toMatchObject({ kind: 'bzimage', compression: 'gzip' });
    expect(Buffer.from(k.btf).equals(Buffer.from(MINI_BTF))).toBe(true);
  });

  it('names unsupported payload compressions and broken headers', () => {
    const zstd = writeBzImage(Uint8Array.from([0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3]));
    expect(() => vmlinuxFromBzImage(zstd, 'z')).toThrow(/payload is ZSTD-compressed; kcarve decodes gzip and xz only/);
    const img = writeBzImage(gzipSync(elf));
    new DataView(img.buffer).setUint32(0x24c, 0x7fffffff, true);
    expect(() => vmlinuxFromBzImage(img, 'long')).toThrow(/long: bzImage at offset 0x248: payload .* is outside the file/);
    const noBtf = writeBzImage(gzipSync(Buffer.from(parseAndStrip(elf))));
    expect(() => extractKernelBtf(noBtf, 'nobtf')).toThrow(/no \.BTF section/);
    expect(() => extractKernelBtf(Buffer.from('hello world'), 'txt')).toThrow(/not a BTF blob, vmlinux ELF or bzImage/);
  });

  it('truncated ELF headers are LayoutErrors', () => {
    for (const n of [4, 30, 63, 100, elf.length - 10]) expect(() => extractKernelBtf(elf.subarray(0, n), 'cut.elf')).toThrow(LayoutError);
  });

  it('prefers the banner with a build number', () => {
    expect(findBanner(Buffer.from('Linux version 1 (a) # X\n\u0000Linux version 1 (a) #7 X\n\u0000'))).toBe('Linux version 1 (a) #7 X\n');
    expect(findBanner(Buffer.from('Linux version 1 (a) # X\n\u0000'))).toBe('Linux version 1 (a) # X\n');
    expect(findBanner(Buffer.from('no banner here'))).toBeUndefined();
  });
});

/** The same ELF with its .BTF section renamed, so it has none. */
function parseAndStrip(elf: Uint8Array): Uint8Array {
  const copy = Uint8Array.from(elf);
  const at = Buffer.from(copy).indexOf('.BTF\u0000');
  copy.set(Buffer.from('.XYZ'), at);
  return copy;
}
