// Detection metrics against ground truth: precision, recall, F1, the 95% Wilson score
// interval for a proportion, and false positives per GB.
//
// Wilson interval (E. B. Wilson, "Probable inference, the law of succession, and
// statistical inference", JASA 22 (1927) 209-212): for k successes in n trials,
// p = k/n and z the standard-normal quantile,
//   centre = (p + z²/2n) / (1 + z²/n)
//   half   = z / (1 + z²/n) · sqrt(p(1−p)/n + z²/4n²)
// It stays inside [0, 1] and is sane at k = 0 and k = n, where the normal approximation
// collapses to a zero-width interval — the common case for a good scanner (10/10 found).
import { errorFunction, probit } from 'simple-statistics';

/** A proportion k/n with its confidence interval; n = 0 gives value and bounds null. */
export interface Proportion {
  k: number;
  n: number;
  value: number | null;
  low: number | null;
  high: number | null;
}

export const DEFAULT_CONFIDENCE = 0.95;

/**
 * The two-sided standard-normal quantile for `confidence` (1.959964 for 0.95).
 * simple-statistics' probit (an inverse-erf approximation) is off by 3e-3 at 0.975
 * (1.95716), enough to move a Wilson bound in the fourth digit; two Newton steps on
 * Φ(z) = ½(1 + erf(z/√2)) with its errorFunction (error < 1.2e-7) bring z to 1e-7.
 */
export function zFor(confidence: number): number {
  if (!(confidence > 0 && confidence < 1)) throw new RangeError(`confidence must be in (0, 1), got ${confidence}`);
  const p = 1 - (1 - confidence) / 2;
  let z = probit(p);
  for (let i = 0; i < 2; i += 1) {
    const cdf = 0.5 * (1 + errorFunction(z / Math.SQRT2));
    const pdf = Math.exp((-z * z) / 2) / Math.sqrt(2 * Math.PI);
    z -= (cdf - p) / pdf;
  }
  return z;
}

/** k/n with its Wilson score interval at `confidence`. */
export function wilson(k: number, n: number, confidence = DEFAULT_CONFIDENCE): Proportion {
  if (!Number.isSafeInteger(k) || !Number.isSafeInteger(n) || k < 0 || n < 0 || k > n) {
    throw new RangeError(`wilson: need whole numbers 0 <= k <= n, got k=${k} n=${n}`);
  }
  if (n === 0) return { k, n, value: null, low: null, high: null };
  const z = zFor(confidence);
  const p = k / n;
  const z2n = (z * z) / n;
  const centre = (p + z2n / 2) / (1 + z2n);
  const half = (z / (1 + z2n)) * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n));
  // At k = 0 the low bound is exactly 0 and at k = n the high bound exactly 1; the
  // floating-point difference leaves ±1e-17 there.
  return { k, n, value: p, low: k === 0 ? 0 : Math.max(0, centre - half), high: k === n ? 1 : Math.min(1, centre + half) };
}

/** Harmonic mean of precision and recall; null when either is unknown, 0 when both are 0. */
export function f1(precision: number | null, recall: number | null): number | null {
  if (precision === null || recall === null) return null;
  if (precision + recall === 0) return 0;
  return (2 * precision * recall) / (precision + recall);
}

/** Bytes per GB in the figures (decimal, 10^9, like GB/s). */
export const BYTES_PER_GB = 1e9;

/** False positives per GB of scanned memory. */
export function perGb(count: number, bytes: number): number {
  if (!(bytes > 0)) throw new RangeError(`perGb: scanned bytes must be positive, got ${bytes}`);
  return count / (bytes / BYTES_PER_GB);
}

/** Scan rate in GB/s. */
export function gbPerSecond(bytes: number, seconds: number): number | null {
  return seconds > 0 ? bytes / BYTES_PER_GB / seconds : null;
}
