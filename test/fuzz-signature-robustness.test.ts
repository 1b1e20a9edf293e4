// Issue 8, first "Done when": the shipped Linux signature uses only members the shipped
// campaign marks robust, or says which it does not. Lists the task_struct members the
// trained signature's constraints and edges read, with their campaign verdicts, and
// checks that (a) every value constraint and required edge reads robust members only,
// (b) the members that are not robust are exactly the ones signatures/linux/README.md
// names in its "Members not marked robust" section. A retrained signature that changes
// this list fails here until the README says so.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadRobustness } from '../src/fuzz/robustness-schema.js';
import { readSignatureMembersDoc, signatureMemberUses, signatureRobustness } from '../src/fuzz/signature-robustness.js';
import type { Robustness } from '../src/fuzz/report.js';
import { loadLayout, shippedKernelBtfPath } from '../src/types/load.js';

const at = (p: string) => fileURLToPath(new URL(`../${p}`, import.meta.url));
const TRAINED = at('signatures/linux/task_struct-debian-6.1.0-57.trained.sig.json');
const rob = loadRobustness(at('signatures/robustness/linux-6.1.0-57-amd64.robustness.json'));
const layout = loadLayout(shippedKernelBtfPath());

/** The members a README subsection lists: the backquoted names before the first " (" of each "- " line. */
function readmeList(subsection: string): string[] {
  const text = readFileSync(at('signatures/linux/README.md'), 'utf8');
  const section = text.indexOf('## Members not marked robust');
  expect(section, 'signatures/linux/README.md has no "## Members not marked robust" section').toBeGreaterThanOrEqual(0);
  const start = text.indexOf(`### ${subsection}`, section);
  expect(start, `no "### ${subsection}" subsection`).toBeGreaterThan(section);
  const body = text.slice(start + 4).split(/\n#/)[0]!;
  return body
    .split('\n')
    .filter((l) => l.startsWith('- '))
    .flatMap((l) => [...l.split(' (')[0]!.matchAll(/`([^`]+)`/g)].map((m) => m[1]!));
}

describe('which members the shipped trained signature relies on', () => {
  const uses = signatureRobustness(readSignatureMembersDoc(TRAINED), rob, layout);

  it('reads only members the shipped campaign marks robust in its value constraints and required edges', () => {
    const required = uses.filter((u) => u.required);
    expect(required.length).toBeGreaterThan(0);
    expect(required.filter((u) => u.verdict !== 'robust').map((u) => `${u.member}: ${u.verdict}`)).toEqual([]);
  });

  it('names in signatures/linux/README.md exactly the members its weighted edges read that are not robust', () => {
    const notRobust = uses.filter((u) => u.verdict !== 'robust');
    // None of them is fragile (an attacker's free choice): they are `unknown` (mixed outcomes).
    expect(notRobust.filter((u) => u.verdict === 'fragile')).toEqual([]);
    expect(readmeList('task_struct-debian-6.1.0-57.trained.sig.json').sort()).toEqual(notRobust.map((u) => u.member).sort());
  });
});

describe('which members the hand-written Linux reference signature relies on', () => {
  const uses = signatureRobustness(readSignatureMembersDoc(at('signatures/linux/debian-6.1.0-57-amd64.sig.json')), rob, layout);

  it('uses fragile members (exit_state, static_prio, policy in constraints; pid in an edge) and README says so', () => {
    expect(uses.filter((u) => u.verdict === 'fragile').map((u) => `${u.member}${u.required ? ' (required)' : ''}`).sort()).toEqual(['exit_state (required)', 'pid', 'policy (required)', 'static_prio (required)']);
    expect(readmeList('debian-6.1.0-57-amd64.sig.json').sort()).toEqual(uses.filter((u) => u.verdict !== 'robust').map((u) => u.member).sort());
  });
});

describe('signatureRobustness', () => {
  const member = (offset: number, size: number, verdict: 'robust' | 'fragile' | 'unknown', bits?: { position: number; length: number }) =>
    ({ offset, size, kind: 'int', not_applicable: [], trials: 5, outcomes: {}, by_mutation: {}, verdict, reason: '', ...(bits ? { bits } : {}) });
  const pidOff = layout.offsetOf('task_struct', 'pid');
  const tgidOff = layout.offsetOf('task_struct', 'tgid');
  const fake = { ...rob, members: { pid: member(pidOff, 4, 'fragile'), tgid: member(tgidOff, 4, 'robust') } } as Robustness;

  it('finds a member by its bytes, and an edge comparing with a field of the candidate uses that field', () => {
    const sig = {
      target: { type: 'task_struct' },
      constraints: [{ field: 'tgid', kind: 'ne', value: '0x0' }],
      edges: [{ name: 'thread_pid.nr', from: 'thread_pid', read: { type: 'pid', field: 'numbers[0].nr' }, expect: [{ field: 'pid' }] }],
    } as never;
    expect([...signatureMemberUses(sig).keys()].sort()).toEqual(['pid', 'tgid', 'thread_pid']);
    const out = signatureRobustness(sig, fake, layout);
    expect(out.find((u) => u.member === 'tgid')).toMatchObject({ verdict: 'robust', required: true });
    expect(out.find((u) => u.member === 'pid')).toMatchObject({ verdict: 'fragile', required: false, campaign: [{ member: 'pid', verdict: 'fragile' }] });
    expect(out.find((u) => u.member === 'thread_pid')).toMatchObject({ verdict: 'not fuzzed', campaign: [] });
  });

  it('reads a struct member through the leaves the campaign split it into: robust only if all are', () => {
    const tasks = layout.offsetOf('task_struct', 'tasks');
    const split = { ...rob, members: { 'tasks.next': member(tasks, 8, 'robust'), 'tasks.prev': member(tasks + 8, 8, 'unknown') } } as Robustness;
    const sig = { target: { type: 'task_struct' }, constraints: [{ field: 'tasks', kind: 'ne', value: '0x0' }], edges: [] } as never;
    expect(signatureRobustness(sig, split, layout)[0]).toMatchObject({ member: 'tasks', verdict: 'unknown' });
  });
});
