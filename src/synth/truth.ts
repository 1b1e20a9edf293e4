// truth.json of a synthetic world: schema kcarve-truth/1 (../shared/TRUTH.md), the same
// shape the real-image builder writes (src/datasets/linux/truth.ts), so a result on a
// synthetic world and on a real image mean the same thing.
import { writeFileSync } from 'node:fs';
import { TRUTH_SCHEMA } from '../datasets/linux/truth.js';
import { ImageIOError } from '../errors.js';

export { TRUTH_SCHEMA };

/** What every world records per process object (Linux adds state/flags, Windows its own keys). */
export interface SynthTruthTask {
  status: 'live' | 'hidden' | 'exited';
  pid: number;
  tgid: number;
  ppid: number;
  comm: string;
  leader: boolean;
  on_tasks_list: boolean;
  va: string;
  pa: string;
  /** Fields of this object an attacker changed (DKOM unlinking included). */
  mutations: string[];
  /** Exited objects: are pid, tgid and comm still intact at pa + offset in the image? */
  residue?: { pid: boolean; tgid: boolean; comm: boolean };
}

/** A structure copy, stray name or look-alike placed to trip weak signatures. */
export interface SynthDecoy {
  kind: string;
  pa: string;
  /** What it imitates or why it is there. */
  note: string;
}

export interface SynthBuildInfo {
  generator: 'kcarve synth';
  kcarve_version: string;
  /** The arguments the world was made from (the same arguments give the same bytes). */
  params: Record<string, string | number | boolean>;
  note: string;
}

export interface SynthTruth<T extends SynthTruthTask = SynthTruthTask> {
  schema: typeof TRUTH_SCHEMA;
  os: string;
  image: Record<string, string>;
  kernel: Record<string, unknown>;
  layout: Record<string, string>;
  offsets: Record<string, { size: number; alloc_size?: number; fields: Record<string, number> }>;
  tasks: T[];
  /** Synthetic worlds list their decoys, so false positives can be explained. */
  decoys: SynthDecoy[];
  build: SynthBuildInfo;
}

/** The truth as JSON text: stable key order (insertion order), one space indent, final newline. */
export function truthJson(truth: SynthTruth): string {
  return `${JSON.stringify(truth, null, 1)}\n`;
}

export function writeTruth(path: string, truth: SynthTruth): void {
  try {
    writeFileSync(path, truthJson(truth));
  } catch (err) {
    throw new ImageIOError(path, undefined, `cannot write truth: ${(err as Error).message}`, { cause: err });
  }
}
