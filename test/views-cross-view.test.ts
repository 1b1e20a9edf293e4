// Every verdict path of the cross-view, on hand-made records and views.
import { describe, expect, it } from 'vitest';
import { type PhysAddr, type VirtAddr, phys } from '../src/addr.js';
import type { ListWalkResult, ProcessRecord, ViewResult } from '../src/os/types.js';
import { crossView, unscannedPas } from '../src/views/cross-view.js';

function rec(pa: number, pid: number, extra: Partial<ProcessRecord> = {}): ProcessRecord {
  return { pa: phys(pa), pid, tgid: pid, leader: true, comm: `p${pid}`, exitEvidence: [], edges: [], confidence: 1, ...extra };
}
function walk(...pas: number[]): ListWalkResult {
  return { entries: pas.map((pa) => ({ pa: pa as PhysAddr, va: (0xffff888000000000n + BigInt(pa)) as VirtAddr })) };
}
const view = (name: string, ...pas: number[]): ViewResult => ({ name, pas: pas as PhysAddr[] });

describe('cross-view verdicts', () => {
  it('an object on the kernel list is linked (live)', () => {
    const [row] = crossView({ records: [rec(0x1000, 1)], walk: walk(0x1000), views: [] });
    expect(row).toEqual({
      pa: 0x1000,
      record: rec(0x1000, 1),
      verdict: 'linked',
      status: 'live',
      seenBy: ['scan', 'list'],
      why: "on the kernel's process list",
      warnings: [],
    });
  });

  it('a thread reached by the thread list of a leader on the list is linked', () => {
    const rows = crossView({
      records: [rec(0x1000, 10), rec(0x2000, 11, { tgid: 10, leader: false })],
      walk: walk(0x1000),
      views: [view('thread-lists', 0x2000)],
    });
    expect(rows[1]).toMatchObject({
      verdict: 'linked',
      status: 'live',
      seenBy: ['scan', 'thread-lists'],
      why: 'a thread of pid 10 (at 0x1000, on the process list), reached by thread-lists',
      warnings: [],
    });
  });

  it('a thread of a hidden leader is hidden, though its leader\'s thread list reaches it', () => {
    const rows = crossView({
      records: [rec(0x1000, 10), rec(0x2000, 11, { tgid: 10, leader: false })],
      walk: walk(),
      views: [view('thread-lists', 0x2000)],
    });
    expect(rows.map((r) => r.verdict)).toEqual(['hidden', 'hidden']);
    expect(rows[1]!.why).toBe(
      "alive (no exit evidence) and not reached by the kernel's process list; its leader pid 10 is not on the list either; still known to: thread-lists",
    );
  });

  it('a thread unlinked from its linked leader\'s thread list is hidden', () => {
    const rows = crossView({
      records: [rec(0x1000, 10), rec(0x2000, 11, { tgid: 10, leader: false })],
      walk: walk(0x1000),
      views: [view('thread-lists')],
    });
    expect(rows[1]).toMatchObject({ verdict: 'hidden', status: 'hidden', seenBy: ['scan'] });
  });

  it('a thread view does not make a leader-less record linked (only the tgid rule does)', () => {
    // pid 11 claims tgid 99, and no leader with pid 99 is on the list.
    const rows = crossView({
      records: [rec(0x1000, 10), rec(0x2000, 11, { tgid: 99, leader: false })],
      walk: walk(0x1000),
      views: [view('thread-lists', 0x2000)],
    });
    expect(rows[1]!.verdict).toBe('hidden');
  });

  it('alive and off the list is hidden, naming the other views that still know it', () => {
    const [row] = crossView({ records: [rec(0x3000, 7)], walk: walk(), views: [view('pid-links', 0x3000), view('children')] });
    expect(row).toMatchObject({
      verdict: 'hidden',
      status: 'hidden',
      seenBy: ['scan', 'pid-links'],
      why: "alive (no exit evidence) and not reached by the kernel's process list; still known to: pid-links",
    });
  });

  it('off the list with exit evidence is exited', () => {
    const [row] = crossView({ records: [rec(0x4000, 8, { exitEvidence: ['exit_state 0x10 (EXIT_DEAD)'] })], walk: walk(), views: [] });
    expect(row).toMatchObject({
      verdict: 'exited',
      status: 'exited',
      why: "not on the kernel's process list; exit evidence: exit_state 0x10 (EXIT_DEAD)",
      warnings: [],
    });
  });

  it('on the list with exit evidence stays linked, with a warning', () => {
    const [row] = crossView({ records: [rec(0x4000, 8, { exitEvidence: ['exit_state 0x20 (EXIT_ZOMBIE)'] })], walk: walk(0x4000), views: [] });
    expect(row).toMatchObject({
      verdict: 'linked',
      status: 'live',
      warnings: ['linked, although the carver saw exit evidence: exit_state 0x20 (EXIT_ZOMBIE)'],
    });
  });

  it('an object the list reaches but the scan missed is linked, with a warning and the carved record', () => {
    const extra = new Map([[0x5000, rec(0x5000, 9, { confidence: 0.5 })]]);
    const rows = crossView({ records: [], walk: walk(0x5000, 0x6000), views: [], extra });
    expect(rows).toEqual([
      {
        pa: 0x5000,
        record: extra.get(0x5000),
        verdict: 'linked',
        status: 'live',
        seenBy: ['list'],
        why: "on the kernel's process list",
        warnings: ['the scan did not report this object, though list reaches it'],
      },
      {
        pa: 0x6000,
        verdict: 'linked',
        status: 'live',
        seenBy: ['list'],
        why: "on the kernel's process list",
        warnings: ['the scan did not report this object, though list reaches it (and it could not be carved)'],
      },
    ]);
  });

  it('rows come in ascending physical order; unscannedPas lists what views reach beyond the scan', () => {
    const input = { records: [rec(0x9000, 1), rec(0x1000, 2)], walk: walk(0x9000, 0x7000), views: [view('pid-links', 0x8000, 0x1000)] };
    expect(crossView(input).map((r) => r.pa)).toEqual([0x1000, 0x7000, 0x8000, 0x9000]);
    expect(unscannedPas(input)).toEqual([0x7000, 0x8000]);
  });
});
