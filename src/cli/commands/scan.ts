// `kcarve scan IMAGE`: every process object the signature finds in a memory image, with
// the evidence for each (which graph edges held, exit evidence) and what the scan could
// not cover. The library call behind it is runScan (src/scan/run-scan.ts).
import type { Command } from 'commander';
import { taskJson } from '../../scan/json.js';
import { runScan } from '../../scan/run-scan.js';
import { COLUMNS, identityLines, render, renderTable } from '../render-results.js';
import { type ScanCliOptions, addScanOptions, failIfPartial, runWithProgress, writeOutput } from '../scan-options.js';
import { SHARED_HELP } from './scan-help.js';
import { timePhase } from '../../timing.js';

const HELP_AFTER = `
What it does:
  1. value pass: the signature's value constraints (compiled for the native matcher)
     sweep every physical run of the image in worker threads; holes are skipped
  2. discovery: the OS support finds the kernel's address space (direct-map base,
     page-table root, paging mode) from the candidates, without symbols
  3. graph pass: each candidate's pointers are followed (the signature's edges);
     accepted objects are carved into records (pid, tgid, ppid, comm, times, state)
A plain scan cannot tell live from hidden processes: that needs the kernel's own list
(kcarve xview). Its "status" column says "exited" where the carver saw exit evidence.
${SHARED_HELP}
Examples:
  kcarve scan memory.elf
  kcarve scan memory.raw --os linux --format json --out scan.json
  kcarve scan memory.lime --signature signatures/linux/task_struct.sig.json --layout vmlinux
  kcarve scan memory.elf --format jsonl | jq -r 'select(.comm == "sshd") | .pa'
  kcarve scan memory.elf --workers 0 --chunk-size 16M     # one thread, small tasks
`;

export function register(program: Command): void {
  const cmd = program
    .command('scan')
    .summary('find every process object in a memory image by signature')
    .description(
      'Scan a memory image for kernel process objects (Linux task_struct, Windows EPROCESS) with a ' +
        'signature: value constraints at memory speed, then graph edges and carving.',
    );
  addScanOptions(cmd)
    .addHelpText('after', HELP_AFTER)
    .action(async (image: string, opts: ScanCliOptions) => {
      const result = await runWithProgress(image, opts, runScan);
      const tasks = result.records.map((r) => taskJson(r));
      const { records: _records, ...run } = result;
      const s = result.stats;
      const rejected = Object.values(s.rejected).reduce((a, b) => a + b, 0);
      const table = (): string =>
        renderTable(
          [
            ...identityLines(result, result.kernel),
            `found      ${s.accepted} object(s) from ${s.candidates} candidate(s): ${rejected} rejected, ${s.unverified.length} unverified; ` +
              `${s.chunks} chunk(s), ${result.options.workers} worker(s), ${(result.timings.totalMs / 1000).toFixed(2)} s`,
          ],
          tasks,
          [COLUMNS.pa!, COLUMNS.va!, COLUMNS.pid!, COLUMNS.tgid!, COLUMNS.ppid!, COLUMNS.comm!, COLUMNS.state!, COLUMNS.conf!, COLUMNS.edges!, COLUMNS.exit!],
          [
            ...s.unverified.map((u) => `unverified 0x${u.pa.toString(16)}: ${u.reason}`),
            ...result.notes.map((n) => `note: ${n}`),
          ],
        );
      timePhase('render and write the output', () => writeOutput(render(opts.format, run, tasks, table), opts));
      failIfPartial(result.missed);
    });
}
