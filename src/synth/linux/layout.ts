// The structure offsets a Linux world writes, all from the build's BTF (no offset of a
// kernel structure lives in code). One object per build, cached.
import { type Layout, loadLayout } from '../../types/index.js';
import type { LinuxBuild } from './builds.js';

/** The task_struct members truth.json lists (the real builder's 27, src/datasets kcarve_truth.c print_offsets). */
export const TRUTH_TASK_FIELDS = [
  'tasks', 'pid', 'tgid', 'comm', 'real_parent', 'parent', 'children', 'sibling', 'group_leader', 'thread_pid', 'stack',
  'mm', 'active_mm', 'cred', 'real_cred', 'start_time', 'start_boottime', 'flags', 'exit_state', '__state', 'signal',
  'thread_node', 'thread_group', 'sched_class', 'stack_canary', 'exit_signal', 'usage',
] as const;

export interface LinuxOffsets {
  readonly layout: Layout;
  readonly taskSize: number;
  /** task_struct member → offset, and size for the members the world mutates. */
  readonly task: Record<string, number>;
  readonly taskSizes: Record<string, number>;
  readonly pid: { size: number; count: number; level: number; tasks: number; waitPidfdHead: number; nr: number; ns: number };
  readonly cred: { size: number; usage: number; uid: number; capInheritable: number; capPermitted: number; capEffective: number; capBset: number; user: number; userNs: number; ucounts: number; groupInfo: number };
  readonly mm: { size: number; pgd: number; mmUsers: number; mmCount: number; owner: number; mapCount: number; taskSize: number; mmapBase: number; flags: number; startCode: number; startStack: number; argStart: number; argEnd: number; envStart: number; envEnd: number };
  readonly signal: { size: number; sigcnt: number; nrThreads: number; threadHead: number; waitChldexitHead: number; currTarget: number; sharedPendingList: number; pids: number; leader: number };
}

/** Fields an attacker (or random:N) may mutate, and that truth/tests read back. */
export const MUTABLE_TASK_FIELDS = [
  'comm', 'pid', 'tgid', 'tasks', 'start_time', 'start_boottime', 'flags', '__state', 'exit_state', 'prio', 'static_prio',
  'normal_prio', 'policy', 'exit_signal', 'stack_canary', 'sched_class', 'cred', 'real_cred', 'mm', 'active_mm',
  'real_parent', 'parent', 'group_leader', 'thread_pid', 'stack', 'signal', 'usage', 'children', 'sibling', 'thread_group',
  'thread_node', 'cpus_ptr',
] as const;

const cache = new Map<string, LinuxOffsets>();

export function linuxOffsets(build: LinuxBuild): LinuxOffsets {
  const hit = cache.get(build.name);
  if (hit) return hit;
  const L = loadLayout(build.btfPath);
  const task: Record<string, number> = {};
  const taskSizes: Record<string, number> = {};
  for (const f of [...TRUTH_TASK_FIELDS, ...MUTABLE_TASK_FIELDS, 'pid_links', 'cpus_mask', 'sighand', 'ptraced', 'ptrace_entry']) {
    const m = L.member('task_struct', f);
    task[f] = m.offset;
    taskSizes[f] = m.size;
  }
  const o: LinuxOffsets = {
    layout: L,
    taskSize: L.sizeOf('task_struct'),
    task,
    taskSizes,
    pid: {
      size: L.sizeOf('pid'),
      count: L.offsetOf('pid', 'count'),
      level: L.offsetOf('pid', 'level'),
      tasks: L.offsetOf('pid', 'tasks'),
      waitPidfdHead: L.offsetOf('pid', 'wait_pidfd.head'),
      nr: L.offsetOf('pid', 'numbers[0].nr'),
      ns: L.offsetOf('pid', 'numbers[0].ns'),
    },
    cred: {
      size: L.sizeOf('cred'),
      usage: L.offsetOf('cred', 'usage'),
      uid: L.offsetOf('cred', 'uid'),
      capInheritable: L.offsetOf('cred', 'cap_inheritable'),
      capPermitted: L.offsetOf('cred', 'cap_permitted'),
      capEffective: L.offsetOf('cred', 'cap_effective'),
      capBset: L.offsetOf('cred', 'cap_bset'),
      user: L.offsetOf('cred', 'user'),
      userNs: L.offsetOf('cred', 'user_ns'),
      ucounts: L.offsetOf('cred', 'ucounts'),
      groupInfo: L.offsetOf('cred', 'group_info'),
    },
    mm: {
      size: L.sizeOf('mm_struct'),
      pgd: L.offsetOf('mm_struct', 'pgd'),
      mmUsers: L.offsetOf('mm_struct', 'mm_users'),
      mmCount: L.offsetOf('mm_struct', 'mm_count'),
      owner: L.offsetOf('mm_struct', 'owner'),
      mapCount: L.offsetOf('mm_struct', 'map_count'),
      taskSize: L.offsetOf('mm_struct', 'task_size'),
      mmapBase: L.offsetOf('mm_struct', 'mmap_base'),
      flags: L.offsetOf('mm_struct', 'flags'),
      startCode: L.offsetOf('mm_struct', 'start_code'),
      startStack: L.offsetOf('mm_struct', 'start_stack'),
      argStart: L.offsetOf('mm_struct', 'arg_start'),
      argEnd: L.offsetOf('mm_struct', 'arg_end'),
      envStart: L.offsetOf('mm_struct', 'env_start'),
      envEnd: L.offsetOf('mm_struct', 'env_end'),
    },
    signal: {
      size: L.sizeOf('signal_struct'),
      sigcnt: L.offsetOf('signal_struct', 'sigcnt'),
      nrThreads: L.offsetOf('signal_struct', 'nr_threads'),
      threadHead: L.offsetOf('signal_struct', 'thread_head'),
      waitChldexitHead: L.offsetOf('signal_struct', 'wait_chldexit.head'),
      currTarget: L.offsetOf('signal_struct', 'curr_target'),
      sharedPendingList: L.offsetOf('signal_struct', 'shared_pending.list'),
      pids: L.offsetOf('signal_struct', 'pids'),
      leader: L.offsetOf('signal_struct', 'leader'),
    },
  };
  cache.set(build.name, o);
  return o;
}

/** truth.offsets.task_struct.fields: the 27 members the real truth lists. */
export function truthTaskOffsets(o: LinuxOffsets): Record<string, number> {
  const out: Record<string, number> = {};
  for (const f of TRUTH_TASK_FIELDS) out[f] = o.task[f]!;
  return out;
}
