// The BTF shipped for Debian's linux-image-6.1.0-57-amd64 (6.1.192-3), checked
// against an independent reader: every [offset, size] below is what
// `pahole -F btf -C <type> linux-6.1.0-57-amd64.btf` (Debian bookworm `dwarves`
// 1.24) printed for the same BTF bytes (sha256 88df2a14…, see
// signatures/btf/linux-6.1.0-57-amd64.json). Nested members of anonymous
// structs (mm_struct's) are at pahole's offsets because the anonymous struct
// sits at offset 0. Sizes of the figures: task_struct 9792 with tasks,
// pid, comm at 2192, 2416, 2976.
import { beforeAll, describe, expect, it } from 'vitest';
import { LayoutError } from '../../src/errors.js';
import type { Layout } from '../../src/types/layout.js';
import { leafMembers } from '../../src/types/members.js';
import { loadLayout, shippedKernelBtfPath } from '../../src/types/load.js';
import fc from 'fast-check';
import { readMember, readStruct } from '../../src/types/reader.js';

let k: Layout;
beforeAll(() => {
  k = loadLayout(shippedKernelBtfPath());
});

const PAHOLE: Record<string, { size: number; members: Record<string, [number, number]> }> = {
  task_struct: {
    size: 9792,
    members: {
      thread_info: [0, 24],
      __state: [24, 4],
      stack: [32, 8],
      usage: [40, 4],
      flags: [44, 4],
      ptrace: [48, 4],
      on_cpu: [52, 4],
      prio: [108, 4],
      se: [128, 256],
      sched_class: [656, 8],
      policy: [972, 4],
      tasks: [2192, 16],
      mm: [2272, 8],
      active_mm: [2280, 8],
      exit_state: [2308, 4],
      exit_code: [2312, 4],
      exit_signal: [2316, 4],
      pdeath_signal: [2320, 4],
      pid: [2416, 4],
      tgid: [2420, 4],
      stack_canary: [2424, 8],
      real_parent: [2432, 8],
      parent: [2440, 8],
      children: [2448, 16],
      sibling: [2464, 16],
      group_leader: [2480, 8],
      thread_pid: [2520, 8],
      pid_links: [2528, 64],
      thread_group: [2592, 16],
      thread_node: [2608, 16],
      utime: [2656, 8],
      stime: [2664, 8],
      nvcsw: [2760, 8],
      nivcsw: [2768, 8],
      start_time: [2776, 8],
      start_boottime: [2784, 8],
      min_flt: [2792, 8],
      maj_flt: [2800, 8],
      real_cred: [2952, 8],
      cred: [2960, 8],
      comm: [2976, 16],
      fs: [3040, 8],
      files: [3048, 8],
      nsproxy: [3064, 8],
      signal: [3072, 8],
      rcu_users: [4968, 4],
      rcu: [4968, 16],
      thread: [5376, 4416],
    },
  },
  list_head: { size: 16, members: { next: [0, 8], prev: [8, 8] } },
  pid: { size: 96, members: { count: [0, 4], level: [4, 4], lock: [8, 4], tasks: [16, 32], inodes: [48, 8], wait_pidfd: [56, 24], rcu: [80, 16], numbers: [96, 0] } },
  upid: { size: 16, members: { nr: [0, 4], ns: [8, 8] } },
  cred: {
    size: 176,
    members: { usage: [0, 8], uid: [8, 4], gid: [12, 4], suid: [16, 4], euid: [24, 4], egid: [28, 4], fsuid: [32, 4], cap_effective: [60, 8], user: [128, 8], user_ns: [136, 8] },
  },
  mm_struct: {
    size: 1096,
    members: {
      mm_mt: [0, 24],
      mmap_base: [32, 8],
      task_size: [64, 8],
      pgd: [72, 8],
      mm_users: [84, 4],
      mm_count: [88, 4],
      start_code: [256, 8],
      end_code: [264, 8],
      start_brk: [288, 8],
      brk: [296, 8],
      start_stack: [304, 8],
      arg_start: [312, 8],
      env_start: [328, 8],
      owner: [928, 8],
      exe_file: [944, 8],
    },
  },
  signal_struct: {
    size: 1112,
    members: { sigcnt: [0, 4], live: [4, 4], nr_threads: [8, 4], thread_head: [16, 16], shared_pending: [64, 24], group_exit_code: [96, 4], flags: [116, 4], pids: [360, 32], leader: [408, 4], tty: [416, 8], rlim: [688, 256] },
  },
  sched_entity: { size: 256, members: { exec_start: [64, 8], sum_exec_runtime: [72, 8], vruntime: [80, 8], prev_sum_exec_runtime: [88, 8] } },
  thread_struct: { size: 4416, members: { sp: [24, 8], fsbase: [40, 8], gsbase: [48, 8] } },
  thread_info: { size: 24, members: { flags: [0, 8], syscall_work: [8, 8], status: [16, 4], cpu: [20, 4] } },
};

describe('Debian 6.1.0-57-amd64 BTF agrees with pahole', () => {
  for (const [type, { size, members }] of Object.entries(PAHOLE)) {
    it(`${type}: size ${size} and ${Object.keys(members).length} member offsets`, () => {
      expect(k.sizeOf(type)).toBe(size);
      for (const [m, [off, sz]] of Object.entries(members)) {
        expect([m, k.offsetOf(type, m), k.member(type, m).size]).toEqual([m, off, sz]);
      }
    });
  }

  it('the issue figures: task_struct 9792, tasks/pid/comm at 2192/2416/2976', () => {
    expect([k.sizeOf('task_struct'), k.offsetOf('task_struct', 'tasks'), k.offsetOf('task_struct', 'pid'), k.offsetOf('task_struct', 'comm')]).toEqual([9792, 2192, 2416, 2976]);
  });

  it('follows paths through nested, indexed and flexible members', () => {
    expect(k.offsetOf('task_struct', 'tasks.next')).toBe(2192);
    expect(k.offsetOf('task_struct', 'tasks.prev')).toBe(2200);
    expect(k.offsetOf('task_struct', 'se.vruntime')).toBe(128 + 80);
    expect(k.offsetOf('task_struct', 'thread.sp')).toBe(5376 + 24);
    expect(k.offsetOf('task_struct', 'pid_links[1].pprev')).toBe(2528 + 16 + 8);
    expect(k.offsetOf('pid', 'numbers[0].nr')).toBe(96);
    expect(k.offsetOf('pid', 'numbers[1].ns')).toBe(96 + 16 + 8); // flexible array: indexed past its end, as C allows
    expect(k.offsetOf('signal_struct', 'thread_head.next')).toBe(16);
    expect(k.typeOf('task_struct', 'thread_pid')).toEqual({ kind: 'pointer', subtype: { kind: 'struct', name: 'pid' } });
    expect(k.typeOf('mm_struct', 'owner')).toEqual({ kind: 'pointer', subtype: { kind: 'struct', name: 'task_struct' } });
    expect(k.typeOf('task_struct', 'comm')).toEqual({ kind: 'array', count: 16, subtype: { kind: 'base', name: 'char' } });
    expect(k.typeOf('task_struct', 'pid')).toEqual({ kind: 'base', name: 'int' }); // pid_t resolved
    expect(k.sizeOf('pid_t')).toBe(4);
  });

  it('bitfields match pahole ("2340: 1  4" = byte 2340, bit 1 of a 4-byte unit)', () => {
    expect(k.member('task_struct', 'sched_reset_on_fork')).toMatchObject({ offset: 2340, size: 4, bits: { position: 0, length: 1 } });
    expect(k.member('task_struct', 'sched_contributes_to_load')).toMatchObject({ offset: 2340, bits: { position: 1, length: 1 } });
    expect(k.member('task_struct', 'in_execve')).toMatchObject({ offset: 2344, bits: { position: 2, length: 1 } });
  });

  it('a member the kernel does not have is a LayoutError naming file, type and member', () => {
    // real_start_time was renamed start_boottime in Linux 5.5.
    let err: unknown;
    try {
      k.offsetOf('task_struct', 'real_start_time');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LayoutError);
    expect((err as LayoutError).message).toBe(
      `${shippedKernelBtfPath()} (task_struct.real_start_time): struct task_struct has no member "real_start_time"`,
    );
    expect(() => k.sizeOf('no_such_struct')).toThrow(/\(no_such_struct\): no such type/);
  });

  it('is a Linux layout with 8-byte pointers (a raw BTF blob carries no release)', () => {
    expect(k.metadata.os).toBe('linux');
    expect(k.pointerSize).toBe(8);
  });

  it('enumerates every leaf of task_struct with offsets inside the struct', () => {
    const leaves = leafMembers(k, 'task_struct');
    const byPath = new Map(leaves.map((l) => [l.path, l]));
    expect(byPath.get('pid')).toMatchObject({ offset: 2416, size: 4, kind: 'int', signed: true });
    expect(byPath.get('comm')).toMatchObject({ offset: 2976, size: 16, kind: 'string' });
    expect(byPath.get('tasks.next')).toMatchObject({ offset: 2192, kind: 'pointer', pointee: 'struct list_head' });
    expect(byPath.get('real_parent')).toMatchObject({ offset: 2432, kind: 'pointer', pointee: 'struct task_struct' });
    expect(byPath.get('pid_links[3].next')).toMatchObject({ offset: 2528 + 48, kind: 'pointer' });
    expect(byPath.get('sched_contributes_to_load')).toMatchObject({ kind: 'bitfield', offset: 2340, bits: { position: 1, length: 1 } });
    expect(byPath.get('rcu_users.refs.counter')).toMatchObject({ offset: 4968, inUnion: true });
    for (const l of leaves) {
      expect(l.offset + l.size).toBeLessThanOrEqual(9792);
      expect(k.offsetOf('task_struct', l.path)).toBe(l.offset);
    }
  });

  it('decodes a task_struct instance from bytes', () => {
    const buf = new Uint8Array(9792);
    const v = new DataView(buf.buffer);
    v.setInt32(2416, 4242, true);
    v.setInt32(2420, 4240, true);
    v.setBigUint64(2432, 0xffff8eb082c44200n, true);
    buf.set(Buffer.from('kworker/0:1\u0000junk'), 2976);
    v.setUint32(2340, 0b10, true);
    const t = readStruct(k, 'task_struct', buf);
    expect(t['pid']).toBe(4242);
    expect(t['tgid']).toBe(4240);
    expect(t['real_parent']).toBe(0xffff8eb082c44200n);
    expect(t['comm']).toBe('kworker/0:1');
    expect(t['sched_contributes_to_load']).toBe(1);
    expect(t['sched_reset_on_fork']).toBe(0);
    expect((t['tasks'] as Record<string, unknown>)['next']).toBe(0n);
    expect(readMember(k, 'task_struct', 'comm', buf)).toBe('kworker/0:1');
    expect(() => readStruct(k, 'task_struct', buf.subarray(0, 100))).toThrow(RangeError);
  });

  it('writing any leaf then reading it back gives the value (writer/reader property over all task_struct leaves)', () => {
    const leaves = k.leaves('task_struct').filter((l) => l.kind !== 'array' && l.kind !== 'float');
    const buf = new Uint8Array(9792);
    fc.assert(
      fc.property(fc.nat(leaves.length - 1), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), (i, raw) => {
        const l = leaves[i]!;
        if (l.kind === 'string') {
          const s = 'x'.repeat(Number(raw % BigInt(l.size)));
          k.write('task_struct', l.path, buf, s);
          expect(k.readMember('task_struct', l.path, buf)).toBe(s);
          return;
        }
        const bits = l.bits ? l.bits.length : l.size * 8;
        let v = BigInt.asUintN(bits, raw);
        if (l.signed) v = BigInt.asIntN(bits, v);
        k.write('task_struct', l.path, buf, v);
        const back = k.readMember('task_struct', l.path, buf);
        if (l.kind === 'bool') expect(back).toBe(v !== 0n);
        else expect(BigInt(back as number | bigint)).toBe(v);
      }),
      { numRuns: 2000 },
    );
  });
});
