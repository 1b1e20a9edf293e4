// Scoring one scan against ground truth (kcarve-truth/1, ../shared/TRUTH.md): a hit
// matches a truth object when their physical addresses are equal. Per truth status
// (live / hidden / exited) found / total with recall, precision and F1; the hits that
// match nothing; false positives per GB.
//
// Definitions (stated because "precision per status" has more than one reading):
//  - exited objects count only when their residue is intact (pid, tgid and comm still
//    in the image); a hit on an exited object whose residue is gone is neither a true
//    nor a false positive (it is a real object) and is counted in `brokenResidueHits`;
//  - a false positive is a hit at an address holding no truth object. `kcarve eval`
//    counts every such hit (strict, the default). On real images the guest's truth
//    module lists only the exited tasks it saw, so bench/linux-accuracy.ts asks for
//    `strict: false`: an unmatched hit carrying exit evidence from the carver is then
//    counted apart as `unrecordedExited`. Both modes report how many unmatched hits
//    carry exit evidence (`unmatchedWithExitEvidence`) — for a baseline these are mostly
//    look-alikes whose "exit" fields are noise, which is why strict is the default;
//  - precision for status s = TP_s / (TP_s + FP): the precision of the scanner asked to
//    find objects of status s, where hits on objects of another status are neither;
//    the "all" row is TP / (TP + FP) over every status;
//  - a hit is "found" whatever verdict a later cross-view would give it.
import { residueIntact, type TruthObject, type TruthStatus } from '../train/truth-file.js';
import { type Proportion, f1, perGb, wilson } from './metrics.js';

/** A baseline can hit thousands of look-alikes per image: list this many, count them all. */
export const MAX_LISTED = 100;

export const STATUSES: readonly TruthStatus[] = ['live', 'hidden', 'exited'];

export interface ScoredHit {
  pa: number;
  exitEvidence?: readonly string[];
}

export interface StatusScore {
  /** Truth objects of this status in the recall base. */
  total: number;
  found: number;
  recall: Proportion;
  precision: Proportion;
  f1: number | null;
}

export interface MissedObject {
  status: TruthStatus;
  pa: string;
  pid: number;
  comm: string;
  mutations: string[];
}

export interface HitScore {
  byStatus: Record<TruthStatus, StatusScore>;
  /** Every status together. */
  all: StatusScore;
  hits: number;
  truePositives: number;
  falsePositives: number;
  /** Unmatched hits with exit evidence, not counted as false positives (strict: false only). */
  unrecordedExited: number;
  /** Unmatched hits carrying exit evidence, in either mode. */
  unmatchedWithExitEvidence: number;
  /** Hits on exited objects whose residue is gone (not in the recall base). */
  brokenResidueHits: number;
  falsePositivesPerGb: number;
  /** Objects in the recall base that no hit matched. */
  missed: MissedObject[];
  /** Addresses of the first MAX_LISTED false positives, ascending (hex); the count is `falsePositives`. */
  falsePositiveAddresses: string[];
}

export interface ScoreOptions {
  /** Every unmatched hit is a false positive. Default true; see the file comment. */
  strict?: boolean;
  /** Confidence of the intervals (default 0.95). */
  confidence?: number;
}

const hex = (n: number): string => `0x${n.toString(16)}`;

/** Recall over `total`, precision over the `found` plus every false positive (see above). */
function statusScore(total: number, found: number, falsePositives: number, confidence: number | undefined): StatusScore {
  const recall = wilson(found, total, confidence);
  const precision = wilson(found, found + falsePositives, confidence);
  return { total, found, recall, precision, f1: f1(precision.value, recall.value) };
}

/** Score `hits` of one scan of an image holding `mappedBytes` bytes of memory. */
export function scoreHits(objects: readonly TruthObject[], hits: readonly ScoredHit[], mappedBytes: number, options: ScoreOptions = {}): HitScore {
  const byPa = new Map<number, TruthObject>();
  for (const o of objects) byPa.set(o.pa, o);
  const inBase = (o: TruthObject): boolean => o.status !== 'exited' || residueIntact(o);
  const found = new Set<number>();
  let falsePositives = 0;
  let unrecordedExited = 0;
  let unmatchedWithExitEvidence = 0;
  let brokenResidueHits = 0;
  const strict = options.strict ?? true;
  const fpAddresses: number[] = [];
  for (const h of new Map(hits.map((x) => [x.pa, x])).values()) {
    const o = byPa.get(h.pa);
    if (o === undefined) {
      const evidence = (h.exitEvidence?.length ?? 0) > 0;
      if (evidence) unmatchedWithExitEvidence += 1;
      if (!strict && evidence) unrecordedExited += 1;
      else {
        falsePositives += 1;
        fpAddresses.push(h.pa);
      }
    } else if (inBase(o)) found.add(h.pa);
    else brokenResidueHits += 1;
  }
  const conf = options.confidence;
  const status = (members: readonly TruthObject[]): StatusScore =>
    statusScore(members.length, members.filter((o) => found.has(o.pa)).length, falsePositives, conf);
  const base = objects.filter(inBase);
  const byStatus = Object.fromEntries(STATUSES.map((s) => [s, status(base.filter((o) => o.status === s))])) as Record<TruthStatus, StatusScore>;
  const missed = base
    .filter((o) => !found.has(o.pa))
    .map((o) => ({ status: o.status, pa: hex(o.pa), pid: o.pid, comm: o.comm, mutations: o.mutations }));
  return {
    byStatus,
    all: status(base),
    hits: found.size + falsePositives + unrecordedExited + brokenResidueHits,
    truePositives: found.size,
    falsePositives,
    unrecordedExited,
    unmatchedWithExitEvidence,
    brokenResidueHits,
    falsePositivesPerGb: perGb(falsePositives, mappedBytes),
    missed,
    falsePositiveAddresses: fpAddresses.sort((a, b) => a - b).slice(0, MAX_LISTED).map(hex),
  };
}

/** Several scans' scores as one (counts summed, proportions and intervals recomputed). */
export function poolScores(scores: readonly HitScore[], mappedBytes: number, options: Pick<ScoreOptions, 'confidence'> = {}): HitScore {
  const conf = options.confidence;
  const sum = (f: (s: HitScore) => number): number => scores.reduce((a, s) => a + f(s), 0);
  const falsePositives = sum((s) => s.falsePositives);
  const status = (pick: (s: HitScore) => StatusScore): StatusScore =>
    statusScore(sum((s) => pick(s).total), sum((s) => pick(s).found), falsePositives, conf);
  return {
    byStatus: Object.fromEntries(STATUSES.map((st) => [st, status((s) => s.byStatus[st])])) as Record<TruthStatus, StatusScore>,
    all: status((s) => s.all),
    hits: sum((s) => s.hits),
    truePositives: sum((s) => s.truePositives),
    falsePositives,
    unrecordedExited: sum((s) => s.unrecordedExited),
    unmatchedWithExitEvidence: sum((s) => s.unmatchedWithExitEvidence),
    brokenResidueHits: sum((s) => s.brokenResidueHits),
    falsePositivesPerGb: perGb(falsePositives, mappedBytes),
    missed: scores.flatMap((s) => s.missed),
    falsePositiveAddresses: scores.flatMap((s) => s.falsePositiveAddresses).slice(0, MAX_LISTED),
  };
}
