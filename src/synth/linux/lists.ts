// The kernel's lists over the tasks of a world, in the order the kernel builds them, then
// the exits (list_del_rcu / list_del_init as __unhash_process does) and the DKOM unlinks.
//
// Facts (kernel/fork.c copy_process, kernel/exit.c __unhash_process, Linux 6.1):
// - A leader is added at the tail of init_task.tasks and of real_parent->children (its
//   sibling); a thread at the tail of group_leader->thread_group and of
//   signal->thread_head (its thread_node). copy_signal makes the leader's thread_node the
//   first entry of thread_head. Threads are on neither tasks nor children: their tasks
//   member is whatever arch_dup_task_struct copied from the creator (the leader), and
//   their sibling/children are empty.
// - attach_pid puts task->pid_links[type] on pid->tasks[type]: PIDTYPE_PID for every task,
//   TGID/PGID/SID for leaders.
// - On exit: list_del_rcu(tasks, thread_group, thread_node) (prev = LIST_POISON2, next
//   kept), list_del_init(sibling), hlist_del_rcu(pid_links) (pprev = LIST_POISON2).
//   Measured on the real exited tasks of datasets/build/train/train-06 (same pattern).
import type { LinuxOffsets } from './layout.js';
import { LIST_POISON2, type ListNode, ListModel, type UnlinkStyle, linkHlist } from './objects.js';
import type { LTask } from './tasks.js';

export interface LinkedLists {
  /** init_task.tasks after exits and hides. */
  readonly tasks: ListModel;
}

/** Build and write every list. `hidden` lists hidden leaders in the order they were hidden, with their style. */
export function linkTaskLists(o: LinuxOffsets, all: readonly LTask[], hidden: readonly LTask[]): LinkedLists {
  const T = o.task;
  const node = (t: LTask, field: string): ListNode => ({ obj: t.obj, off: T[field]! });
  const init = all[0]!;
  const exited = (t: LTask) => t.plan.status === 'exited';
  const leaders = all.filter((t) => t.leader === t && t !== init);

  // init_task.tasks: leaders in creation order.
  const tasksList = new ListModel([node(init, 'tasks'), ...leaders.map((t) => node(t, 'tasks'))]);
  // A thread's tasks member: the leader's as it was when the thread was forked.
  for (const t of all) {
    if (t.leader === t) continue;
    const L = t.leader;
    const li = leaders.indexOf(L);
    const later = leaders.slice(li + 1).find((x) => x.plan.id < t.plan.id);
    const prev = li === 0 ? init : leaders[li - 1]!;
    t.obj.u64(T['tasks']!, later ? later.obj.va + BigInt(T['tasks']!) : init.obj.va + BigInt(T['tasks']!));
    t.obj.u64(T['tasks']! + 8, prev.obj.va + BigInt(T['tasks']!));
  }

  // children / sibling.
  const childLists: ListModel[] = [];
  for (const p of all) {
    if (p.children.length === 0) continue;
    childLists.push(new ListModel([node(p, 'children'), ...p.children.map((c) => node(c, 'sibling'))]));
  }

  // thread_group (no separate head: the leader's member is one of the entries) and
  // signal->thread_head / thread_node.
  const groupLists = new Map<LTask, ListModel>();
  const nodeLists = new Map<LTask, ListModel>();
  for (const L of leaders) {
    const members = [L, ...L.threads];
    groupLists.set(L, new ListModel(members.map((m) => node(m, 'thread_group'))));
    nodeLists.set(L, new ListModel([{ obj: L.signal, off: o.signal.threadHead }, ...members.map((m) => node(m, 'thread_node'))]));
  }
  // init_task's own thread_node sits on init_signals.thread_head.
  const initNodes = new ListModel([{ obj: init.signal, off: o.signal.threadHead }, node(init, 'thread_node')]);

  // Exits (all before the DKOM): process by process in creation order, threads before
  // their leader (a group's threads end first, so each leaves thread_head as its last entry:
  // the real exited tasks' thread_node.next is always their signal's thread_head).
  const exitOrder = leaders.filter(exited).flatMap((L) => [...L.threads.filter(exited).reverse(), L]);
  for (const t of exitOrder) {
    const L = t.leader;
    groupLists.get(L)!.delRcu(node(t, 'thread_group'));
    nodeLists.get(L)!.delRcu(node(t, 'thread_node'));
    if (t === L) {
      tasksList.delRcu(node(t, 'tasks'));
      childLists.find((m) => m.has(node(t, 'sibling')))?.unlink(node(t, 'sibling'), 'self');
    }
  }

  // DKOM: the leader off init_task.tasks, each thread off its group's two lists.
  for (const L of hidden) {
    const style = L.style!;
    tasksList.unlink(node(L, 'tasks'), style);
    for (const th of L.threads) {
      groupLists.get(L)!.unlink(node(th, 'thread_group'), style);
      nodeLists.get(L)!.unlink(node(th, 'thread_node'), style);
    }
  }

  tasksList.write();
  for (const m of childLists) m.write();
  for (const m of groupLists.values()) m.write();
  for (const m of nodeLists.values()) m.write();
  initNodes.write();

  linkPids(o, all, init);
  return { tasks: tasksList };
}

/**
 * pid hlists: PID for every live task, TGID for leaders, and PGID/SID. attach_pid adds at
 * the head (hlist_add_head_rcu), so a chain runs newest first. No process of the world calls
 * setsid, as in the real dataset guests: every leader stays in init_task's session and
 * process group (init_struct_pid), so all leaders share one PGID and one SID chain (the real
 * tasks' pid_links[2..3] hold direct-map pointers in both fields, measured).
 */
function linkPids(o: LinuxOffsets, all: readonly LTask[], init: LTask): void {
  const T = o.task;
  const links = (t: LTask, type: number): ListNode => ({ obj: t.obj, off: T['pid_links']! + 16 * type });
  const head = (t: LTask, type: number): ListNode => ({ obj: t.pid, off: o.pid.tasks + 8 * type });
  const live = all.filter((t) => t.plan.status !== 'exited' && t !== init);
  for (const t of live) {
    linkHlist(head(t, 0), [links(t, 0)]);
    if (t.leader === t) linkHlist(head(t, 1), [links(t, 1)]);
  }
  const leaders = live.filter((t) => t.leader === t);
  const newestFirst = [...leaders].reverse();
  for (const type of [2, 3]) linkHlist(head(init, type), newestFirst.map((t) => links(t, type)));
  // Exited tasks: every link they had is hlist_del_rcu'd: next kept (0 when last), pprev poisoned.
  for (const t of all) {
    if (t.plan.status !== 'exited') continue;
    const types = t.leader === t ? [0, 1, 2, 3] : [0];
    for (const type of types) {
      const at = T['pid_links']! + 16 * type;
      // The chain is newest first: its successor was the newest leader older than it.
      const older = type >= 2 ? newestFirst.find((u) => u.plan.id < t.plan.id) : undefined;
      t.obj.u64(at, older ? older.obj.va + BigInt(at) : 0n);
      t.obj.u64(at + 8, LIST_POISON2);
    }
  }
}

/** Styles for the hidden processes: the three styles in turn from a random start, so each appears once there are three. */
export function assignStyles(hidden: readonly LTask[], styles: readonly UnlinkStyle[], start: number): void {
  hidden.forEach((t, i) => {
    t.style = styles[(start + i) % styles.length]!;
  });
}
