// ELF core files as QEMU's `dump-guest-memory` writes them (QEMU dump/dump.c, read at
// commit 046bc416: dump_begin, write_elf64_header, write_elf64_load, get_offset_range,
// dump_init; target/i386/arch_dump.c cpu_get_dump_info):
//
//   ELF header | PT_NOTE | PT_LOAD ... | [one section header] | notes | memory
//
// - e_type ET_CORE, little-endian. ELFCLASS64 with EM_X86_64 for a guest in long
//   mode; a 32-bit guest (Windows XP) gets ELFCLASS32/EM_386 unless its RAM passes
//   4 GiB. Both classes are read here; the layouts differ only in field offsets.
// - Each PT_LOAD has p_paddr = guest physical address, p_offset = where its bytes are.
//   Memory follows the notes with no alignment, so file offsets are rarely page-aligned.
// - More than 0xfffe segments: e_phnum = PN_XNUM (0xffff) and the real count is in
//   sh_info of section header 0 at e_shoff (gABI "Extended Program Header Numbering").
// - p_filesz < p_memsz: the file holds only the part of the mapping inside one guest
//   RAM block (get_offset_range clamps it). gABI would zero-fill the tail, but for a
//   memory image those bytes are not zeros, they are simply not in this segment, so
//   the tail is a HOLE here, never fabricated zeros.
// - Filtered dumps (begin/length) write segments outside the filter with p_filesz 0 and
//   p_offset -1: they hold nothing and are skipped.
// - Paging dumps (`-p`) write one PT_LOAD per virtual mapping, so several may cover the
//   same physical bytes; they agree on the file offset (it is computed from p_paddr) and
//   are merged. Overlaps that disagree are rejected.
import { hex, phys } from '../addr.js';
import { ImageFormatError, UsageError } from '../errors.js';
import { type FileSource, MAX_HEADER_READ, u64 } from './file-source.js';
import { type RunBytes, type RunSpec, type WrittenImage, checkRunSpecs, withSink } from './image-writer.js';
import { type ParsedImage, type PhysicalRun, type RunCandidate, checkRuns } from './physical.js';

export const ET_CORE = 4;
export const PT_LOAD = 1;
export const PT_NOTE = 4;
export const PN_XNUM = 0xffff;
export const EM_386 = 3;
export const EM_X86_64 = 62;

const MACHINE_NAMES: Record<number, string> = { [EM_386]: 'i386', [EM_X86_64]: 'x86-64', 183: 'aarch64' };

/** Where the fields kcarve uses sit in each ELF class (System V gABI, ch. 4 and 5). */
interface ElfLayout {
  readonly name: 'ELF32' | 'ELF64';
  readonly word: 4 | 8;
  readonly ehsize: number;
  readonly phentsize: number;
  readonly shentsize: number;
  readonly e: { phoff: number; shoff: number; phentsize: number; phnum: number; shentsize: number; shnum: number };
  readonly p: { type: number; flags: number; offset: number; vaddr: number; paddr: number; filesz: number; memsz: number };
  readonly shInfo: number;
}

const ELF64: ElfLayout = {
  name: 'ELF64',
  word: 8,
  ehsize: 64,
  phentsize: 56,
  shentsize: 64,
  e: { phoff: 32, shoff: 40, phentsize: 54, phnum: 56, shentsize: 58, shnum: 60 },
  p: { type: 0, flags: 4, offset: 8, vaddr: 16, paddr: 24, filesz: 32, memsz: 40 },
  shInfo: 44,
};

const ELF32: ElfLayout = {
  name: 'ELF32',
  word: 4,
  ehsize: 52,
  phentsize: 32,
  shentsize: 40,
  e: { phoff: 28, shoff: 32, phentsize: 42, phnum: 44, shentsize: 46, shnum: 48 },
  p: { type: 0, offset: 4, vaddr: 8, paddr: 12, filesz: 16, memsz: 20, flags: 24 },
  shInfo: 28,
};

const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46];

export function looksLikeElf(head: Uint8Array): boolean {
  return ELF_MAGIC.every((b, i) => head[i] === b);
}

/** A word-sized field (u32 or u64) as a number; undefined when >= 2^53. */
function word(view: DataView, offset: number, layout: ElfLayout): number | undefined {
  return layout.word === 4 ? view.getUint32(offset, true) : u64(view, offset);
}

function rawWord(view: DataView, offset: number, layout: ElfLayout): bigint {
  return layout.word === 4 ? BigInt(view.getUint32(offset, true)) : view.getBigUint64(offset, true);
}

/** A PT_NOTE segment as its program header describes it (unchecked). */
export interface ElfNoteSegment {
  readonly offset: bigint;
  readonly size: bigint;
  /** File offset of the PT_NOTE program header. */
  readonly headerOffset: number;
}

export interface ParsedElfCore extends ParsedImage {
  readonly elfClass: 32 | 64;
  readonly machine: number;
  readonly noteSegments: readonly ElfNoteSegment[];
}

export function parseElfCore(src: FileSource): ParsedElfCore {
  const { path, size } = src;
  // Annotated so TypeScript knows a call ends the flow (narrowing after fail()).
  const fail: (offset: number | undefined, reason: string) => never = (offset, reason) => {
    throw new ImageFormatError(path, offset, reason);
  };
  if (size < 16) fail(0, `truncated ELF identification (${size} bytes, need 16)`);
  const ident = src.read(0, 16);
  const elfClass = ident[4]!;
  if (elfClass !== 1 && elfClass !== 2) fail(4, `EI_CLASS ${elfClass} is neither ELFCLASS32 (1) nor ELFCLASS64 (2)`);
  const layout = elfClass === 2 ? ELF64 : ELF32;
  if (ident[5] !== 1) fail(5, `EI_DATA ${ident[5]}: only little-endian (ELFDATA2LSB) cores are supported`);
  if (size < layout.ehsize) {
    fail(0, `truncated ELF header (${size} bytes; an ${layout.name} header has ${layout.ehsize})`);
  }
  const eh = src.read(0, layout.ehsize);
  const ev = new DataView(eh.buffer, eh.byteOffset, eh.byteLength);
  const eType = ev.getUint16(16, true);
  if (eType !== ET_CORE) fail(16, `e_type ${eType} is not ET_CORE (4): this ELF file is not a memory dump`);
  const machine = ev.getUint16(18, true);
  const phentsize = ev.getUint16(layout.e.phentsize, true);
  if (phentsize !== layout.phentsize) {
    fail(layout.e.phentsize, `e_phentsize ${phentsize} is not ${layout.phentsize}, the ${layout.name} program header size`);
  }
  const phoff = word(ev, layout.e.phoff, layout);
  if (phoff === undefined || phoff === 0) fail(layout.e.phoff, `e_phoff ${hex(rawWord(ev, layout.e.phoff, layout))} is not a file offset`);
  let phnum = ev.getUint16(layout.e.phnum, true);
  let xnum = '';
  if (phnum === 0) fail(layout.e.phnum, 'e_phnum is 0: no program headers, so no memory');
  if (phnum === PN_XNUM) {
    const shoff = word(ev, layout.e.shoff, layout);
    const shentsize = ev.getUint16(layout.e.shentsize, true);
    if (shoff === undefined || shoff === 0) {
      fail(layout.e.shoff, 'e_phnum is PN_XNUM (0xffff) but e_shoff names no section header holding the real count');
    }
    if (shentsize !== layout.shentsize) {
      fail(layout.e.shentsize, `e_shentsize ${shentsize} is not ${layout.shentsize}, the ${layout.name} section header size`);
    }
    if (shoff + shentsize > size) {
      fail(layout.e.shoff, `section header 0 at ${hex(shoff)} extends past the end of the file (${size} bytes)`);
    }
    const sh = src.read(shoff, shentsize);
    phnum = new DataView(sh.buffer, sh.byteOffset, sh.byteLength).getUint32(layout.shInfo, true);
    if (phnum === 0) fail(shoff + layout.shInfo, 'e_phnum is PN_XNUM but sh_info of section header 0 is 0');
    xnum = `, PN_XNUM: ${phnum} program headers counted in sh_info`;
  }
  const tableEnd = phoff + phnum * phentsize;
  if (tableEnd > size) {
    fail(
      layout.e.phoff,
      `program header table (${phnum} entries of ${phentsize} bytes at ${hex(phoff)}) extends past the end of ` +
        `the file (${size} bytes)`,
    );
  }

  const candidates: RunCandidate[] = [];
  const notes: ElfNoteSegment[] = [];
  let loads = 0;
  let tails = 0;
  let empty = 0;
  const perRead = Math.floor(MAX_HEADER_READ / phentsize);
  for (let first = 0; first < phnum; first += perRead) {
    const count = Math.min(perRead, phnum - first);
    const table = src.read(phoff + first * phentsize, count * phentsize);
    const tv = new DataView(table.buffer, table.byteOffset, table.byteLength);
    for (let k = 0; k < count; k++) {
      const at = k * phentsize;
      const type = tv.getUint32(at + layout.p.type, true);
      if (type === PT_NOTE) {
        // Kept for readElfNotes; checked there, since bad notes need not stop memory reads.
        notes.push({
          offset: rawWord(tv, at + layout.p.offset, layout),
          size: rawWord(tv, at + layout.p.filesz, layout),
          headerOffset: phoff + (first + k) * phentsize,
        });
      }
      if (type !== PT_LOAD) continue;
      loads++;
      const index = first + k;
      const headerOffset = phoff + index * phentsize;
      const label = `PT_LOAD (program header #${index})`;
      const fileszRaw = rawWord(tv, at + layout.p.filesz, layout);
      const memszRaw = rawWord(tv, at + layout.p.memsz, layout);
      if (fileszRaw > memszRaw) {
        fail(headerOffset, `${label}: p_filesz ${hex(fileszRaw)} is larger than p_memsz ${hex(memszRaw)}`);
      }
      if (fileszRaw === 0n) {
        empty++;
        continue;
      }
      if (memszRaw > fileszRaw) tails++;
      const filesz = word(tv, at + layout.p.filesz, layout);
      const offset = word(tv, at + layout.p.offset, layout);
      const paddr = word(tv, at + layout.p.paddr, layout);
      if (filesz === undefined || filesz > size) {
        fail(headerOffset, `${label}: p_filesz ${hex(fileszRaw)} is larger than the file (${size} bytes)`);
      }
      if (offset === undefined) {
        fail(headerOffset, `${label}: p_offset ${hex(rawWord(tv, at + layout.p.offset, layout))} is past the end of the file`);
      }
      if (paddr === undefined) {
        fail(headerOffset, `${label}: p_paddr ${hex(rawWord(tv, at + layout.p.paddr, layout))} passes the 52-bit physical address limit`);
      }
      candidates.push({ paddr: paddr, fileOffset: offset, length: filesz, headerOffset, label });
    }
  }
  if (candidates.length === 0) {
    fail(phoff, `none of the ${phnum} program headers is a PT_LOAD with bytes in the file (${loads} PT_LOAD)`);
  }
  const runs = checkRuns(path, candidates, size, { mergeConsistentOverlaps: true });
  const machineName = MACHINE_NAMES[machine] ?? 'unknown';
  const remarks = [
    tails > 0 ? `${tails} with p_memsz > p_filesz (tails not in the file are holes)` : '',
    empty > 0 ? `${empty} without file data` : '',
    runs.length < candidates.length ? `overlapping segments merged into ${runs.length} runs` : '',
  ].filter((s) => s !== '');
  return {
    format: 'elf-core',
    runs,
    elfClass: layout === ELF64 ? 64 : 32,
    machine,
    noteSegments: notes,
    detail:
      `${layout.name} core, e_machine ${machine} (${machineName}), ${loads} PT_LOAD` +
      (remarks.length > 0 ? ` (${remarks.join('; ')})` : '') +
      xnum,
  };
}

/** One ELF note (name, type, descriptor), padded to 4 bytes as the gABI requires. */
export function elfNote(name: string, type: number, desc: Uint8Array): Uint8Array {
  const nameBytes = new TextEncoder().encode(`${name}\0`);
  const pad = (n: number): number => (n + 3) & ~3;
  const out = new Uint8Array(12 + pad(nameBytes.length) + pad(desc.length));
  const view = new DataView(out.buffer);
  view.setUint32(0, nameBytes.length, true);
  view.setUint32(4, desc.length, true);
  view.setUint32(8, type, true);
  out.set(nameBytes, 12);
  out.set(desc, 12 + pad(nameBytes.length));
  return out;
}

export interface ElfCoreWriteOptions {
  /** 64 (default) or 32; a 32-bit core needs every address and offset below 4 GiB. */
  readonly elfClass?: 32 | 64;
  /** e_machine; default EM_X86_64 for ELF64, EM_386 for ELF32, as QEMU chooses. */
  readonly machine?: number;
  /** The PT_NOTE segment's bytes (e.g. built with elfNote); default none. */
  readonly notes?: Uint8Array;
  /**
   * Align the first memory byte to this (a power of two). Default 1: packed right after
   * the notes like QEMU, so run file offsets are unaligned as in real dumps.
   */
  readonly dataAlignment?: number;
}

/**
 * Write an ELF core in QEMU's layout: header, PT_NOTE, one PT_LOAD per run (p_paddr =
 * p_vaddr = the run's physical address, p_filesz = p_memsz), a section header when
 * PN_XNUM is needed, the notes, then the runs' bytes streamed from `source`.
 */
export function writeElfCoreImage(
  path: string,
  runs: readonly RunSpec[],
  source: RunBytes,
  options: ElfCoreWriteOptions = {},
): WrittenImage {
  checkRunSpecs('writeElfCoreImage', runs);
  const layout = options.elfClass === 32 ? ELF32 : ELF64;
  const machine = options.machine ?? (layout === ELF32 ? EM_386 : EM_X86_64);
  const notes = options.notes ?? new Uint8Array(0);
  const alignment = options.dataAlignment ?? 1;
  if (!Number.isSafeInteger(alignment) || alignment <= 0 || (alignment & (alignment - 1)) !== 0 || alignment > 1 << 30) {
    throw new UsageError(`writeElfCoreImage: dataAlignment ${alignment} is not a power of two up to 2^30`);
  }
  const phnum = runs.length + 1;
  const xnum = phnum >= PN_XNUM;
  const phoff = layout.ehsize;
  const shoff = phoff + phnum * layout.phentsize;
  const notesOffset = shoff + (xnum ? layout.shentsize : 0);
  const dataStart = Math.ceil((notesOffset + notes.length) / alignment) * alignment;
  const written: PhysicalRun[] = [];
  let cursor = dataStart;
  for (const run of runs) {
    written.push({ paddr: phys(run.paddr), fileOffset: cursor, length: run.length });
    cursor += run.length;
  }
  const fileSize = cursor;
  if (layout === ELF32 && (fileSize > 0xffffffff || runs.some((r) => r.paddr + r.length > 2 ** 32))) {
    throw new UsageError('writeElfCoreImage: an ELF32 core needs every physical address and file offset below 4 GiB');
  }
  const setWord = (view: DataView, offset: number, value: number): void => {
    if (layout.word === 4) view.setUint32(offset, value, true);
    else view.setBigUint64(offset, BigInt(value), true);
  };

  const eh = new Uint8Array(layout.ehsize);
  const ev = new DataView(eh.buffer);
  eh.set(ELF_MAGIC, 0);
  eh[4] = layout === ELF64 ? 2 : 1; // EI_CLASS
  eh[5] = 1; // EI_DATA: ELFDATA2LSB
  eh[6] = 1; // EI_VERSION: EV_CURRENT
  ev.setUint16(16, ET_CORE, true);
  ev.setUint16(18, machine, true);
  ev.setUint32(20, 1, true); // e_version
  setWord(ev, layout.e.phoff, phoff);
  ev.setUint16(layout.e.phentsize - 2, layout.ehsize, true); // e_ehsize precedes e_phentsize
  ev.setUint16(layout.e.phentsize, layout.phentsize, true);
  ev.setUint16(layout.e.phnum, xnum ? PN_XNUM : phnum, true);
  if (xnum) {
    setWord(ev, layout.e.shoff, shoff);
    ev.setUint16(layout.e.shentsize, layout.shentsize, true);
    ev.setUint16(layout.e.shnum, 1, true);
  }

  const ph = new Uint8Array(layout.phentsize);
  const pv = new DataView(ph.buffer);
  const programHeader = (type: number, offset: number, paddr: number, length: number): Uint8Array => {
    ph.fill(0);
    pv.setUint32(layout.p.type, type, true);
    setWord(pv, layout.p.offset, offset);
    setWord(pv, layout.p.vaddr, paddr);
    setWord(pv, layout.p.paddr, paddr);
    setWord(pv, layout.p.filesz, length);
    setWord(pv, layout.p.memsz, length);
    return ph;
  };

  withSink(path, (sink) => {
    sink.write(eh);
    sink.write(programHeader(PT_NOTE, notesOffset, 0, notes.length));
    for (const run of written) sink.write(programHeader(PT_LOAD, run.fileOffset, run.paddr, run.length));
    if (xnum) {
      const sh = new Uint8Array(layout.shentsize);
      new DataView(sh.buffer).setUint32(layout.shInfo, phnum, true);
      sink.write(sh);
    }
    sink.write(notes);
    sink.seek(dataStart);
    runs.forEach((run, i) => sink.writeRun('writeElfCoreImage', run, i, source));
    sink.finish(fileSize);
  });
  return { path, format: 'elf-core', runs: written, fileSize };
}
