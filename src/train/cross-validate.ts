// Leave-one-image-out cross-validation: for each training image, train on the
// others exactly as `kcarve train` does, then scan the held-out image with the
// result (native matcher, then judge() on every hit) and count what it found and
// what it wrongly accepted. The held-out image's kernel space comes from its truth
// (finding it without truth is the scan engine's job, not the signature's).
import { resolveSignature } from '../signatures/load.js';
import type { SignatureDoc } from '../signatures/format.js';
import { type ImageOutcome, judgeImage } from './judge-image.js';
import { type ModelConfig, trainModel } from './model.js';
import type { TrainingImage } from './training-image.js';

export interface FoldResult {
  heldOut: string;
  trainedOn: string[];
  /** Fields of the fold's value constraints, in order. */
  constraints: string[];
  edges: { required: number; weighted: number };
  /** The fold's false positives per GiB on its own training images. */
  trainFpPerGiB: number;
  outcome: ImageOutcome;
  /** Truth objects in the held-out image, by status. */
  present: { live: number; hidden: number; exited: number };
  seconds: number;
}

export function foldDoc(type: string, m: ReturnType<typeof trainModel>): SignatureDoc {
  return {
    schema: 'kcarve-signature/1',
    name: `${type}-fold`,
    version: '0.0.0',
    target: { os: m.shape.os, type },
    alignment: m.alignment,
    constraints: m.constraints,
    edges: m.edgeSpecs,
    scoring: { minScore: m.minScore },
  };
}

export function crossValidate(images: readonly TrainingImage[], cfg: ModelConfig): FoldResult[] {
  if (images.length < 2) return [];
  const folds: FoldResult[] = [];
  images.forEach((heldOut, k) => {
    const t0 = performance.now();
    const rest = images.filter((_, i) => i !== k);
    cfg.log(`cross-validation: holding out ${heldOut.id}`);
    const m = trainModel(rest, { ...cfg, log: () => {} });
    const sig = resolveSignature(foldDoc(cfg.type, m), `<fold without ${heldOut.id}>`, { layout: cfg.layout });
    const outcome = judgeImage(sig, heldOut, cfg.natives, m.objectSize);
    folds.push({
      heldOut: heldOut.id,
      trainedOn: rest.map((i) => i.id),
      constraints: m.constraints.map((c) => `${c.field}${c.byte !== undefined ? `+${c.byte}` : ''} ${c.kind}`),
      edges: { required: m.edges.filter((e) => e.role === 'required').length, weighted: m.edges.filter((e) => e.role === 'weighted').length },
      trainFpPerGiB: m.selection.fpPerGiB,
      outcome,
      present: outcome.value.present,
      seconds: (performance.now() - t0) / 1000,
    });
  });
  return folds;
}
