// Host-side pieces of the real-image builder that need no QEMU: option checks, the
// seeded workload plan, the guest configuration, manifests, the initramfs writer, the
// plan-vs-truth check and the missing-tool messages.
import { describe, expect, it } from 'vitest';
import { fc, test } from '@fast-check/vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { guestConfig, LIMITS, planWorkload, resolveLinuxParams } from '../src/datasets/linux/plan.js';
import { loadManifest } from '../src/datasets/linux/manifest.js';
import { writeCpio } from '../src/datasets/linux/cpio.js';
import { checkPlanAgainstTruth } from '../src/datasets/linux/build-image.js';
import { parseSerialTruth } from '../src/datasets/linux/serial-truth.js';
import { findLinuxToolchain, isStaticElf } from '../src/datasets/linux/toolchain.js';
import { EnvironmentError, TruthError, UsageError } from '../src/errors.js';

describe('resolveLinuxParams', () => {
  it('fills the documented defaults', () => {
    expect(resolveLinuxParams({})).toEqual({
      memMiB: 256, seed: 1, procs: 8, threads: 4, hide: 2, exited: 3, kaslr: true, unlinkStyle: 'self', paging: 4,
    });
  });
  it.each([
    [{ memMiB: 4096 }, '--mem must be an integer from 128 to 2816 (got 4096)'],
    [{ procs: 0 }, '--procs must be an integer from 1 to 200 (got 0)'],
    [{ procs: 3, hide: 4 }, '--hide must be an integer from 0 to 3 (got 4)'],
    [{ seed: 1.5 }, '--seed must be an integer from 0 to 4294967295 (got 1.5)'],
    [{ unlinkStyle: 'unlink' as never }, '--unlink-style must be one of self, stale, poison (got "unlink")'],
    [{ paging: 3 as never }, '--paging must be 4 or 5 (got 3)'],
    [{ procs: 1, hide: 0, threads: 61 }, '--threads 61 is more than 60 per process for --procs 1'],
  ])('refuses %j', (input, message) => {
    expect(() => resolveLinuxParams(input)).toThrow(UsageError);
    expect(() => resolveLinuxParams(input)).toThrow(message);
  });
});

describe('planWorkload', () => {
  it('is a pure function of the seed', () => {
    const p = resolveLinuxParams({ seed: 42, procs: 10, threads: 7, hide: 3, exited: 4 });
    expect(guestConfig(planWorkload(p), '/lib/m.ko')).toBe(guestConfig(planWorkload({ ...p }), '/lib/m.ko'));
    expect(guestConfig(planWorkload({ ...p, seed: 43 }), '/lib/m.ko')).not.toBe(guestConfig(planWorkload(p), '/lib/m.ko'));
  });

  test.prop([
    fc.record({
      seed: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
      procs: fc.integer({ min: 1, max: LIMITS.procs }),
      threads: fc.integer({ min: 0, max: LIMITS.threads }),
      exited: fc.integer({ min: 0, max: LIMITS.exited }),
      hideFraction: fc.double({ min: 0, max: 1, noNaN: true }),
    }),
  ], { numRuns: 40 })('keeps every count, name length and tree rule', ({ hideFraction, ...r }) => {
    const threads = Math.min(r.threads, r.procs * LIMITS.threadsPerProc);
    const params = resolveLinuxParams({ ...r, threads, hide: Math.floor(hideFraction * r.procs) });
    const plan = planWorkload(params);
    expect(plan.procs).toHaveLength(params.procs);
    expect(plan.exited).toHaveLength(params.exited);
    expect(plan.procs.filter((p) => p.hidden)).toHaveLength(params.hide);
    expect(plan.procs.reduce((n, p) => n + p.threads.length, 0)).toBe(threads);
    const names = [...plan.procs.flatMap((p) => [p.name, ...p.threads]), ...plan.exited.flatMap((e) => [e.name, ...e.threads])];
    expect(new Set(names).size).toBe(names.length);
    for (const name of names) expect(Buffer.byteLength(name)).toBeLessThanOrEqual(15); // TASK_COMM_LEN - 1
    for (const p of plan.procs) expect(p.parent).toBeLessThan(p.index);
    for (const e of plan.exited) expect(e.parent).toBeLessThan(e.index);
    for (const p of plan.procs) expect(p.threads.length).toBeLessThanOrEqual(LIMITS.threadsPerProc);
    if (params.procs >= 2) expect(plan.procs[1]!.parent).toBe(0); // a parent/child chain exists
    if (params.hide > 0 && threads > 0) expect(plan.procs.some((p) => p.hidden && p.threads.length > 0)).toBe(true);
  });

  it('writes the configuration kcw reads', () => {
    const plan = planWorkload(resolveLinuxParams({ seed: 7, procs: 3, threads: 1, hide: 1, exited: 1, unlinkStyle: 'poison' }));
    const conf = guestConfig(plan, '/lib/kcarve_truth.ko', 250).split('\n');
    expect(conf[1]).toBe('module /lib/kcarve_truth.ko');
    expect(conf.filter((l) => l.startsWith('proc '))).toHaveLength(3);
    expect(conf.filter((l) => l.startsWith('hide '))).toEqual([`hide ${plan.procs.find((p) => p.hidden)!.index} poison`]);
    expect(conf.filter((l) => l.startsWith('exited '))[0]).toMatch(/^exited 0 -1 kx0-[0-9a-f]{6} (join|group)$/);
    expect(conf.at(-2)).toBe('settle_ms 250');
  });
});

describe('manifests', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'kcarve-manifest-'));
  const write = (doc: unknown) => {
    const p = join(tmp, `m${Math.random().toString(16).slice(2)}.json`);
    writeFileSync(p, JSON.stringify(doc));
    return p;
  };

  it('ships a training set of at least 5 4-level and 2 5-level images, mixing unlink styles and seeds', () => {
    const m = loadManifest(new URL('../datasets/linux-train.json', import.meta.url).pathname);
    expect(m.images.filter((i) => i.params.paging === 4).length).toBeGreaterThanOrEqual(5);
    // Two 5-level images: every leave-one-image-out fold still trains on one.
    expect(m.images.filter((i) => i.params.paging === 5).length).toBeGreaterThanOrEqual(2);
    expect(new Set(m.images.map((i) => i.params.unlinkStyle))).toEqual(new Set(['self', 'stale', 'poison']));
    expect(new Set(m.images.map((i) => i.params.seed)).size).toBe(m.images.length);
    expect(m.images.every((i) => i.params.hide > 0 && i.params.exited > 0)).toBe(true);
  });

  it('ships a test set with a 5-level image and seeds unused in training', () => {
    const train = loadManifest(new URL('../datasets/linux-train.json', import.meta.url).pathname);
    const t = loadManifest(new URL('../datasets/linux-test.json', import.meta.url).pathname);
    expect(t.images.some((i) => i.params.paging === 5)).toBe(true);
    const trainSeeds = new Set(train.images.map((i) => i.params.seed));
    expect(t.images.every((i) => !trainSeeds.has(i.params.seed))).toBe(true);
  });

  it('refuses unknown keys, bad names, duplicates and bad parameters with the place', () => {
    const base = { schema: 'kcarve-dataset/1' };
    let p = write({ ...base, images: [{ name: 'a', sed: 1 }] });
    expect(() => loadManifest(p)).toThrow(`${p}: images[0] has unknown key "sed"`);
    p = write({ ...base, images: [{ name: 'A b' }] });
    expect(() => loadManifest(p)).toThrow(`${p}: images[0].name must be a lower-case file name (a-z 0-9 . _ -), got "A b"`);
    p = write({ ...base, images: [{ name: 'a' }, { name: 'a' }] });
    expect(() => loadManifest(p)).toThrow(`${p}: images[1].name "a" is used twice`);
    p = write({ ...base, defaults: { hide: 9 }, images: [{ name: 'a', procs: 2 }] });
    expect(() => loadManifest(p)).toThrow(`${p}: images[0] (a): --hide must be an integer from 0 to 2 (got 9)`);
    p = write({ schema: 'other', images: [] });
    expect(() => loadManifest(p)).toThrow(UsageError);
    rmSync(tmp, { recursive: true, force: true });
  });
});

/** A reader for the newc format, written from the spec independently of the writer. */
function readNewc(buf: Buffer): { name: string; mode: number; data: Buffer; rdev: [number, number] }[] {
  const out = [];
  let at = 0;
  for (;;) {
    expect(buf.toString('ascii', at, at + 6)).toBe('070701');
    const field = (i: number) => parseInt(buf.toString('ascii', at + 6 + i * 8, at + 14 + i * 8), 16);
    const mode = field(1);
    const size = field(6);
    const rdev: [number, number] = [field(9), field(10)];
    const nameSize = field(11);
    const name = buf.toString('utf8', at + 110, at + 110 + nameSize - 1);
    expect(buf[at + 110 + nameSize - 1]).toBe(0);
    at += 110 + nameSize;
    at += (4 - (at % 4)) % 4;
    if (name === 'TRAILER!!!') break;
    out.push({ name, mode, data: buf.subarray(at, at + size), rdev });
    at += size;
    at += (4 - (at % 4)) % 4;
  }
  expect(at).toBe(buf.length);
  return out;
}

describe('writeCpio', () => {
  const archive = writeCpio([
    { kind: 'dir', path: 'bin' },
    { kind: 'chardev', path: 'dev/console', major: 5, minor: 1 },
    { kind: 'file', path: '/bin/kcw', data: Buffer.from('abcde'), mode: 0o755 },
    { kind: 'symlink', path: 'bin/sh', target: 'busybox' },
  ]);

  it('writes newc entries the spec describes, 4-byte aligned, with a trailer', () => {
    const entries = readNewc(archive);
    expect(entries.map((e) => [e.name, e.mode.toString(8)])).toEqual([
      ['bin', '40755'], ['dev/console', '20600'], ['bin/kcw', '100755'], ['bin/sh', '120777'],
    ]);
    expect(entries[1]!.rdev).toEqual([5, 1]);
    expect(entries[2]!.data.toString()).toBe('abcde');
    expect(entries[3]!.data.toString()).toBe('busybox');
  });

  it.skipIf(spawnSync('cpio', ['--version']).status !== 0)('is listed by GNU cpio', () => {
    const r = spawnSync('cpio', ['-it', '--quiet'], { input: archive, encoding: 'utf8' });
    expect(r.stdout.trim().split('\n')).toEqual(['bin', 'dev/console', 'bin/kcw', 'bin/sh']);
  });
});

describe('checkPlanAgainstTruth', () => {
  const serial = parseSerialTruth(readFileSync(new URL('./fixtures/linux-serial-6.1.0-57-stale-4level.log', import.meta.url), 'utf8'));
  // The recorded guest ran seed 7 with these parameters.
  const params = resolveLinuxParams({ seed: 7, procs: 6, threads: 4, hide: 2, exited: 3, unlinkStyle: 'stale' });

  it('accepts the recorded guest for the plan it ran', () => {
    expect(() => checkPlanAgainstTruth(planWorkload(params), serial, 'serial.log')).not.toThrow();
  });

  it('names a planned task that is missing or has the wrong status', () => {
    expect(() => checkPlanAgainstTruth(planWorkload({ ...params, seed: 8 }), serial, 'serial.log')).toThrow(TruthError);
    const plan = planWorkload(params);
    const visible = plan.procs.find((p) => !p.hidden)!;
    visible.hidden = true;
    expect(() => checkPlanAgainstTruth(plan, serial, 'serial.log')).toThrow(
      `serial.log at ${visible.name}: the workload task ${visible.name} is live leader, planned hidden leader`,
    );
  });
});

describe('toolchain', () => {
  it('names the apt-get line of a missing tool', () => {
    const saved = process.env['PATH'];
    process.env['PATH'] = '/nonexistent';
    try {
      expect(() => findLinuxToolchain()).toThrow(EnvironmentError);
      expect(() => findLinuxToolchain()).toThrow(
        'qemu-system-x86_64: not found on PATH (boots the guest) (fix: apt-get install -y qemu-system-x86)',
      );
    } finally {
      process.env['PATH'] = saved;
    }
  });

  it('tells a static ELF from a dynamic one', () => {
    expect(isStaticElf(process.execPath)).toBe(false); // node is dynamically linked
    const tmp = mkdtempSync(join(tmpdir(), 'kcarve-elf-'));
    const p = join(tmp, 'static');
    const head = Buffer.alloc(64 + 56);
    head.writeUInt32BE(0x7f454c46, 0);
    head[4] = 2;
    head.writeBigUInt64LE(64n, 0x20);
    head.writeUInt16LE(56, 0x36);
    head.writeUInt16LE(1, 0x38);
    head.writeUInt32LE(1, 64); // one PT_LOAD, no PT_INTERP
    writeFileSync(p, head);
    expect(isStaticElf(p)).toBe(true);
    head.writeUInt32LE(3, 64); // PT_INTERP
    writeFileSync(p, head);
    expect(isStaticElf(p)).toBe(false);
    rmSync(tmp, { recursive: true, force: true });
  });
});
