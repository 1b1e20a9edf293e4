// The validation pass of a real Linux image: checks that truth.json agrees with the
// dumped memory, and fails loudly (TruthError naming the task and the field) otherwise.
//
//  - every live and hidden task: pid, tgid and comm at pa + offset; its real_parent
//    pointer leads to a task whose tgid is the recorded ppid;
//  - the kernel's own process list: walking init_task.tasks from init_task (read at
//    init_task_pa, pointers translated through the direct map and the kernel-image map)
//    reaches exactly the tasks marked on_tasks_list and none of the hidden ones;
//  - threads of a hidden process are hidden too;
//  - exited tasks: the recorded residue is what the image holds.
//
// Address translation without page tables (enough for kernel objects):
//  - the kernel image: va >= __START_KERNEL_map = 0xffffffff80000000
//    (arch/x86/include/asm/page_64_types.h), pa = va - (init_task_va - init_task_pa);
//  - the direct map: pa = va - page_offset_base (Documentation/x86/x86_64/mm.rst).
import { TruthError } from '../../errors.js';
import { phys, MAX_PHYS_ADDR } from '../../addr.js';
import type { PhysImage } from './phys-image.js';

const START_KERNEL_MAP = 0xffffffff80000000n;
const TASK_COMM_LEN = 16;

export interface ValidationReport {
  image: string;
  tasks: number;
  live: number;
  hidden: number;
  exited: number;
  /** Exited tasks whose pid, tgid and comm all survive. */
  exitedIntact: number;
  /** Tasks reached by the init_task.tasks walk, init_task included. */
  walkLength: number;
}

interface Task {
  index: number;
  status: 'live' | 'hidden' | 'exited';
  pid: number;
  tgid: number;
  ppid: number;
  comm: string;
  leader: boolean;
  onList: boolean;
  va: bigint;
  pa: number;
  residue: { pid: boolean; tgid: boolean; comm: boolean } | undefined;
}

function hexField(file: string, field: string, v: unknown): bigint {
  if (typeof v !== 'string' || !/^0x[0-9a-f]+$/i.test(v)) throw new TruthError(file, field, `must be a 0x-prefixed hex string (got ${JSON.stringify(v)})`);
  return BigInt(v);
}

function paField(file: string, field: string, v: unknown): number {
  const b = hexField(file, field, v);
  if (b >= BigInt(MAX_PHYS_ADDR)) throw new TruthError(file, field, `${v as string} is not a physical address`);
  return Number(b);
}

function intField(file: string, field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new TruthError(file, field, `must be an integer (got ${JSON.stringify(v)})`);
  return v;
}

function boolField(file: string, field: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw new TruthError(file, field, `must be true or false (got ${JSON.stringify(v)})`);
  return v;
}

/**
 * task_struct.comm as the kernel stores a name: NUL-padded to TASK_COMM_LEN
 * (__set_task_comm uses strscpy_pad, fs/exec.c in 6.1; fork copies all 16 bytes).
 */
export function paddedComm(name: string): Buffer {
  const b = Buffer.alloc(TASK_COMM_LEN);
  b.write(name, 'latin1');
  return b;
}

function describe(t: Task): string {
  return `${t.status} task pid ${t.pid} (${JSON.stringify(t.comm)}) at pa 0x${t.pa.toString(16)}`;
}

/** Check truth (parsed truth.json) against one image of it; returns counts or throws TruthError. */
export function validateLinuxTruth(truth: unknown, file: string, image: PhysImage): ValidationReport {
  const T = truth as Record<string, any>;
  if (T?.['schema'] !== 'kcarve-truth/1') throw new TruthError(file, 'schema', `expected "kcarve-truth/1" (got ${JSON.stringify(T?.['schema'])})`);
  if (T['os'] !== 'linux') throw new TruthError(file, 'os', `expected "linux" (got ${JSON.stringify(T['os'])})`);
  const layout = (T['layout'] ?? {}) as Record<string, unknown>;
  const pob = hexField(file, 'layout.page_offset_base', layout['page_offset_base']);
  const initVa = hexField(file, 'layout.init_task_va', layout['init_task_va']);
  const initPa = paField(file, 'layout.init_task_pa', layout['init_task_pa']);
  const fields = (T['offsets']?.['task_struct']?.['fields'] ?? {}) as Record<string, unknown>;
  const off: Record<string, number> = {};
  for (const k of ['tasks', 'pid', 'tgid', 'comm', 'real_parent']) off[k] = intField(file, `offsets.task_struct.fields.${k}`, fields[k]);
  if (!Array.isArray(T['tasks'])) throw new TruthError(file, 'tasks', 'must be an array');

  const tasks: Task[] = (T['tasks'] as unknown[]).map((raw, index) => {
    const r = raw as Record<string, unknown>;
    const at = `tasks[${index}]`;
    const status = r['status'];
    if (status !== 'live' && status !== 'hidden' && status !== 'exited') throw new TruthError(file, `${at}.status`, `must be live, hidden or exited (got ${JSON.stringify(status)})`);
    if (typeof r['comm'] !== 'string' || Buffer.byteLength(r['comm'], 'latin1') >= TASK_COMM_LEN) {
      throw new TruthError(file, `${at}.comm`, `must be a string of at most ${TASK_COMM_LEN - 1} bytes`);
    }
    const res = r['residue'] as Record<string, unknown> | undefined;
    if (status === 'exited' && res === undefined) throw new TruthError(file, `${at}.residue`, 'an exited task must record its residue');
    return {
      index,
      status,
      pid: intField(file, `${at}.pid`, r['pid']),
      tgid: intField(file, `${at}.tgid`, r['tgid']),
      ppid: intField(file, `${at}.ppid`, r['ppid']),
      comm: r['comm'],
      leader: boolField(file, `${at}.leader`, r['leader']),
      onList: boolField(file, `${at}.on_tasks_list`, r['on_tasks_list']),
      va: hexField(file, `${at}.va`, r['va']),
      pa: paField(file, `${at}.pa`, r['pa']),
      residue: res && {
        pid: boolField(file, `${at}.residue.pid`, res['pid']),
        tgid: boolField(file, `${at}.residue.tgid`, res['tgid']),
        comm: boolField(file, `${at}.residue.comm`, res['comm']),
      },
    };
  });

  const toPa = (va: bigint): number | undefined => {
    const pa = va >= START_KERNEL_MAP ? va - (initVa - BigInt(initPa)) : va >= pob ? va - pob : -1n;
    return pa >= 0n && pa < BigInt(MAX_PHYS_ADDR) ? Number(pa) : undefined;
  };
  const readAt = (t: Task, field: string, len: number): Buffer => {
    const b = image.readPhys(phys(t.pa + off[field]!), len);
    if (!b) throw new TruthError(file, `tasks[${t.index}]`, `${describe(t)}: task_struct.${field} at pa 0x${(t.pa + off[field]!).toString(16)} is outside ${image.path}`);
    return b;
  };

  // One object per address among the tasks that exist at the dump.
  const byPa = new Map<number, Task>();
  for (const t of tasks) {
    if (t.status === 'exited') continue;
    const other = byPa.get(t.pa);
    if (other) throw new TruthError(file, `tasks[${t.index}]`, `${describe(t)} shares its address with ${describe(other)}`);
    byPa.set(t.pa, t);
    if (toPa(t.va) !== t.pa) throw new TruthError(file, `tasks[${t.index}].va`, `${describe(t)}: va 0x${t.va.toString(16)} does not map to its pa`);
  }

  for (const t of tasks) {
    const other = t.status === 'exited' ? byPa.get(t.pa) : undefined;
    if (other) throw new TruthError(file, `tasks[${t.index}]`, `${describe(t)}: its object is ${describe(other)} at the dump`);
  }

  // Fields of every live and hidden task, at pa + offset.
  for (const t of tasks) {
    if (t.status === 'exited') continue;
    const at = `tasks[${t.index}]`;
    const pid = readAt(t, 'pid', 4).readInt32LE(0);
    if (pid !== t.pid) throw new TruthError(file, `${at}.pid`, `${describe(t)}: task_struct.pid in ${image.path} is ${pid}`);
    const tgid = readAt(t, 'tgid', 4).readInt32LE(0);
    if (tgid !== t.tgid) throw new TruthError(file, `${at}.tgid`, `${describe(t)}: task_struct.tgid in ${image.path} is ${tgid}`);
    const comm = readAt(t, 'comm', TASK_COMM_LEN);
    if (!comm.equals(paddedComm(t.comm))) {
      const seen = comm.subarray(0, Math.max(0, comm.indexOf(0))).toString('latin1');
      throw new TruthError(file, `${at}.comm`, `${describe(t)}: task_struct.comm in ${image.path} is ${JSON.stringify(seen)}`);
    }
    if (t.leader !== (t.pid === t.tgid)) throw new TruthError(file, `${at}.leader`, `${describe(t)}: leader is ${t.leader} but pid ${t.pid} / tgid ${t.tgid}`);
    const parentVa = readAt(t, 'real_parent', 8).readBigUInt64LE(0);
    const parentPa = toPa(parentVa);
    const parentTgid = parentPa === undefined ? undefined : image.readPhys(phys(parentPa + off['tgid']!), 4)?.readInt32LE(0);
    if (parentTgid !== t.ppid) {
      throw new TruthError(file, `${at}.ppid`, `${describe(t)}: real_parent 0x${parentVa.toString(16)} leads to tgid ${parentTgid ?? '(unreadable)'}, truth says ppid ${t.ppid}`);
    }
    if (t.status === 'hidden' && t.onList) throw new TruthError(file, `${at}.on_tasks_list`, `${describe(t)} is hidden but marked on_tasks_list`);
  }
  for (const t of tasks) {
    if (t.status !== 'live' || t.leader) continue;
    const leader = tasks.find((l) => l.status !== 'exited' && l.pid === t.tgid);
    if (leader?.status === 'hidden') throw new TruthError(file, `tasks[${t.index}].status`, `${describe(t)} is a thread of hidden process ${t.tgid} and must be hidden too`);
  }

  // The kernel's process list, from init_task.
  const init = byPa.get(initPa);
  if (!init || init.pid !== 0) throw new TruthError(file, 'layout.init_task_pa', `no live task with pid 0 at init_task_pa 0x${initPa.toString(16)}`);
  const head = initVa + BigInt(off['tasks']!);
  const reached = new Set<number>([initPa]);
  const limit = tasks.length + 1;
  let next = readAt(init, 'tasks', 8).readBigUInt64LE(0);
  let step = 0;
  while (next !== head) {
    if (++step > limit) throw new TruthError(file, 'layout.init_task_va', `the init_task.tasks walk does not return to init_task within ${limit} steps`);
    const pa = toPa(next - BigInt(off['tasks']!));
    const where = `init_task.tasks walk step ${step}: next = 0x${next.toString(16)}`;
    if (pa === undefined) throw new TruthError(file, 'layout', `${where} is neither in the direct map nor in the kernel image`);
    const t = byPa.get(pa);
    if (!t) throw new TruthError(file, 'tasks', `${where} reaches pa 0x${pa.toString(16)}, which truth does not list as a task`);
    if (t.status === 'hidden') throw new TruthError(file, `tasks[${t.index}].status`, `${describe(t)} is reachable from init_task.tasks (${where})`);
    if (!t.onList) throw new TruthError(file, `tasks[${t.index}].on_tasks_list`, `${describe(t)} is reached by the init_task.tasks walk but not marked on_tasks_list`);
    if (reached.has(pa)) throw new TruthError(file, 'tasks', `${where} reaches ${describe(t)} a second time`);
    reached.add(pa);
    const b = image.readPhys(phys(pa + off['tasks']!), 8);
    if (!b) throw new TruthError(file, `tasks[${t.index}]`, `${where}: ${describe(t)} has its tasks member outside ${image.path}`);
    next = b.readBigUInt64LE(0);
  }
  for (const t of tasks) {
    if (t.status === 'live' && t.onList && !reached.has(t.pa)) {
      throw new TruthError(file, `tasks[${t.index}].on_tasks_list`, `${describe(t)} is marked on_tasks_list but the init_task.tasks walk does not reach it`);
    }
  }

  // Exited tasks: the recorded residue is what the image holds.
  let exitedIntact = 0;
  for (const t of tasks) {
    if (t.status !== 'exited' || !t.residue) continue;
    const pid = image.readPhys(phys(t.pa + off['pid']!), 4)?.readInt32LE(0);
    const tgid = image.readPhys(phys(t.pa + off['tgid']!), 4)?.readInt32LE(0);
    const comm = image.readPhys(phys(t.pa + off['comm']!), TASK_COMM_LEN);
    const seen = { pid: pid === t.pid, tgid: tgid === t.tgid, comm: comm !== undefined && comm.equals(paddedComm(t.comm)) };
    for (const k of ['pid', 'tgid', 'comm'] as const) {
      if (seen[k] !== t.residue[k]) {
        throw new TruthError(file, `tasks[${t.index}].residue.${k}`, `${describe(t)}: residue.${k} is ${t.residue[k]} but ${image.path} says ${seen[k]}`);
      }
    }
    if (seen.pid && seen.tgid && seen.comm) exitedIntact++;
  }

  const count = (s: Task['status']) => tasks.filter((t) => t.status === s).length;
  return {
    image: image.path,
    tasks: tasks.length,
    live: count('live'),
    hidden: count('hidden'),
    exited: count('exited'),
    exitedIntact,
    walkLength: reached.size,
  };
}
