import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { phys } from '../src/addr.js';
import { main } from '../src/cli/main.js';
import { elfNote, writeElfCoreImage } from '../src/layers/elf-core.js';
import { qemuCpuStateNote } from '../src/layers/elf-notes.js';
import { writeLimeImage } from '../src/layers/lime.js';
import { chunkedSource, patternBytes, useTmpDir } from './helpers/images.js';
import { captureStdio } from './helpers/capture-stdio.js';

const tmp = useTmpDir('cli-info');

const io = captureStdio();

function elf(name: string): string {
  const path = tmp(name);
  writeElfCoreImage(
    path,
    [
      { paddr: phys(0x1000), length: 0x2000 },
      { paddr: phys(0x10000), length: 0x1000 },
    ],
    chunkedSource([patternBytes(1, 0x2000), patternBytes(2, 0x1000)]),
  );
  return path;
}

describe('kcarve info', () => {
  it('prints format, runs, holes and sizes of an ELF core', async () => {
    const path = elf('two-runs.elf');
    expect(await main(['info', path])).toBe(0);
    expect(io.stderr).toBe('');
    expect(io.stdout).toBe(
      [
        `image      ${path}`,
        'format     elf-core: ELF64 core, e_machine 62 (x86-64), 2 PT_LOAD',
        'file size  12.2 KiB (12520 bytes)',
        'mapped     12.0 KiB (12288 bytes) of physical 0x0..0x11000, in 2 runs with 2 holes',
        '',
        'runs (physical memory the image holds)',
        '  physical start  physical end  file offset  length',
        '  0x1000          0x3000        0xe8         8.0 KiB',
        '  0x10000         0x11000       0x20e8       4.0 KiB',
        '',
        'holes (physical memory the image lacks; reads there fail)',
        '  physical start  physical end  length',
        '  0x0             0x1000        4.0 KiB',
        '  0x3000          0x10000       52.0 KiB',
        '',
        'ELF notes',
        '  no QEMU CPU-state notes',
        '',
      ].join('\n'),
    );
  });

  it('--json prints the same facts as data', async () => {
    const path = elf('two-runs-json.elf');
    expect(await main(['info', '--json', path])).toBe(0);
    expect(JSON.parse(io.stdout)).toEqual({
      path,
      format: 'elf-core',
      detail: 'ELF64 core, e_machine 62 (x86-64), 2 PT_LOAD',
      fileSize: 12520,
      mappedSize: 12288,
      endAddress: '0x11000',
      runs: [
        { paddr: '0x1000', end: '0x3000', fileOffset: 232, length: 8192 },
        { paddr: '0x10000', end: '0x11000', fileOffset: 8424, length: 4096 },
      ],
      holes: [
        { paddr: '0x0', end: '0x1000', length: 4096 },
        { paddr: '0x3000', end: '0x10000', length: 53248 },
      ],
      notes: { cpus: [] },
    });
  });

  it('shows the CR3 of each CPU and VMCOREINFO from the notes of an ELF core', async () => {
    const path = tmp('notes.elf');
    const notes = Buffer.concat([
      qemuCpuStateNote({ cr0: 0x8005_0033n, cr3: 0x1aa_0000n, cr4: 0x3606f0n, rip: 0xffff_ffff_8100_0000n }),
      elfNote('VMCOREINFO', 0, new TextEncoder().encode('OSRELEASE=6.1.0\nNUMBER(phys_base)=0x3a000000\n')),
    ]);
    writeElfCoreImage(path, [{ paddr: phys(0), length: 4096 }], chunkedSource([new Uint8Array(4096)]), { notes });
    expect(await main(['info', path])).toBe(0);
    expect(io.stdout).toContain(
      '\nELF notes\n  cpu 0: CR3 0x1aa0000 (page-table root), CR0 0x80050033, CR4 0x3606f0, RIP 0xffffffff81000000\n' +
        '  VMCOREINFO: 2 entries (--json prints them)\n',
    );
    io.stdout = '';
    expect(await main(['info', '--json', path])).toBe(0);
    expect(JSON.parse(io.stdout).notes).toEqual({
      cpus: [{ cpu: 0, cr0: '0x80050033', cr3: '0x1aa0000', cr4: '0x3606f0', rip: '0xffffffff81000000' }],
      vmcoreinfo: { OSRELEASE: '6.1.0', 'NUMBER(phys_base)': '0x3a000000' },
    });
    // Broken notes do not hide the memory: they are reported, and the exit status stays 0.
    const broken = readFileSync(path);
    broken.writeUInt32LE(0xffff, 0xb0 + 4); // descsz of note #0 (notes follow the 64 + 2 × 56 header bytes)
    const brokenPath = tmp('broken-notes.elf');
    writeFileSync(brokenPath, broken);
    io.stdout = '';
    expect(await main(['info', brokenPath])).toBe(0);
    expect(io.stdout).toContain(`ELF notes\n  unreadable: ${brokenPath} at offset 0xb0: ELF note #0: name (5 bytes) and descriptor (65535 bytes) run past the end of the PT_NOTE segment\n`);
  });

  it('a raw image is one run from 0 with no holes', async () => {
    const path = tmp('plain.raw');
    writeFileSync(path, patternBytes(3, 5000));
    expect(await main(['info', path])).toBe(0);
    expect(io.stdout).toContain('format     raw: raw: physical 0x0..0x1388 is file 0x0..0x1388; gaps in guest memory read as zeros\n');
    expect(io.stdout).toContain('  0x0             0x1388        0x0          4.9 KiB\n');
    expect(io.stdout).toContain('\nholes: none\n');
  });

  it('--format overrides detection', async () => {
    const path = elf('forced.elf');
    expect(await main(['info', '--json', '--format', 'raw', path])).toBe(0);
    expect(JSON.parse(io.stdout).runs).toEqual([{ paddr: '0x0', end: '0x30e8', fileOffset: 0, length: 12520 }]);
  });

  it('long run lists are cut in text and complete with --all', async () => {
    const path = tmp('many.lime');
    const runs = Array.from({ length: 60 }, (_, i) => ({ paddr: phys(i * 0x2000), length: 0x1000 }));
    writeLimeImage(path, runs, chunkedSource(runs.map((_, i) => patternBytes(i, 0x1000))));
    expect(await main(['info', path])).toBe(0);
    expect(io.stdout).toContain('in 60 runs with 59 holes');
    expect(io.stdout).toContain('  ... 10 more runs (--all lists them, --json prints everything)\n');
    expect(io.stdout).toContain('  ... 9 more holes (--all lists them, --json prints everything)\n');
    io.stdout = '';
    expect(await main(['info', '--all', path])).toBe(0);
    expect(io.stdout).not.toContain('more runs');
    expect(io.stdout).toContain('  0x76000         0x77000       0x3b780      4.0 KiB\n');
  });

  it('bad input exits 2 with the error message on stderr', async () => {
    const path = tmp('bad.lime');
    const bytes = Buffer.alloc(64);
    bytes.writeUInt32LE(0x4c694d45, 0);
    bytes.writeUInt32LE(1, 4);
    bytes.writeBigUInt64LE(0x2000n, 8);
    bytes.writeBigUInt64LE(0x1000n, 16);
    writeFileSync(path, bytes);
    expect(await main(['info', path])).toBe(2);
    expect(io.stdout).toBe('');
    expect(io.stderr).toBe(`kcarve: ${path} at offset 0x0: LiME range #0: e_addr 0x1000 is below s_addr 0x2000\n`);

    expect(await main(['info', tmp('missing.elf')])).toBe(2);
    expect(io.stderr).toContain(`kcarve: ${tmp('missing.elf')}: no such file\n`);

    const dir = tmp('dir');
    mkdirSync(dir);
    expect(await main(['info', dir])).toBe(2);
    expect(io.stderr).toContain(`kcarve: ${dir}: is a directory, not a memory image file\n`);
  });

  it('usage errors exit 1; --help exits 0 and explains', async () => {
    expect(await main(['info'])).toBe(1);
    expect(io.stderr).toContain("error: missing required argument 'image'");
    expect(await main(['info', '--format', 'vmem', 'x'])).toBe(1);
    expect(io.stderr).toContain("argument 'vmem' is invalid. Allowed choices are raw, lime, elf-core.");
    io.stdout = '';
    expect(await main(['info', '--help'])).toBe(0);
    expect(io.stdout).toContain('Usage: kcarve info [options] <image>');
    expect(io.stdout).toContain('Formats (detected from the first bytes of the file):');
    expect(io.stdout).toContain('Exit status: 0 ok, 1 bad command line, 2 unreadable or malformed image');
  });
});

describe('kcarve info as a process', () => {
  it('sets the exit status (0 ok, 2 bad input)', () => {
    const cli = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
    const ok = spawnSync(process.execPath, ['--import', 'tsx', cli, 'info', elf('process.elf')], { encoding: 'utf8' });
    expect(ok.status).toBe(0);
    expect(ok.stdout).toContain('format     elf-core: ELF64 core');
    const bad = spawnSync(process.execPath, ['--import', 'tsx', cli, 'info', tmp('absent.raw')], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toBe(`kcarve: ${tmp('absent.raw')}: no such file\n`);
  });
});
