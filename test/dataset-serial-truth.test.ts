// The serial-truth parser on serial logs recorded from real guests (Debian 6.1.0-57-amd64
// under QEMU 7.2 TCG, kcarve_truth module), and on damaged copies of them.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parseSerialTruth } from '../src/datasets/linux/serial-truth.js';
import { selectTasks } from '../src/datasets/linux/truth.js';
import { TruthError } from '../src/errors.js';

const STALE4 = readFileSync(new URL('./fixtures/linux-serial-6.1.0-57-stale-4level.log', import.meta.url), 'utf8');
const POISON5 = readFileSync(new URL('./fixtures/linux-serial-6.1.0-57-poison-5level.log', import.meta.url), 'utf8');

function thrown(fn: () => unknown): TruthError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TruthError);
    return err as TruthError;
  }
  throw new Error('expected a TruthError');
}

describe('parseSerialTruth on recorded logs', () => {
  it('reads the 4-level stale-unlink guest exactly', () => {
    const t = parseSerialTruth(STALE4);
    expect(t.release).toBe('6.1.0-57-amd64');
    expect(t.pagingLevels).toBe(4);
    expect(t.layout['page_offset_base']).toBe(0xffff8a8fc0000000n);
    expect(t.layout['init_task_va']).toBe(0xffffffffbca1aa40n);
    expect(t.layout['init_task_pa']).toBe(0x701aa40n);
    expect(t.layout['init_top_pgt_pa']).toBe(0x7010000n);
    expect(t.layout['list_poison1']).toBe(0xdead000000000100n);
    // task_struct of Debian's 6.1.0-57-amd64, as offsetof() in the module reported it.
    expect(t.taskStructSize).toBe(9792);
    expect(t.offsets).toMatchObject({ tasks: 2192, pid: 2416, tgid: 2420, comm: 2976, real_parent: 2432, thread_group: 2592, thread_node: 2608 });
    expect(Object.keys(t.offsets)).toHaveLength(27);

    const count = (s: string) => t.tasks.filter((x) => x.status === s).length;
    expect([count('live'), count('hidden'), count('exited')]).toEqual([52, 4, 4]);
    const init = t.tasks[0]!;
    expect(init).toMatchObject({ status: 'live', pid: 0, tgid: 0, comm: 'swapper/0', leader: true, onList: true, va: 0xffffffffbca1aa40n, pa: 0x701aa40 });
    const hidden = t.tasks.filter((x) => x.status === 'hidden');
    expect(hidden.map((x) => [x.comm, x.leader, x.style])).toEqual([
      ['ks4-0117aa', true, 'stale'],
      ['kt4.1-b20a', false, 'stale'],
      ['ks5-9666a2', true, 'stale'],
      ['kt5.1-32b8', false, 'stale'],
    ]);
    const thread = t.tasks.find((x) => x.comm === 'kt0.1-8781')!;
    expect(thread).toMatchObject({ status: 'live', pid: 82, tgid: 79, ppid: 1, leader: false, onList: false, pa: 0x2942100, va: 0xffff8a8fc2942100n });
    expect(thread.commBytes).toEqual(Buffer.from('kt0.1-8781\0\0\0\0\0\0', 'latin1'));
    const exited = t.tasks.filter((x) => x.status === 'exited');
    expect(exited.map((x) => `${x.pid}/${x.tgid} ${x.comm}`)).toEqual(['89/89 kx0-99f180', '92/90 ky1.1-d0f2', '90/90 kx1-a97b0a', '91/91 kx2-b18752']);
  });

  it('reads the 5-level poison-unlink guest with KASLR off', () => {
    const t = parseSerialTruth(POISON5);
    expect(t.pagingLevels).toBe(5);
    // Documentation/x86/x86_64/mm.rst: the 5-level direct map starts at 0xff11000000000000.
    expect(t.layout['page_offset_base']).toBe(0xff11000000000000n);
    expect(t.tasks.filter((x) => x.status === 'hidden').every((x) => x.style === 'poison')).toBe(true);
    expect(t.tasks.filter((x) => x.status === 'hidden')).toHaveLength(4);
  });

  it('reads arch_task_struct_size when the module printed it (older logs lack it)', () => {
    expect(parseSerialTruth(STALE4).taskStructAllocSize).toBeUndefined();
    const withAlloc = STALE4.replace(
      /^(.*kcarve: offset task_struct\.size=9792)$/m,
      '$1\n[    5.707044] kcarve: offset task_struct.alloc_size=8392',
    );
    const t = parseSerialTruth(withAlloc);
    expect(t.taskStructAllocSize).toBe(8392);
    expect(t.offsets['alloc_size']).toBeUndefined();
  });

  it('names the log line of a damaged record', () => {
    const lines = STALE4.split('\n');
    const i = lines.findIndex((l) => l.includes('comm=6b73342d'));
    lines[i] = lines[i]!.replace(/comm=[0-9a-f]+/, 'comm=6b7334');
    const e = thrown(() => parseSerialTruth(lines.join('\n'), 'serial.log'));
    expect(e.message).toBe(`serial.log at line ${i + 1}: task record comm must be 16 bytes of hex (got "6b7334")`);

    const bad = STALE4.replace(/(status=live pid=1 tgid=1 ppid=0 leader=1 on_list=1 va=)0x[0-9a-f]+/, '$1zz');
    const badLine = bad.split('\n').findIndex((l) => l.includes('va=zz')) + 1;
    expect(thrown(() => parseSerialTruth(bad)).message).toBe(`serial.log at line ${badLine}: task record has no valid va ("zz")`);
  });

  it('refuses a dump cut short, one that never happened, and module errors', () => {
    const cut = STALE4.slice(0, STALE4.indexOf('kcarve: truth done'));
    expect(thrown(() => parseSerialTruth(cut)).message).toMatch(/^serial\.log at line \d+: the truth dump has no "kcarve: truth done" marker \(cut short\?\)$/);
    const never = STALE4.slice(0, STALE4.indexOf('[', STALE4.indexOf('kcarve: loaded')));
    expect(thrown(() => parseSerialTruth(never)).message).toBe('serial.log: no "kcarve: begin" record: the truth module never dumped');
    const err = `${never}[    5.1] kcarve: error hide: no task with pid 77\n`;
    expect(thrown(() => parseSerialTruth(err)).message).toMatch(/the truth module reported: error hide: no task with pid 77$/);
  });

  it('refuses a dump that lacks a needed layout fact or offset', () => {
    const noPob = STALE4.replace('page_offset_base=', 'page_offset_basX=');
    expect(thrown(() => parseSerialTruth(noPob)).message).toBe('serial.log: the layout records lack page_offset_base');
    const noPid = STALE4.replace(/^.*task_struct\.pid=.*$/m, '');
    expect(thrown(() => parseSerialTruth(noPid)).message).toBe('serial.log: the offset records lack task_struct.pid');
  });

  it('uses the last complete dump when the guest printed two', () => {
    const first = STALE4.replace('ks0-326637', 'zz');
    const t = parseSerialTruth(`${first}\n${POISON5}`);
    expect(t.pagingLevels).toBe(5);
  });
});

describe('selectTasks', () => {
  it('drops exited records whose object is live again or was recorded twice', () => {
    const t = parseSerialTruth(STALE4);
    const live = t.tasks.find((x) => x.comm === 'ks0-326637')!;
    const ex = t.tasks.filter((x) => x.status === 'exited');
    // A freed task_struct reused by a live task, and one object that exited twice.
    ex[0]!.pa = live.pa;
    ex[2]!.pa = ex[1]!.pa;
    const { tasks, dropped } = selectTasks(t);
    expect(tasks.filter((x) => x.status === 'exited').map((x) => x.comm)).toEqual(['kx1-a97b0a', 'kx2-b18752']);
    expect(dropped.map((d) => [d.comm, d.reason])).toEqual([
      ['kx0-99f180', 'the object is a live or hidden task at the dump'],
      ['ky1.1-d0f2', 'a later exited task used the same object'],
    ]);
  });
});
