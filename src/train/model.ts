// Training on a set of open images: instances → candidate invariants → selection →
// graph edges → a kcarve-signature/1 document, with every figure the report needs.
// `kcarve train` runs it once on all images and once per held-out image for
// cross-validation (./cross-validate.ts).
import { phys } from '../addr.js';
import { UsageError } from '../errors.js';
import type { ConstraintSpec, EdgeSpec, SignatureDoc } from '../signatures/format.js';
import { resolveSignature, type Signature } from '../signatures/load.js';
import type { Program } from '../signatures/program.js';
import type { Layout } from '../types/layout.js';
import type { AttackerField } from './attacker-fields.js';
import { type CandidateSet, buildCandidates } from './candidates.js';
import { type EdgeCandidate, SCORE_MARGIN, chooseEdges, evaluateEdgeCandidates, minScoreAdmitting, minScoreFor } from './edge-eval.js';
import { type PositiveSet, findEdgeSites } from './edge-sites.js';
import { fastTest } from './fast-eval.js';
import type { Candidate } from './invariants.js';
import type { NativeImages } from './native-scan.js';
import { type PointerShape, commonShape, isKernelPointer } from './pointer-shape.js';
import type { RobustnessFile } from './robustness.js';
import { type Selection, programOf, selectConstraints } from './select.js';
import { type SlotSet, slotsOf } from './slots.js';
import { type TrainingImage, truthObjectSize } from './training-image.js';
import { type TruthObject, residueIntact } from './truth-file.js';
import { readValue } from './value-summary.js';
import { type WindowRef, type WindowSet, readWindows, readableRefs, sampleNegatives, subsample, visitWindows } from './windows.js';

export interface ModelConfig {
  type: string;
  layout: Layout;
  attacker: readonly AttackerField[];
  robustness?: RobustnessFile;
  targetFpPerGiB: number;
  /** Candidate alignment; default: inferred from the positives' addresses. */
  alignment?: number;
  negatives: number;
  hardNegatives: number;
  maxConstraints: number;
  seed: number;
  /**
   * Keep exited objects with intact residue where that costs no selectivity: learn
   * forms that admit them, prefer constraints and edges that hold on them, and lower
   * minScore to their lowest score when no negative reaches it (default true).
   */
  keepExited?: boolean;
  natives: NativeImages;
  log: (line: string) => void;
}

export interface Model {
  images: readonly TrainingImage[];
  objectSize: number;
  alignment: number;
  alignmentNote: string;
  shape: PointerShape;
  slots: SlotSet;
  positives: PositiveSet;
  exited: PositiveSet;
  /** The exited objects with intact residue (TRUTH.md) the selection tried to keep (empty with keepExited false). */
  exitedKeep: PositiveSet;
  /** Truth objects left out because the image does not hold their whole window. */
  skipped: Skipped;
  randomNegatives: number;
  decoyNegatives: number;
  candidates: CandidateSet;
  selection: Selection;
  edgeCandidates: EdgeCandidate[];
  edges: EdgeCandidate[];
  minScore: number;
  lowestPositiveScore: number;
  /** How minScore was set: from the positives alone, or lowered to admit exited objects. */
  minScoreNote: string;
  /** Value constraints and edges in file form (provenance filled in by the caller). */
  constraints: ConstraintSpec[];
  edgeSpecs: EdgeSpec[];
  program: Program;
  /** Wall-clock and CPU seconds per step. */
  seconds: Record<string, number>;
  cpuSeconds: Record<string, number>;
}

/** Windows a rate is first estimated on; rates at or above RATE_PRECISE are not refined. */
const RATE_PREFIX = 2048;
const RATE_PRECISE = 0.02;

/**
 * Share of the random negatives each candidate accepts. The windows stream through one
 * buffer (../windows.ts visitWindows), never held at once. Rates of a few percent or
 * more are known well enough from the first RATE_PREFIX negatives (a uniform
 * subsample: the sample is shuffled); only lower ones, which decide the selection,
 * are counted over all of them.
 */
export function randomRates(images: readonly TrainingImage[], refs: readonly WindowRef[], size: number, cands: readonly Candidate[]): Map<Candidate, number> {
  const count = (subset: readonly WindowRef[], cs: readonly Candidate[]): number[] => {
    const tests = cs.map((c) => fastTest(c.constraint));
    const hits = new Array<number>(cs.length).fill(0);
    visitWindows(images, subset, size, (view, at) => {
      for (let k = 0; k < tests.length; k += 1) if (tests[k]!(view, at)) hits[k]! += 1;
    });
    return hits;
  };
  const out = new Map<Candidate, number>();
  if (refs.length === 0) return out;
  const prefix = refs.slice(0, RATE_PREFIX);
  const first = count(prefix, cands);
  const rare: Candidate[] = [];
  cands.forEach((c, k) => {
    const rate = first[k]! / prefix.length;
    if (rate >= RATE_PRECISE || prefix.length === refs.length) out.set(c, rate);
    else rare.push(c);
  });
  const all = count(refs, rare);
  rare.forEach((c, k) => out.set(c, all[k]! / refs.length));
  return out;
}

/**
 * Run `fn` with Error.stackTraceLimit = 0. Following the pointers of tens of thousands
 * of negatives raises (and catches) an InvalidAddressError for every one that does
 * not translate; capturing their stack traces was a third of the edge search's time.
 */
export function withoutStackTraces<T>(fn: () => T): T {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return fn();
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** Largest power of two (up to 4096, the matcher's limit) dividing every address. */
export function inferAlignment(addresses: readonly number[]): number {
  let a = 4096;
  for (const pa of addresses) while (a > 1 && pa % a !== 0) a /= 2;
  return a;
}

/** Truth objects whose window the image does not hold whole (in a hole, past the end): left out, and counted. */
export interface Skipped {
  count: number;
  examples: string[];
}

function positiveSet(images: readonly TrainingImage[], pick: (img: TrainingImage) => TruthObject[], size: number, skipped: Skipped): PositiveSet {
  const refs: WindowRef[] = [];
  const objects: TruthObject[] = [];
  images.forEach((img, image) => {
    for (const o of pick(img)) {
      if (!img.physical.isMappedPhys(phys(o.pa), size)) {
        skipped.count += 1;
        if (skipped.examples.length < 5) skipped.examples.push(`${img.id} 0x${o.pa.toString(16)}`);
        continue;
      }
      refs.push({ image, pa: o.pa });
      objects.push(o);
    }
  });
  return { windows: readWindows(images, refs, size), objects, images };
}

export function trainModel(images: readonly TrainingImage[], cfg: ModelConfig): Model {
  const seconds: Record<string, number> = {};
  const cpuSeconds: Record<string, number> = {};
  let t = performance.now();
  let cpu = process.cpuUsage();
  const lap = (name: string): void => {
    const now = performance.now();
    const c = process.cpuUsage(cpu);
    seconds[name] = (seconds[name] ?? 0) + (now - t) / 1000;
    cpuSeconds[name] = (cpuSeconds[name] ?? 0) + (c.user + c.system) / 1e6;
    t = now;
    cpu = process.cpuUsage();
  };
  const { layout, type } = cfg;
  if (!layout.hasType(type)) throw new UsageError(`--type ${type}: not a type of layout ${layout.file}`);
  const shape = commonShape(images.map((img) => img.shape));
  if (shape === undefined) {
    const first = images[0]!;
    const other = images.find((img) => commonShape([first.shape, img.shape]) === undefined)!;
    throw new UsageError(`${other.dir}: ${other.shape.os} ${other.shape.mode} does not match ${first.dir} (${first.shape.os} ${first.shape.mode}); train one OS and pointer width at a time (Linux 4- and 5-level paging may mix)`);
  }
  const sizes = images.map((img) => truthObjectSize(img.truth, type)).filter((s): s is number => s !== undefined);
  const objectSize = Math.min(layout.sizeOf(type), ...sizes);
  const skipped: Skipped = { count: 0, examples: [] };
  const positives = positiveSet(images, (img) => img.positives, objectSize, skipped);
  if (positives.windows.count === 0) throw new UsageError(`no live or hidden ${type} in the truth of ${images.map((i) => i.id).join(', ')}`);
  const exited = positiveSet(images, (img) => img.exited, objectSize, skipped);
  const keepExited = cfg.keepExited !== false;
  const exitedKeep = positiveSet(images, (img) => (keepExited ? img.exited.filter(residueIntact) : []), objectSize, { count: 0, examples: [] });
  const inferred = inferAlignment([...positives.objects, ...exited.objects].map((o) => o.pa));
  const alignment = cfg.alignment ?? inferred;
  const alignmentNote = cfg.alignment !== undefined ? `given (--alignment); the positives' addresses share ${inferred}` : `the largest power of two dividing the physical address of every positive and exited object (capped at 4096)`;
  lap('instances');

  const slots = slotsOf(layout, type, objectSize);
  const candidates = buildCandidates({
    os: shape.os,
    type,
    slots,
    positives: positives.windows,
    exited: exited.windows,
    exitedKeep: exitedKeep.windows,
    imageIds: images.map((i) => i.id),
    shape,
    attacker: cfg.attacker,
    ...(cfg.robustness ? { robustness: cfg.robustness } : {}),
    directMaps: images.map((img) => (img.space.pageOffsetBase === undefined ? undefined : { base: img.space.pageOffsetBase, end: img.space.pageOffsetBase + BigInt(img.physical.endAddress) })),
  });
  lap('invariants');

  const randomRefs = sampleNegatives(images, alignment, objectSize, cfg.negatives, cfg.seed);
  const decoyRefs = readableRefs(
    images,
    images.flatMap((img, image) => img.decoys.map((d) => ({ image, pa: d.pa }))),
    objectSize,
  );
  const eligible = candidates.candidates.filter((c) => c.excluded === undefined);
  if (eligible.length === 0) throw new UsageError(`no candidate constraint is eligible (support 1, stable, not attacker-controlled${cfg.robustness ? ', robust' : ''}); see the report`);
  const rates = randomRates(images, [...randomRefs, ...decoyRefs], objectSize, eligible);
  for (const c of eligible) c.negativeRate = rates.get(c)!;
  lap('negatives');

  const selection = selectConstraints(eligible, {
    images,
    natives: cfg.natives,
    alignment,
    objectSize,
    targetFpPerGiB: cfg.targetFpPerGiB,
    hardNegatives: cfg.hardNegatives,
    maxConstraints: cfg.maxConstraints,
    seed: cfg.seed,
    exited: exitedKeep.windows,
    randomRefs,
    log: cfg.log,
  });
  lap('selection');

  const program = programOf(selection.chosen, alignment);
  const constraints = selection.chosen.map((c) => c.spec);
  const baseDoc: SignatureDoc = { schema: 'kcarve-signature/1', name: `${type}-training`, version: '0.0.0', target: { os: shape.os, type }, alignment, constraints };

  // Graph edges.
  const constantSlots = candidates.perImageConstant;
  // Pointers worth following: pointer-width members holding a kernel pointer in at least a fifth of the positives.
  const pointerSlots = slots.slots.filter((s) => {
    if (s.width !== shape.width || s.byte !== undefined || s.width !== s.leaf.size) return false;
    let kernel = 0;
    for (let i = 0; i < positives.windows.count; i += 1) {
      if (isKernelPointer(shape, readValue(positives.windows.view, i * objectSize + s.offset, s.width))) kernel += 1;
    }
    return kernel >= 2 && kernel * 5 >= positives.windows.count;
  });
  const sites = withoutStackTraces(() => findEdgeSites(positives, { layout, type, objectSize, shape, pointerSlots, constantSlots, allSlots: slots.slots }));
  lap('edge sites');
  const edgeNegRefs: WindowRef[] = [
    ...subsample(randomRefs, 1024, cfg.seed, 'edge-random'),
    ...decoyRefs,
    ...subsample(
      selection.finalClasses.flatMap((c, image) => c.falsePositives.map((pa) => ({ image, pa }))),
      1024,
      cfg.seed,
      'edge-final-fp',
    ),
  ];
  const pre = selection.prefilterNegatives;
  const preRefs: WindowRef[] = pre ? subsample([...Array(pre.count).keys()], 1024, cfg.seed, 'edge-prefilter').map((i) => ({ image: pre.image[i]!, pa: pre.pa[i]! })) : [];
  const edgeNegatives: WindowSet = readWindows(images, readableRefs(images, [...edgeNegRefs, ...preRefs], objectSize), objectSize);
  const edgeCandidates = withoutStackTraces(() => evaluateEdgeCandidates(
    {
      layout,
      type,
      os: shape.os,
      shape,
      doc: baseDoc,
      program,
      positives,
      // With keepExited, required edges that hold on the intact exited objects are preferred.
      exited: keepExited ? exitedKeep : exited,
      negatives: edgeNegatives,
      images,
      attacker: cfg.attacker,
      ...(cfg.robustness ? { robustness: cfg.robustness } : {}),
    },
    sites,
    cfg.log,
  ));
  const edges = chooseEdges(edgeCandidates);
  const edgeSpecs = edges.map((e) => ({ ...e.spec, ...(e.role === 'required' ? { required: true } : {}) }));
  const withEdges: Signature = resolveSignature({ ...baseDoc, edges: edgeSpecs }, '<kcarve train>', { layout });
  const fromPositives = minScoreFor(withEdges, positives, images, program);
  const { lowest } = fromPositives;
  let minScore = fromPositives.minScore;
  let minScoreNote = `lowest training-positive score (${lowest.toFixed(3)}) - ${SCORE_MARGIN}, rounded down to 0.05`;
  if (keepExited && exitedKeep.windows.count > 0 && minScore > 0) {
    const lowered = minScoreAdmitting(withEdges, exitedKeep, edgeNegatives, images, program, minScore);
    if (lowered !== undefined) {
      minScoreNote = `lowered from ${minScore} to ${lowered.minScore} to admit the intact exited objects (lowest score ${lowered.lowestExited.toFixed(3)}); the best-scoring negative that passes the value constraints and required edges scores ${lowered.bestNegative.toFixed(3)}`;
      minScore = lowered.minScore;
    }
  }
  lap('edges');

  return {
    images,
    objectSize,
    alignment,
    alignmentNote,
    shape,
    slots,
    positives,
    exited,
    exitedKeep,
    skipped,
    randomNegatives: randomRefs.length,
    decoyNegatives: decoyRefs.length,
    candidates,
    selection,
    edgeCandidates,
    edges,
    minScore,
    lowestPositiveScore: lowest,
    minScoreNote,
    constraints,
    edgeSpecs,
    program,
    seconds,
    cpuSeconds,
  };
}
