// One training (or evaluation) image: an IMAGE_DIR holding a memory image and its
// truth.json. Opens the image's physical layer, rebuilds its kernel address space from
// the truth, and sorts the truth objects into positives (live and hidden), exited
// objects (kept apart: their slots were freed and partly overwritten) and decoys.
// Plain, metric-free plumbing that `kcarve eval` can reuse as is.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { UsageError } from '../errors.js';
import { openImage } from '../layers/open-image.js';
import { CachedPhysical } from './cached-physical.js';
import type { PhysicalReader } from '../layers/physical.js';
import { type PointerShape, pointerShapeFor } from './pointer-shape.js';
import { type TruthDecoy, type TruthFile, type TruthObject, loadTruth } from './truth-file.js';
import { TruthKernelSpace } from './truth-space.js';

export interface TrainingImage {
  /** The directory's name (`train-01-self`): how reports and `trainedOn` name it. */
  id: string;
  dir: string;
  /** sha256 of truth.json (its addresses pin the image's content), first 16 hex digits. */
  truthHash: string;
  imagePath: string;
  truth: TruthFile;
  /** The image's physical layer, behind a block cache (./cached-physical.ts). */
  physical: PhysicalReader;
  space: TruthKernelSpace;
  shape: PointerShape;
  /** Live and hidden objects: what a signature must find. */
  positives: TruthObject[];
  exited: TruthObject[];
  decoys: TruthDecoy[];
  /** Physical address → truth object, for every status. */
  byPa: Map<number, TruthObject>;
  /** Bytes of guest memory the image holds. */
  mappedBytes: number;
}

/** Which image file of a directory to read: raw first (file offset = physical), then ELF, then LiME. */
function imageFileOf(dir: string, truth: TruthFile): string {
  if (truth.image['compression'] !== undefined) {
    throw new UsageError(`${dir}: the image is compressed (${truth.image['compression']}); decompress it first (e.g. zstd -d)`);
  }
  for (const key of ['raw', 'elf', 'lime']) {
    const name = truth.image[key];
    if (name !== undefined && existsSync(join(dir, name))) return join(dir, name);
  }
  const named = Object.values(truth.image).join(', ') || 'none';
  throw new UsageError(`${dir}: none of the images truth.json names is there (${named})`);
}

/** Open IMAGE_DIR (memory image + truth.json). Close it with closeTrainingImage. */
export function openTrainingImage(dirArg: string, pointerSize: number): TrainingImage {
  const dir = resolve(dirArg);
  const truthPath = join(dir, 'truth.json');
  if (!existsSync(truthPath)) throw new UsageError(`${dirArg}: no truth.json here (an IMAGE_DIR holds a memory image and its truth.json)`);
  const truth = loadTruth(truthPath);
  const truthHash = createHash('sha256').update(readFileSync(truthPath)).digest('hex').slice(0, 16);
  const imagePath = imageFileOf(dir, truth);
  const physical = new CachedPhysical(openImage(imagePath));
  try {
    const shape = pointerShapeFor(truth.os, pointerSize, truth.pagingLevels);
    const space = new TruthKernelSpace(physical, truth, shape.mode);
    const byPa = new Map<number, TruthObject>();
    for (const o of truth.objects) byPa.set(o.pa, o);
    return {
      id: basename(dir),
      dir,
      truthHash,
      imagePath,
      truth,
      physical,
      space,
      shape,
      positives: truth.objects.filter((o) => o.status !== 'exited'),
      exited: truth.objects.filter((o) => o.status === 'exited'),
      decoys: truth.decoys,
      byPa,
      mappedBytes: physical.mappedSize,
    };
  } catch (err) {
    physical.close();
    throw err;
  }
}

export function closeTrainingImage(img: TrainingImage): void {
  img.physical.close();
}

/** The object size truth records for `type` (bytes per slab object), if any. */
export function truthObjectSize(truth: TruthFile, type: string): number | undefined {
  const bare = type.replace(/^_+/, '');
  const entry = truth.offsets[type] ?? truth.offsets[bare] ?? truth.offsets[`_${bare}`];
  return entry?.alloc_size ?? entry?.size;
}
