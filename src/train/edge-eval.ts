// Graph edges from sites (./edge-sites.ts): written in the signature file's form,
// evaluated on every positive and on negatives with the scanner's own edge evaluator
// (../signatures/edges.ts evaluateEdge), and chosen:
//
// - required: holds on every training positive, reads no field an attacker is known
//   to rewrite (and, with --robustness, only robust fields), and holds on at most
//   REQUIRED_MAX_NEG_RATE of the negatives it applies to; those that also hold on every
//   exited object are taken first (a failed required edge rejects the hit, and the
//   exit path clears pointers such as files, mm and cred). A candidate whose required
//   edge fails is rejected.
// - weighted (weight 1): holds on every positive whose pointer is non-null and
//   followable, on at least half of all positives, and on at most
//   WEIGHTED_MAX_NEG_RATE of the negatives it applies to.
// A negative "applies" when its pointer is a kernel pointer (or, without `from`, its
// field is non-zero): the edge rate is conditional on the candidate looking like an
// object, which is when the graph check runs. Most selective first, by the rate
// with one pseudo-count each way ((held + 1) / (applicable + 2)); at most MAX_REQUIRED
// required and MAX_EDGES in all, at most two per pointer (one for target reads), and per class at most
// CLASS_CAP (REQUIRED_PER_CLASS required): `inward` edges only look inside the object
// (self-pointers, reads through self-linked list heads), `pointer` edges check where a
// pointer goes (another object of the type), `target` edges read a word at a
// pointer's target. Without the caps the many inward checks, which apply to more
// negatives and so look more selective, would crowd out the edges into other objects.
//
// Scoring (../signatures/edges.ts judge): score = weight of edges that held / total
// weight; a hit is accepted when every required edge held and score >= minScore,
// minScore = (lowest score of a training positive) - SCORE_MARGIN, rounded down to
// 0.05: room for a few weighted edges an attacker breaks on a hidden object.
import { type PhysAddr, phys } from '../addr.js';
import { InvalidAddressError, SignatureError } from '../errors.js';
import type { EdgeSpec, SignatureDoc } from '../signatures/format.js';
import { type EdgeContext, type EdgeOutcome, evaluateEdge, judge } from '../signatures/edges.js';
import { type ResolvedEdge, type Signature, resolveSignature } from '../signatures/load.js';
import type { Program } from '../signatures/program.js';
import { programSpan } from '../signatures/program.js';
import { evaluateAt } from '../signatures/reference.js';
import type { Layout } from '../types/layout.js';
import { type AttackerField, attackerEntriesFor } from './attacker-fields.js';
import type { EdgeSite, ExpectKey, PositiveSet } from './edge-sites.js';
import { isKernelPointer, type PointerShape } from './pointer-shape.js';
import { type RobustnessFile, type RobustnessVerdict, verdictOfPaths } from './robustness.js';
import type { TrainingImage } from './training-image.js';
import { readValue } from './value-summary.js';
import { type WindowSet, windowBytes } from './windows.js';

export const REQUIRED_MAX_NEG_RATE = 0.1;
export const WEIGHTED_MAX_NEG_RATE = 0.5;
export const MAX_REQUIRED = 4;
export const MAX_EDGES = 12;
/** At most this many edges of each class (see edgeClass), so that the graph reaches other objects. */
export const CLASS_CAP = { inward: 3, pointer: 3, target: 6 } as const;
/** At most this many edges per pointer followed (one target word each, so the graph spreads over pointers). */
const PER_POINTER = { inward: 2, pointer: 2, target: 1 } as const;
/** At most this many required edges of one class. */
export const REQUIRED_PER_CLASS = 2;
export const SCORE_MARGIN = 0.25;
/** Fewer applicable negatives than this and an edge's negative rate is unknown. */
const MIN_NEGATIVES = 20;

export interface EdgeCandidate {
  site: EdgeSite;
  spec: EdgeSpec;
  /** Fields of the scanned object the edge reads. */
  reads: string[];
  attacker?: string;
  robustness?: RobustnessVerdict;
  n: number;
  held: number;
  nulls: number;
  unreadable: number;
  support: number;
  /** Share of positives holding it among those whose pointer is non-null and followable. */
  followedSupport: number;
  negApplicable: number;
  negHeld: number;
  negativeRate?: number;
  exitedHeld: number;
  exitedN: number;
  /**
   * The edge only looks inside the object itself: a self-pointer check, or a read
   * through a pointer that points back into the object on every positive.
   */
  inward: boolean;
  role?: 'required' | 'weighted';
}

const hex = (v: bigint): string => `0x${v.toString(16)}`;

function expectSpec(e: ExpectKey): NonNullable<EdgeSpec['expect']>[number] {
  switch (e.kind) {
    case 'value':
      return { value: hex(e.value) };
    case 'field':
      return { field: e.slot.path };
    case 'self':
      return { selfAddress: e.member };
    case 'matches':
      return { matchesSignature: e.member };
  }
}

function expectLabel(e: ExpectKey, type: string): string {
  switch (e.kind) {
    case 'value':
      return `== ${hex(e.value)}`;
    case 'field':
      return `== ${e.slot.path}`;
    case 'self':
      return `== &self${e.member ? `.${e.member}` : ''}`;
    case 'matches':
      return `-> ${type}${e.member ? `.${e.member}` : ''}`;
  }
}

/** The site in the signature file's form, and the member paths of the object it reads. */
export function edgeSpecOf(site: EdgeSite, type: string): { spec: EdgeSpec; reads: string[] } {
  if (site.special) {
    return { spec: { name: `${site.from!.path} pml4-self-ref`, from: site.from!.path, space: 'physical', special: site.special }, reads: [site.from!.path] };
  }
  const expect = site.expect.map(expectSpec);
  const fieldReads = site.expect.filter((e) => e.kind === 'field').map((e) => (e as { slot: { path: string } }).slot.path);
  const label = site.expect.map((e) => expectLabel(e, type)).join(' | ');
  if (site.from === undefined) {
    const slot = site.self!;
    return { spec: { name: `${slot.path} ${label}`, read: { type, field: slot.path }, expect }, reads: [slot.path, ...fieldReads] };
  }
  const read = site.typed ?? { offset: site.d, width: site.width };
  const readName = site.typed ? site.typed.field : `+${site.d}`;
  return { spec: { name: `${site.from.path}->${readName} ${label}`, from: site.from.path, read, expect }, reads: [site.from.path, ...fieldReads] };
}

export interface EdgeEvalInput {
  layout: Layout;
  type: string;
  os: 'linux' | 'windows';
  shape: PointerShape;
  /** The signature so far (value constraints chosen); edges are added to a copy. */
  doc: SignatureDoc;
  program: Program;
  positives: PositiveSet;
  exited: PositiveSet;
  /** Negative windows (random, hard and decoys) and the image each came from. */
  negatives: WindowSet;
  images: readonly TrainingImage[];
  attacker: readonly AttackerField[];
  robustness?: RobustnessFile;
}

/** Resolve each edge alone, dropping any the loader refuses (it names the reason in the log). */
function resolveEdges(input: EdgeEvalInput, specs: EdgeSpec[], log: (s: string) => void): (ResolvedEdge | undefined)[] {
  const resolveOne = (e: EdgeSpec): ResolvedEdge | undefined => {
    try {
      return resolveSignature({ ...input.doc, edges: [e] }, '<kcarve train>', { layout: input.layout }).edges[0];
    } catch (err) {
      if (err instanceof SignatureError) {
        log(`edge ${e.name} left out: ${err.message}`);
        return undefined;
      }
      throw err;
    }
  };
  return specs.map(resolveOne);
}

function contextFor(img: TrainingImage, program: Program, cache: Map<string, boolean>): EdgeContext {
  const span = programSpan(program);
  return {
    space: img.space,
    matchesAt(pa: PhysAddr): boolean {
      const key = `${img.id}:${pa}`;
      const hit = cache.get(key);
      if (hit !== undefined) return hit;
      let ok = false;
      try {
        const bytes = img.physical.readPhys(pa, span);
        ok = evaluateAt(bytes, 0, bytes.length, program);
      } catch (err) {
        if (!(err instanceof InvalidAddressError)) throw err;
      }
      cache.set(key, ok);
      return ok;
    },
  };
}

/** Is the edge's input there at all for these bytes (a non-null kernel pointer, a non-zero field)? */
function applies(edge: ResolvedEdge, bytes: Uint8Array, shape: PointerShape): 'null' | 'yes' | 'no' {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const at = edge.from ?? edge.read!;
  const v = readValue(view, at.offset, at.width);
  if (v === 0n) return 'null';
  if (edge.special) return v >= 0x1000n && v < 2n ** 52n ? 'yes' : 'no';
  if (edge.from && edge.space === 'virtual') return isKernelPointer(shape, v) ? 'yes' : 'no';
  return 'yes';
}

export function evaluateEdgeCandidates(input: EdgeEvalInput, sites: EdgeSite[], log: (s: string) => void = () => {}): EdgeCandidate[] {
  const specs = sites.map((s) => edgeSpecOf(s, input.type));
  // Names are unique in a signature.
  const seen = new Map<string, number>();
  for (const s of specs) {
    const k = (seen.get(s.spec.name) ?? 0) + 1;
    seen.set(s.spec.name, k);
    if (k > 1) s.spec.name = `${s.spec.name} #${k}`;
  }
  const resolved = resolveEdges(input, specs.map((s) => s.spec), log);
  // Pointers that point back into the object on every positive (a self-linked list head).
  const selfPointing = new Set(sites.filter((x) => x.from === undefined && x.expect.every((e) => e.kind === 'self')).map((x) => x.self!));
  const cache = new Map<string, boolean>();
  const ctxs = input.images.map((img) => contextFor(img, input.program, cache));
  const out: EdgeCandidate[] = [];
  specs.forEach(({ spec, reads }, k) => {
    const edge = resolved[k];
    if (!edge) return;
    const site = sites[k]!;
    const inward = site.from === undefined ? site.expect.every((e) => e.kind === 'self') : selfPointing.has(site.from);
    const c: EdgeCandidate = { site, spec, reads, n: 0, held: 0, nulls: 0, unreadable: 0, support: 0, followedSupport: 0, negApplicable: 0, negHeld: 0, exitedHeld: 0, exitedN: 0, inward };
    const entries = attackerEntriesFor(input.attacker, input.os, input.type, reads);
    if (entries.length > 0) c.attacker = `${entries[0]!.field}: ${entries[0]!.source}`;
    if (input.robustness) c.robustness = verdictOfPaths(input.robustness, reads);
    const run = (set: PositiveSet, i: number): { outcome: EdgeOutcome; null: boolean } => {
      const bytes = windowBytes(set.windows, i);
      const a = applies(edge, bytes, input.shape);
      const outcome = evaluateEdge(edge, bytes, phys(set.objects[i]!.pa), ctxs[set.windows.image[i]!]!);
      return { outcome, null: a === 'null' };
    };
    for (let i = 0; i < input.positives.windows.count; i += 1) {
      const r = run(input.positives, i);
      c.n += 1;
      if (r.outcome === 'held') c.held += 1;
      else if (r.null) c.nulls += 1;
      else if (r.outcome === 'unreadable') c.unreadable += 1;
    }
    for (let i = 0; i < input.exited.windows.count; i += 1) {
      c.exitedN += 1;
      if (run(input.exited, i).outcome === 'held') c.exitedHeld += 1;
    }
    const neg = input.negatives;
    for (let i = 0; i < neg.count; i += 1) {
      const bytes = windowBytes(neg, i);
      if (applies(edge, bytes, input.shape) !== 'yes') continue;
      c.negApplicable += 1;
      if (evaluateEdge(edge, bytes, phys(neg.pa[i]!), ctxs[neg.image[i]!]!) === 'held') c.negHeld += 1;
    }
    c.support = c.n === 0 ? 0 : c.held / c.n;
    const followed = c.n - c.nulls - c.unreadable;
    c.followedSupport = followed === 0 ? 0 : c.held / followed;
    if (c.negApplicable >= MIN_NEGATIVES) c.negativeRate = c.negHeld / c.negApplicable;
    out.push(c);
  });
  return out;
}

function kindRank(c: EdgeCandidate): number {
  const e = c.site.expect[0];
  if (c.site.special) return 0;
  return e === undefined ? 4 : e.kind === 'self' ? 1 : e.kind === 'field' ? 1 : e.kind === 'matches' ? 2 : 3;
}

/** Negative rate with one pseudo-count each way: an edge seen on few negatives ranks behind one seen on many. */
function smoothedRate(c: EdgeCandidate): number {
  return (c.negHeld + 1) / (c.negApplicable + 2);
}

/** What an edge looks at: the object itself, where one of its pointers goes, or a word at a pointer's target. */
export function edgeClass(c: EdgeCandidate): 'inward' | 'pointer' | 'target' {
  return c.inward ? 'inward' : c.site.from === undefined ? 'pointer' : 'target';
}

/** Pick required and weighted edges (see the file comment); sets `role` on the chosen ones. */
export function chooseEdges(cands: EdgeCandidate[]): EdgeCandidate[] {
  const byQuality = [...cands].sort((a, b) => smoothedRate(a) - smoothedRate(b) || kindRank(a) - kindRank(b) || b.support - a.support || a.spec.name.localeCompare(b.spec.name));
  const chosen: EdgeCandidate[] = [];
  const perPointer = new Map<string, number>();
  const count = (cls: string, role?: string): number => chosen.filter((x) => edgeClass(x) === cls && (role === undefined || x.role === role)).length;
  const take = (c: EdgeCandidate, role: 'required' | 'weighted'): void => {
    const key = c.reads[0]!;
    const cls = edgeClass(c);
    if ((perPointer.get(key) ?? 0) >= PER_POINTER[cls] || chosen.length >= MAX_EDGES || count(cls) >= CLASS_CAP[cls]) return;
    if (role === 'required' && count(cls, 'required') >= REQUIRED_PER_CLASS) return;
    perPointer.set(key, (perPointer.get(key) ?? 0) + 1);
    c.role = role;
    chosen.push(c);
  };
  const ok = (c: EdgeCandidate, max: number): boolean => c.negativeRate === undefined || c.negativeRate <= max;
  // Required edges that also hold on every exited object come first: a failed required
  // edge rejects the hit, and exited objects are worth finding (their residue).
  const keepsExited = (c: EdgeCandidate): boolean => c.exitedHeld === c.exitedN;
  for (const pass of [true, false]) {
    for (const c of byQuality) {
      if (chosen.length >= MAX_REQUIRED) break;
      const robust = c.robustness === undefined || c.robustness === 'robust';
      if (c.role === undefined && keepsExited(c) === pass && c.support === 1 && c.attacker === undefined && robust && ok(c, REQUIRED_MAX_NEG_RATE)) take(c, 'required');
    }
  }
  for (const c of byQuality) {
    if (c.role !== undefined) continue;
    if (c.followedSupport === 1 && c.support >= 0.5 && ok(c, WEIGHTED_MAX_NEG_RATE)) take(c, 'weighted');
  }
  return chosen;
}

/** minScore for the chosen edges: the lowest training-positive score minus SCORE_MARGIN, down to 0.05 steps. */
export function minScoreFor(sig: Signature, positives: PositiveSet, images: readonly TrainingImage[], program: Program): { minScore: number; lowest: number } {
  if (sig.edges.every((e) => e.required)) return { minScore: 0, lowest: 1 };
  const cache = new Map<string, boolean>();
  const ctxs = images.map((img) => contextFor(img, program, cache));
  let lowest = 1;
  for (let i = 0; i < positives.windows.count; i += 1) {
    const v = judge(sig, windowBytes(positives.windows, i), phys(positives.objects[i]!.pa), ctxs[positives.windows.image[i]!]!);
    lowest = Math.min(lowest, v.score);
  }
  return { minScore: Math.max(0, Math.floor((lowest - SCORE_MARGIN) * 20) / 20), lowest };
}

/**
 * A lower minScore that admits the exited objects which pass the value constraints and
 * every required edge: their lowest score minus SCORE_MARGIN (down to 0.05 steps), used
 * only when every negative window that passes the value constraints and required edges
 * scores below it (and the positives' own minScore is not already lower). Undefined
 * when nothing changes or the negatives forbid it.
 */
export function minScoreAdmitting(
  sig: Signature,
  exited: PositiveSet,
  negatives: WindowSet,
  images: readonly TrainingImage[],
  program: Program,
  current: number,
): { minScore: number; lowestExited: number; bestNegative: number } | undefined {
  const cache = new Map<string, boolean>();
  const ctxs = images.map((img) => contextFor(img, program, cache));
  let lowestExited = 1;
  let any = false;
  for (let i = 0; i < exited.windows.count; i += 1) {
    const bytes = windowBytes(exited.windows, i);
    if (!evaluateAt(bytes, 0, bytes.length, program)) continue;
    const v = judge(sig, bytes, phys(exited.objects[i]!.pa), ctxs[exited.windows.image[i]!]!);
    if (v.edges.some((e, k) => sig.edges[k]!.required && e.outcome !== 'held')) continue;
    any = true;
    lowestExited = Math.min(lowestExited, v.score);
  }
  if (!any) return undefined;
  const minScore = Math.max(0, Math.floor((lowestExited - SCORE_MARGIN) * 20) / 20);
  if (minScore >= current) return undefined;
  let bestNegative = 0;
  for (let i = 0; i < negatives.count; i += 1) {
    const bytes = windowBytes(negatives, i);
    if (!evaluateAt(bytes, 0, bytes.length, program)) continue;
    const v = judge(sig, bytes, phys(negatives.pa[i]!), ctxs[negatives.image[i]!]!);
    if (v.edges.some((e, k) => sig.edges[k]!.required && e.outcome !== 'held')) continue;
    bestNegative = Math.max(bestNegative, v.score);
  }
  if (bestNegative >= minScore) return undefined;
  return { minScore, lowestExited, bestNegative };
}

export { contextFor as edgeContextFor };
