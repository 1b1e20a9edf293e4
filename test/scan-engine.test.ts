// The scan engine end to end on toy worlds (test/helpers/scan-world.ts) with the fake OS
// (test/fixtures/scan/fake-os.mjs): every planted object found and carved, decoys
// rejected, 0/1/2/3 workers and any chunk size giving identical results, progress
// events, and partial scans that say exactly what they missed.
import { readFileSync, truncateSync, writeFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { phys } from '../src/addr.js';
import { SignatureError, UsageError } from '../src/errors.js';
import { openImage } from '../src/layers/open-image.js';
import * as addr from '../src/addr.js';
import * as errors from '../src/errors.js';
import { type OsPluginFactory, registerOsModule, registerOsSupport, registeredOses } from '../src/os/index.js';
import { planChunks } from '../src/scan/plan.js';
import { type ScanPool, createScanPool, workerExecArgv } from '../src/scan/pool.js';
import type { ScanProgress } from '../src/scan/progress.js';
import { type ScanResult, runScan } from '../src/scan/run-scan.js';
import type { RunScanOptions } from '../src/scan/open-scan.js';
import { useTmpDir } from './helpers/images.js';
import { FAKE_OS_MODULE, TOY_LAYOUT, TOY_SIGNATURE, type World, type WorldSpec, buildWorld } from './helpers/scan-world.js';

const tmp = useTmpDir('scan-engine');
const FAULTY_WORKER = new URL('./fixtures/scan/faulty-worker.ts', import.meta.url).href;

const pools: Record<number, ScanPool> = {};
beforeAll(async () => {
  await registerOsModule(FAKE_OS_MODULE);
  for (const workers of [0, 1, 2, 3]) pools[workers] = await createScanPool({ workers });
});
afterAll(async () => {
  for (const p of Object.values(pools)) await p.close();
});

const ELF_RUNS = [
  { paddr: phys(0x1000), length: 0x3f000 },
  { paddr: phys(0x100000), length: 0x60000 },
  { paddr: phys(0x160000), length: 0x20000 }, // continues the run before it (merged)
  { paddr: phys(0x400000), length: 0x30000 },
];

function world(name: string, spec: Partial<WorldSpec> = {}): World {
  return buildWorld(tmp(name), {
    seed: 7,
    format: 'elf-core',
    runs: ELF_RUNS,
    live: 12,
    hidden: 3,
    exited: 3,
    threads: 6,
    decoys: 3,
    orphans: 2,
    straddler: true,
    ...spec,
  });
}

function scan(w: World, options: Partial<RunScanOptions> = {}): Promise<ScanResult> {
  return runScan({ image: w.path, os: 'fake', signature: TOY_SIGNATURE, pool: pools[0], ...options });
}

/** What must not depend on workers or chunking. */
function essence(r: ScanResult) {
  return { records: r.records, stats: { ...r.stats, chunks: 0 }, kernel: r.kernel, complete: r.complete, missed: r.missed };
}

describe('runScan', () => {
  it('finds and carves every planted object, rejects decoys, and names the object cut by a run end', async () => {
    const w = world('all.elf');
    const r = await scan(w, { chunkSize: 0x8000 });
    expect(r.complete).toBe(true);
    expect(r.missed).toEqual([]);
    expect(r.records.map((x) => x.pa)).toEqual(w.objects.map((o) => o.pa));
    for (const [i, o] of w.objects.entries()) {
      const rec = r.records[i]!;
      expect({ pid: rec.pid, tgid: rec.tgid, ppid: rec.ppid, comm: rec.comm, va: rec.va }).toEqual({
        pid: o.pid,
        tgid: o.tgid,
        ppid: o.ppid,
        comm: o.comm,
        va: o.va,
      });
      expect(rec.exitEvidence!.length > 0).toBe(o.kind === 'exited');
      const edges = Object.fromEntries(rec.edges.map((e) => [e.name, e.outcome]));
      expect(edges.self).toBe('held');
      // Unlinked objects keep stale list pointers: their neighbour no longer points back.
      expect(edges['tasks.next.prev']).toBe(o.kind === 'hidden' || o.kind === 'exited' ? 'failed' : 'held');
      // An orphan's parent pointer does not translate: no object of the signature there.
      expect(edges.parent).toBe(o.kind === 'orphan' ? 'failed' : 'held');
      expect(rec.confidence).toBeCloseTo(Object.values(edges).filter((x) => x === 'held').length / 3);
      expect(rec.constraintsHeld).toBe(5);
    }
    expect(r.stats.candidates).toBe(w.objects.length + w.decoys.length + 1);
    expect(r.stats.rejected).toEqual({ valueRecheck: 0, locate: 0, targetConstraints: 0, requiredEdge: 3, minScore: 0, duplicate: 0 });
    expect(r.stats.unverified).toEqual([{ pa: w.straddler, reason: `proc at 0x${w.straddler!.toString(16)} (128 bytes) is not wholly in the image` }]);
    expect(r.kernel).toMatchObject({ os: 'linux', pointerMode: 'x86-64-4', pageOffsetBase: '0xffff888000000000' });
    // Self-describing: image hash, signature identity, versions, options.
    expect(r.schema).toBe('kcarve-scan/1');
    expect(r.image).toMatchObject({ path: w.path, format: 'elf-core', runs: 4, mappedSize: 0x3f000 + 0x60000 + 0x20000 + 0x30000 });
    expect(r.image.hash).toMatchObject({ mode: 'edges', firstMib: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(r.signature).toMatchObject({ name: 'toy-proc', version: '1.0.0', file: TOY_SIGNATURE, baseline: false });
    expect(r.options).toEqual({ workers: 0, chunkSize: 0x8000, io: 'read' });
  });

  it('gives identical results with 0, 1, 2 and 3 workers and any chunk size', async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          seed: fc.integer({ min: 1, max: 1 << 30 }),
          format: fc.constantFrom<WorldSpec['format']>('elf-core', 'lime', 'raw'),
          chunkSizes: fc.array(fc.integer({ min: 200, max: 0x50000 }), { minLength: 4, maxLength: 4 }),
        }),
        async ({ seed, format, chunkSizes }) => {
          const runs = format === 'raw' ? [{ paddr: phys(0), length: 0x90000 }] : ELF_RUNS;
          const w = world(`prop-${n++}.${format}`, { seed, format, runs, live: 20, threads: 8 });
          const results: ScanResult[] = [];
          for (const [i, workers] of [0, 1, 2, 3].entries()) {
            results.push(await scan(w, { pool: pools[workers], chunkSize: chunkSizes[i]!, graphInPoolFrom: 0 }));
          }
          expect(results[0]!.records.map((x) => x.pa)).toEqual(w.objects.map((o) => o.pa));
          for (const r of results.slice(1)) expect(essence(r)).toEqual(essence(results[0]!));
        },
      ),
      { numRuns: 3 },
    );
  });

  it('reports progress: the first event before any task, counters never decrease, the last one complete', async () => {
    const w = world('progress.elf');
    const events: ScanProgress[] = [];
    const r = await scan(w, { pool: pools[2], chunkSize: 0x10000, graphInPoolFrom: 0, onProgress: (p) => events.push(p) });
    expect(events[0]).toEqual({ phase: 'value', bytesDone: 0, bytesTotal: r.image.mappedSize, candidates: 0, checked: 0, accepted: 0, failedTasks: 0 });
    const order = ['value', 'discover', 'graph', 'done'];
    for (let i = 1; i < events.length; i++) {
      const [a, b] = [events[i - 1]!, events[i]!];
      expect(order.indexOf(b.phase)).toBeGreaterThanOrEqual(order.indexOf(a.phase));
      for (const k of ['bytesDone', 'candidates', 'checked', 'accepted', 'failedTasks'] as const) expect(b[k]).toBeGreaterThanOrEqual(a[k]);
      expect(b.bytesTotal).toBe(a.bytesTotal);
    }
    expect(events.map((e) => e.phase).filter((p, i, all) => all.indexOf(p) === i)).toEqual(order);
    const last = events[events.length - 1]!;
    expect(last).toEqual({
      phase: 'done',
      bytesDone: r.image.mappedSize,
      bytesTotal: r.image.mappedSize,
      candidates: r.stats.candidates,
      checked: r.stats.candidates,
      accepted: r.records.length,
      failedTasks: 0,
    });
    // One event per finished chunk in the value pass.
    expect(events.filter((e) => e.phase === 'value').length).toBe(1 + r.stats.chunks);
  });
});

describe('partial scans', () => {
  it('names the ranges and candidates of tasks whose worker threw or died, and keeps the rest', async () => {
    const w = world('faulty.elf');
    const clean = await scan(w, { chunkSize: 0x10000 });
    const r = await runScan({
      image: w.path,
      os: 'fake',
      signature: TOY_SIGNATURE,
      workers: 1,
      workerEntry: FAULTY_WORKER,
      chunkSize: 0x10000,
      graphInPoolFrom: 0,
    });
    expect(r.complete).toBe(false);
    const chunks = planOf(w.path, 0x10000);
    const value = r.missed.filter((m) => m.phase === 'value');
    expect(value.map((m) => [m.paddr, m.length, m.kind])).toEqual([
      [chunks[1]!.paddr, 0x10000, 'worker-failure'],
      [chunks[2]!.paddr, 0x10000, 'worker-failure'],
    ]);
    expect(value[0]!.error).toMatchObject({ name: 'TypeError', message: 'injected bug in value chunk 1' });
    expect(value[0]!.reason).toBe(`worker failed on physical [0x11000, 0x21000): injected bug in value chunk 1`);
    // The worker that died: piscina replaced it and the other chunks went on.
    expect(value[1]!.reason).toBe(`worker failed on physical [0x21000, 0x31000): worker exited with code: 7`);
    const graph = r.missed.filter((m) => m.phase === 'graph');
    expect(graph).toHaveLength(1);
    expect(graph[0]).toMatchObject({ kind: 'worker-failure', error: { name: 'RangeError', message: 'injected bug in graph batch 1' } });
    const lost = new Set<number>(graph[0]!.candidates!);
    expect(lost.size).toBeGreaterThan(0);
    const inLostChunk = (pa: number) => value.some((m) => pa >= m.paddr && pa < m.paddr + m.length);
    // Everything else is there: the clean result minus the missed chunks and candidates.
    expect(r.records).toEqual(clean.records.filter((x) => !inLostChunk(x.pa) && !lost.has(x.pa)));
    expect(r.records.length).toBeLessThan(clean.records.length);
  });

  it('reports chunks it could not read (the file shrank) as unreadable, with their ranges', async () => {
    const w = world('shrinks.elf', { straddler: false });
    const cut = 0x60000; // file offset: inside the second PT_LOAD's data
    const chunksPast = planOf(w.path, 0x8000).filter((c) => c.window.limit > cut);
    let truncated = false;
    const r = await scan(w, {
      pool: pools[2],
      chunkSize: 0x8000,
      onProgress: () => {
        if (!truncated) truncateSync(w.path, cut); // before any task is sent
        truncated = true;
      },
    });
    expect(r.complete).toBe(false);
    const value = r.missed.filter((m) => m.phase === 'value');
    expect(value.length).toBeGreaterThan(0);
    for (const m of value) expect(m).toMatchObject({ kind: 'unreadable', error: { name: 'ImageIOError' } });
    // Exactly the chunks whose window reaches past the new end of the file.
    expect(chunksPast.length).toBeGreaterThan(3);
    expect(value.map((m) => [m.paddr, m.length])).toEqual(chunksPast.map((c) => [c.paddr, c.length]));
    // The graph pass reopens the image and finds its runs past the end: every candidate missed.
    const graph = r.missed.filter((m) => m.phase === 'graph');
    expect(graph.flatMap((m) => m.candidates!).length).toBe(r.stats.candidates);
    for (const m of graph) expect(m).toMatchObject({ kind: 'unreadable', error: { name: 'ImageFormatError' } });
    expect(r.records).toEqual([]);
  });
});

/** The chunks the scan plans for an image file (toy signature: span 64, alignment 16). */
function planOf(path: string, chunkSize: number) {
  const image = openImage(path);
  try {
    return planChunks(image.runs, { chunkSize, span: 64, alignment: 16 });
  } finally {
    image.close();
  }
}

describe('scan options and failures', () => {
  it.each([
    [{ workers: -1 }, 'workers must be an integer from 0 to 256 (got -1)'],
    [{ workers: 1.5 }, 'workers must be an integer from 0 to 256 (got 1.5)'],
    [{ chunkSize: 0 }, 'chunk size must be a positive integer (got 0)'],
    // Built-in OS supports (windows, ...) are registered too.
    [{ os: 'plan9' }, () => `no OS support called "plan9" (registered: ${registeredOses().join(', ')})`],
  ])('%o is a UsageError', async (options, message) => {
    const text = typeof message === 'string' ? message : message();
    const w = world(`bad-${text.length}.elf`);
    await expect(runScan({ image: w.path, os: 'fake', signature: TOY_SIGNATURE, ...options })).rejects.toThrow(new UsageError(text));
  });

  it('a bad signature ends the scan with its SignatureError', async () => {
    const w = world('badsig.elf');
    const file = tmp('bad.sig.json');
    const doc = { ...JSON.parse(readFileSync(TOY_SIGNATURE, 'utf8')), target: { os: 'linux', type: 'proc', layout: TOY_LAYOUT } };
    writeFileSync(file, JSON.stringify({ ...doc, target: { ...doc.target, layout: '/nonexistent/layout.json' } }));
    await expect(scan(w, { signature: file })).rejects.toBeInstanceOf(SignatureError);
    writeFileSync(file, JSON.stringify({ ...doc, alignment: 24 }));
    await expect(scan(w, { signature: file })).rejects.toThrow(new SignatureError(file, '$.alignment', 'must be a power of two'));
  });

  it('a signature that matches nearly everywhere ends the scan with the matcher\'s SignatureError, not a short list', async () => {
    const image = tmp('zeros.raw');
    writeFileSync(image, new Uint8Array((1 << 24) + 64));
    const file = tmp('everywhere.sig.json');
    const doc = JSON.parse(readFileSync(TOY_SIGNATURE, 'utf8'));
    writeFileSync(
      file,
      JSON.stringify({ ...doc, target: { ...doc.target, layout: TOY_LAYOUT }, alignment: 1, constraints: [{ field: 'magic', kind: 'ne', value: '0x1' }] }),
    );
    const err = await runScan({ image, os: 'fake', signature: file, pool: pools[1] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SignatureError);
    expect((err as SignatureError).message).toBe(
      `${file}: more than 16777216 candidates matched in [0x0, 0x1000040); the program is not selective enough (options.maxHits raises the cap)`,
    );
  });

  it('--os auto with the signature given picks the OS support for its target', async () => {
    const w = world('auto-sig.elf');
    const r = await runScan({ image: w.path, signature: TOY_SIGNATURE, pool: pools[0] });
    expect(r.os).toBe('fake');
    expect(r.detection).toBeUndefined();
    expect(r.records.length).toBe(w.objects.length);
  });

  it('--os auto without a signature tries each OS support with a default signature', async () => {
    const w = world('auto.elf');
    const r = await runScan({ image: w.path, pool: pools[0] });
    // Built-in OS supports are tried too; on the toy world they find nothing.
    expect(r.detection?.chosen).toBe('fake');
    expect(r.detection?.tried.find((t) => t.os === 'fake')).toEqual({ os: 'fake', signature: TOY_SIGNATURE, records: w.objects.length });
    for (const t of r.detection?.tried ?? []) if (t.os !== 'fake') expect(t.records ?? 0).toBe(0);
    const noise = tmp('noise.raw');
    writeFileSync(noise, new Uint8Array(0x20000).fill(0x41));
    const err = await runScan({ image: noise, pool: pools[0] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(new RegExp(`^--os auto: no OS support found process objects in ${noise} \\(.*fake: 0 object\\(s\\)\\); pass --os NAME$`));
  });

  it('reports no kernel space and no records when nothing matches the value constraints', async () => {
    const noise = tmp('noise2.raw');
    writeFileSync(noise, new Uint8Array(0x20000));
    const r = await runScan({ image: noise, os: 'fake', signature: TOY_SIGNATURE, pool: pools[0] });
    expect(r).toMatchObject({ records: [], complete: true, notes: ['no candidate matched the value constraints, so the kernel address space was not searched'] });
    expect(r.kernel).toBeUndefined();
  });
});

describe('scan.locate signatures', () => {
  /** The toy signature, scanning `proc` and locating the target from each hit, with a target constraint pid >= 1. */
  function locateSignature(): string {
    const file = tmp('locate.sig.json');
    const doc = JSON.parse(readFileSync(TOY_SIGNATURE, 'utf8'));
    writeFileSync(
      file,
      JSON.stringify({
        ...doc,
        target: { ...doc.target, layout: TOY_LAYOUT },
        scan: { type: 'proc', locate: 'windows-pool-body' },
        targetConstraints: [{ field: 'pid', kind: 'range', min: '1', max: '4194304' }],
      }),
    );
    return file;
  }

  it('an OS support without locate() cannot run them', async () => {
    const w = world('locate-none.elf');
    const sig = locateSignature();
    await expect(scan(w, { signature: sig })).rejects.toThrow(
      new UsageError(`${sig}: the signature scans proc and locates proc from it, but the linux OS support has no locate()`),
    );
  });

  it('carves the object locate() names, and checks the target constraints there', async () => {
    const { default: fakeOs } = (await import(FAKE_OS_MODULE)) as { default: OsPluginFactory };
    const plugin = fakeOs({ errors, addr });
    const located: number[] = [];
    registerOsSupport({
      ...plugin,
      name: 'fake-locate',
      defaultSignature: undefined,
      support: { ...plugin.support, locate: (_sig, pa) => (located.push(pa), pa) },
    });
    const w = world('locate.elf');
    const r = await scan(w, { os: 'fake-locate', signature: locateSignature() });
    // init (pid 0) fails the target constraint; everything else is found as before.
    expect(r.records.map((x) => x.pa)).toEqual(w.objects.filter((o) => o.pid !== 0).map((o) => o.pa));
    expect(r.stats.rejected).toMatchObject({ targetConstraints: 1, requiredEdge: 3 });
    // Every value hit is located (the object cut by a run end too; its target cannot be read).
    expect(located.length).toBe(r.stats.candidates);
  });
});

describe('worker threads', () => {
  it('do not inherit module loaders (--import tsx) from the parent, and keep its other options', () => {
    expect(workerExecArgv(['--import', 'tsx', '--enable-source-maps', '--loader=x.mjs', '--max-old-space-size=4096', '--experimental-loader', 'y'])).toEqual([
      '--enable-source-maps',
      '--max-old-space-size=4096',
    ]);
  });
});
