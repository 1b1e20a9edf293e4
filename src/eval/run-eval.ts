// `runEval(options)`: the library entry behind `kcarve eval`. Every signature scans
// every image (through runScan, the library behind `kcarve scan`), once as it is and
// once per attack row; each scan is scored against the image's truth.json by physical
// address (./score.ts). Plain data in, a self-describing result out (DESIGN.md,
// "Beyond one machine").
//
// How an attack row is applied, per image:
//  - a synthetic world (truth.json `build.generator` "kcarve synth") is regenerated from
//    the parameters its truth records with the row's --attack (the same seed, so the
//    same world whose hidden processes carry the mutation), in a temporary directory;
//  - a real Linux image is copied into a temporary directory and the hidden
//    task_structs are rewritten in the copy (./image-attack.ts);
//  - real Windows images: not implemented (there are none yet), a UsageError says so.
// The input image is never written. Temporary copies are removed after their row.
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { TruthError, UsageError } from '../errors.js';
import { checkWorkers, createScanPool, defaultWorkerCount } from '../scan/pool.js';
import { runScan } from '../scan/run-scan.js';
import { loadSignature } from '../signatures/load.js';
import { synthesize } from '../synth/synthesize.js';
import { loadTruth, parseTruth, type TruthFile } from '../train/truth-file.js';
import type { Layout } from '../types/layout.js';
import { KCARVE_VERSION } from '../version.js';
import { type AttackRow, NONE_ROW, parseAttackRows } from './attack-rows.js';
import { mutateLinuxImageCopy } from './image-attack.js';
import { gbPerSecond } from './metrics.js';
import { type HitScore, poolScores, scoreHits } from './score.js';

export const EVAL_RESULT_SCHEMA = 'kcarve-eval/1';

export interface EvalOptions {
  /** Signature files, in the order of the columns. */
  signatures: string[];
  /** Directories each holding an image and its truth.json. */
  dirs: string[];
  /** The --attack SPEC (./attack-rows.ts); none: only the unattacked row. */
  attack?: string;
  /** Layout for signatures that name none (the layout-generic baselines); default: the layout of another signature for the same OS. */
  layout?: string;
  /** Scan worker threads (runScan's default when absent). */
  workers?: number;
  /** Where attacked copies go (default: the OS temporary directory). */
  tmpDir?: string;
  /** Confidence of the intervals (default 0.95). */
  confidence?: number;
  /** Progress lines for a human. */
  onProgress?: (line: string) => void;
}

export interface EvalSignature {
  label: string;
  file: string;
  name: string;
  version: string;
  os: string;
  build: string;
  baseline: boolean;
}

export interface EvalImage {
  label: string;
  dir: string;
  image: string;
  os: string;
  build: string;
  /** The kernel's release, when the truth names it apart from the build (Windows: 6.1.7601.17514). */
  release: string;
  synthetic: boolean;
  /** sha256 of its truth.json (the image files are not hashed: they are large). */
  truthSha256: string;
  /** How attack rows were applied to this image. */
  attackMethod: 'regenerated' | 'mutated-copy' | 'none';
}

export interface EvalCell {
  image: string;
  attack: string;
  signature: string;
  mappedBytes: number;
  /** The whole scan: setup, value pass, discovery, graph pass. */
  scanSeconds: number;
  gbPerSecond: number | null;
  /** The value pass alone (the memory-speed sweep). */
  valuePassSeconds: number;
  valueGbPerSecond: number | null;
  candidates: number;
  complete: boolean;
  score: HitScore;
}

export interface EvalPooled {
  attack: string;
  signature: string;
  images: number;
  mappedBytes: number;
  scanSeconds: number;
  gbPerSecond: number | null;
  score: HitScore;
}

export interface EvalResult {
  schema: typeof EVAL_RESULT_SCHEMA;
  kcarveVersion: string;
  confidence: number;
  signatures: EvalSignature[];
  images: EvalImage[];
  attacks: string[];
  /** One per (image, attack, signature) that applies. */
  cells: EvalCell[];
  /** Per (attack, signature), over every image. */
  pooled: EvalPooled[];
  notes: string[];
}

interface SigDoc {
  name?: string;
  version?: string;
  baseline?: boolean;
  target?: { os?: string; build?: string; layout?: string };
}

function readSigDoc(file: string): SigDoc {
  if (!existsSync(file)) throw new UsageError(`--signature ${file}: no such file`);
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as SigDoc;
  } catch (err) {
    throw new UsageError(`--signature ${file}: not valid JSON: ${(err as Error).message}`);
  }
}

const sigLabel = (file: string): string => basename(file).replace(/\.sig\.json$|\.json$/, '');

/** The truth file of `dir`; UsageErrors name the directory. */
export function truthOfDir(dir: string): { truth: TruthFile; raw: Record<string, unknown>; sha256: string } {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`${dir}: not a directory (kcarve eval takes directories holding an image and its truth.json)`);
  const file = join(dir, 'truth.json');
  if (!existsSync(file)) throw new UsageError(`${dir}: no truth.json in this directory (kcarve eval needs the image's ground truth, schema kcarve-truth/1)`);
  const text = readFileSync(file, 'utf8');
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text) as Record<string, unknown>;
  } catch (err) {
    throw new TruthError(file, '', `cannot read: ${(err as Error).message}`);
  }
  return { truth: parseTruth(raw, file), raw, sha256: createHash('sha256').update(text).digest('hex') };
}

function imageFileOf(dir: string, truth: TruthFile): string {
  const name = truth.image['raw'] ?? truth.image['elf'] ?? truth.image['lime'];
  if (name === undefined) throw new UsageError(`${dir}: truth.json names no image file (image.raw, image.elf or image.lime)`);
  const path = join(dir, name);
  if (!existsSync(path)) throw new UsageError(`${dir}: truth.json names ${name}, which is not there`);
  return path;
}

/**
 * Does a signature for (os, build) apply to an image? "generic" fits any build, a Linux
 * signature any Linux image (its layout decides); a Windows signature names its build
 * by name (win7sp1x64) or by release (6.1.7601.17514, as kcarve train writes it).
 */
const fits = (s: EvalSignature, img: EvalImage): boolean =>
  s.os === img.os && (s.build === 'generic' || img.os === 'linux' || s.build === img.build || s.build === img.release);

export async function runEval(options: EvalOptions): Promise<EvalResult> {
  if (options.signatures.length === 0) throw new UsageError('kcarve eval needs at least one --signature FILE');
  if (options.dirs.length === 0) throw new UsageError('kcarve eval needs at least one IMAGE_DIR (a directory with an image and its truth.json)');
  const confidence = options.confidence ?? 0.95;
  const say = options.onProgress ?? (() => undefined);
  const notes: string[] = [];

  const sigDocs = new Map<string, SigDoc>();
  const sigs: EvalSignature[] = options.signatures.map((f) => {
    const d = readSigDoc(f);
    sigDocs.set(resolve(f), d);
    return { label: sigLabel(f), file: resolve(f), name: d.name ?? sigLabel(f), version: d.version ?? '', os: d.target?.os ?? '', build: d.target?.build ?? 'generic', baseline: d.baseline === true };
  });

  const loaded = options.dirs.map((dir) => {
    const { truth, raw, sha256 } = truthOfDir(dir);
    const build = raw['build'] as { generator?: string; params?: Record<string, string | number | boolean> } | undefined;
    const synthetic = build?.generator === 'kcarve synth' && build.params !== undefined;
    const img: EvalImage = {
      label: basename(resolve(dir)),
      dir: resolve(dir),
      image: imageFileOf(dir, truth),
      os: truth.os,
      // Windows truth names the build (win7sp1x64) apart from the release (6.1.7601…).
      build: typeof (raw['kernel'] as Record<string, unknown> | undefined)?.['build'] === 'string' ? ((raw['kernel'] as Record<string, string>)['build'] as string) : truth.release,
      release: truth.release,
      synthetic,
      truthSha256: sha256,
      attackMethod: 'none',
    };
    return { img, truth, params: synthetic ? build!.params! : undefined };
  });
  // Two images of the same name (…/a/world, …/b/world) get their parent in the label.
  for (const l of loaded) if (loaded.filter((m) => m.img.label === l.img.label).length > 1) l.img.label = `${basename(dirname(l.img.dir))}/${l.img.label}`;

  const oses = [...new Set(loaded.map((l) => l.img.os))];
  if (options.attack !== undefined && oses.length > 1) throw new UsageError(`--attack: the images mix ${oses.join(' and ')}; evaluate one OS at a time`);
  const rows: AttackRow[] = options.attack === undefined ? [NONE_ROW] : parseAttackRows(options.attack, oses[0]!);
  if (rows.length > 1) {
    const unsupported = loaded.find((l) => l.params === undefined && l.img.os !== 'linux');
    if (unsupported !== undefined) {
      throw new UsageError(`--attack: ${unsupported.img.dir} is a real ${unsupported.img.os} image; attacks are implemented for synthetic worlds and real Linux images only`);
    }
  }
  for (const s of sigs) {
    if (!loaded.some((l) => fits(s, l.img))) throw new UsageError(`--signature ${s.file}: targets ${s.os} ${s.build}, which none of the images is`);
  }

  // The layout a signature without one resolves against: --layout, or the layout file
  // of another signature for the same OS (the layout-generic baselines need one).
  const layoutFor = (s: EvalSignature): string | undefined => {
    if (options.layout !== undefined) return options.layout;
    if (sigDocs.get(s.file)?.target?.layout !== undefined) return undefined;
    const donor = sigs.find((o) => o.os === s.os && sigDocs.get(o.file)?.target?.layout !== undefined);
    return donor === undefined ? undefined : resolve(dirname(donor.file), sigDocs.get(donor.file)!.target!.layout!);
  };

  // The task_struct layout the attacks on real Linux images write through: the layout
  // of the first signature that names one (or --layout), loaded once.
  const layouts = new Map<string, Layout>();
  const taskLayout = (mine: readonly EvalSignature[]): Layout => {
    const donor = mine.find((s) => sigDocs.get(s.file)?.target?.layout !== undefined) ?? mine[0]!;
    const cached = layouts.get(donor.file);
    if (cached !== undefined) return cached;
    const path = options.layout ?? layoutFor(donor);
    const layout = loadSignature(donor.file, path === undefined ? {} : { layoutPath: path }).layout;
    layouts.set(donor.file, layout);
    return layout;
  };

  // One pool for every scan: worker threads start once, not per (image, row, signature).
  const pool = await createScanPool({ workers: options.workers === undefined ? defaultWorkerCount() : checkWorkers(options.workers) });
  const cells: EvalCell[] = [];
  try {
    for (const { img, truth, params } of loaded) {
      const mine = sigs.filter((s) => fits(s, img));
      for (const row of rows) {
        let tmp: string | undefined;
        try {
          let imagePath = img.image;
          let truthPath = join(img.dir, 'truth.json');
          let objects = truth.objects;
          if (row !== NONE_ROW) {
            tmp = mkdtempSync(join(options.tmpDir ?? tmpdir(), 'kcarve-eval-'));
            if (params !== undefined) {
              img.attackMethod = 'regenerated';
              say(`${img.label}: regenerating the world with --attack ${row.spec.text}`);
              const world = synthesize({ ...params, attack: row.spec.text, out: tmp });
              imagePath = world.imagePath;
              truthPath = world.truthPath;
              objects = loadTruth(world.truthPath).objects;
            } else {
              // A real image; the check above let only Linux ones through.
              img.attackMethod = 'mutated-copy';
              say(`${img.label}: copying the image and rewriting ${row.label} on its hidden tasks`);
              const layout = taskLayout(mine);
              const m = mutateLinuxImageCopy(img.image, tmp, truth.objects, row.spec, layout, `kcarve-eval:${img.label}`);
              imagePath = m.path;
              objects = truth.objects.map((o) => (m.changed.has(o.pa) ? { ...o, mutations: [...o.mutations, ...m.changed.get(o.pa)!] } : o));
            }
          }
          for (const s of mine) {
            say(`${img.label} [${row.label}]: scanning with ${s.label}`);
            const layout = layoutFor(s);
            const r = await runScan({
              image: imagePath,
              os: img.os,
              signature: s.file,
              ...(layout === undefined ? {} : { layout }),
              // A baseline stands for Volatility, which reads the kernel's address space
              // from symbols: it gets it from the truth. kcarve's signatures find it
              // themselves (a baseline's few checks pass on too many look-alikes for
              // discovery to work from its candidates on real images).
              ...(s.baseline ? { truth: truthPath } : {}),
              pool,
              hash: 'none',
            });
            const seconds = r.timings.totalMs / 1000;
            const score = scoreHits(
              objects,
              r.records.map((x) => ({ pa: x.pa as number, ...(x.exitEvidence === undefined ? {} : { exitEvidence: x.exitEvidence }) })),
              r.image.mappedSize,
              { strict: true, confidence },
            );
            cells.push({
              image: img.label,
              attack: row.label,
              signature: s.label,
              mappedBytes: r.image.mappedSize,
              scanSeconds: seconds,
              gbPerSecond: gbPerSecond(r.image.mappedSize, seconds),
              valuePassSeconds: r.timings.valuePassMs / 1000,
              valueGbPerSecond: gbPerSecond(r.image.mappedSize, r.timings.valuePassMs / 1000),
              candidates: r.stats.candidates,
              complete: r.complete,
              score,
            });
            if (!r.complete) notes.push(`${img.label} [${row.label}] ${s.label}: the scan did not cover the whole image (${r.missed.length} range(s) missed)`);
          }
        } finally {
          if (tmp !== undefined) rmSync(tmp, { recursive: true, force: true });
        }
      }
    }
  } finally {
    await pool.close();
  }

  const pooled: EvalPooled[] = [];
  for (const row of rows) {
    for (const s of sigs) {
      const mine = cells.filter((c) => c.attack === row.label && c.signature === s.label);
      if (mine.length === 0) continue;
      const bytes = mine.reduce((a, c) => a + c.mappedBytes, 0);
      const seconds = mine.reduce((a, c) => a + c.scanSeconds, 0);
      pooled.push({ attack: row.label, signature: s.label, images: mine.length, mappedBytes: bytes, scanSeconds: seconds, gbPerSecond: gbPerSecond(bytes, seconds), score: poolScores(mine.map((c) => c.score), bytes, { confidence }) });
    }
  }
  if (sigs.some((s) => s.baseline)) {
    notes.push('baseline signatures scan with the kernel address space taken from truth.json (as Volatility takes it from symbols); the others discover it themselves');
  }
  notes.push('a false positive is any hit at no truth object; "FP with exit evidence" says how many of them the carver saw exit signs on (on real images some may be exited tasks the truth module did not record)');
  return {
    schema: EVAL_RESULT_SCHEMA,
    kcarveVersion: KCARVE_VERSION,
    confidence,
    signatures: sigs,
    images: loaded.map((l) => l.img),
    attacks: rows.map((r) => r.label),
    cells,
    pooled,
    notes,
  };
}
