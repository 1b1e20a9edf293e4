// Carving, the task-list walk and the other views on the synthetic kernel
// (test/helpers/linux-mini.ts), including every guard of the list walk.
import { describe, expect, it } from 'vitest';
import { phys } from '../src/addr.js';
import { DiscoveryError } from '../src/errors.js';
import { linuxSupport } from '../src/os/linux/index.js';
import { LIST_POISON1 } from '../src/os/linux/kernel-facts.js';
import { walkKernelList } from '../src/os/linux/list-walk.js';
import { linuxTaskSignature } from '../src/os/linux/task-signature.js';
import type { KernelSpaceInfo, ProcessRecord } from '../src/os/types.js';
import { resolveSignature } from '../src/signatures/load.js';
import { scanReference } from '../src/signatures/reference.js';
import { MINI, debianLayout, miniKernel, type MiniKernel } from './helpers/linux-mini.js';

const layout = debianLayout();
const sig = resolveSignature(linuxTaskSignature(layout, { kernel: '6.1' }).doc, 'mini.sig.json', { layout });
const TASKS = layout.offsetOf('task_struct', 'tasks');

function setup(k: MiniKernel = miniKernel()): { k: MiniKernel; info: KernelSpaceInfo; space: ReturnType<typeof linuxSupport.kernelSpace>; records: ProcessRecord[] } {
  const all = k.image.readPhys(phys(0), MINI.ram);
  const hits = scanReference(all, sig.program('x86-64-4'), { start: 0, end: MINI.ram, limit: MINI.ram, phase: 0 }).map((x) => phys(x));
  const info = linuxSupport.discover(k.image, sig, hits, {});
  const space = linuxSupport.kernelSpace(k.image, info);
  const records = hits.map((pa) => ({ ...linuxSupport.carve(sig, k.image.readPhys(pa, layout.sizeOf('task_struct')), pa, space), edges: [], confidence: 1 }));
  return { k, info, space, records };
}

describe('carving task_structs', () => {
  const { k, records } = setup();

  it('reads identity, parent, leadership, VA and DTB of every task', () => {
    for (const t of k.tasks) {
      const r = records.find((x) => x.pa === t.pa)!;
      expect(r).toMatchObject({ pid: t.pid, tgid: t.pid, comm: t.comm, ppid: t.parent ?? t.pid, leader: true, va: t.va });
      if (!t.exited && !t.kernelThread && t.slot >= 0) expect(r.dtb).toBe(MINI.processRoot);
      else expect(r.dtb).toBeUndefined();
    }
  });

  it('gives running tasks no exit evidence and freed ones all of it', () => {
    for (const t of k.tasks) {
      const r = records.find((x) => x.pa === t.pa)!;
      if (!t.exited) {
        expect(r.exitEvidence).toEqual([]);
        expect(r.state).toBe('S (sleeping)');
        continue;
      }
      expect(r.state).toBe('X (dead)');
      expect(r.exitEvidence).toEqual([
        'exit_state EXIT_DEAD',
        '__state TASK_DEAD',
        'flags PF_EXITING',
        'usage 0 (last reference dropped)',
        'stack NULL (released)',
        'thread_pid NULL (detached from its struct pid)',
        t.comm === 'gone'
          ? `freed slab slot: free pointer at +4192 decodes to 0x${(MINI.pageOffsetBase + BigInt(k.tasks.find((x) => x.comm === 'gone-too')!.pa)).toString(16)}, a slot of the same slab`
          : 'freed slab slot: free pointer at +4192 decodes to NULL (end of the freelist)',
      ]);
    }
  });

  it('reports a struct pid that names another pid', () => {
    const k2 = miniKernel();
    const init = k2.tasks.find((t) => t.pid === 1)!;
    k2.image.writePhys(phys(MINI.pids + 1 * 0x100 + layout.offsetOf('pid', 'numbers[0].nr')), new Uint8Array([77, 0, 0, 0]));
    const { records: r2 } = setup(k2);
    expect(r2.find((x) => x.pa === init.pa)!.exitEvidence).toEqual(["thread_pid's pid nr 77 is not pid 1 (struct pid freed or reused)"]);
  });
});

describe('judging candidates', () => {
  it('accepts live, hidden and exited tasks and rejects a stale copy of a task', async () => {
    const { judge } = await import('../src/signatures/edges.js');
    const { evaluateAt } = await import('../src/signatures/reference.js');
    const { k, space } = setup();
    const size = layout.sizeOf('task_struct');
    // A stale copy of init (pid 1) in another page: its pointers still reach the real
    // task's parent, pid, stack and mm, but nothing that is consistent with its own address.
    const init = k.tasks.find((t) => t.pid === 1)!;
    const copyPa = phys(0x640000);
    k.image.writePhys(copyPa, k.image.readPhys(init.pa, size));
    const program = sig.program('x86-64-4');
    const matchesAt = (pa: number): boolean => {
      const b = k.image.readPhys(phys(pa), size);
      return evaluateAt(b, 0, b.length, program);
    };
    const verdict = (pa: number) => judge(sig, k.image.readPhys(phys(pa), size), phys(pa), { space, matchesAt });
    expect(matchesAt(copyPa)).toBe(true);
    const copy = verdict(copyPa);
    expect(copy.accepted).toBe(false);
    expect(copy.edges.filter((e) => e.outcome === 'held').map((e) => e.name)).toEqual(['real_parent.task', 'thread_pid.nr', 'stack.magic', 'mm.owner']);
    expect(copy.score).toBeCloseTo(4 / 14);
    for (const t of k.tasks) expect(verdict(t.pa).accepted, t.comm).toBe(true);
    expect(verdict(k.tasks.find((t) => t.exited)!.pa).score).toBeCloseTo(9 / 14);
  });
});

describe('the task list and other views', () => {
  it('walks init_task.tasks: init_task first, hidden and exited tasks absent', () => {
    const { k, info, space } = setup();
    const walk = linuxSupport.walkList(k.image, sig, space, info, {});
    expect(walk.stoppedBecause).toBeUndefined();
    expect(walk.entries.map((e) => e.pa)).toEqual(k.tasks.filter((t) => !t.hidden && !t.exited).map((t) => t.pa));
  });

  it('sees the hidden task in the pid links and its parent\'s children list', () => {
    const { k, info, space, records } = setup();
    const walk = linuxSupport.walkList(k.image, sig, space, info, {});
    const views = linuxSupport.views(k.image, sig, space, info, walk, records);
    const byName = new Map(views.map((v) => [v.name, v]));
    const hidden = k.tasks.find((t) => t.hidden)!.pa;
    const pa = (pred: (t: MiniKernel['tasks'][number]) => boolean): number[] => k.tasks.filter(pred).map((t) => t.pa).sort((a, b) => a - b);
    // init_task's struct pid does not list it (init_struct_pid), every other running task's does.
    expect(byName.get('pid-links')!.pas).toEqual(pa((t) => !t.exited && t.pid !== 0));
    expect(byName.get('children')!.pas).toEqual(pa((t) => !t.exited && t.pid !== 0));
    expect(byName.get('children')!.pas).toContain(hidden);
    expect(byName.get('thread_group')!.pas).toEqual(pa((t) => !t.exited));
    // Each mini process has one thread: its signal->thread_head list holds just the leader.
    expect(byName.get('thread-lists')).toEqual({ name: 'thread-lists', pas: pa((t) => !t.exited) });
  });

  it('throws naming init_task when discovery found none', () => {
    const { k, info, space } = setup();
    const { initTask: _drop, ...rest } = info.linux!;
    expect(() => linuxSupport.walkList(k.image, sig, space, { ...info, linux: rest }, {})).toThrow(DiscoveryError);
    expect(() => linuxSupport.walkList(k.image, sig, space, { ...info, linux: rest }, {})).toThrow(/cannot find the init_task \(the head of the task list\)/);
  });

  describe('guards', () => {
    const u64 = (v: bigint): Uint8Array => {
      const b = new Uint8Array(8);
      new DataView(b.buffer).setBigUint64(0, v, true);
      return b;
    };
    const head = (k: MiniKernel): bigint => k.tasks[0]!.va + BigInt(TASKS);
    const opts = { containerDelta: TASKS, nextOffset: 0 };

    it('stops at a cycle that never returns to the head', () => {
      const { k, space } = setup();
      const [, a, b] = k.tasks;
      k.image.writePhys(phys(b!.pa + TASKS), u64(a!.va + BigInt(TASKS)));
      const w = walkKernelList(space, head(k), opts);
      expect(w.entries.map((e) => e.pa)).toEqual([a!.pa, b!.pa]);
      expect(w.stoppedBecause).toBe(`a cycle: 0x${(a!.va + BigInt(TASKS)).toString(16)} again after 2 entries without returning to the head`);
    });

    it('stops at a poisoned, a NULL and an unreadable link', () => {
      const { k, space } = setup();
      const a = k.tasks[1]!;
      k.image.writePhys(phys(a.pa + TASKS), u64(LIST_POISON1));
      expect(walkKernelList(space, head(k), opts).stoppedBecause).toBe('a poisoned link (0xdead000000000100, LIST_POISON) after 1 entries');
      k.image.writePhys(phys(a.pa + TASKS), u64(0n));
      expect(walkKernelList(space, head(k), opts).stoppedBecause).toBe('a NULL link after 1 entries');
      const outside = MINI.pageOffsetBase + 0x4000_0000n;
      k.image.writePhys(phys(a.pa + TASKS), u64(outside));
      expect(walkKernelList(space, head(k), opts).stoppedBecause).toMatch(/^an unreadable link 0xffff9a4040000000 after 1 entries: physical address 0x40000000/);
    });

    it('stops at the length guard', () => {
      const { k, space } = setup();
      const w = walkKernelList(space, head(k), { ...opts, limit: 1 });
      expect(w.entries).toHaveLength(1);
      expect(w.stoppedBecause).toBe('the length guard (1 entries)');
    });
  });
});
