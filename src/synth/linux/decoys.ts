// Decoys for Linux worlds: memory that satisfies weak task_struct signatures without being
// a task. Each is listed in truth.decoys (kind, pa, note), so a false positive on one can
// be explained; none is a task object in truth.tasks.
//
//   name-string     a process's name in argv/environment/log text (what a name search hits)
//   partial-copy    a stale copy of the head of a live task_struct (pid, lists, comm ...) in
//                   a freed page of another size, the rest overwritten
//   lookalike       an object of another type with kernel pointers, a small integer and a
//                   printable name at the task_struct offsets of tasks/pid/comm/real_parent/
//                   cred, but none of the structure behind them (no stack, no struct pid)
import { hex } from '../../addr.js';
import type { PhysCanvas } from '../canvas.js';
import { PAGE_SIZE } from '../memory-map.js';
import { NoiseKind } from '../noise.js';
import type { PageAllocator } from '../page-allocator.js';
import type { PageContent } from '../page-content.js';
import type { Prng } from '../prng.js';
import type { SynthDecoy } from '../truth.js';
import type { LinuxOffsets } from './layout.js';
import { type KernelSpace, directVa } from './kernel-space.js';
import { ObjBuf } from './objects.js';
import type { LTask } from './tasks.js';

export const DECOY_KINDS = ['name-string', 'partial-copy', 'lookalike'] as const;

export interface DecoyEnv {
  readonly o: LinuxOffsets;
  readonly ks: KernelSpace;
  readonly pages: PageAllocator;
  readonly content: PageContent;
  readonly canvas: PhysCanvas;
  readonly heap: (rng: Prng) => bigint;
}

function nameString(env: DecoyEnv, t: LTask, rng: Prng): SynthDecoy {
  const pa = env.pages.allocPage();
  env.content.setKind(pa, PAGE_SIZE, NoiseKind.text);
  const styles = [
    `${t.plan.comm}\0`,
    `/usr/sbin/${t.plan.comm}\0-D\0`,
    `[${(t.plan.startTime / 1_000_000_000n).toString().padStart(5)}.${String(rng.int(1e6)).padStart(6, '0')}] ${t.plan.comm}[${t.plan.pid}]: started\n`,
    `_COMM=${t.plan.comm}\0_PID=${t.plan.pid}\0`,
  ];
  const text = new TextEncoder().encode(rng.pick(styles));
  // 8-aligned, as slab strings and argv blocks often are: the hardest case for a name scan.
  const at = pa + rng.int(Math.floor((PAGE_SIZE - text.length) / 8)) * 8;
  env.canvas.write(at, text);
  return { kind: 'name-string', pa: hex(at), note: `name of pid ${t.plan.pid} (${t.plan.comm}) in text` };
}

function partialCopy(env: DecoyEnv, t: LTask, rng: Prng): SynthDecoy {
  const { o } = env;
  const block = env.pages.alloc(2); // a freed kmalloc-16k page
  env.content.setKind(block.pa, 4 * PAGE_SIZE, NoiseKind.sparse);
  const at = block.pa + rng.int(8) * 512;
  const keep = o.task['comm']! + 16 + rng.int(t.obj.bytes.length - o.task['comm']! - 16);
  env.canvas.write(at, t.obj.bytes.subarray(0, Math.min(keep, 4 * PAGE_SIZE - (at - block.pa))));
  return { kind: 'partial-copy', pa: hex(at), note: `first ${keep} bytes of pid ${t.plan.pid} (${t.plan.comm}), stale` };
}

function lookalike(env: DecoyEnv, names: readonly string[], rng: Prng): SynthDecoy {
  const { o, ks } = env;
  const block = env.pages.alloc(2);
  env.content.setKind(block.pa, 4 * PAGE_SIZE, NoiseKind.slab);
  const pa = block.pa + rng.int(4) * 1024;
  const obj = new ObjBuf(pa, directVa(ks, pa), 4 * PAGE_SIZE - (pa - block.pa));
  obj.bytes.set(env.canvas.read(pa, obj.bytes.length));
  const T = o.task;
  const ptr = () => env.heap(rng) + BigInt(T['tasks']! % 64);
  obj.u64(T['tasks']!, ptr());
  obj.u64(T['tasks']! + 8, ptr());
  obj.i32(T['pid']!, 1 + rng.int(32768));
  obj.i32(T['tgid']!, obj.view.getInt32(T['pid']!, true));
  obj.u64(T['real_parent']!, env.heap(rng));
  obj.u64(T['parent']!, obj.getU64(T['real_parent']!));
  obj.u64(T['cred']!, env.heap(rng));
  obj.u64(T['real_cred']!, obj.getU64(T['cred']!));
  obj.u64(T['stack']!, ks.vmallocBase + BigInt(rng.int(1 << 20)) * 0x8000n);
  obj.u64(T['start_time']!, BigInt(rng.int(2 ** 31)) * 1000n);
  const comm = new Uint8Array(16);
  comm.set(new TextEncoder().encode(rng.pick(names)).subarray(0, 15));
  obj.bytes.set(comm, T['comm']!);
  obj.commit(env.canvas);
  return { kind: 'lookalike', pa: hex(pa), note: 'object of another cache with pointers, a pid-like integer and a name at task_struct offsets' };
}

/** Place `count` decoys drawn from the three kinds, imitating the given tasks. */
export function placeDecoys(env: DecoyEnv, tasks: readonly LTask[], count: number, rng: Prng): SynthDecoy[] {
  const sources = tasks.filter((t) => t.plan.status !== 'exited' && t.plan.kind !== 'init');
  const names = sources.map((t) => t.plan.comm);
  // Copies are of visible tasks (a copy of a hidden one would carry its attack mutations).
  const live = sources.filter((t) => t.plan.status === 'live');
  const out: SynthDecoy[] = [];
  for (let i = 0; i < count; i += 1) {
    const kind = DECOY_KINDS[i % DECOY_KINDS.length]!;
    if (kind === 'name-string') out.push(nameString(env, rng.pick(sources), rng));
    else if (kind === 'partial-copy') out.push(partialCopy(env, rng.pick(live), rng));
    else out.push(lookalike(env, names, rng));
  }
  return out;
}
