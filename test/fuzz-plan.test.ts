// Mutations, member planning on the shipped Debian 6.1 BTF, verdicts, the campaign
// store (resume, torn lines) and the progress line.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { shippedKernelBtfPath } from '../src/types/load.js';
import { loadCampaignLayout } from '../src/fuzz/campaign.js';
import { applies, mutate, MUTATION_KINDS, trialRandom, type MemberSpan } from '../src/fuzz/mutations.js';
import { changedMembers, memberMatches, planMembers, trialKey, trialQueue } from '../src/fuzz/plan.js';
import { memberResult, type PlannedMember } from '../src/fuzz/verdict.js';
import { CampaignStore, type CampaignSettings } from '../src/fuzz/store.js';
import { Progress, formatDuration } from '../src/fuzz/progress.js';
import type { TrialRecord } from '../src/fuzz/trial.js';
import { DEFAULT_TIMING } from '../src/fuzz/trial.js';
import { UsageError } from '../src/errors.js';

const rng = () => trialRandom(1, 'x', 'random', 0);

describe('mutate', () => {
  const u32: MemberSpan = { path: 'pid', offset: 0, size: 4, kind: 'int' };
  const ptr: MemberSpan = { path: 'mm', offset: 0, size: 8, kind: 'pointer' };

  it('zero and ones; no-ops are not applicable', () => {
    expect(mutate(u32, 'zero', Buffer.from('2a000000', 'hex'), rng())?.toString('hex')).toBe('00000000');
    expect(mutate(u32, 'ones', Buffer.from('2a000000', 'hex'), rng())?.toString('hex')).toBe('ffffffff');
    expect(mutate(u32, 'zero', Buffer.alloc(4), rng())).toBeUndefined();
    expect(mutate(u32, 'ones', Buffer.alloc(4, 0xff), rng())).toBeUndefined();
  });

  it('bitflip changes exactly one bit; random always changes the value', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.nat(), (bytes, trial) => {
        const orig = Buffer.from(bytes);
        const r = trialRandom(7, 'pid', 'bitflip', trial);
        const flipped = mutate(u32, 'bitflip', orig, r)!;
        let bits = 0;
        for (let i = 0; i < 4; i++) for (let x = flipped[i]! ^ orig[i]!; x; x &= x - 1) bits++;
        expect(bits).toBe(1);
        expect(mutate(u32, 'random', orig, trialRandom(7, 'pid', 'random', trial))!.equals(orig)).toBe(false);
      }),
    );
  });

  it('touches only a bitfield\'s own bits in its storage unit', () => {
    const bf: MemberSpan = { path: 'sched_reset_on_fork', offset: 0, size: 4, kind: 'bitfield', bits: { position: 3, length: 2 } };
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.constantFrom('zero', 'ones', 'random', 'bitflip' as const), fc.nat(), (bytes, kind, t) => {
        const orig = Buffer.from(bytes);
        const out = mutate(bf, kind, orig, trialRandom(3, bf.path, kind, t));
        if (!out) return; // no change possible (e.g. zeroing zero bits)
        const mask = 0b11000;
        expect((out.readUInt32LE(0) & ~mask) >>> 0).toBe((orig.readUInt32LE(0) & ~mask) >>> 0);
        expect(out.equals(orig)).toBe(false);
      }),
    );
  });

  it('pointer takes another task\'s value of the same member, never ours or NULL', () => {
    const ours = Buffer.from('00a0c30180888bff', 'hex');
    const donors = [Buffer.from(ours), Buffer.alloc(8), Buffer.from('0040120180888bff', 'hex')];
    expect(mutate(ptr, 'pointer', ours, rng(), donors)?.toString('hex')).toBe('0040120180888bff');
    expect(mutate(ptr, 'pointer', ours, rng(), [Buffer.from(ours), Buffer.alloc(8)])).toBeUndefined();
    expect(applies(u32, 'pointer')).toBe(false);
    expect(mutate(u32, 'pointer', Buffer.alloc(4, 1), rng(), [Buffer.alloc(4, 2)])).toBeUndefined();
  });

  it('is deterministic per (seed, member, mutation, trial)', () => {
    const a = mutate(u32, 'random', Buffer.alloc(4), trialRandom(5, 'pid', 'random', 2));
    const b = mutate(u32, 'random', Buffer.alloc(4), trialRandom(5, 'pid', 'random', 2));
    const c = mutate(u32, 'random', Buffer.alloc(4), trialRandom(5, 'pid', 'random', 3));
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });
});

describe('planning on Debian 6.1.0-57 task_struct', () => {
  const { layout, hash } = loadCampaignLayout(shippedKernelBtfPath());
  const ALLOC = 8392; // arch_task_struct_size printed by the guest module on this kernel
  const snapshot = Buffer.alloc(ALLOC, 0x11);
  const donor = Buffer.alloc(ALLOC, 0x22);
  const base = { layout, allocSize: ALLOC, snapshot, donors: [donor], mutations: MUTATION_KINDS, maxArrayElements: 16, profiled: new Set<string>(), seed: 1 };

  it('hashes the BTF, not the container', () => {
    expect(hash).toBe('sha256:88df2a1481426049964b47419038b1bb3322fbe608dbb7e49300451fe5ac194d'); // signatures/btf/linux-6.1.0-57-amd64.json btf_sha256
  });

  it('leaves out leaves past the slab object and folds union alternatives', () => {
    const plan = planMembers(base);
    expect(plan.beyondObject).toBeGreaterThan(0);
    for (const m of plan.members) expect(m.offset + m.size).toBeLessThanOrEqual(ALLOC);
    const u = plan.members.find((m) => m.path === 'wake_entry.u_flags')!;
    expect(u.aliases).toContain('wake_entry.a_flags.counter');
    expect(plan.members.some((m) => m.path === 'wake_entry.a_flags.counter')).toBe(false);
    const offsets = plan.members.map((m) => `${m.offset}:${m.size}:${m.bits?.position ?? ''}`);
    expect(new Set(offsets).size).toBe(offsets.length);
  });

  it('puts well-known members first, then profiled ones, then the rest by offset', () => {
    const plan = planMembers({ ...base, profiled: new Set(['se.exec_start']) });
    expect(plan.members.slice(0, 3).map((m) => m.path)).toEqual(['stack', 'mm', 'active_mm']);
    const firstOther = plan.members.findIndex((m) => m.priority === 1);
    expect(plan.members[firstOther]!.path).toBe('se.exec_start');
    const rest = plan.members.filter((m) => m.priority === 2).map((m) => m.offset);
    expect(rest).toEqual([...rest].sort((a, b) => a - b));
  });

  it('offers pointer only for pointers, and filters by member pattern', () => {
    const plan = planMembers({ ...base, filters: ['tasks', 'pid', 'comm'] });
    expect(plan.members.map((m) => m.path).sort()).toEqual(['comm', 'pid', 'tasks.next', 'tasks.prev']);
    expect(plan.members.find((m) => m.path === 'pid')!.notApplicable).toEqual(['pointer']);
    expect(plan.members.find((m) => m.path === 'tasks.next')!.applicable).toEqual([...MUTATION_KINDS]);
    expect(() => planMembers({ ...base, filters: ['no_such_member'] })).toThrow(UsageError);
  });

  it('matches patterns as prefixes at member boundaries, or with *', () => {
    expect(memberMatches('tasks.next', 'tasks')).toBe(true);
    expect(memberMatches('tasks_x', 'tasks')).toBe(false);
    expect(memberMatches('pid_links[0].next', 'pid_links[0]')).toBe(true);
    expect(memberMatches('se.avg.util_avg', 'se.*avg')).toBe(true);
    expect(memberMatches('se.avg.util_sum', 'se.*avg')).toBe(false);
  });

  it('queues trials in rounds and skips the done ones', () => {
    const plan = planMembers({ ...base, filters: ['pid', 'comm'] });
    const done = new Set([trialKey('pid', 'zero', 0)]);
    const q = trialQueue(plan.members, 2, done);
    expect(q.map((i) => i.trial)).toEqual([0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1]);
    expect(q.some((i) => i.member.path === 'pid' && i.mutation === 'zero' && i.trial === 0)).toBe(false);
  });

  it('finds the members whose bytes changed, bitfields by their bits', () => {
    const spans: MemberSpan[] = [
      { path: 'a', offset: 0, size: 4, kind: 'int' },
      { path: 'b', offset: 4, size: 4, kind: 'bitfield', bits: { position: 0, length: 1 } },
      { path: 'c', offset: 4, size: 4, kind: 'bitfield', bits: { position: 1, length: 1 } },
    ];
    const before = Buffer.alloc(8);
    const after = Buffer.from(before);
    after[5] = 1; // bit 8 of the unit: neither b nor c
    expect(changedMembers(spans, before, after)).toEqual([]);
    after[4] = 2;
    expect(changedMembers(spans, before, after)).toEqual(['c']);
  });
});

function rec(mutation: TrialRecord['mutation'], outcome: TrialRecord['outcome'], trial = 0): TrialRecord {
  return { member: 'm', offset: 0, size: 4, mutation, trial, outcome, detail: '', warned: false, original: '', written: '', readback: null, ms: 1, guest: 0 };
}

describe('verdicts (Dolan-Gavitt et al. 2009 rule)', () => {
  const m: PlannedMember = { path: 'm', offset: 0, size: 4, kind: 'int', aliases: [], applicable: ['zero', 'random'], notApplicable: ['pointer'] };

  it('robust when every trial broke something, fragile when every trial survived', () => {
    expect(memberResult(m, [rec('zero', 'panic'), rec('random', 'target_died')], 1).verdict).toBe('robust');
    expect(memberResult(m, [rec('zero', 'survived'), rec('random', 'survived')], 1).verdict).toBe('fragile');
  });

  it('unknown when mixed, repaired, or short of the requested trials', () => {
    const mixed = memberResult(m, [rec('zero', 'panic'), rec('random', 'survived')], 1);
    expect(mixed).toMatchObject({ verdict: 'unknown', reason: 'mixed: 1 broke, 1 survived, 0 repaired' });
    expect(mixed.by_mutation.zero?.verdict).toBe('robust');
    expect(mixed.by_mutation.random?.verdict).toBe('fragile');
    expect(memberResult(m, [rec('zero', 'repaired'), rec('random', 'repaired')], 1).verdict).toBe('unknown');
    const short = memberResult(m, [rec('zero', 'panic'), rec('random', 'panic')], 2);
    expect(short.verdict).toBe('unknown');
    expect(short.reason).toContain('not every applicable mutation ran 2 trial(s)');
    expect(memberResult({ ...m, applicable: [] }, [], 1)).toMatchObject({ verdict: 'unknown', reason: 'no mutation changes this member' });
  });
});

describe('campaign store', () => {
  const settings: CampaignSettings = {
    schema: 'kcarve-fuzz-campaign/1', kernel_release: '6.1.0-57-amd64', layout_hash: 'sha256:ab', seed: 1,
    max_array_elements: 16, mutations: [...MUTATION_KINDS], members: null, timing: DEFAULT_TIMING,
  };

  it('reads back appended records and survives a torn last line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kfz-store-'));
    try {
      const s = new CampaignStore(dir);
      s.appendTrial(rec('zero', 'panic'));
      appendFileSync(s.trialsPath, '{"member":"m","mut'); // a run killed mid-write
      const again = new CampaignStore(dir);
      expect(again.readTrials()).toHaveLength(1);
      expect(again.torn).toBe(1);
      again.appendTrial(rec('ones', 'survived'));
      expect(new CampaignStore(dir).readTrials().map((r) => r.mutation)).toEqual(['zero', 'ones']);
      expect(readFileSync(s.trialsPath, 'utf8').split('\n').filter((l) => l !== '')).toHaveLength(3);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses to resume a different experiment, naming the setting', () => {
    const s = new CampaignStore(mkdtempSync(join(tmpdir(), 'kfz-store-')));
    try {
      expect(() => s.checkResume(settings, { ...settings, seed: 2 })).toThrow('holds a campaign with --seed 1, this run has 2');
      expect(() => s.checkResume(settings, { ...settings, layout_hash: 'sha256:cd' })).toThrow(UsageError);
      expect(() => s.checkResume(settings, { ...settings, mutations: ['zero'] })).not.toThrow();
      writeFileSync(s.campaignPath, '{');
      expect(() => s.readCampaign()).toThrow('unreadable');
    } finally {
      rmSync(s.dir, { recursive: true, force: true });
    }
  });
});

describe('progress', () => {
  it('prints plain lines with rate and ETA off a terminal', () => {
    let t = 0;
    const out: string[] = [];
    const p = new Progress(4, { isTTY: false, write: (s) => out.push(s) }, 10_000, () => t);
    t = 1000;
    p.tick('pid zero → survived');
    t = 2000;
    p.tick();
    t = 4000;
    p.tick();
    p.tick();
    expect(out).toEqual(['fuzz: 1/4 trials 25.0% · 3600/h · ETA 0m03s · pid zero → survived\n', 'fuzz: 4/4 trials 100.0% · 3600/h · ETA 0m00s\n']);
  });

  it('redraws a bar in place on a terminal', () => {
    const out: string[] = [];
    const p = new Progress(2, { isTTY: true, columns: 200, write: (s) => out.push(s) }, 0, () => 0);
    p.tick();
    expect(out[0]).toMatch(/^\r\[#{12}\.{12}\] 1\/2 trials 50\.0%/);
    expect(formatDuration(3_723_000)).toBe('1h02m');
  });
});
