// Get a kernel's BTF out of whatever file the user has: a raw BTF blob
// (/sys/kernel/btf/vmlinux), a vmlinux ELF (its `.BTF` section), or a
// compressed bzImage (`/boot/vmlinuz-*`, decompressed here, then as vmlinux).
//
// bzImage facts: Documentation/x86/boot.rst (Linux 6.1), "The Real-Mode Kernel
// Header": setup_sects at 0x1f1 (0 means 4), "HdrS" at 0x202, protocol version
// at 0x206, kernel_version at 0x20e (offset of a version string, minus 0x200),
// payload_offset / payload_length at 0x248 / 0x24c (protocol 2.08+), relative to
// the protected-mode code, which starts at (setup_sects + 1) * 512 in the file.
// "The payload may be compressed ... gzip (1F 8B or 1F 9E), bzip2 (42 5A), LZMA
// (5D 00), XZ (FD 37), LZ4 (02 21) and ZSTD (28 B5). The uncompressed payload is
// currently always ELF." Debian's amd64 kernels use XZ (CONFIG_KERNEL_XZ=y in
// config-6.1.0-57-amd64), decoded by ./xz.ts; gzip is decoded by Node's zlib.
import { gunzipSync } from 'node:zlib';
import { LayoutError } from '../errors.js';
import { BTF_MAGIC } from './btf.js';
import { elfSection, isElf, parseElf } from './elf.js';
import { decodeXz, isXz } from './xz.js';

export type KernelFileKind = 'btf' | 'elf' | 'bzimage';

export interface KernelBtf {
  /** The raw BTF bytes. */
  btf: Uint8Array;
  /** What the input was. */
  kind: KernelFileKind;
  /** How a bzImage payload was compressed. */
  compression?: 'gzip' | 'xz';
  /** Kernel release, from the bzImage header or the banner (`6.1.0-57-amd64`). */
  release?: string;
  /** `linux_banner` text found in the vmlinux's .rodata, with its trailing newline. */
  banner?: string;
  /** Pointer size from the ELF class. */
  pointerSize?: number;
}

/** Largest vmlinux this will decompress (a distribution kernel is ~70 MB). */
const MAX_VMLINUX = 1024 * 1024 * 1024;

export function isBtf(bytes: Uint8Array): boolean {
  if (bytes.length < 2) return false;
  const v = bytes[0]! | (bytes[1]! << 8);
  return v === BTF_MAGIC || ((v >> 8) | ((v & 0xff) << 8)) === BTF_MAGIC;
}

export function isBzImage(bytes: Uint8Array): boolean {
  return bytes.length >= 0x250 && bytes[0x202] === 0x48 && bytes[0x203] === 0x64 && bytes[0x204] === 0x72 && bytes[0x205] === 0x53;
}

export function kernelFileKind(bytes: Uint8Array): KernelFileKind | undefined {
  if (isBtf(bytes)) return 'btf';
  if (isElf(bytes)) return 'elf';
  if (isBzImage(bytes)) return 'bzimage';
  return undefined;
}

/** Decompress the vmlinux ELF inside a bzImage. */
export function vmlinuxFromBzImage(bytes: Uint8Array, file: string): { vmlinux: Buffer; compression: 'gzip' | 'xz'; release?: string } {
  const fail = (at: number, reason: string): LayoutError =>
    new LayoutError(file, undefined, undefined, `bzImage at offset 0x${at.toString(16)}: ${reason}`);
  if (!isBzImage(bytes)) throw fail(0x202, 'no "HdrS" boot header: not a bzImage');
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const protocol = v.getUint16(0x206, true);
  if (protocol < 0x208) throw fail(0x206, `boot protocol ${protocol >> 8}.${protocol & 0xff} has no payload fields (need 2.08+)`);
  const setupSects = bytes[0x1f1] || 4;
  const pmStart = (setupSects + 1) * 512;
  const payloadOffset = v.getUint32(0x248, true);
  const payloadLength = v.getUint32(0x24c, true);
  const start = pmStart + payloadOffset;
  if (start + payloadLength > bytes.length || payloadLength === 0) {
    throw fail(0x248, `payload [0x${start.toString(16)}, +0x${payloadLength.toString(16)}) is outside the file (${bytes.length} bytes)`);
  }
  const payload = bytes.subarray(start, start + payloadLength);
  const release = bzImageRelease(bytes, v);
  const b0 = payload[0]!;
  const b1 = payload[1]!;
  let vmlinux: Buffer;
  let compression: 'gzip' | 'xz';
  if (isXz(payload)) {
    // The kernel build appends the 4-byte decompressed size after the stream
    // (scripts/Makefile.lib, size_append): decode one stream, ignore the rest.
    vmlinux = decodeXz(payload, file, start, { maxOutput: MAX_VMLINUX, trailing: 'ignore' });
    compression = 'xz';
  } else if (b0 === 0x1f && (b1 === 0x8b || b1 === 0x9e)) {
    try {
      vmlinux = gunzipSync(payload, { maxOutputLength: MAX_VMLINUX });
    } catch (err) {
      throw fail(start, `gzip payload is corrupt (${(err as Error).message})`);
    }
    compression = 'gzip';
  } else {
    const names: Array<[number, number, string]> = [
      [0x42, 0x5a, 'bzip2'],
      [0x5d, 0x00, 'LZMA'],
      [0x02, 0x21, 'LZ4'],
      [0x28, 0xb5, 'ZSTD'],
      [0x89, 0x4c, 'LZO'],
    ];
    const hit = names.find(([a, b]) => a === b0 && b === b1);
    throw fail(
      start,
      hit
        ? `payload is ${hit[2]}-compressed; kcarve decodes gzip and xz only (extract the vmlinux with the kernel's scripts/extract-vmlinux and pass that)`
        : `unknown payload compression (first bytes ${b0.toString(16)} ${b1.toString(16)})`,
    );
  }
  if (!isElf(vmlinux)) throw fail(start, 'decompressed payload is not an ELF file');
  return release === undefined ? { vmlinux, compression } : { vmlinux, compression, release };
}

function bzImageRelease(bytes: Uint8Array, v: DataView): string | undefined {
  const ptr = v.getUint16(0x20e, true);
  if (ptr === 0) return undefined;
  const at = ptr + 0x200;
  if (at >= bytes.length) return undefined;
  let end = at;
  while (end < bytes.length && end - at < 256 && bytes[end] !== 0) end += 1;
  const text = Buffer.from(bytes.subarray(at, end)).toString('latin1');
  const release = text.split(' ')[0];
  return release && /^[\x21-\x7e]+$/.test(release) ? release : undefined;
}

/** The `.BTF` section (and banner) of a vmlinux ELF. */
export function btfFromVmlinux(bytes: Uint8Array, file: string): KernelBtf {
  const elf = parseElf(bytes, file);
  const btf = elfSection(bytes, elf, '.BTF');
  if (!btf) throw new LayoutError(file, undefined, undefined, 'ELF file has no .BTF section (kernel built without CONFIG_DEBUG_INFO_BTF?)');
  const banner = findBanner(elfSection(bytes, elf, '.rodata') ?? bytes);
  const out: KernelBtf = { btf, kind: 'elf', pointerSize: elf.class === 64 ? 8 : 4 };
  if (banner) {
    out.banner = banner;
    const release = /^Linux version (\S+)/.exec(banner)?.[1];
    if (release) out.release = release;
  }
  return out;
}

/**
 * `linux_banner`: "Linux version <release> (<builder>) (<compiler>) #<n> <flags>\n".
 * Since Linux 6.1 the image holds two: a weak default in init/version.c whose
 * build number is empty ("# SMP ..."), overridden at link time by the one in
 * init/version-timestamp.c ("#1 SMP ..."). The symbol names the latter, so a
 * banner with a build number wins; otherwise the first printable match.
 */
export function findBanner(bytes: Uint8Array): string | undefined {
  const needle = Buffer.from('Linux version ');
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let first: string | undefined;
  for (let at = buf.indexOf(needle); at >= 0; at = buf.indexOf(needle, at + 1)) {
    const end = buf.indexOf(0, at);
    if (end < 0 || end - at > 512) continue;
    const text = buf.subarray(at, end).toString('latin1');
    if (!/^[\x20-\x7e]+\n$/.test(text) || !/\(.*\)/.test(text)) continue;
    if (/ #[0-9]+ /.test(text)) return text;
    first ??= text;
  }
  return first;
}

/** BTF from a raw blob, a vmlinux ELF or a bzImage. */
export function extractKernelBtf(bytes: Uint8Array, file: string): KernelBtf {
  const kind = kernelFileKind(bytes);
  if (kind === 'btf') return { btf: bytes, kind };
  if (kind === 'elf') return btfFromVmlinux(bytes, file);
  if (kind === 'bzimage') {
    const { vmlinux, compression, release } = vmlinuxFromBzImage(bytes, file);
    const inner = btfFromVmlinux(vmlinux, `${file} (decompressed vmlinux)`);
    const out: KernelBtf = { ...inner, kind: 'bzimage', compression };
    if (release) out.release = release;
    return out;
  }
  throw new LayoutError(file, undefined, undefined, 'not a BTF blob, vmlinux ELF or bzImage (unrecognised magic)');
}
