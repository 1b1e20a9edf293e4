// Every task of a Linux world and the objects it owns: allocation in creation order, the
// task_struct bytes (measured profile + the members the kernel's own structures depend
// on), and the companion objects.
import type { PhysCanvas } from '../canvas.js';
import type { PageAllocator } from '../page-allocator.js';
import type { PageContent } from '../page-content.js';
import type { Prng } from '../prng.js';
import type { LinuxBuild } from './builds.js';
import { STACK_END_MAGIC, THREAD_SIZE, type UserSpace, fillCred, fillMm, fillPid, fillSignal, makeStack, makeUserSpace } from './companions.js';
import { type KernelSpace, directVa } from './kernel-space.js';
import type { LinuxOffsets } from './layout.js';
import { ObjBuf, type UnlinkStyle } from './objects.js';
import type { PlannedTask } from './plan.js';
import { SlabCache, type SlabObject } from './slab.js';
import { type ProfileTargets, type TaskCategory, type TaskProfile, fillFromProfile } from './task-profile.js';

export interface LTask {
  readonly plan: PlannedTask;
  readonly obj: ObjBuf;
  readonly slot: SlabObject | undefined;
  /** Lowest address of its kernel stack (init_task: init_stack). */
  readonly stackVa: bigint;
  readonly pid: ObjBuf;
  readonly cred: ObjBuf;
  readonly signal: ObjBuf;
  readonly mm: ObjBuf | undefined;
  userSpace: UserSpace | undefined;
  leader: LTask;
  parent: LTask;
  /** Leaders: the other members of the group, creation order. */
  readonly threads: LTask[];
  /** Leaders: child processes (leaders whose real_parent is this), creation order. */
  readonly children: LTask[];
  style?: UnlinkStyle;
  readonly mutations: string[];
}

export interface LinuxCaches {
  readonly task: SlabCache;
  readonly pid: SlabCache;
  readonly cred: SlabCache;
  readonly signal: SlabCache;
  readonly mm: SlabCache;
}

export interface TaskEnv {
  readonly build: LinuxBuild;
  readonly o: LinuxOffsets;
  readonly ks: KernelSpace;
  readonly pages: PageAllocator;
  readonly content: PageContent;
  readonly canvas: PhysCanvas;
  readonly profile: TaskProfile;
  readonly heap: (rng: Prng) => bigint;
  readonly targets: Omit<ProfileTargets, 'va' | 'stack'>;
}

/** SLUB caches of the objects a task owns; sizes from BTF, geometry as measured (see companions.ts). */
export function makeCaches(env: TaskEnv, rng: Prng): LinuxCaches {
  const cacheEnv = { pages: env.pages, content: env.content, canvas: env.canvas, directVa: (pa: number) => directVa(env.ks, pa) };
  const { o, build } = env;
  return {
    task: new SlabCache({ name: 'task_struct', objectSize: build.taskAllocSize, align: build.taskAlign, order: build.taskSlabOrder }, cacheEnv, rng.child('task_struct')),
    // struct pid + one struct upid (16 bytes) for the one pid-namespace level.
    pid: new SlabCache({ name: 'pid', objectSize: o.pid.size + 16, align: 64, order: 0 }, cacheEnv, rng.child('pid')),
    cred: new SlabCache({ name: 'cred_jar', objectSize: o.cred.size, align: 64, order: 0 }, cacheEnv, rng.child('cred')),
    signal: new SlabCache({ name: 'signal_cache', objectSize: o.signal.size, align: 64, order: 3 }, cacheEnv, rng.child('signal')),
    // mm_struct + cpumask_size() (8 bytes with one possible CPU).
    mm: new SlabCache({ name: 'mm_struct', objectSize: o.mm.size + 8, align: 64, order: 3 }, cacheEnv, rng.child('mm')),
  };
}

function objOf(s: SlabObject, size: number): ObjBuf {
  return new ObjBuf(s.pa, s.va, size);
}

/**
 * Allocate every planned task and what it owns, in creation order (so slab slots, pids
 * and stacks are handed out as a booting system would). init_task and its objects live
 * in the kernel image.
 */
export function allocateTasks(env: TaskEnv, caches: LinuxCaches, planned: readonly PlannedTask[], rng: Prng): LTask[] {
  const { ks, o, build } = env;
  const img = ks.image;
  const at = (off: number) => ({ pa: ks.textPa + off, va: ks.textVa + BigInt(off) });
  const tasks: LTask[] = [];
  let stackCursor = ks.vmallocBase + 0x10000n;
  for (const p of planned) {
    if (p.kind === 'init') {
      const t = at(img.initTask);
      const init: LTask = {
        plan: p,
        obj: new ObjBuf(t.pa, t.va, o.taskSize),
        slot: undefined,
        stackVa: ks.textVa + BigInt(img.initStack),
        pid: new ObjBuf(at(img.initStructPid).pa, at(img.initStructPid).va, o.pid.size + 16),
        cred: new ObjBuf(at(img.initCred).pa, at(img.initCred).va, o.cred.size),
        signal: new ObjBuf(at(img.initSignals).pa, at(img.initSignals).va, o.signal.size),
        mm: undefined,
        userSpace: undefined,
        leader: undefined as unknown as LTask,
        parent: undefined as unknown as LTask,
        threads: [],
        children: [],
        mutations: [],
      };
      init.leader = init;
      init.parent = init;
      // start_kernel → set_task_stack_end_magic(&init_task): init_stack's lowest word.
      const magic = new ObjBuf(ks.textPa + img.initStack, init.stackVa, 8);
      magic.u64(0, STACK_END_MAGIC);
      magic.commit(env.canvas);
      tasks.push(init);
      continue;
    }
    const isLeader = p.leader === p.id;
    const leader = isLeader ? undefined : tasks[p.leader]!;
    const slot = caches.task.alloc();
    const pid = objOf(caches.pid.alloc(), o.pid.size + 16);
    const cred = leader ? leader.cred : objOf(caches.cred.alloc(), o.cred.size);
    const signal = leader ? leader.signal : objOf(caches.signal.alloc(), o.signal.size);
    const mm = leader ? leader.mm : p.kind === 'user' ? objOf(caches.mm.alloc(), o.mm.size) : undefined;
    const stackVa = stackCursor;
    stackCursor += rng.chance(0.1) ? 0x10000n : 0x8000n; // 16 KiB + guard page at 16 KiB alignment; other vmallocs in between
    makeStack(env, stackVa, p.status !== 'exited', p.kind !== 'kthread', rng);
    const t: LTask = {
      plan: p,
      obj: objOf(slot, build.taskAllocSize),
      slot,
      stackVa,
      pid,
      cred,
      signal,
      mm,
      userSpace: undefined,
      leader: undefined as unknown as LTask,
      parent: tasks[p.parent]!,
      threads: [],
      children: [],
      mutations: [],
    };
    t.leader = leader ?? t;
    if (leader) leader.threads.push(t);
    else if (p.parent !== p.id) tasks[p.parent]!.children.push(t);
    tasks.push(t);
  }
  return tasks;
}

/** Give live user processes their address spaces (after every kernel mapping exists, as the PGD copies the kernel half). */
export function makeUserSpaces(env: TaskEnv, tasks: readonly LTask[], rng: Prng): void {
  for (const t of tasks) {
    if (t.mm === undefined || t.leader !== t || t.plan.status === 'exited') continue;
    const argv = [`/usr/bin/${t.plan.comm}`, ...(rng.chance(0.5) ? ['--daemon'] : [])];
    const envp = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', `HOME=${t.plan.uid === 0 ? '/root' : '/home/user'}`, 'LANG=C.UTF-8'];
    t.userSpace = makeUserSpace(env, argv, envp, rng);
  }
  for (const t of tasks) if (t.leader !== t) t.userSpace = t.leader.userSpace;
}

function category(t: LTask): TaskCategory {
  if (t.plan.kind === 'init') return 'init';
  if (t.plan.status === 'exited') return 'exited';
  if (t.plan.kind === 'kthread') return 'kthread';
  return t.leader === t ? 'user' : 'thread';
}

/** The task_struct bytes apart from lists: profile words, then the members set on purpose. */
export function fillTask(env: TaskEnv, t: LTask, rng: Prng): void {
  const { o } = env;
  const T = o.task;
  const exited = t.plan.status === 'exited';
  fillFromProfile(env.profile, category(t), t.obj.bytes, { ...env.targets, va: t.obj.va, stack: exited ? 0n : t.stackVa }, rng);
  const obj = t.obj;
  obj.u64(T['stack']!, exited ? 0n : t.stackVa);
  obj.i32(T['pid']!, t.plan.pid);
  obj.i32(T['tgid']!, t.plan.tgid);
  // get_random_canary() masks the low byte to zero so a string overflow cannot
  // forge the canary: CANARY_MASK 0xffffffffffffff00 on 64-bit little-endian
  // (include/linux/random.h, 6.1). The Linux signature relies on it.
  obj.u64(T['stack_canary']!, rng.u64() & ~0xffn);
  obj.u64(T['real_parent']!, t.parent.obj.va);
  obj.u64(T['parent']!, t.parent.obj.va);
  obj.u64(T['group_leader']!, t.leader.obj.va);
  obj.u64(T['thread_pid']!, exited ? 0n : t.pid.va);
  obj.u64(T['start_time']!, t.plan.startTime);
  obj.u64(T['start_boottime']!, t.plan.startTime);
  // exit_creds (kernel/cred.c) NULLs both when a task is freed.
  obj.u64(T['real_cred']!, exited ? 0n : t.cred.va);
  obj.u64(T['cred']!, exited ? 0n : t.cred.va);
  obj.u64(T['signal']!, t.signal.va);
  const comm = new Uint8Array(16);
  comm.set(new TextEncoder().encode(t.plan.comm).subarray(0, 15));
  obj.bytes.set(comm, T['comm']!);
  if (t.plan.kind !== 'kthread' && t.plan.kind !== 'init') {
    obj.u64(T['mm']!, exited || !t.mm ? 0n : t.mm.va);
    obj.u64(T['active_mm']!, exited || !t.mm ? 0n : t.mm.va);
  } else if (t.plan.kind === 'kthread') {
    obj.u64(T['mm']!, 0n);
  }
  // Lists start empty; the list builder links them.
  for (const f of ['tasks', 'children', 'sibling', 'thread_group', 'thread_node', 'ptraced', 'ptrace_entry']) obj.emptyList(T[f]!);
  obj.bytes.fill(0, T['pid_links']!, T['pid_links']! + 64);
}

/** Companion objects: struct pid, cred, signal_struct, mm_struct. */
export function fillCompanions(env: TaskEnv, tasks: readonly LTask[], rng: Prng): void {
  const { o, ks } = env;
  const init = tasks[0]!;
  for (const t of tasks) {
    const members = [t.leader, ...t.leader.threads];
    const alive = members.filter((m) => m.plan.status !== 'exited').length;
    fillPid(o, ks, t.pid, t.plan.pid, t.leader === t && t.plan.kind === 'user' ? 2 : 1);
    if (t.leader !== t) continue;
    fillCred(o, ks, t.cred, t.plan.uid, members.length, rng, env.heap);
    const session = init.pid.va; // every leader is in init_task's session (lists.ts)
    const tgid = t.plan.kind === 'init' ? init.pid.va : t.pid.va;
    const pids: [bigint, bigint, bigint, bigint] = t.plan.kind === 'init' ? [tgid, tgid, tgid, tgid] : [0n, tgid, session, session];
    fillSignal(o, t.signal, Math.max(1, alive), t.obj.va, pids, false);
    if (t.mm) fillMm(o, ks, t.mm, t.userSpace, Math.max(1, alive), t.obj.va, rng);
  }
}

export const STACK_BYTES = THREAD_SIZE;
