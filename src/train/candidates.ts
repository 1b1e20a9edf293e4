// All candidate value invariants of a training set (./invariants.ts for the families),
// each with its support, stability across images, share of exited objects it holds
// on, and whether it may be a required constraint: not on a field an attacker is
// known to rewrite (./attacker-fields.ts), robust by the fuzz campaign when one is
// given (./robustness.ts), stable, and with support 1.
import type { Constraint } from '../signatures/program.js';
import { type AttackerField, attackerEntriesFor } from './attacker-fields.js';
import { fastTest } from './fast-eval.js';
import { type Candidate, FAMILIES, type InferOptions, PER_BOOT_FAMILIES, costOf, inferFamily, inferString, isPerBoot, specOf, unstableImages } from './invariants.js';
import type { PointerShape } from './pointer-shape.js';
import { type RobustnessFile, verdictOfPaths } from './robustness.js';
import type { Slot, SlotSet } from './slots.js';
import { type StringSummary, type Summary, addValue, emptySummary, mergeSummaries, printableLength, readValue } from './value-summary.js';
import type { WindowSet } from './windows.js';

export interface CandidateInput {
  os: 'linux' | 'windows';
  type: string;
  slots: SlotSet;
  positives: WindowSet;
  exited: WindowSet;
  /**
   * Exited objects whose residue is intact (TRUTH.md): families are also learned on the
   * positives and these together, so a form that admits them (kptr_or_null where they
   * hold NULL, a wider range) is a candidate beside the positives-only one.
   */
  exitedKeep?: WindowSet;
  /** Image ids, indexed like WindowSet.image. */
  imageIds: readonly string[];
  shape: PointerShape;
  attacker: readonly AttackerField[];
  robustness?: RobustnessFile;
  /** Per image (as WindowSet.image): the direct map's VA range when known (Linux), to tell direct-map pointers apart. */
  directMaps?: readonly ({ base: bigint; end: bigint } | undefined)[];
}

export interface PointerClassRow {
  path: string;
  /**
   * Positives per class: null, user, direct-map (this image's direct map of its RAM),
   * kaslr-data (the rest of the KASLR window: vmalloc, vmemmap), kernel-image, modules,
   * kernel (elsewhere in the kernel half), other (not a pointer of this shape).
   */
  classes: Record<string, number>;
}

export interface CandidateSet {
  candidates: Candidate[];
  pointerClasses: PointerClassRow[];
  /** Candidates by first reason they may not be required ('eligible' for the others), for the report. */
  excludedCounts: Record<string, number>;
  /** Slots whose value is the same on every object of an image (per boot, or constant). */
  perImageConstant: Set<Slot>;
}

function slotSummaries(slot: Slot, w: WindowSet, images: number, shape: PointerShape): Summary[] {
  const out = Array.from({ length: images }, () => emptySummary(slot.width));
  for (let i = 0; i < w.count; i += 1) addValue(out[w.image[i]!]!, readValue(w.view, i * w.size + slot.offset, slot.width), slot.width, shape);
  return out;
}

/** Add the values of `w` at the slot to per-image summaries (copies; `per` is left alone). */
function withValues(per: readonly Summary[], slot: Slot, w: WindowSet, shape: PointerShape): Summary[] {
  const out = per.map((s) => mergeSummaries([s], slot.width));
  for (let i = 0; i < w.count; i += 1) addValue(out[w.image[i]!]!, readValue(w.view, i * w.size + slot.offset, slot.width), slot.width, shape);
  return out;
}

function shareHolding(c: Constraint, w: WindowSet): number | undefined {
  if (w.count === 0) return undefined;
  const t = fastTest(c);
  let n = 0;
  for (let i = 0; i < w.count; i += 1) if (t(w.view, i * w.size)) n += 1;
  return n / w.count;
}

function pointerClass(v: bigint, shape: PointerShape, directMap: { base: bigint; end: bigint } | undefined): string {
  if (v === 0n) return 'null';
  if (directMap !== undefined && v >= directMap.base && v < directMap.end) return 'direct-map';
  let best: string | undefined;
  let bestSpan = -1n;
  for (const r of shape.regions) {
    if (v < r.min || v > r.max) continue;
    if (best === undefined || r.max - r.min < bestSpan) {
      best = r.name;
      bestSpan = r.max - r.min;
    }
  }
  return best ?? 'other';
}

export function buildCandidates(input: CandidateInput): CandidateSet {
  const { slots, positives, exited, shape } = input;
  const nImages = input.imageIds.length;
  const candidates: Candidate[] = [];
  const pointerClasses: PointerClassRow[] = [];
  const excludedCounts: Record<string, number> = {};
  const perImageConstant = new Set<Slot>();
  const attackerBits = new Map<number, bigint>();
  const attackerOf = new Map<Slot, AttackerField[]>();
  for (const slot of slots.slots) {
    const entries = attackerEntriesFor(input.attacker, input.os, input.type, [slot.path, ...slot.aliases]);
    attackerOf.set(slot, entries);
    if (entries.length > 0 && entries.every((e) => e.bits !== undefined)) {
      attackerBits.set(slot.offset, entries.reduce((b, e) => b | e.bits!, 0n));
    }
  }
  const opt: InferOptions = { shape, attackerBits };

  const exclusion = (paths: string[], entries: AttackerField[], unstable: number[], support: number, bitsOnly: boolean): { excluded?: string; robustness?: Candidate['robustness'] } => {
    const out: { excluded?: string; robustness?: Candidate['robustness'] } = {};
    if (input.robustness) out.robustness = verdictOfPaths(input.robustness, paths);
    const reasons: string[] = [];
    if (support < 1) reasons.push('support below 1');
    if (entries.length > 0 && !bitsOnly) reasons.push(`attacker-controlled (${entries[0]!.field}: ${entries[0]!.source})`);
    if (out.robustness !== undefined && out.robustness !== 'robust') reasons.push(`fuzz verdict ${out.robustness}`);
    if (unstable.length > 0) reasons.push(`did not carry over to ${unstable.map((i) => input.imageIds[i]).join(', ')}`);
    if (reasons.length > 0) out.excluded = reasons.join('; ');
    return out;
  };

  const push = (c: Omit<Candidate, 'id' | 'cost' | 'simd' | 'exitedSupport'>): void => {
    const cs = costOf(c.constraint, shape.width);
    const ex = shareHolding(c.constraint, exited);
    const cand: Candidate = { ...c, id: candidates.length, ...cs };
    if (ex !== undefined) cand.exitedSupport = ex;
    candidates.push(cand);
    const first = c.excluded?.split(';')[0];
    const key = first === undefined ? 'eligible' : first.startsWith('attacker') ? 'attacker-controlled' : first.startsWith('did not carry over') ? 'did not carry over to a held-out image' : first;
    excludedCounts[key] = (excludedCounts[key] ?? 0) + 1;
  };

  for (const slot of slots.slots) {
    const per = slotSummaries(slot, positives, nImages, shape);
    const entries = attackerOf.get(slot)!;
    const paths = [slot.path, ...slot.aliases];
    const perBoot = isPerBoot(per);
    if (per.every((x) => x.n === 0 || x.min === x.max)) perImageConstant.add(slot);
    for (const family of FAMILIES) {
      if (family === 'string' || (perBoot && !PER_BOOT_FAMILIES.has(family))) continue;
      const all = per.reduce((acc, s) => acc + s.n, 0) === 0 ? undefined : inferFamily(family, mergeSummaries(per, slot.width), slot, opt);
      if (all === undefined) continue;
      const unstable = unstableImages(family, per, slot, opt);
      // A mask with the attacker's bits cleared is allowed on a field only those bits of are the attacker's.
      const bitsOnly = family === 'mask' && attackerBits.has(slot.offset);
      push({
        family,
        slot,
        paths,
        spec: specOf(all.c, slot),
        constraint: all.c,
        support: 1,
        stable: unstable.length === 0,
        unstableOn: unstable.map((i) => input.imageIds[i]!),
        note: all.note,
        ...exclusion(paths, entries, unstable, 1, bitsOnly),
      });
    }
    // The same families learned with the intact exited objects' values added: a form
    // that admits them too (kptr_or_null where an exited object holds NULL, a wider
    // range). Support on the positives stays 1 (their values are in the summary); the
    // selection (./select.ts) prefers such forms when they cost no selectivity.
    const keep = input.exitedKeep;
    if (keep !== undefined && keep.count > 0) {
      const seen = new Set(candidates.filter((c) => c.slot === slot).map((c) => JSON.stringify(c.spec)));
      const perAdmit = withValues(per, slot, keep, shape);
      for (const family of FAMILIES) {
        if (family === 'string' || (perBoot && !PER_BOOT_FAMILIES.has(family))) continue;
        const all = inferFamily(family, mergeSummaries(perAdmit, slot.width), slot, opt);
        if (all === undefined) continue;
        const spec = specOf(all.c, slot);
        if (seen.has(JSON.stringify(spec))) continue;
        seen.add(JSON.stringify(spec));
        const unstable = unstableImages(family, perAdmit, slot, opt);
        const bitsOnly = family === 'mask' && attackerBits.has(slot.offset);
        push({
          family,
          slot,
          paths,
          spec,
          constraint: all.c,
          support: 1,
          stable: unstable.length === 0,
          unstableOn: unstable.map((i) => input.imageIds[i]!),
          note: `${all.note} (learned with the intact exited objects)`,
          ...exclusion(paths, entries, unstable, 1, bitsOnly),
        });
      }
    }
    if (slot.leaf.kind === 'pointer' && slot.width === shape.width) {
      const classes: Record<string, number> = {};
      let kernel = 0;
      for (let i = 0; i < positives.count; i += 1) {
        const v = readValue(positives.view, i * positives.size + slot.offset, slot.width);
        const k = pointerClass(v, shape, input.directMaps?.[positives.image[i]!]);
        classes[k] = (classes[k] ?? 0) + 1;
        if (k !== 'null' && k !== 'user' && k !== 'other') kernel += 1;
      }
      pointerClasses.push({ path: slot.path, classes });
      const support = positives.count === 0 ? 0 : kernel / positives.count;
      // A pointer most positives hold but some do not: reported, never chosen.
      if (support >= 0.5 && support < 1 && (classes['null'] ?? 0) + kernel < positives.count) {
        const c: Constraint = { kind: 'kptr', offset: slot.offset, mode: shape.mode };
        push({ family: 'kptr', slot, paths, spec: specOf(c, slot), constraint: c, support, stable: true, unstableOn: [], note: `kernel pointer in ${kernel} of ${positives.count} positives`, ...exclusion(paths, entries, [], support, false) });
      }
    }
  }

  for (const str of slots.strings) {
    const per: StringSummary[] = Array.from({ length: nImages }, () => ({ n: 0, valid: 0, minLength: Number.MAX_SAFE_INTEGER }));
    for (let i = 0; i < positives.count; i += 1) {
      const s = per[positives.image[i]!]!;
      const len = printableLength(positives.view, i * positives.size + str.offset, str.size);
      s.n += 1;
      if (len >= 0) {
        s.valid += 1;
        s.minLength = Math.min(s.minLength, len);
      }
    }
    const inf = inferString(str, per);
    if (inf === undefined || inf.support < 0.5) continue;
    const entries = attackerEntriesFor(input.attacker, input.os, input.type, [str.path]);
    push({
      family: 'string',
      str,
      paths: [str.path],
      spec: specOf(inf.c, str),
      constraint: inf.c,
      support: inf.support,
      stable: inf.unstable.length === 0,
      unstableOn: inf.unstable.map((i) => input.imageIds[i]!),
      note: inf.note,
      ...exclusion([str.path], entries, inf.unstable, inf.support, false),
    });
  }
  return { candidates, pointerClasses, excludedCounts, perImageConstant };
}
