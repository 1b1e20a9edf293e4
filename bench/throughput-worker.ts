// A bench worker: maps the image itself (as scan workers do) and keeps the
// mapping across jobs. Before a timed pass it may re-read its ranges untimed
// (warm), then waits at a barrier so that all workers start together, scans or
// sums its byte ranges and reports its start and end times.
import { parentPort } from 'node:worker_threads';
import { compileProgram, openImage, scanImage, sumU64 } from '../src/native/index.js';
import type { NativeImage } from '../src/native/index.js';
import type { Program } from '../src/signatures/program.js';

export interface WorkerJob {
  file: string;
  /** Undefined: the sumU64 baseline. */
  program?: Program;
  simd: boolean;
  io: 'map' | 'read';
  ranges: Array<[number, number]>;
  /** Re-read the ranges (untimed) right before the timed pass. */
  warm: boolean;
  /** Time the first pass over a mapping opened for this job (no warm-up). */
  freshMapping: boolean;
  barrier: Int32Array;
  workers: number;
}

export interface WorkerReply {
  t0: number;
  t1: number;
  hits: number[];
  sum: string;
}

function arriveAndWait(barrier: Int32Array, parties: number): void {
  Atomics.add(barrier, 0, 1);
  Atomics.notify(barrier, 0);
  for (let seen = Atomics.load(barrier, 0); seen < parties; seen = Atomics.load(barrier, 0)) {
    Atomics.wait(barrier, 0, seen, 100);
  }
}

let kept: NativeImage | undefined;

parentPort!.on('message', (job: WorkerJob) => {
  if (job.freshMapping || kept?.path !== job.file) {
    kept?.close();
    kept = openImage(job.file);
  }
  const image = kept;
  const program = job.program ? compileProgram(job.program, 'bench') : undefined;
  if (job.warm && !job.freshMapping) for (const [start, end] of job.ranges) sumU64(image, start, end);
  arriveAndWait(job.barrier, job.workers);
  const t0 = performance.timeOrigin + performance.now();
  const hits: number[] = [];
  let sum = 0n;
  for (const [start, end] of job.ranges) {
    if (program) {
      const limit = Math.min(image.size, end + program.span - 1);
      const found = scanImage(image, program, { start, end, limit, phase: start % program.alignment }, { simd: job.simd, io: job.io });
      for (const c of found) hits.push(c);
    } else {
      sum = (sum + sumU64(image, start, end, { simd: job.simd })) & 0xffff_ffff_ffff_ffffn;
    }
  }
  const t1 = performance.timeOrigin + performance.now();
  if (job.freshMapping) {
    image.close();
    kept = undefined;
  }
  const reply: WorkerReply = { t0, t1, hits, sum: sum.toString() };
  parentPort!.postMessage(reply);
});
