// Reading a fuzz campaign's verdicts (robustness.json, schema kcarve-robustness/1,
// written by `kcarve fuzz`, src/fuzz/report.ts): per member path of the fuzzed type,
// `verdict` robust | fragile | unknown, with union alternatives tested once under one
// name (`aliases`). With --robustness, only robust members may carry a required
// constraint or a required edge (Dolan-Gavitt et al., CCS 2009).
import { readFileSync } from 'node:fs';
import { UsageError } from '../errors.js';
import { pathCovers } from './attacker-fields.js';

export type RobustnessVerdict = 'robust' | 'fragile' | 'unknown';

export interface RobustnessFile {
  path: string;
  type: string;
  release: string;
  /** Member path → verdict (aliases expanded). */
  verdicts: Map<string, RobustnessVerdict>;
}

export function loadRobustness(path: string): RobustnessFile {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new UsageError(`--robustness ${path}: cannot read: ${(err as Error).message}`);
  }
  const d = doc as Record<string, unknown>;
  if (d['schema'] !== 'kcarve-robustness/1') {
    throw new UsageError(`--robustness ${path}: schema is ${JSON.stringify(d['schema'])}, expected "kcarve-robustness/1"`);
  }
  const members = d['members'];
  if (typeof members !== 'object' || members === null) throw new UsageError(`--robustness ${path}: $.members is missing`);
  const verdicts = new Map<string, RobustnessVerdict>();
  for (const [p, m] of Object.entries(members as Record<string, Record<string, unknown>>)) {
    const v = m['verdict'];
    if (v !== 'robust' && v !== 'fragile' && v !== 'unknown') {
      throw new UsageError(`--robustness ${path}: $.members[${JSON.stringify(p)}].verdict is ${JSON.stringify(v)}, expected robust, fragile or unknown`);
    }
    verdicts.set(p, v);
    if (Array.isArray(m['aliases'])) for (const a of m['aliases']) if (typeof a === 'string') verdicts.set(a, v);
  }
  const layout = (d['layout'] ?? {}) as Record<string, unknown>;
  const kernel = (d['kernel'] ?? {}) as Record<string, unknown>;
  return { path, type: String(layout['type'] ?? ''), release: String(kernel['release'] ?? ''), verdicts };
}

/** Verdict for one member path: its own, else that of a member containing it (an unexpanded array, a string). */
export function verdictOfPath(rob: RobustnessFile, path: string): RobustnessVerdict {
  const own = rob.verdicts.get(path);
  if (own) return own;
  for (const [p, v] of rob.verdicts) if (pathCovers(p, path)) return v;
  return 'unknown';
}

/**
 * Verdict for bytes several members share (a bitfield storage unit, union
 * alternatives): robust only when every member is; fragile when any is.
 */
export function verdictOfPaths(rob: RobustnessFile, paths: readonly string[]): RobustnessVerdict {
  const vs = paths.map((p) => verdictOfPath(rob, p));
  if (vs.includes('fragile')) return 'fragile';
  return vs.every((v) => v === 'robust') ? 'robust' : 'unknown';
}
