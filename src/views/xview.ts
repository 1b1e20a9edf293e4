// `runXview(options)`: the scan, the kernel's process list and the other views the OS
// support knows (thread lists, pid links, children, ...), joined by physical address into
// one row per object with a verdict — linked, hidden or exited — and its evidence
// (./cross-view.ts). Objects a view reaches that the scan did not report are carved on
// the main thread so their rows say what they are, and carry a warning.
import type { ProcessRecord, ViewResult } from '../os/types.js';
import type { OpenScan, RunScanOptions } from '../scan/open-scan.js';
import { type DetectionReport, type ScanResult, runForTarget, scanOpen } from '../scan/run-scan.js';
import { carveObject, verifyContext } from '../scan/verify.js';
import { type CrossViewRow, type Verdict, crossView, unscannedPas } from './cross-view.js';
import { type WalkSummary, summarizeWalk } from './pslist.js';

export const XVIEW_RESULT_SCHEMA = 'kcarve-xview/1';

export interface XviewResult {
  schema: typeof XVIEW_RESULT_SCHEMA;
  /** The scan as `kcarve scan` reports it (identity, kernel, records, missed, ...). */
  scan: ScanResult;
  walk: WalkSummary;
  /** The other views: how many objects each reached, and why it stopped if it did. */
  views: { name: string; reached: number; note?: string }[];
  /** One row per object the scan or any view reached, ascending by pa. */
  rows: CrossViewRow[];
  counts: Record<Verdict, number>;
  timings: { viewsMs: number; totalMs: number };
  detection?: DetectionReport;
}

async function xviewOpen(scan: OpenScan, hash: RunScanOptions['hash']): Promise<XviewResult> {
  const result = await scanOpen(scan, hash);
  const t = performance.now();
  const { session } = scan;
  let walk: { entries: { pa: ProcessRecord['pa']; va: NonNullable<ProcessRecord['va']> }[]; stoppedBecause?: string } = {
    entries: [],
    stoppedBecause: 'no kernel address space was found (no candidates), so no list was walked',
  };
  let views: ViewResult[] = [];
  const extra = new Map<number, ProcessRecord>();
  if (result.kernel !== undefined) {
    const space = session.kernelSpace(result.kernel);
    walk = session.os.walkList(session.image, session.sig, space, result.kernel, scan.hints);
    views = session.os.views(session.image, session.sig, space, result.kernel, walk, result.records);
    const ctx = verifyContext(scan.sig, session.os, space, result.kernel);
    for (const pa of unscannedPas({ records: result.records, walk, views })) {
      const c = carveObject(ctx, pa);
      if (c.kind === 'record') extra.set(pa, c.record);
    }
  }
  const rows = crossView({ records: result.records, walk, views, extra });
  const counts: Record<Verdict, number> = { linked: 0, hidden: 0, exited: 0 };
  for (const r of rows) counts[r.verdict] += 1;
  const viewsMs = performance.now() - t;
  return {
    schema: XVIEW_RESULT_SCHEMA,
    scan: result,
    walk: summarizeWalk(walk),
    views: views.map((v) => ({ name: v.name, reached: v.pas.length, ...(v.note === undefined ? {} : { note: v.note }) })),
    rows,
    counts,
    timings: { viewsMs, totalMs: performance.now() - scan.started },
  };
}

/** Cross-view of one image (see runForTarget for `os: 'auto'`). */
export async function runXview(options: RunScanOptions): Promise<XviewResult> {
  const { result, detection } = await runForTarget(options, (scan) => xviewOpen(scan, options.hash), (r) => r.scan.records.length);
  return detection === undefined ? result : { ...result, detection };
}
