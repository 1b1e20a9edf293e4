// The kernel's views of the processes of a Windows world, linked after every object exists:
// PsActiveProcessHead → ActiveProcessLinks, the session process lists, handle tables (each
// process's ObjectTable, csrss's and services' handles to other processes, the kernel's
// PspCidTable), HandleTableListHead → HandleTableList, then exits and DKOM unlinks.
//
// Facts: RemoveEntryList leaves the removed entry's links stale (lists.ts). At exit a
// process leaves ActiveProcessLinks and its session list, its handle table is destroyed
// (ObjectTable = NULL), its threads leave both thread lists and its VADs go (address space
// cleaned); the EPROCESS stays while a handle to it is open (csrss.exe holds one to every
// process it serves) and keeps its PID reserved in PspCidTable until the object is deleted.
import type { Prng } from '../prng.js';
import type { KernelData } from './kernel-data.js';
import { EntryList, type ListNode, listNode, UNLINK_STYLES, type UnlinkStyle } from './lists.js';
import type { Struct, WinLayout } from './layout.js';
import { type HandleEntry, type HandleTable, buildHandleTable, isUsableHandle } from './handle-table.js';
import type { ObjectBlock } from './objects.js';
import type { Pool } from './pool.js';
import type { WProc } from './process.js';

/** A session's process-list head (in a page standing for its MM_SESSION_SPACE). */
export interface SessionHead {
  readonly node: ListNode;
  readonly va: bigint;
}

export interface KernelViews {
  readonly active: EntryList;
  readonly tables: Map<WProc, HandleTable>;
  readonly cid: HandleTable;
}

const ACCESS = { processXp: 0x1f0fff, process: 0x1fffff, file: [0x100001, 0x120089, 0x12019f, 0x100020] };

/** Handle values 4, 8, ... that the table can hand out. */
function handleValues(w: WinLayout, n: number): number[] {
  const out: number[] = [];
  for (let h = 4; out.length < n; h += 4) if (isUsableHandle(w, h)) out.push(h);
  return out;
}

/**
 * Link the processes: lists, handle tables, PspCidTable; apply exits and the DKOM of the
 * hidden ones (styles in turn from a random start, so both appear with two or more).
 */
export function linkKernelViews(w: WinLayout, pool: Pool, kd: KernelData, procs: readonly WProc[], sessions: ReadonlyMap<number, SessionHead>, files: readonly ObjectBlock[], rng: Prng): KernelViews {
  const running = (p: WProc) => p.plan.status !== 'exited';
  const inMemory = (p: WProc) => p.plan.exitKind !== 'freed';
  const system = procs[0]!;
  const isXp = w.build.name === 'winxpsp2x86';

  // Handle tables of running processes.
  const tables = new Map<WProc, HandleTable>();
  const csrss = procs.find((p) => p.plan.program.name === 'csrss.exe');
  for (const p of procs) {
    if (!running(p)) continue;
    const objects: { object: bigint; access: number }[] = [];
    if (p === csrss || p.plan.program.name === 'services.exe') {
      for (const q of procs) {
        if (q === p || !inMemory(q) || q.plan.id < p.plan.id) continue;
        if (p.plan.program.name === 'services.exe' && q.plan.ppid !== p.plan.pid) continue;
        objects.push({ object: q.ob.headerVa, access: isXp ? ACCESS.processXp : ACCESS.process });
      }
    }
    const nFiles = p === system ? 16 + rng.int(16) : 2 + rng.int(8);
    for (let i = 0; i < nFiles && files.length > 0; i += 1) objects.push({ object: rng.pick(files).headerVa, access: rng.pick(ACCESS.file) });
    rng.shuffle(objects);
    const values = handleValues(w, objects.length);
    const entries: HandleEntry[] = objects.map((o, i) => ({ handle: values[i]!, object: o.object, access: o.access }));
    // The kernel's own table (System's) charges no process: QuotaProcess NULL.
    const table = buildHandleTable(w, pool, 'paged', p === system ? undefined : { va: p.va, pid: p.plan.pid }, entries, false);
    if (p === system) table.s.set('UniqueProcessId', BigInt(p.plan.pid));
    tables.set(p, table);
    p.e.set('ObjectTable', table.va);
  }

  // PspCidTable: every process object still referenced, and the threads of running ones.
  const cidEntries: HandleEntry[] = [];
  for (const p of procs) {
    if (!inMemory(p)) continue;
    cidEntries.push({ handle: p.plan.pid, object: p.va, access: 0 });
    if (running(p)) for (const t of p.threads) cidEntries.push({ handle: t.plan.tid, object: t.va, access: 0 });
  }
  const cid = buildHandleTable(w, pool, 'paged', undefined, cidEntries, true);
  kd.setPointer('PspCidTable', cid.va);

  // HandleTableListHead → every table (not PspCidTable, which is off the list).
  const htHead = kd.struct('HandleTableListHead', '_LIST_ENTRY');
  const htList = new EntryList(headNode(htHead.s, htHead.va), [...tables.values()].map((t) => listNode(t.s, 'HandleTableList', t.va)));
  htList.write();

  // PsActiveProcessHead and the session lists, in creation order.
  const head = kd.struct('PsActiveProcessHead', '_LIST_ENTRY');
  const activeNode = new Map(procs.map((p) => [p, listNode(p.e, 'ActiveProcessLinks', p.va)]));
  const sessionNode = new Map(procs.map((p) => [p, listNode(p.e, 'SessionProcessLinks', p.va)]));
  const active = new EntryList(headNode(head.s, head.va), procs.map((p) => activeNode.get(p)!));
  const sessionLists = new Map<number, EntryList>();
  for (const [s, h] of sessions) sessionLists.set(s, new EntryList(h.node, procs.filter((p) => p.plan.program.session === s).map((p) => sessionNode.get(p)!)));

  // Exits, in the order they happened.
  const exited = procs.filter((p) => !running(p)).sort((a, b) => (a.plan.exitTime < b.plan.exitTime ? -1 : 1));
  for (const p of exited) {
    active.remove(activeNode.get(p)!);
    const s = p.plan.program.session;
    if (s !== undefined) sessionLists.get(s)!.remove(sessionNode.get(p)!);
  }
  // DKOM.
  const hidden = rng.shuffle(procs.filter((p) => p.plan.status === 'hidden'));
  const start = rng.int(UNLINK_STYLES.length);
  hidden.forEach((p, i) => {
    const style: UnlinkStyle = UNLINK_STYLES[(start + i) % UNLINK_STYLES.length]!;
    p.style = style;
    active.remove(activeNode.get(p)!, style);
    if (style === 'self') p.mutations.push('ActiveProcessLinks');
  });
  active.write();
  for (const l of sessionLists.values()) l.write();
  return { active, tables, cid };
}

/** A bare LIST_ENTRY (a list head) as a node: its own Flink/Blink. */
export function headNode(s: Struct, va: bigint): ListNode {
  return { struct: s, path: '', va };
}
