// The options `kcarve scan`, `pslist` and `xview` share, parsed into the library's plain
// RunScanOptions (src/scan/open-scan.ts), and what they do at the end: write the output,
// warn about a partial result on stderr and end with exit code 2.
import { writeFileSync } from 'node:fs';
import { type Command, Option } from 'commander';
import { ImageIOError, KcarveError, UsageError } from '../errors.js';
import { FILE_IMAGE_FORMATS, type FileImageFormat } from '../layers/open-image.js';
import { HASH_MODES, type HashMode } from '../scan/identity.js';
import type { RunScanOptions } from '../scan/open-scan.js';
import { DEFAULT_CHUNK_SIZE } from '../scan/plan.js';
import { MAX_WORKERS } from '../scan/pool.js';
import type { Missed } from '../scan/progress.js';
import { ProgressBar } from './progress-bar.js';

export const OUTPUT_FORMATS = ['table', 'json', 'jsonl', 'csv'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export interface ScanCliOptions {
  os: string;
  osModule: string[];
  layout?: string;
  signature?: string;
  workers?: string;
  chunkSize?: string;
  format: OutputFormat;
  out?: string;
  truth?: string;
  imageFormat?: FileImageFormat;
  hash: HashMode;
  progress: boolean;
}

const UNITS: Record<string, number> = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30 };

/** `64M`, `64MiB`, `1g`, `4096` → bytes (binary units). */
export function parseSize(text: string, what: string): number {
  const m = /^([0-9]+)\s*([kmg]?)(i?b)?$/i.exec(text.trim());
  const n = m === null ? NaN : Number(m[1]) * UNITS[m[2]!.toLowerCase()]!;
  if (!Number.isSafeInteger(n) || n <= 0) {
    throw new UsageError(`${what} must be a positive size such as 65536, 64K, 64M or 1G (got ${JSON.stringify(text)})`);
  }
  return n;
}

export function parseWorkers(text: string): number {
  if (!/^[0-9]+$/.test(text.trim()) || Number(text) > MAX_WORKERS) {
    throw new UsageError(`--workers must be an integer from 0 to ${MAX_WORKERS} (got ${JSON.stringify(text)})`);
  }
  return Number(text);
}

/** Add the shared options to a command. */
export function addScanOptions(cmd: Command): Command {
  return cmd
    .argument('<image>', 'memory image file (QEMU ELF core, LiME or raw)')
    .option('--os <name>', 'OS support: auto, linux, windows, or a plugin\'s name (auto: from the signature, else detected)', 'auto')
    .option('--os-module <file>', 'load an OS support plugin module first (repeatable; see src/os/index.ts)', (v: string, all: string[]) => [...all, v], [] as string[])
    .option('--signature <file>', "signature file (kcarve-signature/1); default: the OS support's own")
    .option('--layout <file>', 'structure layout to resolve the signature against (BTF, vmlinux, bzImage or ISF), instead of the one it names')
    .option('--workers <n>', `worker threads (0 = scan in this thread); default: none for images of up to 1 GiB, else one per CPU, at most one per chunk`)
    .option('--chunk-size <size>', `bytes per scan task, e.g. 16M (default ${DEFAULT_CHUNK_SIZE / 2 ** 20}M)`)
    .addOption(new Option('--format <format>', 'output format').choices([...OUTPUT_FORMATS]).default('table'))
    .option('--out <file>', 'write the output to this file instead of stdout')
    .option('--truth <file>', 'take discovery hints (direct-map base, page-table root, paging levels, init_task) from a truth.json; its task list is never read')
    .addOption(new Option('--image-format <format>', 'read the image as this format instead of detecting it').choices([...FILE_IMAGE_FORMATS]))
    .addOption(new Option('--hash <mode>', 'how the result identifies the image: sha256 of the first and last MiB, of the whole file, or none').choices([...HASH_MODES]).default('edges'))
    .option('--no-progress', 'no progress bar (it is shown only when stderr is a terminal anyway)');
}

export function scanOptionsFrom(image: string, o: ScanCliOptions, bar: ProgressBar | undefined): RunScanOptions {
  return {
    image,
    os: o.os,
    osModules: o.osModule,
    ...(o.signature === undefined ? {} : { signature: o.signature }),
    ...(o.layout === undefined ? {} : { layout: o.layout }),
    ...(o.workers === undefined ? {} : { workers: parseWorkers(o.workers) }),
    ...(o.chunkSize === undefined ? {} : { chunkSize: parseSize(o.chunkSize, '--chunk-size') }),
    ...(o.truth === undefined ? {} : { truth: o.truth }),
    ...(o.imageFormat === undefined ? {} : { format: o.imageFormat }),
    hash: o.hash,
    ...(bar === undefined ? {} : { onProgress: (p) => bar.update(p) }),
  };
}

/** A progress bar when stderr is a terminal and --no-progress was not given. */
export function progressBarFor(o: ScanCliOptions): ProgressBar | undefined {
  return o.progress && process.stderr.isTTY === true ? new ProgressBar(process.stderr) : undefined;
}

/** Write the command's output to --out or stdout. */
/** Runs `run` on the image with the command line's scan options, a progress bar on stderr while it works. */
export async function runWithProgress<T>(image: string, o: ScanCliOptions, run: (options: RunScanOptions) => Promise<T>): Promise<T> {
  const bar = progressBarFor(o);
  try {
    return await run(scanOptionsFrom(image, o, bar));
  } finally {
    bar?.clear();
  }
}

export function writeOutput(text: string, o: ScanCliOptions): void {
  if (o.out === undefined) {
    process.stdout.write(text);
    return;
  }
  try {
    writeFileSync(o.out, text);
  } catch (err) {
    throw new ImageIOError(o.out, undefined, `cannot write the output: ${(err as Error).message}`, { cause: err });
  }
}

/** A result was written but does not cover the whole image: exit code 2. */
export class PartialResultError extends KcarveError {}

/** After writing a partial result: say what was missed on stderr and fail with exit code 2. */
export function failIfPartial(missed: readonly Missed[]): void {
  if (missed.length === 0) return;
  const lines = missed.map((m) => `  ${m.phase} pass, ${m.kind}: ${m.reason}` + (m.kind === 'worker-failure' && m.error.stack ? ` (${m.error.name}; a bug: please report it with the stack below)\n${indent(m.error.stack)}` : ''));
  throw new PartialResultError(`partial result: ${missed.length} part(s) of the image were not covered; the output above lacks them:\n${lines.join('\n')}`);
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `      ${l}`)
    .join('\n');
}
