import { writeFileSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { phys } from '../src/addr.js';
import { ImageFormatError } from '../src/errors.js';
import { elfNote, writeElfCoreImage } from '../src/layers/elf-core.js';
import { parseElfNotes, qemuCpuStateNote, qemuCpuStates, readElfNotes, vmcoreinfo } from '../src/layers/elf-notes.js';
import { chunkedSource, useTmpDir } from './helpers/images.js';

const tmp = useTmpDir('notes');

describe('ELF notes', () => {
  it('round-trip: QEMU CPU state and VMCOREINFO written by the writer read back', () => {
    const path = tmp('notes.elf');
    const notes = Buffer.concat([
      qemuCpuStateNote({ cr3: 0x1aa_0000n, cr4: 0x3606f0n, rip: 0xffff_ffff_8100_0000n, gsBase: 0xffff_8880_7fc0_0000n }),
      qemuCpuStateNote({ cr3: 0x2bb_0000n }),
      elfNote('VMCOREINFO', 0, new TextEncoder().encode('OSRELEASE=6.1.0-57-amd64\nNUMBER(phys_base)=0x3a000000\nKERNELOFFSET=1e000000\n')),
    ]);
    writeElfCoreImage(path, [{ paddr: phys(0), length: 4096 }], chunkedSource([new Uint8Array(4096)]), { notes });
    const read = readElfNotes(path);
    expect(read.map((n) => [n.name, n.type, n.desc.length])).toEqual([
      ['QEMU', 0, 432],
      ['QEMU', 0, 432],
      ['VMCOREINFO', 0, 76],
    ]);
    const cpus = qemuCpuStates(read);
    expect(cpus.map((c) => [c.cpu, c.cr3, c.cr4, c.rip, c.gsBase])).toEqual([
      [0, 0x1aa_0000n, 0x3606f0n, 0xffff_ffff_8100_0000n, 0xffff_8880_7fc0_0000n],
      [1, 0x2bb_0000n, 0n, 0n, 0n],
    ]);
    const info = vmcoreinfo(read)!;
    expect(info.get('NUMBER(phys_base)')).toBe('0x3a000000');
    expect(info.get('OSRELEASE')).toBe('6.1.0-57-amd64');
  });

  it('a note running past its segment is an ImageFormatError', () => {
    const good = elfNote('CORE', 1, new Uint8Array(8));
    const bad = new Uint8Array(good);
    new DataView(bad.buffer).setUint32(4, 0xffff_fff0, true); // descsz
    expect(() => parseElfNotes('core.elf', bad, 0x100)).toThrow(ImageFormatError);
    expect(() => parseElfNotes('core.elf', bad, 0x100)).toThrow(
      'core.elf at offset 0x100: ELF note #0: name (5 bytes) and descriptor (4294967280 bytes) run past the end of the PT_NOTE segment',
    );
    expect(() => parseElfNotes('core.elf', new Uint8Array([...good, 1, 2]), 0)).toThrow(
      'core.elf at offset 0x1c: ELF note #1: truncated note header (2 bytes left in the PT_NOTE segment)',
    );
  });

  it('a PT_NOTE outside the file is reported by readElfNotes, not by openImage', () => {
    const path = tmp('bad-note.elf');
    writeElfCoreImage(path, [{ paddr: phys(0), length: 16 }], chunkedSource([new Uint8Array(16)]), {
      notes: elfNote('CORE', 1, new Uint8Array(8)),
    });
    const b = readFileSync(path);
    b.writeBigUInt64LE(0x10_0000n, 64 + 8); // PT_NOTE p_offset
    writeFileSync(path, b);
    expect(() => readElfNotes(path)).toThrow(
      `${path} at offset 0x40: PT_NOTE at file offset 0x100000+0x1c extends past the end of the file (${b.length} bytes)`,
    );
  });
});
