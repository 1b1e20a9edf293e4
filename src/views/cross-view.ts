// Cross-view: join what the scan found with what the kernel's own structures reach (its
// process list, thread lists, pid links, children lists ...) and give each object a
// verdict with the evidence for it:
//   linked  reached by the kernel's process list, or a thread reached by the thread list
//           of a leader that is on the process list               (truth status `live`)
//   hidden  alive (the carver saw no exit evidence) and not linked (DKOM)   (`hidden`)
//   exited  not linked, and the carver saw exit evidence                    (`exited`)
// Being linked wins over exit evidence (a zombie is still on the list until it is
// reaped; the truth files count such an object as live); the row then carries a warning.
// A thread whose leader is hidden is hidden too, even though its leader's thread list
// reaches it (TRUTH.md: "threads of a hidden process are hidden too").
import { type PhysAddr, hex } from '../addr.js';
import type { ListWalkResult, ProcessRecord, ViewResult } from '../os/types.js';

export type Verdict = 'linked' | 'hidden' | 'exited';
export type TruthStatus = 'live' | 'hidden' | 'exited';

/** The truth schema's name for each verdict (/work/shared/TRUTH.md). */
export const STATUS_OF: Readonly<Record<Verdict, TruthStatus>> = { linked: 'live', hidden: 'hidden', exited: 'exited' };

/** The name the list walk goes by in `seenBy`. */
export const LIST_VIEW = 'list';
/** The name the scan goes by in `seenBy`. */
export const SCAN_VIEW = 'scan';
/** Views (OsSupport.views names) that reach threads from their thread-group leader. */
export const THREAD_VIEWS: readonly string[] = ['thread-lists'];

export interface CrossViewRow {
  pa: PhysAddr;
  /** The carved object: the scan's record, or one carved for an object only a view reached. */
  record?: ProcessRecord;
  verdict: Verdict;
  status: TruthStatus;
  /** Who saw the object: 'scan', 'list', then other views in the order given. */
  seenBy: string[];
  /** One sentence: why this verdict. */
  why: string;
  /** Disagreements a reader should look at (the scan missed a linked object, ...). */
  warnings: string[];
}

export interface CrossViewInput {
  /** The scan's records (accepted by the signature). */
  records: readonly ProcessRecord[];
  walk: ListWalkResult;
  /** Other views (OsSupport.views). */
  views: readonly ViewResult[];
  /** Records carved for objects a view reached but the scan did not report, by pa. */
  extra?: ReadonlyMap<number, ProcessRecord>;
}

function threadOf(record: ProcessRecord | undefined): boolean {
  return record?.leader === false && record.tgid !== undefined;
}

/** Rows for every object the scan or any view reached, ascending by pa. */
export function crossView(input: CrossViewInput): CrossViewRow[] {
  const scanned = new Map<number, ProcessRecord>(input.records.map((r) => [r.pa, r]));
  const onList = new Set<number>(input.walk.entries.map((e) => e.pa));
  const seen = new Map<number, string[]>();
  const see = (pa: number, name: string): void => {
    const names = seen.get(pa) ?? [];
    if (!names.includes(name)) names.push(name);
    seen.set(pa, names);
  };
  for (const pa of scanned.keys()) see(pa, SCAN_VIEW);
  for (const pa of onList) see(pa, LIST_VIEW);
  for (const v of input.views) for (const pa of v.pas) see(pa, v.name);

  const recordOf = (pa: number): ProcessRecord | undefined => scanned.get(pa) ?? input.extra?.get(pa);
  // Leaders on the process list, by pid: their thread lists make threads linked.
  const linkedLeaders = new Map<number, number>();
  for (const pa of onList) {
    const r = recordOf(pa);
    if (r?.pid !== undefined && r.leader !== false) linkedLeaders.set(r.pid, pa);
  }

  const rows: CrossViewRow[] = [];
  for (const [pa, seenBy] of [...seen].sort((a, b) => a[0] - b[0])) {
    const record = recordOf(pa);
    const exitEvidence = record?.exitEvidence ?? [];
    const warnings: string[] = [];
    if (!scanned.has(pa)) {
      warnings.push(
        `the scan did not report this object, though ${seenBy.join(', ')} reach${seenBy.length === 1 ? 'es' : ''} it` +
          (record === undefined ? ' (and it could not be carved)' : ''),
      );
    }
    let verdict: Verdict;
    let why: string;
    const threadView = seenBy.find((name) => THREAD_VIEWS.includes(name));
    const leaderPa = threadOf(record) ? linkedLeaders.get(record!.tgid!) : undefined;
    if (onList.has(pa)) {
      verdict = 'linked';
      why = "on the kernel's process list";
    } else if (threadView !== undefined && leaderPa !== undefined) {
      verdict = 'linked';
      why = `a thread of pid ${record!.tgid} (at ${hex(leaderPa)}, on the process list), reached by ${threadView}`;
    } else if (exitEvidence.length > 0) {
      verdict = 'exited';
      why = `not on the kernel's process list; exit evidence: ${exitEvidence.join('; ')}`;
    } else {
      verdict = 'hidden';
      const others = seenBy.filter((n) => n !== SCAN_VIEW);
      why =
        "alive (no exit evidence) and not reached by the kernel's process list" +
        (threadOf(record) && threadView !== undefined ? `; its leader pid ${record!.tgid} is not on the list either` : '') +
        (others.length > 0 ? `; still known to: ${others.join(', ')}` : '');
    }
    const tampered = record?.tampered ?? [];
    if (tampered.length > 0) warnings.push(`fields rewritten: ${tampered.join('; ')}`);
    if (verdict === 'linked' && exitEvidence.length > 0) {
      warnings.push(`linked, although the carver saw exit evidence: ${exitEvidence.join('; ')}`);
    }
    rows.push({ pa: pa as PhysAddr, ...(record === undefined ? {} : { record }), verdict, status: STATUS_OF[verdict], seenBy, why, warnings });
  }
  return rows;
}

/** Objects some view reached that the scan did not report (to be carved for the table). */
export function unscannedPas(input: Omit<CrossViewInput, 'extra'>): PhysAddr[] {
  const scanned = new Set<number>(input.records.map((r) => r.pa));
  const out = new Set<number>();
  for (const e of input.walk.entries) if (!scanned.has(e.pa)) out.add(e.pa);
  for (const v of input.views) for (const pa of v.pas) if (!scanned.has(pa)) out.add(pa);
  return [...out].sort((a, b) => a - b) as PhysAddr[];
}
