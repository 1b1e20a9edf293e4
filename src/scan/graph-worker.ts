// The graph pass of the scan worker (./worker.ts loads this module on the first graph
// task, so value-pass workers never load signatures, layouts or OS code).
import type { PhysAddr } from '../addr.js';
import type { FilePhysical } from '../layers/file-physical.js';
import { openImageRuns } from '../layers/open-image.js';
import { resolveOsRef } from '../os/index.js';
import type { ProcessRecord } from '../os/types.js';
import { scanSignature } from './signature-cache.js';
import { type GraphDone, type GraphTask, NO_REJECTIONS, type Unverified } from './messages.js';
import { type VerifyContext, verifyCandidate, verifyContext } from './verify.js';
import { keep } from './kept.js';

interface GraphState {
  physical: FilePhysical;
  verify: VerifyContext;
}

/** Insertion-ordered: the first entry is the oldest. */
const graphStates = new Map<string, Promise<GraphState>>();

async function openGraphState(task: GraphTask): Promise<GraphState> {
  const os = await resolveOsRef(task.os);
  const { file, doc, layout } = task.signature;
  const sig = scanSignature(doc, file, layout, true);
  const d = task.image;
  const physical = openImageRuns(d.path, d.format, d.runs, d.detail);
  try {
    const space = os.kernelSpace(physical, task.kernel);
    return { physical, verify: verifyContext(sig, os, space, task.kernel) };
  } catch (err) {
    physical.close();
    throw err;
  }
}

async function graphState(task: GraphTask): Promise<GraphState> {
  const kept = graphStates.get(task.scanId);
  if (kept !== undefined) return kept;
  const opening = openGraphState(task);
  keep(graphStates, task.scanId, opening, (p) => void p.then((s) => s.physical.close(), () => undefined));
  try {
    return await opening;
  } catch (err) {
    graphStates.delete(task.scanId);
    throw err;
  }
}

export async function runGraph(task: GraphTask): Promise<GraphDone> {
  const t0 = performance.now();
  const { verify } = await graphState(task);
  const records: ProcessRecord[] = [];
  const rejected = { ...NO_REJECTIONS };
  const unverified: Unverified[] = [];
  for (const candidate of task.candidates) {
    const pa = candidate as PhysAddr;
    const v = verifyCandidate(verify, pa);
    if (v.kind === 'record') records.push(v.record);
    else if (v.kind === 'rejected') rejected[v.why] += 1;
    else unverified.push({ pa, reason: v.reason });
  }
  return { kind: 'graph', ok: true, batchIndex: task.batchIndex, records, rejected, unverified, ms: performance.now() - t0 };
}

/** Close what this thread keeps for a scan's graph pass. */
export function releaseGraphScan(scanId: string): void {
  const g = graphStates.get(scanId);
  graphStates.delete(scanId);
  void g?.then((s) => s.physical.close(), () => undefined);
}
