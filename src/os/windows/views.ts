// The kernel's other views of its processes, for the cross-view (xview):
// - `ThreadListHead`: processes that have at least one thread on their executive thread
//   list whose owner pointer (ThreadsProcess / Tcb.Process, facts links) points back —
//   the scheduler still knows them. (The Linux view `thread-lists` reaches threads; this
//   one reaches processes, hence its own name.)
// - `PspCidTable`: processes whose id still maps to their body in the CID handle table
//   (it keeps a process until its object is deleted). Decoded from the table when the
//   PspCidTable symbol is given, else found by ./cid-search.ts.
// - `HandleTableList`: processes whose ObjectTable is on the kernel's ring of handle
//   tables (HandleTableListHead), reached from any carved process's table; DKOM on
//   ActiveProcessLinks does not take a process off it.
import { type PhysAddr, type VirtAddr, hex } from '../../addr.js';
import { InvalidAddressError } from '../../errors.js';
import type { ListWalkResult, ProcessRecord, ViewResult } from '../types.js';
import { searchCidPages, type Known } from './cid-search.js';
import { walkHandleTable } from './handle-table.js';
import type { WindowsKernelSpace } from './kernel-space.js';
import { type WinModel, readPtr, readSmall } from './model.js';

/** Threads followed per process at most. */
const THREAD_GUARD = 4096;
/** Handle tables followed on the ring at most. */
const TABLE_GUARD = 1 << 16;

interface Proc {
  pa: PhysAddr;
  va: VirtAddr;
  pid: number;
}

function ptrAt(m: WinModel, space: WindowsKernelSpace, pa: number): bigint | undefined {
  try {
    return readPtr(space.readPhys(pa as PhysAddr, m.ptr), 0, m.ptr);
  } catch {
    return undefined;
  }
}

function ptrAtVirt(m: WinModel, space: WindowsKernelSpace, va: bigint): bigint | undefined {
  const pa = space.tryTranslate(va);
  return pa === undefined ? undefined : ptrAt(m, space, pa);
}

/** The threads on a process's executive list that point back to it: their body VAs and ids. */
export function threadsOf(m: WinModel, space: WindowsKernelSpace, p: Proc): Known[] {
  const out: Known[] = [];
  const head = p.va + BigInt(m.ep.threadListHead);
  const seen = new Set<bigint>();
  let cur = ptrAt(m, space, p.pa + m.ep.threadListHead);
  while (cur !== undefined && cur !== head && m.isKernel(cur) && !seen.has(cur) && out.length < THREAD_GUARD) {
    seen.add(cur);
    const thread = cur - BigInt(m.et.listEntry);
    const tpa = space.tryTranslate(thread);
    if (tpa === undefined) break;
    let bytes: Uint8Array;
    try {
      bytes = space.readPhys(tpa, m.et.size);
    } catch {
      break;
    }
    if (readPtr(bytes, m.et.owner.offset, m.ptr) === p.va) out.push({ id: readSmall(bytes, 0, m.et.cidThread), va: thread });
    cur = readPtr(bytes, m.et.listEntry, m.ptr);
  }
  return out;
}

function procsOf(space: WindowsKernelSpace, walk: ListWalkResult, records: readonly ProcessRecord[]): Proc[] {
  const byPa = new Map<number, Proc>();
  for (const r of records) {
    const va = r.va ?? space.virtOfPhys(r.pa);
    if (va !== undefined) byPa.set(r.pa, { pa: r.pa, va, pid: r.pid ?? -1 });
  }
  for (const e of walk.entries) if (!byPa.has(e.pa)) byPa.set(e.pa, { pa: e.pa, va: e.va, pid: -1 });
  return [...byPa.values()];
}

/** The pa of the process body at `va`, when it is a known process or carries the process dispatcher type. */
function processAt(m: WinModel, space: WindowsKernelSpace, va: bigint, known: ReadonlySet<number>): PhysAddr | undefined {
  const pa = space.tryTranslate(va);
  if (pa === undefined) return undefined;
  if (known.has(pa)) return pa;
  try {
    return space.readPhys(pa, 1)[0] === m.facts.process_object.dispatcher_type ? pa : undefined;
  } catch {
    return undefined;
  }
}

function sorted(pas: Iterable<number>): PhysAddr[] {
  return [...new Set(pas)].sort((a, b) => a - b) as PhysAddr[];
}

export function threadListView(m: WinModel, space: WindowsKernelSpace, procs: readonly Proc[]): ViewResult {
  const pas: number[] = [];
  for (const p of procs) if (threadsOf(m, space, p).length > 0) pas.push(p.pa);
  return { name: 'ThreadListHead', pas: sorted(pas) };
}

export function cidTableView(m: WinModel, space: WindowsKernelSpace, procs: readonly Proc[], symbol: bigint | undefined): ViewResult {
  const known = new Set<number>(procs.map((p) => p.pa));
  let entries: { handle: number; object: VirtAddr }[];
  let note: string;
  if (symbol !== undefined) {
    const table = ptrAtVirt(m, space, symbol);
    if (table === undefined || !m.isKernel(table)) return { name: 'PspCidTable', pas: [], note: `the PspCidTable variable at ${hex(symbol)} holds no kernel pointer` };
    let t: ReturnType<typeof walkHandleTable>;
    try {
      t = walkHandleTable(m, space, table);
    } catch (err) {
      if (err instanceof InvalidAddressError) return { name: 'PspCidTable', pas: [], note: `the CID table at ${hex(table)} cannot be read: ${err.message}` };
      throw err;
    }
    entries = t.entries;
    note = `decoded from the table at ${hex(table)} (PspCidTable symbol ${hex(symbol)})${t.unreadable > 0 ? `; ${t.unreadable} page(s) unreadable` : ''}`;
  } else {
    const predictions: Known[] = [];
    for (const p of procs) {
      if (p.pid > 0) predictions.push({ id: p.pid, va: p.va });
      predictions.push(...threadsOf(m, space, p));
    }
    const s = searchCidPages(m, space, predictions);
    entries = s.entries;
    note = `no PspCidTable symbol: ${s.pages} CID page(s) found among ${s.pagesRead} kernel pool page(s) read (${s.ms.toFixed(0)} ms)`;
  }
  const pas: number[] = [];
  for (const e of entries) {
    const pa = processAt(m, space, e.object, known);
    if (pa === undefined) continue;
    // The entry's handle must be the process's id (a thread entry pointing at a process would not be).
    let pid: number;
    try {
      pid = readSmall(space.readPhys(pa, m.ep.size), 0, m.ep.pid);
    } catch {
      continue;
    }
    if (pid === e.handle) pas.push(pa);
  }
  return { name: 'PspCidTable', pas: sorted(pas), note };
}

export function handleTableListView(m: WinModel, space: WindowsKernelSpace, procs: readonly Proc[]): ViewResult {
  const known = new Set<number>(procs.map((p) => p.pa));
  const off = BigInt(m.ht.handleTableList);
  let start: bigint | undefined;
  for (const p of procs) {
    const t = ptrAt(m, space, p.pa + m.ep.objectTable);
    if (t !== undefined && t !== 0n && m.isKernel(t) && ptrAtVirt(m, space, t + off) !== undefined) {
      start = t + off;
      break;
    }
  }
  if (start === undefined) return { name: 'HandleTableList', pas: [], note: 'no carved process has a readable ObjectTable to start from' };
  const pas: number[] = [];
  const seen = new Set<bigint>([start]);
  let cur: bigint | undefined = start;
  let stopped: string | undefined;
  for (let n = 0; ; n += 1) {
    if (n >= TABLE_GUARD) {
      stopped = `longer than ${TABLE_GUARD} tables`;
      break;
    }
    const q = ptrAtVirt(m, space, cur! - off + BigInt(m.ht.quotaProcess));
    if (q !== undefined && q !== 0n && m.isKernel(q)) {
      const pa = processAt(m, space, q, known);
      if (pa !== undefined) pas.push(pa);
    }
    cur = ptrAtVirt(m, space, cur!);
    if (cur === undefined || !m.isKernel(cur)) {
      stopped = 'a HandleTableList link does not translate';
      break;
    }
    if (cur === start) break;
    if (seen.has(cur)) {
      stopped = `cycle at ${hex(cur)}`;
      break;
    }
    seen.add(cur);
  }
  return { name: 'HandleTableList', pas: sorted(pas), ...(stopped === undefined ? {} : { note: stopped }) };
}

export function windowsViews(m: WinModel, space: WindowsKernelSpace, walk: ListWalkResult, records: readonly ProcessRecord[], pspCidTable: bigint | undefined): ViewResult[] {
  const procs = procsOf(space, walk, records);
  return [threadListView(m, space, procs), cidTableView(m, space, procs, pspCidTable), handleTableListView(m, space, procs)];
}


