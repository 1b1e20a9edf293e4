// kcarve eval end to end on a small synthetic Linux world (64 MiB): the hand-built
// Debian signature against the Volatility-like baseline under the `pid` attack (hidden
// tasks get a random task->pid). The baseline's 0 < pid < 65535 check loses the hidden
// tasks; kcarve's signature, which does not constrain pid, keeps them. Both ways of
// applying an attack are exercised: regenerating a synthetic world, and rewriting a
// copy of an image that is not synthetic (the path real images take), whose input must
// stay byte-for-byte unchanged.
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../src/cli/main.js';
import { renderEval } from '../src/eval/format.js';
import { mutateLinuxImageCopy } from '../src/eval/image-attack.js';
import { evalReportHtml } from '../src/eval/report-html.js';
import { type EvalResult, runEval } from '../src/eval/run-eval.js';
import { parseAttackSpec } from '../src/synth/attack.js';
import { LINUX_ATTACKS, LINUX_RANDOM_FIELDS } from '../src/synth/linux/attacks.js';
import { synthesize } from '../src/synth/synthesize.js';
import { loadSignature } from '../src/signatures/load.js';
import { loadTruth } from '../src/train/truth-file.js';
import { useTmpDir } from './helpers/images.js';

const tmp = useTmpDir('eval-e2e');
const KCARVE = 'signatures/linux/debian-6.1.0-57-amd64.sig.json';
const BASELINE = 'signatures/linux/baseline-volatility-psscan.sig.json';
const sha = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

let worldDir = '';
let realDir = '';
beforeAll(() => {
  worldDir = tmp('world');
  synthesize({ os: 'linux', seed: 5, size: '64M', procs: 20, hidden: 4, exited: 4, decoys: 8, out: worldDir });
  // The same bytes, presented as a real image: truth without the synth's build record.
  realDir = tmp('real');
  mkdirSync(realDir);
  copyFileSync(join(worldDir, 'memory.raw'), join(realDir, 'memory.raw'));
  const truth = JSON.parse(readFileSync(join(worldDir, 'truth.json'), 'utf8')) as Record<string, unknown>;
  delete truth['build'];
  writeFileSync(join(realDir, 'truth.json'), JSON.stringify(truth));
});

const pooled = (r: EvalResult, attack: string, sig: string) => r.pooled.find((p) => p.attack === attack && p.signature === sig)!.score;

describe('kcarve eval on a synthetic world', () => {
  let r: EvalResult;
  beforeAll(async () => {
    r = await runEval({ signatures: [KCARVE, BASELINE], dirs: [worldDir], attack: 'pid', workers: 0 });
  }, 60_000);

  it('scores both signatures on the unattacked world', () => {
    expect(r.attacks).toEqual(['none', 'pid']);
    expect(r.images[0]).toMatchObject({ synthetic: true, attackMethod: 'regenerated', os: 'linux', truthSha256: sha(join(worldDir, 'truth.json')) });
    const ours = pooled(r, 'none', 'debian-6.1.0-57-amd64');
    const theirs = pooled(r, 'none', 'baseline-volatility-psscan');
    const truth = loadTruth(join(worldDir, 'truth.json'));
    const hidden = truth.objects.filter((o) => o.status === 'hidden').length;
    expect(hidden).toBeGreaterThan(0);
    expect(ours.byStatus.hidden).toMatchObject({ total: hidden, found: hidden });
    expect(ours.byStatus.live.found).toBe(ours.byStatus.live.total);
    expect(ours.falsePositives).toBe(0);
    expect(ours.all.precision.value).toBe(1);
    expect(theirs.byStatus.hidden.found).toBe(hidden);
    // The baseline's few checks pass on thousands of aligned kernel-pointer look-alikes.
    expect(theirs.falsePositives).toBeGreaterThan(100);
    expect(theirs.falsePositivesPerGb).toBeCloseTo(theirs.falsePositives / (r.cells[0]!.mappedBytes / 1e9), 6);
    for (const c of r.cells) {
      expect(c.mappedBytes).toBe(64 * 2 ** 20);
      expect(c.scanSeconds).toBeGreaterThan(0);
      expect(c.gbPerSecond).toBeCloseTo(c.mappedBytes / 1e9 / c.scanSeconds, 9);
    }
  });

  it('the pid attack costs the baseline every hidden task and kcarve none', () => {
    const ours = pooled(r, 'pid', 'debian-6.1.0-57-amd64').byStatus.hidden;
    const theirs = pooled(r, 'pid', 'baseline-volatility-psscan').byStatus.hidden;
    expect(ours.total).toBeGreaterThan(0);
    expect(ours.found).toBe(ours.total);
    expect(theirs.total).toBe(ours.total);
    expect(theirs.found).toBe(0);
    const missed = pooled(r, 'pid', 'baseline-volatility-psscan').missed.filter((m) => m.status === 'hidden');
    expect(missed.every((m) => m.mutations.includes('pid'))).toBe(true);
    const table = renderEval(r, 'table');
    expect(table).toMatch(new RegExp(`\\npid +0/${ours.total} missed +${ours.total}/${ours.total} missed\\n`));
  });

  it('renders json, md and an HTML report with three SVG plots', async () => {
    expect(JSON.parse(renderEval(r, 'json'))).toEqual(JSON.parse(JSON.stringify(r)));
    const md = renderEval(r, 'md');
    expect(md).toContain('| attack | debian-6.1.0-57-amd64 | baseline-volatility-psscan |');
    expect(md).toMatch(/\| pid \| 0\/\d+ missed \| (\d+)\/\1 missed \|/);
    const html = await evalReportHtml(r);
    expect(html.match(/<svg /g)).toHaveLength(3);
    expect(html).toContain('Evasion matrix: share of hidden objects missed');
    expect(html).not.toMatch(/https?:\/\/(?!www\.w3\.org)/);
    const embedded = /<script type="application\/json" id="kcarve-eval-result">(.*)<\/script>/s.exec(html)![1]!;
    expect(JSON.parse(embedded).attacks).toEqual(['none', 'pid']);
  });
});

describe('attacks on a copy of a real image', () => {
  it('rewrites exactly the attacked member of each hidden task, in the copy only', () => {
    const layout = loadSignature(KCARVE).layout;
    const truth = loadTruth(join(realDir, 'truth.json'));
    const spec = parseAttackSpec('pid,tasks', 'linux', LINUX_ATTACKS, LINUX_RANDOM_FIELDS);
    const out = tmp('copy');
    mkdirSync(out);
    const before = sha(join(realDir, 'memory.raw'));
    const m = mutateLinuxImageCopy(join(realDir, 'memory.raw'), out, truth.objects, spec, layout, 'test');
    expect(sha(join(realDir, 'memory.raw'))).toBe(before);
    const a = readFileSync(join(realDir, 'memory.raw'));
    const b = readFileSync(m.path);
    const hidden = truth.objects.filter((o) => o.status === 'hidden');
    expect([...m.changed.keys()].sort()).toEqual(hidden.map((o) => o.pa).sort());
    const allowed = new Set<number>();
    for (const o of hidden) {
      for (const f of ['pid', 'tasks']) {
        const mem = layout.member('task_struct', f);
        for (let i = 0; i < mem.size; i += 1) allowed.add(o.pa + mem.offset + i);
      }
      const tasks = layout.member('task_struct', 'tasks');
      expect(b.subarray(o.pa + tasks.offset, o.pa + tasks.offset + 16).every((x) => x === 0)).toBe(true);
      const pid = layout.member('task_struct', 'pid');
      expect(b.readUInt32LE(o.pa + pid.offset)).not.toBe(a.readUInt32LE(o.pa + pid.offset));
    }
    // Page by page (a byte loop over 64 MiB with expect() takes seconds), bytes within
    // the pages that differ.
    const outside: number[] = [];
    let diffs = 0;
    for (let p = 0; p < a.length; p += 4096) {
      if (a.subarray(p, p + 4096).equals(b.subarray(p, p + 4096))) continue;
      for (let i = p; i < p + 4096; i += 1) {
        if (a[i] === b[i]) continue;
        diffs += 1;
        if (!allowed.has(i)) outside.push(i);
      }
    }
    expect(outside).toEqual([]);
    expect(diffs).toBeGreaterThan(0);
  });

  it('kcarve eval rescans the mutated copy; the baseline loses the hidden tasks', async () => {
    const before = sha(join(realDir, 'memory.raw'));
    const r = await runEval({ signatures: [KCARVE, BASELINE], dirs: [realDir], attack: 'pid', workers: 0 });
    expect(r.images[0]).toMatchObject({ synthetic: false, attackMethod: 'mutated-copy' });
    const ours = pooled(r, 'pid', 'debian-6.1.0-57-amd64').byStatus.hidden;
    const theirs = pooled(r, 'pid', 'baseline-volatility-psscan').byStatus.hidden;
    expect(ours.total).toBeGreaterThan(0);
    expect(ours.found).toBe(ours.total);
    expect(theirs.found).toBe(0);
    expect(sha(join(realDir, 'memory.raw'))).toBe(before);
  }, 60_000);
});

describe('kcarve eval through the CLI', () => {
  it('writes the Markdown tables and the HTML report', async () => {
    const md = tmp('cli.md');
    const html = tmp('cli.html');
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await main(['eval', '--signature', KCARVE, worldDir, '--format', 'md', '--out', md, '--report', html, '--workers', '0', '--quiet'])).toBe(0);
    } finally {
      err.mockRestore();
    }
    const text = readFileSync(md, 'utf8');
    const truth = loadTruth(join(worldDir, 'truth.json'));
    const live = truth.objects.filter((o) => o.status === 'live').length;
    expect(text).toContain('| signature | status | found/total | recall | precision | F1 | FP | FP/GB | scan s | GB/s |');
    expect(text).toMatch(new RegExp(`\\| debian-6\\.1\\.0-57-amd64 \\| live \\| ${live}/${live} \\| 100\\.0 \\[\\d+\\.\\d–100\\.0\\] \\|`));
    expect(text).not.toContain('Evasion matrix');
    const page = readFileSync(html, 'utf8');
    expect(page.match(/<svg /g)).toHaveLength(2);
  }, 60_000);
});
