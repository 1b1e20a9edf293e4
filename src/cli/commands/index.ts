import type { Command } from 'commander';
import { register as dataset } from './dataset.js';
import { register as demo } from './demo.js';
import { register as evalCommand } from './eval.js';
import { register as fuzz } from './fuzz.js';
import { register as info } from './info.js';
import { register as layout } from './layout.js';
import { register as pslist } from './pslist.js';
import { register as scan } from './scan.js';
import { register as signature } from './signature.js';
import { register as synth } from './synth.js';
import { register as train } from './train.js';
import { register as xview } from './xview.js';

/** A subcommand module adds itself to the program. */
export type RegisterCommand = (program: Command) => void;

// One line per subcommand; keep alphabetical to keep merges quiet.
export const commands: RegisterCommand[] = [
  dataset,
  demo,
  evalCommand,
  fuzz,
  info,
  layout,
  pslist,
  scan,
  signature,
  synth,
  train,
  xview,
];
