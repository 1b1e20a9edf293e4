// How selective a signature's value constraints are, measured on images with
// ground truth: each constraint's support (share of the true objects it accepts)
// and negative rate (share of the other aligned positions it accepts), and what
// the whole program finds (true and false positives). The native matcher sweeps
// each physical run once per constraint, so a measurement costs a few passes
// over each image at memory speed.
import { type PhysAddr, phys } from '../addr.js';
import type { PhysicalReader } from '../layers/physical.js';
import { compileProgram, openImage as openNativeImage, scanImage } from '../native/index.js';
import type { Signature } from './load.js';
import type { PointerMode, Program } from './program.js';
import { constraintHolds } from './reference.js';
import { programSpan } from './program.js';

/** Physical addresses where every constraint of `program` holds, ascending, run by run. */
export function scanRuns(image: PhysicalReader, program: Program, options: { maxHits?: number } = {}): PhysAddr[] {
  const compiled = compileProgram(program, image.path);
  const native = openNativeImage(image.path);
  try {
    const out: PhysAddr[] = [];
    for (const r of image.runs) {
      const window = { start: r.fileOffset, end: r.fileOffset + r.length, limit: r.fileOffset + r.length, phase: r.paddr % program.alignment };
      for (const off of scanImage(native, compiled, window, { maxHits: options.maxHits ?? 1 << 24 })) out.push(phys(r.paddr + (off - r.fileOffset)));
    }
    return out;
  } finally {
    native.close();
  }
}

/**
 * How many candidates match `program`, and which of `positives` among them, without
 * holding every hit: the runs are scanned in windows small enough that no window
 * can exceed the matcher's hit cap.
 */
export function countRuns(image: PhysicalReader, program: Program, positives: ReadonlySet<number>): { hits: number; positives: number } {
  const compiled = compileProgram(program, image.path);
  const native = openNativeImage(image.path);
  const step = program.alignment * (1 << 22);
  let hits = 0;
  let found = 0;
  try {
    for (const r of image.runs) {
      for (let at = 0; at < r.length; at += step) {
        const end = r.fileOffset + Math.min(r.length, at + step);
        const window = { start: r.fileOffset + at, end, limit: r.fileOffset + r.length, phase: (r.paddr + at) % program.alignment };
        const got = scanImage(native, compiled, window, { maxHits: 1 << 22 });
        hits += got.length;
        for (const off of got) if (positives.has(r.paddr + (off - r.fileOffset))) found += 1;
      }
    }
    return { hits, positives: found };
  } finally {
    native.close();
  }
}

export interface MeasureSample {
  name: string;
  image: PhysicalReader;
  /** Physical addresses of the true objects in the image. */
  positives: readonly PhysAddr[];
}

export interface ConstraintMeasure {
  /** JSON path of the constraint in the signature. */
  where: string;
  support: number;
  negativeRate: number;
}

export interface SampleMeasure {
  name: string;
  positives: number;
  /** Positives the whole program finds. */
  found: number;
  /** Program hits that are no true object. */
  falsePositives: number;
  /** Aligned positions tested. */
  positions: number;
}

export interface SignatureMeasure {
  constraints: ConstraintMeasure[];
  samples: SampleMeasure[];
  /** Program false positives per GiB of scanned memory, over all samples. */
  fpPerGiB: number;
}

function alignedPositions(image: PhysicalReader, alignment: number): number {
  let n = 0;
  for (const r of image.runs) {
    const first = (alignment - (r.paddr % alignment)) % alignment;
    if (first < r.length) n += Math.floor((r.length - first - 1) / alignment) + 1;
  }
  return n;
}

/** Measure every value constraint of `sig` and the whole program on the samples. */
export function measureSignature(sig: Signature, samples: readonly MeasureSample[], mode: PointerMode): SignatureMeasure {
  const program = sig.program(mode);
  const span = programSpan(program);
  const positivesHeld = program.constraints.map(() => 0);
  const negativeHits = program.constraints.map(() => 0);
  let positivesTotal = 0;
  let negativesTotal = 0;
  let mappedBytes = 0;
  let falsePositives = 0;
  const out: SampleMeasure[] = [];
  for (const s of samples) {
    const truth = new Set<number>(s.positives);
    const positions = alignedPositions(s.image, program.alignment);
    const negatives = positions - truth.size;
    negativesTotal += negatives;
    mappedBytes += s.image.mappedSize;
    for (const pa of s.positives) {
      const bytes = s.image.readPhys(pa, span);
      program.constraints.forEach((c, i) => {
        if (constraintHolds(bytes, 0, bytes.length, c)) positivesHeld[i]! += 1;
      });
    }
    positivesTotal += s.positives.length;
    program.constraints.forEach((c, i) => {
      const n = countRuns(s.image, { alignment: program.alignment, constraints: [c] }, truth);
      negativeHits[i]! += n.hits - n.positives;
    });
    const n = countRuns(s.image, program, truth);
    falsePositives += n.hits - n.positives;
    out.push({ name: s.name, positives: s.positives.length, found: n.positives, falsePositives: n.hits - n.positives, positions });
  }
  return {
    constraints: sig.constraints.map((c, i) => ({
      where: c.where,
      support: positivesTotal === 0 ? 0 : positivesHeld[i]! / positivesTotal,
      negativeRate: negativesTotal === 0 ? 0 : negativeHits[i]! / negativesTotal,
    })),
    samples: out,
    fpPerGiB: mappedBytes === 0 ? 0 : falsePositives / (mappedBytes / 2 ** 30),
  };
}
