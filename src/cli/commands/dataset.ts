// `kcarve dataset linux …` builds real Linux memory images with exact ground truth;
// `kcarve dataset validate DIR` re-checks a built image against its truth.json.
import { Option, type Command } from 'commander';
import { UsageError } from '../../errors.js';
import { buildLinuxImage, validateLinuxImageDir, type BuiltLinuxImage } from '../../datasets/linux/build-image.js';
import { buildManifest, loadManifest } from '../../datasets/linux/manifest.js';
import { DEFAULT_LINUX_PARAMS, LIMITS, UNLINK_STYLES, type LinuxImageParams, type UnlinkStyle } from '../../datasets/linux/plan.js';

function int(option: string) {
  return (text: string): number => {
    if (!/^\d+$/.test(text)) throw new UsageError(`--${option} must be a non-negative integer (got ${JSON.stringify(text)})`);
    return Number(text);
  };
}

function onOff(text: string): boolean {
  if (text === 'on') return true;
  if (text === 'off') return false;
  throw new UsageError(`--kaslr must be on or off (got ${JSON.stringify(text)})`);
}

function style(text: string): UnlinkStyle {
  if (!(UNLINK_STYLES as readonly string[]).includes(text)) throw new UsageError(`--unlink-style must be one of ${UNLINK_STYLES.join(', ')} (got ${JSON.stringify(text)})`);
  return text as UnlinkStyle;
}

function paging(text: string): 4 | 5 {
  if (text !== '4' && text !== '5') throw new UsageError(`--paging must be 4 or 5 (got ${JSON.stringify(text)})`);
  return Number(text) as 4 | 5;
}

/** Image parameter, its option, and commander's attribute name for it. */
const PARAM_OPTIONS: [keyof LinuxImageParams, string, string][] = [
  ['memMiB', 'mem', 'mem'], ['seed', 'seed', 'seed'], ['procs', 'procs', 'procs'], ['threads', 'threads', 'threads'],
  ['hide', 'hide', 'hide'], ['exited', 'exited', 'exited'], ['kaslr', 'kaslr', 'kaslr'],
  ['unlinkStyle', 'unlink-style', 'unlinkStyle'], ['paging', 'paging', 'paging'],
];

const HELP = `
What it does:
  Boots Debian's kernel (linux-image-amd64) under QEMU with a busybox initramfs and a
  workload of named processes, threads and parent/child chains. A kernel module of kcarve's
  own (datasets/qemu-linux/module) unlinks --hide of them from init_task.tasks under
  tasklist_lock, the way DKOM rootkits do, records the processes that exit, and prints the
  ground truth for every task. QEMU then dumps physical memory raw and as an ELF core.

Output (in --out, or <out>/<name>/ per manifest image):
  memory.raw      physical memory from address 0 (QMP pmemsave)
  memory.elf      the same as an ELF core (QMP dump-guest-memory, paging=false)
  truth.json      ground truth, schema kcarve-truth/1: every task with pid, tgid, ppid,
                  comm, status live|hidden|exited, virtual and physical address; the
                  direct-map base, init_task, the page-table root; task_struct offsets;
                  for exited tasks whether pid/tgid/comm survive ("residue")
  serial.log      the guest console, guest.conf the workload, initramfs.cpio the guest

  Every image is validated before the command succeeds: pid, tgid and comm at pa+offset,
  ppid through real_parent, and the init_task.tasks walk reaches exactly the linked tasks
  and none of the hidden ones. A mismatch fails loudly.

Unlink styles (--unlink-style):
  self    list_del_init: the hidden entry points at itself
  stale   the neighbours skip the entry; the entry still points at them
  poison  list_del: the entry holds LIST_POISON1/2 (0xdead000000000100/122)

Determinism: --seed fixes the workload (names, tree, threads, which processes are hidden,
how short-lived ones end). The kernel is not deterministic: pids, addresses, KASLR
offsets and timing differ between two builds of the same seed.

Time and size: about 20-40 s and 2 x --mem per image under TCG on 2 cores (KVM is tried
first only when /dev/kvm works). --compress zstd shrinks a 256 MiB image to ~30 MB.

Needs (Debian): apt-get install -y qemu-system-x86 linux-image-amd64 linux-headers-amd64 busybox-static gcc make
(the headers must match the installed linux-image-amd64; .ci/system-deps installs all).

Examples:
  kcarve dataset linux --out /tmp/img --seed 7 --procs 6 --hide 2 --exited 3
  kcarve dataset linux --out /tmp/img5 --paging 5 --unlink-style poison
  kcarve dataset linux --manifest datasets/linux-train.json --out /data/kcarve-train
  kcarve dataset validate /tmp/img
`;

function summaryLine(name: string, b: BuiltLinuxImage): string {
  const tasks = b.truth.tasks;
  const n = (s: string) => tasks.filter((t) => t.status === s).length;
  const intact = tasks.filter((t) => t.residue && t.residue.pid && t.residue.tgid && t.residue.comm).length;
  const time = b.reused ? 'reused' : `${(b.timings.totalMs / 1000).toFixed(1)} s`;
  return `${name}\t${b.dir}\tlive ${n('live')}\thidden ${n('hidden')}\texited ${n('exited')} (${intact} intact)\t${(b.bytes / 2 ** 20).toFixed(0)} MiB\t${time}`;
}

export function register(program: Command): void {
  const dataset = program.command('dataset').description('Build and check datasets of memory images with ground truth');

  dataset
    .command('linux')
    .description('Build real Linux memory images (QEMU + Debian kernel) with ground truth recorded by the kernel')
    .option('--mem <MiB>', `guest RAM in MiB (${LIMITS.memMiB[0]}-${LIMITS.memMiB[1]})`, int('mem'), DEFAULT_LINUX_PARAMS.memMiB)
    .option('--seed <n>', 'seed of the workload choices', int('seed'), DEFAULT_LINUX_PARAMS.seed)
    .option('--procs <n>', 'long-lived processes (hidden ones included)', int('procs'), DEFAULT_LINUX_PARAMS.procs)
    .option('--threads <n>', 'extra threads spread over the long-lived processes', int('threads'), DEFAULT_LINUX_PARAMS.threads)
    .option('--hide <n>', 'processes unlinked from the task list (their threads are hidden too)', int('hide'), DEFAULT_LINUX_PARAMS.hide)
    .option('--exited <n>', 'short-lived processes that exit and are reaped before the dump', int('exited'), DEFAULT_LINUX_PARAMS.exited)
    .addOption(new Option('--kaslr <on|off>', 'kernel address-space randomisation').argParser(onOff).default(DEFAULT_LINUX_PARAMS.kaslr, DEFAULT_LINUX_PARAMS.kaslr ? 'on' : 'off'))
    .option('--unlink-style <style>', 'how hidden processes are unlinked: self, stale or poison', style, DEFAULT_LINUX_PARAMS.unlinkStyle)
    .option('--paging <4|5>', 'guest paging levels (5 = LA57)', paging, DEFAULT_LINUX_PARAMS.paging)
    .option('--manifest <file>', 'build every image listed in this manifest (e.g. datasets/linux-train.json)')
    .option('--out <dir>', 'output directory (required)')
    .option('--compress <zstd>', 'compress the dumps with zstd after validation')
    .option('--force', 'rebuild even if --out already holds an image of the same parameters')
    .option('--json', 'print the result as JSON on stdout')
    .addHelpText('after', HELP)
    .action(async (opts: Record<string, unknown>, cmd: Command) => {
      const out = opts['out'];
      if (typeof out !== 'string' || out === '') throw new UsageError('--out <dir> is required');
      const compress = opts['compress'] as string | undefined;
      if (compress !== undefined && compress !== 'zstd') throw new UsageError(`--compress must be zstd (got ${JSON.stringify(compress)})`);
      const log = (line: string) => process.stderr.write(`kcarve dataset: ${line}\n`);
      const common = { compress: compress as 'zstd' | undefined, force: opts['force'] === true, log };
      const started = Date.now();
      let results: { name: string; built: BuiltLinuxImage }[];
      if (typeof opts['manifest'] === 'string') {
        const clash = PARAM_OPTIONS.filter(([, , attr]) => cmd.getOptionValueSource(attr) === 'cli').map(([, o]) => `--${o}`);
        if (clash.length > 0) throw new UsageError(`--manifest takes every image's parameters from the manifest; remove ${clash.join(', ')}`);
        const manifest = loadManifest(opts['manifest']);
        results = await buildManifest(manifest, out, common);
      } else {
        const params: Partial<LinuxImageParams> = {};
        for (const [k, , attr] of PARAM_OPTIONS) (params as Record<string, unknown>)[k] = opts[attr];
        results = [{ name: 'image', built: await buildLinuxImage({ ...params, ...common, out }) }];
      }
      const totalMs = Date.now() - started;
      const bytes = results.reduce((n, r) => n + r.built.bytes, 0);
      if (opts['json'] === true) {
        const images = results.map((r) => ({
          name: r.name, dir: r.built.dir, truth: r.built.truthPath, reused: r.built.reused,
          timings: r.built.timings, bytes: r.built.bytes, validation: r.built.reports,
        }));
        process.stdout.write(`${JSON.stringify({ images, totalMs, bytes }, null, 2)}\n`);
      } else {
        for (const r of results) process.stdout.write(`${summaryLine(r.name, r.built)}\n`);
        process.stdout.write(`total\t${results.length} image(s)\t${(bytes / 2 ** 20).toFixed(0)} MiB\t${(totalMs / 1000).toFixed(1)} s\n`);
      }
    });

  dataset
    .command('validate')
    .description('Check a built image directory: its truth.json against memory.raw and memory.elf')
    .argument('<dir>', 'directory holding truth.json and the images it names')
    .action((dir: string) => {
      for (const r of validateLinuxImageDir(dir)) {
        process.stdout.write(
          `ok\t${r.image}\t${r.live} live, ${r.hidden} hidden, ${r.exited} exited (${r.exitedIntact} intact), list walk ${r.walkLength}\n`,
        );
      }
    });
}
