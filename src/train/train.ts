// `kcarve train` as a library function: open the IMAGE_DIRs, train (./model.ts),
// write the signature document with its provenance, check it on the training images,
// cross-validate, and render the report. Plain data in, plain data out.
import { dirname, relative, resolve } from 'node:path';
import { UsageError } from '../errors.js';
import type { ConstraintSpec, EdgeSpec, SignatureDoc } from '../signatures/format.js';
import { resolveSignature } from '../signatures/load.js';
import type { Layout } from '../types/layout.js';
import { KCARVE_VERSION } from '../version.js';
import { loadAttackerFields } from './attacker-fields.js';
import { type FoldResult, crossValidate } from './cross-validate.js';
import { type ImageOutcome, judgeImage } from './judge-image.js';
import { type Model, type ModelConfig, trainModel } from './model.js';
import { NativeImages } from './native-scan.js';
import { renderReport } from './report.js';
import { type RobustnessFile, readRobustness } from './robustness.js';
import { type TrainingImage, closeTrainingImage, openTrainingImage } from './training-image.js';

export const TRAIN_DEFAULTS = { targetFpPerGiB: 0.1, negatives: 16384, hardNegatives: 4096, maxConstraints: 16, seed: 1 };

export interface TrainOptions {
  type: string;
  layout: Layout;
  /** The layout file, recorded (relative to the output) as target.layout. */
  layoutPath?: string;
  imageDirs: string[];
  robustnessPath?: string;
  /** signatures/attacker-fields.json unless given. */
  attackerFieldsPath?: string;
  targetFpPerGiB?: number;
  alignment?: number;
  negatives?: number;
  hardNegatives?: number;
  maxConstraints?: number;
  seed?: number;
  /**
   * Members left out of required constraints and required edges, as if on the attacker
   * list (--exclude-field): for fields the user judges an attacker could rewrite where no
   * citation or fuzz verdict exists yet. Recorded in the command line.
   */
  excludeFields?: string[];
  /** Extra lines for provenance.notes (--note), e.g. how the training images were made. */
  notes?: string[];
  /** Keep intact exited objects where that costs no selectivity (default true; ./model.ts). */
  keepExited?: boolean;
  /** Leave-one-image-out cross-validation (default: on when there are two images or more). */
  crossValidate?: boolean;
  /** provenance.command. */
  command?: string;
  /** Where the signature will be written (target.layout is made relative to it). */
  outPath?: string;
  name?: string;
  log?: (line: string) => void;
}

export interface TrainResult {
  doc: SignatureDoc;
  model: Model;
  /** The signature checked on each training image (value hits and graph check). */
  training: ImageOutcome[];
  folds: FoldResult[];
  robustness?: RobustnessFile;
  report: string;
  seconds: { train: number; check: number; crossValidation: number; total: number };
}

function positiveNumber(name: string, v: number | undefined, fallback: number, integer = false): number {
  if (v === undefined) return fallback;
  if (!Number.isFinite(v) || v < 0 || (integer && !Number.isSafeInteger(v))) throw new UsageError(`${name} must be a ${integer ? 'whole ' : ''}number >= 0 (got ${v})`);
  return v;
}

/** The signature document: the model's constraints and edges with their provenance. */
export function signatureDoc(m: Model, opts: TrainOptions, training: ImageOutcome[], rob: RobustnessFile | undefined): SignatureDoc {
  const constraints: ConstraintSpec[] = m.selection.chosen.map((c, i) => ({
    ...c.spec,
    provenance: {
      source: 'training',
      support: c.support,
      ...(c.negativeRate !== undefined ? { negativeRate: round(c.negativeRate) } : {}),
      ...(c.robustness ? { robustness: c.robustness } : {}),
      note: `${i === 0 ? 'prefilter; ' : ''}${c.note}${c.exitedSupport !== undefined ? `; holds on ${pct(c.exitedSupport)} of exited objects` : ''}`,
    },
  }));
  const edges: EdgeSpec[] = m.edges.map((e) => ({
    ...e.spec,
    ...(e.role === 'required' ? { required: true } : {}),
    provenance: {
      source: 'training',
      support: round(e.support),
      ...(e.negativeRate !== undefined ? { negativeRate: round(e.negativeRate) } : {}),
      ...(e.robustness ? { robustness: e.robustness } : {}),
      note: `${e.role}; held on ${e.held} of ${e.n} positives (${e.nulls} null)${e.attacker ? `; reads an attacker-controlled field (${e.attacker.split(':')[0]})` : ''}`,
    },
  }));
  const acceptedFp = training.reduce((s, t) => s + t.accepted.falsePositives.length, 0);
  const type = opts.type;
  const layoutRef = opts.layoutPath === undefined ? undefined : opts.outPath ? relative(dirname(resolve(opts.outPath)), resolve(opts.layoutPath)) : resolve(opts.layoutPath);
  const release = m.images[0]!.truth.release;
  return {
    schema: 'kcarve-signature/1',
    name: opts.name ?? `${type}-trained`,
    version: '1.0.0',
    description: `Trained by kcarve ${KCARVE_VERSION} on ${m.images.length} image(s): ${m.constraints.length} value constraints, ${edges.length} graph edges.`,
    target: { os: m.shape.os, type, ...(release ? { build: release } : {}), ...(layoutRef ? { layout: layoutRef } : {}) },
    alignment: m.alignment,
    constraints,
    ...(edges.length > 0 ? { edges } : {}),
    scoring: { minScore: m.minScore },
    provenance: {
      ...(opts.command ? { command: opts.command } : {}),
      trainedOn: m.images.map((img) => `${img.id} truth-sha256:${img.truthHash}`),
      fpPerGiB: round(m.selection.fpPerGiB),
      robustness: rob ? 'proven' : 'unproven',
      ...(rob ? { robustnessFile: rob.path } : {}),
      fpPerGiBAfterGraph: round(acceptedFp / Math.max(m.selection.nonObjectGiB, 1e-9)),
      targetFpPerGiB: opts.targetFpPerGiB ?? TRAIN_DEFAULTS.targetFpPerGiB,
      notes: [
        `fpPerGiB: value-constraint hits on no truth object, over every ${m.alignment}-byte aligned offset of the training images, per GiB of non-object memory (${m.selection.nonObjectGiB.toFixed(3)} GiB)`,
        `edges: required ones must hold; weighted ones score (held weight / total weight); a hit is accepted when every required edge holds and score >= minScore = lowest training-positive score (${m.lowestPositiveScore.toFixed(3)}) - 0.25, rounded down to 0.05`,
        rob ? `only members the fuzz campaign (${rob.path}) marks robust carry a constraint or a required edge` : 'robustness unproven: no fuzz campaign was given (--robustness); fields known to be attacker-controlled (signatures/attacker-fields.json) were still left out',
        `positives: ${m.positives.windows.count} live and hidden objects; exited objects (${m.exited.windows.count}) were not positives`,
        m.selection.exitedKept
          ? `exited objects with intact residue: constraints and required edges that hold on them were preferred where that cost no selectivity${m.selection.exitedKept.preferred ? '' : ' (the preference missed the target and was dropped)'}; the value constraints accept ${m.selection.exitedKept.kept} of ${m.selection.exitedKept.of}`
          : 'exited objects with intact residue: none, or not kept (--no-keep-exited)',
        `minScore: ${m.minScoreNote}`,
        ...(opts.excludeFields?.length ? [`left out by --exclude-field (as attacker-controlled): ${opts.excludeFields.join(', ')}`] : []),
        ...(opts.notes ?? []),
      ],
    },
  };
}

function round(x: number): number {
  return Number(x.toPrecision(6));
}

function pct(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

export function train(opts: TrainOptions): TrainResult {
  const t0 = performance.now();
  const log = opts.log ?? (() => {});
  if (opts.imageDirs.length === 0) throw new UsageError('give at least one IMAGE_DIR (a memory image and its truth.json)');
  const alignment = opts.alignment;
  if (alignment !== undefined && (!Number.isSafeInteger(alignment) || alignment < 1 || alignment > 4096 || (alignment & (alignment - 1)) !== 0)) {
    throw new UsageError(`--alignment ${alignment}: must be a power of two from 1 to 4096`);
  }
  const rob = opts.robustnessPath ? readRobustness(opts.robustnessPath) : undefined;
  if (rob && rob.type !== '' && rob.type.replace(/^_+/, '') !== opts.type.replace(/^_+/, '')) {
    throw new UsageError(`--robustness ${rob.path}: its verdicts are about ${rob.type}, not ${opts.type}`);
  }
  const attacker = [
    ...loadAttackerFields(opts.attackerFieldsPath),
    ...(opts.excludeFields ?? []).flatMap((field) =>
      (['linux', 'windows'] as const).map((os) => ({ os, type: opts.type, field, why: 'left out on the command line', source: 'kcarve train --exclude-field' })),
    ),
  ];
  const natives = new NativeImages();
  const images: TrainingImage[] = [];
  try {
    for (const dir of opts.imageDirs) images.push(openTrainingImage(dir, opts.layout.pointerSize));
    const cfg: ModelConfig = {
      type: opts.type,
      layout: opts.layout,
      attacker,
      ...(rob ? { robustness: rob } : {}),
      targetFpPerGiB: positiveNumber('--target-fp-per-gb', opts.targetFpPerGiB, TRAIN_DEFAULTS.targetFpPerGiB),
      ...(alignment !== undefined ? { alignment } : {}),
      negatives: positiveNumber('--negatives', opts.negatives, TRAIN_DEFAULTS.negatives, true),
      hardNegatives: positiveNumber('--hard-negatives', opts.hardNegatives, TRAIN_DEFAULTS.hardNegatives, true),
      maxConstraints: Math.max(1, positiveNumber('--max-constraints', opts.maxConstraints, TRAIN_DEFAULTS.maxConstraints, true)),
      seed: positiveNumber('--seed', opts.seed, TRAIN_DEFAULTS.seed, true),
      keepExited: opts.keepExited !== false,
      natives,
      log,
    };
    const model = trainModel(images, cfg);
    const tTrain = performance.now();
    let doc = signatureDoc(model, opts, [], rob);
    const sig = resolveSignature(doc, opts.outPath ?? '<kcarve train>', { layout: opts.layout });
    const training = images.map((img) => judgeImage(sig, img, natives, model.objectSize));
    doc = signatureDoc(model, opts, training, rob);
    const tCheck = performance.now();
    const folds = opts.crossValidate === false ? [] : crossValidate(images, cfg);
    const tEnd = performance.now();
    const seconds = { train: (tTrain - t0) / 1000, check: (tCheck - tTrain) / 1000, crossValidation: (tEnd - tCheck) / 1000, total: (tEnd - t0) / 1000 };
    const result: TrainResult = { doc, model, training, folds, report: '', seconds, ...(rob ? { robustness: rob } : {}) };
    result.report = renderReport(result, opts);
    return result;
  } finally {
    natives.close();
    for (const img of images) closeTrainingImage(img);
  }
}
