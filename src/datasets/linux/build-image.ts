// Builds one real Linux image: guest artefacts, initramfs, QEMU boot and dump, truth.json,
// validation. The output directory holds memory.raw, memory.elf, truth.json, serial.log,
// initramfs.cpio and guest.conf (the workload the seed chose).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { EnvironmentError, TruthError, UsageError } from '../../errors.js';
import { KCARVE_VERSION } from '../../version.js';
import { IMAGE_BTF_FILE, writeBootedKernelBtf } from './kernel-btf.js';
import { buildGuestArtifacts, buildInitramfs, DEFAULT_BUILD_DIR, GUEST_MODULE_PATH, guestSourceHash } from './guest-build.js';
import { guestConfig, planWorkload, resolveLinuxParams, type LinuxImageParams, type WorkloadPlan } from './plan.js';
import { findLinuxToolchain } from './toolchain.js';
import { bootAndDump } from './qemu-boot.js';
import { parseSerialTruth, type SerialTruth } from './serial-truth.js';
import { buildLinuxTruth, type LinuxTruth } from './truth.js';
import { openElfCoreImage, openRawImage } from './phys-image.js';
import { validateLinuxTruth, type ValidationReport } from './validate.js';

export interface BuildLinuxImageOptions extends Partial<LinuxImageParams> {
  /** Output directory (created). */
  out: string;
  compress?: 'zstd' | undefined;
  /** Where guest artefacts are cached (default datasets/build). */
  buildDir?: string;
  /** Rebuild even when `out` already holds an image of the same parameters. */
  force?: boolean;
  deadlineMs?: number;
  attempts?: number;
  log?: (line: string) => void;
}

export interface BuiltLinuxImage {
  dir: string;
  truthPath: string;
  truth: LinuxTruth;
  reports: ValidationReport[];
  /** True when an earlier build was reused. */
  reused: boolean;
  timings: { totalMs: number; bootMs: number; dumpMs: number; attempts: number };
  bytes: number;
}

/** Identifies an image by what determines it: parameters, kernel, guest sources, truth format. */
export function imageCacheKey(params: LinuxImageParams, kernelRelease: string, sourceHash: string): string {
  const h = createHash('sha256');
  // `btf`: images carry their kernel's BTF (./kernel-btf.ts); older caches lack it.
  h.update(JSON.stringify({ params, kernelRelease, sourceHash, format: 'kcarve-truth/1', btf: IMAGE_BTF_FILE }));
  return h.digest('hex').slice(0, 16);
}

/** The workload must be in the truth exactly as planned: names, statuses, threads. */
export function checkPlanAgainstTruth(plan: WorkloadPlan, serial: SerialTruth, source: string): void {
  const byComm = new Map<string, SerialTruth['tasks']>();
  for (const t of serial.tasks) byComm.set(t.comm, [...(byComm.get(t.comm) ?? []), t]);
  const expect = (name: string, status: string, leader: boolean) => {
    const found = byComm.get(name) ?? [];
    if (found.length !== 1) throw new TruthError(source, name, `the workload task ${name} appears ${found.length} times in the truth (expected once)`);
    const t = found[0]!;
    if (t.status !== status || t.leader !== leader) {
      throw new TruthError(source, name, `the workload task ${name} is ${t.status}${t.leader ? ' leader' : ' thread'}, planned ${status}${leader ? ' leader' : ' thread'}`);
    }
  };
  for (const p of plan.procs) {
    expect(p.name, p.hidden ? 'hidden' : 'live', true);
    for (const t of p.threads) expect(t, p.hidden ? 'hidden' : 'live', false);
  }
  for (const e of plan.exited) {
    expect(e.name, 'exited', true);
    for (const t of e.threads) expect(t, 'exited', false);
  }
}

/** Default page_offset_base without KASLR (Documentation/x86/x86_64/mm.rst). */
const DIRECT_MAP_NO_KASLR: Record<number, bigint> = { 4: 0xffff888000000000n, 5: 0xff11000000000000n };

/** Open both images of a built directory and validate its truth.json against each. */
export function validateLinuxImageDir(dir: string): ValidationReport[] {
  const truthPath = join(dir, 'truth.json');
  let truth: LinuxTruth;
  try {
    truth = JSON.parse(readFileSync(truthPath, 'utf8')) as LinuxTruth;
  } catch (err) {
    throw new TruthError(truthPath, '', `cannot read: ${(err as Error).message}`);
  }
  if (truth.image?.compression) {
    throw new UsageError(`${dir}: the images are compressed (${truth.image.compression}); decompress them to validate`);
  }
  const reports: ValidationReport[] = [];
  const opened: [string | undefined, typeof openRawImage][] = [
    [truth.image?.raw, openRawImage],
    [truth.image?.elf, openElfCoreImage],
  ];
  for (const [name, open] of opened) {
    if (!name) continue;
    const img = open(join(dir, name));
    try {
      reports.push(validateLinuxTruth(truth, truthPath, img));
    } finally {
      img.close();
    }
  }
  if (reports.length === 0) throw new TruthError(truthPath, 'image', 'names no image file');
  return reports;
}

function dirBytes(dir: string, names: string[]): number {
  return names.reduce((n, f) => n + (existsSync(join(dir, f)) ? statSync(join(dir, f)).size : 0), 0);
}

/** Build one image into `options.out` and return where it is, its truth and its checks. */
export async function buildLinuxImage(options: BuildLinuxImageOptions): Promise<BuiltLinuxImage> {
  const started = Date.now();
  const log = options.log ?? (() => {});
  const { out, compress, buildDir, force, deadlineMs, attempts, log: _log, ...given } = options;
  const params = resolveLinuxParams(given);
  if (compress !== undefined && compress !== 'zstd') throw new UsageError(`--compress must be zstd (got ${JSON.stringify(compress)})`);
  const tc = findLinuxToolchain({ needZstd: compress === 'zstd' });
  const dir = resolve(out);
  const truthPath = join(dir, 'truth.json');
  const key = imageCacheKey(params, tc.kernelRelease, guestSourceHash());

  if (!force && existsSync(truthPath)) {
    try {
      const old = JSON.parse(readFileSync(truthPath, 'utf8')) as LinuxTruth & { build: { cache_key?: string } };
      const files = [old.image.raw, old.image.elf].filter((f): f is string => !!f);
      if (old.build?.cache_key === key && files.every((f) => existsSync(join(dir, f)))) {
        log(`reusing ${dir} (same parameters, kernel ${tc.kernelRelease} and guest sources)`);
        return {
          dir, truthPath, truth: old, reports: [], reused: true,
          timings: { totalMs: Date.now() - started, bootMs: 0, dumpMs: 0, attempts: 0 },
          bytes: dirBytes(dir, files),
        };
      }
    } catch {
      // unreadable: rebuild
    }
  }

  mkdirSync(dir, { recursive: true });
  for (const f of ['truth.json', 'memory.raw', 'memory.elf', 'memory.raw.zst', 'memory.elf.zst']) rmSync(join(dir, f), { force: true });
  const art = buildGuestArtifacts(tc, buildDir ?? DEFAULT_BUILD_DIR, log);
  const plan = planWorkload(params);
  const config = guestConfig(plan, GUEST_MODULE_PATH);
  writeFileSync(join(dir, 'guest.conf'), config);
  const initramfs = join(dir, 'initramfs.cpio');
  buildInitramfs(tc, art, config, initramfs);
  log(`booting ${tc.vmlinuz} (${tc.kernelRelease}) with ${params.memMiB} MiB, ${params.paging}-level paging, KASLR ${params.kaslr ? 'on' : 'off'}, seed ${params.seed}`);

  const boot = await bootAndDump({
    tc, initramfs, memMiB: params.memMiB, paging: params.paging, kaslr: params.kaslr,
    rawPath: join(dir, 'memory.raw'), elfPath: join(dir, 'memory.elf'), serialPath: join(dir, 'serial.log'),
    deadlineMs, attempts, log,
  });
  const serialPath = join(dir, 'serial.log');
  const serial = parseSerialTruth(boot.serial, serialPath);
  if (serial.pagingLevels !== params.paging) {
    throw new EnvironmentError('qemu', `asked for ${params.paging}-level paging, the guest runs ${serial.pagingLevels}-level (cpu ${boot.cpu})`);
  }
  if (!params.kaslr && serial.layout['page_offset_base'] !== DIRECT_MAP_NO_KASLR[params.paging]) {
    throw new TruthError(serialPath, 'page_offset_base', `KASLR is off but the direct map starts at 0x${serial.layout['page_offset_base']!.toString(16)}`);
  }
  checkPlanAgainstTruth(plan, serial, serialPath);

  const raw = openRawImage(join(dir, 'memory.raw'));
  let truth: LinuxTruth;
  try {
    truth = buildLinuxTruth(
      {
        serial, params, image: { raw: 'memory.raw', elf: 'memory.elf' }, vmlinuz: tc.vmlinuz, cmdline: boot.cmdline,
        kcarveVersion: KCARVE_VERSION, guestSourceHash: art.sourceHash,
        qemu: { binary: tc.qemu, accel: boot.accel, cpu: boot.cpu, machine: boot.machine },
        memBytes: params.memMiB * 1024 * 1024,
      },
      raw,
    );
  } finally {
    raw.close();
  }
  truth.kernel.btf = { file: writeBootedKernelBtf(tc.vmlinuz, tc.kernelRelease, buildDir ?? DEFAULT_BUILD_DIR, dir, log) };
  (truth.build as LinuxTruth['build'] & { cache_key: string }).cache_key = key;
  writeFileSync(truthPath, `${JSON.stringify(truth, null, 2)}\n`);
  const reports = validateLinuxImageDir(dir);
  const r = reports[0]!;
  log(`validated raw and ELF: ${r.live} live, ${r.hidden} hidden, ${r.exited} exited (${r.exitedIntact} with intact residue), list walk ${r.walkLength}`);

  if (compress === 'zstd') {
    for (const f of ['memory.raw', 'memory.elf']) {
      const z = spawnSync(tc.zstd!, ['-q', '-f', '--rm', '-T0', f], { cwd: dir, encoding: 'utf8' });
      if (z.status !== 0) throw new EnvironmentError('zstd', `compressing ${f} failed: ${z.stderr}`);
    }
    truth.image = { raw: 'memory.raw.zst', elf: 'memory.elf.zst', compression: 'zstd' };
    writeFileSync(truthPath, `${JSON.stringify(truth, null, 2)}\n`);
  }
  const files = [truth.image.raw!, truth.image.elf!];
  return {
    dir, truthPath, truth, reports, reused: false,
    timings: { totalMs: Date.now() - started, bootMs: boot.bootMs, dumpMs: boot.dumpMs, attempts: boot.attempts },
    bytes: dirBytes(dir, files),
  };
}

/**
 * A built image of these parameters, cached under <buildDir>/images/ keyed by the
 * parameters, the kernel release and the guest sources: tests in one CI run share it.
 */
export async function cachedLinuxImage(
  params: Partial<LinuxImageParams>,
  options: { buildDir?: string; log?: (line: string) => void } = {},
): Promise<BuiltLinuxImage> {
  const resolved = resolveLinuxParams(params);
  const tc = findLinuxToolchain();
  const buildDir = options.buildDir ?? DEFAULT_BUILD_DIR;
  const key = imageCacheKey(resolved, tc.kernelRelease, guestSourceHash());
  const out = join(buildDir, 'images', `linux-${tc.kernelRelease}-${key}`);
  const release = await acquireLock(`${out}.lock`);
  try {
    return await buildLinuxImage({ ...resolved, out, buildDir, log: options.log });
  } finally {
    release();
  }
}

/**
 * A directory lock (mkdir is atomic) so that test files running in parallel build a
 * shared image once. A lock whose owner process is gone is taken over.
 */
async function acquireLock(lockDir: string): Promise<() => void> {
  mkdirSync(join(lockDir, '..'), { recursive: true });
  for (;;) {
    try {
      mkdirSync(lockDir);
      writeFileSync(join(lockDir, 'pid'), String(process.pid));
      return () => rmSync(lockDir, { recursive: true, force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let owner = NaN;
    try {
      owner = Number(readFileSync(join(lockDir, 'pid'), 'utf8'));
    } catch {
      // being created or removed right now
    }
    if (Number.isInteger(owner) && owner > 0 && !processAlive(owner)) rmSync(lockDir, { recursive: true, force: true });
    await new Promise((r) => setTimeout(r, 250));
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0); // signal 0: existence check only
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
