// Every kind of bad image gives an ImageFormatError (or ImageIOError when the OS
// refuses) whose message names the path, the offset of the offending header and the
// reason; never a crash, a hang, a short result, or a huge allocation.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { phys } from '../src/addr.js';
import { ImageFormatError, ImageIOError, InvalidAddressError } from '../src/errors.js';
import { writeElfCoreImage } from '../src/layers/elf-core.js';
import { writeLimeImage } from '../src/layers/lime.js';
import { openImage } from '../src/layers/open-image.js';
import { chunkedSource, patternBytes, useTmpDir } from './helpers/images.js';

const tmp = useTmpDir('bad');
let counter = 0;

function openError(path: string): Error {
  try {
    openImage(path).close();
  } catch (err) {
    return err as Error;
  }
  throw new Error(`${path} opened without error`);
}

/** Assert openImage(path) fails with ImageFormatError and exactly this message. */
function expectFormatError(path: string, message: string, offset?: number): void {
  const err = openError(path);
  expect(err).toBeInstanceOf(ImageFormatError);
  expect(err.message).toBe(message);
  expect((err as ImageFormatError).path).toBe(path);
  if (offset !== undefined) expect((err as ImageFormatError).offset).toBe(offset);
}

// ELF64 fixture: PT_NOTE (#0, empty) at 0x40, PT_LOAD #1 at 0x78 (0x1000, 0x2000 bytes),
// PT_LOAD #2 at 0xb0 (0x10000, 0x1000 bytes). Data starts at 0x40 + 3*56 = 0xe8.
const PH1 = 0x78;
const PH2 = 0xb0;
const ELF_SIZE = 0xe8 + 0x3000;

function elfFixture(mutate: (b: Buffer) => Buffer | void): string {
  const good = tmp(`good-${counter}.elf`);
  writeElfCoreImage(
    good,
    [
      { paddr: phys(0x1000), length: 0x2000 },
      { paddr: phys(0x10000), length: 0x1000 },
    ],
    chunkedSource([patternBytes(1, 0x2000), patternBytes(2, 0x1000)]),
  );
  const bytes = readFileSync(good);
  const out = mutate(bytes) ?? bytes;
  const path = tmp(`bad-${counter++}.elf`);
  writeFileSync(path, out);
  return path;
}

// LiME fixture: range #0 header at 0 (0x1000..0x1fff), data at 0x20; range #1 header
// at 0x1020 (0x8000..0x87ff), data at 0x1040; file ends at 0x1840.
function limeFixture(mutate: (b: Buffer) => Buffer | void): string {
  const good = tmp(`good-${counter}.lime`);
  writeLimeImage(
    good,
    [
      { paddr: phys(0x1000), length: 0x1000 },
      { paddr: phys(0x8000), length: 0x800 },
    ],
    chunkedSource([patternBytes(3, 0x1000), patternBytes(4, 0x800)]),
  );
  const bytes = readFileSync(good);
  const out = mutate(bytes) ?? bytes;
  const path = tmp(`bad-${counter++}.lime`);
  writeFileSync(path, out);
  return path;
}

describe('any image', () => {
  it('a missing file is an ImageIOError', () => {
    const path = tmp('nothing-here.raw');
    const err = openError(path);
    expect(err).toBeInstanceOf(ImageIOError);
    expect(err.message).toBe(`${path}: no such file`);
  });

  it('a directory is an ImageFormatError', () => {
    const path = tmp('a-directory');
    mkdirSync(path);
    expectFormatError(path, `${path}: is a directory, not a memory image file`);
  });

  it('a FIFO or a device is refused without blocking', () => {
    const fifo = tmp('a-fifo');
    execFileSync('mkfifo', [fifo]);
    // Opening a FIFO for reading would wait for a writer forever without O_NONBLOCK.
    expectFormatError(fifo, `${fifo}: is not a regular file (device, pipe or socket)`);
    expectFormatError('/dev/zero', '/dev/zero: is not a regular file (device, pipe or socket)');
  });

  it('an empty file is an ImageFormatError', () => {
    const path = tmp('empty.raw');
    writeFileSync(path, new Uint8Array(0));
    expectFormatError(path, `${path} at offset 0x0: empty file: no memory image here`, 0);
  });

  it('a forced format is honoured', () => {
    const path = elfFixture(() => undefined);
    const image = openImage(path, { format: 'raw' });
    expect(image.format).toBe('raw');
    expect(image.runs).toEqual([{ paddr: 0, fileOffset: 0, length: ELF_SIZE }]);
    image.close();
  });
});

describe('ELF core', () => {
  it('reads the good fixture', () => {
    const image = openImage(elfFixture(() => undefined));
    expect(image.runs).toEqual([
      { paddr: 0x1000, fileOffset: 0xe8, length: 0x2000 },
      { paddr: 0x10000, fileOffset: 0x20e8, length: 0x1000 },
    ]);
    expect(image.detail).toBe('ELF64 core, e_machine 62 (x86-64), 2 PT_LOAD');
    image.close();
  });

  it('truncated in the memory data', () => {
    const path = elfFixture((b) => b.subarray(0, ELF_SIZE - 100));
    expectFormatError(
      path,
      `${path} at offset 0xb0: PT_LOAD (program header #2): data at file offset 0x20e8+0x1000 extends past the end ` +
        `of the file (${ELF_SIZE - 100} bytes; truncated image?)`,
      PH2,
    );
  });

  it('truncated in the ELF header', () => {
    const path = elfFixture((b) => b.subarray(0, 40));
    expectFormatError(path, `${path} at offset 0x0: truncated ELF header (40 bytes; an ELF64 header has 64)`);
  });

  it('truncated in the program header table', () => {
    const path = elfFixture((b) => b.subarray(0, 130));
    expectFormatError(
      path,
      `${path} at offset 0x20: program header table (3 entries of 56 bytes at 0x40) extends past the end of the file (130 bytes)`,
    );
  });

  it('an absurd e_phnum', () => {
    const path = elfFixture((b) => void b.writeUInt16LE(0xfffe, 56));
    expectFormatError(
      path,
      `${path} at offset 0x20: program header table (65534 entries of 56 bytes at 0x40) extends past the end of the file (${ELF_SIZE} bytes)`,
    );
  });

  it('an absurd count behind PN_XNUM (sh_info 0xffffffff)', () => {
    const path = elfFixture((b) => {
      b.writeUInt16LE(0xffff, 56); // e_phnum = PN_XNUM
      b.writeBigUInt64LE(0x1000n, 40); // e_shoff
      b.writeUInt16LE(64, 58); // e_shentsize
      b.writeUInt16LE(1, 60); // e_shnum
      b.fill(0, 0x1000, 0x1040);
      b.writeUInt32LE(0xffffffff, 0x1000 + 44); // sh_info
    });
    expectFormatError(
      path,
      `${path} at offset 0x20: program header table (4294967295 entries of 56 bytes at 0x40) extends past the end of the file (${ELF_SIZE} bytes)`,
    );
  });

  it('PN_XNUM without a section header', () => {
    const path = elfFixture((b) => void b.writeUInt16LE(0xffff, 56));
    expectFormatError(
      path,
      `${path} at offset 0x28: e_phnum is PN_XNUM (0xffff) but e_shoff names no section header holding the real count`,
    );
  });

  it('e_phnum 0', () => {
    const path = elfFixture((b) => void b.writeUInt16LE(0, 56));
    expectFormatError(path, `${path} at offset 0x38: e_phnum is 0: no program headers, so no memory`);
  });

  it('PT_LOADs overlapping with different file data', () => {
    const path = elfFixture((b) => void b.writeBigUInt64LE(0x2000n, PH2 + 24));
    expectFormatError(
      path,
      `${path} at offset 0xb0: PT_LOAD (program header #2) (physical 0x2000..0x3000) overlaps PT_LOAD (program header #1) ` +
        '(physical 0x1000..0x3000) with different file data',
      PH2,
    );
  });

  it('PT_LOADs repeating the same bytes (QEMU paging dumps) are merged', () => {
    const path = elfFixture((b) => {
      // #2 becomes the second half of #1 again: same paddr→file relation.
      b.writeBigUInt64LE(0xe8n + 0x1000n, PH2 + 8);
      b.writeBigUInt64LE(0x2000n, PH2 + 24);
    });
    const image = openImage(path);
    expect(image.runs).toEqual([{ paddr: 0x1000, fileOffset: 0xe8, length: 0x2000 }]);
    expect(image.detail).toBe('ELF64 core, e_machine 62 (x86-64), 2 PT_LOAD (overlapping segments merged into 1 runs)');
    image.close();
  });

  it('a PT_LOAD outside the file', () => {
    const path = elfFixture((b) => void b.writeBigUInt64LE(BigInt(ELF_SIZE + 0x1000), PH2 + 8));
    expectFormatError(
      path,
      `${path} at offset 0xb0: PT_LOAD (program header #2): data at file offset 0x40e8+0x1000 extends past the end ` +
        `of the file (${ELF_SIZE} bytes; truncated image?)`,
    );
  });

  it('a p_offset beyond 2^53', () => {
    const path = elfFixture((b) => void b.writeBigUInt64LE(0xffff_ffff_ffff_0000n, PH1 + 8));
    expectFormatError(path, `${path} at offset 0x78: PT_LOAD (program header #1): p_offset 0xffffffffffff0000 is past the end of the file`);
  });

  it('an absurd p_filesz', () => {
    const path = elfFixture((b) => {
      b.writeBigUInt64LE(1n << 63n, PH1 + 32);
      b.writeBigUInt64LE(1n << 63n, PH1 + 40);
    });
    expectFormatError(
      path,
      `${path} at offset 0x78: PT_LOAD (program header #1): p_filesz 0x8000000000000000 is larger than the file (${ELF_SIZE} bytes)`,
    );
  });

  it('p_filesz larger than p_memsz', () => {
    const path = elfFixture((b) => void b.writeBigUInt64LE(0x10n, PH1 + 40));
    expectFormatError(path, `${path} at offset 0x78: PT_LOAD (program header #1): p_filesz 0x2000 is larger than p_memsz 0x10`);
  });

  it('p_memsz > p_filesz: the tail is a hole, not zeros', () => {
    const path = elfFixture((b) => void b.writeBigUInt64LE(0x3000n, PH1 + 40));
    const image = openImage(path);
    expect(image.runs[0]).toEqual({ paddr: 0x1000, fileOffset: 0xe8, length: 0x2000 });
    expect(() => image.readPhys(phys(0x2ff8), 16)).toThrow(InvalidAddressError);
    expect(image.detail).toBe(
      'ELF64 core, e_machine 62 (x86-64), 2 PT_LOAD (1 with p_memsz > p_filesz (tails not in the file are holes))',
    );
    image.close();
  });

  it('p_filesz 0 and p_offset -1 (outside a filtered dump) holds nothing', () => {
    const path = elfFixture((b) => {
      b.writeBigUInt64LE(0xffff_ffff_ffff_ffffn, PH2 + 8);
      b.writeBigUInt64LE(0n, PH2 + 32);
    });
    const image = openImage(path);
    expect(image.runs.length).toBe(1);
    expect(image.detail).toBe('ELF64 core, e_machine 62 (x86-64), 2 PT_LOAD (1 without file data)');
    image.close();
  });

  it('a p_paddr past 52 bits', () => {
    const path = elfFixture((b) => void b.writeBigUInt64LE(1n << 52n, PH2 + 24));
    expectFormatError(
      path,
      `${path} at offset 0xb0: PT_LOAD (program header #2): physical range 0x10000000000000+0x1000 passes the 52-bit physical address limit`,
    );
  });

  it('not a core file', () => {
    const path = elfFixture((b) => void b.writeUInt16LE(2, 16));
    expectFormatError(path, `${path} at offset 0x10: e_type 2 is not ET_CORE (4): this ELF file is not a memory dump`);
  });

  it('big-endian', () => {
    const path = elfFixture((b) => void (b[5] = 2));
    expectFormatError(path, `${path} at offset 0x5: EI_DATA 2: only little-endian (ELFDATA2LSB) cores are supported`);
  });

  it('an unknown class', () => {
    const path = elfFixture((b) => void (b[4] = 7));
    expectFormatError(path, `${path} at offset 0x4: EI_CLASS 7 is neither ELFCLASS32 (1) nor ELFCLASS64 (2)`);
  });

  it('a wrong e_phentsize', () => {
    const path = elfFixture((b) => void b.writeUInt16LE(32, 54));
    expectFormatError(path, `${path} at offset 0x36: e_phentsize 32 is not 56, the ELF64 program header size`);
  });

  it('no PT_LOAD at all', () => {
    const path = elfFixture((b) => {
      b.writeUInt32LE(6, PH1);
      b.writeUInt32LE(6, PH2);
    });
    expectFormatError(path, `${path} at offset 0x40: none of the 3 program headers is a PT_LOAD with bytes in the file (0 PT_LOAD)`);
  });
});

describe('LiME', () => {
  it('reads the good fixture', () => {
    const image = openImage(limeFixture(() => undefined));
    expect(image.runs).toEqual([
      { paddr: 0x1000, fileOffset: 0x20, length: 0x1000 },
      { paddr: 0x8000, fileOffset: 0x1040, length: 0x800 },
    ]);
    expect(image.holes()).toEqual([
      { paddr: 0, length: 0x1000 },
      { paddr: 0x2000, length: 0x6000 },
    ]);
    image.close();
  });

  it('truncated in the data', () => {
    const path = limeFixture((b) => b.subarray(0, 0x1840 - 10));
    expectFormatError(
      path,
      `${path} at offset 0x1020: LiME range #1: range 0x8000..0x87ff holds 2048 bytes but only 2038 follow the header (truncated image?)`,
      0x1020,
    );
  });

  it('truncated in a header', () => {
    const path = limeFixture((b) => Buffer.concat([b, Buffer.from([0x45, 0x4d, 0x69, 0x4c, 1, 0, 0, 0, 0, 0])]));
    expectFormatError(
      path,
      `${path} at offset 0x1840: LiME range #2: truncated header (10 bytes left in the file, a header has 32)`,
    );
  });

  it('e_addr below s_addr', () => {
    const path = limeFixture((b) => void b.writeBigUInt64LE(0x7000n, 0x1020 + 16));
    expectFormatError(path, `${path} at offset 0x1020: LiME range #1: e_addr 0x7000 is below s_addr 0x8000`);
  });

  it('a range longer than the file', () => {
    const path = limeFixture((b) => void b.writeBigUInt64LE(0x1000n + (1n << 40n), 16));
    expectFormatError(
      path,
      `${path} at offset 0x0: LiME range #0: range 0x1000..0x10000001000 holds 1099511627777 bytes but only 6176 follow ` +
        'the header (truncated image?)',
    );
  });

  it('an e_addr past 52 bits', () => {
    const path = limeFixture((b) => void b.writeBigUInt64LE(0xffff_ffff_ffff_ffffn, 16));
    expectFormatError(path, `${path} at offset 0x0: LiME range #0: e_addr 0xffffffffffffffff passes the 52-bit physical address limit`);
  });

  it('an unknown header version', () => {
    const path = limeFixture((b) => void b.writeUInt32LE(2, 0x1020 + 4));
    expectFormatError(path, `${path} at offset 0x1020: LiME range #1: header version 2 is not supported (only 1 is specified)`);
  });

  it('a bad magic in a later header', () => {
    const path = limeFixture((b) => void b.writeUInt32LE(0x12345678, 0x1020));
    expectFormatError(path, `${path} at offset 0x1020: LiME range #1: bad magic 0x12345678 (expected 0x4c694d45, "LiME")`);
  });

  it('overlapping ranges', () => {
    const path = limeFixture((b) => {
      b.writeBigUInt64LE(0x1800n, 0x1020 + 8);
      b.writeBigUInt64LE(0x1fffn, 0x1020 + 16);
    });
    expectFormatError(
      path,
      `${path} at offset 0x1020: LiME range #1 (physical 0x1800..0x2000) overlaps LiME range #0 (physical 0x1000..0x2000)`,
    );
  });
});
