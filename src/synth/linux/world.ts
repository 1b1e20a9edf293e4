// The Linux world plug-in: a Debian 6.1 kernel (layouts from its BTF) with KASLR, the
// kernel's page tables, task_structs in SLUB slabs with their pid/cred/signal/mm/stack,
// the kernel's lists, DKOM-hidden processes, exited processes' residue, decoys and
// attacker mutations. See README.md in this directory for what is modelled and measured.
import { hex } from '../../addr.js';
import { qemuCpuStateNote } from '../../layers/elf-notes.js';
import type { PhysCanvas } from '../canvas.js';
import { PAGE_SIZE } from '../memory-map.js';
import { NoiseBank, NoiseKind, type NoiseEnv } from '../noise.js';
import { COMMON_PROGRAMS } from '../noise-text.js';
import { populateBackground } from '../page-content.js';
import type { Prng } from '../prng.js';
import { TRUTH_SCHEMA, type SynthDecoy } from '../truth.js';
import type { BuiltWorld, WorldContext, WorldPlugin } from '../world.js';
import { LINUX_ATTACKS, LINUX_RANDOM_FIELDS, attackTask } from './attacks.js';
import { LINUX_BUILDS, linuxBuild } from './builds.js';
import { placeDecoys } from './decoys.js';
import { buildKernelSpace, directVa, imageVa, physBase } from './kernel-space.js';
import { linuxOffsets, truthTaskOffsets } from './layout.js';
import { assignStyles, linkTaskLists } from './lists.js';
import { LIST_POISON1, LIST_POISON2, UNLINK_STYLES } from './objects.js';
import { planLinuxWorld } from './plan.js';
import { decodeFreePointer } from './slab.js';
import { loadTaskProfile } from './task-profile.js';
import { type LTask, type TaskEnv, allocateTasks, fillCompanions, fillTask, makeCaches, makeUserSpaces } from './tasks.js';
import type { TruthTask } from '../../datasets/linux/truth.js';

const MODULES_VADDR = 0xffffffffc0000000n;
/** Share of exited task slabs (all objects free) whose pages were partly reused by another allocation. */
const SLAB_REUSE = 0.35;

export const linuxWorld: WorldPlugin = {
  os: 'linux',
  builds: LINUX_BUILDS.map((b) => b.name),
  attacks: LINUX_ATTACKS,
  randomFields: LINUX_RANDOM_FIELDS,
  pagingLevels: [4, 5],
  minSize: () => 32 << 20,
  build: buildLinuxWorld,
};

function buildLinuxWorld(ctx: WorldContext): BuiltWorld<LinuxSynthTask> {
  const { options, memory, pages, content, canvas } = ctx;
  const rng = ctx.rng;
  const build = linuxBuild(options.build);
  const o = linuxOffsets(build);
  const profile = loadTaskProfile(build.profilePath);
  const plan = planLinuxWorld(options, rng.child('plan'));
  const paging = (options.paging ?? 4) as 4 | 5;
  const ks = buildKernelSpace({ paging, kaslr: options.kaslr }, build, memory, pages, content, rng.child('kaslr'));

  // Noise that points where this kernel's pointers point, and mentions its processes.
  const low = memory.usable[1]!;
  const randomPa = (r: Prng) => low.start + r.int((low.end - low.start) / 64) * 64;
  let heapPages: number[] = [];
  const heap = (r: Prng): bigint => (heapPages.length > 0 ? directVa(ks, r.pick(heapPages) + r.int(64) * 64) : directVa(ks, randomPa(r)));
  const env: NoiseEnv = {
    pointerSize: 8,
    selfBase: ks.pageOffsetBase,
    heapPointer: heap,
    codePointer: (r) => ks.textVa + BigInt(r.int(ks.image.rodataEnd / 16) * 16),
    structPagePointer: (r) => ks.vmemmapBase + BigInt(r.int(memory.pageCount)) * 64n,
    userPointer: (r) => 0x7f0000000000n + BigInt(r.int(2 ** 30)) * 8n,
    words: [...new Set([...plan.tasks.map((t) => t.comm), ...COMMON_PROGRAMS])],
    pageCount: memory.pageCount,
  };
  const bank = new NoiseBank(env, rng.child('noise'));
  content.setNoise(bank);
  const background = populateBackground(pages, content, rng.child('background'));
  heapPages = background.held
    .filter((b) => [NoiseKind.slab, NoiseKind.sparse, NoiseKind.structPages].includes(content.kindAt(b.pa / PAGE_SIZE) as 1 | 2 | 6))
    .flatMap((b) => Array.from({ length: 1 << b.order }, (_, i) => b.pa + i * PAGE_SIZE));

  const taskEnv: TaskEnv = {
    build,
    o,
    ks,
    pages,
    content,
    canvas,
    profile,
    heap,
    targets: {
      kernelImage: (off) => imageVa(ks, off),
      directMap: (r, lo) => heap(r) + BigInt(lo),
      vmalloc: (r) => ks.vmallocBase + BigInt(r.int(1 << 14)) * 4096n,
      structPage: (r) => ks.vmemmapBase + BigInt(r.int(memory.pageCount)) * 64n,
      module: (r) => MODULES_VADDR + BigInt(r.int(1 << 20)) * 64n,
    },
  };
  const caches = makeCaches(taskEnv, rng.child('slab'));
  const tasks = allocateTasks(taskEnv, caches, plan.tasks, rng.child('alloc'));
  makeUserSpaces(taskEnv, tasks, rng.child('user'));
  const fillRng = rng.child('fill');
  for (const t of tasks) fillTask(taskEnv, t, fillRng.child(`task:${t.plan.id}`));
  fillCompanions(taskEnv, tasks, rng.child('companions'));

  // DKOM: hidden leaders in a random order, the three unlink styles in turn.
  const styleRng = rng.child('dkom');
  const hiddenLeaders = styleRng.shuffle(tasks.filter((t) => t.leader === t && t.plan.status === 'hidden'));
  assignStyles(hiddenLeaders, UNLINK_STYLES, styleRng.int(UNLINK_STYLES.length));
  for (const L of hiddenLeaders) for (const th of L.threads) th.style = L.style!;
  linkTaskLists(o, tasks, hiddenLeaders);
  for (const t of tasks) {
    if (t.plan.status !== 'hidden' || t.style === 'stale') continue;
    t.mutations.push(...(t.leader === t ? ['tasks'] : ['thread_group', 'thread_node']));
  }
  // The kernel's view of state and flags, before any attacker rewrites them.
  const kernelView = new Map(tasks.map((t) => [t, { state: t.obj.getU32(o.task['__state']!), exitState: t.obj.getU32(o.task['exit_state']!), flags: t.obj.getU32(o.task['flags']!) }]));

  // Attacks on every hidden task object.
  if (options.attack.named.length > 0 || options.attack.random > 0) {
    const attackRng = rng.child('attack');
    for (const t of tasks) {
      if (t.plan.status !== 'hidden') continue;
      for (const f of attackTask(o, t.obj, options.attack, attackRng.child(`task:${t.plan.id}`), t.mutations)) if (!t.mutations.includes(f)) t.mutations.push(f);
    }
  }

  // Into memory: objects, then the free pointers of every free slot, then reuse of freed slabs.
  const seen = new Set<number>();
  for (const t of tasks) {
    for (const obj of [t.obj, t.pid, t.cred, t.signal, t.mm]) {
      if (obj === undefined || seen.has(obj.pa)) continue;
      seen.add(obj.pa);
      obj.commit(canvas);
    }
  }
  for (const t of tasks) {
    if (t.plan.status !== 'exited' || t.slot === undefined) continue;
    caches.task.free(t.slot);
    caches.pid.free(t.pid);
    if (t.leader === t) {
      caches.cred.free(t.cred);
      caches.signal.free(t.signal);
      if (t.mm) caches.mm.free(t.mm);
    }
  }
  for (const c of Object.values(caches)) c.writeFreePointers();
  reuseFreedSlabs(caches.task.freeObjects(), caches.task.perSlab, caches.task.stride, build.taskAllocSize, ctx, rng.child('reuse'));

  const decoys: SynthDecoy[] = placeDecoys({ o, ks, pages, content, canvas, heap }, tasks, options.decoys, rng.child('decoys'));

  const init = tasks[0]!;
  const slab = { random: caches.task.random, offset: caches.task.freePointerOffset, stride: caches.task.stride, perSlab: caches.task.perSlab, order: build.taskSlabOrder };
  const truthTasks: LinuxSynthTask[] = tasks.map((t) => truthTask(t, kernelView.get(t)!, o.task, canvas, ks.pageOffsetBase, slab));
  const running = tasks.filter((t) => t.userSpace !== undefined && t.plan.status !== 'exited');
  const cr3 = running.length > 0 ? rng.child('cpu').pick(running).userSpace!.pgdPa : ks.pt.root;
  return {
    truth: {
      schema: TRUTH_SCHEMA,
      os: 'linux',
      kernel: { release: build.release, paging_levels: paging, kaslr: options.kaslr, btf: { file: build.btfFile }, build: build.name },
      layout: {
        page_offset_base: hex(ks.pageOffsetBase),
        vmalloc_base: hex(ks.vmallocBase),
        vmemmap_base: hex(ks.vmemmapBase),
        phys_base: hex(physBase(ks)),
        init_task_va: hex(init.obj.va),
        init_task_pa: hex(init.obj.pa),
        init_top_pgt_va: hex(ks.textVa + BigInt(ks.image.initTopPgt)),
        init_top_pgt_pa: hex(ks.pt.root),
        init_mm_pgd_pa: hex(ks.pt.root),
        list_poison1: hex(LIST_POISON1),
        list_poison2: hex(LIST_POISON2),
        // The task_struct cache's free-pointer offset (s->offset) and XOR key (s->random).
        task_free_pointer_offset: String(caches.task.freePointerOffset),
        task_slab_random: hex(caches.task.random),
      },
      offsets: { task_struct: { size: o.taskSize, alloc_size: build.taskAllocSize, fields: truthTaskOffsets(o) } },
      tasks: truthTasks,
      decoys,
    },
    pageTables: [ks.pt, ...tasks.filter((t) => t.leader === t && t.userSpace !== undefined).map((t) => t.userSpace!.pt)],
    notes: qemuCpuStateNote({
      cr0: 0x80050033n, // PG | WP | NE | ET | MP | PE, as the real dumps' CPU note
      cr3: BigInt(cr3),
      cr4: 0x750ef0n | (paging === 5 ? 0x1000n : 0n), // the real dumps' CR4; bit 12 = LA57
      rip: ks.textVa + BigInt(rng.child('cpu').int(ks.image.textEnd / 16) * 16),
      gsBase: ks.pageOffsetBase + BigInt(memory.usable[1]!.end - PAGE_SIZE * 64),
    }),
  };
}

/** A task entry of a synthetic Linux truth: the real schema plus whether a freed slot's free pointer survives. */
export type LinuxSynthTask = TruthTask & { free_pointer_intact?: boolean };

function truthTask(
  t: LTask,
  view: { state: number; exitState: number; flags: number },
  T: Record<string, number>,
  canvas: PhysCanvas,
  pageOffsetBase: bigint,
  slab: { random: bigint; offset: number; stride: number; perSlab: number; order: number },
): LinuxSynthTask {
  const p = t.plan;
  const exited = p.status === 'exited';
  const out: LinuxSynthTask = {
    status: p.status,
    pid: p.pid,
    tgid: p.tgid,
    ppid: p.kind === 'init' ? 0 : t.parent.plan.tgid,
    comm: p.comm,
    leader: t.leader === t,
    on_tasks_list: p.status === 'live' && t.leader === t,
    va: hex(t.obj.va),
    pa: hex(t.obj.pa),
    mutations: [...t.mutations],
    state: exited ? 0 : view.state,
    exit_state: exited ? 0 : view.exitState,
    flags: exited ? 0 : view.flags,
  };
  if (p.status === 'hidden' && t.style) out.unlink_style = t.style;
  if (exited) {
    const bytes = canvas.read(t.obj.pa, t.obj.bytes.length);
    const v = new DataView(bytes.buffer);
    const comm = new Uint8Array(16);
    comm.set(new TextEncoder().encode(p.comm).subarray(0, 15));
    out.residue = {
      pid: v.getInt32(T['pid']!, true) === p.pid,
      tgid: v.getInt32(T['tgid']!, true) === p.tgid,
      comm: Buffer.from(bytes.subarray(T['comm']!, T['comm']! + 16)).equals(Buffer.from(comm)),
    };
    // Intact: it decodes to NULL or to the start of a slot of the same slab.
    const next = decodeFreePointer(v.getBigUint64(slab.offset, true), slab.random, t.obj.va, slab.offset);
    const slabVa = pageOffsetBase + BigInt(t.obj.pa - (t.obj.pa % (PAGE_SIZE << slab.order)));
    const k = (next - slabVa) / BigInt(slab.stride);
    out.free_pointer_intact = next === 0n || (next >= slabVa && (next - slabVa) % BigInt(slab.stride) === 0n && k < BigInt(slab.perSlab) && next !== t.obj.va);
  }
  return out;
}

/**
 * A slab whose objects are all free may go back to the buddy allocator and one of its
 * pages be reused by something else: the exited tasks there lose part of their residue.
 */
function reuseFreedSlabs(freeLists: { pa: number }[][], perSlab: number, stride: number, objectSize: number, ctx: WorldContext, rng: Prng): void {
  for (const list of freeLists) {
    if (list.length < perSlab || !rng.chance(SLAB_REUSE)) continue;
    const slabPa = Math.min(...list.map((x) => x.pa));
    const used = perSlab * stride;
    const page = slabPa + rng.int(Math.ceil(Math.min(used, perSlab * stride - stride + objectSize) / PAGE_SIZE)) * PAGE_SIZE;
    const kind = rng.pick([NoiseKind.slab, NoiseKind.entropy, NoiseKind.text, NoiseKind.sparse]);
    ctx.canvas.write(page, ctx.content.bank.page(kind, page / PAGE_SIZE));
  }
}
