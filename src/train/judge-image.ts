// Scan one image with a loaded signature and sort the outcome against its truth:
// value hits (native matcher over every aligned offset), then the graph check
// (judge()) on each hit, through the image's kernel space rebuilt from its truth.
// Counts only; precision, recall and intervals are `kcarve eval`'s business.
import { phys } from '../addr.js';
import { InvalidAddressError } from '../errors.js';
import { edgeContextFor } from './edge-eval.js';
import { judge } from '../signatures/edges.js';
import type { Signature } from '../signatures/load.js';
import { type HitClasses, type NativeImages, classifyHits, scanHits } from './native-scan.js';
import type { TrainingImage } from './training-image.js';
import type { TruthStatus } from './truth-file.js';

export interface ImageOutcome {
  id: string;
  /** Value-constraint hits, sorted against the truth. */
  value: HitClasses;
  /** Hits the graph check accepted. */
  accepted: { found: Record<TruthStatus, number>; falsePositives: number[] };
  truncated: boolean;
  /** GiB of non-object memory in the image. */
  nonObjectGiB: number;
  seconds: number;
}

export function judgeImage(sig: Signature, img: TrainingImage, natives: NativeImages, objectSize: number): ImageOutcome {
  const t0 = performance.now();
  const program = sig.program(img.shape.mode);
  const { hits, truncated } = scanHits(natives, img, program);
  const value = classifyHits(img, hits);
  const ctx = edgeContextFor(img, program, new Map());
  const found: Record<TruthStatus, number> = { live: 0, hidden: 0, exited: 0 };
  const falsePositives: number[] = [];
  for (const pa of hits) {
    let bytes: Uint8Array;
    try {
      bytes = img.physical.readPhys(phys(pa), objectSize);
    } catch (err) {
      if (err instanceof InvalidAddressError) continue;
      throw err;
    }
    if (!judge(sig, bytes, phys(pa), ctx).accepted) continue;
    const o = img.byPa.get(pa);
    if (o) found[o.status] += 1;
    else falsePositives.push(pa);
  }
  const nonObjectGiB = (img.mappedBytes - img.truth.objects.length * objectSize) / 2 ** 30;
  return { id: img.id, value, accepted: { found, falsePositives }, truncated, nonObjectGiB, seconds: (performance.now() - t0) / 1000 };
}
