import type { Command } from 'commander';

/** A subcommand module adds itself to the program. */
export type RegisterCommand = (program: Command) => void;

/**
 * One loader per subcommand, keyed by its name (keep alphabetical to keep merges quiet).
 * Loaded on demand: `kcarve scan` imports the scan command's modules only, not those of
 * training, fuzzing, synthesis or datasets (bench/scan: module loading was a visible part
 * of a scan's fixed cost). `--help` and unknown names load them all.
 */
export const commandLoaders: Record<string, () => Promise<{ register: RegisterCommand }>> = {
  dataset: () => import('./dataset.js'),
  demo: () => import('./demo.js'),
  eval: () => import('./eval.js'),
  fuzz: () => import('./fuzz.js'),
  info: () => import('./info.js'),
  layout: () => import('./layout.js'),
  pslist: () => import('./pslist.js'),
  scan: () => import('./scan.js'),
  signature: () => import('./signature.js'),
  synth: () => import('./synth.js'),
  train: () => import('./train.js'),
  xview: () => import('./xview.js'),
};

/** The register functions of the named subcommand, or of all of them when `name` is not one. */
export async function loadCommands(name: string | undefined): Promise<RegisterCommand[]> {
  const names = name !== undefined && Object.hasOwn(commandLoaders, name) ? [name] : Object.keys(commandLoaders);
  const modules = await Promise.all(names.map((n) => commandLoaders[n]!()));
  return modules.map((m) => m.register);
}
