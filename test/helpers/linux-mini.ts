// A tiny synthetic Linux kernel in memory, for fast tests of discovery, carving
// and list walks: 8 MiB of RAM, a direct map at a KASLR-like base, a kernel image
// with init_task and init_top_pgt, a few task_structs laid out with the shipped
// Debian 6.1 BTF, and one freed slot whose SLUB free pointer is hardened. Every
// field is written by name through the layout.
import { type PhysAddr, phys, virt } from '../../src/addr.js';
import { MemoryPhysical } from '../../src/layers/memory-physical.js';
import { PageTableBuilder, bumpAllocator } from '../../src/layers/page-table-builder.js';
import { X86_64_4LEVEL, X86_64_5LEVEL } from '../../src/layers/paging-modes.js';
import { swab64 } from '../../src/os/linux/freelist.js';
import { loadLayout, shippedKernelBtfPath } from '../../src/types/load.js';
import type { Layout } from '../../src/types/layout.js';
import type { Writable } from '../../src/types/writer.js';

let cachedLayout: Layout | undefined;
export function debianLayout(): Layout {
  cachedLayout ??= loadLayout(shippedKernelBtfPath());
  return cachedLayout;
}

export const MINI = {
  ram: 8 << 20,
  pageOffsetBase: 0xffff_9a40_0000_0000n,
  imagePa: 0x400000,
  imageVa: 0xffff_ffff_8340_0000n,
  /** A process page-table root (outside the image) and init_top_pgt (inside it). */
  processRoot: 0x100000,
  initTopPgt: 0x4a0000,
  initTaskPa: 0x410040,
  /** Slab slots: three per 32 KiB block, 8448 bytes apart, like the real guest. */
  stride: 8448,
  slab: 0x600000,
  freelistKey: 0x1234_5678_9abc_def0n,
  freePointerOffset: 4192,
  /** Kernel-image VA of a static scheduler class. */
  schedClass: 0xffff_ffff_8360_0040n,
  /** Where task stacks, mm_structs and struct pids live. */
  stacks: 0x300000,
  mms: 0x380000,
  pids: 0x390000,
  signals: 0x3a0000,
} as const;

export interface MiniTask {
  pid: number;
  tgid?: number;
  comm: string;
  /** Slot index in the slab area; -1 for init_task. */
  slot: number;
  parent?: number;
  kernelThread?: boolean;
  exited?: boolean;
  /** Leave off the tasks list (DKOM). */
  hidden?: boolean;
}

export interface MiniKernel {
  image: MemoryPhysical;
  layout: Layout;
  tasks: Array<MiniTask & { pa: PhysAddr; va: bigint }>;
  /** Write a task_struct field of a task afterwards. */
  write(pa: PhysAddr, path: string, value: Writable): void;
}

export const DEFAULT_TASKS: MiniTask[] = [
  { pid: 0, comm: 'swapper/0', slot: -1 },
  { pid: 1, comm: 'init', slot: 0, parent: 0 },
  { pid: 2, comm: 'kthreadd', slot: 1, parent: 0, kernelThread: true },
  { pid: 40, comm: 'hidden-one', slot: 2, parent: 1, hidden: true },
  { pid: 41, comm: 'gone', slot: 3, parent: 1, exited: true },
  { pid: 42, comm: 'gone-too', slot: 4, parent: 1, exited: true },
];

function slotPa(slot: number): number {
  const perBlock = 3;
  return MINI.slab + Math.floor(slot / perBlock) * 0x8000 + (slot % perBlock) * MINI.stride;
}

/** Build the mini kernel. `options.tasks` replaces the default task set. */
/** The direct-map base the mini kernel uses with 5-level paging (1 GiB aligned, above __PAGE_OFFSET_BASE_L5). */
export const MINI_POB_L5 = 0xff11_2340_0000_0000n;

export function miniKernel(options: { tasks?: MiniTask[]; withMm?: boolean; levels?: 4 | 5 } = {}): MiniKernel {
  const layout = debianLayout();
  const T = 'task_struct';
  const size = layout.sizeOf(T);
  const ram = new Uint8Array(MINI.ram);
  const image = new MemoryPhysical([{ paddr: phys(0), bytes: ram }], '<mini-kernel>');
  const pob = options.levels === 5 ? MINI_POB_L5 : MINI.pageOffsetBase;
  const imageDelta = MINI.imageVa - BigInt(MINI.imagePa);

  // Page tables: the direct map over all RAM, and the kernel image (2 MiB pages).
  const pt = new PageTableBuilder(options.levels === 5 ? X86_64_5LEVEL : X86_64_4LEVEL, bumpAllocator(MINI.processRoot, MINI.processRoot + 0x80000));
  pt.mapRange(virt(pob), phys(0), MINI.ram);
  pt.mapRange(virt(MINI.imageVa), phys(MINI.imagePa), 0x200000);
  pt.writeTo(image);
  // init_top_pgt: the kernel half of the root, in the image, user half empty.
  const root = image.readPhys(phys(MINI.processRoot), 4096);
  const top = new Uint8Array(4096);
  top.set(root.subarray(2048), 2048);
  image.writePhys(phys(MINI.initTopPgt), top);

  const write = (pa: number, path: string, value: Writable): void => {
    const m = layout.member(T, path);
    const bytes = new Uint8Array(m.size);
    layout.write(T, path, bytes, value, -m.offset);
    image.writePhys(phys(pa + m.offset), bytes);
  };
  const writeType = (type: string, pa: number, path: string, value: Writable): void => {
    const m = layout.member(type, path);
    const bytes = new Uint8Array(m.size);
    layout.write(type, path, bytes, value, -m.offset);
    image.writePhys(phys(pa + m.offset), bytes);
  };

  const tasks = (options.tasks ?? DEFAULT_TASKS).map((t) => {
    const pa = t.slot < 0 ? MINI.initTaskPa : slotPa(t.slot);
    const va = t.slot < 0 ? BigInt(pa) + imageDelta : pob + BigInt(pa);
    return { ...t, pa: phys(pa), va };
  });
  const vaOfPid = (pid: number): bigint => tasks.find((x) => x.pid === pid)!.va;
  const off = (path: string): bigint => BigInt(layout.offsetOf(T, path));

  tasks.forEach((t, i) => {
    const self = (path: string): bigint => t.va + off(path);
    write(t.pa, 'pid', t.pid);
    write(t.pa, 'tgid', t.tgid ?? t.pid);
    write(t.pa, 'comm', t.comm);
    write(t.pa, 'sched_class', MINI.schedClass);
    write(t.pa, 'stack_canary', 0x1122_3344_5566_7700n + BigInt(i) * 0x100n);
    write(t.pa, 'static_prio', 120);
    write(t.pa, 'real_parent', vaOfPid(t.parent ?? t.pid));
    write(t.pa, 'parent', vaOfPid(t.parent ?? t.pid));
    write(t.pa, 'group_leader', t.va);
    write(t.pa, 'signal', pob + BigInt(MINI.signals + i * 0x400));
    write(t.pa, 'cpus_ptr', self('cpus_mask'));
    for (const list of ['children', 'sibling', 'ptraced', 'ptrace_entry', 'thread_group']) {
      write(t.pa, `${list}.next`, self(list));
      write(t.pa, `${list}.prev`, self(list));
    }
    write(t.pa, 'flags', t.slot < 0 ? 0x4200002 : t.kernelThread ? 0x208040 : 0x400100);
    // One thread per process: signal->thread_head and the task's thread_node form a ring of two.
    const signal = MINI.signals + i * 0x400;
    const head = pob + BigInt(signal + layout.offsetOf('signal_struct', 'thread_head'));
    write(t.pa, 'thread_node.next', head);
    write(t.pa, 'thread_node.prev', head);
    writeType('signal_struct', signal, 'thread_head.next', self('thread_node'));
    writeType('signal_struct', signal, 'thread_head.prev', self('thread_node'));
    if (t.exited) {
      // The 6.1 exit path: EXIT_DEAD, TASK_DEAD, PF_EXITING, no stack, creds, pid or mm.
      write(t.pa, 'exit_state', 0x10);
      write(t.pa, '__state', 0x80);
      write(t.pa, 'flags', 0x40800c);
      return;
    }
    write(t.pa, 'usage.refs.counter', 1);
    write(t.pa, '__state', 1);
    const stack = MINI.stacks + i * 0x4000;
    write(t.pa, 'stack', pob + BigInt(stack));
    image.writePhys(phys(stack), new Uint8Array([0x9d, 0x6e, 0xac, 0x57, 0, 0, 0, 0]));
    write(t.pa, 'cred', pob + BigInt(MINI.signals + 0x8000 + i * 0x100));
    write(t.pa, 'real_cred', pob + BigInt(MINI.signals + 0x8000 + i * 0x100));
    const pid = MINI.pids + i * 0x100;
    writeType('pid', pid, 'numbers[0].nr', t.pid);
    // init_struct_pid does not list init_task (init/init_task.c); every other pid lists its task.
    if (t.pid !== 0) writeType('pid', pid, 'tasks[0].first', self('pid_links[0]'));
    write(t.pa, 'thread_pid', pob + BigInt(pid));
    if (options.withMm !== false && !t.kernelThread && t.slot >= 0) {
      const mm = MINI.mms + i * 0x800;
      writeType('mm_struct', mm, 'pgd', pob + BigInt(MINI.processRoot));
      writeType('mm_struct', mm, 'owner', t.va);
      write(t.pa, 'mm', pob + BigInt(mm));
      write(t.pa, 'active_mm', pob + BigInt(mm));
    }
  });

  // The task list: init_task first, then every task neither hidden nor exited.
  const linked = tasks.filter((t) => !t.hidden && !t.exited);
  linked.forEach((t, i) => {
    const next = linked[(i + 1) % linked.length]!;
    const prev = linked[(i - 1 + linked.length) % linked.length]!;
    write(t.pa, 'tasks.next', next.va + off('tasks'));
    write(t.pa, 'tasks.prev', prev.va + off('tasks'));
  });
  for (const t of tasks.filter((x) => x.hidden)) {
    write(t.pa, 'tasks.next', t.va + off('tasks'));
    write(t.pa, 'tasks.prev', t.va + off('tasks'));
  }
  // Children lists: each parent's children, linked through the children's sibling.
  for (const p of tasks) {
    const kids = tasks.filter((k) => k.parent === p.pid && !k.exited && k.pid !== p.pid);
    if (kids.length === 0) continue;
    const ring = [p.va + off('children'), ...kids.map((k) => k.va + off('sibling'))];
    const paOf = (i: number): number => (i === 0 ? p.pa + layout.offsetOf(T, 'children') : kids[i - 1]!.pa + layout.offsetOf(T, 'sibling'));
    ring.forEach((node, i) => {
      const at = paOf(i);
      const nb = new Uint8Array(16);
      const dv = new DataView(nb.buffer);
      dv.setBigUint64(0, ring[(i + 1) % ring.length]!, true);
      dv.setBigUint64(8, ring[(i - 1 + ring.length) % ring.length]!, true);
      void node;
      image.writePhys(phys(at), nb);
    });
  }
  // Freed slots: the hardened free pointer (mm/slub.c freelist_ptr), chained inside their block.
  const freed = tasks.filter((t) => t.exited);
  freed.forEach((t, i) => {
    const nextTask = freed[i + 1];
    const sameBlock = nextTask !== undefined && Math.floor(nextTask.pa / 0x8000) === Math.floor(t.pa / 0x8000);
    const next = sameBlock ? nextTask.va : 0n;
    const at = t.va + BigInt(MINI.freePointerOffset);
    const word = next ^ MINI.freelistKey ^ swab64(at);
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, word, true);
    image.writePhys(phys(t.pa + MINI.freePointerOffset), b);
  });
  void size;
  // init_mm.pgd: the kernel refers to init_top_pgt by its image VA.
  const ref = new Uint8Array(8);
  new DataView(ref.buffer).setBigUint64(0, BigInt(MINI.initTopPgt) + imageDelta, true);
  image.writePhys(phys(MINI.imagePa + 0x90000), ref);

  return { image, layout, tasks, write: (pa, path, value) => write(pa, path, value) };
}
