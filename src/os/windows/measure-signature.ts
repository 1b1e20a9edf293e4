// Measuring a Windows signature on images with ground truth (kcarve-truth/1): per value
// constraint its support (share of the true _EPROCESS objects it holds on) and negative
// rate (share of aligned non-object offsets it holds on), per edge its support (through
// the kernel space discovery finds without hints), and the whole signature's hits per
// status. bench/windows-signatures.ts writes the figures into the signature files.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type PhysAddr, phys } from '../../addr.js';
import { TruthError } from '../../errors.js';
import { openImage } from '../../layers/open-image.js';
import type { FilePhysical } from '../../layers/file-physical.js';
import { judge } from '../../signatures/edges.js';
import type { Signature } from '../../signatures/load.js';
import { constraintHolds } from '../../signatures/reference.js';
import { programSpan } from '../../signatures/program.js';
import { discoverWindows } from './discover.js';
import { windowsKernelSpace } from './kernel-space.js';
import { winModel } from './model.js';

export interface TruthObject {
  pa: PhysAddr;
  status: string;
  pid: number;
  ppid: number;
  comm: string;
  exitKind?: string;
  mutations: string[];
  /** Exited objects: pid and name still intact (TRUTH.md residue). */
  intact: boolean;
}

export interface WindowsTruthImage {
  dir: string;
  build: string;
  image: FilePhysical;
  objects: TruthObject[];
  layout: Record<string, string>;
  decoys: { kind: string; pa: PhysAddr }[];
}

/** Open `dir`'s raw image and truth.json (a Windows world). */
export function openWindowsTruth(dir: string): WindowsTruthImage {
  const file = join(dir, 'truth.json');
  let t: Record<string, unknown>;
  try {
    t = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new TruthError(file, '', `cannot read: ${(err as Error).message}`);
  }
  if (t['schema'] !== 'kcarve-truth/1' || t['os'] !== 'windows') throw new TruthError(file, '$.schema', 'expected a kcarve-truth/1 file of a Windows image');
  const images = (t['image'] ?? {}) as Record<string, string>;
  const name = images['raw'] ?? images['elf'] ?? images['lime'];
  if (name === undefined) throw new TruthError(file, '$.image', 'names no image file');
  const kernel = t['kernel'] as { build: string };
  const objects = (t['tasks'] as Record<string, unknown>[]).map((x): TruthObject => {
    const residue = x['residue'] as { pid: boolean; comm: boolean } | undefined;
    return {
      pa: phys(BigInt(x['pa'] as string)),
      status: x['status'] as string,
      pid: x['pid'] as number,
      ppid: x['ppid'] as number,
      comm: x['comm'] as string,
      ...(x['exit_kind'] === undefined ? {} : { exitKind: x['exit_kind'] as string }),
      mutations: (x['mutations'] as string[]) ?? [],
      intact: residue === undefined || (residue.pid && residue.comm),
    };
  });
  const decoys = ((t['decoys'] as { kind: string; pa: string }[]) ?? []).map((d) => ({ kind: d.kind, pa: phys(BigInt(d.pa)) }));
  return { dir, build: kernel.build, image: openImage(join(dir, name)), objects, layout: t['layout'] as Record<string, string>, decoys };
}

export interface SignatureMeasure {
  positives: number;
  negatives: number;
  constraints: { support: number; negativeRate: number }[];
  edges: { support: number }[];
}

/** A small seeded generator for the negative sample (xorshift32). */
function sampler(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}

/**
 * Measure `sig` (an _EPROCESS-scanning signature) on the images. Positives: every true
 * object whose body is intact; negatives: `negatives` random aligned offsets per image
 * not inside any true object.
 */
export function measureWindowsSignature(sig: Signature, images: readonly WindowsTruthImage[], negatives = 100_000): SignatureMeasure {
  const m = winModel(sig.layout);
  const program = sig.program(m.pointerMode);
  const span = Math.max(programSpan(program), m.ep.size);
  const held = program.constraints.map(() => 0);
  const neg = program.constraints.map(() => 0);
  const edges = sig.edges.map(() => 0);
  let positives = 0;
  let negCount = 0;
  for (const img of images) {
    const pos = img.objects.filter((o) => o.intact);
    const kernel = discoverWindows(img.image, sig, pos.map((o) => o.pa), {});
    const space = windowsKernelSpace(img.image, kernel);
    for (const o of pos) {
      const bytes = img.image.readPhys(o.pa, span);
      positives += 1;
      program.constraints.forEach((c, i) => {
        if (constraintHolds(bytes, 0, bytes.length, c)) held[i]! += 1;
      });
      const v = judge(sig, bytes, o.pa, { space, matchesAt: () => true });
      v.edges.forEach((e, i) => {
        if (e.outcome === 'held') edges[i]! += 1;
      });
    }
    const taken = img.objects.map((o) => [o.pa, o.pa + m.ep.size] as const);
    const rnd = sampler(0x5eed ^ img.objects.length);
    const slots = Math.floor((img.image.endAddress - span) / program.alignment);
    for (let n = 0; n < negatives; ) {
      const pa = Math.floor(rnd() * slots) * program.alignment;
      if (taken.some(([a, b]) => pa + span > a && pa < b) || !img.image.isMappedPhys(phys(pa), span)) continue;
      const bytes = img.image.readPhys(phys(pa), span);
      n += 1;
      negCount += 1;
      program.constraints.forEach((c, i) => {
        if (constraintHolds(bytes, 0, bytes.length, c)) neg[i]! += 1;
      });
    }
  }
  return {
    positives,
    negatives: negCount,
    constraints: held.map((h, i) => ({ support: h / positives, negativeRate: neg[i]! / negCount })),
    edges: edges.map((e) => ({ support: e / positives })),
  };
}

export interface StatusScore {
  found: number;
  total: number;
}

export interface RecordScore {
  live: StatusScore;
  hidden: StatusScore;
  /** Terminated processes (object still referenced). */
  terminated: StatusScore;
  /** Freed process objects whose pid and name survive (TRUTH.md residue). */
  freed: StatusScore;
  /** Freed objects whose residue is gone: found anyway (not counted as missed). */
  freedBroken: StatusScore;
  /** Records at no true object. */
  falsePositives: number;
  /** Truth objects found with another pid, ppid or name than the truth's, among those no attack changed. */
  wrongFields: number;
}

/** Score scan records against a truth image: found / total per status, false positives. */
export function scoreRecords(t: WindowsTruthImage, records: readonly { pa: number; pid?: number; ppid?: number; comm?: string }[]): RecordScore {
  const byPa = new Map(records.map((r) => [r.pa, r]));
  const s: RecordScore = {
    live: { found: 0, total: 0 },
    hidden: { found: 0, total: 0 },
    terminated: { found: 0, total: 0 },
    freed: { found: 0, total: 0 },
    freedBroken: { found: 0, total: 0 },
    falsePositives: 0,
    wrongFields: 0,
  };
  for (const o of t.objects) {
    const bucket =
      o.status === 'live' ? s.live : o.status === 'hidden' ? s.hidden : o.exitKind === 'freed' ? (o.intact ? s.freed : s.freedBroken) : s.terminated;
    bucket.total += 1;
    const r = byPa.get(o.pa);
    if (r === undefined) continue;
    bucket.found += 1;
    const mutated = (f: string) => o.mutations.includes(f);
    if (o.intact && ((!mutated('UniqueProcessId') && r.pid !== o.pid) || r.ppid !== o.ppid || (!mutated('ImageFileName') && r.comm !== o.comm))) s.wrongFields += 1;
  }
  const truthPas = new Set(t.objects.map((o) => o.pa as number));
  for (const r of records) if (!truthPas.has(r.pa)) s.falsePositives += 1;
  return s;
}
