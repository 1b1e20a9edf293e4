// `kcarve signature`: write signature files.
//   linux --layout FILE --out FILE   a task_struct signature from any Linux layout
//         [--kernel 6.1]             also use facts only 6.1's headers state
//         [--baseline volatility-psscan]  the Volatility 3 linux.psscan baseline instead
//         [--train DIR...]           measure it on images with truth.json; figures go into provenance
import { writeFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { UsageError } from '../../errors.js';
import { loadLayout } from '../../types/load.js';
import { resolveSignature } from '../../signatures/load.js';
import type { SignatureDoc } from '../../signatures/format.js';
import { volatilityPsscanBaseline } from '../../os/linux/baseline-signature.js';
import { applyMeasure, measureLinuxSignature, openTrainingImage } from '../../os/linux/measure-signature.js';
import { linuxTaskSignature } from '../../os/linux/task-signature.js';

interface LinuxOptions {
  layout: string;
  out: string;
  kernel?: '6.1';
  baseline?: 'volatility-psscan';
  build?: string;
  name?: string;
  layoutRef?: string;
  train?: string[];
}

function oneOf<T extends string>(values: readonly T[]): (v: string) => T {
  return (v: string) => {
    if (!(values as readonly string[]).includes(v)) throw new InvalidArgumentError(`must be one of ${values.join(', ')}`);
    return v as T;
  };
}

/** The command line that reproduces this file, for provenance.command. */
function commandLine(o: LinuxOptions): string {
  const args = ['kcarve', 'signature', 'linux', '--layout', o.layout];
  if (o.kernel) args.push('--kernel', o.kernel);
  if (o.baseline) args.push('--baseline', o.baseline);
  if (o.build) args.push('--build', o.build);
  if (o.name) args.push('--name', o.name);
  if (o.layoutRef) args.push('--layout-ref', o.layoutRef);
  if (o.train && o.train.length > 0) args.push('--train', ...o.train);
  args.push('--out', o.out);
  return args.map((a) => (/^[\w./=@:+-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
}

export function register(program: Command): void {
  const sig = program.command('signature').description('Write signature files (kcarve-signature/1)');
  sig
    .command('linux')
    .description('Write a Linux task_struct signature built from a layout (BTF, vmlinux, ISF)')
    .requiredOption('--layout <file>', 'layout to check field names against (and measure with)')
    .requiredOption('--out <file>', 'signature file to write')
    .option('--kernel <version>', 'also use facts only this kernel version\'s headers state (6.1)', oneOf(['6.1'] as const))
    .option('--baseline <tool>', 'write the baseline reproducing another tool instead (volatility-psscan)', oneOf(['volatility-psscan'] as const))
    .option('--build <name>', 'build family recorded in target.build (default generic)')
    .option('--name <name>', 'signature name')
    .option('--layout-ref <path>', 'target.layout: the layout path relative to the signature file')
    .option('--train <dir...>', 'image directories with truth.json (kcarve-truth/1) to measure support and false positives on')
    .addHelpText(
      'after',
      `
Examples:
  kcarve signature linux --layout /sys/kernel/btf/vmlinux --out task_struct.sig.json
  kcarve signature linux --layout signatures/btf/linux-6.1.0-57-amd64.btf.gz --kernel 6.1 \\
      --build debian-6.1.0-57-amd64 --layout-ref ../btf/linux-6.1.0-57-amd64.btf.gz \\
      --train datasets/build/train/* --out signatures/linux/debian-6.1.0-57-amd64.sig.json`,
    )
    .action((opts: LinuxOptions) => {
      const layout = loadLayout(opts.layout);
      const command = commandLine(opts);
      let doc: SignatureDoc;
      if (opts.baseline !== undefined) {
        if (opts.kernel !== undefined) throw new UsageError('--baseline and --kernel do not go together: the baseline reproduces another tool as it is');
        doc = volatilityPsscanBaseline(layout, { ...(opts.layoutRef ? { layoutRef: opts.layoutRef } : {}), ...(opts.build ? { build: opts.build } : {}), command });
      } else {
        doc = linuxTaskSignature(layout, {
          ...(opts.kernel ? { kernel: opts.kernel } : {}),
          ...(opts.build ? { build: opts.build } : {}),
          ...(opts.name ? { name: opts.name } : {}),
          ...(opts.layoutRef ? { layoutRef: opts.layoutRef } : {}),
          command,
        }).doc;
      }
      if (opts.name !== undefined) doc.name = opts.name;
      // Resolve against the layout now, so a file that would not load is never written.
      const resolved = resolveSignature(doc, opts.out, { layout });
      if (opts.train && opts.train.length > 0) {
        const images = opts.train.map((d) => openTrainingImage(d));
        try {
          const m = measureLinuxSignature(resolved, images);
          doc = applyMeasure(doc, m, images.map((i) => i.name));
          for (const s of m.perStatus) {
            process.stdout.write(`${s.name}: ${Object.entries(s.counts).map(([k, v]) => `${k} ${v.found}/${v.total}`).join(', ')}, false positives ${s.falsePositives}\n`);
          }
        } finally {
          for (const i of images) i.image.close();
        }
      }
      try {
        writeFileSync(opts.out, `${JSON.stringify(doc, null, 2)}\n`);
      } catch (err) {
        throw new UsageError(`cannot write ${opts.out}: ${(err as Error).message}`);
      }
      process.stdout.write(`wrote ${opts.out}: ${doc.constraints.length} constraints, ${doc.edges?.length ?? 0} edges\n`);
    });
}
