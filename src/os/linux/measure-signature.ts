// Measuring a Linux task_struct signature on real images with ground truth
// (directories holding truth.json, kcarve-truth/1, and the image it names):
// per-constraint support and negative rate (src/signatures/measure.ts), per-edge
// support on the true objects (discovery without hints, then judge()), and the
// whole program's hits per image. The figures go into the signature's provenance.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type PhysAddr, phys } from '../../addr.js';
import { TruthError } from '../../errors.js';
import { openImage } from '../../layers/open-image.js';
import type { FilePhysical } from '../../layers/file-physical.js';
import type { SignatureDoc } from '../../signatures/format.js';
import { judge } from '../../signatures/edges.js';
import type { Signature } from '../../signatures/load.js';
import { measureSignature, scanRuns, type SignatureMeasure } from '../../signatures/measure.js';
import { evaluateAt } from '../../signatures/reference.js';
import { discoverLinux } from './discover.js';
import { LinuxKernelSpace } from './kernel-space.js';

export interface TruthObject {
  pa: PhysAddr;
  status: string;
}

export interface TrainingImage {
  name: string;
  dir: string;
  image: FilePhysical;
  /** Truth objects whose bytes are in the image (live, hidden, and exited with intact residue). */
  positives: TruthObject[];
}

/** Open `dir`'s image (`raw` or `elf`, as truth.json names it) and its truth objects. */
export function openTrainingImage(dir: string, which: 'raw' | 'elf' = 'raw'): TrainingImage {
  const file = join(dir, 'truth.json');
  let truth: Record<string, unknown>;
  try {
    truth = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new TruthError(file, '', `cannot read: ${(err as Error).message}`);
  }
  if (truth['schema'] !== 'kcarve-truth/1' || truth['os'] !== 'linux') throw new TruthError(file, 'schema', 'expected a kcarve-truth/1 file of a Linux image');
  const names = (truth['image'] ?? {}) as Record<string, unknown>;
  const imageName = names[which];
  if (typeof imageName !== 'string') throw new TruthError(file, `image.${which}`, 'names no image file');
  const tasks = truth['tasks'];
  if (!Array.isArray(tasks)) throw new TruthError(file, 'tasks', 'must be an array');
  const positives: TruthObject[] = [];
  tasks.forEach((raw, i) => {
    const t = raw as Record<string, unknown>;
    if (typeof t['pa'] !== 'string' || !/^0x[0-9a-f]+$/i.test(t['pa'])) throw new TruthError(file, `tasks[${i}].pa`, 'must be a hex string');
    const residue = t['residue'] as Record<string, boolean> | undefined;
    if (t['status'] === 'exited' && residue && !(residue['pid'] && residue['tgid'] && residue['comm'])) return;
    positives.push({ pa: phys(BigInt(t['pa'])), status: String(t['status']) });
  });
  return { name: dir.split('/').filter(Boolean).pop() ?? dir, dir, image: openImage(join(dir, imageName)), positives };
}

export interface LinuxSignatureMeasure extends SignatureMeasure {
  /** Per edge: held / judged over the true objects. */
  edges: Array<{ name: string; held: number; judged: number }>;
  /** Per image and status: found by the program. */
  perStatus: Array<{ name: string; counts: Record<string, { found: number; total: number }>; falsePositives: number }>;
}

/** Measure `sig` on the training images. */
export function measureLinuxSignature(sig: Signature, images: readonly TrainingImage[]): LinuxSignatureMeasure {
  const mode = 'x86-64-4';
  const base = measureSignature(
    sig,
    images.map((i) => ({ name: i.name, image: i.image, positives: i.positives.map((p) => p.pa) })),
    mode,
  );
  const edges = sig.edges.map((e) => ({ name: e.name, held: 0, judged: 0 }));
  const perStatus: LinuxSignatureMeasure['perStatus'] = [];
  const program = sig.program(mode);
  const size = sig.layout.sizeOf(sig.targetType);
  for (const img of images) {
    const hits = scanRuns(img.image, program, { maxHits: 1 << 26 });
    const hitSet = new Set<number>(hits);
    const counts: Record<string, { found: number; total: number }> = {};
    for (const p of img.positives) {
      const c = (counts[p.status] ??= { found: 0, total: 0 });
      c.total += 1;
      if (hitSet.has(p.pa)) c.found += 1;
    }
    const truthPas = new Set<number>(img.positives.map((p) => p.pa));
    perStatus.push({ name: img.name, counts, falsePositives: hits.filter((h) => !truthPas.has(h)).length });
    if (sig.edges.length === 0) continue;
    const info = discoverLinux(img.image, sig, hits, {});
    const space = new LinuxKernelSpace(img.image, info);
    const matchesAt = (pa: PhysAddr): boolean => {
      try {
        const b = img.image.readPhys(pa, size);
        return evaluateAt(b, 0, b.length, program);
      } catch {
        return false;
      }
    };
    for (const p of img.positives) {
      const bytes = img.image.readPhys(p.pa, size);
      const v = judge(sig, bytes, p.pa, { space, matchesAt });
      v.edges.forEach((r, i) => {
        edges[i]!.judged += 1;
        if (r.outcome === 'held') edges[i]!.held += 1;
      });
    }
  }
  return { ...base, edges, perStatus };
}

const round = (x: number): number => Number(x.toPrecision(4));

/** Write the measured figures into the document's provenance. */
export function applyMeasure(doc: SignatureDoc, m: LinuxSignatureMeasure, trainedOn: readonly string[]): SignatureDoc {
  const constraints = doc.constraints.map((c, i) => {
    const r = m.constraints[i]!;
    return { ...c, provenance: { ...(c.provenance ?? { source: 'header' as const }), support: round(r.support), negativeRate: round(r.negativeRate) } };
  });
  const edges = (doc.edges ?? []).map((e, i) => {
    const r = m.edges[i]!;
    return { ...e, provenance: { ...(e.provenance ?? { source: 'header' as const }), support: r.judged === 0 ? 0 : round(r.held / r.judged) } };
  });
  const lines = m.perStatus.map(
    (s) =>
      `${s.name}: ${Object.entries(s.counts)
        .map(([k, v]) => `${k} ${v.found}/${v.total}`)
        .join(', ')}, false positives ${s.falsePositives}`,
  );
  return {
    ...doc,
    constraints,
    edges,
    provenance: {
      ...doc.provenance,
      trainedOn: [...trainedOn],
      fpPerGiB: round(m.fpPerGiB),
      notes: [...(doc.provenance?.notes ?? []), 'measured (support = share of true objects, negativeRate = share of other 64-byte-aligned positions):', ...lines],
    },
  };
}
