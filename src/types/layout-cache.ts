// A per-kernel cache of the part of a layout that scans use.
//
// Building a Layout from a kernel's BTF (decompress, parse ~100 000 type records, name
// and resolve them all) takes 0.7–2.5 s, several times the time a 1 GiB scan takes to
// read its image; a scan then asks it about a few dozen types. So the first scan with a
// layout file builds it whole and records which types were asked for (./demand-map.ts);
// when it ends, those types are written to a cache file keyed by the SHA-256 of the
// layout file's bytes (and kcarve's version and the layout code, so a new build of the
// layout code never reads an old cache). Later scans load that subset in milliseconds.
// Anything a later run asks beyond the subset makes that run build the full layout and
// answer from it — never a different answer, only a slower one — and the cache is
// rewritten with the union.
//
// Where: $KCARVE_CACHE_DIR, else $XDG_CACHE_HOME/kcarve, else ~/.cache/kcarve, under
// layouts/. KCARVE_CACHE_DIR=off turns the cache off. A cache that cannot be read or
// written is ignored: it only ever costs time.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import { isMainThread } from 'node:worker_threads';
import { LayoutError } from '../errors.js';
import { KCARVE_VERSION } from '../version.js';
import { timePhase } from '../timing.js';
import { DemandMap } from './demand-map.js';
import { Layout } from './layout.js';
import { layoutFromBytes } from './load.js';
import type { BaseType, EnumType, LayoutData, SymbolDef, TypeDesc, UserType } from './model.js';

/** Bumped when the cache file's shape changes. */
const CACHE_FORMAT = 1;
/** Cache files kept (the least recently written go first): each is tens of KiB. */
const MAX_CACHE_FILES = 32;
const MAP_NAMES = ['baseTypes', 'userTypes', 'enums', 'typedefs', 'symbols', 'variableTypes'] as const;
type MapName = (typeof MAP_NAMES)[number];

interface CachedMap {
  entries: Array<[string, unknown]>;
  absent: string[];
}

interface CacheFile {
  format: number;
  key: string;
  pointerSize: number;
  endian: 'little' | 'big';
  metadata: LayoutData['metadata'];
  maps: Record<MapName, CachedMap>;
}

/** The cache directory, or undefined when caching is off. */
export function layoutCacheDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const dir = env.KCARVE_CACHE_DIR;
  if (dir === 'off' || dir === '0') return undefined;
  if (dir !== undefined && dir !== '') return path.join(dir, 'layouts');
  const base = env.XDG_CACHE_HOME !== undefined && env.XDG_CACHE_HOME !== '' ? env.XDG_CACHE_HOME : path.join(os.homedir(), '.cache');
  return path.join(base, 'kcarve', 'layouts');
}

let codeStampValue: string | undefined;
/** Sizes and times of the modules that build layouts: a changed layout builder never reads an old cache. */
function codeStamp(): string {
  if (codeStampValue !== undefined) return codeStampValue;
  const self = fileURLToPath(import.meta.url);
  const dir = path.dirname(self);
  const ext = path.extname(self);
  const parts = ['btf', 'btf-layout', 'isf', 'load', 'kernel-image', 'layout', 'model', 'layout-cache', 'demand-map', 'xz', 'elf'].map((m) => {
    try {
      const st = statSync(path.join(dir, m + ext));
      return `${m}:${st.size}:${st.mtimeMs}`;
    } catch {
      return `${m}:-`;
    }
  });
  codeStampValue = parts.join(',');
  return codeStampValue;
}

/** The cache key of a layout file's bytes. */
export function layoutCacheKey(bytes: Uint8Array): string {
  return createHash('sha256').update(`${CACHE_FORMAT}\0${KCARVE_VERSION}\0${codeStamp()}\0`).update(bytes).digest('hex');
}

interface Pending {
  file: string;
  layout: Layout;
  maps: Record<MapName, DemandMap<string, unknown>>;
  /** The subset the cache held (undefined: there was no cache). */
  fromCache: boolean;
}
const pending = new Map<string, Pending>();
let exitHooked = false;

function readCache(file: string, key: string): CacheFile | undefined {
  try {
    const doc = v8.deserialize(readFileSync(file)) as CacheFile;
    if (doc?.format !== CACHE_FORMAT || doc.key !== key || typeof doc.maps !== 'object') return undefined;
    for (const m of MAP_NAMES) if (!Array.isArray(doc.maps[m]?.entries) || !Array.isArray(doc.maps[m]?.absent)) return undefined;
    return doc;
  } catch {
    return undefined;
  }
}

/** Write the subsets asked for (main thread only; called at exit). */
export function flushLayoutCache(): void {
  for (const [cacheFile, p] of pending) {
    pending.delete(cacheFile);
    // A cached subset that answered everything needs no rewrite.
    if (p.fromCache && !MAP_NAMES.some((m) => p.maps[m].loadedFull)) continue;
    const maps = {} as Record<MapName, CachedMap>;
    for (const m of MAP_NAMES) {
      const dm = p.maps[m];
      const keys = new Set<string>(dm.queried);
      // A cached subset keeps what it held before (other commands asked for it).
      if (p.fromCache) for (const k of dm.heldEntries().keys()) keys.add(k);
      const entries: Array<[string, unknown]> = [];
      for (const k of keys) {
        const v = dm.peek(k);
        if (v !== undefined) entries.push([k, v]);
      }
      maps[m] = { entries, absent: [...dm.absentKeys()] };
    }
    const doc: CacheFile = {
      format: CACHE_FORMAT,
      key: path.basename(cacheFile, '.v8'),
      pointerSize: p.layout.pointerSize,
      endian: p.layout.endian,
      metadata: p.layout.metadata,
      maps,
    };
    try {
      mkdirSync(path.dirname(cacheFile), { recursive: true });
      const tmp = `${cacheFile}.${process.pid}.tmp`;
      writeFileSync(tmp, v8.serialize(doc));
      renameSync(tmp, cacheFile);
      prune(path.dirname(cacheFile));
    } catch {
      // A cache that cannot be written costs the next run time, nothing else.
    }
  }
}

/** Keep the directory to MAX_CACHE_FILES files, dropping the oldest. */
function prune(dir: string): void {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.v8'))
    .map((f) => ({ f, t: statSync(path.join(dir, f)).mtimeMs }))
    .sort((a, b) => b.t - a.t);
  for (const { f } of files.slice(MAX_CACHE_FILES)) unlinkSync(path.join(dir, f));
}

function demandLayout(file: string, data: Omit<LayoutData, MapName>, maps: Record<MapName, DemandMap<string, unknown>>): Layout {
  return new Layout(file, {
    ...data,
    baseTypes: maps.baseTypes as unknown as Map<string, BaseType>,
    userTypes: maps.userTypes as unknown as Map<string, UserType>,
    enums: maps.enums as unknown as Map<string, EnumType>,
    typedefs: maps.typedefs as unknown as Map<string, TypeDesc>,
    symbols: maps.symbols as unknown as Map<string, SymbolDef>,
    variableTypes: maps.variableTypes as unknown as Map<string, TypeDesc>,
  });
}

/**
 * Load a layout file (as loadLayout does, without symbols) through the cache: the
 * subset a previous scan used when the cache has it, the full layout otherwise.
 */
export function loadLayoutCached(file: string, dir: string | undefined = layoutCacheDir()): Layout {
  let raw: Buffer;
  try {
    raw = readFileSync(file);
  } catch (err) {
    throw new LayoutError(file, undefined, undefined, `cannot read: ${(err as Error).message}`);
  }
  if (dir === undefined) return layoutFromBytes(raw, file);
  const key = layoutCacheKey(raw);
  const cacheFile = path.join(dir, `${key}.v8`);
  const cached = readCache(cacheFile, key);
  let layout: Layout;
  let maps: Record<MapName, DemandMap<string, unknown>>;
  if (cached !== undefined) {
    let full: Layout | undefined;
    const fullLayout = (): Layout => (full ??= timePhase('build the full layout (asked beyond the cached subset)', () => layoutFromBytes(raw, file)));
    maps = {} as Record<MapName, DemandMap<string, unknown>>;
    for (const m of MAP_NAMES) {
      maps[m] = new DemandMap<string, unknown>(new Map(cached.maps[m].entries), cached.maps[m].absent, () => fullLayout()[m] as Map<string, unknown>);
    }
    layout = demandLayout(file, { pointerSize: cached.pointerSize, endian: cached.endian, metadata: cached.metadata }, maps);
  } else {
    const built = timePhase('build the full layout (not cached yet)', () => layoutFromBytes(raw, file));
    maps = {} as Record<MapName, DemandMap<string, unknown>>;
    for (const m of MAP_NAMES) maps[m] = new DemandMap<string, unknown>(built[m] as Map<string, unknown>, [], undefined);
    layout = demandLayout(file, { pointerSize: built.pointerSize, endian: built.endian, metadata: built.metadata }, maps);
  }
  if (isMainThread) {
    pending.set(cacheFile, { file, layout, maps, fromCache: cached !== undefined });
    if (!exitHooked) {
      exitHooked = true;
      process.once('exit', flushLayoutCache);
    }
  }
  return layout;
}
