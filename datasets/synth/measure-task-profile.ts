// Measure the task_struct profile the synthetic Linux world draws from, from real images
// built by `kcarve dataset linux` (truth.json + memory.raw in each directory).
// Run: node --import tsx datasets/synth/measure-task-profile.ts OUT.json DATASET_DIR...
// e.g. node --import tsx datasets/synth/measure-task-profile.ts signatures/synth/linux-6.1.0-57-amd64.task-profile.json /work/wt/datasets/datasets/build/train/*/
import { writeFileSync } from 'node:fs';
import { DEBIAN_6_1_0_57 } from '../../src/synth/linux/builds.js';
import { measureTaskProfile, taskProfileJson } from '../../src/synth/linux/task-profile-measure.js';
import { loadLayout } from '../../src/types/load.js';

const [out, ...dirs] = process.argv.slice(2);
if (out === undefined || dirs.length === 0) {
  process.stderr.write('usage: measure-task-profile.ts OUT.json DATASET_DIR...\n');
  process.exit(1);
}
const layout = loadLayout(DEBIAN_6_1_0_57.btfPath);
const profile = measureTaskProfile(dirs.map((d) => d.replace(/\/$/, '')), DEBIAN_6_1_0_57, layout.offsetOf('task_struct', 'stack'));
writeFileSync(out, taskProfileJson(profile));
for (const [c, v] of Object.entries(profile.categories)) process.stdout.write(`${c}: ${v.samples} samples, ${Object.keys(v.words).length} non-zero words\n`);
