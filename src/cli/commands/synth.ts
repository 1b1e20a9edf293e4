// `kcarve synth`: write a synthetic memory image and its truth.json. Every byte is a
// function of the arguments, so a world is shared by sharing its command line.
import { type Command, Option } from 'commander';
import { UsageError } from '../../errors.js';
import { SYNTH_DEFAULTS, SYNTH_FORMATS, synthesize, type SynthArgs } from '../../synth/synthesize.js';
import { WORLDS } from '../../synth/worlds.js';

function attackHelp(): string {
  if (WORLDS.length === 0) return '  (no worlds are built in)';
  return WORLDS.map((w) => {
    const names = Object.entries(w.attacks).map(([k, v]) => `    ${k.padEnd(14)} ${v}`);
    return [`  ${w.os} (builds: ${w.builds.join(', ')}):`, ...names, `    ${'random:N'.padEnd(14)} N of: ${w.randomFields.join(', ')}`].join('\n');
  }).join('\n');
}

const HELP = (): string => `
What it does:
  Builds a deterministic memory image of a running kernel: processes with real layouts
  (from the build's BTF or layout pack), the kernel's own lists and page tables, processes
  hidden by DKOM, exited processes whose freed objects still hold residue, decoys that
  trip weak signatures, kernel-like background noise, and attacker mutations (--attack).
  truth.json (schema kcarve-truth/1, as real images) lists every process object.

Output (in --out): memory.raw | memory.lime | memory.elf, and truth.json.

Attacks (--attack NAME[,NAME...][,random:N]; applied to the hidden processes):
${attackHelp()}

Determinism: the same arguments give byte-identical files (no clock, no Math.random).

Examples:
  kcarve synth --out /tmp/w1 --seed 7
  kcarve synth --os linux --size 1G --procs 200 --hidden 10 --exited 20 --attack comm,pid --format elf --out /tmp/w2
`;

export function register(program: Command): void {
  program
    .command('synth')
    .description('Write a synthetic memory image with ground truth (deterministic from the arguments)')
    .option('--os <os>', `world: ${WORLDS.map((w) => w.os).join(', ') || 'none built in'}`, SYNTH_DEFAULTS.os)
    .option('--build <name>', "kernel build (default: the world's first)")
    .option('--seed <n>', 'seed', String(SYNTH_DEFAULTS.seed))
    .option('--size <size>', 'guest RAM, e.g. 256M, 1G', SYNTH_DEFAULTS.size)
    .option('--procs <n>', 'processes alive at the dump (hidden ones included)', String(SYNTH_DEFAULTS.procs))
    .option('--threads <n>', 'extra threads spread over the processes', String(SYNTH_DEFAULTS.threads))
    .option('--hidden <n>', 'processes unlinked from the process list (DKOM)', String(SYNTH_DEFAULTS.hidden))
    .option('--exited <n>', 'processes that exited before the dump', String(SYNTH_DEFAULTS.exited))
    .option('--decoys <n>', 'decoy structures and strings', String(SYNTH_DEFAULTS.decoys))
    .option('--attack <spec>', 'fields to mutate in hidden processes (see below)')
    .addOption(new Option('--format <format>', 'image format').choices([...SYNTH_FORMATS]).default(SYNTH_DEFAULTS.format))
    .option('--paging <levels>', "paging levels (x86-64: 4 or 5; default: the world's)")
    .option('--no-kaslr', 'no address-space randomisation (fixed direct-map base and kernel location)')
    .option('--out <dir>', 'output directory (required)')
    .option('--json', 'print the result as JSON on stdout')
    .addHelpText('after', HELP)
    .action((opts: Record<string, unknown>) => {
      const out = opts['out'];
      if (typeof out !== 'string' || out === '') throw new UsageError('--out <dir> is required');
      const args: SynthArgs = {
        os: opts['os'] as string,
        seed: opts['seed'] as string,
        size: opts['size'] as string,
        procs: opts['procs'] as string,
        threads: opts['threads'] as string,
        hidden: opts['hidden'] as string,
        exited: opts['exited'] as string,
        decoys: opts['decoys'] as string,
        format: opts['format'] as string,
        kaslr: opts['kaslr'] !== false,
        ...(typeof opts['build'] === 'string' ? { build: opts['build'] } : {}),
        ...(typeof opts['attack'] === 'string' ? { attack: opts['attack'] } : {}),
        ...(typeof opts['paging'] === 'string' ? { paging: opts['paging'] } : {}),
      };
      const result = synthesize({ ...args, out });
      const tasks = result.truth.tasks;
      const n = (s: string) => tasks.filter((t) => t.status === s).length;
      if (opts['json'] === true) {
        process.stdout.write(`${JSON.stringify({ image: result.imagePath, truth: result.truthPath, fileSize: result.image.fileSize, live: n('live'), hidden: n('hidden'), exited: n('exited'), decoys: result.truth.decoys.length })}\n`);
      } else {
        process.stdout.write(
          `${result.imagePath}\t${result.image.format}\t${(result.image.fileSize / 2 ** 20).toFixed(0)} MiB\n` +
            `${result.truthPath}\tlive ${n('live')}\thidden ${n('hidden')}\texited ${n('exited')}\tdecoys ${result.truth.decoys.length}\n`,
        );
      }
    });
}
