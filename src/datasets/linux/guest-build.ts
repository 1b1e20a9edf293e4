// Builds the guest side of a real Linux image: the truth module (against the headers of
// the kernel the guest boots), the static workload `kcw`, and the initramfs that holds
// them with busybox. Sources live in datasets/qemu-linux/; built artefacts are cached
// under datasets/build/guest/<release>-<source hash>/ because they do not depend on the
// image parameters.
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { EnvironmentError } from '../../errors.js';
import type { LinuxToolchain } from './toolchain.js';
import { writeCpio, type CpioEntry } from './cpio.js';

/** The repository root (this file is src/datasets/linux/ or dist/datasets/linux/). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const GUEST_SOURCE_DIR = join(REPO_ROOT, 'datasets', 'qemu-linux');
export const DEFAULT_BUILD_DIR = join(REPO_ROOT, 'datasets', 'build');

const SOURCES = ['module/kcarve_truth.c', 'module/Kbuild', 'workload/kcw.c', 'workload/kfz.c', 'init'];

export interface GuestArtifacts {
  module: string;
  kcw: string;
  /** The fuzzing campaigns' pid 1 (workload/kfz.c, src/fuzz/). */
  kfz: string;
  init: string;
  /** Hash of the guest sources (part of every image's cache key). */
  sourceHash: string;
}

export function guestSourceHash(): string {
  const h = createHash('sha256');
  for (const rel of SOURCES) {
    h.update(rel);
    h.update(readFileSync(join(GUEST_SOURCE_DIR, rel)));
  }
  return h.digest('hex').slice(0, 16);
}

function run(tool: string, cmd: string, args: string[], cwd: string): void {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.error) throw new EnvironmentError(tool, `cannot run ${cmd}: ${r.error.message}`);
  if (r.status !== 0) {
    const out = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-25).join('\n');
    throw new EnvironmentError(tool, `${cmd} ${args.join(' ')} failed (exit ${r.status}):\n${out}`);
  }
}

/** Build (or reuse) the module and the workload for this toolchain's kernel. */
export function buildGuestArtifacts(tc: LinuxToolchain, buildDir = DEFAULT_BUILD_DIR, log: (s: string) => void = () => {}): GuestArtifacts {
  const sourceHash = guestSourceHash();
  const dir = join(buildDir, 'guest', `${tc.kernelRelease}-${sourceHash}`);
  const art: GuestArtifacts = {
    module: join(dir, 'kcarve_truth.ko'),
    kcw: join(dir, 'kcw'),
    kfz: join(dir, 'kfz'),
    init: join(GUEST_SOURCE_DIR, 'init'),
    sourceHash,
  };
  if (existsSync(art.module) && existsSync(art.kcw) && existsSync(art.kfz)) return art;

  log(`building the truth module against ${tc.headersBuildDir} and the static workload`);
  mkdirSync(buildDir, { recursive: true });
  // Kbuild writes its objects next to the sources: build in a scratch copy.
  const work = mkdtempSync(join(tmpdir(), 'kcarve-guest-'));
  try {
    for (const f of ['kcarve_truth.c', 'Kbuild']) copyFileSync(join(GUEST_SOURCE_DIR, 'module', f), join(work, f));
    run('make', tc.make, ['-C', tc.headersBuildDir, `M=${work}`, 'modules'], work);
    run('gcc', tc.gcc, ['-static', '-O2', '-s', '-Wall', '-pthread', '-o', join(work, 'kcw'), join(GUEST_SOURCE_DIR, 'workload', 'kcw.c')], work);
    run('gcc', tc.gcc, ['-static', '-O2', '-s', '-Wall', '-o', join(work, 'kfz'), join(GUEST_SOURCE_DIR, 'workload', 'kfz.c')], work);
    // Publish atomically: a concurrent build of the same key either wins or loses whole.
    const staging = `${dir}.tmp-${process.pid}`;
    mkdirSync(staging, { recursive: true });
    copyFileSync(join(work, 'kcarve_truth.ko'), join(staging, 'kcarve_truth.ko'));
    copyFileSync(join(work, 'kcw'), join(staging, 'kcw'));
    copyFileSync(join(work, 'kfz'), join(staging, 'kfz'));
    rmSync(dir, { recursive: true, force: true });
    renameSync(staging, dir);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return art;
}

/** The initramfs: busybox, /init, kcw, the module and the workload configuration. */
export function buildInitramfs(tc: LinuxToolchain, art: GuestArtifacts, config: string, outPath: string): void {
  const entries: CpioEntry[] = [
    { kind: 'dir', path: 'bin' },
    { kind: 'dir', path: 'dev' },
    { kind: 'dir', path: 'etc' },
    { kind: 'dir', path: 'lib' },
    { kind: 'dir', path: 'proc' },
    { kind: 'dir', path: 'sys' },
    // The kernel opens /dev/console for init before anything is mounted.
    { kind: 'chardev', path: 'dev/console', major: 5, minor: 1 },
    { kind: 'file', path: 'bin/busybox', data: readFileSync(tc.busybox), mode: 0o755 },
    { kind: 'symlink', path: 'bin/sh', target: 'busybox' },
    { kind: 'file', path: 'bin/kcw', data: readFileSync(art.kcw), mode: 0o755 },
    { kind: 'file', path: 'lib/kcarve_truth.ko', data: readFileSync(art.module) },
    { kind: 'file', path: 'etc/kcarve.conf', data: Buffer.from(config, 'utf8') },
    { kind: 'file', path: 'init', data: readFileSync(art.init), mode: 0o755 },
  ];
  writeFileSync(outPath, writeCpio(entries));
}

/**
 * The initramfs of the fuzzing guest: kfz is /init itself (pid 1, no shell), with the
 * truth module beside it. No configuration: kfz takes its commands on the console.
 */
export function buildFuzzInitramfs(art: GuestArtifacts, outPath: string): void {
  const entries: CpioEntry[] = [
    { kind: 'dir', path: 'dev' },
    { kind: 'dir', path: 'lib' },
    { kind: 'dir', path: 'proc' },
    { kind: 'chardev', path: 'dev/console', major: 5, minor: 1 },
    { kind: 'file', path: 'lib/kcarve_truth.ko', data: readFileSync(art.module) },
    { kind: 'file', path: 'init', data: readFileSync(art.kfz), mode: 0o755 },
  ];
  writeFileSync(outPath, writeCpio(entries));
}

/** Path of the module inside the guest (referenced by the workload configuration). */
export const GUEST_MODULE_PATH = '/lib/kcarve_truth.ko';
