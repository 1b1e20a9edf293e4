// Scan windows (ScanWindow in ./program.ts): validation with the native
// matcher's messages, and which offsets a window makes candidates.
import { UsageError } from '../errors.js';
import type { ScanWindow } from './program.js';
import { describe } from './validate.js';

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

function nonNegative(v: unknown, name: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new UsageError(`${name} must be a non-negative safe integer (got ${describe(v)})`);
  }
  return v;
}

/** Text naming a window in error messages (same as native). */
export function windowText(w: ScanWindow): string {
  return `scan window [${hex(w.start)}, ${hex(w.end)}) reads up to ${hex(w.limit)}`;
}

/**
 * Checks the shape of a window (UsageError on a bad one) and returns a clean
 * copy. Whether it fits the bytes or file it is used on is the caller's check.
 */
export function validateWindow(window: unknown): ScanWindow {
  if (typeof window !== 'object' || window === null) {
    throw new UsageError(`scan window must be an object (got ${describe(window)})`);
  }
  const o = window as Record<string, unknown>;
  const start = nonNegative(o.start, 'window.start');
  const end = nonNegative(o.end, 'window.end');
  const limit = nonNegative(o.limit, 'window.limit');
  const phase = nonNegative(o.phase, 'window.phase');
  if (end < start) throw new UsageError(`window.end (${hex(end)}) must not be less than window.start (${hex(start)})`);
  if (limit < end) throw new UsageError(`window.limit (${hex(limit)}) must not be less than window.end (${hex(end)})`);
  return { start, end, limit, phase };
}

/** validateWindow, plus: the window must lie inside a buffer of `length` bytes. */
export function validateBufferWindow(window: unknown, length: number): ScanWindow {
  const w = validateWindow(window);
  if (w.limit > length) {
    throw new UsageError(`${windowText(w)}, past the end of the buffer (${hex(length)} bytes)`);
  }
  return w;
}

/**
 * The first candidate of a window: the least c >= start with
 * (c - start + phase) % alignment == 0. Later ones follow every `alignment` bytes.
 */
export function firstCandidate(w: ScanWindow, alignment: number): number {
  return w.start + ((alignment - (w.phase % alignment)) % alignment);
}
