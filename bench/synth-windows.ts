// Seconds per GiB to generate a synthetic Windows world (goal: <= 5 s/GiB, issue 4) and the
// peak RSS that shows it streams, per build. Each run is its own process so its peak RSS is
// its own. Not a test: figures depend on the machine (and its disk).
// Run: node --import tsx bench/synth-windows.ts [SIZE...]   (default 1G 4G)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSize } from '../src/synth/memory-map.js';
import { synthesize } from '../src/synth/synthesize.js';

const BUILDS = ['winxpsp2x86', 'win7sp1x64', 'win10x64_19041'];

/** Busier machines for larger worlds (as bench/synth.ts does for Linux). */
function paramsFor(gib: number) {
  const scale = Math.max(1, Math.round(gib));
  return { procs: 100 + 60 * scale, threads: 300 * scale, hidden: 5 * scale, exited: 20 * scale, decoys: 20 * scale };
}

if (process.argv[2] === '--one') {
  const [, , , build, size, format] = process.argv as [string, string, string, string, string, string];
  const dir = mkdtempSync(join(tmpdir(), 'kcarve-bench-synth-win-'));
  try {
    const gib = parseSize(size) / 2 ** 30;
    const t0 = process.hrtime.bigint();
    const c0 = process.cpuUsage();
    const r = synthesize({ os: 'windows', build, seed: 1, size, format, out: dir, ...paramsFor(gib) });
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = process.cpuUsage(c0);
    const st = statSync(r.imagePath);
    process.stdout.write(`${JSON.stringify({ gib, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, procs: r.truth.tasks.length, fileBytes: st.size, diskBytes: st.blocks * 512, maxRssKiB: process.resourceUsage().maxRSS })}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
} else {
  const sizes = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['1G', '4G'];
  const self = fileURLToPath(import.meta.url);
  process.stdout.write('build           size  format  procs  seconds  s/GiB  cpu s/GiB  file       on disk    peak RSS\n');
  for (const build of BUILDS) {
    for (const size of sizes) {
      for (const format of ['raw', 'elf']) {
        const out = spawnSync(process.execPath, ['--import', 'tsx', self, '--one', build, size, format], { encoding: 'utf8' });
        if (out.status !== 0) {
          process.stderr.write(out.stderr);
          process.exit(1);
        }
        const r = JSON.parse(out.stdout.trim().split('\n').pop()!) as { gib: number; seconds: number; cpuSeconds: number; procs: number; fileBytes: number; diskBytes: number; maxRssKiB: number };
        const g = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;
        process.stdout.write(
          `${build.padEnd(15)} ${size.padEnd(5)} ${format.padEnd(7)} ${String(r.procs).padEnd(6)} ${r.seconds.toFixed(2).padStart(7)}  ${(r.seconds / r.gib).toFixed(2).padStart(5)}  ${(r.cpuSeconds / r.gib).toFixed(2).padStart(9)}  ${g(r.fileBytes).padEnd(10)} ${g(r.diskBytes).padEnd(10)} ${(r.maxRssKiB / 1024).toFixed(0)} MiB\n`,
        );
      }
    }
  }
  process.stdout.write(`seconds include loading the layout pack (~0.5 s) and building the world; s/GiB = wall seconds / RAM size; load average now ${loadavg()[0]!.toFixed(1)}\n`);
}
