// The ELF reader on a core QEMU itself wrote: start a paused guest (no OS, no disk),
// `dump-guest-memory` it over QMP, and compare what kcarve reads with QEMU's own
// `pmemsave` of the same physical ranges. Skipped when qemu-system-x86_64 is absent
// (.ci/system-deps does not install it yet).
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { phys } from '../src/addr.js';
import { InvalidAddressError } from '../src/errors.js';
import { qemuCpuStates, readElfNotes } from '../src/layers/elf-notes.js';
import { openImage } from '../src/layers/open-image.js';
import { firstDifference, useTmpDir } from './helpers/images.js';

const hasQemu = spawnSync('qemu-system-x86_64', ['--version']).status === 0;
const tmp = useTmpDir('qemu');

/** Minimal QMP client: one command at a time, events skipped. */
async function qmp(socketPath: string): Promise<{ run: (cmd: string, args?: object) => Promise<unknown>; close: () => void }> {
  for (let attempt = 0; ; attempt++) {
    try {
      const sock = await new Promise<ReturnType<typeof createConnection>>((resolve, reject) => {
        const s = createConnection(socketPath, () => resolve(s));
        s.once('error', reject);
      });
      let buffer = '';
      const waiters: ((msg: Record<string, unknown>) => void)[] = [];
      sock.on('data', (d) => {
        buffer += d.toString();
        let nl: number;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          const msg = JSON.parse(buffer.slice(0, nl)) as Record<string, unknown>;
          buffer = buffer.slice(nl + 1);
          if (!('event' in msg)) waiters.shift()?.(msg);
        }
      });
      const next = () => new Promise<Record<string, unknown>>((resolve) => waiters.push(resolve));
      await next(); // greeting
      const run = async (cmd: string, args?: object) => {
        const reply = next();
        sock.write(`${JSON.stringify({ execute: cmd, ...(args ? { arguments: args } : {}) })}\n`);
        const msg = await reply;
        if ('error' in msg) throw new Error(`QMP ${cmd}: ${JSON.stringify(msg.error)}`);
        return msg.return;
      };
      await run('qmp_capabilities');
      return { run, close: () => sock.destroy() };
    } catch (err) {
      if (attempt > 50) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

describe.skipIf(!hasQemu)('QEMU dump-guest-memory core', () => {
  let qemu: ChildProcess | undefined;
  afterAll(() => {
    if (qemu?.exitCode === null) qemu.kill('SIGKILL');
  });

  it('reads the same bytes QEMU pmemsave reports', async () => {
    const sockPath = tmp('qmp.sock');
    qemu = spawn(
      'qemu-system-x86_64',
      ['-nodefaults', '-display', 'none', '-m', '32', '-S', '-qmp', `unix:${sockPath},server=on,wait=off`],
      { stdio: 'ignore' },
    );
    const q = await qmp(sockPath);
    const core = tmp('guest.elf');
    await q.run('dump-guest-memory', { paging: false, protocol: `file:${core}` });
    const ranges = [
      { start: 0x0, length: 0x1000 }, // RAM (zero: the guest never ran)
      { start: 0xf0000, length: 0x10000 }, // BIOS shadow below 1 MiB
      { start: 0xfffc0000, length: 0x40000 }, // the BIOS ROM at the top of 4 GiB
    ];
    const saved = ranges.map((r, i) => tmp(`pmem-${i}.bin`));
    for (let i = 0; i < ranges.length; i++) {
      await q.run('pmemsave', { val: ranges[i]!.start, size: ranges[i]!.length, filename: saved[i] });
    }
    await q.run('quit').catch(() => undefined);
    q.close();

    const image = openImage(core);
    try {
      expect(image.format).toBe('elf-core');
      // A 32-bit (not long-mode) guest whose ROM ends at 4 GiB: QEMU picks ELFCLASS64 with EM_386.
      expect(image.detail).toMatch(/^ELF64 core, e_machine 3 \(i386\), \d+ PT_LOAD$/);
      // QEMU packs memory right after its notes: the first run is not page-aligned in the file.
      expect(image.runs[0]!.fileOffset % 4096).not.toBe(0);
      expect(image.runs[0]!.paddr).toBe(0);
      expect(image.runs.some((r) => r.paddr <= 0x100000 && r.paddr + r.length >= 32 << 20)).toBe(true);
      for (let i = 0; i < ranges.length; i++) {
        const want = new Uint8Array(readFileSync(saved[i]!));
        expect(firstDifference(image.readPhys(phys(ranges[i]!.start), ranges[i]!.length), want)).toBe(-1);
      }
      // The reset vector: a far jump (0xEA) into the BIOS.
      expect(image.readPhys(phys(0xfffffff0), 1)[0]).toBe(0xea);
      // Between the end of RAM and the BIOS: MMIO, not in the image.
      expect(() => image.readPhys(phys(0x8000000), 1)).toThrow(InvalidAddressError);
    } finally {
      image.close();
    }
    // The paused CPU is at its reset state (Intel SDM vol. 3A, table 9-1): CR0 0x60000010,
    // IP 0xfff0, no paging (CR3 0).
    const cpus = qemuCpuStates(readElfNotes(core));
    expect(cpus.map((c) => [c.cr0, c.rip, c.cr3])).toEqual([[0x6000_0010n, 0xfff0n, 0n]]);
  }, 60_000);
});
