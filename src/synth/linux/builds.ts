// Kernel builds a Linux world can imitate, with the facts that are not in BTF: they were
// measured on the real Debian 6.1.0-57 guests of the datasets builder
// (datasets/build/train/*/truth.json + memory.raw, kcarve dataset linux, QEMU q35 TCG).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { shippedKernelBtfPath } from '../../types/load.js';

export interface LinuxBuild {
  readonly name: string;
  /** utsname release. */
  readonly release: string;
  /** The BTF file describing every structure (loadLayout accepts it). */
  readonly btfPath: string;
  /** File name recorded in truth.kernel.btf. */
  readonly btfFile: string;
  /** The task-profile JSON measured from real images of this build (task-profile.ts). */
  readonly profilePath: string;
  /**
   * arch_task_struct_size: bytes of a task_struct slab object. x86 sizes the FPU state at
   * boot (CONFIG_ARCH_WANTS_DYNAMIC_TASK_STRUCT), so it is below sizeof (9792 here):
   * 8392 on the QEMU "max" CPU the datasets use (truth.json offsets.task_struct.alloc_size).
   */
  readonly taskAllocSize: number;
  /**
   * Cache alignment of the task_struct cache: fork_init creates it with
   * align = max(L1_CACHE_BYTES, ARCH_MIN_TASKALIGN) = 64 on x86-64 (kernel/fork.c), so slots
   * are 8448 bytes apart — measured: task pas at 0x…0000, 0x…2100, 0x…4200.
   */
  readonly taskAlign: number;
  /** Slab order of the task_struct cache: order 3 (32 KiB, 3 objects), measured. */
  readonly taskSlabOrder: number;
  /**
   * Offsets from _text in the kernel image (train-04, no KASLR: _text =
   * 0xffffffff81000000 = __START_KERNEL_map + CONFIG_PHYSICAL_START 16 MiB; the same
   * distances hold in every KASLR image).
   */
  readonly image: {
    readonly initStack: number;
    readonly initTopPgt: number;
    readonly initTask: number;
    readonly initStructPid: number;
    readonly initCred: number;
    readonly initSignals: number;
    /** _end - _text: 0x3600000 (the kernel-image PD maps 0xffffffff81000000..0xffffffff84600000). */
    readonly size: number;
    /** End of .text and of .rodata (the PD entries switch to NX at 0x82000000 and RW at 0x82a00000). */
    readonly textEnd: number;
    readonly rodataEnd: number;
  };
}

const MiB = 1 << 20;

function signaturesPath(...parts: string[]): string {
  // src/synth/linux and dist/synth/linux are three levels below the package root.
  return join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'signatures', ...parts);
}

export const DEBIAN_6_1_0_57: LinuxBuild = {
  name: '6.1.0-57-amd64',
  release: '6.1.0-57-amd64',
  btfPath: shippedKernelBtfPath(),
  btfFile: 'linux-6.1.0-57-amd64.btf.gz',
  profilePath: signaturesPath('synth', 'linux-6.1.0-57-amd64.task-profile.json'),
  taskAllocSize: 8392,
  taskAlign: 64,
  taskSlabOrder: 3,
  image: {
    // init_task_va 0xffffffff82a1aa40, init_top_pgt_va 0xffffffff82a10000 in train-04;
    // init_task.stack 0xffffffff82a00000; thread_pid, cred, signal of init_task as read there.
    initStack: 0x1a00000,
    initTopPgt: 0x1a10000,
    initTask: 0x1a1aa40,
    initStructPid: 0x1a5b520,
    initCred: 0x1a5ba00,
    initSignals: 0x1a1d8a0,
    size: 54 * MiB,
    textEnd: 16 * MiB,
    rodataEnd: 26 * MiB,
  },
};

export const LINUX_BUILDS: readonly LinuxBuild[] = [DEBIAN_6_1_0_57];

export function linuxBuild(name: string): LinuxBuild {
  const b = LINUX_BUILDS.find((x) => x.name === name);
  if (!b) throw new RangeError(`no Linux build ${name}`);
  return b;
}
