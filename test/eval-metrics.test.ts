// kcarve eval's arithmetic against hand-computed values: the Wilson interval (checked
// against the formula worked by hand and the published 8/10 → [0.4902, 0.9433]), F1,
// false positives per GB, scoring by physical address with each status's recall base,
// pooling, and the --attack row parser.
import { describe, expect, it } from 'vitest';
import { parseAttackRows } from '../src/eval/attack-rows.js';
import { f1, gbPerSecond, perGb, wilson, zFor } from '../src/eval/metrics.js';
import { poolScores, scoreHits } from '../src/eval/score.js';
import type { TruthObject } from '../src/train/truth-file.js';

describe('wilson', () => {
  it('uses the 97.5% normal quantile for a 95% interval', () => {
    expect(zFor(0.95)).toBeCloseTo(1.959964, 5);
  });
  it('8 of 10: centre (0.8 + z²/20)/(1 + z²/10), half-width as worked by hand', () => {
    // z² = 3.841459; centre = 0.992073 / 1.384146 = 0.716742; half = 1.415986 · sqrt(0.016 + 0.009604) = 0.226577
    const w = wilson(8, 10);
    expect(w.value).toBe(0.8);
    expect(w.low).toBeCloseTo(0.490162, 5);
    expect(w.high).toBeCloseTo(0.943317, 5);
  });
  it('0 of 10 and 10 of 10 give one-sided intervals, not zero-width ones', () => {
    // high = (z²/n) / (1 + z²/n) = 0.384146 / 1.384146
    expect(wilson(0, 10)).toMatchObject({ value: 0, low: 0 });
    expect(wilson(0, 10).high).toBeCloseTo(0.277533, 5);
    expect(wilson(10, 10)).toMatchObject({ value: 1, high: 1 });
    expect(wilson(10, 10).low).toBeCloseTo(0.722467, 5);
  });
  it('a 90% interval is narrower', () => {
    const w = wilson(8, 10, 0.9);
    expect(w.low!).toBeGreaterThan(0.490162);
    expect(w.high!).toBeLessThan(0.943317);
  });
  it('n = 0 has no value; bad counts throw', () => {
    expect(wilson(0, 0)).toEqual({ k: 0, n: 0, value: null, low: null, high: null });
    expect(() => wilson(3, 2)).toThrow(/0 <= k <= n/);
    expect(() => wilson(-1, 2)).toThrow(RangeError);
  });
});

describe('f1, per GB, GB/s', () => {
  it('computes the harmonic mean', () => {
    expect(f1(0.5, 1)).toBeCloseTo(2 / 3, 12);
    expect(f1(0, 0)).toBe(0);
    expect(f1(null, 1)).toBeNull();
  });
  it('counts per 10^9 bytes', () => {
    expect(perGb(3, 1.5e9)).toBe(2);
    expect(perGb(0, 64 * 2 ** 20)).toBe(0);
    expect(gbPerSecond(2e9, 4)).toBe(0.5);
    expect(gbPerSecond(1, 0)).toBeNull();
  });
});

const obj = (status: TruthObject['status'], pa: number, residue?: TruthObject['residue']): TruthObject => ({
  index: 0,
  status,
  pa,
  va: 0xffff888000000000n + BigInt(pa),
  pid: pa >> 12,
  comm: `p${pa >> 12}`,
  leader: true,
  mutations: [],
  ...(residue === undefined ? {} : { residue }),
});

describe('scoreHits', () => {
  const truth = [
    obj('live', 0x1000),
    obj('live', 0x2000),
    obj('hidden', 0x3000),
    obj('exited', 0x4000, { pid: true, tgid: true, comm: true }),
    obj('exited', 0x5000, { pid: true, tgid: true, comm: false }),
  ];
  const hits = [{ pa: 0x1000 }, { pa: 0x3000 }, { pa: 0x5000 }, { pa: 0x9000 }, { pa: 0xa000, exitEvidence: ['exit_state EXIT_DEAD'] }, { pa: 0x1000 }];

  it('matches by physical address, keeps broken residue out of the recall base, sets unrecorded exited apart (not strict)', () => {
    const s = scoreHits(truth, hits, 2e9, { strict: false });
    expect(s.byStatus.live).toMatchObject({ total: 2, found: 1 });
    expect(s.byStatus.hidden).toMatchObject({ total: 1, found: 1 });
    expect(s.byStatus.exited).toMatchObject({ total: 1, found: 0 });
    expect(s.all).toMatchObject({ total: 4, found: 2 });
    expect(s).toMatchObject({ hits: 5, truePositives: 2, falsePositives: 1, unrecordedExited: 1, unmatchedWithExitEvidence: 1, brokenResidueHits: 1, falsePositivesPerGb: 0.5 });
    expect(s.falsePositiveAddresses).toEqual(['0x9000']);
    expect(s.missed.map((m) => m.pa)).toEqual(['0x2000', '0x4000']);
    // live: precision 1/(1 + 1 FP), recall 1/2, F1 0.5
    expect(s.byStatus.live.precision.value).toBe(0.5);
    expect(s.byStatus.live.recall.value).toBe(0.5);
    expect(s.byStatus.live.f1).toBe(0.5);
    // hidden: precision 1/2, recall 1, F1 2/3
    expect(s.byStatus.hidden.f1).toBeCloseTo(2 / 3, 12);
    // all: precision 2/3, recall 2/4
    expect(s.all.precision.value).toBeCloseTo(2 / 3, 12);
    expect(s.all.f1).toBeCloseTo((2 * (2 / 3) * 0.5) / (2 / 3 + 0.5), 12);
  });
  it('strict (the default): every unmatched hit is a false positive', () => {
    const s = scoreHits(truth, hits, 1e9);
    expect(s).toMatchObject({ falsePositives: 2, unrecordedExited: 0, unmatchedWithExitEvidence: 1, falsePositivesPerGb: 2 });
    expect(s.falsePositiveAddresses).toEqual(['0x9000', '0xa000']);
  });
  it('pools counts and recomputes the intervals', () => {
    const a = scoreHits(truth, hits, 1e9, { strict: true });
    const b = scoreHits(truth, [{ pa: 0x2000 }, { pa: 0x4000 }], 1e9, { strict: true });
    const p = poolScores([a, b], 2e9);
    expect(p.byStatus.live).toMatchObject({ total: 4, found: 2 });
    expect(p.byStatus.exited).toMatchObject({ total: 2, found: 1 });
    expect(p.falsePositives).toBe(2);
    expect(p.falsePositivesPerGb).toBe(1);
    expect(p.byStatus.live.recall).toEqual(wilson(2, 4));
    expect(p.byStatus.live.precision).toEqual(wilson(2, 4));
  });
});

describe('parseAttackRows', () => {
  it('puts "none" first, expands all, keeps NAME+NAME and random:N as one row each', () => {
    expect(parseAttackRows(undefined, 'linux').map((r) => r.label)).toEqual(['none']);
    expect(parseAttackRows('all', 'linux').map((r) => r.label)).toEqual(['none', 'comm', 'pid', 'tasks', 'start_time', 'flags']);
    const rows = parseAttackRows('pid+comm,random:3,pid', 'linux');
    expect(rows.map((r) => r.label)).toEqual(['none', 'pid+comm', 'random:3', 'pid']);
    expect(rows[1]!.spec).toMatchObject({ text: 'pid,comm', named: ['pid', 'comm'], random: 0 });
    expect(rows[2]!.spec).toMatchObject({ named: [], random: 3 });
    expect(parseAttackRows('all', 'windows').map((r) => r.label)).toContain('pool-tag');
  });
  it('names the valid attacks when one is unknown', () => {
    expect(() => parseAttackRows('pid,bogus', 'linux')).toThrow(/"bogus" is not an attack on linux images \(valid: comm, pid, tasks, start_time, flags, NAME\+NAME, random:N, all\)/);
    expect(() => parseAttackRows('pool-tag', 'linux')).toThrow(/valid: comm, pid/);
    expect(() => parseAttackRows('pid,,comm', 'linux')).toThrow(/empty term/);
  });
});
