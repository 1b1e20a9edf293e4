import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { shippedKernelBtfPath } from '../../src/types/load.js';
import { isfFromText } from '../../src/types/isf.js';
import { writeBtf, writeBzImage, writeElf64 } from '../helpers/btf-writer.js';
import { gzipSync } from 'node:zlib';
import { captureStdio } from '../helpers/capture-stdio.js';

const io = captureStdio();

const dir = mkdtempSync(join(tmpdir(), 'kcarve-cli-layout-'));
const KBTF = shippedKernelBtfPath();

describe('kcarve layout show', () => {
  it('prints task_struct with pahole-style offsets', async () => {
    expect(await main(['layout', 'show', KBTF, 'task_struct'])).toBe(0);
    expect(io.stdout).toMatch(/^struct task_struct \{\s+\/\* size: 9792 \*\/\n/);
    expect(io.stdout).toMatch(/\n\s+struct list_head tasks;\s+\/\*\s+2192\s+16 \*\/\n/);
    expect(io.stdout).toMatch(/\n\s+int pid;\s+\/\*\s+2416\s+4 \*\/\n/);
    expect(io.stdout).toMatch(/\n\s+char comm\[16\];\s+\/\*\s+2976\s+16 \*\/\n/);
    expect(io.stdout).toMatch(/\n\s+unsigned int sched_contributes_to_load:1;\s+\/\*\s+2340:1\s+4 \*\/\n/);
  });

  it('prints one member, and the flattened leaves', async () => {
    expect(await main(['layout', 'show', KBTF, 'pid', '--member', 'numbers[0].nr'])).toBe(0);
    expect(io.stdout).toBe('pid.numbers[0].nr: offset 96 size 4 type int\n');
    io.stdout = '';
    expect(await main(['layout', 'show', KBTF, 'list_head', '--leaves'])).toBe(0);
    expect(io.stdout.trim().split('\n').slice(1).map((s) => s.trim().split(/\s+/))).toEqual([
      ['0', '8', 'pointer', '->', 'struct', 'list_head', 'next'],
      ['8', '8', 'pointer', '->', 'struct', 'list_head', 'prev'],
    ]);
  });

  it('exits 2 with the LayoutError message on a missing type or member, and on a non-layout file', async () => {
    expect(await main(['layout', 'show', KBTF, 'task_struct', '--member', 'real_start_time'])).toBe(2);
    expect(io.stderr).toBe(`kcarve: ${KBTF} (task_struct.real_start_time): struct task_struct has no member "real_start_time"\n`);
    io.stderr = '';
    const junk = join(dir, 'junk.bin');
    writeFileSync(junk, 'hello');
    expect(await main(['layout', 'show', junk, 'task_struct'])).toBe(2);
    expect(io.stderr).toMatch(/junk\.bin: not a layout: expected BTF, a vmlinux ELF, a bzImage or Volatility 3 ISF JSON/);
  });

  it('has help that names the formats and gives examples', async () => {
    expect(await main(['layout', 'show', '--help'])).toBe(0);
    expect(io.stdout).toMatch(/Print a struct or union with offsets, sizes and types/);
    expect(io.stdout).toMatch(/kcarve layout show signatures\/btf\/linux-6\.1\.0-57-amd64\.btf\.gz task_struct/);
    io.stdout = '';
    expect(await main(['layout', '--help'])).toBe(0);
    expect(io.stdout).toMatch(/Volatility 3 ISF JSON/);
    expect(io.stdout).toMatch(/export-isf/);
    expect(io.stdout).toMatch(/extract-btf/);
  });
});

describe('kcarve layout export-isf', () => {
  it('writes ISF with typed, addressed symbols from a System.map', async () => {
    const map = join(dir, 'System.map');
    writeFileSync(map, 'ffffffff81000000 T _text\nffffffff82a0c940 D init_task\nffffffff82000200 R linux_banner\n');
    const isf = join(dir, 'k.json.gz');
    expect(await main(['layout', 'export-isf', '--btf', KBTF, '--symbols', map, '--banner', 'Linux version 6.1.0-57-amd64 (x) #1 SMP', '--out', isf])).toBe(0);
    const l = isfFromText(gunzipSync(readFileSync(isf)).toString(), isf);
    expect(l.sizeOf('task_struct')).toBe(9792);
    expect(l.symbol('init_task')).toMatchObject({ address: 0xffffffff82a0c940n, type: { kind: 'struct', name: 'task_struct' } });
    expect(Buffer.from(l.symbol('linux_banner').constantData!).toString()).toBe('Linux version 6.1.0-57-amd64 (x) #1 SMP\n\u0000');
    expect(l.metadata.osInfo).toMatchObject({ symbols: [{ kind: 'system-map', name: 'System.map', hash_type: 'sha256' }] });
    expect(io.stderr).toMatch(/wrote .*k\.json\.gz: \d+ structs\/unions, \d+ enums, 3 symbols/);
  });

  it('needs --out, and refuses .xz output up front (usage errors, exit 1)', async () => {
    expect(await main(['layout', 'export-isf', '--btf', KBTF])).toBe(1);
    expect(await main(['layout', 'export-isf', '--btf', join(dir, 'does-not-exist'), '--out', join(dir, 'k.json.xz')])).toBe(1);
    expect(io.stderr).toMatch(/xz output is not supported; write \.gz/);
  });
});

describe('kcarve layout extract-btf', () => {
  it('takes the BTF out of a gzip bzImage and writes it raw or gzipped', async () => {
    const btf = writeBtf([{ kind: 'int', name: 'int', size: 4, signed: true }]);
    const elf = writeElf64([{ name: '.BTF', data: btf }]);
    const img = join(dir, 'vmlinuz');
    writeFileSync(img, writeBzImage(gzipSync(elf)));
    expect(await main(['layout', 'extract-btf', img, '--out', join(dir, 'out.btf')])).toBe(0);
    expect(readFileSync(join(dir, 'out.btf'))).toEqual(Buffer.from(btf));
    expect(io.stderr).toMatch(/from bzImage \(gzip payload\), release 6\.1\.0-test-amd64/);
    expect(await main(['layout', 'extract-btf', img, '--out', join(dir, 'out.btf.gz')])).toBe(0);
    expect(gunzipSync(readFileSync(join(dir, 'out.btf.gz')))).toEqual(Buffer.from(btf));
  });

  it('exits 2 on a file that is not a kernel', async () => {
    const f = join(dir, 'text');
    writeFileSync(f, 'not a kernel');
    expect(await main(['layout', 'extract-btf', f, '--out', join(dir, 'x')])).toBe(2);
    expect(io.stderr).toMatch(/not a BTF blob, vmlinux ELF or bzImage/);
  });
});
