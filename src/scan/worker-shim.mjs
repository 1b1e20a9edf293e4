// Runs the TypeScript scan worker in a piscina worker thread when kcarve runs from
// source (vitest, tsx): Node 20 ignores `--import tsx` in a worker's execArgv, so the
// worker registers tsx itself and re-exports the handler named by workerData.entry.
// The compiled package (dist/) never uses this file: piscina loads dist/scan/worker.js.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
const handler = await import(workerData.entry);
export default handler.default;
