// Measure a task profile (task-profile.ts) from real Linux images with ground truth
// (the datasets builder's truth.json + memory.raw). Used by datasets/synth/measure-task-profile.ts
// to make signatures/synth/<build>.task-profile.json; not used when a world is built.
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { TruthError } from '../../errors.js';
import type { LinuxBuild } from './builds.js';
import { type ProfileEntry, type TaskCategory, type TaskProfile, TASK_CATEGORIES } from './task-profile.js';

/** Most distinct values a word may take and still be stored value by value. */
const MAX_CATEGORICAL = 12;
const STACK_SIZE = 16384;
const VMALLOC_SPAN = 2n ** 45n; // VMALLOC_SIZE_TB 32 (4-level), Documentation/x86/x86_64/mm.rst
const VMEMMAP_SPAN = 2n ** 40n;
const MODULES_START = 0xffffffffc0000000n; // MODULES_VADDR with 1 GiB KERNEL_IMAGE_SIZE
const MODULES_END = 0xffffffffff000000n;

interface Sample {
  category: TaskCategory;
  va: bigint;
  bytes: Buffer;
  ctx: { pob: bigint; memEnd: bigint; text: bigint; vmalloc: bigint; vmemmap: bigint };
}

type Kind = { k: 'z' } | { k: 's' | 'k' | 't' | 'd'; n: number } | { k: 'm' | 'p' | 'x' } | { k: 'n'; v: bigint };

function classify(v: bigint, s: Sample, stack: bigint, size: number, imageSize: number): Kind {
  const { pob, memEnd, text, vmalloc, vmemmap } = s.ctx;
  if (v === 0n) return { k: 'z' };
  if (v >= s.va && v < s.va + BigInt(size)) return { k: 's', n: Number(v - s.va) };
  if (v >= text && v < text + BigInt(imageSize)) return { k: 'k', n: Number(v - text) };
  if (stack !== 0n && v >= stack && v <= stack + BigInt(STACK_SIZE)) return { k: 't', n: Number(v - stack) };
  if (v >= pob && v < pob + memEnd) return { k: 'd', n: Number((v - pob) % 64n) };
  if (v >= vmalloc && v < vmalloc + VMALLOC_SPAN) return { k: 'm' };
  if (v >= vmemmap && v < vmemmap + VMEMMAP_SPAN) return { k: 'p' };
  if (v >= MODULES_START && v < MODULES_END) return { k: 'x' };
  return { k: 'n', v };
}

function hexOf(v: bigint): string {
  return `0x${v.toString(16)}`;
}

function readAt(path: string, pa: number, length: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(length);
    const n = readSync(fd, b, 0, length, pa);
    if (n !== length) throw new TruthError(path, '', `short read at 0x${pa.toString(16)}`);
    return b;
  } finally {
    closeSync(fd);
  }
}

/** Read the tasks of one dataset directory as samples. Hidden tasks are left out (their lists were rewritten). */
function samplesOf(dir: string, build: LinuxBuild): Sample[] {
  const truthPath = join(dir, 'truth.json');
  const t = JSON.parse(readFileSync(truthPath, 'utf8')) as Record<string, any>;
  if (t['kernel']?.['release'] !== build.release) throw new TruthError(truthPath, 'kernel.release', `is ${t['kernel']?.['release']}, not ${build.release}`);
  const L = t['layout'] as Record<string, string>;
  const fields = t['offsets']['task_struct']['fields'] as Record<string, number>;
  const initVa = BigInt(L['init_task_va']!);
  const ctx = {
    pob: BigInt(L['page_offset_base']!),
    // The direct map's randomised region is at least 10 TB (kernel-space.ts); vmalloc lies
    // beyond it, so anything within 1 TB of page_offset_base is a direct-map pointer.
    memEnd: 2n ** 40n,
    text: initVa - BigInt(build.image.initTask),
    vmalloc: BigInt(L['vmalloc_base']!),
    vmemmap: BigInt(L['vmemmap_base']!),
  };
  const raw = join(dir, 'memory.raw');
  const out: Sample[] = [];
  for (const task of t['tasks'] as Record<string, any>[]) {
    if (task['status'] === 'hidden') continue;
    const bytes = readAt(raw, Number(BigInt(task['pa'] as string)), build.taskAllocSize);
    let category: TaskCategory;
    if (task['pid'] === 0 && task['status'] === 'live') category = 'init';
    else if (task['status'] === 'exited') category = 'exited';
    else if (bytes.readBigUInt64LE(fields['mm']!) === 0n) category = 'kthread';
    else category = task['leader'] === true ? 'user' : 'thread';
    out.push({ category, va: BigInt(task['va'] as string), bytes, ctx });
  }
  return out;
}

/** Build the profile of `build` from dataset directories (each with truth.json and memory.raw). */
export function measureTaskProfile(dirs: readonly string[], build: LinuxBuild, stackOffset: number): TaskProfile {
  const size = build.taskAllocSize;
  const samples = dirs.flatMap((d) => samplesOf(d, build));
  const categories = {} as TaskProfile['categories'];
  for (const category of TASK_CATEGORIES) {
    const mine = samples.filter((s) => s.category === category);
    const words: Record<string, ProfileEntry[]> = {};
    for (let off = 0; off + 8 <= size; off += 8) {
      const counts = new Map<string, { entry: ProfileEntry; count: number }>();
      const numbers: bigint[] = [];
      for (const s of mine) {
        const v = s.bytes.readBigUInt64LE(off);
        const stack = category === 'init' ? s.va - BigInt(build.image.initTask - build.image.initStack) : s.bytes.readBigUInt64LE(stackOffset);
        const c = classify(v, s, stack, size, build.image.size);
        if (c.k === 'n') {
          numbers.push(c.v);
          continue;
        }
        const key = 'n' in c ? `${c.k}:${c.n}` : c.k;
        const hit = counts.get(key);
        if (hit) hit.count += 1;
        else counts.set(key, { entry: ('n' in c ? [c.k, 0, c.n] : [c.k, 0]) as ProfileEntry, count: 1 });
      }
      const distinct = new Map<bigint, number>();
      for (const n of numbers) distinct.set(n, (distinct.get(n) ?? 0) + 1);
      if (distinct.size > 0 && distinct.size <= MAX_CATEGORICAL) {
        for (const [n, count] of distinct) counts.set(`v:${n}`, { entry: ['v', 0, hexOf(n)], count });
      } else if (distinct.size > MAX_CATEGORICAL) {
        let always = (1n << 64n) - 1n;
        let ever = 0n;
        for (const n of numbers) {
          always &= n;
          ever |= n;
        }
        counts.set('r', { entry: ['r', 0, hexOf(always), hexOf(ever)], count: numbers.length });
      }
      const entries = [...counts.values()].sort((a, b) => b.count - a.count).map(({ entry, count }) => {
        entry[1] = count;
        return entry;
      });
      if (entries.length === 1 && entries[0]![0] === 'z') continue;
      if (entries.length > 0) words[String(off)] = entries;
    }
    categories[category] = { samples: mine.length, words };
  }
  return {
    schema: 'kcarve-synth-task-profile/1',
    build: build.name,
    size,
    sources: dirs.map((d) => d.split('/').slice(-1)[0]!),
    categories,
  };
}

/** JSON text with one word per line (diffable, ~100 KB). */
export function taskProfileJson(p: TaskProfile): string {
  const lines: string[] = ['{', `"schema": ${JSON.stringify(p.schema)},`, `"build": ${JSON.stringify(p.build)},`, `"size": ${p.size},`, `"sources": ${JSON.stringify(p.sources)},`, '"categories": {'];
  TASK_CATEGORIES.forEach((c, ci) => {
    const cat = p.categories[c];
    lines.push(`${JSON.stringify(c)}: {"samples": ${cat.samples}, "words": {`);
    const keys = Object.keys(cat.words);
    keys.forEach((k, i) => lines.push(`${JSON.stringify(k)}: ${JSON.stringify(cat.words[k])}${i < keys.length - 1 ? ',' : ''}`));
    lines.push(`}}${ci < TASK_CATEGORIES.length - 1 ? ',' : ''}`);
  });
  lines.push('}', '}');
  return `${lines.join('\n')}\n`;
}
