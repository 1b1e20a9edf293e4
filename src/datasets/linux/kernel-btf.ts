// The BTF of the kernel an image was booted with, stored beside its truth.json
// (`kernel.btf`), so every layout question about a real image is answered by that
// kernel's own type information. Debian may publish a newer kernel than the BTF
// kcarve ships (signatures/btf/): the image's own BTF is the one that matches it.
// Extracting it means decompressing the bzImage (~7 s), so it is cached per kernel
// file under the build directory.
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { extractKernelBtf } from '../../types/kernel-image.js';

/** File name of the BTF in an image directory. */
export const IMAGE_BTF_FILE = 'vmlinux.btf.gz';

/** The cached BTF (gzip) of `vmlinuz`, extracted on first use. */
export function kernelBtfPath(vmlinuz: string, release: string, buildDir: string, log: (line: string) => void = () => {}): string {
  const st = statSync(vmlinuz);
  // The kernel file's size and mtime tell a reinstalled or updated kernel apart.
  const cached = join(buildDir, 'btf', `${release}-${st.size}-${Math.floor(st.mtimeMs)}.btf.gz`);
  if (!existsSync(cached)) {
    log(`extracting the BTF of ${vmlinuz}`);
    const { btf } = extractKernelBtf(readFileSync(vmlinuz), vmlinuz);
    mkdirSync(join(buildDir, 'btf'), { recursive: true });
    const tmp = `${cached}.${process.pid}.tmp`;
    writeFileSync(tmp, gzipSync(btf));
    renameSync(tmp, cached);
  }
  return cached;
}

/** Copy the BTF of `vmlinuz` into `dir`; returns its file name there. */
export function writeBootedKernelBtf(vmlinuz: string, release: string, buildDir: string, dir: string, log: (line: string) => void): string {
  copyFileSync(kernelBtfPath(vmlinuz, release, buildDir, log), join(dir, IMAGE_BTF_FILE));
  return IMAGE_BTF_FILE;
}
