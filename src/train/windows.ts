// Instances as byte windows: `count` windows of `size` bytes each, read from the
// training images at physical addresses. Positives are truth objects read at their
// `pa`; negatives are aligned offsets elsewhere (sampled uniformly over every
// candidate offset a scan would test, or taken from a scan's hits). Everything the
// invariant inference and the selection test runs over these buffers.
import { phys } from '../addr.js';
import type { PhysicalReader, PhysicalRun } from '../layers/physical.js';
import { CachedPhysical } from './cached-physical.js';
import { Prng } from '../synth/prng.js';
import type { TrainingImage } from './training-image.js';

export interface WindowSet {
  size: number;
  count: number;
  /** Window i is bytes[i * size, (i + 1) * size). */
  bytes: Uint8Array;
  view: DataView;
  /** Index into the image list per window. */
  image: Int32Array;
  pa: Float64Array;
}

export interface WindowRef {
  image: number;
  pa: number;
}

/** Bytes read per system call at most. */
const STREAM_CHUNK = 8 * 1024 * 1024;

/** The layer to stream large reads from (below the block cache, so streaming does not evict it). */
function streamLayer(img: TrainingImage): PhysicalReader {
  return img.physical instanceof CachedPhysical ? img.physical.inner : img.physical;
}

/** The run holding pa, if any. */
function runAt(img: TrainingImage, pa: number): PhysicalRun | undefined {
  return img.physical.runs.find((r) => pa >= r.paddr && pa < r.paddr + r.length);
}

/**
 * Call `visit(view, at, i)` for the window of every ref, where the window's bytes are
 * view[at, at + size). Windows of one image are taken in address order and grouped
 * while they fit one read (up to 8 MiB, inside one run), so the number of system calls
 * is the number of groups, and the bytes pass through one reused buffer: nothing the
 * size of the whole set is ever held (see ./cached-physical.ts for why this matters).
 */
export function visitWindows(images: readonly TrainingImage[], refs: readonly WindowRef[], size: number, visit: (view: DataView, at: number, i: number) => void): void {
  const byImage = new Map<number, number[]>();
  refs.forEach((r, i) => {
    const l = byImage.get(r.image);
    if (l) l.push(i);
    else byImage.set(r.image, [i]);
  });
  let chunk = new Uint8Array(0);
  let view = new DataView(chunk.buffer);
  const need = (n: number): void => {
    if (chunk.length >= n) return;
    chunk = new Uint8Array(Math.max(n, 1 << 20));
    view = new DataView(chunk.buffer);
  };
  for (const [imageIndex, list] of byImage) {
    const img = images[imageIndex]!;
    list.sort((a, b) => refs[a]!.pa - refs[b]!.pa);
    const layer = streamLayer(img);
    for (let g = 0; g < list.length; ) {
      const first = refs[list[g]!]!.pa;
      const run = runAt(img, first);
      if (run === undefined || first + size > run.paddr + run.length) {
        // Across runs or into a hole: the layer reads it (or names the hole).
        need(size);
        img.physical.readPhysInto(phys(first), chunk.subarray(0, size));
        visit(view, 0, list[g]!);
        g += 1;
        continue;
      }
      let h = g + 1;
      while (h < list.length) {
        const at = refs[list[h]!]!.pa;
        if (at + size - first > STREAM_CHUNK || at + size > run.paddr + run.length) break;
        h += 1;
      }
      const length = refs[list[h - 1]!]!.pa + size - first;
      need(length);
      layer.readPhysInto(phys(first), chunk.subarray(0, length));
      for (let k = g; k < h; k += 1) visit(view, refs[list[k]!]!.pa - first, list[k]!);
      g = h;
    }
  }
}

/** Read the windows at `refs` into one buffer (window i is refs[i]). */
export function readWindows(images: readonly TrainingImage[], refs: readonly WindowRef[], size: number): WindowSet {
  const bytes = new Uint8Array(refs.length * size);
  const image = new Int32Array(refs.length);
  const pa = new Float64Array(refs.length);
  refs.forEach((r, i) => {
    image[i] = r.image;
    pa[i] = r.pa;
  });
  visitWindows(images, refs, size, (view, at, i) => {
    bytes.set(new Uint8Array(view.buffer, view.byteOffset + at, size), i * size);
  });
  return { size, count: refs.length, bytes, view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), image, pa };
}

/** Only the refs whose whole window the image holds. */
export function readableRefs(images: readonly TrainingImage[], refs: readonly WindowRef[], size: number): WindowRef[] {
  return refs.filter((r) => images[r.image]!.physical.isMappedPhys(phys(r.pa), size));
}

/** The bytes of window i. */
export function windowBytes(w: WindowSet, i: number): Uint8Array {
  return w.bytes.subarray(i * w.size, (i + 1) * w.size);
}

/** Candidate offsets of one image: aligned physical addresses whose whole window lies in one run. */
interface CandidateSpan {
  image: number;
  first: number;
  count: number;
}

function candidateSpans(images: readonly TrainingImage[], alignment: number, size: number): CandidateSpan[] {
  const spans: CandidateSpan[] = [];
  images.forEach((img, index) => {
    for (const run of img.physical.runs) {
      const first = Math.ceil(run.paddr / alignment) * alignment;
      const lastStart = run.paddr + run.length - size;
      if (lastStart < first) continue;
      spans.push({ image: index, first, count: Math.floor((lastStart - first) / alignment) + 1 });
    }
  });
  return spans;
}

/** How many offsets a scan tests in these images at this alignment (every run, windows inside it). */
export function candidateCount(images: readonly TrainingImage[], alignment: number, size: number): number {
  return candidateSpans(images, alignment, size).reduce((s, c) => s + c.count, 0);
}

/** Random negatives come in clusters of this many offsets inside CLUSTER_BYTES (see sampleNegatives). */
export const CLUSTER_SIZE = 16;
export const CLUSTER_BYTES = 256 * 1024;

/**
 * `count` distinct aligned offsets drawn from all candidate offsets of the images,
 * skipping truth objects (any status): the random negatives. Cluster sampling: an
 * anchor offset is drawn uniformly over every candidate, then CLUSTER_SIZE - 1 more
 * uniformly within CLUSTER_BYTES around it (same run). Each offset is still equally
 * likely to be drawn (up to run edges), and reading costs count / CLUSTER_SIZE reads of
 * CLUSTER_BYTES instead of a pass over every image. Deterministic for a seed.
 */
export function sampleNegatives(images: readonly TrainingImage[], alignment: number, size: number, count: number, seed: number): WindowRef[] {
  const spans = candidateSpans(images, alignment, size);
  const total = spans.reduce((s, c) => s + c.count, 0);
  const rng = new Prng(seed, 'kcarve-train', 'negatives');
  const seen = new Set<string>();
  const out: WindowRef[] = [];
  const want = Math.min(count, total);
  if (want === 0) return [];
  const radius = Math.max(1, Math.floor(CLUSTER_BYTES / 2 / alignment));
  let tries = 0;
  while (out.length < want && tries < want * 20) {
    let k = rng.range(0, total - 1);
    let span = spans[0]!;
    for (const s of spans) {
      if (k < s.count) {
        span = s;
        break;
      }
      k -= s.count;
    }
    for (let j = 0; j < CLUSTER_SIZE && out.length < want; j += 1) {
      tries += 1;
      const idx = j === 0 ? k : Math.min(span.count - 1, Math.max(0, k - radius + rng.int(2 * radius + 1)));
      const pa = span.first + idx * alignment;
      const key = `${span.image}:${pa}`;
      if (seen.has(key) || images[span.image]!.byPa.has(pa)) continue;
      seen.add(key);
      out.push({ image: span.image, pa });
    }
  }
  // Drawing order is cluster by cluster; shuffle so that any prefix is a uniform subsample.
  return subsample(out, out.length, seed, 'negatives-order');
}

/** Up to `count` of `refs`, drawn without replacement in random order (all of them when there are fewer). */
export function subsample<T>(refs: readonly T[], count: number, seed: number, label: string): T[] {
  if (refs.length < count) return [...refs];
  const rng = new Prng(seed, 'kcarve-train', label);
  const copy = [...refs];
  for (let i = 0; i < count; i += 1) {
    const j = i + rng.int(copy.length - i);
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy.slice(0, count);
}
