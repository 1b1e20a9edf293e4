// The per-kernel layout subset cache (src/types/layout-cache.ts) and the map behind it
// (src/types/demand-map.ts): a layout loaded from the cache answers every question as
// the full layout does, the subset is what was asked for, and a question beyond it falls
// back to the full layout and widens the cache.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DemandMap } from '../src/types/demand-map.js';
import { flushLayoutCache, layoutCacheDir, loadLayoutCached } from '../src/types/layout-cache.js';
import { loadLayout } from '../src/types/load.js';
import { writeBtf } from './helpers/btf-writer.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'kcarve-layout-cache-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('DemandMap', () => {
  it('answers from the subset, knows absent keys, and builds the full map only beyond them', () => {
    let builds = 0;
    const full = () => {
      builds += 1;
      return new Map([['a', 1], ['b', 2], ['c', 3]]);
    };
    const m = new DemandMap(new Map([['a', 1]]), ['zz'], full);
    expect(m.get('a')).toBe(1);
    expect(m.has('zz')).toBe(false);
    expect(builds).toBe(0);
    expect(m.loadedFull).toBe(false);
    expect(m.get('c')).toBe(3);
    expect(m.has('nope')).toBe(false);
    expect(builds).toBe(1);
    expect(m.loadedFull).toBe(true);
    expect([...m.keys()].sort()).toEqual(['a', 'b', 'c']);
    expect(m.size).toBe(3);
    expect(builds).toBe(1);
    expect([...m.queried].sort()).toEqual(['a', 'c', 'nope', 'zz']);
    expect([...m.absentKeys()].sort()).toEqual(['nope', 'zz']);
  });

  it('iterating a subset map yields the full map', () => {
    const m = new DemandMap(new Map([['a', 1]]), [], () => new Map([['a', 1], ['b', 2]]));
    expect(new Map(m)).toEqual(new Map([['a', 1], ['b', 2]]));
  });
});

// int (1), struct task (2) { int pid; struct mm *mm; }, struct mm (3) { int users; }, ptr->mm (4), struct other (5)
function btfFile(): string {
  const bytes = writeBtf([
    { kind: 'int', name: 'int', size: 4, signed: true },
    { kind: 'struct', name: 'task', size: 16, members: [{ name: 'pid', type: 1, bitOffset: 0 }, { name: 'mm', type: 4, bitOffset: 64 }] },
    { kind: 'struct', name: 'mm', size: 4, members: [{ name: 'users', type: 1, bitOffset: 0 }] },
    { kind: 'ptr', type: 3 },
    { kind: 'struct', name: 'other', size: 8, members: [{ name: 'x', type: 1, bitOffset: 32 }] },
  ]);
  const file = path.join(tmp, 'small.btf');
  writeFileSync(file, bytes);
  return file;
}

describe('loadLayoutCached', () => {
  it('writes what a run asked for, and a later run answers the same from the subset and beyond it', () => {
    const file = btfFile();
    const dir = path.join(tmp, 'cache');
    const full = loadLayout(file);

    const first = loadLayoutCached(file, dir);
    expect(first.offsetOf('task', 'mm')).toBe(8);
    expect(first.hasType('no_such_type')).toBe(false);
    flushLayoutCache();
    expect(readdirSync(dir).filter((f) => f.endsWith('.v8'))).toHaveLength(1);

    const second = loadLayoutCached(file, dir);
    // From the subset: no full build needed.
    expect(second.userTypes.get('task')).toEqual(full.userTypes.get('task'));
    expect(second.hasType('no_such_type')).toBe(false);
    expect((second.userTypes as DemandMap<string, unknown>).loadedFull).toBe(false);
    // Beyond it: the full layout answers, the same as loadLayout.
    expect(second.offsetOf('other', 'x')).toBe(full.offsetOf('other', 'x'));
    expect((second.userTypes as DemandMap<string, unknown>).loadedFull).toBe(true);
    expect([...second.userTypes.keys()].sort()).toEqual([...full.userTypes.keys()].sort());
    flushLayoutCache();

    // The rewritten cache holds the union: 'other' now comes without a full build.
    const third = loadLayoutCached(file, dir);
    expect(third.offsetOf('other', 'x')).toBe(4);
    expect(third.offsetOf('task', 'pid')).toBe(0);
    expect((third.userTypes as DemandMap<string, unknown>).loadedFull).toBe(false);
  });

  it('ignores a corrupt cache file and reports an unreadable layout file as a LayoutError', () => {
    const file = btfFile();
    const dir = path.join(tmp, 'corrupt');
    loadLayoutCached(file, dir).offsetOf('task', 'pid');
    flushLayoutCache();
    const [name] = readdirSync(dir);
    writeFileSync(path.join(dir, name!), 'not a cache');
    expect(loadLayoutCached(file, dir).offsetOf('task', 'mm')).toBe(8);
    expect(() => loadLayoutCached(path.join(tmp, 'missing.btf'), dir)).toThrow(/cannot read/);
    flushLayoutCache(); // now, not at exit, when the directory is gone
  });

  it('is off with KCARVE_CACHE_DIR=off and under the XDG cache home otherwise', () => {
    expect(layoutCacheDir({ KCARVE_CACHE_DIR: 'off' })).toBeUndefined();
    expect(layoutCacheDir({ KCARVE_CACHE_DIR: '/x' })).toBe(path.join('/x', 'layouts'));
    expect(layoutCacheDir({ XDG_CACHE_HOME: '/c' })).toBe(path.join('/c', 'kcarve', 'layouts'));
  });
});
