// `kcarve xview IMAGE`: the cross-view table. Every object the scan found or the kernel
// still reaches (its process list, thread lists, pid links, children lists ...), with a
// verdict: live (linked), hidden (alive but off the list: DKOM) or exited, and why.
// Library: runXview.
import type { Command } from 'commander';
import { rowJson } from '../../scan/json.js';
import { runXview } from '../../views/xview.js';
import { COLUMNS, identityLines, render, renderTable } from '../render-results.js';
import { type ScanCliOptions, addScanOptions, failIfPartial, runWithProgress, writeOutput } from '../scan-options.js';
import { SHARED_HELP } from './scan-help.js';

const HELP_AFTER = `
Verdicts (the STATUS column; JSON "status" uses the truth schema's names):
  live     linked: on the kernel's process list, or a thread reached by the thread list
           of a leader that is on it
  hidden   alive (no exit evidence) and not on the list: unlinked by a rootkit (DKOM);
           the threads of a hidden process are hidden too
  exited   not on the list, and the carver saw exit evidence (a dead task, a freed
           object, an exit time); recovery of exited processes is best-effort
SEEN BY names every source that reached the object: scan, list, and the OS's other
views. A row the scan did not report, or a linked one with exit evidence, carries a
warning (JSON "warnings").
${SHARED_HELP}
Examples:
  kcarve xview memory.elf
  kcarve xview memory.elf --format json | jq '.tasks[] | select(.status == "hidden")'
  kcarve xview memory.raw --os linux --truth truth.json --format csv --out xview.csv
`;

export function register(program: Command): void {
  const cmd = program
    .command('xview')
    .summary('cross-view: which processes are live, hidden (DKOM) or exited')
    .description(
      "Join the scan with the kernel's own lists and give every process object a verdict (live, hidden, exited) with its evidence.",
    );
  addScanOptions(cmd)
    .addHelpText('after', HELP_AFTER)
    .action(async (image: string, opts: ScanCliOptions) => {
      const result = await runWithProgress(image, opts, runXview);
      const tasks = result.rows.map(rowJson);
      const { rows: _rows, scan, ...rest } = result;
      const { records: _records, ...scanRun } = scan;
      const run = { ...rest, scan: scanRun };
      const c = result.counts;
      const table = (): string =>
        renderTable(
          [
            ...identityLines(scan, scan.kernel),
            `verdicts   ${c.linked} live, ${c.hidden} hidden, ${c.exited} exited; ` +
              `list ${result.walk.entries} object(s)${result.walk.stoppedBecause === undefined ? '' : ` (stopped early: ${result.walk.stoppedBecause})`}; ` +
              `views: ${result.views.map((v) => `${v.name} ${v.reached}`).join(', ') || 'none'}`,
          ],
          tasks,
          [COLUMNS.pa!, COLUMNS.pid!, COLUMNS.tgid!, COLUMNS.ppid!, COLUMNS.comm!, COLUMNS.status!, COLUMNS.seen!, COLUMNS.why!],
          tasks.flatMap((t) => (t.warnings ?? []).map((w) => `warning ${t.pa}: ${w}`)),
        );
      writeOutput(render(opts.format, run, tasks, table), opts);
      failIfPartial(scan.missed);
    });
}
