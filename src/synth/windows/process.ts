// One process of a Windows world: its EPROCESS object, its threads (ETHREAD objects whose
// Tcb.Process / ApcState.Process / ThreadsProcess point back and whose Cid carries the
// pid), its primary token, and for processes with a user half the PEB, parameters and
// VADs. Kernel lists, handle tables and page tables are linked by the world afterwards.
//
// Facts (facts files, process_object / links / time / pid_rules; the packs for members):
// - Pcb.Header.Type = ProcessObject (3), Pcb.Header.Size per build; a thread's
//   Tcb.Header.Type = ThreadObject (6) (KOBJECTS, Geoff Chappell's KOBJECTS page).
// - Token is an _EX_FAST_REF: the token's address with a reference count in the low bits
//   (3 bits on x86, 4 on x64: the RefCnt bitfield of the pack).
// - Live processes have ExitStatus STATUS_PENDING (0x103, "still active") and ExitTime 0.
// - KTHREAD State 5 = Waiting (KTHREAD_STATE: Initialized 0, Ready 1, Running 2, Standby 3,
//   Terminated 4, Waiting 5), the state of almost every thread in a dump.
// Thread dispatcher Size: sizeof(_KTHREAD)/4 where it fits the byte, else 0 (by analogy with
// the process rule of the facts; not checked against a live system).
import type { PageAllocator } from '../page-allocator.js';
import type { Prng } from '../prng.js';
import type { WinKernelSpace } from './address-space.js';
import type { Struct, WinLayout } from './layout.js';
import { EntryList, listNode } from './lists.js';
import type { ObjectBlock, ObjectTypes, OptionalHeader } from './objects.js';
import type { PlannedProcess, PlannedThread } from './plan.js';
import type { Pool } from './pool.js';
import { type UserEnv, type UserSpace, buildUserSpace } from './user-space.js';
import { type VadTree, buildVadTree } from './vad.js';

const PROCESS_OBJECT = 3;
const THREAD_OBJECT = 6;
const THREAD_WAITING = 5;
const STATUS_PENDING = 0x103;

export interface WThread {
  readonly plan: PlannedThread;
  readonly ob: ObjectBlock;
  readonly e: Struct;
  readonly va: bigint;
}

export interface WProc {
  readonly plan: PlannedProcess;
  readonly ob: ObjectBlock;
  /** The _EPROCESS. */
  readonly e: Struct;
  readonly va: bigint;
  readonly pa: number;
  /** ImageFileName as stored (truncated to the member). */
  readonly name: string;
  readonly threads: WThread[];
  readonly token: ObjectBlock;
  readonly user: UserSpace | undefined;
  vad: VadTree | undefined;
  readonly threadLists: { exec: EntryList; kernel: EntryList };
  readonly mutations: string[];
  style?: 'stale' | 'self';
  /** The page holding a freed process's stale page directory (no page tables built). */
  staleDtb?: number;
}

export interface ProcEnv {
  readonly w: WinLayout;
  readonly ks: WinKernelSpace;
  readonly pool: Pool;
  readonly types: ObjectTypes;
  readonly pages: PageAllocator;
  readonly user: UserEnv;
}

/** ImageFileName as the kernel stores it: the first length-1 characters (XP keeps a NUL in its 16), 15 on 7 and 10. */
export function storedName(w: WinLayout, name: string): string {
  const max = w.build.name === 'winxpsp2x86' ? w.nameLength - 1 : w.nameLength;
  return name.slice(0, max);
}

function optionalFor(p: PlannedProcess, rng: Prng): OptionalHeader[] {
  if (p.program.kind === 'system') return [];
  const r = rng.float();
  return r < 0.7 ? ['quota'] : r < 0.9 ? ['quota', 'handle'] : ['handle'];
}

function dispatcherSize(w: WinLayout, bytes: number): number {
  const s = bytes / 4;
  return s <= 0xff ? s : 0;
}

/** Create the objects of process `p` (its parent, if alive in this world, holds the handle). */
export function createProcess(env: ProcEnv, p: PlannedProcess, parentVa: bigint | undefined, rng: Prng): WProc {
  const { w, types, ks } = env;
  const f = w.build.facts;
  const optional = optionalFor(p, rng);
  const ob = types.allocObject('nonpaged', 'Process', w.sizes.eprocess, {
    optional,
    pointerCount: 4 + rng.int(200),
    handleCount: 1 + rng.int(6),
    ...(parentVa !== undefined ? { handleOwner: parentVa } : {}),
    quotaNonPaged: 0x400 + rng.int(0x40) * 8,
    quotaPaged: 0x1000 + rng.int(0x100) * 8,
  });
  const e = ob.body;
  const va = ob.bodyVa;
  const name = storedName(w, p.program.name);

  e.set('Pcb.Header.Type', PROCESS_OBJECT);
  if (f.process_object.dispatcher_type !== PROCESS_OBJECT) throw new Error('synth windows: facts give a process dispatcher type other than 3');
  e.set('Pcb.Header.Size', f.process_object.dispatcher_size);
  const self = (path: string) => {
    const at = va + BigInt(e.off(path));
    e.set(`${path}.Flink`, at);
    e.set(`${path}.Blink`, at);
  };
  self('Pcb.Header.WaitListHead');
  self('Pcb.ProfileListHead');
  self('Pcb.ReadyListHead');
  if (e.has('Pcb.ProcessListEntry')) self('Pcb.ProcessListEntry');
  e.set('Pcb.BasePriority', p.program.kind === 'system' ? 8 : p.program.kind === 'service' || p.program.kind === 'native' ? (rng.chance(0.3) ? 13 : 8) : 8);
  e.set('CreateTime.QuadPart', p.createTime);
  e.set('ExitTime.QuadPart', 0n);
  e.set('UniqueProcessId', BigInt(p.pid));
  e.set('InheritedFromUniqueProcessId', BigInt(p.ppid));
  e.trySet('OwnerProcessId', BigInt(p.ppid));
  e.set('ImageFileName', name);
  e.set('ExitStatus', STATUS_PENDING);
  e.set('ActiveThreads', p.threads.length);
  e.trySet('SequenceNumber', BigInt(p.id + 1));
  // Flags of a running process (the pack's bitfield names): address space set up, in a session.
  e.set('CreateReported', 1);
  e.set('HasAddressSpace', p.program.kind === 'minimal' ? 0 : 1);
  e.set('AddressSpaceInitialized', 3);
  if (p.program.session !== undefined) e.set('ProcessInSession', 1);
  self('ActiveProcessLinks');
  self('SessionProcessLinks');

  // The primary token (paged pool; _TOKEN is not in the packs: its body is opaque data here).
  const tokenSize = w.ptrSize === 8 ? 0x2f0 + rng.int(8) * 16 : 0x1c8 + rng.int(8) * 8;
  const token = types.allocObject('paged', 'Token', tokenSize, { optional: [], pointerCount: 3 + rng.int(20), handleCount: rng.int(3) });
  token.block.bytes.fill(0, token.bodyOff);
  rng.fill(token.block.bytes.subarray(token.bodyOff + 64, token.bodyOff + 96));
  const refBits = w.L.member('_EX_FAST_REF', 'RefCnt').bits!.length;
  e.set('Token.Value', token.bodyVa | BigInt(rng.int(1 << refBits)));

  // User half.
  let user: UserSpace | undefined;
  let vad: VadTree | undefined;
  if (p.program.kind !== 'system' && p.program.kind !== 'minimal') {
    user = buildUserSpace(env.user, p, rng.child('user'));
    e.set('Peb', user.pebVa);
    e.set('SectionBaseAddress', user.imageBase);
    vad = buildVadTree(w, env.pool, 'nonpaged', user.vads, e, va);
    if (p.program.kind === 'user' && rng.chance(0.8)) e.set('Win32Process', ks.poolPointer(rng, 'paged'));
  }

  // Threads.
  const threads = p.threads.map((t, i) => createThread(env, p, t, va, user ? { teb: user.tebs[i]!, image: user.imageBase } : undefined, rng));
  const exec = new EntryList(listNode(e, 'ThreadListHead', va), threads.map((t) => listNode(t.e, 'ThreadListEntry', t.va)));
  const kernel = new EntryList(listNode(e, 'Pcb.ThreadListHead', va), threads.map((t) => listNode(t.e, 'Tcb.ThreadListEntry', t.va)));
  exec.write();
  kernel.write();
  return { plan: p, ob, e, va, pa: ob.bodyPa, name, threads, token, user, vad, threadLists: { exec, kernel }, mutations: [] };
}

function createThread(env: ProcEnv, p: PlannedProcess, t: PlannedThread, processVa: bigint, user: { teb: bigint; image: bigint } | undefined, rng: Prng): WThread {
  const { w, types, ks } = env;
  const system = p.program.kind === 'system' || p.program.kind === 'minimal';
  const ob = types.allocObject('nonpaged', 'Thread', w.sizes.ethread, {
    optional: system ? [] : ['quota'],
    pointerCount: 2 + rng.int(8),
    handleCount: rng.int(3),
  });
  const e = ob.body;
  const va = ob.bodyVa;
  e.set('Tcb.Header.Type', THREAD_OBJECT);
  e.set('Tcb.Header.Size', dispatcherSize(w, w.sizes.kthread));
  e.set('Tcb.Header.WaitListHead.Flink', va + BigInt(e.off('Tcb.Header.WaitListHead')));
  e.set('Tcb.Header.WaitListHead.Blink', va + BigInt(e.off('Tcb.Header.WaitListHead')));
  e.set('Tcb.ApcState.Process', processVa);
  e.trySet('Tcb.Process', processVa);
  e.trySet('ThreadsProcess', processVa);
  if (e.has('Tcb.ApcStatePointer')) {
    e.set('Tcb.ApcStatePointer[0]', va + BigInt(e.off('Tcb.ApcState')));
    e.set('Tcb.ApcStatePointer[1]', va + BigInt(e.off('Tcb.SavedApcState')));
  }
  for (const k of [0, 1]) {
    const head = `Tcb.ApcState.ApcListHead[${k}]`;
    e.set(`${head}.Flink`, va + BigInt(e.off(head)));
    e.set(`${head}.Blink`, va + BigInt(e.off(head)));
  }
  e.set('Cid.UniqueProcess', BigInt(p.pid));
  e.set('Cid.UniqueThread', BigInt(t.tid));
  e.set('CreateTime.QuadPart', t.createTime);
  e.set('Tcb.State', THREAD_WAITING);
  e.set('Tcb.WaitReason', rng.pick([6, 13, 15, 17]));
  e.set('Tcb.Priority', system ? 13 + rng.int(4) : 8 + rng.int(3));
  e.set('Tcb.BasePriority', system ? 13 : 8);
  e.set('Tcb.Teb', user?.teb ?? 0n);
  // Kernel stack: 12 KiB (x86) / 24 KiB (x64) just below its base, in system space.
  const stackBase = ks.poolPointer(rng) & ~0xfffn;
  const stackSize = w.ptrSize === 8 ? 0x6000n : 0x3000n;
  e.set('Tcb.InitialStack', stackBase - BigInt(w.ptrSize === 8 ? 0x1d0 : 0x210));
  e.set('Tcb.StackBase', stackBase);
  e.set('Tcb.StackLimit', stackBase - stackSize);
  e.set('Tcb.KernelStack', stackBase - BigInt(0x200 + rng.int(0x100) * 16));
  // Kernel threads start in the kernel's code; user threads at an address in their image.
  e.set('StartAddress', user === undefined ? ks.image.va + BigInt(rng.int(ks.image.textEnd / 16) * 16) : user.image + 0x1000n + BigInt(rng.int(0x400) * 16));
  if (e.has('SystemThread')) e.set('SystemThread', system ? 1 : 0);
  return { plan: t, ob, e, va };
}
