// A fuzz campaign's verdicts as the trainer uses them. The file (robustness.json,
// schema kcarve-robustness/1) is read and checked by the fuzzing code's own loader
// (../fuzz/robustness-schema.ts); here it becomes a lookup from member path to verdict,
// with union alternatives (tested once under one name, listed as `aliases`) expanded.
// With --robustness, only robust members may carry a required constraint or a required
// edge (Dolan-Gavitt et al., CCS 2009).
import { loadRobustness as loadRobustnessFile } from '../fuzz/robustness-schema.js';
import { pathCovers } from './attacker-fields.js';

export type RobustnessVerdict = 'robust' | 'fragile' | 'unknown';

export interface RobustnessFile {
  path: string;
  /** The type the verdicts are about (`task_struct`). */
  type: string;
  release: string;
  /** Member path → verdict (aliases expanded). */
  verdicts: Map<string, RobustnessVerdict>;
}

/** Read and check a robustness file (SignatureError naming the JSON path when it is not one). */
export function readRobustness(path: string): RobustnessFile {
  const rob = loadRobustnessFile(path);
  const verdicts = new Map<string, RobustnessVerdict>();
  for (const [p, m] of Object.entries(rob.members)) {
    verdicts.set(p, m.verdict);
    for (const a of m.aliases ?? []) verdicts.set(a, m.verdict);
  }
  return { path, type: rob.layout.type, release: rob.kernel.release, verdicts };
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
