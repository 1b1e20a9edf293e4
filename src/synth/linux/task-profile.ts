// The statistical shape of real task_structs, word by word, for the fields a world does
// not set on purpose. Measured from the real Debian 6.1 guests (task-profile-measure.ts,
// datasets/synth/measure-task-profile.ts) and shipped as JSON: for each category of task (init_task,
// kernel thread, user process, user thread, exited) and each 8-byte word of the slab
// object, how often the word held each kind of value:
//
//   z        zero
//   s  d     a pointer into the task itself: va + d (list heads that are empty point at
//            themselves; cpus_ptr points at cpus_mask)
//   k  d     a pointer into the kernel image: _text + d (sched_class, ops tables, ...)
//   t  d     a pointer into the task's own kernel stack: stack + d (thread.sp)
//   d  lo    a direct-map pointer to another kernel object, (va - page_offset_base) % 64 = lo
//   m        a vmalloc pointer (other than its stack)
//   p        a vmemmap pointer (a struct page)
//   x        a module-area pointer
//   v  n     the exact value n (hex), when a word takes few values
//   r  a o   a number whose bits set in `a` are always 1, bits clear in `o` always 0,
//            and the others vary (counters, times, canaries)
//
// Generating from it gives each word a value of the kind real tasks hold, with the
// frequency they hold it, relocated to the world's addresses. Words are drawn
// independently: correlations between words are not kept (the world sets the fields that
// matter for the kernel's own structures explicitly, see tasks.ts).
import { readFileSync } from 'node:fs';
import { LayoutError } from '../../errors.js';
import type { Prng } from '../prng.js';

export type ProfileEntry =
  | ['z', number]
  | ['s' | 'k' | 't', number, number]
  | ['d', number, number]
  | ['m' | 'p' | 'x', number]
  | ['v', number, string]
  | ['r', number, string, string];

export type TaskCategory = 'init' | 'kthread' | 'user' | 'thread' | 'exited';
export const TASK_CATEGORIES: readonly TaskCategory[] = ['init', 'kthread', 'user', 'thread', 'exited'];

export interface TaskProfile {
  schema: 'kcarve-synth-task-profile/1';
  build: string;
  /** Bytes per object covered (arch_task_struct_size). */
  size: number;
  /** Where it was measured. */
  sources: string[];
  /** Per category: samples seen, and word offset → entries (words always zero are absent). */
  categories: Record<TaskCategory, { samples: number; words: Record<string, ProfileEntry[]> }>;
}

const cache = new Map<string, TaskProfile>();

export function loadTaskProfile(path: string): TaskProfile {
  const hit = cache.get(path);
  if (hit) return hit;
  let p: TaskProfile;
  try {
    p = JSON.parse(readFileSync(path, 'utf8')) as TaskProfile;
  } catch (err) {
    throw new LayoutError(path, 'task_struct', undefined, `cannot read the task profile: ${(err as Error).message}`);
  }
  if (p.schema !== 'kcarve-synth-task-profile/1') throw new LayoutError(path, 'task_struct', undefined, `not a task profile (schema ${JSON.stringify(p.schema)})`);
  for (const c of TASK_CATEGORIES) if (!p.categories[c]) throw new LayoutError(path, 'task_struct', undefined, `task profile lacks category ${c}`);
  cache.set(path, p);
  return p;
}

/** Where the generated pointers go, in one world. */
export interface ProfileTargets {
  /** The object's own va. */
  readonly va: bigint;
  /** Its kernel stack's lowest address (0n when it has none). */
  readonly stack: bigint;
  /** A kernel-image address for an offset from _text. */
  kernelImage(offset: number): bigint;
  /** Some other kernel object in the direct map, with (va - page_offset_base) % 64 = low. */
  directMap(rng: Prng, low: number): bigint;
  vmalloc(rng: Prng): bigint;
  structPage(rng: Prng): bigint;
  module(rng: Prng): bigint;
}

function pick(entries: readonly ProfileEntry[], rng: Prng): ProfileEntry {
  let total = 0;
  for (const e of entries) total += e[1];
  let x = rng.float() * total;
  for (const e of entries) {
    x -= e[1];
    if (x < 0) return e;
  }
  return entries[entries.length - 1]!;
}

/** Fill `out` (one object, little-endian) with words drawn from a category's profile. */
export function fillFromProfile(profile: TaskProfile, category: TaskCategory, out: Uint8Array, targets: ProfileTargets, rng: Prng): void {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  out.fill(0);
  const words = profile.categories[category].words;
  for (const key of Object.keys(words)) {
    const off = Number(key);
    if (off + 8 > out.length) continue;
    const e = pick(words[key]!, rng);
    let v: bigint;
    switch (e[0]) {
      case 'z':
        continue;
      case 's':
        v = targets.va + BigInt(e[2]);
        break;
      case 'k':
        v = targets.kernelImage(e[2]);
        break;
      case 't':
        v = targets.stack === 0n ? 0n : targets.stack + BigInt(e[2]);
        break;
      case 'd':
        v = targets.directMap(rng, e[2]);
        break;
      case 'm':
        v = targets.vmalloc(rng);
        break;
      case 'p':
        v = targets.structPage(rng);
        break;
      case 'x':
        v = targets.module(rng);
        break;
      case 'v':
        v = BigInt(e[2]);
        break;
      case 'r': {
        const always = BigInt(e[2]);
        const ever = BigInt(e[3]);
        v = always | (rng.u64() & (ever ^ always));
        break;
      }
    }
    view.setBigUint64(off, BigInt.asUintN(64, v), true);
  }
}
