// The GDB client and the QMP run-state protocol against a real QEMU: a bare q35 machine
// held at reset (-S), no kernel needed. Skipped, with the reason, only when QEMU is not
// installed (.ci/system-deps installs it).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { phys, virt } from '../src/addr.js';
import { findExecutable } from '../src/datasets/linux/toolchain.js';
import { freePort } from '../src/fuzz/guest.js';
import { GdbRemoteClient } from '../src/qemu/gdb-remote.js';
import { QmpClient } from '../src/qemu/qmp.js';

const qemu = findExecutable('qemu-system-x86_64');

describe('GdbRemoteClient against QEMU\'s gdbstub', () => {
  if (!qemu) {
    it.skip('skipped: qemu-system-x86_64 not found on PATH (apt-get install -y qemu-system-x86)', () => {});
    return;
  }
  let child: ChildProcess;
  let qmp: QmpClient;
  let gdb: GdbRemoteClient;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kfz-gdb-'));
    const port = await freePort();
    child = spawn(qemu, [
      '-machine', 'q35,accel=tcg', '-m', '32', '-nodefaults', '-display', 'none', '-S',
      '-gdb', `tcp:127.0.0.1:${port}`, '-qmp', `unix:${join(dir, 'qmp.sock')},server=on,wait=off`,
    ], { stdio: 'ignore' });
    qmp = await QmpClient.connect(join(dir, 'qmp.sock'), { waitMs: 10_000 });
    gdb = await GdbRemoteClient.connect('127.0.0.1', port, { waitMs: 10_000 });
  });

  afterAll(async () => {
    gdb?.close();
    await qmp?.execute('quit').catch(() => undefined);
    qmp?.close();
    child?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes guest physical memory that QEMU itself then dumps (pmemsave)', async () => {
    const data = Buffer.alloc(3000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7 + 3) & 0xff;
    data.write('#$}*', 100, 'latin1'); // bytes the protocol must escape
    await gdb.writePhys(phys(0x123400), data);
    expect(await gdb.readPhys(phys(0x123400), data.length)).toEqual(data);
    const file = join(dir, 'dump.bin');
    await qmp.execute('pmemsave', { val: 0x123400, size: data.length, filename: file });
    expect(readFileSync(file)).toEqual(data);
  });

  it('reads the same bytes through a virtual address while paging is off (at reset)', async () => {
    expect(await gdb.readVirt(virt(0x123400n), 16)).toEqual(await gdb.readPhys(phys(0x123400), 16));
  });

  it('answers ? with a stop reply, and sends one after each QMP stop, which drainStopReplies takes', async () => {
    expect(await gdb.haltReason()).toMatch(/^T[0-9a-f]{2}/);
    await qmp.execute('cont');
    await new Promise((r) => setTimeout(r, 100));
    await qmp.execute('stop');
    const replies = await gdb.drainStopReplies(2000);
    expect(replies).toHaveLength(1);
    expect(replies[0]).toMatch(/^T02/); // GDB_SIGNAL_INT: stopped from outside
    // After the drain, memory requests work as before.
    expect((await gdb.readPhys(phys(0x123400), 4)).length).toBe(4);
  });
});
