// Boots the guest under QEMU, waits for the truth module's "truth done" marker on the
// serial console, stops the guest and dumps its physical memory over QMP, both raw
// (`pmemsave` from physical address 0 over the RAM size) and as an ELF core
// (`dump-guest-memory`, paging=false).
//
// Facts this relies on (QEMU 7.2 as packaged by Debian bookworm):
// - q35 keeps guest RAM contiguous from 0 up to 2.75 GiB (above that, RAM continues past
//   4 GiB): with --mem <= 2816 MiB the raw file is the whole of RAM, offset = address.
// - `-cpu max,-la57` gives the guest 4-level paging, `-cpu max` 5-level (LA57) under TCG.
// - A TCG boot occasionally hangs: a deadline and a bounded number of retries.
// - KVM is used only when /dev/kvm exists and a guest boots with it within a deadline.
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EnvironmentError } from '../../errors.js';
import { QmpClient } from '../../qemu/qmp.js';
import type { LinuxToolchain } from './toolchain.js';

export const TRUTH_DONE = 'kcarve: truth done';

export interface BootSpec {
  tc: LinuxToolchain;
  initramfs: string;
  memMiB: number;
  paging: 4 | 5;
  kaslr: boolean;
  rawPath: string;
  elfPath: string;
  serialPath: string;
  /** Deadline from QEMU start to the truth marker, per attempt (ms). */
  deadlineMs?: number;
  /** TCG attempts (a hung boot is retried). */
  attempts?: number;
  log?: (line: string) => void;
}

export interface BootResult {
  serial: string;
  accel: 'tcg' | 'kvm';
  cpu: string;
  machine: string;
  cmdline: string;
  attempts: number;
  /** From QEMU start to the truth marker (ms). */
  bootMs: number;
  dumpMs: number;
}

/** The guest did not reach the truth marker in time: worth another attempt. */
export class GuestTimeoutError extends EnvironmentError {}

const MACHINE = 'q35';

export function kernelCmdline(kaslr: boolean): string {
  // quiet: a short boot log; the module's lines still reach the console because kcw
  // raises the console log level. panic=-1 + -no-reboot: a panic ends QEMU at once.
  return `console=ttyS0 quiet panic=-1 oops=panic${kaslr ? '' : ' nokaslr'}`;
}

function tail(text: string, lines = 30): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

interface Attempt {
  accel: 'tcg' | 'kvm';
  cpu: string;
  deadlineMs: number;
}

async function bootOnce(spec: BootSpec, attempt: Attempt): Promise<BootResult> {
  const log = spec.log ?? (() => {});
  const cmdline = kernelCmdline(spec.kaslr);
  // Unix socket paths are limited to 108 bytes: keep the socket in a short tmp dir.
  const sockDir = mkdtempSync(join(tmpdir(), 'kcq-'));
  const qmpPath = join(sockDir, 'qmp.sock');
  const args = [
    '-machine', `${MACHINE},accel=${attempt.accel}`,
    '-cpu', attempt.cpu,
    '-m', String(spec.memMiB),
    '-smp', '1',
    '-nodefaults', '-display', 'none', '-no-reboot',
    '-serial', 'stdio',
    '-kernel', spec.tc.vmlinuz,
    '-initrd', spec.initramfs,
    '-append', cmdline,
    '-qmp', `unix:${qmpPath},server=on,wait=off`,
  ];
  const started = Date.now();
  const child = spawn(spec.tc.qemu, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let serial = '';
  let stderr = '';
  let qmp: QmpClient | undefined;
  let exited = false;
  const saveSerial = () => writeFileSync(spec.serialPath, serial);

  try {
    const outcome = await new Promise<'done' | string>((resolve) => {
      const timer = setTimeout(() => resolve('timeout'), attempt.deadlineMs);
      const settle = (v: string) => {
        clearTimeout(timer);
        resolve(v);
      };
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (chunk: string) => {
        serial += chunk;
        if (serial.includes(TRUTH_DONE)) settle('done');
        else if (/Kernel panic|kcarve: error|kcw\[\d+\]: fatal/.test(serial)) settle('guest error');
      });
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (chunk: string) => {
        stderr += chunk;
      });
      child.on('error', (err) => settle(`cannot start ${spec.tc.qemu}: ${err.message}`));
      child.on('exit', (code, signal) => {
        exited = true;
        settle(`QEMU exited (${signal ?? `code ${code}`}) before the truth marker`);
      });
    });
    const bootMs = Date.now() - started;
    if (outcome !== 'done') {
      // Give the console a moment to flush the rest of a panic message.
      await new Promise((r) => setTimeout(r, outcome === 'guest error' ? 500 : 0));
      saveSerial();
      const detail = `${stderr.trim() ? `\nqemu stderr:\n${tail(stderr, 10)}` : ''}\nserial (${spec.serialPath}), last lines:\n${tail(serial)}`;
      if (outcome === 'timeout') {
        throw new GuestTimeoutError('qemu', `${attempt.accel} guest did not print "${TRUTH_DONE}" within ${attempt.deadlineMs / 1000} s${detail}`);
      }
      throw new EnvironmentError('qemu', `${outcome}${detail}`);
    }
    log(`guest truth complete after ${(bootMs / 1000).toFixed(1)} s (${attempt.accel}); dumping ${spec.memMiB} MiB`);

    const dumpStart = Date.now();
    qmp = await QmpClient.connect(qmpPath, { waitMs: 10_000, commandTimeoutMs: 300_000 });
    await qmp.execute('stop');
    await dumpStoppedGuest(qmp, spec.memMiB, spec.rawPath, spec.elfPath);
    await qmp.execute('quit').catch(() => undefined); // QEMU may close before answering
    const dumpMs = Date.now() - dumpStart;
    saveSerial();
    return { serial, accel: attempt.accel, cpu: attempt.cpu, machine: MACHINE, cmdline, attempts: 1, bootMs, dumpMs };
  } finally {
    qmp?.close();
    if (!exited) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await gone;
    }
    rmSync(sockDir, { recursive: true, force: true });
  }
}

/**
 * Dump a stopped guest's RAM raw (pmemsave from 0) and as an ELF core (dump-guest-memory,
 * paging=false); also used by the fuzzing evasion test (src/fuzz/evade.ts).
 */
export async function dumpStoppedGuest(qmp: QmpClient, memMiB: number, rawPath: string, elfPath: string): Promise<void> {
  const memBytes = memMiB * 1024 * 1024;
  const summary = await qmp.execute<{ 'base-memory': number }>('query-memory-size-summary');
  if (summary['base-memory'] !== memBytes) {
    throw new EnvironmentError('qemu', `guest RAM is ${summary['base-memory']} bytes, expected ${memBytes}`);
  }
  await qmp.execute('pmemsave', { val: 0, size: memBytes, filename: rawPath }, { timeoutMs: 300_000 });
  await qmp.execute('dump-guest-memory', { paging: false, protocol: `file:${elfPath}` }, { timeoutMs: 300_000 });
  // QEMU creates the core 0400; the images are data for the whole team.
  chmodSync(elfPath, 0o644);
  chmodSync(rawPath, 0o644);
}

/**
 * Set once KVM failed to boot a guest in this process: a manifest then does not pay the
 * KVM deadline for every image (on the machines this was written on, /dev/kvm exists
 * but KVM guests do not boot).
 */
let kvmFailed = false;

/** KVM boots this guest in about 2 s when it works at all. */
const KVM_DEADLINE_MS = 20_000;

/** Boot and dump, retrying a hung TCG boot; KVM first only when it is available. */
export async function bootAndDump(spec: BootSpec): Promise<BootResult> {
  const log = spec.log ?? (() => {});
  const tcgCpu = spec.paging === 5 ? 'max' : 'max,-la57';
  if (spec.tc.kvmDevice && !kvmFailed) {
    try {
      return await bootOnce(spec, { accel: 'kvm', cpu: spec.paging === 5 ? 'host' : 'host,-la57', deadlineMs: KVM_DEADLINE_MS });
    } catch (err) {
      kvmFailed = true;
      log(`KVM did not boot the guest (${(err as Error).message.split('\n')[0]}); using TCG from now on`);
    }
  }
  const attempts = spec.attempts ?? 3;
  for (let i = 1; ; i++) {
    try {
      const r = await bootOnce(spec, { accel: 'tcg', cpu: tcgCpu, deadlineMs: spec.deadlineMs ?? 120_000 });
      return { ...r, attempts: i };
    } catch (err) {
      if (!(err instanceof GuestTimeoutError) || i >= attempts) throw err;
      log(`attempt ${i} of ${attempts} timed out (TCG boot hang); retrying`);
    }
  }
}
