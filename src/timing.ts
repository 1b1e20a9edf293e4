// Phase timings of one kcarve process, for finding fixed costs (bench/scan): with
// KCARVE_TIMING=1 in the environment, the CLI prints each timed phase to stderr when it
// ends, as milliseconds since the process started (performance.now() counts from the
// time origin of the process). Without it, timing costs one environment lookup per phase.
import { isMainThread } from 'node:worker_threads';

interface Phase {
  name: string;
  startMs: number;
  endMs: number;
}

const enabled = process.env.KCARVE_TIMING !== undefined && process.env.KCARVE_TIMING !== '' && process.env.KCARVE_TIMING !== '0';
const phases: Phase[] = [];

/** Is phase timing on (KCARVE_TIMING set to something other than "" or "0")? */
export function timingEnabled(): boolean {
  return enabled;
}

/** Record a phase that began at `startMs` (performance.now()) and ends now. */
export function endPhase(name: string, startMs: number): void {
  if (enabled && isMainThread) phases.push({ name, startMs, endMs: performance.now() });
}

/** Run `fn` as a named phase (a promise is timed until it settles). */
export function timePhase<T>(name: string, fn: () => T): T {
  if (!enabled) return fn();
  const start = performance.now();
  const out = fn();
  if (out instanceof Promise) {
    return out.finally(() => endPhase(name, start)) as T;
  }
  endPhase(name, start);
  return out;
}

/** The phases recorded so far, in the order they ended. */
export function recordedPhases(): readonly Phase[] {
  return phases;
}

/** Print the recorded phases to stderr (nothing when timing is off). */
export function reportTimings(stream: NodeJS.WritableStream = process.stderr): void {
  if (!enabled) return;
  const lines = [...phases]
    .sort((a, b) => a.startMs - b.startMs)
    .map((p) => `  ${p.startMs.toFixed(1).padStart(8)} .. ${p.endMs.toFixed(1).padStart(8)} ms  ${(p.endMs - p.startMs).toFixed(1).padStart(8)} ms  ${p.name}`);
  stream.write(`kcarve timing (ms since process start; total ${performance.now().toFixed(1)} ms):\n${lines.join('\n')}\n`);
}
