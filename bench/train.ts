// Seconds to train a task_struct signature from 5 images of 256 MiB (goal: < 30 s,
// issue 6). Not a test: the figure depends on the machine and on what else runs on it,
// so wall-clock and CPU seconds are both printed, per training step.
//
// Run: npm run bench:train [-- IMAGE_DIR...]
// Trains twice: without and (when signatures/robustness/ ships one) with the fuzz verdicts.
// Without arguments it takes the first five 256 MiB real images under
// datasets/build/train/ (built by `kcarve dataset`), else writes five synthetic
// 256 MiB worlds to a temporary directory (their writing is not timed).
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { synthesize } from '../src/synth/synthesize.js';
import { train } from '../src/train/train.js';
import { loadLayout, shippedKernelBtfPath } from '../src/types/load.js';

const SIZE = 256 * 1024 * 1024;
const root = join(fileURLToPath(import.meta.url), '..', '..');

function realImages(): string[] {
  const base = join(root, 'datasets', 'build', 'train');
  if (!existsSync(base)) return [];
  return readdirSync(base)
    .sort()
    .map((d) => join(base, d))
    .filter((d) => existsSync(join(d, 'truth.json')) && existsSync(join(d, 'memory.raw')) && statSync(join(d, 'memory.raw')).size === SIZE)
    .slice(0, 5);
}

let dirs = process.argv.slice(2);
let scratch: string | undefined;
let source = 'given';
if (dirs.length === 0) {
  dirs = realImages();
  source = 'real images (datasets/build/train)';
}
if (dirs.length < 5 && process.argv.length <= 2) {
  scratch = mkdtempSync(join(tmpdir(), 'kcarve-bench-train-'));
  source = 'synthetic worlds (kcarve synth, 256 MiB, seeds 1-5)';
  dirs = [1, 2, 3, 4, 5].map((seed) => {
    const out = join(scratch!, `world-${seed}`);
    synthesize({ os: 'linux', seed, size: '256M', procs: 60, threads: 30, hidden: 3, exited: 6, decoys: 12, out });
    return out;
  });
}

/** One timed training; robustness: the shipped fuzz campaign's verdicts, when given. */
function run(layout: ReturnType<typeof loadLayout>, robustnessPath?: string): void {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const r = train({ type: 'task_struct', layout, imageDirs: dirs, crossValidate: false, ...(robustnessPath ? { robustnessPath } : {}) });
  const seconds = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  const cpuSeconds = (c.user + c.system) / 1e6;
  const gib = r.model.images.reduce((s, i) => s + i.mappedBytes, 0) / 2 ** 30;
  const line = {
    source,
    robustness: robustnessPath ?? null,
    images: dirs.length,
    gib: Number(gib.toFixed(3)),
    seconds: Number(seconds.toFixed(2)),
    cpuSeconds: Number(cpuSeconds.toFixed(2)),
    goalSeconds: 30,
    steps: Object.fromEntries(Object.entries(r.model.seconds).map(([k, v]) => [k, { wall: Number(v.toFixed(2)), cpu: Number((r.model.cpuSeconds[k] ?? 0).toFixed(2)) }])),
    checkSeconds: Number(r.seconds.check.toFixed(2)),
    constraints: r.model.constraints.length,
    edges: r.model.edges.length,
    fpPerGiB: r.model.selection.fpPerGiB,
    fpPerGiBAfterGraph: r.doc.provenance?.fpPerGiBAfterGraph,
    reachedTarget: r.model.selection.reachedTarget,
    maxRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
    loadAverage: loadavg().map((x) => Number(x.toFixed(2))),
  };
  process.stdout.write(`${JSON.stringify(line)}\n`);
  process.stdout.write(
    `trained on ${dirs.length} images (${gib.toFixed(2)} GiB, ${source})${robustnessPath ? ' with the fuzz verdicts' : ''} in ${seconds.toFixed(1)} s wall, ${cpuSeconds.toFixed(1)} s CPU ` +
      `(goal < 30 s; load average ${line.loadAverage.join(' ')}): ${line.constraints} constraints, ${line.edges} edges, ${line.fpPerGiB.toFixed(3)} FP/GiB from the value constraints${line.reachedTarget ? '' : ' (target 0.1 not met)'}, ${(line.fpPerGiBAfterGraph ?? 0).toFixed(3)} after the graph check\n`,
  );
}

try {
  const layout = loadLayout(shippedKernelBtfPath());
  run(layout);
  const shipped = join(root, 'signatures', 'robustness', 'linux-6.1.0-57-amd64.robustness.json');
  if (existsSync(shipped)) run(layout, shipped);
} finally {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
}
