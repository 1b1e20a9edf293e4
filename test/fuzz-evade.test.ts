// The evasion test's pure parts: which mutation a fragile member gets, and the hook that
// compares a scanner's hits with the evasion image's truth (the scans and the QEMU part
// run in fuzz-campaign.test.ts and fuzz-evade-live.test.ts).
import { describe, expect, it } from 'vitest';
import { chooseMutation, evasionFindings } from '../src/fuzz/evade.js';
import type { MemberResult } from '../src/fuzz/verdict.js';
import type { LinuxTruth } from '../src/datasets/linux/truth.js';
import { TruthError, UsageError } from '../src/errors.js';
import { evasionTable, scanEvasion } from '../src/fuzz/evade-scan.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function member(by: MemberResult['by_mutation']): MemberResult {
  return { offset: 0, size: 4, kind: 'int', not_applicable: [], trials: 1, outcomes: {}, by_mutation: by, verdict: 'fragile', reason: '' };
}

describe('chooseMutation', () => {
  it('prefers random, then pointer, among mutations whose every trial survived', () => {
    const ok = { trials: 2, outcomes: { survived: 2 }, verdict: 'fragile' as const };
    const mixed = { trials: 2, outcomes: { survived: 1, panic: 1 }, verdict: 'unknown' as const };
    expect(chooseMutation(member({ zero: ok, random: ok, pointer: ok }))).toBe('random');
    expect(chooseMutation(member({ zero: ok, random: mixed, pointer: ok }))).toBe('pointer');
    expect(chooseMutation(member({ bitflip: ok, zero: ok }))).toBe('bitflip');
    expect(chooseMutation(member({ random: mixed }))).toBeUndefined();
  });
});

describe('evasionFindings', () => {
  const task = (pid: number, status: 'live' | 'hidden' | 'exited', pa: string) =>
    ({ status, pid, tgid: pid, ppid: 1, comm: `p${pid}`, leader: true, on_tasks_list: status === 'live', va: '0x0', pa, mutations: [], state: 0, exit_state: 0, flags: 0 });
  const truth = {
    tasks: [task(1, 'live', '0x1000'), task(86, 'hidden', '0x2b22100'), task(90, 'exited', '0x3000')],
    evasion: { target_pa: '0x2b22100' },
  } as unknown as LinuxTruth & { evasion: { target_pa: string } };

  it('reports whether the hidden, mutated target was found, and which running tasks were missed', () => {
    expect(evasionFindings(truth, [0x1000, 0x2b22100])).toEqual({ targetFound: true, found: 2, missed: [], falsePositives: [] });
    expect(evasionFindings(truth, [0x1000])).toEqual({ targetFound: false, found: 1, missed: [{ pid: 86, comm: 'p86', status: 'hidden', pa: '0x2b22100' }], falsePositives: [] });
  });

  it('counts hits at no task (exited tasks included) as false positives', () => {
    expect(evasionFindings(truth, [0x5000, 0x3000, 0x1000, 0x4040]).falsePositives).toEqual(['0x4040', '0x5000']);
  });

  it('refuses a truth.json that is not from kcarve fuzz evade', async () => {
    expect(() => evasionFindings({ ...truth, evasion: undefined } as unknown as LinuxTruth, [])).toThrow(UsageError);
    const dir = mkdtempSync(join(tmpdir(), 'kfz-evade-scan-'));
    try {
      writeFileSync(join(dir, 'truth.json'), JSON.stringify({ ...truth, evasion: undefined }));
      await expect(scanEvasion(join(dir, 'truth.json'))).rejects.toThrow(/not an image from kcarve fuzz evade/);
      await expect(scanEvasion(join(dir, 'missing.json'))).rejects.toThrow(TruthError);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('evasionTable', () => {
  const sig = (role: 'kcarve' | 'baseline') => ({ label: role === 'kcarve' ? 'robust' : 'psscan', role, file: `/x/${role}.sig.json` });
  const findings = (targetFound: boolean) => ({ targetFound, found: 1, missed: [], falsePositives: ['0x5000', '0x6000', '0x7000'] });
  it('says per signature whether the target was found, what the carver read, and what the hits outside the truth are', () => {
    const text = evasionTable([
      {
        signature: sig('kcarve'), findings: findings(true), live: { found: 3, total: 3 }, hidden: { found: 1, total: 1 }, exited: { found: 0, total: 0 }, hits: 7,
        targetRecord: { pid: 87, state: 'S (sleeping)', tampered: ['pid: the field holds 5, its struct pid (thread_pid) says 87'], confidence: 1 },
        outsideTruth: [{ pa: '0x5000', pid: 0, comm: 'swapper/1', exitEvidence: false }, { pa: '0x6000', exitEvidence: true }, { pa: '0x7000', pid: 9, comm: 'x', exitEvidence: false }],
      },
      { signature: sig('baseline'), findings: findings(false), live: { found: 2, total: 3 }, hidden: { found: 0, total: 1 }, exited: { found: 0, total: 0 }, hits: 3, outsideTruth: [], neededHints: 'no page-table root' },
    ]);
    const [robust, baseline] = text.split('\n').slice(2, 4);
    expect(robust).toContain('| found: pid 87, S (sleeping), tampered: pid: the field holds 5, its struct pid (thread_pid) says 87, confidence 1.00 | 1/1 | 3/3 | 0/0 | 3 (1 with exit evidence, 1 idle task, 1 other) |');
    expect(baseline).toContain('(with truth hints¹) | baseline | **lost** | 0/1 | 2/3 |');
    expect(text).toContain('¹ psscan: without hints the scan failed: no page-table root');
  });
});
