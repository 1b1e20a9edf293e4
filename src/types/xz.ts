// Decode .xz data: Debian compresses its kernels with `xz --x86 --lzma2`
// (CONFIG_KERNEL_XZ; scripts/xz_wrap.sh) and Volatility 3 ships its symbol packs
// as `.json.xz`. Node's zlib has no LZMA, and the npm decoders that run on Node 20
// reject the x86 BCJ filter the kernel uses ("Unknown filter id 4"). So this file
// reads the .xz container itself, hands each block's raw LZMA2 data to
// @napi-rs/lzma (lzma2.decompressSync), undoes the x86 BCJ filter, and verifies
// each block's check and the index.
//
// Container facts: "The .xz File Format" 1.1.0 (Lasse Collin, tukaani.org):
// 2.1.1 stream header (magic FD 37 7A 58 5A 00, flags 00 cc, CRC32), 2.1.2
// footer (CRC32, backward size, flags, "YZ"), 3.1 block header (size byte
// (n+1)*4, flags: bits 0-1 filters-1, bit 6/7 sizes present; filter flags;
// padding; CRC32), 3.3 block padding to 4 bytes then the check, 4 index,
// 1.2 multibyte integers (7 bits per byte, at most 9 bytes), 5.3 filter ids
// (0x21 LZMA2, 0x04 x86 BCJ), 3.1.6/7 check sizes per type.
// LZMA2 chunk headers (needed to find a block's end and its size before
// decoding it): control 0x00 end, 0x01/0x02 uncompressed chunk + u16be size-1,
// 0x80-0xff LZMA chunk with bits 0-4 the high bits of (unpacked size - 1), then
// u16be (unpacked size - 1), u16be (packed size - 1), and a properties byte
// when bits 5-6 are >= 2 (liblzma src/liblzma/lzma/lzma2_decoder.c, 0BSD).
import { createRequire } from 'node:module';
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { EnvironmentError, LayoutError } from '../errors.js';

const require = createRequire(import.meta.url);

export const XZ_MAGIC = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00] as const;
const CHECK_SIZE = [0, 4, 4, 4, 8, 8, 8, 16, 16, 16, 32, 32, 32, 64, 64, 64];
const FILTER_LZMA2 = 0x21n;
const FILTER_X86 = 0x04n;

export function isXz(bytes: Uint8Array): boolean {
  return bytes.length >= 6 && XZ_MAGIC.every((b, i) => bytes[i] === b);
}

export interface XzOptions {
  /** Refuse output larger than this many bytes (checked before decoding). Default 2 GiB - 1. */
  maxOutput?: number;
  /** Data after the first stream: 'streams' decodes further streams (xz -d does), 'ignore' stops. */
  trailing?: 'streams' | 'ignore';
}

type Lzma2 = { decompressSync(input: Uint8Array): Buffer };
let lzma2: Lzma2 | undefined;
function lzma2Decoder(): Lzma2 {
  if (!lzma2) {
    try {
      lzma2 = require('@napi-rs/lzma/lzma2') as Lzma2;
    } catch (err) {
      throw new EnvironmentError('@napi-rs/lzma', `cannot load the LZMA2 decoder (${(err as Error).message})`, 'run npm ci, or decompress the file with `xz -d` and pass the result');
    }
  }
  return lzma2;
}

/** Decode an .xz buffer. `file` and `base` (offset of the data in that file) name errors. */
export function decodeXz(bytes: Uint8Array, file: string, base = 0, options: XzOptions = {}): Buffer {
  const maxOutput = options.maxOutput ?? 2 ** 31 - 1;
  const fail = (at: number, reason: string): LayoutError =>
    new LayoutError(file, undefined, undefined, `xz data at offset 0x${(base + at).toString(16)}: ${reason}`);
  const out: Buffer[] = [];
  let total = 0;
  let p = 0;
  for (;;) {
    p = decodeStream(p);
    if (options.trailing === 'ignore') break;
    while (p + 4 <= bytes.length && bytes[p] === 0 && bytes[p + 1] === 0 && bytes[p + 2] === 0 && bytes[p + 3] === 0) p += 4; // stream padding
    if (p === bytes.length) break;
    if (!isXz(bytes.subarray(p))) throw fail(p, 'unexpected data after the xz stream');
  }
  return out.length === 1 ? out[0]! : Buffer.concat(out, total);

  function decodeStream(start: number): number {
    if (start + 12 > bytes.length || !isXz(bytes.subarray(start))) throw fail(start, 'not an xz stream (bad magic)');
    const flags = bytes.subarray(start + 6, start + 8);
    if (crc32(flags) !== u32(start + 8)) throw fail(start + 8, 'stream header CRC32 mismatch');
    if (flags[0] !== 0 || (flags[1]! & 0xf0) !== 0) throw fail(start + 6, 'unsupported stream flags');
    const checkType = flags[1]! & 0x0f;
    const checkSize = CHECK_SIZE[checkType]!;
    let p = start + 12;
    const records: Array<{ unpadded: number; uncompressed: number }> = [];
    for (;;) {
      need(p, 1, 'block header');
      if (bytes[p] === 0) break; // index indicator
      const r = decodeBlock(p, checkType, checkSize);
      records.push({ unpadded: r.unpadded, uncompressed: r.uncompressed });
      p = r.next;
    }
    p = checkIndex(p, records);
    need(p, 12, 'stream footer');
    if (bytes[p + 10] !== 0x59 || bytes[p + 11] !== 0x5a) throw fail(p + 10, 'bad stream footer magic');
    if (bytes[p + 8] !== flags[0] || bytes[p + 9] !== flags[1]) throw fail(p + 8, 'stream footer flags differ from the header');
    return p + 12;
  }

  function decodeBlock(start: number, checkType: number, checkSize: number): { next: number; unpadded: number; uncompressed: number } {
    const hdrSize = (bytes[start]! + 1) * 4;
    need(start, hdrSize, 'block header');
    if (crc32(bytes.subarray(start, start + hdrSize - 4)) !== u32(start + hdrSize - 4)) throw fail(start, 'block header CRC32 mismatch');
    const bflags = bytes[start + 1]!;
    if (bflags & 0x3c) throw fail(start + 1, 'reserved block flags set');
    let q = start + 2;
    const hdrEnd = start + hdrSize - 4;
    let declaredCompressed: bigint | undefined;
    let declaredUncompressed: bigint | undefined;
    if (bflags & 0x40) [declaredCompressed, q] = varint(q, hdrEnd);
    if (bflags & 0x80) [declaredUncompressed, q] = varint(q, hdrEnd);
    const filters: Array<{ id: bigint; props: Uint8Array }> = [];
    for (let i = 0; i <= (bflags & 3); i += 1) {
      let id: bigint;
      let n: bigint;
      [id, q] = varint(q, hdrEnd);
      [n, q] = varint(q, hdrEnd);
      if (BigInt(q) + n > BigInt(hdrEnd)) throw fail(q, 'filter properties run past the block header');
      filters.push({ id, props: bytes.subarray(q, q + Number(n)) });
      q += Number(n);
    }
    const last = filters[filters.length - 1]!;
    if (last.id !== FILTER_LZMA2) throw fail(start, `last filter is 0x${last.id.toString(16)}, only LZMA2 (0x21) is supported`);
    for (const f of filters.slice(0, -1)) {
      if (f.id !== FILTER_X86) throw fail(start, `filter 0x${f.id.toString(16)} is not supported (only x86 BCJ and LZMA2)`);
      if (f.props.length !== 0 && f.props.length !== 4) throw fail(start, 'x86 BCJ filter properties must be 0 or 4 bytes');
    }
    const dataStart = start + hdrSize;
    const { end, size } = scanLzma2(dataStart);
    if (declaredCompressed !== undefined && declaredCompressed !== BigInt(end - dataStart)) throw fail(start, 'block compressed size differs from its header');
    if (declaredUncompressed !== undefined && declaredUncompressed !== BigInt(size)) throw fail(start, 'block uncompressed size differs from its header');
    if (total + size > maxOutput) throw fail(start, `decompressed size ${total + size} exceeds the limit of ${maxOutput} bytes`);
    let data: Buffer;
    try {
      data = lzma2Decoder().decompressSync(bytes.subarray(dataStart, end));
    } catch (err) {
      throw fail(dataStart, `LZMA2 data is corrupt (${(err as Error).message})`);
    }
    if (data.length !== size) throw fail(dataStart, `LZMA2 data decoded to ${data.length} bytes, its chunk headers say ${size}`);
    for (let i = filters.length - 2; i >= 0; i -= 1) {
      const props = filters[i]!.props;
      const startOffset = props.length === 4 ? new DataView(props.buffer, props.byteOffset, 4).getUint32(0, true) : 0;
      bcjX86Decode(data, startOffset);
    }
    let p = end;
    while ((p - start) % 4 !== 0) {
      need(p, 1, 'block padding');
      if (bytes[p] !== 0) throw fail(p, 'non-zero block padding');
      p += 1;
    }
    need(p, checkSize, 'block check');
    verifyCheck(checkType, data, bytes.subarray(p, p + checkSize), p);
    out.push(data);
    total += size;
    return { next: p + checkSize, unpadded: hdrSize + (end - dataStart) + checkSize, uncompressed: size };
  }

  /** Walk LZMA2 chunk headers: where the data ends and how large it decodes. */
  function scanLzma2(start: number): { end: number; size: number } {
    let p = start;
    let size = 0;
    for (;;) {
      need(p, 1, 'LZMA2 chunk');
      const c = bytes[p]!;
      if (c === 0) return { end: p + 1, size };
      if (c === 1 || c === 2) {
        need(p, 3, 'LZMA2 chunk header');
        const n = ((bytes[p + 1]! << 8) | bytes[p + 2]!) + 1;
        size += n;
        p += 3 + n;
      } else if (c >= 0x80) {
        need(p, 5, 'LZMA2 chunk header');
        const unpacked = ((c & 0x1f) << 16) + ((bytes[p + 1]! << 8) | bytes[p + 2]!) + 1;
        const packed = ((bytes[p + 3]! << 8) | bytes[p + 4]!) + 1;
        size += unpacked;
        p += 5 + (c >= 0xc0 ? 1 : 0) + packed;
      } else {
        throw fail(p, `invalid LZMA2 control byte 0x${c.toString(16)}`);
      }
      if (p > bytes.length) throw fail(start, 'LZMA2 data is truncated');
      if (total + size > maxOutput) throw fail(start, `decompressed size exceeds the limit of ${maxOutput} bytes`);
    }
  }

  function checkIndex(start: number, records: Array<{ unpadded: number; uncompressed: number }>): number {
    let q = start + 1;
    let n: bigint;
    [n, q] = varint(q, bytes.length);
    if (n !== BigInt(records.length)) throw fail(start, `index lists ${n} blocks, the stream has ${records.length}`);
    for (const r of records) {
      let unpadded: bigint;
      let uncompressed: bigint;
      [unpadded, q] = varint(q, bytes.length);
      [uncompressed, q] = varint(q, bytes.length);
      if (unpadded !== BigInt(r.unpadded) || uncompressed !== BigInt(r.uncompressed)) throw fail(start, 'index record differs from its block');
    }
    while ((q - start) % 4 !== 0) {
      need(q, 1, 'index padding');
      q += 1;
    }
    need(q, 4, 'index CRC32');
    if (crc32(bytes.subarray(start, q)) !== u32(q)) throw fail(q, 'index CRC32 mismatch');
    return q + 4;
  }

  function verifyCheck(type: number, data: Uint8Array, stored: Uint8Array, at: number): void {
    let ok = true;
    if (type === 1) ok = crc32(data) === new DataView(stored.buffer, stored.byteOffset, 4).getUint32(0, true);
    else if (type === 4) ok = crc64(data) === new DataView(stored.buffer, stored.byteOffset, 8).getBigUint64(0, true);
    else if (type === 10) ok = Buffer.from(createHash('sha256').update(data).digest()).equals(Buffer.from(stored));
    else if (type !== 0) return; // a check type this reader cannot compute is skipped, as xz(1) allows
    if (!ok) throw fail(at, 'block check mismatch (corrupt data)');
  }

  function need(at: number, n: number, what: string): void {
    if (at + n > bytes.length) throw fail(at, `truncated ${what}`);
  }
  function u32(at: number): number {
    need(at, 4, 'CRC32');
    return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(at, true);
  }
  function varint(at: number, limit: number): [bigint, number] {
    let v = 0n;
    for (let i = 0; i < 9; i += 1) {
      if (at + i >= limit) throw fail(at, 'truncated multibyte integer');
      const b = bytes[at + i]!;
      v |= BigInt(b & 0x7f) << BigInt(7 * i);
      if ((b & 0x80) === 0) return [v, at + i + 1];
    }
    throw fail(at, 'multibyte integer longer than 9 bytes');
  }
}

/**
 * Undo the x86 BCJ filter in place. The encoder turned the relative targets of
 * E8 (CALL) / E9 (JMP) rel32 into absolute ones for better compression; a small
 * history mask of recent E8/E9 bytes decides which 5-byte sequences it touched.
 * Algorithm: XZ Utils src/liblzma/simple/x86.c (public domain / 0BSD), rewritten.
 */
export function bcjX86Decode(buf: Uint8Array, startOffset = 0): void {
  const allowed = [true, true, true, false, true, false, false, false];
  const bitNumber = [0, 1, 2, 2, 3, 3, 3, 3];
  const msByte = (b: number): boolean => b === 0 || b === 0xff;
  let mask = 0;
  let last = -5; // position of the previous E8/E9 byte
  const limit = buf.length - 5;
  let i = 0;
  while (i <= limit) {
    const op = buf[i]!;
    if (op !== 0xe8 && op !== 0xe9) {
      i += 1;
      continue;
    }
    const gap = i - last;
    last = i;
    if (gap > 5) mask = 0;
    else for (let k = 0; k < gap; k += 1) mask = (mask & 0x77) << 1;
    const top = buf[i + 4]!;
    const m = mask >>> 1;
    if (msByte(top) && m < 0x10 && allowed[m & 7]) {
      let src = ((top << 24) | (buf[i + 3]! << 16) | (buf[i + 2]! << 8) | buf[i + 1]!) >>> 0;
      const here = (startOffset + i + 5) >>> 0;
      let dest: number;
      for (;;) {
        dest = (src - here) >>> 0;
        if (mask === 0) break;
        const shift = bitNumber[m]! * 8;
        if (!msByte((dest >>> (24 - shift)) & 0xff)) break;
        src = (dest ^ (2 ** (32 - shift) - 1)) >>> 0;
      }
      buf[i + 4] = (dest >>> 24) & 1 ? 0xff : 0x00;
      buf[i + 3] = (dest >>> 16) & 0xff;
      buf[i + 2] = (dest >>> 8) & 0xff;
      buf[i + 1] = dest & 0xff;
      i += 5;
      mask = 0;
    } else {
      i += 1;
      mask |= 1;
      if (msByte(top)) mask |= 0x10;
    }
  }
}

// CRC-64 as xz uses it: ECMA-182 polynomial, reflected (0xC96C5795D7870F42),
// initial value and final XOR all ones (.xz format 1.1.0, section 6; liblzma
// check/crc64_*.c). Kept as two 32-bit halves: bigint per byte is far too slow.
let crcLo: Uint32Array | undefined;
let crcHi: Uint32Array | undefined;
export function crc64(data: Uint8Array): bigint {
  if (!crcLo || !crcHi) {
    crcLo = new Uint32Array(256);
    crcHi = new Uint32Array(256);
    const polyLo = 0xd7870f42;
    const polyHi = 0xc96c5795;
    for (let n = 0; n < 256; n += 1) {
      let lo = n;
      let hi = 0;
      for (let k = 0; k < 8; k += 1) {
        const bit = lo & 1;
        lo = ((lo >>> 1) | ((hi & 1) << 31)) >>> 0;
        hi = hi >>> 1;
        if (bit) {
          lo = (lo ^ polyLo) >>> 0;
          hi = (hi ^ polyHi) >>> 0;
        }
      }
      crcLo[n] = lo;
      crcHi[n] = hi;
    }
  }
  let lo = 0xffffffff;
  let hi = 0xffffffff;
  for (let i = 0; i < data.length; i += 1) {
    const idx = (lo ^ data[i]!) & 0xff;
    lo = (((lo >>> 8) | (hi << 24)) ^ crcLo[idx]!) >>> 0;
    hi = ((hi >>> 8) ^ crcHi[idx]!) >>> 0;
  }
  return (BigInt((hi ^ 0xffffffff) >>> 0) << 32n) | BigInt((lo ^ 0xffffffff) >>> 0);
}
