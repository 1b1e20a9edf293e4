// The shipped robustness verdicts of Debian's 6.1.0-57-amd64 kernel
// (signatures/robustness/), checked by the loader consumers use, and the loader's errors.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadRobustness, validateRobustness } from '../src/fuzz/robustness-schema.js';
import { loadLayout, shippedKernelBtfPath } from '../src/types/load.js';
import { SignatureError } from '../src/errors.js';

const SHIPPED = fileURLToPath(new URL('../signatures/robustness/linux-6.1.0-57-amd64.robustness.json', import.meta.url));

describe('signatures/robustness/linux-6.1.0-57-amd64.robustness.json', () => {
  const rob = loadRobustness(SHIPPED);
  const layout = loadLayout(shippedKernelBtfPath());

  it('is a complete campaign over the shipped kernel\'s task_struct, with its command and duration', () => {
    expect(rob.kernel.release).toBe('6.1.0-57-amd64');
    expect(rob.layout.hash).toBe('sha256:88df2a1481426049964b47419038b1bb3322fbe608dbb7e49300451fe5ac194d');
    expect(rob.campaign.trials_remaining).toBe(0);
    expect(rob.campaign.runs.length).toBeGreaterThan(0);
    expect(rob.campaign.runs.every((r) => r.command.startsWith('kcarve fuzz run '))).toBe(true);
    expect(rob.campaign.seconds).toBeGreaterThan(0);
    expect(rob.summary.members).toBe(Object.keys(rob.members).length);
  });

  it('places every member where the layout does', () => {
    for (const [path, m] of Object.entries(rob.members)) {
      if (m.kind === 'array') continue; // an unexpanded array is named by its own path too
      expect(layout.offsetOf('task_struct', path), path).toBe(m.offset);
    }
  });

  it('rates the members the issue names as probed (robust: stack_canary, sched_class, tasks; fragile: comm, pid)', () => {
    for (const p of ['sched_class', 'tasks.next', 'tasks.prev', 'stack_canary', 'mm', 'real_parent', 'thread_pid']) expect(rob.members[p]!.verdict, p).toBe('robust');
    for (const p of ['comm', 'pid', 'tgid', 'start_time']) expect(rob.members[p]!.verdict, p).toBe('fragile');
    // Zeroing or scrambling the kernel stack pointer or the credentials always crashed.
    for (const p of ['stack', 'cred']) for (const k of ['zero', 'ones', 'random', 'bitflip'] as const) expect(rob.members[p]!.by_mutation[k]!.verdict, `${p} ${k}`).toBe('robust');
  });
});

describe('loadRobustness errors', () => {
  const good = JSON.parse(readFileSync(SHIPPED, 'utf8')) as Record<string, unknown>;

  it('names the JSON path of a violation', () => {
    const bad = structuredClone(good) as { members: Record<string, { verdict: string }> };
    bad.members['pid']!.verdict = 'sturdy';
    expect(() => validateRobustness(bad, 'x.json')).toThrow(SignatureError);
    expect(() => validateRobustness(bad, 'x.json')).toThrow('x.json at $.members.pid.verdict: not a kcarve-robustness/1 file');
    expect(() => validateRobustness({ ...good, schema: 'kcarve-robustness/2' }, 'y.json')).toThrow('y.json at $.schema');
  });

  it('rejects a summary that disagrees with the members', () => {
    const bad = structuredClone(good) as { summary: { robust: number } };
    bad.summary.robust += 1;
    expect(() => validateRobustness(bad, 'z.json')).toThrow('z.json at $.summary: counts');
  });

  it('names an unreadable file', () => {
    expect(() => loadRobustness('/nonexistent/r.json')).toThrow('/nonexistent/r.json: cannot read');
  });
});
