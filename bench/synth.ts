// Seconds per GiB to generate a synthetic world (goal: <= 5 s/GiB, issue 4) and the peak
// RSS that shows it streams. Each size runs in its own process so its peak RSS is its own.
// Not a test: figures depend on the machine (and its disk).
// Run: npm run bench:synth [-- SIZE...]   (default 1G 4G; e.g. -- 256M 1G)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSize } from '../src/synth/memory-map.js';
import { synthesize } from '../src/synth/synthesize.js';

/** World sizes scale the population with memory, like a busier machine. */
function paramsFor(gib: number) {
  const scale = Math.max(1, Math.round(gib));
  return { procs: 150 + 100 * scale, threads: 100 * scale, hidden: 5 * scale, exited: 20 * scale, decoys: 20 * scale };
}

if (process.argv[2] === '--one') {
  const size = process.argv[3]!;
  const format = process.argv[4] ?? 'raw';
  const dir = mkdtempSync(join(tmpdir(), 'kcarve-bench-synth-'));
  try {
    const gib = parseSize(size) / 2 ** 30;
    const t0 = process.hrtime.bigint();
    const c0 = process.cpuUsage();
    const r = synthesize({ os: 'linux', seed: 1, size, format, out: dir, ...paramsFor(gib) });
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = process.cpuUsage(c0);
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    const st = statSync(r.imagePath);
    process.stdout.write(
      `${JSON.stringify({ size, format, gib, seconds, cpuSeconds, tasks: r.truth.tasks.length, fileBytes: st.size, diskBytes: st.blocks * 512, maxRssKiB: process.resourceUsage().maxRSS })}\n`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
} else {
  const sizes = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['1G', '4G'];
  const self = fileURLToPath(import.meta.url);
  process.stdout.write('size  format  tasks   seconds  s/GiB  cpu s/GiB  file      on disk   peak RSS\n');
  for (const size of sizes) {
    for (const format of ['raw', 'elf']) {
      const out = spawnSync(process.execPath, ['--import', 'tsx', self, '--one', size, format], { encoding: 'utf8' });
      if (out.status !== 0) {
        process.stderr.write(out.stderr);
        process.exit(1);
      }
      const r = JSON.parse(out.stdout.trim().split('\n').pop()!) as { gib: number; seconds: number; cpuSeconds: number; tasks: number; fileBytes: number; diskBytes: number; maxRssKiB: number };
      const g = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;
      process.stdout.write(
        `${size.padEnd(5)} ${format.padEnd(7)} ${String(r.tasks).padEnd(7)} ${r.seconds.toFixed(2).padStart(7)}  ${(r.seconds / r.gib).toFixed(2).padStart(5)}  ${(r.cpuSeconds / r.gib).toFixed(2).padStart(9)}  ${g(r.fileBytes).padEnd(9)} ${g(r.diskBytes).padEnd(9)} ${(r.maxRssKiB / 1024).toFixed(0)} MiB\n`,
      );
    }
  }
  process.stdout.write(`seconds include loading the BTF layout (~1-2 s) and building the world; s/GiB = wall seconds / RAM size; cpu = user + system of the process (load average now ${(await import('node:os')).loadavg()[0]!.toFixed(1)})\n`);
}
