// Do synthetic task_structs look like real ones word by word? Measures the task profile
// (src/synth/linux/task-profile-measure.ts) of real images and of a synthetic world, and
// reports, per category, how many word-level invariants of the real tasks (every real
// sample of the category has the same kind of value: zero, the same self-offset, the same
// kernel-image offset, the same constant...) also hold for every synthetic task, and which
// do not, by member name. Those invariants are what a signature trained on real images
// would learn.
//
// Run: node --import tsx bench/synth-realism.ts REAL_DIR... [-- SYNTH_DIR]
//   without SYNTH_DIR a default world (kcarve synth defaults, seed 1) is built in a temp dir
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { synthesize } from '../src/synth/synthesize.js';
import { DEBIAN_6_1_0_57 } from '../src/synth/linux/builds.js';
import { linuxOffsets } from '../src/synth/linux/layout.js';
import { measureTaskProfile } from '../src/synth/linux/task-profile-measure.js';
import { type ProfileEntry, TASK_CATEGORIES } from '../src/synth/linux/task-profile.js';

const args = process.argv.slice(2);
const split = args.indexOf('--');
const realDirs = (split < 0 ? args : args.slice(0, split)).map((d) => d.replace(/\/$/, ''));
if (realDirs.length === 0) {
  process.stderr.write('usage: synth-realism.ts REAL_DIR... [-- SYNTH_DIR]\n');
  process.exit(1);
}
let synthDir = split < 0 ? undefined : args[split + 1];
let cleanup: string | undefined;
if (synthDir === undefined) {
  cleanup = mkdtempSync(join(tmpdir(), 'kcarve-realism-'));
  synthesize({ out: cleanup });
  synthDir = cleanup;
}

const o = linuxOffsets(DEBIAN_6_1_0_57);
const stack = o.layout.offsetOf('task_struct', 'stack');
const real = measureTaskProfile(realDirs, DEBIAN_6_1_0_57, stack);
const synth = measureTaskProfile([synthDir], DEBIAN_6_1_0_57, stack);
const leaves = o.layout.leaves('task_struct');
const memberAt = (off: number): string => {
  const hits = leaves.filter((l) => l.offset < off + 8 && l.offset + l.size > off).map((l) => l.path);
  return hits.length === 0 ? '(padding)' : hits.slice(0, 2).join(' / ');
};
/** The invariant of a word, if every sample agrees: kind plus parameter ('r' masks are not an invariant). */
const invariant = (entries: ProfileEntry[] | undefined): string | undefined => {
  if (entries === undefined) return 'z';
  if (entries.length !== 1 || entries[0]![0] === 'r') return undefined;
  const e = entries[0]!;
  return e.length > 2 ? `${e[0]}:${String(e[2])}` : e[0];
};

for (const c of TASK_CATEGORIES) {
  if (c === 'init') continue;
  const r = real.categories[c];
  const s = synth.categories[c];
  if (s.samples === 0) continue;
  let held = 0;
  let total = 0;
  const misses: string[] = [];
  for (let off = 0; off + 8 <= real.size; off += 8) {
    const inv = invariant(r.words[String(off)]);
    if (inv === undefined) continue;
    total += 1;
    const got = invariant(s.words[String(off)]);
    if (got === inv) held += 1;
    else misses.push(`+${off} ${memberAt(off)}: real ${inv}, synthetic ${got ?? JSON.stringify(s.words[String(off)]?.map((e) => e[0]))}`);
  }
  process.stdout.write(`${c.padEnd(8)} real samples ${String(r.samples).padStart(3)}, synthetic ${String(s.samples).padStart(4)}: ${held}/${total} real invariants hold (${((held / total) * 100).toFixed(1)} %)\n`);
  for (const m of misses.slice(0, 12)) process.stdout.write(`    ${m}\n`);
  if (misses.length > 12) process.stdout.write(`    ... ${misses.length - 12} more\n`);
}
if (cleanup) rmSync(cleanup, { recursive: true, force: true });
