// Where scan tasks run: a piscina pool of worker threads, or (workers = 0) this thread.
// Both call the default export of the same worker module (./worker.ts), so one worker,
// many workers and none run the same code. A pool can be reused across scans (a corpus
// run keeps one pool for many images).
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Piscina as PiscinaClass } from 'piscina';
import { UsageError } from '../errors.js';
import type { ScanTask, TaskHandler, TaskResult } from './messages.js';

export const MAX_WORKERS = 256;

export interface ScanPool {
  /** Worker threads; 0 means tasks run in the calling thread. */
  readonly workers: number;
  /** Run a task. Rejects when the worker throws or dies (a worker failure). */
  run(task: ScanTask): Promise<TaskResult>;
  /** Close what the pool's threads keep open for this scan (where it can reach them). */
  release(scanId: string): void;
  close(): Promise<void>;
}

export interface ScanPoolOptions {
  /** Worker threads, 0..256; 0 runs tasks in this thread. Default: the CPUs available. */
  workers?: number;
  /**
   * URL of the module whose default export handles tasks (a TaskHandler). Default: the
   * scan worker next to this file. Tests substitute one that fails on purpose.
   */
  workerEntry?: string;
}

/** The scan worker module beside this file: worker.js in dist/, worker.ts in the sources. */
export function defaultWorkerEntry(): string {
  const fromSource = import.meta.url.endsWith('.ts');
  return new URL(fromSource ? './worker.ts' : './worker.js', import.meta.url).href;
}

export function defaultWorkerCount(): number {
  return availableParallelism();
}

export function checkWorkers(workers: unknown): number {
  if (typeof workers !== 'number' || !Number.isSafeInteger(workers) || workers < 0 || workers > MAX_WORKERS) {
    throw new UsageError(`workers must be an integer from 0 to ${MAX_WORKERS} (got ${String(workers)})`);
  }
  return workers;
}

interface WorkerModule {
  default: TaskHandler;
  releaseScan?: (scanId: string) => void;
}

async function inProcessPool(entry: string): Promise<ScanPool> {
  const mod = (await import(entry)) as WorkerModule;
  return {
    workers: 0,
    run: (task) => mod.default(task),
    release: (scanId) => mod.releaseScan?.(scanId),
    close: async () => undefined,
  };
}

/**
 * The parent's Node options minus module loaders (`--import`, `--loader`): a process
 * started with `--import tsx` would otherwise load tsx's hooks in every worker and run
 * each module the worker loads through them, which made fresh pools several times slower
 * (bench/scan). Compiled workers need no loader, and the TypeScript shim registers tsx
 * itself.
 */
export function workerExecArgv(execArgv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const a = execArgv[i]!;
    if (a === '--import' || a === '--loader' || a === '--experimental-loader') {
      i++; // and its value
      continue;
    }
    if (/^--(import|loader|experimental-loader)=/.test(a)) continue;
    out.push(a);
  }
  return out;
}

function threadPool(entry: string, workers: number): ScanPool {
  // A TypeScript entry (kcarve running from source) goes through the shim, which
  // registers tsx inside the worker; compiled entries are loaded directly.
  const typescript = entry.endsWith('.ts');
  // Loaded here, not at import: piscina takes ~60 ms to load, which a scan in this thread
  // (--workers 0) need not pay. It is CommonJS, so a synchronous require can load it.
  const { Piscina } = createRequire(import.meta.url)('piscina') as { Piscina: typeof PiscinaClass };
  const piscina = new Piscina<ScanTask, TaskResult>({
    filename: typescript ? fileURLToPath(new URL('./worker-shim.mjs', import.meta.url)) : fileURLToPath(entry),
    ...(typescript ? { workerData: { entry } } : {}),
    minThreads: workers,
    maxThreads: workers,
    concurrentTasksPerWorker: 1,
    execArgv: workerExecArgv(process.execArgv),
    // Tasks are queued up front; piscina's default maxQueue would refuse a big plan.
    maxQueue: Number.POSITIVE_INFINITY,
  });
  return {
    workers,
    run: (task) => piscina.run(task),
    release: () => undefined,
    close: () => piscina.destroy(),
  };
}

export async function createScanPool(options: ScanPoolOptions = {}): Promise<ScanPool> {
  const workers = checkWorkers(options.workers ?? defaultWorkerCount());
  const entry = options.workerEntry ?? defaultWorkerEntry();
  return workers === 0 ? inProcessPool(entry) : threadPool(entry, workers);
}
