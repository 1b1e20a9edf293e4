// `kcarve train` as a library on two small synthetic Linux worlds: the selection meets
// its false-positive target (checked again with a scan of our own), every live and
// hidden task is found, the file is a valid signature with its provenance,
// attacker-controlled fields stay out of everything required, graph edges recover
// the classic facts (thread_pid->numbers[0].nr == pid, STACK_END_MAGIC at the stack
// base, mm->owner), cross-validation has one fold per image, and a fuzz verdict file
// restricts the choice to robust members.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { SignatureError } from '../../src/errors.js';
import { compileProgram, openImage, scanImage } from '../../src/native/index.js';
import { loadSignature } from '../../src/signatures/load.js';
import { STACK_END_MAGIC } from '../../src/synth/linux/companions.js';
import { attackerEntriesFor, loadAttackerFields } from '../../src/train/attacker-fields.js';
import { readRobustness, verdictOfPath } from '../../src/train/robustness.js';
import { type TrainResult, train } from '../../src/train/train.js';
import { loadTruth, residueIntact } from '../../src/train/truth-file.js';
import { type Layout, loadLayout, shippedKernelBtfPath } from '../../src/types/index.js';
import { useTmpDir } from '../helpers/images.js';
import { writeWorlds } from './worlds.js';

const tmp = useTmpDir('train-world');
const SHIPPED_ROBUSTNESS = fileURLToPath(new URL('../../signatures/robustness/linux-6.1.0-57-amd64.robustness.json', import.meta.url));
/** Fewer negatives than the default: 32 MiB worlds do not need 16384. */
const FAST = { negatives: 4096, hardNegatives: 2048 };
let layout: Layout;
let dirs: string[];
let result: TrainResult;
const attacker = loadAttackerFields();

beforeAll(() => {
  layout = loadLayout(shippedKernelBtfPath());
  dirs = writeWorlds(tmp, [21, 22]);
  result = train({ type: 'task_struct', layout, layoutPath: shippedKernelBtfPath(), imageDirs: dirs, command: 'kcarve train (test)', outPath: tmp('sig.json'), ...FAST });
});

describe('kcarve train on synthetic worlds', () => {
  it('meets the false-positive target, measured again by an independent scan', () => {
    const sel = result.model.selection;
    expect(sel.reachedTarget).toBe(true);
    expect(sel.fpPerGiB).toBeLessThanOrEqual(0.1);
    const program = compileProgram(result.model.program);
    let falseHits = 0;
    let gib = 0;
    for (const dir of dirs) {
      const truth = loadTruth(`${dir}/truth.json`);
      const img = openImage(`${dir}/memory.raw`);
      try {
        const hits = new Set(scanImage(img, program, { start: 0, end: img.size, limit: img.size, phase: 0 }));
        const pas = new Set(truth.objects.map((o) => o.pa));
        falseHits += [...hits].filter((h) => !pas.has(h)).length;
        // Every live and hidden task is a hit (support 1 on the positives).
        for (const o of truth.objects) if (o.status !== 'exited') expect(hits.has(o.pa)).toBe(true);
        gib += (img.size - truth.objects.length * result.model.objectSize) / 2 ** 30;
      } finally {
        img.close();
      }
    }
    expect(falseHits).toBe(sel.falseHits);
    expect(falseHits / gib).toBeCloseTo(sel.fpPerGiB, 6);
    expect(result.doc.provenance?.fpPerGiB).toBeCloseTo(sel.fpPerGiB, 5);
    for (const t of result.training) {
      expect(t.accepted.found.live).toBe(t.value.present.live);
      expect(t.accepted.found.hidden).toBe(t.value.present.hidden);
    }
  });

  it('keeps the intact exited objects: the value constraints accept each of them, measured by an independent scan', () => {
    const kept = result.model.selection.exitedKept!;
    expect(kept.preferred).toBe(true);
    let intact = 0;
    for (const dir of dirs) {
      const truth = loadTruth(`${dir}/truth.json`);
      const img = openImage(`${dir}/memory.raw`);
      try {
        const hits = new Set(scanImage(img, compileProgram(result.model.program), { start: 0, end: img.size, limit: img.size, phase: 0 }));
        for (const o of truth.objects.filter(residueIntact)) {
          intact += 1;
          expect(hits.has(o.pa)).toBe(true);
        }
      } finally {
        img.close();
      }
    }
    expect(intact).toBeGreaterThan(0);
    expect(kept).toEqual({ kept: intact, of: intact, preferred: true });
    // And the graph check accepts them too on the training images.
    const found = result.training.reduce((n, t) => n + t.accepted.found.exited, 0);
    expect(found).toBeGreaterThanOrEqual(intact);
  });

  it('drops the exited preference when it cannot reach the target, and says so', () => {
    // One constraint cannot reach 0.1 FP/GiB on these worlds, with or without the preference.
    const r = train({ type: 'task_struct', layout, imageDirs: dirs, crossValidate: false, maxConstraints: 1, ...FAST });
    const sel = r.model.selection;
    expect(sel.reachedTarget).toBe(false);
    expect(sel.trace.some((t) => t.kind === 'drop-exited-preference')).toBe(true);
    expect(sel.exitedKept?.preferred).toBe(false);
    expect(r.doc.provenance?.notes?.some((n) => n.includes('the preference missed the target and was dropped'))).toBe(true);
    expect(r.report).toContain('run again without that preference');
  });

  it('writes a valid kcarve-signature/1 file with its provenance', () => {
    const file = tmp('sig.json');
    writeFileSync(file, JSON.stringify(result.doc));
    const sig = loadSignature(file, { layout });
    expect(sig.targetType).toBe('task_struct');
    expect(sig.alignment).toBe(64);
    expect(sig.constraints.length).toBe(result.model.constraints.length);
    const doc = JSON.parse(readFileSync(file, 'utf8'));
    expect(doc.provenance.command).toBe('kcarve train (test)');
    expect(doc.provenance.trainedOn).toEqual(dirs.map((d) => expect.stringMatching(new RegExp(`^${d.split('/').pop()} truth-sha256:[0-9a-f]{16}$`))));
    expect(doc.provenance.robustness).toBe('unproven');
    // target.layout is relative to the signature file, so the file loads on its own.
    expect(resolve(dirname(file), doc.target.layout)).toBe(shippedKernelBtfPath());
    expect(loadSignature(file).layout.sizeOf('task_struct')).toBe(9792);
    for (const c of doc.constraints) expect(c.provenance).toMatchObject({ source: 'training', support: 1 });
    expect(doc.scoring.minScore).toBeGreaterThanOrEqual(0);
  });

  it('keeps attacker-controlled fields out of constraints and required edges', () => {
    for (const c of result.model.selection.chosen) {
      const entries = attackerEntriesFor(attacker, 'linux', 'task_struct', c.paths);
      // Only a mask that leaves the attacker's bits out may touch such a field.
      for (const e of entries) {
        expect(e.bits).toBeDefined();
        expect(c.constraint.kind === 'mask' && (c.constraint.mask & e.bits!) === 0n).toBe(true);
      }
    }
    for (const e of result.model.edges.filter((x) => x.role === 'required')) {
      expect(attackerEntriesFor(attacker, 'linux', 'task_struct', e.reads)).toEqual([]);
    }
  });

  it('recovers thread_pid->numbers[0].nr == pid, STACK_END_MAGIC at the stack base and the mm owner', () => {
    const edges = result.model.edgeCandidates;
    const nr = edges.find((e) => e.spec.from === 'thread_pid' && JSON.stringify(e.spec.read) === JSON.stringify({ type: 'pid', field: 'numbers[0].nr' }));
    expect(nr?.spec.expect).toEqual([{ field: 'pid' }]);
    expect(nr?.support).toBe(1);
    expect(nr?.attacker).toMatch(/^pid/); // reads pid: never required
    expect(nr?.role).not.toBe('required');
    const magic = edges.find((e) => e.spec.from === 'stack' && e.spec.expect?.some((x) => 'value' in x && BigInt(x.value) === STACK_END_MAGIC));
    expect(magic?.spec.read).toEqual({ offset: 0, width: 8 });
    expect(magic?.support).toBe(1);
    const owner = edges.find((e) => e.spec.from === 'mm' && JSON.stringify(e.spec.read) === JSON.stringify({ type: 'mm_struct', field: 'owner' }));
    expect(owner?.spec.expect).toEqual([{ field: 'group_leader' }]);
    // Every task with an mm holds it; kernel threads have none.
    expect(owner?.followedSupport).toBe(1);
    expect(owner!.nulls).toBeGreaterThan(0);
    expect(owner!.held + owner!.nulls).toBe(owner!.n);
  });

  it('cross-validates with one fold per image', () => {
    expect(result.folds.map((f) => f.heldOut)).toEqual(dirs.map((d) => d.split('/').pop()));
    for (const f of result.folds) {
      const truth = loadTruth(`${dirs.find((d) => d.endsWith(f.heldOut))}/truth.json`);
      const count = (s: string) => truth.objects.filter((o) => o.status === s).length;
      expect(f.present).toEqual({ live: count('live'), hidden: count('hidden'), exited: count('exited') });
      expect(f.trainedOn).toEqual(dirs.filter((d) => !d.endsWith(f.heldOut)).map((d) => d.split('/').pop()));
      expect(f.constraints.length).toBeGreaterThan(0);
      expect(f.outcome.accepted.found.live).toBeLessThanOrEqual(f.present.live);
      expect(f.outcome.nonObjectGiB).toBeGreaterThan(0);
    }
    expect(result.report).toContain('## Cross-validation (leave one image out)');
    expect(result.report).toContain(`| ${result.folds[0]!.heldOut} |`);
  });

  it('uses only members a fuzz campaign marks robust, and says so', () => {
    // The shipped campaign with its verdicts rewritten: robust only the members of a
    // handful of eligible candidates, everything else fragile.
    const eligible = result.model.candidates.candidates.filter((c) => c.excluded === undefined && c.slot && c.slot.byte === undefined);
    const robust = new Set(eligible.slice(0, 40).map((c) => c.slot!.path));
    const shipped = JSON.parse(readFileSync(SHIPPED_ROBUSTNESS, 'utf8'));
    let count = 0;
    for (const [path, m] of Object.entries(shipped.members as Record<string, { verdict: string; aliases?: string[] }>)) {
      m.verdict = [path, ...(m.aliases ?? [])].some((p) => robust.has(p)) ? 'robust' : 'fragile';
      if (m.verdict === 'robust') count += 1;
    }
    shipped.summary = { ...shipped.summary, robust: count, fragile: Object.keys(shipped.members).length - count, unknown: 0 };
    const robFile = tmp('rob.json');
    writeFileSync(robFile, JSON.stringify(shipped));
    const r = train({ type: 'task_struct', layout, imageDirs: dirs, robustnessPath: robFile, crossValidate: false, ...FAST });
    expect(r.model.selection.chosen.length).toBeGreaterThan(0);
    // Every member a chosen constraint or required edge reads is robust in the file
    // (union alternatives fold into one fuzzed member, so the path may be an alias).
    const verdicts = readRobustness(robFile);
    for (const c of r.model.selection.chosen) {
      expect(c.paths.some((p) => robust.has(p))).toBe(true);
      expect(c.paths.map((p) => verdictOfPath(verdicts, p))).toEqual(c.paths.map(() => 'robust'));
      expect(c.robustness).toBe('robust');
    }
    for (const e of r.model.edges.filter((x) => x.role === 'required')) expect(e.reads.map((p) => verdictOfPath(verdicts, p))).toEqual(e.reads.map(() => 'robust'));
    expect(r.doc.provenance).toMatchObject({ robustness: 'proven', robustnessFile: robFile });
    expect(r.doc.constraints.every((c) => c.provenance?.robustness === 'robust')).toBe(true);
  });

  it('refuses a file that is not a robustness file', () => {
    const bad = tmp('bad-rob.json');
    writeFileSync(bad, JSON.stringify({ schema: 'kcarve-robustness/0', members: {} }));
    expect(() => train({ type: 'task_struct', layout, imageDirs: dirs, robustnessPath: bad })).toThrow(SignatureError);
    expect(() => train({ type: 'task_struct', layout, imageDirs: dirs, robustnessPath: bad })).toThrow(`${bad} at $: not a kcarve-robustness/1 file`);
  });
});
