// `kcarve train`: learn a signature (value invariants + graph edges) from memory
// images with ground truth, measure its false positives, cross-validate it, and
// write it as a kcarve-signature/1 file with a markdown report.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { UsageError } from '../../errors.js';
import { loadSignature } from '../../signatures/load.js';
import { TRAIN_DEFAULTS, train } from '../../train/train.js';
import { loadTruth } from '../../train/truth-file.js';
import { loadLayout } from '../../types/load.js';

const HELP = `
What it does:
  Reads every IMAGE_DIR (a memory image and its truth.json, schema kcarve-truth/1),
  takes the truth's live and hidden objects of --type as positives (exited ones are
  kept apart and reported), and learns, per member of the type: constants, fixed
  bits, ranges, alignment, pointer classes, small sets and printable names, each
  with its support and its match rate on negatives (aligned offsets elsewhere in the
  images, decoys included). Fields an attacker is known to rewrite
  (signatures/attacker-fields.json) never become required; with --robustness only
  members a fuzz campaign marks robust may. It then picks a small set greedily (the
  cheapest, most selective SIMD prefilter first) until the false positives per GiB,
  measured with the native matcher over every aligned offset of the images, are at
  or below --target-fp-per-gb; follows the positives' pointers to learn graph edges;
  and cross-validates, leaving out one image at a time.
  Exited objects whose residue is intact are kept where that costs no selectivity:
  forms that admit them (kptr_or_null where the exit path cleared a pointer) are
  candidates, the selection and the required edges prefer what holds on them, and
  minScore is lowered to admit them when no negative reaches it (--no-keep-exited:
  off). --exclude-field treats a member as attacker-controlled for this run.

Output: the signature (--out, else stdout) and a markdown report (--report).
The signature records the exact command line, the images it was trained on and the
measured false-positive rate.

Examples:
  kcarve train --type task_struct --layout signatures/btf/linux-6.1.0-57-amd64.btf.gz \\
      datasets/build/train/train-0* --out task_struct.sig.json --report report.md
  kcarve train --type task_struct --layout L.btf.gz --robustness linux.robustness.json \\
      --target-fp-per-gb 0.01 /data/img1 /data/img2 --out robust.sig.json
  kcarve train --type _EPROCESS --layout signatures/layouts/windows/win7sp1x64.isf.json \
      --exclude-field Flags --note 'worlds: kcarve synth --os windows --seed 11..13' \
      world-11 world-12 world-13 --out eprocess.sig.json
`;

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('must be a number >= 0');
  return n;
}

function wholeNumber(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError('must be a whole number >= 0');
  return n;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** One argument as a POSIX shell would need it quoted. */
function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_./:=,@%+-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

interface TrainCliOptions {
  type?: string;
  layout?: string;
  robustness?: string;
  targetFpPerGb: number;
  out?: string;
  report?: string;
  alignment?: number;
  negatives: number;
  hardNegatives: number;
  maxConstraints: number;
  seed: number;
  cv: boolean;
  keepExited: boolean;
  excludeField: string[];
  note: string[];
  name?: string;
  attackerFields?: string;
  json?: boolean;
  quiet?: boolean;
}

function write(path: string, text: string): void {
  try {
    writeFileSync(path, text);
  } catch (err) {
    throw new UsageError(`cannot write ${path}: ${(err as Error).message}`);
  }
}

export function register(program: Command): void {
  program
    .command('train')
    .description('Learn a signature (value invariants + graph edges) from images with ground truth')
    .argument('<image_dir...>', 'directories holding a memory image and its truth.json')
    .option('--type <type>', 'structure to learn (task_struct, _EPROCESS)')
    .option('--layout <file>', 'layout of the images\' kernel (BTF, vmlinux, ISF; see "kcarve layout --help")')
    .option('--robustness <file>', 'fuzz campaign verdicts (kcarve-robustness/1): only robust members may be required')
    .option('--target-fp-per-gb <x>', 'stop adding constraints at this many false positives per GiB', positiveNumber, TRAIN_DEFAULTS.targetFpPerGiB)
    .option('--out <file>', 'write the signature here (default: stdout)')
    .option('--report <file>', 'write the markdown report here')
    .option('--alignment <n>', 'candidate alignment in bytes (default: learned from the positives)', wholeNumber)
    .option('--negatives <n>', 'random negatives to sample', wholeNumber, TRAIN_DEFAULTS.negatives)
    .option('--hard-negatives <n>', 'false hits sampled per selection round', wholeNumber, TRAIN_DEFAULTS.hardNegatives)
    .option('--max-constraints <n>', 'at most this many value constraints', wholeNumber, TRAIN_DEFAULTS.maxConstraints)
    .option('--seed <n>', 'seed of the negative sampling', wholeNumber, TRAIN_DEFAULTS.seed)
    .option('--no-cv', 'skip leave-one-image-out cross-validation')
    .option('--exclude-field <member>', 'treat this member (and what is inside it) as attacker-controlled; repeatable', collect, [])
    .option('--note <text>', 'add a line to the signature\'s provenance notes (e.g. how the images were made); repeatable', collect, [])
    .option('--no-keep-exited', 'do not prefer constraints and edges that also hold on exited objects with intact residue')
    .option('--name <name>', 'signature name (default: <type>-trained)')
    .option('--attacker-fields <file>', 'list of attacker-controlled fields (default: signatures/attacker-fields.json)')
    .option('--json', 'print a JSON summary on stdout (needs --out)')
    .option('--quiet', 'no progress lines on stderr')
    .addHelpText('after', HELP)
    .action((dirs: string[], opts: TrainCliOptions, command: Command) => {
      if (opts.type === undefined) throw new UsageError('--type <type> is required (e.g. task_struct)');
      if (opts.layout === undefined) throw new UsageError('--layout <file> is required (the BTF or ISF of the images\' kernel)');
      if (opts.json && opts.out === undefined) throw new UsageError('--json prints a summary; give --out for the signature itself');
      // Cheap checks before the layout (seconds to parse) is read.
      for (const dir of dirs) {
        if (!existsSync(join(dir, 'truth.json'))) throw new UsageError(`${dir}: no truth.json here (an IMAGE_DIR holds a memory image and its truth.json)`);
        loadTruth(join(dir, 'truth.json'));
      }
      const a = opts.alignment;
      if (a !== undefined && (a < 1 || a > 4096 || (a & (a - 1)) !== 0)) throw new UsageError(`--alignment ${a}: must be a power of two from 1 to 4096`);
      const layout = loadLayout(opts.layout);
      // commander keeps the arguments it parsed (not in its typings): the exact command line for provenance.
      const raw = ((command.parent as unknown as { rawArgs?: string[] } | null)?.rawArgs ?? []);
      const log = opts.quiet ? () => {} : (line: string) => process.stderr.write(`${line}\n`);
      const result = train({
        type: opts.type,
        layout,
        layoutPath: opts.layout,
        imageDirs: dirs,
        ...(opts.robustness !== undefined ? { robustnessPath: opts.robustness } : {}),
        ...(opts.attackerFields !== undefined ? { attackerFieldsPath: opts.attackerFields } : {}),
        targetFpPerGiB: opts.targetFpPerGb,
        ...(opts.alignment !== undefined ? { alignment: opts.alignment } : {}),
        negatives: opts.negatives,
        hardNegatives: opts.hardNegatives,
        maxConstraints: opts.maxConstraints,
        seed: opts.seed,
        crossValidate: opts.cv,
        keepExited: opts.keepExited,
        ...(opts.excludeField.length > 0 ? { excludeFields: opts.excludeField } : {}),
        ...(opts.note.length > 0 ? { notes: opts.note } : {}),
        command: ['kcarve', ...raw].map(shellQuote).join(' '),
        ...(opts.out !== undefined ? { outPath: opts.out } : {}),
        ...(opts.name !== undefined ? { name: opts.name } : {}),
        log,
      });
      const text = `${JSON.stringify(result.doc, null, 2)}\n`;
      if (opts.out !== undefined) {
        write(opts.out, text);
        // The file must load back as a valid signature against the layout it was trained on.
        loadSignature(opts.out, { layout });
      } else process.stdout.write(text);
      if (opts.report !== undefined) write(opts.report, result.report);
      const m = result.model;
      const summary = {
        signature: opts.out ?? null,
        report: opts.report ?? null,
        constraints: m.constraints.length,
        edges: { required: m.edges.filter((e) => e.role === 'required').length, weighted: m.edges.filter((e) => e.role === 'weighted').length },
        fpPerGiB: m.selection.fpPerGiB,
        reachedTarget: m.selection.reachedTarget,
        positives: m.positives.windows.count,
        crossValidation: result.folds.map((f) => ({
          heldOut: f.heldOut,
          found: f.outcome.accepted.found,
          present: f.present,
          falsePositives: f.outcome.accepted.falsePositives.length,
        })),
        seconds: result.seconds,
      };
      if (opts.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
      else if (opts.out !== undefined) {
        process.stdout.write(
          `${opts.out}: ${summary.constraints} constraints, ${summary.edges.required} required + ${summary.edges.weighted} weighted edges, ` +
            `${summary.fpPerGiB.toFixed(3)} false positives/GiB on the training images${summary.reachedTarget ? '' : ' (target NOT met)'}\n`,
        );
        for (const f of summary.crossValidation) {
          process.stdout.write(`  held out ${f.heldOut}: live ${f.found.live}/${f.present.live}, hidden ${f.found.hidden}/${f.present.hidden}, exited ${f.found.exited}/${f.present.exited}, ${f.falsePositives} false positives\n`);
        }
      }
    });
}
