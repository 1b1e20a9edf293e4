// `kcarve eval`: measure signatures against ground truth — precision, recall and F1 per
// truth status with Wilson intervals, false positives per GB, scan time — side by side,
// optionally under attack (the evasion matrix), with an HTML report. The library call
// behind it is runEval (src/eval/run-eval.ts).
import { writeFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { ImageIOError, UsageError } from '../../errors.js';
import { EVAL_FORMATS, type EvalFormat, renderEval } from '../../eval/format.js';
import { writeEvalReport } from '../../eval/report-html.js';
import { runEval } from '../../eval/run-eval.js';

const HELP = `
What it does:
  Every --signature scans every IMAGE_DIR (a memory image and its truth.json,
  schema kcarve-truth/1) the way \`kcarve scan\` does, without hints from the truth.
  Hits match truth objects by physical address. Per image and pooled over the
  images: found/total, recall and precision with 95% Wilson intervals and F1 per
  truth status (live, hidden, exited with intact residue), false positives per GB
  (10^9 bytes of memory scanned), scan seconds and GB/s.

  --attack SPEC adds one row per attack: the fields it names are rewritten on every
  hidden object, in a copy (the input is never written), and the images rescanned.
  Synthetic worlds (made by kcarve synth) are regenerated with the attack from the
  parameters their truth records; real Linux images are copied and the hidden
  task_structs rewritten in the copy. The evasion matrix counts the hidden objects
  each signature misses under each attack.

  SPEC is a comma-separated list of terms:
    NAME              one single-field attack (kcarve synth --help lists them;
                      linux: comm, pid, tasks, start_time, flags; windows: pool-tag,
                      pool-index, dispatcher-type, dispatcher-size, create-time-zero,
                      name-first-byte, pid-not-div4, active-links-zero)
    NAME+NAME...      several fields in one row
    random:N          N fields drawn at random from the world's mutable fields
    all               every single-field attack of the images' OS

Examples:
  kcarve eval --signature signatures/linux/task_struct-debian-6.1.0-57.trained.sig.json \\
      --signature signatures/linux/baseline-volatility-psscan.sig.json datasets/build/train/*
  kcarve eval --signature A.sig.json --signature B.sig.json world1 world2 \\
      --attack all,random:3 --format md --report eval.html
`;

interface EvalCliOptions {
  signature: string[];
  attack?: string;
  format: string;
  report?: string;
  out?: string;
  layout?: string;
  workers?: number;
  quiet?: boolean;
}

function wholeNumber(value: string): number {
  const n = Number(value);
  if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(n)) throw new InvalidArgumentError('must be a whole number >= 0');
  return n;
}

export function register(program: Command): void {
  program
    .command('eval')
    .summary('measure signatures against ground truth: accuracy, evasion, throughput')
    .description(
      'Scan images with ground truth (truth.json) with one or more signatures and report precision, recall ' +
        'and F1 per truth status with confidence intervals, false positives per GB and throughput, optionally ' +
        'under attacker mutations of the hidden objects (the evasion matrix).',
    )
    .argument('<image_dir...>', 'directories holding a memory image and its truth.json')
    .option('--signature <file>', 'a signature to evaluate (repeat for side-by-side columns)', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--attack <spec>', 'attack rows of the evasion matrix (see below)')
    .option('--format <format>', `output format: ${EVAL_FORMATS.join(', ')}`, 'table')
    .option('--report <file>', 'also write a self-contained HTML report with plots')
    .option('--out <file>', 'write the output here instead of stdout')
    .option('--layout <file>', 'layout for signatures that name none (default: the layout of another signature for the same OS)')
    .option('--workers <n>', 'scan worker threads (0 = this thread)', wholeNumber)
    .option('--quiet', 'no progress lines on stderr')
    .addHelpText('after', HELP)
    .action(async (dirs: string[], opts: EvalCliOptions) => {
      if (!(EVAL_FORMATS as readonly string[]).includes(opts.format)) {
        throw new UsageError(`--format ${JSON.stringify(opts.format)}: expected one of ${EVAL_FORMATS.join(', ')}`);
      }
      if (opts.signature.length === 0) throw new UsageError('kcarve eval needs at least one --signature FILE');
      const result = await runEval({
        signatures: opts.signature,
        dirs,
        ...(opts.attack === undefined ? {} : { attack: opts.attack }),
        ...(opts.layout === undefined ? {} : { layout: opts.layout }),
        ...(opts.workers === undefined ? {} : { workers: opts.workers }),
        ...(opts.quiet ? {} : { onProgress: (line: string) => process.stderr.write(`kcarve eval: ${line}\n`) }),
      });
      const text = renderEval(result, opts.format as EvalFormat);
      if (opts.out === undefined) process.stdout.write(text);
      else {
        try {
          writeFileSync(opts.out, text);
        } catch (err) {
          throw new ImageIOError(opts.out, undefined, `cannot write the output: ${(err as Error).message}`, { cause: err });
        }
      }
      if (opts.report !== undefined) await writeEvalReport(result, opts.report);
    });
}
