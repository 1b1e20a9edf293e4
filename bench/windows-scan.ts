// The Windows accuracy and evasion table of issue 5: for each build, a synthetic world
// without attack and one per attack of the matrix (each applied to every hidden
// process), scanned with kcarve's signature and with the Volatility-psscan baseline;
// found / total per status and false positives. Also per build: discovery (DTB against
// the truth), the reverse map's cost, and which exit evidence fires on which status.
//
// Run: node --import tsx bench/windows-scan.ts [--size 64M] [--seed 1] [--builds a,b] [--attacks a,b]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WINDOWS_BUILDS, type WindowsBuild, windowsBaselinePath, windowsSignaturePath } from '../src/os/windows/index.js';
import { type HitScore, scoreHits } from '../src/eval/score.js';
import { openWindowsTruth, scoreRecords, type RecordScore } from '../src/os/windows/measure-signature.js';
import { loadTruth } from '../src/train/truth-file.js';
import { windowsKernelSpace } from '../src/os/windows/kernel-space.js';
import { runScan } from '../src/scan/index.js';
import { synthesize } from '../src/synth/synthesize.js';

const args = process.argv.slice(2);
const opt = (name: string, fallback: string): string => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1]! : fallback;
};
const size = opt('--size', '64M');
const seed = Number(opt('--seed', '1'));
const builds = opt('--builds', WINDOWS_BUILDS.join(',')).split(',') as WindowsBuild[];
const MATRIX = ['pool-tag', 'dispatcher-type', 'dispatcher-size', 'create-time-zero', 'name-first-byte', 'pid-not-div4', 'active-links-zero', 'pool-index'];
const attacks = ['', ...opt('--attacks', [...MATRIX, 'pool-tag,name-first-byte,create-time-zero'].join(';')).split(';')];
const world = { procs: 40, threads: 8, hidden: 4, exited: 8, decoys: 12 };

const cell = (s: { found: number; total: number }): string => `${s.found}/${s.total}`;
// live, hidden and false positives as kcarve eval scores them (src/eval/score.ts); the
// exited objects split by Windows exit kind (terminated / freed) from scoreRecords.
const row = (attack: string, who: string, e: HitScore, s: RecordScore): string =>
  `| ${attack || '(none)'} | ${who} | ${cell(e.byStatus.live)} | ${cell(e.byStatus.hidden)} | ${cell(s.terminated)} | ${cell(s.freed)} | ${s.freedBroken.found}/${s.freedBroken.total} | ${e.falsePositives} |`;

const tmp = mkdtempSync(join(tmpdir(), 'kcarve-winscan-'));
try {
  console.log(`Synthetic worlds: ${size}, seed ${seed}, ${JSON.stringify(world)}; attacks apply to the hidden processes.\n`);
  for (const build of builds) {
    console.log(`### ${build}\n`);
    console.log('| attack | signature | live | hidden | terminated | freed (intact) | freed (residue gone) | FP |');
    console.log('|---|---|---|---|---|---|---|---|');
    const notes: string[] = [];
    for (const attack of attacks) {
      const out = join(tmp, `${build}-${attack.replace(/[^a-z0-9]+/g, '_') || 'none'}`);
      synthesize({ os: 'windows', build, seed, size, ...world, ...(attack ? { attack } : {}), out });
      const truth = openWindowsTruth(out);
      const truthObjects = loadTruth(join(out, 'truth.json')).objects;
      for (const [who, sig] of [
        ['kcarve', windowsSignaturePath(build)],
        ['vol3-psscan', windowsBaselinePath(build)],
      ] as const) {
        const t0 = performance.now();
        const r = await runScan({ image: join(out, 'memory.raw'), os: 'windows', signature: sig, workers: 0 });
        const ms = performance.now() - t0;
        const s = scoreRecords(truth, r.records);
        const e = scoreHits(truthObjects, r.records, r.image.mappedSize, { strict: true });
        console.log(row(attack, who, e, s));
        if (attack === '' && who === 'kcarve') {
          const space = windowsKernelSpace(truth.image, r.kernel!);
          const rm = space.reverseMap().stats;
          notes.push(
            `kcarve scan ${ms.toFixed(0)} ms (value ${r.timings.valuePassMs.toFixed(0)}, discovery ${r.timings.discoverMs.toFixed(0)}, graph ${r.timings.graphPassMs.toFixed(0)}); ` +
              `${r.stats.candidates} candidates; DTB ${r.kernel!.dtb} (truth ${truth.layout['dtb']}); list head ${r.kernel!.windows?.listHead} (truth ${truth.layout['PsActiveProcessHead_va']}); ` +
              `reverse map ${rm.smallRuns} 4K runs + ${rm.largeRuns} large runs over ${(rm.mappedBytes / 2 ** 20).toFixed(0)} MiB of kernel VA, built in ${rm.buildMs.toFixed(0)} ms`,
          );
          const evidence = new Map<string, Map<string, number>>();
          const statusOf = new Map(truth.objects.map((o) => [o.pa as number, o.status === 'exited' ? `exited/${o.exitKind}` : o.status]));
          for (const rec of r.records) {
            const st = statusOf.get(rec.pa) ?? 'FP';
            for (const e of rec.exitEvidence ?? []) {
              const key = e.replace(/\(.*\)/, '').trim();
              const m = evidence.get(key) ?? new Map<string, number>();
              m.set(st, (m.get(st) ?? 0) + 1);
              evidence.set(key, m);
            }
          }
          for (const [k, m] of evidence) notes.push(`exit evidence "${k}": ${[...m].map(([st, n]) => `${st} ${n}`).join(', ')}`);
        }
      }
      truth.image.close();
    }
    console.log('');
    for (const n of notes) console.log(`- ${n}`);
    console.log('');
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
