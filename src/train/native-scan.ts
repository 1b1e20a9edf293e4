// Whole-image scans with the native matcher, and what their hits are against the
// truth: every aligned offset of every run is tested (a window that runs past its
// run's end is not a candidate, as in the scan engine), and a hit at a truth object's
// pa is that object; any other hit is a false positive (at a listed decoy or not).
// Metric-free, so `kcarve eval` can reuse it.
import { SignatureError } from '../errors.js';
import { type CompiledProgram, type NativeImage, compileProgram, openImage as openNativeImage, scanImage } from '../native/index.js';
import type { Program } from '../signatures/program.js';
import type { TruthStatus } from './truth-file.js';
import type { TrainingImage } from './training-image.js';

/** Native handles of the images, opened once and closed together. */
export class NativeImages {
  private readonly handles = new Map<string, NativeImage>();

  handle(img: TrainingImage): NativeImage {
    let h = this.handles.get(img.imagePath);
    if (!h) this.handles.set(img.imagePath, (h = openNativeImage(img.imagePath)));
    return h;
  }

  close(): void {
    for (const h of this.handles.values()) h.close();
    this.handles.clear();
  }
}

export interface ScanHits {
  /** Physical addresses of the hits, ascending. */
  hits: number[];
  /** The scan stopped at maxHits: `hits` is a prefix, not the whole set. */
  truncated: boolean;
}

/** Every hit of `program` over the image, physical addresses (capped at maxHits per run). */
export function scanHits(natives: NativeImages, img: TrainingImage, program: Program | CompiledProgram, maxHits = 1 << 22): ScanHits {
  const compiled = 'constraintCount' in program ? program : compileProgram(program, 'kcarve train');
  const h = natives.handle(img);
  const hits: number[] = [];
  let truncated = false;
  for (const run of img.physical.runs) {
    const window = { start: run.fileOffset, end: run.fileOffset + run.length, limit: run.fileOffset + run.length, phase: run.paddr % compiled.alignment };
    let found: Float64Array;
    try {
      found = scanImage(h, compiled, window, { maxHits });
    } catch (err) {
      if (err instanceof SignatureError && /not selective enough/.test(err.message)) {
        truncated = true;
        continue;
      }
      throw err;
    }
    for (const off of found) hits.push(off - run.fileOffset + run.paddr);
  }
  hits.sort((a, b) => a - b);
  return { hits, truncated };
}

export interface HitClasses {
  /** Hits on truth objects, by status. */
  found: Record<TruthStatus, number>;
  /** Truth objects present, by status. */
  present: Record<TruthStatus, number>;
  /** Hits on no truth object. */
  falsePositives: number[];
  /** The false positives that sit on a listed decoy, by decoy kind. */
  decoyHits: Record<string, number>;
  /** Truth objects (live/hidden) the hits missed, by pa. */
  missed: number[];
}

export function classifyHits(img: TrainingImage, hits: readonly number[]): HitClasses {
  const found: Record<TruthStatus, number> = { live: 0, hidden: 0, exited: 0 };
  const present: Record<TruthStatus, number> = { live: 0, hidden: 0, exited: 0 };
  for (const o of img.truth.objects) present[o.status] += 1;
  const decoyKind = new Map(img.decoys.map((d) => [d.pa, d.kind]));
  const falsePositives: number[] = [];
  const decoyHits: Record<string, number> = {};
  const hitSet = new Set(hits);
  for (const pa of hits) {
    const o = img.byPa.get(pa);
    if (o) {
      found[o.status] += 1;
      continue;
    }
    falsePositives.push(pa);
    const k = decoyKind.get(pa);
    if (k !== undefined) decoyHits[k] = (decoyHits[k] ?? 0) + 1;
  }
  const missed = img.positives.filter((o) => !hitSet.has(o.pa)).map((o) => o.pa);
  return { found, present, falsePositives, decoyHits, missed };
}

/** GiB of memory that is not a truth object: the denominator of false positives per GiB. */
export function nonObjectGiB(images: readonly TrainingImage[], objectSize: number): number {
  let bytes = 0;
  for (const img of images) bytes += img.mappedBytes - img.truth.objects.length * objectSize;
  return bytes / 2 ** 30;
}
