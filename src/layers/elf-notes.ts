// The notes of a QEMU ELF core. They are not guest memory, but they carry what finding
// the kernel's address space otherwise has to guess:
// - one "QEMU" note per CPU (type 0) holding QEMUCPUState, whose CR3 is the page-table
//   root (DTB) the CPU was using at dump time (QEMU target/i386/arch_dump.c,
//   qemu_get_cpustate / cpu_write_qemu_note, QEMUCPUSTATE_VERSION 1);
// - with `-device vmcoreinfo` and a Linux guest, a "VMCOREINFO" note whose text lists
//   KEY=VALUE lines (phys_base, KERNELOFFSET, SYMBOL(init_top_pgt), ...; kernel
//   kernel/vmcore_info.c and arch/x86/kernel/machine_kexec_64.c).
// Note layout (gABI "Note Section"): u32 namesz, u32 descsz, u32 type, then the name
// (namesz bytes including its NUL) and the descriptor, each padded to 4 bytes. The
// header is 12 bytes in ELF32 and ELF64 alike.
import { closeSync } from 'node:fs';
import { hex } from '../addr.js';
import { ImageFormatError } from '../errors.js';
import { elfNote, parseElfCore } from './elf-core.js';
import { MAX_HEADER_READ, fdSource, openRegularFile } from './file-source.js';

export interface ElfNote {
  readonly name: string;
  readonly type: number;
  readonly desc: Uint8Array;
  /** File offset of the note's header. */
  readonly offset: number;
}

/** Largest PT_NOTE segment read (QEMU's are a few KiB; its guest note is at most 1 MiB). */
export const MAX_NOTE_SEGMENT = 64 << 20;

const pad4 = (n: number): number => Math.ceil(n / 4) * 4;

/** Split a PT_NOTE segment's bytes (found at file offset `base`) into notes. */
export function parseElfNotes(path: string, bytes: Uint8Array, base: number): ElfNote[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const notes: ElfNote[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    const fail = (reason: string): never => {
      throw new ImageFormatError(path, base + pos, `ELF note #${notes.length}: ${reason}`);
    };
    if (bytes.length - pos < 12) fail(`truncated note header (${bytes.length - pos} bytes left in the PT_NOTE segment)`);
    const namesz = view.getUint32(pos, true);
    const descsz = view.getUint32(pos + 4, true);
    const type = view.getUint32(pos + 8, true);
    const nameAt = pos + 12;
    const descAt = nameAt + pad4(namesz);
    if (namesz > bytes.length || descsz > bytes.length || descAt + descsz > bytes.length) {
      fail(`name (${namesz} bytes) and descriptor (${descsz} bytes) run past the end of the PT_NOTE segment`);
    }
    let nameEnd = nameAt + namesz;
    if (namesz > 0 && bytes[nameEnd - 1] === 0) nameEnd--;
    const name = Buffer.from(bytes.buffer, bytes.byteOffset + nameAt, nameEnd - nameAt).toString('latin1');
    notes.push({ name, type, desc: bytes.slice(descAt, descAt + descsz), offset: base + pos });
    pos = descAt + pad4(descsz);
  }
  return notes;
}

/** All notes of the PT_NOTE segments of an ELF core file. */
export function readElfNotes(path: string): ElfNote[] {
  const { fd, size } = openRegularFile(path);
  try {
    const src = fdSource(path, fd, size);
    const parsed = parseElfCore(src);
    const notes: ElfNote[] = [];
    for (const seg of parsed.noteSegments) {
      if (seg.size === 0n) continue;
      if (seg.size > BigInt(MAX_NOTE_SEGMENT)) {
        throw new ImageFormatError(path, seg.headerOffset, `PT_NOTE of ${seg.size} bytes is larger than ${MAX_NOTE_SEGMENT}`);
      }
      if (seg.offset + seg.size > BigInt(size)) {
        throw new ImageFormatError(
          path,
          seg.headerOffset,
          `PT_NOTE at file offset ${hex(seg.offset)}+${hex(seg.size)} extends past the end of the file (${size} bytes)`,
        );
      }
      const offset = Number(seg.offset);
      const bytes = new Uint8Array(Number(seg.size));
      for (let done = 0; done < bytes.length; done += MAX_HEADER_READ) {
        bytes.set(src.read(offset + done, Math.min(MAX_HEADER_READ, bytes.length - done)), done);
      }
      notes.push(...parseElfNotes(path, bytes, offset));
    }
    return notes;
  } finally {
    closeSync(fd);
  }
}

/** The registers kcarve uses from a QEMUCPUState (all as bigint). */
export interface QemuCpuState {
  /** Index of the CPU among the QEMU notes, in file order. */
  readonly cpu: number;
  readonly rip: bigint;
  readonly rsp: bigint;
  readonly rflags: bigint;
  readonly cr0: bigint;
  readonly cr2: bigint;
  /** The page-table root (DTB) the CPU had loaded. */
  readonly cr3: bigint;
  readonly cr4: bigint;
  /** Base of the GS segment (per-CPU area in the Linux kernel, KPCR on Windows x64). */
  readonly gsBase: bigint;
}

// QEMUCPUState field offsets: u32 version, u32 size, 16 u64 GPRs (rax..r15), rip, rflags,
// then 10 segments of 24 bytes (cs, ds, es, fs, gs, ss, ldt, tr, gdt, idt; u64 base at
// +16), then u64 cr[5].
const QEMU_CPU_STATE = { version: 0, size: 4, rsp: 8 + 6 * 8, rip: 136, rflags: 144, gsBase: 152 + 4 * 24 + 16, cr: 392 };
const QEMU_CPU_STATE_SIZE = QEMU_CPU_STATE.cr + 5 * 8;

/** Decode every "QEMU" CPU-state note; notes of another version or too short are skipped. */
export function qemuCpuStates(notes: readonly ElfNote[]): QemuCpuState[] {
  const states: QemuCpuState[] = [];
  for (const note of notes) {
    if (note.name !== 'QEMU' || note.type !== 0 || note.desc.length < QEMU_CPU_STATE_SIZE) continue;
    const v = new DataView(note.desc.buffer, note.desc.byteOffset, note.desc.byteLength);
    if (v.getUint32(QEMU_CPU_STATE.version, true) !== 1) continue;
    const u64 = (off: number) => v.getBigUint64(off, true);
    states.push({
      cpu: states.length,
      rip: u64(QEMU_CPU_STATE.rip),
      rsp: u64(QEMU_CPU_STATE.rsp),
      rflags: u64(QEMU_CPU_STATE.rflags),
      cr0: u64(QEMU_CPU_STATE.cr),
      cr2: u64(QEMU_CPU_STATE.cr + 16),
      cr3: u64(QEMU_CPU_STATE.cr + 24),
      cr4: u64(QEMU_CPU_STATE.cr + 32),
      gsBase: u64(QEMU_CPU_STATE.gsBase),
    });
  }
  return states;
}

/** A QEMU CPU-state note as QEMU writes it (for synthetic cores that mimic real ones). */
export function qemuCpuStateNote(regs: Partial<Omit<QemuCpuState, 'cpu'>>): Uint8Array {
  const desc = new Uint8Array(QEMU_CPU_STATE_SIZE);
  const v = new DataView(desc.buffer);
  v.setUint32(QEMU_CPU_STATE.version, 1, true);
  v.setUint32(QEMU_CPU_STATE.size, QEMU_CPU_STATE_SIZE, true);
  const set = (off: number, value: bigint | undefined) => v.setBigUint64(off, value ?? 0n, true);
  set(QEMU_CPU_STATE.rip, regs.rip);
  set(QEMU_CPU_STATE.rsp, regs.rsp);
  set(QEMU_CPU_STATE.rflags, regs.rflags);
  set(QEMU_CPU_STATE.gsBase, regs.gsBase);
  set(QEMU_CPU_STATE.cr, regs.cr0);
  set(QEMU_CPU_STATE.cr + 16, regs.cr2);
  set(QEMU_CPU_STATE.cr + 24, regs.cr3);
  set(QEMU_CPU_STATE.cr + 32, regs.cr4);
  return elfNote('QEMU', 0, desc);
}

/** The KEY=VALUE lines of a VMCOREINFO note, or undefined when the core has none. */
export function vmcoreinfo(notes: readonly ElfNote[]): Map<string, string> | undefined {
  const note = notes.find((n) => n.name === 'VMCOREINFO');
  if (note === undefined) return undefined;
  const map = new Map<string, string>();
  for (const line of Buffer.from(note.desc).toString('latin1').split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) map.set(line.slice(0, eq), line.slice(eq + 1).replace(/\0+$/, ''));
  }
  return map;
}
