// The pieces of the Windows support against a synthetic world's truth, per build: the
// self-map tests, the pool header ↔ body steps, the handle-table decoder, the reverse
// map; and what goes wrong: list-walk guards on corrupted links, discovery without
// objects (x64 page search) and on an image that has no Windows kernel, a layout without
// its facts file, and `--os windows` choosing the build by trying each signature.
import { closeSync, copyFileSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { type PhysAddr, phys, virt } from '../src/addr.js';
import { ImageFormatError, LayoutError } from '../src/errors.js';
import { openImage } from '../src/layers/open-image.js';
import { discoverWindows } from '../src/os/windows/discover.js';
import { factsForLayout } from '../src/os/windows/facts.js';
import { walkHandleTable } from '../src/os/windows/handle-table.js';
import { WINDOWS_BUILDS, type WindowsBuild, windowsSignaturePath } from '../src/os/windows/index.js';
import { windowsKernelSpace } from '../src/os/windows/kernel-space.js';
import { openWindowsTruth, type WindowsTruthImage } from '../src/os/windows/measure-signature.js';
import { winModel } from '../src/os/windows/model.js';
import { locateBody, poolBlockOf } from '../src/os/windows/pool-object.js';
import { paeSelfMap, x64SelfMap } from '../src/os/windows/self-map.js';
import { runScan } from '../src/scan/run-scan.js';
import { loadSignature } from '../src/signatures/load.js';
import { synthesize } from '../src/synth/synthesize.js';
import { runPslist } from '../src/views/pslist.js';
import { useTmpDir } from './helpers/images.js';

const tmp = useTmpDir('os-windows-parts');
const PACK = fileURLToPath(new URL('../signatures/layouts/windows/win7sp1x64.isf.json', import.meta.url));
const WORLD = { size: '64M', procs: 16, threads: 3, hidden: 3, exited: 6, decoys: 6 } as const;

interface TruthTask {
  pa: string;
  va: string;
  pid: number;
  status: string;
  exit_kind?: string;
  dtb: string;
  pool_header_pa: string;
  object_header_pa: string;
}

describe.each(WINDOWS_BUILDS)('windows parts %s', (build: WindowsBuild) => {
  let t: WindowsTruthImage;
  let tasks: TruthTask[];
  const sig = () => loadSignature(windowsSignaturePath(build));
  beforeAll(() => {
    const out = tmp(build);
    synthesize({ os: 'windows', build, seed: 5, ...WORLD, out });
    t = openWindowsTruth(out);
    tasks = (JSON.parse(readFileSync(join(out, 'truth.json'), 'utf8')) as { tasks: TruthTask[] }).tasks;
  });
  const pa = (hex: string): PhysAddr => phys(BigInt(hex));

  it('the self-map test accepts the kernel DTB and every running process root, and nothing at random pages', () => {
    const test = (dtb: bigint) => (build === 'winxpsp2x86' ? paeSelfMap(t.image, dtb, 0xc0000000n) : x64SelfMap(t.image, dtb));
    const kernel = test(BigInt(t.layout['dtb']!));
    expect(kernel).toMatchObject({ index: Number(t.layout['self_ref_index']), userEntries: 0 });
    if (build !== 'winxpsp2x86') expect(kernel!.start).toBe(BigInt(t.layout['pte_base']!));
    for (const task of tasks.filter((x) => x.exit_kind !== 'freed')) expect(test(BigInt(task.dtb))).toBeDefined();
    // Object pages are not page-table roots.
    for (const task of tasks.slice(0, 8)) expect(test(BigInt(task.pa) & ~0xfffn)).toBeUndefined();
  });

  it('pool header → body by the build rule, and body → pool header and object header', () => {
    const m = winModel(sig().layout);
    for (const task of tasks.filter((x) => x.exit_kind !== 'freed')) {
      expect(locateBody(m, t.image, pa(task.pool_header_pa))).toBe(pa(task.pa));
      const block = poolBlockOf(m, t.image, pa(task.pa))!;
      expect(block).toMatchObject({ headerPa: pa(task.pool_header_pa), objectHeaderPa: pa(task.object_header_pa), consistent: true, tag: m.pool.processTag });
      expect(block.poolType).not.toBe(0);
    }
    // A block too small for an _EPROCESS leads nowhere (bottom-up builds) or to no valid header.
    const small = new Uint8Array(m.pool.headerSize);
    expect(locateBody(m, { readPhys: () => small }, phys(0x1000))).toBeUndefined();
  });

  it('decodes PspCidTable (from the truth symbol): every process still referenced maps its pid to its body', () => {
    const s = sig();
    const m = winModel(s.layout);
    const info = discoverWindows(t.image, s, tasks.map((x) => pa(x.pa)), {});
    const space = windowsKernelSpace(t.image, info);
    const tableVa = BigInt(t.layout['PspCidTable_table_va']!);
    const walk = walkHandleTable(m, space, tableVa);
    expect(walk.unreadable).toBe(0);
    const byHandle = new Map(walk.entries.map((e) => [e.handle, e.object]));
    for (const task of tasks) {
      if (task.exit_kind === 'freed') expect(byHandle.get(task.pid)).not.toBe(BigInt(task.va));
      else expect(byHandle.get(task.pid)).toBe(BigInt(task.va));
    }
    // Besides processes, the threads: more entries than processes.
    expect(walk.entries.length).toBeGreaterThan(tasks.length);
  });

  it('the reverse map gives every object its kernel VA (4 KiB pool mappings win over large pages)', () => {
    const s = sig();
    const info = discoverWindows(t.image, s, tasks.map((x) => pa(x.pa)), {});
    const space = windowsKernelSpace(t.image, info);
    for (const task of tasks) expect(space.virtOfPhys(pa(task.pa))).toBe(BigInt(task.va));
    expect(space.translateVirt(virt(BigInt(tasks[0]!.va)))).toBe(pa(tasks[0]!.pa));
    const stats = space.reverseMap().stats;
    expect(stats.smallRuns).toBeGreaterThan(0);
    expect(stats.unreadableTables).toBe(0);
  });

  it('discovery fails with an ImageFormatError on an image without this Windows kernel', () => {
    const noise = tmp(`${build}-noise.raw`);
    writeFileSync(noise, new Uint8Array(1 << 20).fill(0x5a));
    const img = openImage(noise);
    try {
      const err = (() => {
        try {
          discoverWindows(img, sig(), [phys(0x1000), phys(0x2000)], {});
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(err).toBeInstanceOf(ImageFormatError);
      expect((err as Error).message).toMatch(new RegExp(`^${noise}: no Windows ${build} kernel page-table root found: 2 scanned object\\(s\\) named 0 root\\(s\\)`));
    } finally {
      img.close();
    }
  });

  it.runIf(build !== 'winxpsp2x86')('without objects, x64 discovery reads every page for a self-referencing PML4', () => {
    const info = discoverWindows(t.image, sig(), [], {});
    const roots = new Set([t.layout['dtb'], ...tasks.filter((x) => x.exit_kind !== 'freed').map((x) => x.dtb)]);
    expect(roots.has(info.dtb)).toBe(true);
    expect(info.evidence[0]).toMatch(/^kernel DTB 0x[0-9a-f]+: found by reading every page for a self-referencing PML4 \(\d+ found/);
  });

  it('list-walk guards: a link into a cycle, and a link out of the kernel half, stop the walk with the reason', async () => {
    const m = winModel(sig().layout);
    const live = tasks.filter((x) => x.status === 'live');
    const victim = live[Math.floor(live.length / 2)]!;
    const truth = join(t.dir, 'truth.json');
    for (const [name, value, reason] of [
      ['cycle', BigInt(victim.va) + BigInt(m.ep.activeLinks), /^cycle: 0x[0-9a-f]+ reached twice without returning to the head/],
      ['user', 0x1000n, /^Flink 0x1000 after entry \d+ is not a kernel address$/],
    ] as const) {
      const copy = tmp(`${build}-${name}.raw`);
      copyFileSync(join(t.dir, 'memory.raw'), copy);
      const fd = openSync(copy, 'r+');
      const bytes = new Uint8Array(8);
      new DataView(bytes.buffer).setBigUint64(0, value, true);
      writeSync(fd, bytes, 0, m.ptr, Number(BigInt(victim.pa)) + m.ep.activeLinks);
      closeSync(fd);
      const r = await runPslist({ image: copy, os: 'windows', signature: windowsSignaturePath(build), workers: 0, truth });
      expect(r.walk.stoppedBecause).toMatch(reason);
      // The walk got as far as the victim, in list order.
      expect(r.records.map((x) => x.pa)).toContain(pa(victim.pa));
    }
  });

  it.runIf(build === 'win10x64_19041')('the graph pass in worker threads (each rebuilds the kernel space from its plain description) agrees with one thread', async () => {
    const opts = { image: join(t.dir, 'memory.raw'), os: 'windows', signature: windowsSignaturePath(build) };
    const one = await runScan({ ...opts, workers: 0 });
    const pool = await runScan({ ...opts, workers: 2, graphInPoolFrom: 0, chunkSize: 16 << 20 });
    expect(pool.options.workers).toBe(2);
    expect(pool.records).toEqual(one.records);
    expect(pool.kernel).toEqual(one.kernel);
  });

  it.runIf(build === 'win7sp1x64')('--os windows without a signature tries each build and keeps the one finding most', async () => {
    const r = await runScan({ image: join(t.dir, 'memory.raw'), os: 'windows', workers: 0 });
    expect(r.detection?.signature).toBe(windowsSignaturePath('win7sp1x64'));
    expect(r.detection?.tried.map((x) => x.signature)).toEqual(WINDOWS_BUILDS.map(windowsSignaturePath));
    const direct = await runScan({ image: join(t.dir, 'memory.raw'), os: 'windows', signature: windowsSignaturePath('win7sp1x64'), workers: 0 });
    expect(r.records.map((x) => x.pa)).toEqual(direct.records.map((x) => x.pa));
    expect(r.detection?.tried.map((x) => x.records ?? 0)).toEqual([expect.any(Number), direct.records.length, expect.any(Number)]);
    expect(Math.max(r.detection!.tried[0]!.records ?? 0, r.detection!.tried[2]!.records ?? 0)).toBeLessThan(direct.records.length);
  });
});

describe('windows facts', () => {
  it('a layout without its facts file is refused, naming the file it looked for', () => {
    const layout = tmp('lonely.isf.json');
    copyFileSync(PACK, layout);
    expect(() => factsForLayout(layout)).toThrow(LayoutError);
    expect(() => factsForLayout(layout)).toThrow(`needs the layout pack's facts file beside it (${tmp('lonely.facts.json')})`);
    // Through a signature: loading works (offsets only), scanning asks for the facts.
    const s = loadSignature(windowsSignaturePath('win7sp1x64'), { layoutPath: layout });
    expect(() => winModel(s.layout)).toThrow(LayoutError);
  });

  it('a facts file of the wrong schema is refused', () => {
    const layout = tmp('odd.isf.json');
    copyFileSync(PACK, layout);
    writeFileSync(tmp('odd.facts.json'), JSON.stringify({ schema: 'something-else' }));
    expect(() => factsForLayout(layout)).toThrow(`${tmp('odd.facts.json')}: not a kcarve-winfacts/1 file ($.schema)`);
  });
});
