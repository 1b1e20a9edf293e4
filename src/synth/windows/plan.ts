// Which processes a Windows world has, in creation order, with pids, parents, times,
// threads and fates. A pure function of the options and the seed.
//
// Facts: process and thread IDs come from one allocator (PspCidTable), are multiples of 4,
// System is 4 (facts pid_rules); CreateTime/ExitTime are FILETIMEs (facts time). XP's
// System process has CreateTime 0 (Volatility's pslist of XP images prints no start time
// for System; from Vista on it is the boot time).
import { UsageError } from '../../errors.js';
import type { Prng } from '../prng.js';
import type { SynthOptions } from '../world.js';
import { type WindowsBuild, fileTime } from './builds.js';
import { type Program, coreChain, shortLived, userPrograms } from './programs.js';

export type ProcStatus = 'live' | 'hidden' | 'exited';
export type ExitKind = 'terminated' | 'freed';

export interface PlannedThread {
  readonly tid: number;
  readonly createTime: bigint;
}

export interface PlannedProcess {
  readonly id: number;
  readonly program: Program;
  readonly pid: number;
  /** InheritedFromUniqueProcessId. */
  readonly ppid: number;
  readonly createTime: bigint;
  /** 0 unless exited. */
  readonly exitTime: bigint;
  status: ProcStatus;
  /** Exited: the object is still referenced (terminated) or its pool block was freed. */
  readonly exitKind?: ExitKind;
  readonly threads: PlannedThread[];
}

export interface WindowsPlan {
  readonly processes: PlannedProcess[];
  readonly bootTime: bigint;
  readonly dumpTime: bigint;
}

const SEC = 10_000_000n;

/**
 * `handlesPerPage`: entries per handle-table page; ids at multiples of 4 · handlesPerPage
 * are never handed out (entry 0 of each page is not a handle, handle-table.ts).
 */
export function planWindowsWorld(build: WindowsBuild, o: SynthOptions, rng: Prng, handlesPerPage: number): WindowsPlan {
  if (o.procs < 1) throw new UsageError(`--procs ${o.procs}: a Windows world needs at least 1 process (System)`);
  const core = coreChain(build.name);
  const apps = rng.shuffle(userPrograms(build.name));
  const live: Program[] = core.slice(0, Math.min(o.procs, core.length));
  for (let i = 0; live.length < o.procs; i += 1) live.push(apps[i % apps.length]!);
  const hideable = live.filter((p) => p.hideable).length;
  if (o.hidden > hideable) {
    throw new UsageError(`--hidden ${o.hidden}: only ${hideable} of the ${o.procs} processes of a ${build.name} world can be hidden (System and the boot chain stay visible); raise --procs`);
  }
  // Exited programs, slotted in after the boot chain.
  const short = shortLived(build.name);
  const exitedPrograms = Array.from({ length: o.exited }, () => rng.pick(short));
  const order: { program: Program; exited: boolean }[] = live.map((program) => ({ program, exited: false }));
  const firstSlot = Math.min(order.length, Math.max(1, core.length - 3));
  for (const program of exitedPrograms) order.splice(firstSlot + rng.int(order.length - firstSlot + 1), 0, { program, exited: true });

  const boot = fileTime(build.bootEpoch[0] + rng.int(build.bootEpoch[1] - build.bootEpoch[0]), BigInt(rng.int(10_000_000)));
  let clock = boot;
  let nextId = 4;
  const takeId = (): number => {
    if ((nextId / 4) % handlesPerPage === 0) nextId += 4;
    const id = nextId;
    nextId += 4 * (1 + (rng.chance(0.3) ? rng.int(8) : 0));
    return id;
  };
  const ghosts = new Map<string, number>();
  const processes: PlannedProcess[] = [];
  const exitKinds: ExitKind[] = ['terminated', 'freed'];
  let exitTurn = rng.int(2);
  const pendingExits: { index: number }[] = [];
  let seenShell = false;

  for (const { program, exited } of order) {
    // Time: the boot chain within seconds, services within minutes, the user's programs over hours.
    if (processes.length > 0) clock += program.kind === 'user' && seenShell ? BigInt(10 + rng.int(7200)) * SEC + BigInt(rng.int(10_000_000)) : BigInt(50 + rng.int(3000)) * 10_000n;
    if (program.name === 'explorer.exe') seenShell = true;
    const parentPid = resolveParent(program, processes, ghosts, takeId, rng);
    const pid = program.kind === 'system' ? build.facts.pid_rules.system_pid : takeId();
    // System's boot-time worker threads (dozens, most still running on a real system; the
    // ones not modelled as ETHREADs here) use the ids after 4, so smss.exe gets a pid in
    // the hundreds as on a real boot.
    if (program.kind === 'system') nextId = pid + 4 * (40 + rng.int(60));
    const createTime = program.kind === 'system' && build.name === 'winxpsp2x86' ? 0n : clock;
    const threads: PlannedThread[] = [{ tid: takeId(), createTime: clock + BigInt(rng.int(20_000)) }];
    const p: PlannedProcess = {
      id: processes.length,
      program,
      pid,
      ppid: program.kind === 'system' ? 0 : parentPid,
      createTime,
      exitTime: 0n,
      status: exited ? 'exited' : 'live',
      ...(exited ? { exitKind: exitKinds[exitTurn++ % 2]! } : {}),
      threads,
    };
    processes.push(p);
    if (exited) pendingExits.push({ index: p.id });
  }
  const dumpTime = clock + BigInt(60 + rng.int(3600)) * SEC;
  // Exit times: after creation, before the dump.
  for (const { index } of pendingExits) {
    const p = processes[index]!;
    const span = Number((dumpTime - p.createTime) / SEC);
    const exitTime = p.createTime + BigInt(1 + rng.int(Math.max(1, Math.min(span - 1, 900)))) * SEC + BigInt(rng.int(10_000_000));
    processes[index] = { ...p, exitTime: exitTime < dumpTime ? exitTime : dumpTime - SEC };
  }
  // Extra threads: System and services own most of them.
  const owners = processes.filter((p) => p.status !== 'exited');
  const weights = owners.map((p) => (p.program.kind === 'system' ? 12 : p.program.kind === 'service' ? 3 : p.program.kind === 'minimal' ? 0.5 : 1));
  for (let i = 0; i < o.threads; i += 1) {
    const p = owners[rng.weighted(weights)]!;
    const t0 = p.threads[0]!.createTime;
    p.threads.push({ tid: takeId(), createTime: t0 + BigInt(rng.int(Math.max(1, Number((dumpTime - t0) / 10_000n)))) * 10_000n });
  }
  // Hidden: hideable live processes.
  const candidates = rng.shuffle(processes.filter((p) => p.status === 'live' && p.program.hideable));
  for (const p of candidates.slice(0, o.hidden)) p.status = 'hidden';
  return { processes, bootTime: boot, dumpTime };
}

/** The parent's pid: the latest earlier process of that name (a random one for svchost), an exited ghost, or System. */
function resolveParent(program: Program, done: readonly PlannedProcess[], ghosts: Map<string, number>, takeId: () => number, rng: Prng): number {
  const parent = program.parent;
  if (parent === '') return 0;
  if (parent === 'System') return 4;
  if (!parent.startsWith('ghost:')) {
    const named = done.filter((p) => p.program.name === parent && p.status !== 'exited');
    if (named.length > 0) return (parent === 'svchost.exe' ? rng.pick(named) : named[named.length - 1]!).pid;
  }
  // A parent that has exited long ago (or was never part of this world's population).
  const key = parent.startsWith('ghost:') ? parent : `ghost:${parent}`;
  let pid = ghosts.get(key);
  if (pid === undefined) {
    pid = takeId();
    takeId(); // its thread
    ghosts.set(key, pid);
  }
  return pid;
}
