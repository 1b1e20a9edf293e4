// `kcarve demo`: the main job on a built-in example. It builds a small synthetic world
// (hidden processes whose pid and name an attacker rewrote, exited processes, decoys),
// runs the cross-view on it, and checks every verdict against the world's ground
// truth — next to what a Volatility-like baseline signature finds on the same image.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import { shippedKernelBtfPath } from '../../types/load.js';
import { runScan } from '../../scan/run-scan.js';
import { rowJson } from '../../scan/json.js';
import { synthesize } from '../../synth/synthesize.js';
import type { SynthTruth } from '../../synth/truth.js';
import { runXview } from '../../views/xview.js';
import { COLUMNS, identityLines, renderTable } from '../render-results.js';

/** The Volatility-like baseline shipped for each OS the demo can build. */
const BASELINE: Record<string, string> = {
  linux: '../../../signatures/linux/baseline-volatility-psscan.sig.json',
};

interface DemoOptions {
  os: string;
  build?: string;
  seed: string;
  size: string;
  attack: string;
  keep?: string;
  workers?: string;
}

/** How the rows of a result line up with the world's truth, by physical address. */
export interface TruthCheck {
  /** status → [truth objects, found with that verdict] */
  byStatus: Record<string, { truth: number; found: number; foundAnyVerdict: number }>;
  /** Rows at addresses that hold no truth object. */
  falsePositives: string[];
}

export function checkAgainstTruth(truth: SynthTruth, rows: readonly { pa: string; status?: string }[]): TruthCheck {
  const byPa = new Map(rows.map((r) => [BigInt(r.pa), r]));
  const truthPas = new Set<bigint>();
  const byStatus: TruthCheck['byStatus'] = {};
  for (const t of truth.tasks) {
    const pa = BigInt(t.pa);
    truthPas.add(pa);
    const s = (byStatus[t.status] ??= { truth: 0, found: 0, foundAnyVerdict: 0 });
    s.truth += 1;
    const row = byPa.get(pa);
    if (row !== undefined) {
      s.foundAnyVerdict += 1;
      if (row.status === t.status) s.found += 1;
    }
  }
  const falsePositives = rows.filter((r) => !truthPas.has(BigInt(r.pa))).map((r) => r.pa);
  return { byStatus, falsePositives };
}

export function register(program: Command): void {
  program
    .command('demo')
    .summary('run the main job on a built-in example and check it against ground truth')
    .description(
      'Build a small synthetic memory image with live, DKOM-hidden and exited processes (the hidden ones ' +
        'with attacker-rewritten fields), run the cross-view on it, and compare every verdict with the ' +
        "image's ground truth and with what a Volatility-like baseline signature finds.",
    )
    .option('--os <name>', 'linux', 'linux')
    .option('--build <name>', 'kernel build of the world (default: the OS world\'s default)')
    .option('--seed <n>', 'world seed (same seed, same bytes)', '1')
    .option('--size <size>', 'guest memory size', '128M')
    .option('--attack <spec>', 'fields rewritten on hidden processes (see `kcarve synth --help`)', 'comm,pid')
    .option('--keep <dir>', 'write the world into DIR and keep it (default: a temporary directory, removed)')
    .option('--workers <n>', 'scan worker threads')
    .addHelpText(
      'after',
      `
What you see:
  1. the cross-view table: every process object kcarve found, its verdict (live,
     hidden, exited) and which of the kernel's own views saw it;
  2. a check against ground truth: per status, how many objects the world holds and
     how many kcarve gave exactly that verdict, plus false positives;
  3. the same count for the Volatility-like baseline (linux.psscan's checks), which
     trusts fields the attacker rewrote.

Examples:
  kcarve demo
  kcarve demo --seed 7 --attack random:3 --keep /tmp/world
`,
    )
    .action(async (opts: DemoOptions) => {
      const baseline = BASELINE[opts.os];
      if (baseline === undefined) throw new UsageError(`--os ${opts.os}: the demo knows ${Object.keys(BASELINE).join(', ')}`);
      const dir = opts.keep ?? mkdtempSync(path.join(tmpdir(), 'kcarve-demo-'));
      try {
        process.stderr.write(`kcarve demo: building a ${opts.size} ${opts.os} world (seed ${opts.seed}, attack ${opts.attack}) in ${dir}\n`);
        const world = synthesize({
          os: opts.os,
          ...(opts.build !== undefined ? { build: opts.build } : {}),
          seed: opts.seed,
          size: opts.size,
          procs: 30,
          hidden: 4,
          exited: 4,
          decoys: 8,
          attack: opts.attack,
          out: dir,
        });
        const workers = opts.workers === undefined ? undefined : Number(opts.workers);
        const common = { image: world.imagePath, os: opts.os, ...(workers !== undefined ? { workers } : {}) };
        const xview = await runXview(common);
        const rows = xview.rows.map(rowJson);
        // The baseline is layout-generic; the world is built from the shipped kernel's BTF.
        const base = await runScan({ ...common, signature: fileURLToPath(new URL(baseline, import.meta.url)), layout: shippedKernelBtfPath() });
        const ours = checkAgainstTruth(world.truth, rows);
        const theirs = checkAgainstTruth(
          world.truth,
          base.records.map((r) => ({ pa: `0x${r.pa.toString(16)}` })),
        );
        const c = xview.counts;
        process.stdout.write(
          renderTable(
            [...identityLines(xview.scan, xview.scan.kernel), `verdicts   ${c.linked} live, ${c.hidden} hidden, ${c.exited} exited`],
            rows,
            [COLUMNS.pa!, COLUMNS.pid!, COLUMNS.tgid!, COLUMNS.ppid!, COLUMNS.comm!, COLUMNS.status!, COLUMNS.seen!],
          ),
        );
        const lines = ['', `Ground truth (${path.join(dir, 'truth.json')}), matched by physical address:`];
        lines.push('  STATUS   TRUTH  KCARVE (same verdict)  BASELINE (found at all)');
        for (const [status, s] of Object.entries(ours.byStatus)) {
          const b = theirs.byStatus[status]!;
          lines.push(`  ${status.padEnd(7)}  ${String(s.truth).padStart(5)}  ${String(s.found).padStart(21)}  ${String(b.foundAnyVerdict).padStart(23)}`);
        }
        lines.push(`  false positives: kcarve ${ours.falsePositives.length}, baseline ${theirs.falsePositives.length}`);
        lines.push(`  baseline: ${base.signature.name} (reproduces Volatility 3 linux.psscan's checks)`);
        process.stdout.write(`${lines.join('\n')}\n`);
      } finally {
        if (opts.keep === undefined) rmSync(dir, { recursive: true, force: true });
      }
    });
}
