// The evasion test's pure parts: which mutation a fragile member gets, and the hook that
// compares a scanner's hits with the evasion image's truth (the scans and the QEMU part
// run in fuzz-campaign.test.ts and fuzz-evade-live.test.ts).
import { describe, expect, it } from 'vitest';
import { chooseMutation, evasionFindings } from '../src/fuzz/evade.js';
import type { MemberResult } from '../src/fuzz/verdict.js';
import type { LinuxTruth } from '../src/datasets/linux/truth.js';
import { UsageError } from '../src/errors.js';

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

  it('refuses a truth.json that is not from kcarve fuzz evade', () => {
    expect(() => evasionFindings({ ...truth, evasion: undefined } as unknown as LinuxTruth, [])).toThrow(UsageError);
  });
});
