// Small synthetic Linux worlds for the training tests (32 MiB, a few dozen tasks,
// hidden, exited and decoys), written to a temporary directory.
import { synthesize } from '../../src/synth/synthesize.js';

export const WORLD_ARGS = { os: 'linux', size: '32M', procs: 16, threads: 6, hidden: 2, exited: 3, decoys: 6 } as const;

/** Write one world per seed under `dir(name)`; returns the IMAGE_DIRs. */
export function writeWorlds(dir: (name: string) => string, seeds: readonly number[]): string[] {
  return seeds.map((seed) => {
    const out = dir(`world-${seed}`);
    synthesize({ ...WORLD_ARGS, seed, out });
    return out;
  });
}
