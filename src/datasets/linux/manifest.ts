// Dataset manifests: a list of real Linux images by name and parameters
// (datasets/linux-train.json, datasets/linux-test.json), built with one command.
//
//   { "schema": "kcarve-dataset/1", "description": "…",
//     "defaults": { "memMiB": 256 },
//     "images": [ { "name": "train-01", "seed": 101, "procs": 10, "hide": 2, … } ] }
//
// Image keys are exactly the fields of LinuxImageParams; unknown keys are refused so a
// typo cannot silently fall back to a default.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UsageError } from '../../errors.js';
import { DEFAULT_LINUX_PARAMS, resolveLinuxParams, type LinuxImageParams } from './plan.js';
import { buildLinuxImage, type BuildLinuxImageOptions, type BuiltLinuxImage } from './build-image.js';

export const MANIFEST_SCHEMA = 'kcarve-dataset/1';

export interface ManifestImage {
  name: string;
  params: LinuxImageParams;
}

export interface DatasetManifest {
  path: string;
  description: string;
  images: ManifestImage[];
}

const PARAM_KEYS = new Set(Object.keys(DEFAULT_LINUX_PARAMS));

function checkParams(path: string, where: string, obj: unknown): Partial<LinuxImageParams> {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new UsageError(`${path}: ${where} must be an object`);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (k === 'name' && where.startsWith('images[')) continue;
    if (!PARAM_KEYS.has(k)) throw new UsageError(`${path}: ${where} has unknown key "${k}" (allowed: ${[...PARAM_KEYS].join(', ')})`);
    out[k] = v;
  }
  return out as Partial<LinuxImageParams>;
}

export function loadManifest(path: string): DatasetManifest {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new UsageError(`${path}: cannot read the manifest: ${(err as Error).message}`);
  }
  if (doc['schema'] !== MANIFEST_SCHEMA) throw new UsageError(`${path}: schema must be "${MANIFEST_SCHEMA}" (got ${JSON.stringify(doc['schema'])})`);
  const defaults = doc['defaults'] === undefined ? {} : checkParams(path, 'defaults', doc['defaults']);
  if (!Array.isArray(doc['images']) || doc['images'].length === 0) throw new UsageError(`${path}: images must be a non-empty array`);
  const names = new Set<string>();
  const images = (doc['images'] as unknown[]).map((raw, i) => {
    const where = `images[${i}]`;
    const given = checkParams(path, where, raw);
    const name = (raw as Record<string, unknown>)['name'];
    if (typeof name !== 'string' || !/^[a-z0-9][a-z0-9._-]{0,63}$/.test(name)) {
      throw new UsageError(`${path}: ${where}.name must be a lower-case file name (a-z 0-9 . _ -), got ${JSON.stringify(name)}`);
    }
    if (names.has(name)) throw new UsageError(`${path}: ${where}.name "${name}" is used twice`);
    names.add(name);
    try {
      return { name, params: resolveLinuxParams({ ...defaults, ...given }) };
    } catch (err) {
      throw new UsageError(`${path}: ${where} (${name}): ${(err as Error).message}`);
    }
  });
  return { path: resolve(path), description: typeof doc['description'] === 'string' ? doc['description'] : '', images };
}

export interface ManifestBuildResult {
  name: string;
  built: BuiltLinuxImage;
}

/** Build every image of a manifest into <out>/<name>/, one after another. */
export async function buildManifest(
  manifest: DatasetManifest,
  out: string,
  options: Omit<BuildLinuxImageOptions, 'out' | keyof LinuxImageParams> = {},
): Promise<ManifestBuildResult[]> {
  const results: ManifestBuildResult[] = [];
  const log = options.log ?? (() => {});
  for (const [i, img] of manifest.images.entries()) {
    log(`image ${i + 1} of ${manifest.images.length}: ${img.name}`);
    const built = await buildLinuxImage({ ...options, ...img.params, out: join(out, img.name), log: (s) => log(`${img.name}: ${s}`) });
    results.push({ name: img.name, built });
  }
  return results;
}
