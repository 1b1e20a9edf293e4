// Minimal physical-memory readers for the validation pass of real images: a raw dump
// (file offset = physical address, as QEMU `pmemsave` from 0 writes it) and an ELF core
// (QEMU `dump-guest-memory` with paging=false: one PT_LOAD per RAM block, p_paddr = the
// block's guest-physical address).
//
// TODO(layers): switch to the physical layers of src/layers/ (raw, LiME, ELF core) once
// they are merged; this file exists only so the image builder can check its own output.
//
// ELF64 facts (System V gABI, "ELF Header" and "Program Header"): e_ident "\x7fELF",
// EI_CLASS = 2 (64-bit), EI_DATA = 1 (little-endian); e_phoff u64 at 0x20, e_phentsize u16
// at 0x36, e_phnum u16 at 0x38; a program header has p_type u32 at 0, p_offset u64 at 8,
// p_paddr u64 at 24, p_filesz u64 at 32; PT_LOAD = 1; e_phnum = 0xffff (PN_XNUM) means
// the count lives elsewhere (not produced by QEMU for a few RAM blocks: rejected).
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { ImageFormatError } from '../../errors.js';
import type { PhysAddr } from '../../addr.js';

export interface PhysRun {
  paddr: number;
  fileOffset: number;
  length: number;
}

export interface PhysImage {
  readonly path: string;
  readonly runs: readonly PhysRun[];
  /** The bytes at [pa, pa + length), or undefined when not all of them are in the image. */
  readPhys(pa: PhysAddr, length: number): Buffer | undefined;
  close(): void;
}

class RunImage implements PhysImage {
  constructor(
    readonly path: string,
    private readonly fd: number,
    readonly runs: readonly PhysRun[],
  ) {}

  readPhys(pa: PhysAddr, length: number): Buffer | undefined {
    const run = this.runs.find((r) => pa >= r.paddr && pa + length <= r.paddr + r.length);
    if (!run) return undefined;
    const buf = Buffer.alloc(length);
    const got = readSync(this.fd, buf, 0, length, run.fileOffset + (pa - run.paddr));
    if (got !== length) throw new ImageFormatError(this.path, run.fileOffset + (pa - run.paddr), `short read (${got} of ${length} bytes)`);
    return buf;
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** A raw dump: one run from physical address 0 over the whole file. */
export function openRawImage(path: string): PhysImage {
  const fd = openSync(path, 'r');
  const size = fstatSync(fd).size;
  return new RunImage(path, fd, [{ paddr: 0, fileOffset: 0, length: size }]);
}

/** An ELF64 core: one run per PT_LOAD (p_paddr, p_offset, p_filesz). */
export function openElfCoreImage(path: string): PhysImage {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const head = Buffer.alloc(64);
    if (readSync(fd, head, 0, 64, 0) < 64) throw new ImageFormatError(path, 0, 'shorter than an ELF64 header');
    if (head.readUInt32BE(0) !== 0x7f454c46) throw new ImageFormatError(path, 0, 'not an ELF file (bad magic)');
    if (head[4] !== 2 || head[5] !== 1) throw new ImageFormatError(path, 4, 'not a little-endian ELF64 file');
    const phoff = Number(head.readBigUInt64LE(0x20));
    const phentsize = head.readUInt16LE(0x36);
    const phnum = head.readUInt16LE(0x38);
    if (phnum === 0xffff) throw new ImageFormatError(path, 0x38, 'e_phnum is PN_XNUM (extended numbering is not supported here)');
    if (phentsize < 56) throw new ImageFormatError(path, 0x36, `e_phentsize ${phentsize} is smaller than an ELF64 program header (56)`);
    if (phoff + phentsize * phnum > size) throw new ImageFormatError(path, 0x20, 'program header table runs past the end of the file');
    const table = Buffer.alloc(phentsize * phnum);
    readSync(fd, table, 0, table.length, phoff);
    const runs: PhysRun[] = [];
    for (let i = 0; i < phnum; i++) {
      const at = i * phentsize;
      if (table.readUInt32LE(at) !== 1) continue;
      const fileOffset = Number(table.readBigUInt64LE(at + 8));
      const paddr = Number(table.readBigUInt64LE(at + 24));
      const length = Number(table.readBigUInt64LE(at + 32));
      if (fileOffset + length > size) {
        throw new ImageFormatError(path, phoff + at, `PT_LOAD ${i} (paddr 0x${paddr.toString(16)}) runs past the end of the file`);
      }
      if (length > 0) runs.push({ paddr, fileOffset, length });
    }
    runs.sort((a, b) => a.paddr - b.paddr);
    return new RunImage(path, fd, runs);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}
