// The objects a task_struct points at, filled with what the kernel keeps in them:
// struct pid, struct cred, struct signal_struct, struct mm_struct (with a real per-process
// page table) and the vmalloc'd kernel stack.
//
// Facts (Linux 6.1; measured values from the real datasets' memory.raw):
// - struct pid comes from the "pid" cache with one struct upid (level 0): 96 + 16 = 112
//   bytes, SLAB_HWCACHE_ALIGN → 128-byte slots (measured). numbers[0].nr is the pid,
//   numbers[0].ns = &init_pid_ns; tasks[PIDTYPE_PID] heads the hlist of task->pid_links[0].
// - cred_jar objects are 176 bytes in 192-byte slots (measured); root's caps are
//   CAP_FULL_SET = 0x1ffffffffff (41 capabilities in 6.1); user = &root_user,
//   user_ns = &init_user_ns, ucounts = &init_ucounts, group_info = &init_groups for root
//   (measured in the real images: _text + 0x1a539a0 / 0x1a53a40 / 0x1a5c520 / 0x1a5bab0).
// - signal_struct (1112 bytes, 1152-byte slots): thread_head lists each thread's
//   thread_node (copy_signal / copy_process), curr_target a thread, pids[] the struct pids
//   of TGID/PGID/SID (init_struct_pid for kernel threads, measured).
// - mm_struct: object size sizeof + cpumask_size() = 1104, 1152-byte slots (measured);
//   pgd = the process's PGD in the direct map; with page-table isolation pgd_alloc takes
//   an order-1 block (8 KiB aligned, measured: every mm->pgd is 0x2000-aligned) whose first
//   page is the kernel-mode PGD; its kernel half (entries 256..511) is a copy of the kernel's
//   (pgd_ctor, arch/x86/mm/pgtable.c).
// - Kernel stacks: THREAD_SIZE 16 KiB from vmalloc (CONFIG_VMAP_STACK), order-0 pages, one
//   per 32 KiB of vmalloc space (measured: stacks at vmalloc_base + 0x10000, 0x18000, ...);
//   STACK_END_MAGIC 0x57AC6E9D (include/linux/magic.h) at the lowest address
//   (set_task_stack_end_magic, kernel/fork.c; end_of_stack() is task->stack on x86).
import { phys, virt } from '../../addr.js';
import { PageTableBuilder } from '../../layers/page-table-builder.js';
import type { PhysCanvas } from '../canvas.js';
import { PAGE_SIZE } from '../memory-map.js';
import { NoiseKind } from '../noise.js';
import type { PageAllocator } from '../page-allocator.js';
import type { PageContent } from '../page-content.js';
import type { Prng } from '../prng.js';
import type { LinuxOffsets } from './layout.js';
import { type KernelSpace, allocTablePage, directVa, imageVa, mapVmallocPage } from './kernel-space.js';
import { ObjBuf } from './objects.js';

export const STACK_END_MAGIC = 0x57ac6e9dn;
export const THREAD_SIZE = 16384;
export const CAP_FULL_SET = 0x1ffffffffffn;
/** Offsets from _text of kernel globals the objects point at (real layout, measured). */
export const KSYM = {
  rootUser: 0x1a539a0,
  initUserNs: 0x1a53a40,
  initUcounts: 0x1a5c520,
  initGroups: 0x1a5bab0,
  initPidNs: 0x1a5b480,
} as const;
/** TASK_SIZE_MAX on x86-64 with 4-level user addresses: (1 << 47) - PAGE_SIZE. */
export const TASK_SIZE = 0x7ffffffff000n;

export interface UserSpace {
  readonly pgdPa: number;
  readonly pt: PageTableBuilder;
  readonly startCode: bigint;
  readonly startStack: bigint;
  readonly argStart: bigint;
  readonly argEnd: bigint;
  readonly envStart: bigint;
  readonly envEnd: bigint;
  readonly mmapBase: bigint;
}

export function fillPid(o: LinuxOffsets, ks: KernelSpace, pid: ObjBuf, nr: number, count: number): void {
  pid.bytes.fill(0, 0, 128);
  pid.u32(o.pid.count, count);
  pid.u32(o.pid.level, 0);
  pid.emptyList(o.pid.waitPidfdHead);
  pid.i32(o.pid.nr, nr);
  pid.u64(o.pid.ns, imageVa(ks, KSYM.initPidNs));
}

export function fillCred(o: LinuxOffsets, ks: KernelSpace, cred: ObjBuf, uid: number, users: number, rng: Prng, heap: (rng: Prng) => bigint): void {
  const c = o.cred;
  cred.bytes.fill(0, 0, c.size);
  cred.u64(c.usage, BigInt(users + 1));
  for (let i = 0; i < 8; i += 1) cred.u32(c.uid + i * 4, uid); // uid gid suid sgid euid egid fsuid fsgid
  const root = uid === 0;
  cred.u64(c.capPermitted, root ? CAP_FULL_SET : 0n);
  cred.u64(c.capEffective, root ? CAP_FULL_SET : 0n);
  cred.u64(c.capBset, CAP_FULL_SET);
  cred.u64(c.user, root ? imageVa(ks, KSYM.rootUser) : heap(rng));
  cred.u64(c.userNs, imageVa(ks, KSYM.initUserNs));
  cred.u64(c.ucounts, root ? imageVa(ks, KSYM.initUcounts) : heap(rng));
  cred.u64(c.groupInfo, imageVa(ks, KSYM.initGroups));
}

/** signal_struct counters and self-linked heads; thread_head is linked by the caller. */
export function fillSignal(o: LinuxOffsets, sig: ObjBuf, threads: number, currTarget: bigint, pids: [bigint, bigint, bigint, bigint], sessionLeader: boolean): void {
  const s = o.signal;
  sig.bytes.fill(0, 0, s.size);
  sig.u32(s.sigcnt, threads);
  sig.u32(s.sigcnt + 4, threads); // live
  sig.u32(s.nrThreads, threads);
  sig.u32(s.nrThreads + 4, threads); // quick_threads
  sig.emptyList(s.waitChldexitHead);
  sig.u64(s.currTarget, currTarget);
  pids.forEach((p, i) => sig.u64(s.pids + 8 * i, p));
  sig.u32(s.leader, sessionLeader ? 1 : 0);
  sig.emptyList(s.sharedPendingList);
}

/** A kernel stack: 4 pages, mapped (live tasks) at `va` in vmalloc space; magic at the bottom, frames at the top. */
export function makeStack(
  env: { ks: KernelSpace; pages: PageAllocator; content: PageContent; canvas: PhysCanvas },
  va: bigint,
  mapped: boolean,
  user: boolean,
  rng: Prng,
): number[] {
  const frames: number[] = [];
  for (let i = 0; i < THREAD_SIZE / PAGE_SIZE; i += 1) {
    const pa = env.pages.allocPage();
    env.content.setKind(pa, PAGE_SIZE, NoiseKind.zero);
    frames.push(pa);
    if (mapped) mapVmallocPage(env.ks, va + BigInt(i * PAGE_SIZE), pa);
  }
  const bottom = new ObjBuf(frames[0]!, va, 8);
  bottom.u64(0, STACK_END_MAGIC);
  bottom.commit(env.canvas);
  // The top page: saved frames (return addresses into kernel text, frame pointers into
  // the stack) and, for user tasks, the user registers (struct pt_regs, 168 bytes) at the top.
  const top = new ObjBuf(frames[3]!, va + BigInt(3 * PAGE_SIZE), PAGE_SIZE);
  const depth = 8 + rng.int(24);
  let at = PAGE_SIZE - (user ? 168 : 8) - depth * 16;
  for (let i = 0; i < depth; i += 1, at += 16) {
    top.u64(at, top.va + BigInt(at + 16));
    top.u64(at + 8, env.ks.textVa + BigInt(rng.int(env.ks.image.textEnd / 16) * 16));
  }
  if (user) {
    const regs = PAGE_SIZE - 168;
    top.u64(regs + 16 * 8, 0x7f0000000000n + BigInt(rng.int(2 ** 30)) * 16n); // ip
    top.u64(regs + 17 * 8, 0x33n); // cs
    top.u64(regs + 18 * 8, 0x246n); // flags
    top.u64(regs + 19 * 8, 0x7ffc00000000n + BigInt(rng.int(2 ** 30)) * 8n); // sp
    top.u64(regs + 20 * 8, 0x2bn); // ss
  }
  top.commit(env.canvas);
  return frames;
}

/**
 * A process address space: an order-1 PGD (kernel half copied from the kernel's root),
 * a few user pages (code, heap, the stack page holding argv and envp).
 */
export function makeUserSpace(
  env: { ks: KernelSpace; pages: PageAllocator; content: PageContent; canvas: PhysCanvas },
  argv: readonly string[],
  envp: readonly string[],
  rng: Prng,
): UserSpace {
  const { ks, pages, content } = env;
  const block = pages.alloc(1);
  content.setKind(block.pa, 2 * PAGE_SIZE, NoiseKind.zero);
  let first = true;
  const pt = new PageTableBuilder(ks.mode, () => {
    if (first) {
      first = false;
      return block.pa;
    }
    return allocTablePage(pages, content);
  });
  const kernelRoot = ks.pt.readPhys(ks.pt.root, PAGE_SIZE);
  const kv = new DataView(kernelRoot.buffer, kernelRoot.byteOffset, PAGE_SIZE);
  const topShift = BigInt(ks.mode.levels[0]!.shift);
  for (let i = 256; i < 512; i += 1) {
    const e = kv.getBigUint64(i * 8, true);
    if (e === 0n) continue;
    // The canonical va whose root index is i (sign-extended upper half).
    const va = BigInt.asUintN(64, BigInt.asIntN(ks.mode.vaBits, BigInt(i) << topShift));
    pt.setEntry(virt(va), 0, e);
  }
  const rnd = (bits: number) => BigInt(rng.int(2 ** bits));
  const startCode = 0x550000000000n + (rnd(28) << 12n);
  const mmapBase = 0x7f0000000000n + (rnd(27) << 12n);
  const stackTop = 0x7ffc00000000n + (rnd(20) << 12n);
  const user = { user: true, noExecute: false };
  const map = (va: bigint, kind: number): number => {
    const pa = pages.allocPage();
    content.setKind(pa, PAGE_SIZE, kind);
    pt.map(virt(va), phys(pa), PAGE_SIZE, user);
    return pa;
  };
  for (let i = 0; i < 2; i += 1) map(startCode + BigInt(i * PAGE_SIZE), NoiseKind.code);
  map(startCode + 0x200000n, NoiseKind.sparse); // data / heap
  map(mmapBase, NoiseKind.code); // a shared library page
  // The stack page with argv and envp strings just below the top (fs/exec.c copy_strings).
  const stackPage = stackTop - BigInt(PAGE_SIZE);
  const stackPa = map(stackPage, NoiseKind.zero);
  const strings = new TextEncoder().encode(`${argv.join('\0')}\0${envp.join('\0')}\0`).subarray(0, PAGE_SIZE - 64);
  const argLen = new TextEncoder().encode(`${argv.join('\0')}\0`).length;
  const at = PAGE_SIZE - 16 - strings.length;
  env.canvas.write(stackPa + at, strings);
  const argStart = stackPage + BigInt(at);
  return {
    pgdPa: block.pa,
    pt,
    startCode,
    startStack: stackPage + BigInt(at - 256),
    argStart,
    argEnd: argStart + BigInt(Math.min(argLen, strings.length)),
    envStart: argStart + BigInt(Math.min(argLen, strings.length)),
    envEnd: argStart + BigInt(strings.length),
    mmapBase,
  };
}

export function fillMm(o: LinuxOffsets, ks: KernelSpace, mm: ObjBuf, us: UserSpace | undefined, users: number, owner: bigint, rng: Prng): void {
  const m = o.mm;
  mm.bytes.fill(0, 0, m.size);
  mm.u64(m.pgd, us ? directVa(ks, us.pgdPa) : 0n);
  mm.u32(m.mmUsers, users);
  mm.u32(m.mmCount, 1);
  mm.u64(m.owner, owner);
  mm.u32(m.mapCount, 20 + rng.int(60));
  mm.u64(m.taskSize, TASK_SIZE);
  if (us) {
    mm.u64(m.mmapBase, us.mmapBase);
    mm.u64(m.startCode, us.startCode);
    mm.u64(m.startCode + 8, us.startCode + 0x1000n + BigInt(rng.int(0x100000))); // end_code
    mm.u64(m.startStack, us.startStack);
    mm.u64(m.argStart, us.argStart);
    mm.u64(m.argEnd, us.argEnd);
    mm.u64(m.envStart, us.envStart);
    mm.u64(m.envEnd, us.envEnd);
  }
  // MMF_DUMPABLE = SUID_DUMP_USER (1) | MMF_DUMP_FILTER_DEFAULT 0x33 << MMF_DUMP_FILTER_SHIFT 2
  // (include/linux/sched/coredump.h).
  mm.u64(m.flags, 0xcdn);
}
