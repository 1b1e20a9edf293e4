// Writes a `task_struct` signature (kcarve-signature/1) from any Linux layout
// (BTF or ISF): the generic signature, and with `kernel: '6.1'` the one for a
// 6.1 kernel that also uses facts only 6.1's headers state. Field names are
// checked against the layout; offsets are resolved only when the file is loaded.
//
// Which fields (Dolan-Gavitt et al., "Robust signatures for kernel data
// structures", CCS 2009): fields the kernel cannot run without — the scheduler's
// class pointer, the stack and its canary, credentials, the signal struct, the
// parent links, priorities and policy — rather than fields an attacker rewrites
// at will (tasks, comm, pid, start_time). Every constraint must also hold on the
// slot of an exited task: after release the kernel clears stack, cred, real_cred,
// mm and thread_pid (kernel/exit.c release_task, kernel/cred.c exit_creds,
// kernel/fork.c free_task) and SLUB writes its free pointer into the middle of the
// object; so pointers the exit path clears are `kptr_or_null`, and no constraint
// reads the bytes the free pointer may cover (see freePointerWindow).
import type { Layout } from '../../types/layout.js';
import { LayoutError } from '../../errors.js';
import type { ConstraintSpec, EdgeSpec, Provenance, SignatureDoc } from '../../signatures/format.js';
import {
  EXIT_DEAD,
  EXIT_TRACE,
  EXIT_ZOMBIE,
  PF_HOLES_6_1,
  SCHED_POLICIES,
  STACK_END_MAGIC,
  STATIC_PRIO_MAX,
  STATIC_PRIO_MIN,
  TASK_STATE_MAX,
  THREAD_SIZE,
} from './kernel-facts.js';

export interface TaskSignatureOptions {
  name?: string;
  version?: string;
  /** Build family recorded in target.build (default `generic`). */
  build?: string;
  /** target.layout: the layout file relative to the signature file. */
  layoutRef?: string;
  /** Use facts only the 6.1 headers state (PF__HOLE__ bits, TASK_STATE_MAX). */
  kernel?: '6.1';
  /** The command line that wrote the file, for provenance.command. */
  command?: string;
  description?: string;
}

export interface TaskSignatureResult {
  doc: SignatureDoc;
  /** Constraints or edges left out because the layout lacks a field, or the free pointer may cover it. */
  skipped: string[];
}

const TYPE = 'task_struct';

/**
 * Scoring. A real task is consistent with its own address through cpus_ptr or through
 * its place on its parent's children list (sibling; list_del_init keeps it
 * self-consistent after release); a stale copy of a task elsewhere in memory is
 * neither, while its pointers to the real task's parent, pid, stack and mm still
 * hold. Weighting those two edges 4 (the other six 1, total 14) and requiring a score
 * of 0.5 accepts a task with either self-edge (at least 8/14 with one of them, 9/14 for
 * an exited task) and rejects a copy (at most 4/14).
 */
const SELF_WEIGHT = 4;
const MIN_SCORE = 0.5;

/** The scanned task_struct's fields are 64-byte aligned: kernel/fork.c fork_init() (6.1). */
const ALIGNMENT_NOTE =
  'kernel/fork.c fork_init() (6.1): kmem_cache_create_usercopy("task_struct", arch_task_struct_size, ' +
  'align = max(L1_CACHE_BYTES, ARCH_MIN_TASKALIGN) = 64 on x86-64 (CONFIG_X86_L1_CACHE_SHIFT=6)); ' +
  'init_task is __aligned(L1_CACHE_BYTES) (init/init_task.c)';

function header(note: string): Provenance {
  return { source: 'header', robustness: 'unknown', note };
}

/**
 * Bytes of task_struct a SLUB free pointer may overwrite in a freed slot. SLUB puts
 * it at ALIGN_DOWN(object_size / 2, 8) (mm/slub.c calculate_sizes, 6.1), and the
 * object is arch_task_struct_size bytes: sizeof(task_struct) minus the static FPU
 * register area plus the size the CPU needs, at least the 512-byte legacy area
 * (arch/x86/kernel/fpu/init.c fpu__init_task_struct_size). So the pointer lies
 * between (offsetof(fpu registers) + 512) / 2 and sizeof / 2.
 */
export function freePointerWindow(layout: Layout, type = TYPE): { from: number; to: number } {
  const size = layout.sizeOf(type);
  let regs: number | undefined;
  for (const path of ['thread.fpu.__fpstate.regs', 'thread.fpu.state']) {
    try {
      regs = layout.offsetOf(type, path);
      break;
    } catch (err) {
      if (!(err instanceof LayoutError)) throw err;
    }
  }
  const minObject = regs === undefined ? Math.floor(size / 2) : regs + 512;
  const down8 = (n: number): number => n - (n % 8);
  return { from: down8(Math.floor(minObject / 2)), to: down8(Math.floor(size / 2)) + 8 };
}

/** Build the signature document for `layout`. */
export function linuxTaskSignature(layout: Layout, options: TaskSignatureOptions = {}): TaskSignatureResult {
  const skipped: string[] = [];
  const window = freePointerWindow(layout);
  const has = (path: string, type = TYPE): boolean => {
    try {
      layout.member(type, path);
      return true;
    } catch (err) {
      if (err instanceof LayoutError) return false;
      throw err;
    }
  };
  const constraints: ConstraintSpec[] = [];
  const add = (c: ConstraintSpec): void => {
    if (!has(c.field)) {
      skipped.push(`constraint on ${c.field}: not in the layout`);
      return;
    }
    const m = layout.member(TYPE, c.field);
    const start = m.offset + (c.byte ?? 0);
    const end = start + (c.width ?? m.size);
    if (start < window.to && end > window.from) {
      skipped.push(`constraint on ${c.field}: the SLUB free pointer of a freed slot may cover it (bytes ${window.from}..${window.to})`);
      return;
    }
    constraints.push(c);
  };

  // The prefilter: every task points at one of the scheduler classes, static objects of
  // the kernel image (kernel/sched/sched.h DEFINE_SCHED_CLASS), so sched_class lies in the
  // kernel-image map [__START_KERNEL_map, +KERNEL_IMAGE_SIZE) = 0xffffffff80000000 + 1 GiB
  // (arch/x86/include/asm/page_64_types.h) and is 8-byte aligned. pick_next_task() calls
  // through it on every schedule.
  add({
    field: 'sched_class',
    kind: 'mask',
    mask: '0xffffffffc0000007',
    value: '0xffffffff80000000',
    provenance: header('kernel/sched/sched.h DEFINE_SCHED_CLASS (classes are kernel-image data); arch/x86/include/asm/page_64_types.h __START_KERNEL_map, KERNEL_IMAGE_SIZE 1 GiB'),
  });
  add({
    field: 'stack_canary',
    kind: 'mask',
    mask: '0xff',
    value: '0x0',
    provenance: header('include/linux/random.h get_random_canary(): CANARY_MASK 0xffffffffffffff00 on 64-bit little endian'),
  });
  add({
    field: 'stack_canary',
    kind: 'ne',
    value: '0x0',
    provenance: header('kernel/fork.c dup_task_struct: tsk->stack_canary = get_random_canary() (56 random bits; zero with probability 2^-56)'),
  });
  add({
    field: 'stack',
    kind: 'aligned',
    alignment: `0x${THREAD_SIZE.toString(16)}`,
    provenance: header('arch/x86/include/asm/page_64_types.h THREAD_SIZE 16 KiB; kernel/fork.c alloc_thread_stack_node allocates THREAD_ALIGN-aligned stacks; NULL after release_task_stack'),
  });
  add({ field: 'stack', kind: 'kptr_or_null', provenance: header('kernel/fork.c release_task_stack sets stack = NULL when the task is freed') });
  add({
    field: 'exit_state',
    kind: 'set',
    values: ['0x0', `0x${EXIT_DEAD.toString(16)}`, `0x${EXIT_ZOMBIE.toString(16)}`, `0x${EXIT_TRACE.toString(16)}`],
    provenance: header('include/linux/sched.h EXIT_DEAD 0x10, EXIT_ZOMBIE 0x20, EXIT_TRACE 0x30'),
  });
  add({
    field: 'static_prio',
    kind: 'range',
    min: String(STATIC_PRIO_MIN),
    max: String(STATIC_PRIO_MAX),
    provenance: header('include/linux/sched/prio.h static_prio = NICE_TO_PRIO(nice), nice -20..19 → 100..139'),
  });
  add({
    field: 'policy',
    kind: 'set',
    values: SCHED_POLICIES.map(String),
    provenance: header('include/uapi/linux/sched.h SCHED_NORMAL 0, FIFO 1, RR 2, BATCH 3, IDLE 5, DEADLINE 6'),
  });
  for (const f of ['real_cred', 'cred']) {
    add({ field: f, kind: 'kptr_or_null', provenance: header('kernel/cred.c exit_creds clears real_cred and cred when the task is freed') });
  }
  add({ field: 'signal', kind: 'kptr', provenance: header('kernel/fork.c copy_signal: every task has a signal_struct; __put_task_struct does not clear the pointer') });
  add({ field: 'real_parent', kind: 'kptr', provenance: header('kernel/fork.c copy_process: real_parent is a task (init_task points to itself)') });
  add({ field: 'group_leader', kind: 'kptr', provenance: header('kernel/fork.c copy_process: group_leader is the task itself or its thread-group leader') });
  add({ field: 'mm', kind: 'kptr_or_null', provenance: header('kernel threads have no mm; kernel/exit.c exit_mm clears it') });
  add({ field: 'active_mm', kind: 'kptr_or_null', provenance: header('kernel/sched/core.c context_switch: the mm a kernel thread borrows (lazy TLB); NULL while it sleeps, after exit_mm') });
  add({ field: 'thread_pid', kind: 'kptr_or_null', provenance: header('kernel/pid.c: the task\'s struct pid; detach_pid (__change_pid) sets it to NULL at release') });
  if (has('cpus_ptr')) add({ field: 'cpus_ptr', kind: 'kptr', provenance: header('kernel/fork.c dup_task_struct: cpus_ptr = &tsk->cpus_mask') });

  if (options.kernel === '6.1') {
    add({
      field: 'flags',
      kind: 'mask',
      mask: `0x${PF_HOLES_6_1.toString(16)}`,
      value: '0x0',
      provenance: header('include/linux/sched.h (6.1): PF__HOLE__00004000, 00010000, 01000000, 02000000, 20000000, 40000000 are never set'),
    });
    const stateField = has('__state') ? '__state' : 'state';
    add({
      field: stateField,
      kind: 'mask',
      mask: '0xffff0000',
      value: '0x0',
      width: 4,
      provenance: header(`include/linux/sched.h (6.1): every task state bit is below TASK_STATE_MAX 0x${TASK_STATE_MAX.toString(16)}`),
    });
  }

  const edges: EdgeSpec[] = [];
  const edge = (e: EdgeSpec, fields: Array<[string, string]>): void => {
    const missing = fields.filter(([t, p]) => !layout.hasType(t) || !has(p, t));
    if (missing.length > 0) {
      skipped.push(`edge ${e.name}: layout lacks ${missing.map(([t, p]) => `${t}.${p}`).join(', ')}`);
      return;
    }
    edges.push(e);
  };
  edge(
    {
      name: 'real_parent.task',
      read: { type: TYPE, field: 'real_parent' },
      expect: [{ matchesSignature: '' }],
      required: true,
      provenance: header('real_parent points to a task_struct (kernel/fork.c copy_process); it stays set in freed slots, and the parent slot is a task_struct slot too'),
    },
    [[TYPE, 'real_parent']],
  );
  edge(
    {
      name: 'cpus_ptr.self',
      read: { type: TYPE, field: 'cpus_ptr' },
      expect: [{ selfAddress: 'cpus_mask' }],
      weight: SELF_WEIGHT,
      provenance: header('kernel/fork.c dup_task_struct: cpus_ptr = &tsk->cpus_mask (kernel/sched/core.c may point it at a per-CPU mask while migration is disabled)'),
    },
    [[TYPE, 'cpus_ptr'], [TYPE, 'cpus_mask']],
  );
  edge(
    {
      name: 'thread_pid.nr',
      from: 'thread_pid',
      read: { type: 'pid', field: 'numbers[0].nr' },
      expect: [{ field: 'pid' }],
      provenance: header('kernel/pid.c alloc_pid / include/linux/pid.h: the struct pid of a task carries its pid in numbers[0].nr (the initial namespace)'),
    },
    [[TYPE, 'thread_pid'], ['pid', 'numbers[0].nr']],
  );
  edge(
    {
      name: 'pid_links.self',
      from: 'thread_pid',
      read: { type: 'pid', field: 'tasks[0].first' },
      expect: [{ selfAddress: 'pid_links[0]' }],
      provenance: header('kernel/pid.c attach_pid: the task is on its pid\'s tasks[PIDTYPE_PID] list (one task per PID)'),
    },
    [[TYPE, 'thread_pid'], [TYPE, 'pid_links[0]'], ['pid', 'tasks[0].first']],
  );
  edge(
    {
      name: 'stack.magic',
      from: 'stack',
      read: { offset: 0, width: 8 },
      expect: [{ value: `0x${STACK_END_MAGIC.toString(16)}` }],
      provenance: header('include/uapi/linux/magic.h STACK_END_MAGIC 0x57AC6E9D at end_of_stack() (kernel/fork.c set_task_stack_end_magic), the lowest address of the stack'),
    },
    [[TYPE, 'stack']],
  );
  edge(
    {
      name: 'mm.owner',
      from: 'mm',
      read: { type: 'mm_struct', field: 'owner' },
      expect: [{ selfAddress: '' }, { matchesSignature: '' }],
      provenance: header('include/linux/mm_types.h mm_struct.owner (CONFIG_MEMCG): the thread-group leader owning the mm (a thread reaches its leader); kernel threads have no mm'),
    },
    [[TYPE, 'mm'], ['mm_struct', 'owner']],
  );
  edge(
    {
      name: 'tasks.next.prev',
      from: 'tasks.next',
      read: { type: 'list_head', field: 'prev' },
      expect: [{ selfAddress: 'tasks' }],
      provenance: header('include/linux/list.h: next->prev == entry on a linked list; DKOM unlinking breaks it, so it only scores'),
    },
    [[TYPE, 'tasks'], ['list_head', 'prev']],
  );
  edge(
    {
      name: 'sibling.next.prev',
      from: 'sibling.next',
      read: { type: 'list_head', field: 'prev' },
      expect: [{ selfAddress: 'sibling' }],
      weight: SELF_WEIGHT,
      provenance: header('include/linux/list.h: the task is on its parent\'s children list (kernel/fork.c copy_process)'),
    },
    [[TYPE, 'sibling'], ['list_head', 'prev']],
  );

  const kernelNote = options.kernel === '6.1' ? ' and 6.1-only header facts (PF__HOLE__ bits, TASK_STATE_MAX)' : '';
  const doc: SignatureDoc = {
    schema: 'kcarve-signature/1',
    name: options.name ?? 'linux-task_struct-generic',
    version: options.version ?? '1.0.0',
    description:
      options.description ??
      `Linux x86-64 task_struct: value invariants from kernel headers${kernelNote}, which also hold on the freed slots of exited tasks; graph edges to the task's parent, pid, stack, mm and lists.`,
    target: {
      os: 'linux',
      type: TYPE,
      build: options.build ?? 'generic',
      ...(options.layoutRef !== undefined ? { layout: options.layoutRef } : {}),
    },
    alignment: 64,
    constraints,
    edges,
    scoring: { minScore: MIN_SCORE },
    provenance: {
      ...(options.command !== undefined ? { command: options.command } : {}),
      robustness: 'unproven',
      notes: [
        `alignment 64: ${ALIGNMENT_NOTE}`,
        `scoring: cpus_ptr.self and sibling.next.prev weigh ${SELF_WEIGHT}, the other edges 1; minScore ${MIN_SCORE} accepts an object consistent with its own address through either and rejects stale copies of a task (consistent with neither)`,
        `no constraint reads bytes ${window.from}..${window.to} of ${TYPE}: a freed slot's SLUB free pointer may lie there (mm/slub.c calculate_sizes: ALIGN_DOWN(object_size / 2, 8))`,
        'robustness: unknown until a fuzzing campaign reports (signatures/robustness/)',
        ...skipped.map((s) => `skipped: ${s}`),
      ],
    },
  };
  return { doc, skipped };
}
