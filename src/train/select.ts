// Choosing a small set of constraints from the eligible candidates (support 1 on the
// training positives, stable, allowed by the attacker list and the fuzz verdicts):
//
// 1. Prefilter. The native matcher tests constraint 0 on every aligned offset, with
//    AVX2 when it is a 4- or 8-byte eq / ne / mask / aligned / range / kptr /
//    kptr_or_null (native/src/program.cc). Of those, the PREFILTER_TRIALS with the
//    lowest match rate on the random negatives are scanned for real over the first
//    training images (up to TRIAL_BYTES); the one with the fewest false hits becomes
//    constraint 0 and is then scanned over every image.
// 2. Greedy on hard negatives. The prefilter's false hits (a uniform sample of up to
//    `hardNegatives` of them) are what the next constraints must reject: each step
//    adds the candidate that rejects the most survivors; ties go to the lower cost per
//    tested offset (../invariants.ts costOf: 1 for a numeric 4/8-byte test, 1.5 for
//    1/2-byte, more for sets and strings), then to the lower random-negative rate.
//    After each step the false positives per GiB are estimated as
//    (prefilter false hits) x (survivors / sample) / (GiB of non-object memory).
// 3. Measure. When the sample has no survivors left, the whole program is scanned
//    over every aligned offset of the training images; its false hits (minus truth
//    objects of any status) per GiB of non-object memory is the measured rate. Above
//    the target, those false hits become the next hard negatives and step 2 goes on.
// Exited objects. With `exited` (intact residue, kept apart from the positives), both
//    the prefilter and each greedy step first consider only the candidates that lose
//    the fewest exited objects still accepted by the constraints chosen so far; a
//    candidate that drops an exited object is taken only when no loss-free one makes
//    progress. This finds freed and terminated objects wherever that costs no
//    selectivity: when the preference ends above the target (or at maxConstraints),
//    the selection is run again without it.
// 4. Prune. A constraint (other than the prefilter) that no hard negative seen needs
//    is dropped, unless the re-measured rate then misses the target.
import { compileProgram } from '../native/index.js';
import type { Constraint, Program } from '../signatures/program.js';
import { type Bitset, andCount, andInto, bitsetOf, fastTest, fullBitset, popcount } from './fast-eval.js';
import type { Candidate } from './invariants.js';
import { type HitClasses, type NativeImages, classifyHits, nonObjectGiB, scanHits } from './native-scan.js';
import type { TrainingImage } from './training-image.js';
import { type WindowRef, type WindowSet, readWindows, readableRefs, subsample, visitWindows } from './windows.js';

export const PREFILTER_TRIALS = 4;
/** Prefilter trials scan the first images up to this many bytes. */
const TRIAL_BYTES = 256 * 1024 * 1024;
/** Hits per run at which a prefilter trial is abandoned (it is far too weak). */
const TRIAL_MAX_HITS = 1 << 20;
const MAX_ROUNDS = 6;

export interface SelectOptions {
  images: readonly TrainingImage[];
  natives: NativeImages;
  alignment: number;
  objectSize: number;
  targetFpPerGiB: number;
  hardNegatives: number;
  maxConstraints: number;
  seed: number;
  /**
   * The random negatives (./windows.ts sampleNegatives): the hard negatives of a round
   * whose measurement was cut short (a prefilter too weak to scan whole, with more than
   * the matcher's hit limit in a run) are those of them the chosen constraints accept.
   */
  randomRefs?: readonly WindowRef[];
  /** Exited objects with intact residue, to be kept where that costs no selectivity (see above). */
  exited?: WindowSet;
  log?: (line: string) => void;
}

export type TraceStep =
  | { kind: 'prefilter-trial'; candidate: number; falseHits: number; truncated: boolean; seconds: number; images: number }
  | { kind: 'add'; candidate: number; rejected: number; survivors: number; sample: number; estFpPerGiB: number }
  | { kind: 'measure'; constraints: number; falseHits: number; fpPerGiB: number; perImage: { id: string; falseHits: number }[]; seconds: number }
  | { kind: 'prune'; candidate: number }
  | { kind: 'revert-prune'; fpPerGiB: number }
  | { kind: 'drop-exited-preference'; fpPerGiB: number };

export interface Selection {
  chosen: Candidate[];
  trace: TraceStep[];
  /** Measured on every aligned offset of the training images. */
  fpPerGiB: number;
  falseHits: number;
  reachedTarget: boolean;
  nonObjectGiB: number;
  /** The final program's hits per image, all of them and sorted against the truth. */
  finalHits: number[][];
  finalClasses: HitClasses[];
  /** The hard negatives of the first round (false hits of the prefilter), if any. */
  prefilterNegatives?: WindowSet;
  /** Intact exited objects all chosen constraints accept, of how many (when `exited` was given). */
  exitedKept?: { kept: number; of: number; preferred: boolean };
}

export function programOf(chosen: readonly Candidate[], alignment: number): Program {
  return { alignment, constraints: chosen.map((c) => c.constraint) };
}

interface Measured {
  classes: HitClasses[];
  /** Every hit per image (truth objects included). */
  hits: number[][];
  falseHits: number[][];
  total: number;
  fpPerGiB: number;
  truncated: boolean;
}

function measure(o: SelectOptions, constraints: Constraint[], gib: number, maxHits?: number, images: readonly TrainingImage[] = o.images): Measured {
  const compiled = compileProgram({ alignment: o.alignment, constraints }, 'kcarve train');
  let truncated = false;
  const hits: number[][] = [];
  const classes = images.map((img) => {
    const r = scanHits(o.natives, img, compiled, maxHits);
    truncated ||= r.truncated;
    hits.push(r.hits);
    return classifyHits(img, r.hits);
  });
  const falseHits = classes.map((c) => c.falsePositives);
  const total = falseHits.reduce((s, f) => s + f.length, 0);
  return { classes, hits, falseHits, total, fpPerGiB: gib > 0 ? total / gib : 0, truncated };
}

function hardSample(o: SelectOptions, falseHits: number[][], round: number): WindowSet {
  const refs: WindowRef[] = [];
  falseHits.forEach((hits, image) => hits.forEach((pa) => refs.push({ image, pa })));
  // A hit near the end of a run may have a shorter window than the object (the program reads less).
  return readWindows(o.images, readableRefs(o.images, subsample(refs, o.hardNegatives, o.seed, `hard-${round}`), o.objectSize), o.objectSize);
}

/** The random negatives every chosen constraint accepts (a uniform sample of up to hardNegatives). */
function randomSurvivors(o: SelectOptions, chosen: readonly Candidate[], round: number): WindowSet {
  const tests = chosen.map((c) => fastTest(c.constraint));
  const refs = o.randomRefs!;
  const pass: WindowRef[] = [];
  visitWindows(o.images, refs, o.objectSize, (view, at, i) => {
    if (tests.every((t) => t(view, at))) pass.push(refs[i]!);
  });
  return readWindows(o.images, subsample(pass, o.hardNegatives, o.seed, `random-${round}`), o.objectSize);
}

export function selectConstraints(eligible: readonly Candidate[], o: SelectOptions): Selection {
  const ex = o.exited;
  if (ex === undefined || ex.count === 0) return selectOnce(eligible, o, undefined);
  const exBits = new Map<Candidate, Bitset>(eligible.map((c) => [c, bitsetOf(fastTest(c.constraint), ex)]));
  const first = selectOnce(eligible, o, exBits);
  if (first.reachedTarget) return first;
  o.log?.(`keeping exited objects missed the target (${first.fpPerGiB.toFixed(3)} FP/GiB): selecting again without that preference`);
  const second = selectOnce(eligible, o, undefined);
  second.trace.unshift(...first.trace, { kind: 'drop-exited-preference', fpPerGiB: first.fpPerGiB });
  return second;
}

function exitedKept(chosen: readonly Candidate[], ex: WindowSet): number {
  const alive = fullBitset(ex.count);
  for (const c of chosen) andInto(alive, bitsetOf(fastTest(c.constraint), ex));
  return popcount(alive);
}

function selectOnce(eligible: readonly Candidate[], o: SelectOptions, exBits: Map<Candidate, Bitset> | undefined): Selection {
  const log = o.log ?? (() => {});
  const gib = nonObjectGiB(o.images, o.objectSize);
  const trace: TraceStep[] = [];
  if (eligible.length === 0) throw new Error('no eligible candidate constraints');

  // 1. Prefilter.
  const cheap = eligible
    .filter((c) => c.simd && (c.constraint.kind === 'kptr' || c.constraint.kind === 'kptr_or_null' || ('width' in c.constraint && c.constraint.width <= o.alignment)))
    .sort((a, b) => (a.negativeRate ?? 1) - (b.negativeRate ?? 1) || a.cost - b.cost || a.id - b.id);
  let pool = cheap.length > 0 ? cheap : [...eligible].sort((a, b) => (a.negativeRate ?? 1) - (b.negativeRate ?? 1) || a.id - b.id);
  if (exBits !== undefined) {
    // Only the candidates that lose the fewest exited objects (stable sort keeps the rate order).
    const kept = (c: Candidate): number => popcount(exBits.get(c)!);
    const most = Math.max(...pool.map(kept));
    pool = pool.filter((c) => kept(c) === most);
  }
  // Trials scan the first images up to TRIAL_BYTES; the winner is then measured on all.
  const trialImages: TrainingImage[] = [];
  for (const img of o.images) {
    if (trialImages.reduce((s, i) => s + i.mappedBytes, 0) >= TRIAL_BYTES) break;
    trialImages.push(img);
  }
  let prefilter: Candidate | undefined;
  let best: Measured | undefined;
  for (const c of pool.slice(0, PREFILTER_TRIALS)) {
    const t0 = performance.now();
    const m = measure(o, [c.constraint], gib, TRIAL_MAX_HITS, trialImages);
    trace.push({ kind: 'prefilter-trial', candidate: c.id, falseHits: m.total, truncated: m.truncated, seconds: (performance.now() - t0) / 1000, images: trialImages.length });
    log(`prefilter trial ${c.spec.field} ${c.spec.kind}: ${m.total}${m.truncated ? '+' : ''} false hits in ${trialImages.length} image(s)`);
    // A truncated trial (a run past TRIAL_MAX_HITS) loses to any complete one.
    const score = (x: Measured): number => (x.truncated ? Number.POSITIVE_INFINITY : x.total);
    if (best === undefined || score(m) < score(best)) {
      best = m;
      prefilter = c;
    }
  }
  if (trialImages.length < o.images.length) {
    const t0 = performance.now();
    best = measure(o, [prefilter!.constraint], gib, TRIAL_MAX_HITS);
    trace.push(measureStep(o, 1, best, t0));
  }
  const chosen: Candidate[] = [prefilter!];
  const seen: WindowSet[] = [];
  // Exited objects every chosen constraint accepts.
  const exAlive = exBits === undefined ? undefined : fullBitset(o.exited!.count);
  if (exAlive) andInto(exAlive, exBits!.get(prefilter!)!);
  let current = best!;
  let reached = !current.truncated && current.fpPerGiB <= o.targetFpPerGiB;

  // 2-3. Greedy rounds on hard negatives, each closed by a full measurement.
  for (let round = 0; round < MAX_ROUNDS && !reached && chosen.length < o.maxConstraints; round += 1) {
    const sample = current.truncated && o.randomRefs ? randomSurvivors(o, chosen, round) : hardSample(o, current.falseHits, round);
    seen.push(sample);
    const pending = eligible.filter((c) => !chosen.includes(c));
    const bits = new Map<Candidate, Bitset>(pending.map((c) => [c, bitsetOf(fastTest(c.constraint), sample)]));
    const survivors = fullBitset(sample.count);
    let left = sample.count;
    let added = 0;
    while (left > 0 && chosen.length < o.maxConstraints) {
      let pick: Candidate | undefined;
      let pickKept = left;
      let pickExited = -1;
      for (const c of pending) {
        if (chosen.includes(c)) continue;
        const kept = andCount(survivors, bits.get(c)!);
        if (kept === left) continue;
        // Fewest exited objects lost first (when keeping them), then most negatives rejected.
        const exKept = exAlive ? andCount(exAlive, exBits!.get(c)!) : 0;
        if (pick === undefined || exKept > pickExited || (exKept === pickExited && (kept < pickKept || (kept === pickKept && better(c, pick))))) {
          pick = c;
          pickKept = kept;
          pickExited = exKept;
        }
      }
      if (pick === undefined) break;
      andInto(survivors, bits.get(pick)!);
      if (exAlive) andInto(exAlive, exBits!.get(pick)!);
      const rejected = left - pickKept;
      left = pickKept;
      chosen.push(pick);
      added += 1;
      const est = sample.count === 0 ? 0 : (current.total * left) / sample.count / gib;
      trace.push({ kind: 'add', candidate: pick.id, rejected, survivors: left, sample: sample.count, estFpPerGiB: est });
      log(`+ ${pick.spec.field} ${pick.spec.kind}: rejects ${rejected}, ${left}/${sample.count} survive (est ${est.toFixed(3)} FP/GiB)`);
    }
    const t0 = performance.now();
    current = measure(o, chosen.map((c) => c.constraint), gib);
    trace.push(measureStep(o, chosen.length, current, t0));
    log(`measured ${chosen.length} constraints: ${current.total} false hits, ${current.fpPerGiB.toFixed(3)} FP/GiB`);
    reached = !current.truncated && current.fpPerGiB <= o.targetFpPerGiB;
    if (added === 0) break;
  }

  // 4. Prune constraints no hard negative needs: dropping one must not let any
  //    negative through that the full set rejects (the re-measurement checks the rest).
  if (chosen.length > 2) {
    const sets = seen.map((w) => ({ w, bits: new Map<Candidate, Bitset>() }));
    const alive = (cs: readonly Candidate[]): number =>
      sets.reduce((sum, s) => {
        const a = fullBitset(s.w.count);
        for (const c of cs) {
          let b = s.bits.get(c);
          if (!b) s.bits.set(c, (b = bitsetOf(fastTest(c.constraint), s.w)));
          andInto(a, b);
        }
        return sum + popcount(a);
      }, 0);
    const kept = [...chosen];
    for (let i = kept.length - 1; i >= 1; i -= 1) {
      const without = kept.filter((_, j) => j !== i);
      if (alive(without) === alive(kept)) {
        trace.push({ kind: 'prune', candidate: kept[i]!.id });
        kept.splice(i, 1);
      }
    }
    if (kept.length < chosen.length) {
      const t0 = performance.now();
      const m = measure(o, kept.map((c) => c.constraint), gib);
      trace.push(measureStep(o, kept.length, m, t0));
      if (!m.truncated && (m.fpPerGiB <= o.targetFpPerGiB || m.total <= current.total)) {
        chosen.splice(0, chosen.length, ...kept);
        current = m;
      } else trace.push({ kind: 'revert-prune', fpPerGiB: m.fpPerGiB });
      reached = !current.truncated && current.fpPerGiB <= o.targetFpPerGiB;
    }
  }
  const out: Selection = {
    chosen,
    trace,
    fpPerGiB: current.fpPerGiB,
    falseHits: current.total,
    reachedTarget: reached,
    nonObjectGiB: gib,
    finalHits: current.hits,
    finalClasses: current.classes,
  };
  if (seen[0]) out.prefilterNegatives = seen[0];
  if (o.exited !== undefined && o.exited.count > 0) out.exitedKept = { kept: exitedKept(chosen, o.exited), of: o.exited.count, preferred: exBits !== undefined };
  return out;
}

function measureStep(o: SelectOptions, n: number, m: Measured, t0: number): TraceStep {
  return {
    kind: 'measure',
    constraints: n,
    falseHits: m.total,
    fpPerGiB: m.fpPerGiB,
    perImage: o.images.map((img, i) => ({ id: img.id, falseHits: m.falseHits[i]!.length })),
    seconds: (performance.now() - t0) / 1000,
  };
}

/** Tie-break: lower cost, then lower random-negative rate, then earlier candidate. */
function better(a: Candidate, b: Candidate): boolean {
  if (a.cost !== b.cost) return a.cost < b.cost;
  const ra = a.negativeRate ?? 1;
  const rb = b.negativeRate ?? 1;
  if (ra !== rb) return ra < rb;
  return a.id < b.id;
}
