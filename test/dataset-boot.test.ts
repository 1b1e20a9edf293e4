// The boot driver's failure handling, with stand-in "qemu" scripts: a hung boot is
// retried a bounded number of times; a guest that panics or reports an error fails at
// once with the end of its serial log.
import { afterAll, describe, expect, it } from 'vitest';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bootAndDump, GuestTimeoutError } from '../src/datasets/linux/qemu-boot.js';
import type { LinuxToolchain } from '../src/datasets/linux/toolchain.js';
import { EnvironmentError } from '../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'kcarve-boot-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function fakeQemu(name: string, body: string): { tc: LinuxToolchain; runs: () => number } {
  const counter = join(dir, `${name}.runs`);
  const script = join(dir, `${name}.sh`);
  writeFileSync(script, `#!/bin/sh\necho run >> ${counter}\n${body}\n`);
  chmodSync(script, 0o755);
  const tc: LinuxToolchain = {
    qemu: script, kernelRelease: 'test', vmlinuz: '/nonexistent', headersBuildDir: '/nonexistent',
    busybox: '/bin/true', gcc: 'gcc', make: 'make', zstd: undefined, kvmDevice: false,
  };
  return { tc, runs: () => (existsSync(counter) ? readFileSync(counter, 'utf8').trim().split('\n').length : 0) };
}

function spec(tc: LinuxToolchain, name: string) {
  return {
    tc, initramfs: '/nonexistent', memMiB: 256, paging: 4 as const, kaslr: true,
    rawPath: join(dir, `${name}.raw`), elfPath: join(dir, `${name}.elf`), serialPath: join(dir, `${name}.serial`),
    deadlineMs: 400, attempts: 3,
  };
}

describe('bootAndDump failure handling', () => {
  it('retries a guest that never prints the truth, then gives up naming the deadline', async () => {
    const { tc, runs } = fakeQemu('hang', 'echo "[    0.5] Booting the kernel"\nexec sleep 30');
    const log: string[] = [];
    const err = await bootAndDump({ ...spec(tc, 'hang'), log: (l) => log.push(l) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GuestTimeoutError);
    expect((err as Error).message).toMatch(/^qemu: tcg guest did not print "kcarve: truth done" within 0\.4 s/);
    expect((err as Error).message).toContain('Booting the kernel');
    expect(runs()).toBe(3);
    expect(log).toEqual([
      'attempt 1 of 3 timed out (TCG boot hang); retrying',
      'attempt 2 of 3 timed out (TCG boot hang); retrying',
    ]);
    expect(readFileSync(join(dir, 'hang.serial'), 'utf8')).toContain('Booting the kernel');
  });

  it('fails at once, without retrying, when the guest panics', async () => {
    const { tc, runs } = fakeQemu('panic', 'echo "[    6.1] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100"\nexit 0');
    const err = await bootAndDump(spec(tc, 'panic')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EnvironmentError);
    expect(err).not.toBeInstanceOf(GuestTimeoutError);
    expect((err as Error).message).toContain('Kernel panic - not syncing: Attempted to kill init!');
    expect(runs()).toBe(1);
  });

  it('fails at once when the truth module reports an error', async () => {
    const { tc, runs } = fakeQemu('moderr', 'echo "[    5.9] kcarve: error init: kprobe on kallsyms_lookup_name failed (-2)"\nexec sleep 30');
    const err = await bootAndDump(spec(tc, 'moderr')).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/^qemu: guest error\n/);
    expect((err as Error).message).toContain('kcarve: error init: kprobe on kallsyms_lookup_name failed (-2)');
    expect(runs()).toBe(1);
  });

  it('reports QEMU exiting before the marker', async () => {
    const { tc } = fakeQemu('exit', 'echo "qemu-system-x86_64: -kernel /nonexistent: could not open" >&2\nexit 1');
    const err = await bootAndDump(spec(tc, 'exit')).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/^qemu: QEMU exited \(code 1\) before the truth marker\nqemu stderr:\nqemu-system-x86_64: -kernel \/nonexistent: could not open/);
  });
});
