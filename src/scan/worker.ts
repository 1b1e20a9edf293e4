// The scan worker: runs one ScanTask (./messages.ts) and returns its result. Piscina
// loads this module in each worker thread (compiled, from dist/; under vitest or tsx
// through ./worker-shim.mjs), and `--workers 0` calls the same default export in the
// main thread: one code path however many workers there are.
//
// A worker opens the image itself from the task's descriptor and keeps what it opened
// for the scan (keyed by scanId; the oldest scans are closed after MAX_KEPT).
//
// KcarveErrors are returned as TaskFailed data (the main thread decides whether they
// end the scan or mark a range missed); anything else is a bug and is thrown, which
// fails the task and is reported as a worker failure.
import { KcarveError } from '../errors.js';
import { type CompiledProgram, type NativeImage, compileProgram, openImage, scanImage } from '../native/index.js';
import { keep } from './kept.js';
import { type ScanTask, type TaskResult, type ValueDone, type ValueTask, serializeError } from './messages.js';
import { chunkPhys } from './plan.js';

interface ValueState {
  image: NativeImage;
  program: CompiledProgram;
}

/** Insertion-ordered: the first entry is the oldest. */
const valueStates = new Map<string, ValueState>();
let graphLoaded = false;

function valueState(task: ValueTask): ValueState {
  const kept = valueStates.get(task.scanId);
  if (kept !== undefined) return kept;
  const image = openImage(task.image.path);
  try {
    const program = compileProgram(task.program, task.programSource);
    return keep(valueStates, task.scanId, { image, program }, (s) => s.image.close());
  } catch (err) {
    image.close();
    throw err;
  }
}

function runValue(task: ValueTask): ValueDone {
  const t0 = performance.now();
  const { image, program } = valueState(task);
  const { chunk } = task;
  const offsets = scanImage(image, program, chunk.window, task.io === undefined ? {} : { io: task.io });
  // File offsets → physical addresses, in place (the chunk is file-contiguous).
  for (let i = 0; i < offsets.length; i++) offsets[i] = chunkPhys(chunk, offsets[i]!);
  return { kind: 'value', ok: true, chunkIndex: chunk.index, hits: offsets, ms: performance.now() - t0 };
}

/** Run one task. The default export: piscina's handler and the in-process pool's. */
export default async function handleTask(task: ScanTask): Promise<TaskResult> {
  try {
    // The graph pass loads signatures, layouts and OS code: only when a graph task comes.
    if (task.kind === 'value') return runValue(task);
    const { runGraph } = await import('./graph-worker.js');
    graphLoaded = true;
    return await runGraph(task);
  } catch (err) {
    if (err instanceof KcarveError) return { kind: task.kind, ok: false, error: serializeError(err) };
    throw err;
  }
}

/** Close what this thread keeps for a scan (the in-process pool calls it when a scan ends). */
export function releaseScan(scanId: string): void {
  valueStates.get(scanId)?.image.close();
  valueStates.delete(scanId);
  if (graphLoaded) void import('./graph-worker.js').then((g) => g.releaseGraphScan(scanId));
}
