// Runs a TypeScript worker entry under tsx (Node 20 ignores --import in a
// worker's execArgv, so the worker registers tsx itself).
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
