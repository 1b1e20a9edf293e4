// The kernel's own views of its tasks, for the cross-view:
//  - `list` (walkTasks): init_task.tasks, the process list `ps` and pslist read
//    (include/linux/sched/signal.h for_each_process), init_task first;
//  - `thread-lists`: each process's signal->thread_head list, linked through the
//    threads' thread_node (6.1 for_each_thread); the name the cross-view reads threads by;
//  - `thread_group`: each process's thread_group ring (while_each_thread);
//  - `children`: each task's children list, linked through the children's `sibling`;
//  - `pid-links`: the task its struct pid names, thread_pid → pid.tasks[PIDTYPE_PID]
//    → container_of(pid_links[PIDTYPE_PID]) (kernel/pid.c pid_task); a task whose
//    pid leads back to it is in the pid hash even when DKOM unlinked it.
// Starting points are the list walk and the scan's records (exited ones aside:
// their links are stale).
import { type PhysAddr, hex, virt } from '../../addr.js';
import { DiscoveryError, InvalidAddressError } from '../../errors.js';
import type { PhysicalReader } from '../../layers/physical.js';
import type { KernelSpace } from '../../signatures/edges.js';
import type { Signature } from '../../signatures/load.js';
import type { KernelSpaceInfo, ListWalkResult, ProcessRecord, ViewResult } from '../types.js';
import { walkKernelList, type KernelListWalk } from './list-walk.js';
import { readU, taskLayout, type TaskLayout } from './task-layout.js';

/** Walk init_task.tasks; init_task is the first entry. */
export function walkTasks(image: PhysicalReader, sig: Signature, space: KernelSpace, info: KernelSpaceInfo): ListWalkResult {
  const t = taskLayout(sig.layout, sig.targetType);
  const init = info.linux?.initTask;
  if (init === undefined) {
    throw new DiscoveryError(image.path, 'init_task (the head of the task list)', 'discovery found no pid-0 idle task in the kernel image, no tasks link into it, and no init_task symbol was given');
  }
  const initVa = BigInt(init.va);
  const walk = walkKernelList(space, initVa + BigInt(t.tasks.offset), { containerDelta: t.tasks.offset, nextOffset: t.listNext });
  const entries = [{ va: virt(initVa), pa: Number(BigInt(init.pa)) as PhysAddr }, ...walk.entries.map((e) => ({ va: virt(e.va), pa: e.pa }))];
  return walk.stoppedBecause === undefined ? { entries } : { entries, stoppedBecause: walk.stoppedBecause };
}

interface Start {
  va: bigint;
  pa: PhysAddr;
}

/** Collects the PAs a view reaches and the reasons its walks stopped early. */
class ViewBuilder {
  readonly pas = new Set<PhysAddr>();
  private readonly stops: string[] = [];
  private stopCount = 0;

  constructor(readonly name: string) {}

  addWalk(from: Start, walk: KernelListWalk): void {
    for (const e of walk.entries) this.pas.add(e.pa);
    if (walk.stoppedBecause !== undefined) {
      this.stopCount += 1;
      if (this.stops.length < 3) this.stops.push(`from ${hex(from.va)}: ${walk.stoppedBecause}`);
    }
  }

  result(starts: number): ViewResult {
    const r: ViewResult = { name: this.name, pas: [...this.pas].sort((a, b) => a - b) };
    if (this.stopCount > 0) r.note = `${this.stopCount} of ${starts} walk(s) stopped early; ${this.stops.join('; ')}`;
    return r;
  }
}

function readU64At(space: KernelSpace, va: bigint): bigint | undefined {
  try {
    return readU(space.readPhys(space.translateVirt(virt(va)), 8), 0, 8);
  } catch (err) {
    if (err instanceof InvalidAddressError || err instanceof RangeError) return undefined;
    throw err;
  }
}

function startingPoints(space: KernelSpace, walk: ListWalkResult, records: readonly ProcessRecord[]): Start[] {
  const byPa = new Map<PhysAddr, Start>();
  for (const e of walk.entries) byPa.set(e.pa, { va: BigInt(e.va), pa: e.pa });
  for (const r of records) {
    if ((r.exitEvidence?.length ?? 0) > 0 || byPa.has(r.pa)) continue;
    const va = r.va ?? space.virtOfPhys(r.pa);
    if (va !== undefined) byPa.set(r.pa, { va: BigInt(va), pa: r.pa });
  }
  return [...byPa.values()];
}

/** The views other than the task list, from the walk's entries and the scan's records. */
export function taskViews(image: PhysicalReader, sig: Signature, space: KernelSpace, _info: KernelSpaceInfo, walk: ListWalkResult, records: readonly ProcessRecord[]): ViewResult[] {
  const t = taskLayout(sig.layout, sig.targetType);
  const starts = startingPoints(space, walk, records);
  const views: ViewResult[] = [];
  const leaders = starts.filter((s) => readU64At(space, s.va + BigInt(t.groupLeader.offset)) === s.va);

  if (t.signal && t.threadNode && t.signalThreadHead !== undefined) {
    const v = new ViewBuilder('thread-lists');
    for (const s of leaders) {
      const signal = readU64At(space, s.va + BigInt(t.signal.offset));
      if (signal === undefined || signal === 0n) continue;
      v.addWalk(s, walkKernelList(space, signal + BigInt(t.signalThreadHead), { containerDelta: t.threadNode.offset, nextOffset: t.listNext }));
    }
    views.push(v.result(leaders.length));
  } else {
    views.push({ name: 'thread-lists', pas: [], note: `the layout has no ${t.type}.thread_node or signal_struct.thread_head` });
  }

  if (t.threadGroup) views.push(ringView('thread_group', space, t, leaders, t.threadGroup.offset));
  if (t.children && t.sibling) {
    const v = new ViewBuilder('children');
    for (const s of starts) {
      v.addWalk(s, walkKernelList(space, s.va + BigInt(t.children.offset), { containerDelta: t.sibling.offset, nextOffset: t.listNext }));
    }
    views.push(v.result(starts.length));
  }
  views.push(pidLinksView(image, space, t, starts));
  return views;
}

/** A ring with no separate head (thread_group): the leader's own node is the head; the leader is included. */
function ringView(name: string, space: KernelSpace, t: TaskLayout, leaders: readonly Start[], member: number): ViewResult {
  const v = new ViewBuilder(name);
  for (const s of leaders) {
    v.pas.add(s.pa);
    v.addWalk(s, walkKernelList(space, s.va + BigInt(member), { containerDelta: member, nextOffset: t.listNext }));
  }
  return v.result(leaders.length);
}

function pidLinksView(image: PhysicalReader, space: KernelSpace, t: TaskLayout, starts: readonly Start[]): ViewResult {
  if (!t.threadPid || !t.pidLinks0 || t.pidTasks0 === undefined) {
    return { name: 'pid-links', pas: [], note: `the layout lacks ${t.type}.thread_pid, pid_links or pid.tasks (${image.path})` };
  }
  const pas = new Set<PhysAddr>();
  for (const s of starts) {
    const pid = readU64At(space, s.va + BigInt(t.threadPid.offset));
    if (pid === undefined || pid === 0n) continue;
    const first = readU64At(space, pid + BigInt(t.pidTasks0));
    if (first === undefined || first === 0n) continue;
    if (first - BigInt(t.pidLinks0.offset) === s.va) pas.add(s.pa);
  }
  return { name: 'pid-links', pas: [...pas].sort((a, b) => a - b) };
}
