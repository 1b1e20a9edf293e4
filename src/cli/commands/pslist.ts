// `kcarve pslist IMAGE`: the processes on the kernel's own list (Linux init_task.tasks,
// Windows PsActiveProcessHead), walked from a head found without symbols. What a
// rootkit unlinked is not here: compare with `kcarve xview`. Library: runPslist.
import type { Command } from 'commander';
import { taskJson } from '../../scan/json.js';
import { runPslist } from '../../views/pslist.js';
import { COLUMNS, identityLines, render, renderTable } from '../render-results.js';
import { type ScanCliOptions, addScanOptions, failIfPartial, runWithProgress, writeOutput } from '../scan-options.js';
import { SHARED_HELP } from './scan-help.js';

const HELP_AFTER = `
What it does:
  The value pass and discovery of "kcarve scan" find the kernel's address space and the
  head of its process list (from a scanned init_task / System process, or from symbols);
  the OS support then walks the list, with guards against cycles and runaway lengths.
  Rows come in list order; each listed object is carved, and its status is "live".
${SHARED_HELP}
Examples:
  kcarve pslist memory.elf
  kcarve pslist memory.raw --os linux --format csv --out pslist.csv
`;

export function register(program: Command): void {
  const cmd = program
    .command('pslist')
    .summary("list the processes on the kernel's own process list")
    .description("Walk the kernel's own process list in a memory image (found without symbols) and carve each entry.");
  addScanOptions(cmd)
    .addHelpText('after', HELP_AFTER)
    .action(async (image: string, opts: ScanCliOptions) => {
      const result = await runWithProgress(image, opts, runPslist);
      const tasks = result.records.map((r) => taskJson(r, 'live'));
      const { records: _records, ...run } = result;
      const table = (): string =>
        renderTable(
          [
            ...identityLines(result, result.kernel),
            `list       ${result.walk.entries} object(s)` +
              (result.walk.stoppedBecause === undefined ? '' : `; the walk stopped early: ${result.walk.stoppedBecause}`),
          ],
          tasks,
          [COLUMNS.pa!, COLUMNS.va!, COLUMNS.pid!, COLUMNS.tgid!, COLUMNS.ppid!, COLUMNS.comm!, COLUMNS.state!, COLUMNS.conf!, COLUMNS.edges!],
          [...result.uncarved.map((u) => `not carved 0x${u.pa.toString(16)}: ${u.reason}`), ...result.notes.map((n) => `note: ${n}`)],
        );
      writeOutput(render(opts.format, run, tasks, table), opts);
      failIfPartial(result.missed);
    });
}
