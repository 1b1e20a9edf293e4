// `kcarve fuzz run|report|evade`: robustness campaigns against a live Linux guest.
import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import { reportCampaign, runCampaign, type CampaignResult } from '../../fuzz/campaign.js';
import { runEvasion } from '../../fuzz/evade.js';
import { evasionTable, scanEvasion } from '../../fuzz/evade-scan.js';
import { MUTATION_KINDS, type MutationKind } from '../../fuzz/mutations.js';

function int(option: string, min: number, max: number) {
  return (text: string): number => {
    const n = Number(text);
    if (!/^\d+$/.test(text) || n < min || n > max) throw new UsageError(`--${option} must be an integer from ${min} to ${max} (got ${JSON.stringify(text)})`);
    return n;
  };
}

function list(text: string): string[] {
  return text.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

function mutationList(text: string): MutationKind[] {
  const out = list(text);
  for (const m of out) {
    if (!(MUTATION_KINDS as readonly string[]).includes(m)) throw new UsageError(`--mutations: unknown mutation ${JSON.stringify(m)} (one of ${MUTATION_KINDS.join(', ')})`);
  }
  return out as MutationKind[];
}

const HELP = `
What a campaign does (after Dolan-Gavitt et al., "Robust signatures for kernel data
structures", CCS 2009): boots Debian's kernel under QEMU/TCG with a tiny init (kfz, in
datasets/qemu-linux/workload/kfz.c) that runs a watchdog printing heartbeats and a target
process, snapshots the guest once (savevm on a small qcow2), and for every trial:
restores the snapshot, writes one mutation into one member of the target's task_struct
through QEMU's gdbstub, resumes, makes the target sleep and wake, fork, read /proc, take a
signal and exit, and classifies what happened:
  panic         the kernel oopsed or panicked (or the guest reset)
  hang          the watchdog's heartbeats stopped
  target_died   the target was killed, exited wrongly or a step of its work failed
  target_stuck  the target did not finish in time while the system ran on
  repaired      the work completed and the kernel had rewritten the member
  survived      the work completed with the corrupted value in place

Members: the leaves of task_struct from the kernel's own BTF (nested structs flattened,
arrays up to --max-array elements expanded, union alternatives over the same bytes tested
once, leaves past the slab object left out). Mutations: zero, ones, random, bitflip, and
pointer (the same member of another live task: plausible but wrong). A mutation that would
not change a member (zeroing a zero) is not applicable and not run. Order: well-known
members first, then those the kernel wrote during a clean profiling run, then the rest;
in rounds (every member's trial 0 before any trial 1).

Verdicts per member: robust (every trial broke the system or the target), fragile (every
trial survived with the value changed: an attacker may set it freely), unknown (mixed,
repaired, or fewer trials than --trials). Per mutation too.

Resume: results are appended to <out>/trials.jsonl as trials finish; run the same command
again and it skips what is done (kernel, layout, --seed and --max-array must match; more
--trials adds rounds). --budget ends a run cleanly after N minutes.

Output (<out>/): robustness.json (schema kcarve-robustness/1), trials.jsonl (one record a
trial: member, mutation, bytes before/written/read back, outcome, the deciding console
line), campaign.json (settings and runs), plan.json, profile.json.

Speed: a surviving trial takes ~0.5 s, a panic ~0.3 s, a stuck target the --work-ms
deadline. Each guest is one QEMU process (one busy core); use --guests up to your free
cores. Progress (trials, rate, ETA) goes to stderr: a bar on a terminal, lines otherwise.

Needs (Debian): qemu-system-x86 qemu-utils linux-image-amd64 linux-headers-amd64 gcc make.

Examples:
  kcarve fuzz run --out /tmp/fz --members stack,mm,cred,pid,comm --trials 1
  kcarve fuzz run --out /tmp/fz --guests 2 --trials 3 --budget 120
  kcarve fuzz run --out /tmp/fz --members 'se.*,tasks' --mutations zero,pointer
  kcarve fuzz report --out /tmp/fz
  kcarve fuzz evade --robustness /tmp/fz/robustness.json --out /tmp/evade
  kcarve fuzz evade --robustness signatures/robustness/linux-6.1.0-57-amd64.robustness.json --out /tmp/evade --scan
`;

function summary(r: CampaignResult): string {
  const s = r.robustness.summary;
  return `${r.path}\n${s.members} members: ${s.robust} robust, ${s.fragile} fragile, ${s.unknown} unknown; ${r.total} trials recorded (${r.ran} in this run), ${r.remaining} remaining\n`;
}

export function register(program: Command): void {
  const fuzz = program.command('fuzz').description('Measure which task_struct members an attacker can change, by corrupting them in a live QEMU guest');
  fuzz.addHelpText('after', HELP);

  fuzz
    .command('run')
    .description('Run (or resume) a robustness campaign and write robustness.json')
    .option('--out <dir>', 'campaign directory (required; reused to resume)')
    .option('--guests <n>', 'parallel QEMU guests (one core each)', int('guests', 1, 16), 1)
    .option('--members <list>', "comma-separated member paths or prefixes ('tasks' = tasks.next,tasks.prev; '*' wildcard); default all")
    .option('--mutations <list>', `comma-separated subset of ${MUTATION_KINDS.join(',')}`, mutationList)
    .option('--trials <n>', 'trials per member and mutation', int('trials', 1, 1000), 1)
    .option('--seed <n>', 'seed of the random and bit-flip values', int('seed', 0, 2 ** 32 - 1), 1)
    .option('--max-array <n>', 'expand arrays of up to n elements into members', int('max-array', 0, 4096), 16)
    .option('--layout <file>', 'BTF source (vmlinuz, vmlinux, BTF, .gz); default the booted /boot/vmlinuz-<release>')
    .option('--budget <minutes>', 'stop taking new trials after this many minutes', int('budget', 1, 100_000))
    .option('--limit <n>', 'run at most n trials now', int('limit', 1, 10_000_000))
    .option('--work-ms <ms>', 'deadline for the target\'s work in one trial', int('work-ms', 500, 120_000))
    .option('--json', 'print robustness.json on stdout')
    .addHelpText('after', HELP)
    .action(async (opts: Record<string, unknown>) => {
      const out = opts['out'];
      if (typeof out !== 'string' || out === '') throw new UsageError('--out <dir> is required');
      const log = (line: string) => process.stderr.write(`kcarve fuzz: ${line}\n`);
      const r = await runCampaign({
        out,
        guests: opts['guests'] as number,
        members: typeof opts['members'] === 'string' ? list(opts['members']) : undefined,
        mutations: opts['mutations'] as MutationKind[] | undefined,
        trials: opts['trials'] as number,
        seed: opts['seed'] as number,
        maxArrayElements: opts['maxArray'] as number,
        layout: opts['layout'] as string | undefined,
        budgetMs: opts['budget'] !== undefined ? (opts['budget'] as number) * 60_000 : undefined,
        limit: opts['limit'] as number | undefined,
        timing: opts['workMs'] !== undefined ? { workMs: opts['workMs'] as number } : undefined,
        command: `kcarve ${process.argv.slice(2).join(' ')}`,
        log,
      });
      process.stdout.write(opts['json'] === true ? `${JSON.stringify(r.robustness, null, 2)}\n` : summary(r));
    });

  fuzz
    .command('report')
    .description('Rebuild robustness.json from a campaign directory (also while it runs)')
    .option('--out <dir>', 'campaign directory (required)')
    .option('--json', 'print robustness.json on stdout')
    .action((opts: Record<string, unknown>) => {
      const out = opts['out'];
      if (typeof out !== 'string' || out === '') throw new UsageError('--out <dir> is required');
      const r = reportCampaign(out);
      process.stdout.write(opts['json'] === true ? `${JSON.stringify(r.robustness, null, 2)}\n` : summary(r));
    });

  fuzz
    .command('evade')
    .description('Hide a live process by DKOM, apply every fragile mutation to it, dump memory and truth.json')
    .option('--robustness <file>', 'robustness.json of a campaign (its fragile members are mutated)')
    .option('--out <dir>', 'output directory for memory.raw, memory.elf, truth.json (required)')
    .option('--style <style>', 'DKOM unlink style: self, stale or poison', 'self')
    .option('--run-ms <ms>', 'how long the mutated, hidden process keeps running before the dump', int('run-ms', 0, 600_000), 3000)
    .option('--seed <n>', 'seed of random and bit-flip values', int('seed', 0, 2 ** 32 - 1), 1)
    .option('--exclude <list>', 'comma-separated fragile members not to mutate (listed as skipped)')
    .option('--scan', "then scan memory.raw with kcarve's trained signature and the reference and baseline signatures, and print who still finds the target")
    .action(async (opts: Record<string, unknown>) => {
      const out = opts['out'];
      const rob = opts['robustness'];
      if (typeof out !== 'string' || out === '') throw new UsageError('--out <dir> is required');
      if (typeof rob !== 'string' || rob === '') throw new UsageError('--robustness <file> is required');
      const log = (line: string) => process.stderr.write(`kcarve fuzz evade: ${line}\n`);
      const exclude = typeof opts['exclude'] === 'string' ? list(opts['exclude']).map((member) => ({ member, reason: 'excluded on the command line (--exclude)' })) : undefined;
      const r = await runEvasion({ robustness: rob, out, style: opts['style'] as string, runMs: opts['runMs'] as number, seed: opts['seed'] as number, ...(exclude ? { exclude } : {}), log });
      process.stdout.write(
        `${r.truthPath}\ntarget pid ${r.target.pid} at pa 0x${r.target.pa.toString(16)}: hidden (${r.style}), ${r.applied.length} fragile mutations applied, ` +
          `${r.skipped.length} skipped; ${r.roundsAfter} rounds of work after the mutations` +
          `${r.firstRoundMs === undefined ? '' : ` (the first ${r.firstRoundMs} ms after resuming)`}; its __state at the dump 0x${r.targetState.toString(16)}\nvalidation of truth.json against memory.raw: ${r.validation}\n`,
      );
      for (const s of r.skipped) process.stdout.write(`skipped ${s.member}: ${s.reason}\n`);
      if (opts['scan'] === true) process.stdout.write(`\n${evasionTable(await scanEvasion(r.truthPath, undefined, { log }))}`);
    });
}
