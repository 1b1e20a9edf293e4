// One fuzzing guest: Debian's kernel under QEMU/TCG with the kfz initramfs
// (datasets/qemu-linux/workload/kfz.c), QMP on a unix socket, the gdbstub on a free
// loopback port, and a small qcow2 attached only as `-drive if=none` so that `savevm`
// has somewhere to write. Booted once; snapshotted once at "kfz: ready"; every trial
// starts from `loadvm`.
//
// Facts this relies on (QEMU 7.2 under TCG, issue 8): `savevm` takes 0.2–0.5 s and
// `loadvm` 0.13–0.18 s; the guest's clock rolls back with the snapshot when it has two
// vCPUs (with one it does not, and outcomes differ); `-no-reboot` must not be given,
// because a panic would end QEMU, while the RESET event after a panic (panic=-1 reboots
// at once) is the fastest crash signal and `loadvm` recovers from it.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { phys, type PhysAddr } from '../addr.js';
import { EnvironmentError } from '../errors.js';
import { GdbRemoteClient } from '../qemu/gdb-remote.js';
import { QmpClient, type QmpEvent } from '../qemu/qmp.js';
import { VmControl } from '../qemu/vm-control.js';
import { findExecutable } from '../datasets/linux/toolchain.js';

export const SNAPSHOT_TAG = 'kfz';
export const READY_MARK = 'kfz: ready';

/** A task the guest module located (`kcarve: where …`). */
export interface GuestTask {
  pid: number;
  tgid: number;
  va: bigint;
  pa: PhysAddr;
  comm: string;
}

export interface GuestInfo {
  target: GuestTask;
  watchdog: GuestTask;
  /** Other tasks of the same class, donors of plausible-but-wrong pointers: pid 1, kthreadd, init_task. */
  donors: GuestTask[];
  /** sizeof(struct task_struct) and the slab object size (arch_task_struct_size). */
  taskStructSize: number;
  taskStructAlloc: number;
  bootMs: number;
}

export interface GuestSpec {
  qemu: string;
  vmlinuz: string;
  initramfs: string;
  memMiB?: number;
  /** From QEMU start to "kfz: ready", ms. */
  bootDeadlineMs?: number;
  /** Names this guest in logs and trial records. */
  index?: number;
  log?: (line: string) => void;
}

/** The kernel command line of the fuzzing guest: panics reboot at once (a RESET event). */
export const FUZZ_CMDLINE = 'console=ttyS0 quiet panic=-1 oops=panic';

const WHERE_RE = /kcarve: where pid=(\d+) tgid=(\d+) va=0x([0-9a-f]+) pa=0x([0-9a-f]+) size=(\d+) alloc=(\d+) comm=([0-9a-f]{32})/g;

/** The `where` lines and the ready line of a boot log. */
export function parseReady(serial: string): GuestInfo | undefined {
  const ready = /kfz: ready target=(\d+) watchdog=(\d+)/.exec(serial);
  if (!ready) return undefined;
  const tasks = new Map<number, GuestTask & { size: number; alloc: number }>();
  for (const m of serial.matchAll(WHERE_RE)) {
    const commBytes = Buffer.from(m[7]!, 'hex');
    const nul = commBytes.indexOf(0);
    tasks.set(Number(m[1]), {
      pid: Number(m[1]), tgid: Number(m[2]), va: BigInt(`0x${m[3]}`), pa: phys(BigInt(`0x${m[4]}`)),
      comm: commBytes.subarray(0, nul < 0 ? 16 : nul).toString('latin1'), size: Number(m[5]), alloc: Number(m[6]),
    });
  }
  const target = tasks.get(Number(ready[1]));
  const watchdog = tasks.get(Number(ready[2]));
  if (!target || !watchdog) return undefined;
  const donors = [1, 2, 0].map((p) => tasks.get(p)).filter((t): t is NonNullable<typeof t> => t !== undefined);
  return { target, watchdog, donors, taskStructSize: target.size, taskStructAlloc: target.alloc || target.size, bootMs: 0 };
}

/** A free TCP port on loopback (closed again at once; QEMU binds it right after). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export class FuzzGuest {
  serial = '';
  readonly events: { event: QmpEvent; at: number }[] = [];
  private serialListeners = new Set<() => void>();
  private exited: string | undefined;
  info!: GuestInfo;
  /** The target's task_struct (slab object bytes) as in the snapshot: every trial's "before". */
  snapshotTask: Buffer = Buffer.alloc(0);
  /** The watchdog's, pid 1's, kthreadd's and init_task's, for plausible-but-wrong pointers. */
  snapshotDonors: Buffer[] = [];
  index = 0;
  readonly vm: VmControl;

  private constructor(
    private readonly child: ChildProcess,
    readonly qmp: QmpClient,
    readonly gdb: GdbRemoteClient,
    private readonly dir: string,
    readonly gdbPort: number,
  ) {
    this.vm = new VmControl(qmp, gdb);
    qmp.onEvent((e) => {
      this.events.push({ event: e, at: Date.now() });
      for (const l of [...this.serialListeners]) l();
    });
  }

  /** Boot, wait for "kfz: ready", stop, connect the gdbstub and take the snapshot. */
  static async start(spec: GuestSpec): Promise<FuzzGuest> {
    const log = spec.log ?? (() => {});
    const qemuImg = findExecutable('qemu-img');
    if (!qemuImg) throw new EnvironmentError('qemu-img', 'not found on PATH (creates the qcow2 that holds the snapshot)', 'apt-get install -y qemu-utils');
    const dir = mkdtempSync(join(tmpdir(), 'kfz-'));
    const disk = join(dir, 'snap.qcow2');
    const mk = spawnSync(qemuImg, ['create', '-q', '-f', 'qcow2', disk, '64M'], { encoding: 'utf8' });
    if (mk.status !== 0) throw new EnvironmentError('qemu-img', `create ${disk} failed: ${mk.stderr}`);
    const qmpPath = join(dir, 'qmp.sock');
    const gdbPort = await freePort();
    const args = [
      '-machine', 'q35,accel=tcg', '-cpu', 'max,-la57', '-smp', '2', '-m', String(spec.memMiB ?? 256),
      '-nodefaults', '-display', 'none', '-serial', 'stdio',
      '-kernel', spec.vmlinuz, '-initrd', spec.initramfs, '-append', FUZZ_CMDLINE,
      '-qmp', `unix:${qmpPath},server=on,wait=off`,
      '-gdb', `tcp:127.0.0.1:${gdbPort}`,
      '-drive', `if=none,id=kfzsnap,format=qcow2,file=${disk}`,
    ];
    const started = Date.now();
    const child = spawn(spec.qemu, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    let serial = '';
    let exitedEarly: string | undefined;
    child.stdout!.setEncoding('latin1');
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => (stderr += d));
    const onEarly = (d: string) => (serial += d);
    child.stdout!.on('data', onEarly);
    child.on('exit', (code, sig) => (exitedEarly = `QEMU exited (${sig ?? `code ${code}`})`));
    const fail = (why: string): never => {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      throw new EnvironmentError('qemu', `fuzz guest: ${why}${stderr ? `\nqemu stderr: ${stderr.trim().slice(-500)}` : ''}\nserial, last lines:\n${serial.trimEnd().split('\n').slice(-15).join('\n')}`);
    };
    const deadline = started + (spec.bootDeadlineMs ?? 120_000);
    let info: GuestInfo | undefined;
    while (!(info = parseReady(serial))) {
      if (exitedEarly) fail(exitedEarly);
      if (/Kernel panic|kfz: fatal/.test(serial)) fail('the guest failed to boot');
      if (Date.now() > deadline) fail(`no "${READY_MARK}" within ${(spec.bootDeadlineMs ?? 120_000) / 1000} s`);
      await new Promise((r) => setTimeout(r, 50));
    }
    info.bootMs = Date.now() - started;
    let qmp: QmpClient | undefined;
    let gdb: GdbRemoteClient | undefined;
    try {
      qmp = await QmpClient.connect(qmpPath, { waitMs: 5000, commandTimeoutMs: 30_000 });
      // Let a heartbeat or two pass so that the snapshot has every process asleep.
      await new Promise((r) => setTimeout(r, 500));
      await qmp.execute('stop');
      gdb = await GdbRemoteClient.connect('127.0.0.1', gdbPort, { waitMs: 5000, timeoutMs: 10_000 });
      await gdb.drainStopReplies(200);
      await gdb.setPhysicalMode(true);
      const guest = new FuzzGuest(child, qmp, gdb, dir, gdbPort);
      child.stdout!.off('data', onEarly);
      guest.serial = serial;
      child.stdout!.on('data', (d: string) => guest.onSerial(d));
      child.on('exit', (code, sig) => {
        guest.exited = `QEMU exited (${sig ?? `code ${code}`})`;
        guest.notify();
      });
      guest.info = info;
      guest.index = spec.index ?? 0;
      await guest.vm.savevm(SNAPSHOT_TAG);
      guest.snapshotTask = await gdb.readPhys(info.target.pa, info.taskStructAlloc);
      for (const d of [info.watchdog, ...info.donors]) guest.snapshotDonors.push(await gdb.readPhys(d.pa, info.taskStructAlloc));
      log(`guest ${spec.index ?? 0} up in ${(info.bootMs / 1000).toFixed(1)} s (gdbstub 127.0.0.1:${gdbPort}); target pid ${info.target.pid} task_struct at pa 0x${info.target.pa.toString(16)}`);
      return guest;
    } catch (err) {
      qmp?.close();
      gdb?.close();
      return fail((err as Error).message);
    }
  }

  get alive(): boolean {
    return this.exited === undefined && !this.qmp.closed && !this.gdb.closed;
  }

  /** Stop the VM and swallow the gdbstub's stop reply. */
  stop(): Promise<void> {
    return this.vm.stop();
  }

  cont(): Promise<void> {
    return this.vm.cont();
  }

  /** Back to the snapshot (VM stopped); the serial and event logs start afresh. */
  async restore(): Promise<void> {
    await this.vm.restore(SNAPSHOT_TAG);
    this.serial = '';
    this.events.length = 0;
    this.heartbeats.length = 0;
    this.partialLine = '';
  }

  /** A line on the guest's console (kfz reads its commands there). */
  send(line: string): void {
    this.child.stdin!.write(`${line}\n`);
  }

  readPhys(pa: PhysAddr, length: number): Promise<Buffer> {
    return this.gdb.readPhys(pa, length);
  }

  writePhys(pa: PhysAddr, data: Uint8Array): Promise<void> {
    return this.gdb.writePhys(pa, data);
  }

  /** Wait until `done()` is true, checking at each serial chunk, event, or 50 ms tick; false on timeout. */
  async waitFor(done: () => boolean, ms: number): Promise<boolean> {
    if (done()) return true;
    return new Promise<boolean>((resolve) => {
      const check = () => {
        if (done()) finish(true);
        else if (this.exited) finish(false);
      };
      const tick = setInterval(check, 50);
      const timer = setTimeout(() => finish(done()), ms);
      const finish = (v: boolean) => {
        clearInterval(tick);
        clearTimeout(timer);
        this.serialListeners.delete(check);
        resolve(v);
      };
      this.serialListeners.add(check);
    });
  }

  /** Host time of each watchdog heartbeat seen since the last restore. */
  readonly heartbeats: number[] = [];

  /** The console's last, unfinished line. */
  private partialLine = '';

  private onSerial(d: string): void {
    const now = Date.now();
    this.serial += d;
    const text = this.partialLine + d;
    const lines = text.split('\n');
    this.partialLine = lines.pop()!;
    for (const line of lines) if (/kfz: hb \d+\r?$/.test(line)) this.heartbeats.push(now);
    this.notify();
  }

  private notify(): void {
    for (const l of [...this.serialListeners]) l();
  }

  get exitReason(): string | undefined {
    return this.exited;
  }

  async shutdown(): Promise<void> {
    this.gdb.close();
    await this.qmp.execute('quit', undefined, { timeoutMs: 2000 }).catch(() => undefined);
    this.qmp.close();
    if (this.exited === undefined) {
      const gone = new Promise((r) => this.child.once('exit', r));
      this.child.kill('SIGKILL');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 2000))]);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
