// Just enough ELF to find a section by name in a vmlinux: the `.BTF` section and
// `.rodata` (where `linux_banner` lives). Facts from the System V ABI, "ELF
// Header" and "Sections" (gABI 4.1, https://refspecs.linuxfoundation.org/elf/gabi4+/ch4.eheader.html):
// e_ident[EI_CLASS] 1 = 32-bit, 2 = 64-bit; e_ident[EI_DATA] 1 = LSB, 2 = MSB;
// e_shoff/e_shentsize/e_shnum/e_shstrndx locate the section headers and the
// section-name string table; SHN_XINDEX (0xffff) moves e_shstrndx into sh_link
// of section 0 and a zero e_shnum into its sh_size.
import { LayoutError } from '../errors.js';

export interface ElfSection {
  name: string;
  type: number;
  flags: bigint;
  addr: bigint;
  offset: number;
  size: number;
}

export interface ElfFile {
  class: 32 | 64;
  endian: 'little' | 'big';
  machine: number;
  sections: ElfSection[];
}

export const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46] as const;
const SHT_NOBITS = 8;

export function isElf(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && ELF_MAGIC.every((b, i) => bytes[i] === b);
}

/** Parse an ELF file's section headers. Every offset is checked against the file. */
export function parseElf(bytes: Uint8Array, file: string): ElfFile {
  const fail = (offset: number, reason: string): LayoutError =>
    new LayoutError(file, undefined, undefined, `ELF at offset 0x${offset.toString(16)}: ${reason}`);
  if (!isElf(bytes)) throw fail(0, 'not an ELF file (bad magic)');
  if (bytes.length < 52) throw fail(0, `truncated: ${bytes.length} bytes`);
  const cls = bytes[4] === 1 ? 32 : bytes[4] === 2 ? 64 : undefined;
  if (!cls) throw fail(4, `bad ELF class ${bytes[4]}`);
  const le = bytes[5] === 1 ? true : bytes[5] === 2 ? false : undefined;
  if (le === undefined) throw fail(5, `bad ELF data encoding ${bytes[5]}`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hdrSize = cls === 64 ? 64 : 52;
  if (bytes.length < hdrSize) throw fail(0, `truncated header: ${bytes.length} bytes`);
  const machine = v.getUint16(18, le);
  const num = (at: number): number => (cls === 64 ? safe(v.getBigUint64(at, le), at) : v.getUint32(at, le));
  const safe = (x: bigint, at: number): number => {
    if (x > BigInt(Number.MAX_SAFE_INTEGER)) throw fail(at, `value 0x${x.toString(16)} is too large`);
    return Number(x);
  };
  const shoff = num(cls === 64 ? 0x28 : 0x20);
  const shentsize = v.getUint16(cls === 64 ? 0x3a : 0x2e, le);
  let shnum = v.getUint16(cls === 64 ? 0x3c : 0x30, le);
  let shstrndx = v.getUint16(cls === 64 ? 0x3e : 0x32, le);
  const want = cls === 64 ? 64 : 40;
  if (shoff === 0) return { class: cls, endian: le ? 'little' : 'big', machine, sections: [] };
  if (shentsize < want) throw fail(cls === 64 ? 0x3a : 0x2e, `section header size ${shentsize} < ${want}`);
  const readHeader = (i: number): { name: number; type: number; flags: bigint; addr: bigint; offset: number; size: number; link: number } => {
    const at = shoff + i * shentsize;
    if (at + want > bytes.length) throw fail(at, `section header ${i} runs past the end of the file`);
    if (cls === 64) {
      return {
        name: v.getUint32(at, le),
        type: v.getUint32(at + 4, le),
        flags: v.getBigUint64(at + 8, le),
        addr: v.getBigUint64(at + 16, le),
        offset: safe(v.getBigUint64(at + 24, le), at + 24),
        size: safe(v.getBigUint64(at + 32, le), at + 32),
        link: v.getUint32(at + 40, le),
      };
    }
    return {
      name: v.getUint32(at, le),
      type: v.getUint32(at + 4, le),
      flags: BigInt(v.getUint32(at + 8, le)),
      addr: BigInt(v.getUint32(at + 12, le)),
      offset: v.getUint32(at + 16, le),
      size: v.getUint32(at + 20, le),
      link: v.getUint32(at + 24, le),
    };
  };
  const first = readHeader(0);
  if (shnum === 0) shnum = first.size; // SHN_UNDEF count lives in section 0
  if (shstrndx === 0xffff) shstrndx = first.link; // SHN_XINDEX
  if (shoff + shnum * shentsize > bytes.length) throw fail(shoff, `${shnum} section headers run past the end of the file`);
  const raw = [];
  for (let i = 0; i < shnum; i += 1) raw.push(readHeader(i));
  const strtab = raw[shstrndx];
  if (!strtab) throw fail(cls === 64 ? 0x3e : 0x32, `section name table index ${shstrndx} is out of range`);
  const inFile = (s: { offset: number; size: number; type: number }, i: number): void => {
    if (s.type !== SHT_NOBITS && s.offset + s.size > bytes.length) throw fail(shoff + i * shentsize, `section ${i} [0x${s.offset.toString(16)}, +0x${s.size.toString(16)}) runs past the end of the file`);
  };
  inFile(strtab, shstrndx);
  const names = bytes.subarray(strtab.offset, strtab.offset + strtab.size);
  const nameAt = (off: number, i: number): string => {
    if (off >= names.length) throw fail(shoff + i * shentsize, `section ${i} name offset ${off} is outside the name table`);
    let end = names.indexOf(0, off);
    if (end < 0) end = names.length;
    return new TextDecoder().decode(names.subarray(off, end));
  };
  const sections: ElfSection[] = raw.map((s, i) => {
    inFile(s, i);
    return { name: nameAt(s.name, i), type: s.type, flags: s.flags, addr: s.addr, offset: s.offset, size: s.size };
  });
  return { class: cls, endian: le ? 'little' : 'big', machine, sections };
}

/** The bytes of section `name`, or undefined if the file has none. */
export function elfSection(bytes: Uint8Array, elf: ElfFile, name: string): Uint8Array | undefined {
  const s = elf.sections.find((x) => x.name === name);
  if (!s || s.type === SHT_NOBITS) return undefined;
  return bytes.subarray(s.offset, s.offset + s.size);
}
