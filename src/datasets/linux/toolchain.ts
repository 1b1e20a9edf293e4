// Finds what a real Linux image build needs on the host, or names the exact
// `apt-get install` line that brings the missing piece (all Debian packages; .ci/system-deps
// installs them).
//
// The kernel release comes from the installed linux-image-amd64 meta-package (it depends
// on exactly one linux-image-<release>), not from the host's `uname -r`: the host kernel
// is whatever the machine runs, the guest kernel is Debian's, and the module must be built
// against the headers of the guest kernel.
import { accessSync, closeSync, constants, existsSync, openSync, readSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { delimiter, join } from 'node:path';
import { EnvironmentError } from '../../errors.js';

export interface LinuxToolchain {
  qemu: string;
  /** e.g. "6.1.0-57-amd64" */
  kernelRelease: string;
  vmlinuz: string;
  /** Kbuild directory of the matching headers (/lib/modules/<release>/build). */
  headersBuildDir: string;
  busybox: string;
  gcc: string;
  make: string;
  /** Optional: only needed for --compress zstd. */
  zstd: string | undefined;
  /** /dev/kvm exists (KVM is still only used if a guest boots with it in time). */
  kvmDevice: boolean;
}

const APT = 'apt-get install -y';

/** An executable on PATH, or undefined. */
export function findExecutable(name: string, pathVar = process.env['PATH'] ?? ''): string | undefined {
  for (const dir of pathVar.split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

function requireExecutable(name: string, pkg: string, why: string): string {
  const found = findExecutable(name);
  if (!found) throw new EnvironmentError(name, `not found on PATH (${why})`, `${APT} ${pkg}`);
  return found;
}

/**
 * The release of the kernel that linux-image-amd64 points at, from dpkg. Falls back to
 * the single /boot/vmlinuz-* when dpkg knows no meta-package (a hand-installed kernel).
 */
export function installedKernelRelease(): string {
  let depends = '';
  try {
    depends = execFileSync('dpkg-query', ['-W', '-f=${Status}|${Depends}', 'linux-image-amd64'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
  } catch {
    depends = '';
  }
  const [status, deps] = depends.split('|');
  if (status?.includes('install ok installed')) {
    const m = /linux-image-(\d[^\s,(]*)/.exec(deps ?? '');
    if (m?.[1]) return m[1];
  }
  throw new EnvironmentError(
    'linux-image-amd64',
    'the Debian kernel package is not installed (the guest boots Debian\'s kernel)',
    `${APT} linux-image-amd64 linux-headers-amd64`,
  );
}

/** Everything `kcarve dataset linux` needs; throws EnvironmentError naming the fix. */
export function findLinuxToolchain(options: { needZstd?: boolean } = {}): LinuxToolchain {
  const qemu = requireExecutable('qemu-system-x86_64', 'qemu-system-x86', 'boots the guest');
  const kernelRelease = installedKernelRelease();
  const vmlinuz = `/boot/vmlinuz-${kernelRelease}`;
  if (!existsSync(vmlinuz)) {
    throw new EnvironmentError('linux-image-amd64', `${vmlinuz} is missing`, `${APT} --reinstall linux-image-${kernelRelease}`);
  }
  const headersBuildDir = `/lib/modules/${kernelRelease}/build`;
  if (!existsSync(join(headersBuildDir, 'Makefile'))) {
    throw new EnvironmentError(
      'linux-headers',
      `no headers for the guest kernel ${kernelRelease} (${headersBuildDir}); the truth module is built against them`,
      `${APT} linux-headers-${kernelRelease}`,
    );
  }
  const busybox = existsSync('/bin/busybox') ? '/bin/busybox' : requireExecutable('busybox', 'busybox-static', 'the guest shell');
  if (!isStaticElf(busybox)) {
    throw new EnvironmentError('busybox', `${busybox} is dynamically linked; the initramfs has no C library`, `${APT} busybox-static`);
  }
  const gcc = requireExecutable('gcc', 'gcc', 'builds the guest workload and the truth module');
  const make = requireExecutable('make', 'make', 'builds the truth module');
  const zstd = findExecutable('zstd');
  if (options.needZstd && !zstd) throw new EnvironmentError('zstd', 'not found on PATH (--compress zstd)', `${APT} zstd`);
  return { qemu, kernelRelease, vmlinuz, headersBuildDir, busybox, gcc, make, zstd, kvmDevice: existsSync('/dev/kvm') };
}

/**
 * An ELF64 file without a PT_INTERP program header is statically linked (ELF gABI:
 * e_phoff at 0x20, e_phentsize at 0x36, e_phnum at 0x38; PT_INTERP = 3).
 */
export function isStaticElf(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(64);
    if (readSync(fd, head, 0, 64, 0) < 64 || head.readUInt32BE(0) !== 0x7f454c46 || head[4] !== 2) return false;
    const phoff = Number(head.readBigUInt64LE(0x20));
    const phentsize = head.readUInt16LE(0x36);
    const phnum = head.readUInt16LE(0x38);
    if (phentsize < 4 || phnum > 256) return false;
    const table = Buffer.alloc(phentsize * phnum);
    if (readSync(fd, table, 0, table.length, phoff) < table.length) return false;
    for (let i = 0; i < phnum; i++) if (table.readUInt32LE(i * phentsize) === 3) return false;
    return true;
  } finally {
    closeSync(fd);
  }
}
