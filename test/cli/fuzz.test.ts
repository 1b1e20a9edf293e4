// `kcarve fuzz`: help that teaches, exact usage errors, and `report` rebuilding
// robustness.json from a campaign directory without a guest.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { CampaignStore } from '../../src/fuzz/store.js';
import { DEFAULT_TIMING, type TrialRecord } from '../../src/fuzz/trial.js';
import { MUTATION_KINDS } from '../../src/fuzz/mutations.js';
import { captureStdio } from '../helpers/capture-stdio.js';

const io = captureStdio();

describe('kcarve fuzz --help', () => {
  it('teaches campaign, outcomes, verdicts, resume, guests, members and output', async () => {
    expect(await main(['fuzz', '--help'])).toBe(0);
    for (const word of ['Dolan-Gavitt', 'savevm', 'gdbstub', 'target_stuck', 'fragile', 'Resume:', 'trials.jsonl', 'robustness.json', '--guests', "--members 'se.*,tasks'", 'kcarve fuzz evade']) {
      expect(io.stdout).toContain(word);
    }
    io.stdout = '';
    expect(await main(['fuzz', 'run', '--help'])).toBe(0);
    for (const opt of ['--out <dir>', '--guests <n>', '--members <list>', '--mutations <list>', '--trials <n>', '--budget <minutes>', '--max-array <n>']) expect(io.stdout).toContain(opt);
  });

  it('offers the scan comparison on the evasion image', async () => {
    expect(await main(['fuzz', 'evade', '--help'])).toBe(0);
    expect(io.stdout).toMatch(/--scan\s+then scan memory\.raw with kcarve's trained signature/);
  });
});

describe('kcarve fuzz usage errors', () => {
  it.each([
    [['fuzz', 'run'], '--out <dir> is required'],
    [['fuzz', 'run', '--out', '/tmp/x', '--guests', '0'], '--guests must be an integer from 1 to 16 (got "0")'],
    [['fuzz', 'run', '--out', '/tmp/x', '--mutations', 'zero,melt'], '--mutations: unknown mutation "melt" (one of zero, ones, random, bitflip, pointer)'],
    [['fuzz', 'evade', '--out', '/tmp/x'], '--robustness <file> is required'],
    [['fuzz', 'evade', '--out', '/tmp/x', '--robustness', 'signatures/robustness/linux-6.1.0-57-amd64.robustness.json', '--exclude', 'comm,sched_class'], 'sched_class is not a member signatures/robustness/linux-6.1.0-57-amd64.robustness.json marks fragile'],
    [['fuzz', 'report', '--out', '/nonexistent/kfz'], '/nonexistent/kfz holds no campaign (no campaign.json)'],
  ])('%j', async (argv, message) => {
    expect(await main(argv)).toBe(1);
    expect(io.stderr).toContain(message);
  });
});

describe('kcarve fuzz report', () => {
  it('rebuilds robustness.json from campaign.json, plan.json and trials.jsonl', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kfz-report-'));
    try {
      const s = new CampaignStore(dir);
      s.writeCampaign({
        schema: 'kcarve-fuzz-campaign/1', kernel_release: '6.1.0-57-amd64', layout_hash: 'sha256:ab', seed: 1, max_array_elements: 16,
        mutations: [...MUTATION_KINDS], members: ['pid', 'mm'], timing: DEFAULT_TIMING,
        runs: [{ command: 'kcarve fuzz run --out x', started: '2026-01-01T00:00:00Z', finished: '2026-01-01T00:01:00Z', seconds: 60, trials: 3, guests: 1 }],
      });
      const member = (path: string, offset: number, kind: string, applicable: string[]) => ({ path, offset, size: kind === 'pointer' ? 8 : 4, kind, aliases: [], applicable, notApplicable: [], priority: 0, span: { path, offset, size: 4, kind } });
      writeFileSync(s.planPath, JSON.stringify({
        trials: 1, allocSize: 8392, sizeofTaskStruct: 9792, layoutSource: 'vmlinuz', vmlinuz: '/boot/vmlinuz', profiled: [], aliased: 0, beyondObject: 1,
        members: [member('mm', 1176, 'pointer', ['zero']), member('pid', 2416, 'int', ['zero', 'ones'])],
      }));
      const rec = (m: string, mutation: TrialRecord['mutation'], outcome: TrialRecord['outcome']): TrialRecord =>
        ({ member: m, offset: 0, size: 4, mutation, trial: 0, outcome, detail: '', warned: false, original: '', written: '', readback: null, ms: 1, guest: 0 });
      s.appendTrial(rec('mm', 'zero', 'panic'));
      s.appendTrial(rec('pid', 'zero', 'survived'));
      s.appendTrial(rec('pid', 'ones', 'survived'));
      expect(await main(['fuzz', 'report', '--out', dir])).toBe(0);
      expect(io.stdout).toContain('2 members: 1 robust, 1 fragile, 0 unknown; 3 trials recorded (0 in this run), 0 remaining');
      const rob = JSON.parse(readFileSync(join(dir, 'robustness.json'), 'utf8'));
      expect(rob.members.mm.verdict).toBe('robust');
      expect(rob.members.pid).toMatchObject({ verdict: 'fragile', offset: 2416, outcomes: { survived: 2 } });
      expect(rob.campaign).toMatchObject({ command: 'kcarve fuzz run --out x', seconds: 60, trials_run: 3, trials_remaining: 0 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
