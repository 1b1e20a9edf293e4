// Graph-edge candidates (SigGraph, NDSS 2011; DeepMem, CCS 2018): what always holds
// where a positive's pointers lead. Two kinds of site:
//
// - the pointer itself (no `from`): it points back into the object (`cpus_ptr ==
//   &self.cpus_mask`, an empty list head `children.next == &self.children`), or at
//   another positive at a fixed member (`real_parent` → a task_struct, `tasks.next` →
//   another task's `tasks`). Up to two alternatives may cover the positives between
//   them (a `children` list is empty, or leads to a child's `sibling`).
// - a word at the pointer's target (`from` + `read`): a constant (STACK_END_MAGIC at
//   the stack base), the candidate's own field (`thread_pid->numbers[0].nr == pid`;
//   only fields whose value varies between objects: at least 3 distinct values, none
//   on more than half the positives),
//   a back-pointer (`mm->owner`, `pid->tasks[0].first == &self.pid_links[0]`), or
//   another positive. It must hold on every positive whose pointer can be followed.
//
// Also the page-table self-reference of a physical DTB field (Windows
// DirectoryTableBase: a PML4 entry maps the PML4 itself).
//
// The search is bounded: pointer-width slots holding a kernel pointer in at least a
// fifth of the positives (function pointers skipped); at each target, the first
// min(sizeof(pointee) (with one element of a trailing flexible array), 4096) bytes for
// struct pointees, 64 bytes otherwise, every
// 4-byte word and 8-byte aligned word; candidates come from the first readable
// positives (SEEDS) and are intersected over all (a pointer stops being read as soon
// as none of its sites is left); at most MAX_SITES_PER_POINTER survive per pointer.
import { phys } from '../addr.js';
import { InvalidAddressError } from '../errors.js';
import type { Width } from '../signatures/program.js';
import type { Layout } from '../types/layout.js';
import { leafAt, memberAt, pointeeType, readableSize } from './member-at.js';
import { isKernelPointer, type PointerShape } from './pointer-shape.js';
import type { Slot } from './slots.js';
import type { TrainingImage } from './training-image.js';
import type { TruthObject } from './truth-file.js';
import { readValue } from './value-summary.js';
import type { WindowSet } from './windows.js';

export const MAX_SITES_PER_POINTER = 6;
/** Positives a pointer's candidate sites are drawn from (then checked on all). */
const SEEDS = 3;
const UNTYPED_WINDOW = 64;
const MAX_WINDOW = 4096;

export type ExpectKey =
  | { kind: 'value'; value: bigint }
  | { kind: 'field'; slot: Slot }
  | { kind: 'self'; member: string; delta: number }
  | { kind: 'matches'; member: string; delta: number };

export interface EdgeSite {
  /** The pointer followed; undefined for a check on the pointer's own value. */
  from?: Slot;
  /** No `from`: the slot read. With `from`: the word at target + d. */
  self?: Slot;
  d: number;
  width: Width;
  /** Typed read at the target, when the pointee type names the word. */
  typed?: { type: string; field: string };
  expect: ExpectKey[];
  special?: 'pml4-self-ref';
}

export interface PositiveSet {
  windows: WindowSet;
  /** Truth object per window. */
  objects: readonly TruthObject[];
  images: readonly TrainingImage[];
}

export interface SiteContext {
  layout: Layout;
  type: string;
  objectSize: number;
  shape: PointerShape;
  pointerSlots: readonly Slot[];
  /** Slots whose value is the same on every positive of an image (a field expectation on them says nothing). */
  constantSlots: ReadonlySet<Slot>;
  allSlots: readonly Slot[];
}

/** memberAt of the scanned type, memoised (the same deltas come up for every positive). */
function memberOf(ctx: SiteContext, delta: number): string | undefined {
  let memo = memberMemo.get(ctx);
  if (!memo) memberMemo.set(ctx, (memo = new Map()));
  if (!memo.has(delta)) memo.set(delta, memberAt(ctx.layout, ctx.type, delta));
  return memo.get(delta);
}
const memberMemo = new WeakMap<SiteContext, Map<number, string | undefined>>();

const keyOf = (e: ExpectKey): string =>
  e.kind === 'value' ? `v${e.value}` : e.kind === 'field' ? `f${e.slot.offset}:${e.slot.width}` : `${e.kind[0]}${e.delta}`;

/** Positives of each image sorted by va, for "is this a pointer into a positive?". */
class PositiveIndex {
  private readonly byImage = new Map<number, { va: bigint; i: number }[]>();

  constructor(p: PositiveSet) {
    for (let i = 0; i < p.windows.count; i += 1) {
      const img = p.windows.image[i]!;
      let list = this.byImage.get(img);
      if (!list) this.byImage.set(img, (list = []));
      list.push({ va: p.objects[i]!.va, i });
    }
    for (const l of this.byImage.values()) l.sort((a, b) => (a.va < b.va ? -1 : a.va > b.va ? 1 : 0));
  }

  /** The positive whose object holds `v`, and the offset inside it. */
  find(image: number, v: bigint, size: number): { i: number; delta: number } | undefined {
    const l = this.byImage.get(image);
    if (!l) return undefined;
    let lo = 0;
    let hi = l.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (l[mid]!.va <= v) lo = mid + 1;
      else hi = mid - 1;
    }
    const hit = l[hi];
    if (!hit) return undefined;
    const delta = v - hit.va;
    return delta < BigInt(size) ? { i: hit.i, delta: Number(delta) } : undefined;
  }
}

function valueAt(w: WindowSet, i: number, slot: Slot): bigint {
  return readValue(w.view, i * w.size + slot.offset, slot.width);
}

/** Checks on a pointer's own value: self-pointers and pointers to other positives. */
function selfSites(p: PositiveSet, ctx: SiteContext, index: PositiveIndex): EdgeSite[] {
  const out: EdgeSite[] = [];
  const n = p.windows.count;
  for (const slot of ctx.pointerSlots) {
    const perPositive: Map<string, ExpectKey>[] = [];
    const nonNull: number[] = [];
    for (let i = 0; i < n; i += 1) {
      const m = new Map<string, ExpectKey>();
      perPositive.push(m);
      const v = valueAt(p.windows, i, slot);
      if (v === 0n) continue;
      nonNull.push(i);
      const own = v - p.objects[i]!.va;
      if (own >= 0n && own < BigInt(ctx.objectSize)) {
        const member = memberOf(ctx, Number(own));
        if (member !== undefined) m.set(`s${own}`, { kind: 'self', member, delta: Number(own) });
      }
      const other = index.find(p.windows.image[i]!, v, ctx.objectSize);
      if (other && other.i !== i) {
        const member = memberOf(ctx, other.delta);
        if (member !== undefined) m.set(`m${other.delta}`, { kind: 'matches', member, delta: other.delta });
      }
    }
    if (nonNull.length < Math.max(2, n / 2)) continue;
    const count = new Map<string, { e: ExpectKey; n: number }>();
    for (const i of nonNull) for (const [k, e] of perPositive[i]!) count.set(k, { e, n: (count.get(k)?.n ?? 0) + 1 });
    const ranked = [...count.entries()].sort((a, b) => b[1].n - a[1].n);
    const covers = (keys: string[]): boolean => nonNull.every((i) => keys.some((k) => perPositive[i]!.has(k)));
    let chosen: string[] | undefined;
    if (ranked[0] && covers([ranked[0][0]])) chosen = [ranked[0][0]];
    for (let a = 0; chosen === undefined && a < Math.min(ranked.length, 8); a += 1) {
      for (let b = a + 1; b < Math.min(ranked.length, 8); b += 1) {
        if (covers([ranked[a]![0], ranked[b]![0]])) {
          chosen = [ranked[a]![0], ranked[b]![0]];
          break;
        }
      }
    }
    if (chosen) out.push({ self: slot, d: 0, width: slot.width, expect: chosen.map((k) => count.get(k)!.e) });
  }
  return out;
}

interface Pending {
  d: number;
  width: Width;
  keys: Map<string, ExpectKey>;
}

function windowFor(ctx: SiteContext, slot: Slot): { size: number; type?: string } {
  const t = pointeeType(ctx.layout, slot.leaf.pointee);
  if (t === undefined) return { size: UNTYPED_WINDOW };
  return { size: Math.max(8, Math.min(MAX_WINDOW, readableSize(ctx.layout, t))), type: t };
}

/** The words of a target window as site candidates, from one positive. */
function seedSites(bytes: Uint8Array, i: number, p: PositiveSet, ctx: SiteContext, index: PositiveIndex, slotsByValue: Map<string, Slot[]>, from: Slot, constants: boolean): Pending[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Pending[] = [];
  const va = p.objects[i]!.va;
  for (let d = 0; d + 4 <= bytes.length; d += 4) {
    for (const width of (d % 8 === 0 && d + 8 <= bytes.length ? [8, 4] : [4]) as Width[]) {
      const x = readValue(view, d, width);
      if (x === 0n) continue;
      const keys = new Map<string, ExpectKey>();
      const add = (e: ExpectKey): void => void keys.set(keyOf(e), e);
      if (constants) add({ kind: 'value', value: x });
      for (const s of slotsByValue.get(`${width}:${x}`) ?? []) if (s !== from) add({ kind: 'field', slot: s });
      if (width === ctx.shape.width) {
        const own = x - va;
        if (own >= 0n && own < BigInt(ctx.objectSize)) {
          const member = memberOf(ctx, Number(own));
          if (member !== undefined) add({ kind: 'self', member, delta: Number(own) });
        }
        const other = index.find(p.windows.image[i]!, x, ctx.objectSize);
        if (other && other.i !== i) {
          const member = memberOf(ctx, other.delta);
          if (member !== undefined) add({ kind: 'matches', member, delta: other.delta });
        }
      }
      out.push({ d, width, keys });
    }
  }
  return out;
}

function holds(e: ExpectKey, x: bigint, i: number, p: PositiveSet, ctx: SiteContext, index: PositiveIndex): boolean {
  switch (e.kind) {
    case 'value':
      return x === e.value;
    case 'field':
      return x === valueAt(p.windows, i, e.slot);
    case 'self':
      return x === p.objects[i]!.va + BigInt(e.delta);
    case 'matches': {
      const other = index.find(p.windows.image[i]!, x, ctx.objectSize);
      return other !== undefined && other.i !== i && other.delta === e.delta;
    }
  }
}

/** At least 3 distinct values over the positives, none on more than half of them. */
function diverse(p: PositiveSet, among: readonly number[], slot: Slot): boolean {
  const counts = new Map<bigint, number>();
  for (const i of among) {
    const v = valueAt(p.windows, i, slot);
    counts.set(v, (counts.get(v) ?? 0) + 1);
  }
  return counts.size >= 3 && Math.max(...counts.values()) * 2 <= among.length;
}

/** Preference among expectations at one site: structure first, constants last. */
function rank(e: ExpectKey): number {
  return e.kind === 'self' ? 0 : e.kind === 'field' ? 1 : e.kind === 'matches' ? 2 : 3;
}

function readTarget(img: TrainingImage, ptr: bigint, start: number, length: number): Uint8Array | undefined {
  try {
    return img.space.readVirt(ptr + BigInt(start), length);
  } catch (err) {
    if (err instanceof InvalidAddressError) return undefined;
    throw err;
  }
}

/** Words at pointer targets that hold on every positive whose pointer can be followed. */
function targetSites(p: PositiveSet, ctx: SiteContext, index: PositiveIndex): EdgeSite[] {
  const out: EdgeSite[] = [];
  const n = p.windows.count;
  const byValueOf = new Map<number, Map<string, Slot[]>>();
  const informative = ctx.allSlots.filter((s) => !ctx.constantSlots.has(s) && s.byte === undefined && s.width === s.leaf.size && (s.width === 4 || s.width === 8));
  for (const from of ctx.pointerSlots) {
    if (from.leaf.pointee === 'func') continue;
    const win = windowFor(ctx, from);
    // Seed candidate sites from the first SEEDS positives whose pointer can be
    // followed (a zero word on one, such as init_task's pid, hides nothing then).
    const merged = new Map<string, Pending>();
    const followed: number[] = [];
    for (let i = 0; i < n; i += 1) if (isKernelPointer(ctx.shape, valueAt(p.windows, i, from))) followed.push(i);
    let seeds = 0;
    for (const i of followed) {
      if (seeds >= SEEDS) break;
      const ptr = valueAt(p.windows, i, from);
      const img = p.images[p.windows.image[i]!]!;
      const bytes = readTarget(img, ptr, 0, win.size) ?? readTarget(img, ptr, 0, Math.min(win.size, 4096 - Number(ptr % 4096n)));
      if (bytes === undefined) continue;
      seeds += 1;
      let byValue = byValueOf.get(i);
      if (!byValue) {
        byValueOf.set(i, (byValue = new Map()));
        for (const s of informative) {
          const k = `${s.width}:${valueAt(p.windows, i, s)}`;
          const l = byValue.get(k);
          if (l) l.push(s);
          else byValue.set(k, [s]);
        }
      }
      // Constants inside another object of the scanned type repeat the value signature; skip them.
      for (const site of seedSites(bytes, i, p, ctx, index, byValue, from, win.type !== ctx.type)) {
        const key = `${site.d}:${site.width}`;
        const have = merged.get(key);
        if (!have) merged.set(key, site);
        else for (const [k, e] of site.keys) have.keys.set(k, e);
      }
    }
    let pending: Pending[] | undefined = seeds === 0 ? undefined : [...merged.values()].sort((x, y) => x.d - y.d);
    // Keep what holds on every positive whose pointer can be followed (the seeds included).
    for (const i of followed) {
      if (pending === undefined || pending.length === 0) break;
      const ptr = valueAt(p.windows, i, from);
      const img = p.images[p.windows.image[i]!]!;
      const lo = pending[0]!.d;
      const hi = Math.max(...pending.map((x) => x.d + x.width));
      const bytes = readTarget(img, ptr, lo, hi - lo);
      if (bytes === undefined) continue; // unreadable here: does not count against the site
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      for (const x of pending) {
        const v = readValue(view, x.d - lo, x.width);
        for (const [k, e] of x.keys) if (!holds(e, v, i, p, ctx, index)) x.keys.delete(k);
      }
      pending = pending.filter((x) => x.keys.size > 0);
    }
    if (!pending) continue;
    // A field equality means something only when the field's value varies between
    // objects (-1 == -1 on every task is a coincidence of two constants).
    for (const x of pending) for (const [k, e] of x.keys) if (e.kind === 'field' && !diverse(p, followed, e.slot)) x.keys.delete(k);
    pending = pending.filter((x) => x.keys.size > 0);
    // An 8-byte constant or field makes the 4-byte halves inside it redundant.
    const wide = new Set(pending.filter((s) => s.width === 8).map((s) => s.d));
    const sites = pending
      .filter((s) => !(s.width === 4 && (wide.has(s.d) || wide.has(s.d - 4))))
      .map((s) => ({ s, e: [...s.keys.values()].sort((a, b) => rank(a) - rank(b))[0]! }))
      .sort((a, b) => rank(a.e) - rank(b.e) || a.s.d - b.s.d)
      .slice(0, MAX_SITES_PER_POINTER);
    for (const { s, e } of sites) {
      const field = win.type === undefined ? undefined : leafAt(ctx.layout, win.type, s.d, s.width);
      const site: EdgeSite = { from, d: s.d, width: s.width, expect: [e] };
      if (win.type !== undefined && field !== undefined) site.typed = { type: win.type, field };
      out.push(site);
    }
  }
  return out;
}

/** Bits 12..51 of an x86-64 paging entry (Intel SDM 3A, 4.5). */
const FRAME = 0x000f_ffff_ffff_f000n;

function pml4SelfRef(img: TrainingImage, dtb: bigint): boolean {
  const base = dtb & FRAME;
  let page: Uint8Array;
  try {
    page = img.physical.readPhys(phys(base), 4096);
  } catch (err) {
    if (err instanceof InvalidAddressError) return false;
    throw err;
  }
  const view = new DataView(page.buffer, page.byteOffset, 4096);
  for (let k = 0; k < 512; k += 1) {
    const e = view.getBigUint64(k * 8, true);
    if ((e & 1n) === 1n && (e & FRAME) === base) return true;
  }
  return false;
}

/** 8-byte fields holding, on every positive, the physical address of a self-mapping PML4. */
function dtbSites(p: PositiveSet, ctx: SiteContext): EdgeSite[] {
  if (ctx.shape.width !== 8) return [];
  const out: EdgeSite[] = [];
  for (const slot of ctx.allSlots) {
    if (slot.width !== 8 || slot.byte !== undefined) continue;
    let ok = p.windows.count > 0;
    for (let i = 0; ok && i < p.windows.count; i += 1) {
      const v = valueAt(p.windows, i, slot);
      ok = v >= 0x1000n && v < 2n ** 52n && pml4SelfRef(p.images[p.windows.image[i]!]!, v);
    }
    if (ok) out.push({ from: slot, d: 0, width: 8, expect: [], special: 'pml4-self-ref' });
  }
  return out;
}

export function findEdgeSites(p: PositiveSet, ctx: SiteContext): EdgeSite[] {
  const index = new PositiveIndex(p);
  return [...selfSites(p, ctx, index), ...targetSites(p, ctx, index), ...dtbSites(p, ctx)];
}
