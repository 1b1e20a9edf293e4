// Reading truth.json (schema kcarve-truth/1, ../shared/TRUTH.md) for training and
// evaluation: the OS-neutral part every image has (objects with pa, va, status; the
// kernel address-space facts; decoys of synthetic worlds). Extra keys are ignored, as
// the schema allows. Every fault is a TruthError naming the file and the JSON path.
import { readFileSync } from 'node:fs';
import { parseAddress } from '../addr.js';
import { TruthError } from '../errors.js';

export type TruthStatus = 'live' | 'hidden' | 'exited';

export interface TruthObject {
  /** Index in truth.tasks. */
  index: number;
  status: TruthStatus;
  pa: number;
  va: bigint;
  pid: number;
  comm: string;
  leader: boolean;
  mutations: string[];
  /** Exited objects: which identity fields are still intact in the image. */
  residue?: { pid: boolean; tgid: boolean; comm: boolean };
}

export interface TruthDecoy {
  kind: string;
  pa: number;
  note: string;
}

export interface TruthFile {
  path: string;
  os: 'linux' | 'windows';
  /** File names beside truth.json, by format (`raw`, `elf`, `lime`); `compression` if any. */
  image: Record<string, string>;
  pagingLevels: number;
  release: string;
  /** layout.* as strings (hex addresses). */
  layout: Record<string, string>;
  /** offsets[type]: size and alloc_size (bytes per slab object) when the builder knew it. */
  offsets: Record<string, { size?: number; alloc_size?: number }>;
  objects: TruthObject[];
  decoys: TruthDecoy[];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parse and check a truth.json; the text is read here so errors name the file. */
export function loadTruth(path: string): TruthFile {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new TruthError(path, '', `cannot read: ${(err as Error).message}`);
  }
  return parseTruth(doc, path);
}

export function parseTruth(doc: unknown, path: string): TruthFile {
  const fail = (where: string, reason: string): never => {
    throw new TruthError(path, where, reason);
  };
  if (!isObject(doc)) return fail('$', 'is not a JSON object');
  if (doc['schema'] !== 'kcarve-truth/1') fail('$.schema', `is ${JSON.stringify(doc['schema'])}, expected "kcarve-truth/1"`);
  const os = doc['os'];
  if (os !== 'linux' && os !== 'windows') return fail('$.os', `is ${JSON.stringify(os)}, expected "linux" or "windows"`);
  const image = isObject(doc['image']) ? (doc['image'] as Record<string, string>) : fail('$.image', 'is missing');
  const kernel = isObject(doc['kernel']) ? doc['kernel'] : {};
  const pagingLevels = typeof kernel['paging_levels'] === 'number' ? kernel['paging_levels'] : 4;
  const release = typeof kernel['release'] === 'string' ? kernel['release'] : typeof kernel['build'] === 'string' ? kernel['build'] : '';
  const layout: Record<string, string> = {};
  if (isObject(doc['layout'])) for (const [k, v] of Object.entries(doc['layout'])) if (typeof v === 'string') layout[k] = v;
  const offsets: TruthFile['offsets'] = {};
  if (isObject(doc['offsets'])) {
    for (const [k, v] of Object.entries(doc['offsets'])) {
      if (!isObject(v)) continue;
      offsets[k] = {
        ...(typeof v['size'] === 'number' ? { size: v['size'] } : {}),
        ...(typeof v['alloc_size'] === 'number' ? { alloc_size: v['alloc_size'] } : {}),
      };
    }
  }
  const tasks = Array.isArray(doc['tasks']) ? doc['tasks'] : fail('$.tasks', 'is not an array');
  const addr = (v: unknown, where: string): bigint => {
    if (typeof v !== 'string') return fail(where, 'is not a hex string');
    try {
      return parseAddress(v);
    } catch {
      return fail(where, `is not an address: ${JSON.stringify(v)}`);
    }
  };
  const objects: TruthObject[] = tasks.map((t, i) => {
    const where = `$.tasks[${i}]`;
    if (!isObject(t)) return fail(where, 'is not an object');
    const status = t['status'];
    if (status !== 'live' && status !== 'hidden' && status !== 'exited') return fail(`${where}.status`, `is ${JSON.stringify(status)}`);
    const pa = addr(t['pa'], `${where}.pa`);
    if (pa >= 2n ** 52n) fail(`${where}.pa`, 'is past the 52-bit physical limit');
    const o: TruthObject = {
      index: i,
      status,
      pa: Number(pa),
      va: addr(t['va'], `${where}.va`),
      pid: typeof t['pid'] === 'number' ? t['pid'] : -1,
      comm: typeof t['comm'] === 'string' ? t['comm'] : '',
      leader: t['leader'] !== false,
      mutations: Array.isArray(t['mutations']) ? t['mutations'].filter((m): m is string => typeof m === 'string') : [],
    };
    if (isObject(t['residue'])) {
      const r = t['residue'];
      o.residue = { pid: r['pid'] === true, tgid: r['tgid'] === true, comm: r['comm'] === true };
    }
    return o;
  });
  const decoys: TruthDecoy[] = (Array.isArray(doc['decoys']) ? doc['decoys'] : []).map((d, i) => {
    const where = `$.decoys[${i}]`;
    if (!isObject(d)) return fail(where, 'is not an object');
    return { kind: String(d['kind'] ?? ''), pa: Number(addr(d['pa'], `${where}.pa`)), note: String(d['note'] ?? '') };
  });
  return { path, os, image, pagingLevels, release, layout, offsets, objects, decoys };
}

/** An exited object whose identity survived (pid, tgid and comm intact): eval's recall base. */
export function residueIntact(o: TruthObject): boolean {
  return o.status === 'exited' && o.residue !== undefined && o.residue.pid && o.residue.tgid && o.residue.comm;
}
