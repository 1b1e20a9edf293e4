import type { Command } from 'commander';
import { register as dataset } from './dataset.js';
import { register as fuzz } from './fuzz.js';
import { register as layout } from './layout.js';

/** A subcommand module adds itself to the program. */
export type RegisterCommand = (program: Command) => void;

// One line per subcommand; keep alphabetical to keep merges quiet.
export const commands: RegisterCommand[] = [
  dataset,
  fuzz,
  layout,
];
