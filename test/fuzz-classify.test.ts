// Trial classification on observations recorded from real trials (Debian 6.1.0-57 under
// QEMU 7.2 TCG: console text since loadvm, QMP events, heartbeat times, bytes read back;
// test/fixtures/fuzz/trial-observations-6.1.0-57.json), plus edge cases built from them.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { classifyTrial, completeLines, describeStatus, trialEndStatus, trialFinished, type TrialObservation } from '../src/fuzz/classify.js';

interface Recorded {
  member: string;
  mutation: string;
  expected: string;
  serial: string;
  events: string[];
  heartbeats: number[];
  endMs: number;
  hangMs: number;
  written: string;
  readback: string | null;
}
const { trials } = JSON.parse(readFileSync(new URL('./fixtures/fuzz/trial-observations-6.1.0-57.json', import.meta.url), 'utf8')) as { trials: Recorded[] };

function observation(r: Recorded): TrialObservation {
  return {
    serial: r.serial, events: r.events, heartbeats: r.heartbeats, endMs: r.endMs, hangMs: r.hangMs,
    written: Buffer.from(r.written, 'hex'), ...(r.readback ? { readback: Buffer.from(r.readback, 'hex') } : {}),
  };
}

function recorded(member: string, mutation: string): Recorded {
  const r = trials.find((t) => t.member === member && t.mutation === mutation);
  if (!r) throw new Error(`no recorded trial ${member} ${mutation}`);
  return r;
}

describe('classifyTrial on recorded trials', () => {
  it.each(trials.map((t) => [t.member, t.mutation, t.expected] as const))('%s %s → %s', (member, mutation, expected) => {
    expect(classifyTrial(observation(recorded(member, mutation))).outcome).toBe(expected);
  });

  it('names the line or reason that decided', () => {
    expect(classifyTrial(observation(recorded('stack', 'zero'))).detail).toBe('BUG: unable to handle page fault for address: 0000000000003f58');
    expect(classifyTrial(observation(recorded('exit_signal', 'zero'))).detail).toBe('target not reaped');
    expect(classifyTrial(observation(recorded('thread_pid', 'pointer'))).detail).toBe('work failed at step p');
    expect(classifyTrial(observation(recorded('__state', 'ones'))).detail).toBe('read back 0x01000000 after writing 0xffffffff');
    expect(classifyTrial(observation(recorded('thread_group.next', 'pointer'))).detail).toMatch(/^no heartbeat for the last \d+ ms$/);
  });
});

describe('classifyTrial edge cases', () => {
  const survived = recorded('comm', 'random');

  it('a RESET event alone (panic=-1 reboots before the message is read) is a panic', () => {
    const o = { ...observation(survived), serial: 'go\r\nkfz: hb 3\r\n', events: ['RESUME', 'RESET'] };
    expect(classifyTrial(o)).toMatchObject({ outcome: 'panic', detail: 'QMP event RESET' });
  });

  it('a crash after a clean exit still counts as a panic', () => {
    const o = { ...observation(survived), serial: `${survived.serial}[    7.1] Kernel panic - not syncing: Fatal exception\r\n` };
    expect(classifyTrial(o)).toMatchObject({ outcome: 'panic', detail: 'Kernel panic - not syncing: Fatal exception' });
  });

  it('a WARNING is recorded but does not break the trial', () => {
    const o = { ...observation(survived), serial: survived.serial.replace('exit\r\n', 'exit\r\n[    6.2] ------------[ cut here ]------------\r\n[    6.2] WARNING: CPU: 1 PID: 86 at lib/refcount.c:28\r\n') };
    expect(classifyTrial(o)).toMatchObject({ outcome: 'survived', warned: true });
  });

  it('ignores a line still being written', () => {
    const o = { ...observation(survived), serial: 'go\r\nkfz: hb 3\r\n[    6.0] BUG: unable to han' };
    expect(classifyTrial(o).outcome).not.toBe('panic');
    expect(completeLines('a\nb')).toBe('a\n');
  });

  it('a target killed by a signal died; a silent system hung; a live one with a stuck target is stuck', () => {
    const killed = { ...observation(survived), serial: 'go\r\nkfz: target gone\r\nkfz: trial end status=0xb\r\n' };
    expect(classifyTrial(killed)).toMatchObject({ outcome: 'target_died', detail: 'target killed by signal 11 during its work' });
    const quiet = { ...observation(survived), serial: 'go\r\nkfz: hb 3\r\n', heartbeats: [60], endMs: 3100 };
    expect(classifyTrial(quiet).outcome).toBe('hang');
    const stuck = { ...observation(survived), serial: 'go\r\nkfz: hb 3\r\n', heartbeats: [60, 2600, 2800, 3000], endMs: 3100 };
    expect(classifyTrial(stuck)).toMatchObject({ outcome: 'target_stuck', detail: 'the target did not finish its work in time' });
  });

  it('same bytes read back as written: survived, not repaired', () => {
    const o = { ...observation(survived), readback: Buffer.from(survived.written, 'hex') };
    expect(classifyTrial(o).outcome).toBe('survived');
  });
});

describe('console helpers', () => {
  it('decode wait statuses as waitpid reports them', () => {
    expect(describeStatus(0x2a00)).toBe('exit 42');
    expect(describeStatus(0x8b)).toBe('killed by signal 11 (core)');
    expect(describeStatus(0x137f)).toBe('stopped by signal 19');
    expect(describeStatus(-1)).toBe('not reaped');
    expect(trialEndStatus('kfz: trial end status=none (errno 10)\r\n')).toBe(-1);
    expect(trialEndStatus('kfz: trial end status=0x2a0')).toBeUndefined();
  });

  it('trialFinished needs a complete end line', () => {
    expect(trialFinished('kfz: work done\r\n')).toBe(false);
    expect(trialFinished('kfz: trial end status=0x2a00\r\n')).toBe(true);
    expect(trialFinished('kfz: work failed step=p\r\n')).toBe(true);
  });
});
