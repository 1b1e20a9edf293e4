// The synthetic Linux world: determinism, every truth object at its pa decoding to its
// truth fields through the BTF layout, the kernel's lists, translation through the
// world's own page tables, the SLUB free pointers of exited slots, DKOM styles, and
// attacks that change exactly the fields they name. Worlds are 32-64 MiB.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { type PhysAddr, phys, virt } from '../../src/addr.js';
import { validateLinuxTruth } from '../../src/datasets/linux/validate.js';
import { openElfCoreImage, openRawImage } from '../../src/datasets/linux/phys-image.js';
import { PagingTranslator, X86_64_4LEVEL, X86_64_5LEVEL, openImage, type PhysReadable } from '../../src/layers/index.js';
import { buildWorld, resolveSynthOptions, synthesize, type SynthArgs, type WorldInMemory } from '../../src/synth/index.js';
import { DEBIAN_6_1_0_57 } from '../../src/synth/linux/builds.js';
import { STACK_END_MAGIC } from '../../src/synth/linux/companions.js';
import { linuxOffsets } from '../../src/synth/linux/layout.js';
import { LIST_POISON1, LIST_POISON2 } from '../../src/synth/linux/objects.js';
import { decodeFreePointer, swab64 } from '../../src/synth/linux/slab.js';
import type { LinuxSynthTask } from '../../src/synth/linux/world.js';
import { firstDifference, useTmpDir } from '../helpers/images.js';

const tmp = useTmpDir('synth-linux');
const o = linuxOffsets(DEBIAN_6_1_0_57);
const L = o.layout;
const T = o.task;

function world(args: SynthArgs): WorldInMemory {
  const { plugin, options } = resolveSynthOptions({ os: 'linux', ...args });
  return buildWorld(plugin, options);
}
function tasksOf(w: WorldInMemory): LinuxSynthTask[] {
  return w.world.truth.tasks as LinuxSynthTask[];
}
const mem = (w: WorldInMemory): PhysReadable => ({ readPhys: (pa: PhysAddr, n: number) => w.readPhys(pa, n) });
const u64 = (b: Uint8Array, off = 0) => new DataView(b.buffer, b.byteOffset).getBigUint64(off, true);
const u32 = (b: Uint8Array, off = 0) => new DataView(b.buffer, b.byteOffset).getUint32(off, true);

describe('linux world', () => {
  let w: WorldInMemory;
  let kernel: PagingTranslator;
  beforeAll(() => {
    w = world({ seed: 3, size: '48M', procs: 30, threads: 10, hidden: 4, exited: 9, decoys: 9 });
    kernel = new PagingTranslator(mem(w), X86_64_4LEVEL, phys(Number(w.world.truth.layout['init_top_pgt_pa'])));
  });

  it('puts every task at its pa, and its bytes decode through the BTF layout to its truth fields', () => {
    const tasks = tasksOf(w);
    expect(tasks.filter((t) => t.status === 'hidden').some((t) => !t.leader)).toBe(true);
    for (const t of tasks) {
      const d = L.read('task_struct', w.readPhys(Number(t.pa), o.taskSize));
      if (t.status === 'exited') {
        expect(d['pid'] === t.pid).toBe(t.residue!.pid);
        expect(d['tgid'] === t.tgid).toBe(t.residue!.tgid);
        expect(d['comm'] === t.comm).toBe(t.residue!.comm);
        continue;
      }
      expect(d['pid']).toBe(t.pid);
      expect(d['tgid']).toBe(t.tgid);
      expect(d['comm']).toBe(t.comm);
      expect(d['__state']).toBe(t.state);
      expect(d['flags']).toBe(t.flags);
      // thread_pid → struct pid whose numbers[0].nr is the pid (the graph edge of DeepMem/SigGraph)
      const pidPa = kernel.translateVirt(virt(d['thread_pid'] as bigint));
      expect(L.readMember('pid', 'numbers[0].nr', w.readPhys(pidPa, o.pid.size + 16))).toBe(t.pid);
      // real_parent → a task whose tgid is ppid; group_leader → the task whose pid is tgid
      const parent = L.read('task_struct', w.readPhys(kernel.translateVirt(virt(d['real_parent'] as bigint)), o.taskSize));
      expect(parent['tgid']).toBe(t.ppid);
      const leader = L.read('task_struct', w.readPhys(kernel.translateVirt(virt(d['group_leader'] as bigint)), o.taskSize));
      expect(leader['pid']).toBe(t.tgid);
      // cpus_ptr points at the task's own cpus_mask; sched_class into the kernel image
      expect(d['cpus_ptr']).toBe(BigInt(t.va) + BigInt(T['cpus_mask']!));
      expect(d['sched_class'] as bigint >= 0xffffffff80000000n).toBe(true);
      // stack → a vmalloc'd 16 KiB stack with STACK_END_MAGIC at its lowest address
      const stack = d['stack'] as bigint;
      expect(u64(w.readPhys(kernel.translateVirt(virt(stack)), 8))).toBe(STACK_END_MAGIC);
      for (let p = 0n; p < 16384n; p += 4096n) expect(() => kernel.translateVirt(virt(stack + p))).not.toThrow();
      // user tasks: mm->owner is the group leader, mm->pgd a page table that maps the kernel too
      const mm = d['mm'] as bigint;
      if (mm !== 0n) {
        const m = L.read('mm_struct', w.readPhys(kernel.translateVirt(virt(mm)), o.mm.size));
        expect(m['owner']).toBe(d['group_leader']);
        const pgdPa = kernel.translateVirt(virt(m['pgd'] as bigint));
        expect(pgdPa % 8192).toBe(0);
        const own = new PagingTranslator(mem(w), X86_64_4LEVEL, pgdPa);
        expect(own.translateVirt(virt(BigInt(t.va)))).toBe(Number(t.pa));
        expect(own.translateVirt(virt(m['arg_start'] as bigint)) > 0).toBe(true);
        const argv = w.readPhys(own.translateVirt(virt(m['arg_start'] as bigint)), 64);
        const leaderComm = tasks.find((x) => x.pid === t.tgid)!.comm;
        expect(Buffer.from(argv).toString('latin1')).toContain(leaderComm);
      } else {
        expect(t.pid === 0 || leader['mm'] === 0n).toBe(true);
      }
    }
  });

  it('translates every task va through the kernel page tables (direct map, kernel image) to its pa', () => {
    for (const t of tasksOf(w)) expect(kernel.translateVirt(virt(BigInt(t.va)))).toBe(Number(t.pa));
    const init = tasksOf(w)[0]!;
    expect(init.pid).toBe(0);
    expect(BigInt(init.va) >= 0xffffffff80000000n).toBe(true);
  });

  it('walks init_task.tasks to exactly the linked leaders and signal->thread_head to the visible threads', () => {
    const tasks = tasksOf(w);
    const byVa = new Map(tasks.map((t) => [BigInt(t.va), t]));
    const init = tasks[0]!;
    const head = BigInt(init.va) + BigInt(T['tasks']!);
    const reached: LinuxSynthTask[] = [];
    for (let next = u64(w.readPhys(kernel.translateVirt(virt(head)), 8)); next !== head; ) {
      const t = byVa.get(next - BigInt(T['tasks']!))!;
      expect(t).toBeDefined();
      reached.push(t);
      next = u64(w.readPhys(kernel.translateVirt(virt(next)), 8));
      expect(reached.length).toBeLessThan(tasks.length);
    }
    expect(new Set(reached.map((t) => t.pa))).toEqual(new Set(tasks.filter((t) => t.on_tasks_list && t.pid !== 0).map((t) => t.pa)));
    // Threads: signal->thread_head of each visible leader reaches its visible threads only.
    for (const leader of tasks.filter((t) => t.leader && t.status !== 'exited' && t.pid !== 0)) {
      const d = L.read('task_struct', w.readPhys(Number(leader.pa), o.taskSize));
      const sigHead = (d['signal'] as bigint) + BigInt(o.signal.threadHead);
      const seen: number[] = [];
      for (let n = u64(w.readPhys(kernel.translateVirt(virt(sigHead)), 8)); n !== sigHead; n = u64(w.readPhys(kernel.translateVirt(virt(n)), 8))) {
        seen.push(byVa.get(n - BigInt(T['thread_node']!))!.pid);
        expect(seen.length).toBeLessThan(64);
      }
      const expected = tasks.filter((t) => t.tgid === leader.pid && t.status !== 'exited' && (t.leader || t.status === 'live')).map((t) => t.pid);
      expect(seen.sort()).toEqual(expected.sort());
    }
  });

  it('unlinks hidden processes in the three styles, threads included', () => {
    const tasks = tasksOf(w);
    const hidden = tasks.filter((t) => t.status === 'hidden');
    expect(new Set(hidden.map((t) => t.unlink_style))).toEqual(new Set(['self', 'stale', 'poison']));
    for (const t of hidden) {
      const fields = t.leader ? ['tasks'] : ['thread_group', 'thread_node'];
      for (const f of fields) {
        const at = Number(t.pa) + T[f]!;
        const [next, prev] = [u64(w.readPhys(at, 8)), u64(w.readPhys(at + 8, 8))];
        const self = BigInt(t.va) + BigInt(T[f]!);
        if (t.unlink_style === 'self') expect([next, prev]).toEqual([self, self]);
        if (t.unlink_style === 'poison') expect([next, prev]).toEqual([LIST_POISON1, LIST_POISON2]);
        if (t.unlink_style === 'stale') {
          // Still points at former neighbours, which no longer point back.
          expect(next).not.toBe(self);
          expect(u64(w.readPhys(kernel.translateVirt(virt(next + 8n)), 8))).not.toBe(self);
        }
      }
      expect(t.mutations).toEqual(t.unlink_style === 'stale' ? [] : fields);
    }
  });

  it('leaves exited tasks as a kernel frees them: hardened SLUB free pointer at +4192, residue, poisoned prev', () => {
    const tasks = tasksOf(w).filter((t) => t.status === 'exited');
    expect(tasks.length).toBe(9);
    expect(w.world.truth.layout['task_free_pointer_offset']).toBe('4192'); // ALIGN_DOWN(8392 / 2, 8)
    const random = BigInt(w.world.truth.layout['task_slab_random']!);
    let intact = 0;
    for (const t of tasks) {
      const b = w.readPhys(Number(t.pa), o.taskSize);
      const next = decodeFreePointer(u64(b, 4192), random, BigInt(t.va), 4192);
      const slab = BigInt(t.va) - (BigInt(t.pa) % 32768n);
      const ok = next === 0n || (next >= slab && next < slab + 3n * 8448n && (next - slab) % 8448n === 0n);
      expect(ok).toBe(t.free_pointer_intact);
      if (ok) intact += 1;
      if (t.residue!.pid && t.residue!.comm && t.free_pointer_intact) {
        expect(u32(b, T['__state']!)).toBe(0x80); // TASK_DEAD
        expect(u32(b, T['exit_state']!)).toBe(0x10); // EXIT_DEAD
        expect(u64(b, T['tasks']! + 8)).toBe(LIST_POISON2);
        expect(u64(b, T['thread_pid']!)).toBe(0n);
        expect(u64(b, T['stack']!)).toBe(0n);
      }
    }
    expect(intact).toBeGreaterThan(tasks.length / 2);
    // The free pointer is the kernel's encoding, not just any value: recompute one.
    const t = tasks.find((x) => x.free_pointer_intact)!;
    const stored = u64(w.readPhys(Number(t.pa) + 4192, 8));
    const next = decodeFreePointer(stored, random, BigInt(t.va), 4192);
    expect(stored).toBe(BigInt.asUintN(64, next ^ random ^ swab64(BigInt(t.va) + 4192n)));
  });

  it('places task_structs in order-3 slabs, 8448 bytes apart, in random slot order', () => {
    const tasks = tasksOf(w).filter((t) => t.pid !== 0).sort((a, b) => a.pid - b.pid);
    expect(new Set(tasks.map((t) => Number(t.pa) % 32768))).toEqual(new Set([0, 8448, 16896]));
    // In creation (pid) order, some slab hands out a higher slot before a lower one.
    const bySlab = new Map<number, number[]>();
    for (const t of tasks) {
      const slab = Math.floor(Number(t.pa) / 32768);
      bySlab.set(slab, [...(bySlab.get(slab) ?? []), Number(t.pa) % 32768]);
    }
    expect([...bySlab.values()].some((slots) => slots.some((s, i) => i > 0 && s < slots[i - 1]!))).toBe(true);
  });

  it('lists decoys that are not tasks', () => {
    const decoys = w.world.truth.decoys;
    expect(decoys.length).toBe(9);
    expect(new Set(decoys.map((d) => d.kind))).toEqual(new Set(['name-string', 'partial-copy', 'lookalike']));
    const taskPas = new Set(tasksOf(w).map((t) => t.pa));
    for (const d of decoys) expect(taskPas.has(d.pa)).toBe(false);
    for (const d of decoys.filter((x) => x.kind === 'partial-copy')) {
      const b = w.readPhys(Number(d.pa), o.task['comm']! + 16);
      const pid = new DataView(b.buffer).getInt32(T['pid']!, true);
      expect(tasksOf(w).some((t) => t.pid === pid && t.status === 'live')).toBe(true);
    }
  });
});

describe('linux world files', () => {
  it('is deterministic, and the real builder\'s validator accepts the raw and ELF images', () => {
    const hash = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');
    const args = { os: 'linux', seed: 8, size: '32M', procs: 16, threads: 5, hidden: 3, exited: 4, decoys: 3 };
    const a = synthesize({ ...args, out: tmp('a') });
    const b = synthesize({ ...args, out: tmp('b') });
    const e = synthesize({ ...args, format: 'elf', out: tmp('e') });
    const c = synthesize({ ...args, seed: 9, out: tmp('c') });
    expect(hash(a.imagePath)).toBe(hash(b.imagePath));
    expect(hash(a.truthPath)).toBe(hash(b.truthPath));
    expect(hash(a.imagePath)).not.toBe(hash(c.imagePath));
    for (const [r, open] of [[a, openRawImage], [e, openElfCoreImage]] as const) {
      const img = open(r.imagePath);
      const report = validateLinuxTruth(JSON.parse(readFileSync(r.truthPath, 'utf8')), r.truthPath, img);
      expect(report).toMatchObject({ hidden: r.truth.tasks.filter((t) => t.status === 'hidden').length, exited: 4 });
      expect(report.walkLength).toBe(r.truth.tasks.filter((t) => t.on_tasks_list).length);
    }
    // The ELF's CPU note carries a CR3 that is a process PGD mapping the kernel.
    const img = openImage(e.imagePath);
    try {
      const initVa = BigInt(e.truth.layout['init_task_va']!);
      expect(new PagingTranslator(img, X86_64_4LEVEL, phys(Number(e.truth.layout['init_top_pgt_pa']))).translateVirt(virt(initVa))).toBe(Number(e.truth.layout['init_task_pa']));
      expect(firstDifference(img.readPhys(phys(0x100000), 4096), openImage(a.imagePath).readPhys(phys(0x100000), 4096))).toBe(-1);
    } finally {
      img.close();
    }
  });
});

describe('linux world options', () => {
  it('without KASLR uses the fixed bases of a real no-KASLR boot (train-04: init_task 0xffffffff82a1aa40)', () => {
    const w = world({ seed: 1, size: '160M', procs: 6, threads: 0, hidden: 0, exited: 0, decoys: 0, kaslr: false });
    const l = w.world.truth.layout;
    expect(l['page_offset_base']).toBe('0xffff888000000000');
    expect(l['vmalloc_base']).toBe('0xffffc90000000000');
    expect(l['init_task_va']).toBe('0xffffffff82a1aa40');
    expect(l['init_top_pgt_va']).toBe('0xffffffff82a10000');
    expect(l['phys_base']).toBe('0x0');
  });

  it('randomises bases in 1 GiB steps with KASLR, and builds 5-level page tables on request', () => {
    const bases = new Set<string>();
    for (const seed of [1, 2]) {
      const w = world({ seed, size: '32M', procs: 6, threads: 2, hidden: 1, exited: 1, decoys: 0, paging: 5 });
      const l = w.world.truth.layout;
      const pob = BigInt(l['page_offset_base']!);
      bases.add(l['page_offset_base']!);
      expect(pob % 2n ** 30n).toBe(0n);
      expect(pob >= 0xff11000000000000n).toBe(true);
      expect(w.world.truth.kernel['paging_levels']).toBe(5);
      const pt = new PagingTranslator(mem(w), X86_64_5LEVEL, phys(Number(l['init_top_pgt_pa'])));
      for (const t of tasksOf(w)) expect(pt.translateVirt(virt(BigInt(t.va)))).toBe(Number(t.pa));
    }
    expect(bases.size).toBe(2);
  });

  it('rejects counts a Linux world cannot hold', () => {
    expect(() => world({ procs: 1, hidden: 0 })).toThrow('--procs 1: a Linux world needs at least 2 processes (systemd and kthreadd)');
    expect(() => world({ procs: 4, hidden: 3 })).toThrow('--hidden 3: only 1 user processes can be hidden with --procs 4');
    expect(() => world({ size: '16M' })).toThrow('--size 16M: a linux 6.1.0-57-amd64 world needs at least 32 MiB');
  });
});

describe('linux attacks', () => {
  const base = { seed: 5, size: '32M', procs: 14, threads: 6, hidden: 3, exited: 2, decoys: 2 };

  function diffRanges(a: Uint8Array, b: Uint8Array): number[] {
    const out: number[] = [];
    for (let i = 0; i < a.length; i += 1) if (a[i] !== b[i]) out.push(i);
    return out;
  }

  for (const attack of ['comm', 'pid', 'tasks', 'start_time', 'flags', 'comm,flags,random:3']) {
    it(`--attack ${attack} changes exactly the named fields of hidden tasks and nothing else`, () => {
      const plain = world(base);
      const hit = world({ ...base, attack });
      const tp = tasksOf(plain);
      const th = tasksOf(hit);
      expect(th.map((t) => t.pa)).toEqual(tp.map((t) => t.pa));
      // Every patch outside the hidden tasks' objects is identical.
      const hiddenRanges = th.filter((t) => t.status === 'hidden').map((t) => [Number(t.pa), Number(t.pa) + 8392] as const);
      expect(hit.patches.length).toBe(plain.patches.length);
      hit.patches.forEach((p, i) => {
        const q = plain.patches[i]!;
        expect(p.paddr).toBe(q.paddr);
        for (const d of diffRanges(p.bytes, q.bytes)) {
          const pa = p.paddr + d;
          expect(hiddenRanges.some(([s, e]) => pa >= s && pa < e)).toBe(true);
        }
      });
      for (let i = 0; i < th.length; i += 1) {
        const t = th[i]!;
        if (t.status !== 'hidden') {
          expect(t.mutations).toEqual(tp[i]!.mutations);
          continue;
        }
        const dkom = tp[i]!.mutations;
        const named = attack.split(',').filter((x) => !x.startsWith('random:'));
        const attacked = t.mutations.filter((m) => !dkom.includes(m) || named.includes(m));
        expect(attacked.slice(0, named.length)).toEqual(named);
        expect(attacked.length).toBe(named.length + (attack.includes('random:3') ? 3 : 0));
        const a = hit.readPhys(Number(t.pa), 8392);
        const b = plain.readPhys(Number(t.pa), 8392);
        const changed = diffRanges(a, b);
        const inField = (off: number, f: string) => off >= T[f]! && off < T[f]! + o.taskSizes[f]!;
        for (const off of changed) expect(attacked.some((f) => inField(off, f))).toBe(true);
        for (const f of attacked) expect(changed.some((off) => inField(off, f))).toBe(true);
        if (named.includes('comm')) expect(L.readMember('task_struct', 'comm', a)).not.toMatch(/^[\x20-\x7e]*$/);
        // Truth keeps the real identity.
        expect([t.pid, t.comm]).toEqual([tp[i]!.pid, tp[i]!.comm]);
      }
    });
  }
});
