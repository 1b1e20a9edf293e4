// `kcarve synth` as a library: check the arguments, let the OS plug-in build its world on
// the common machinery, stream the image and write truth.json beside it. Everything is a
// function of the arguments: the same arguments give byte-identical files.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { hex, phys } from '../addr.js';
import { ImageIOError, UsageError } from '../errors.js';
import type { PhysPatch, WrittenImage } from '../layers/image-writer.js';
import { KCARVE_VERSION } from '../version.js';
import { parseAttackSpec } from './attack.js';
import { PhysCanvas } from './canvas.js';
import { writeWorldImage } from './image.js';
import { MemoryMap, PAGE_SIZE, type SynthFormat, parseSize } from './memory-map.js';
import { PageAllocator } from './page-allocator.js';
import { PageContent } from './page-content.js';
import { Prng } from './prng.js';
import { type SynthTruth, writeTruth } from './truth.js';
import type { BuiltWorld, SynthOptions, WorldContext, WorldPlugin } from './world.js';
import { WORLDS } from './worlds.js';

/** Arguments as the CLI (or a caller) gives them; strings are parsed, missing ones defaulted. */
export interface SynthArgs {
  os?: string;
  build?: string;
  seed?: number | string;
  size?: number | string;
  procs?: number | string;
  threads?: number | string;
  hidden?: number | string;
  exited?: number | string;
  decoys?: number | string;
  attack?: string;
  format?: string;
  paging?: number | string;
  kaslr?: boolean;
}

export const SYNTH_DEFAULTS = { os: 'linux', seed: 1, size: '256M', procs: 40, threads: 12, hidden: 3, exited: 6, decoys: 12, format: 'raw' as SynthFormat };
export const SYNTH_FORMATS: readonly SynthFormat[] = ['raw', 'lime', 'elf'];
const IMAGE_FILE: Record<SynthFormat, string> = { raw: 'memory.raw', lime: 'memory.lime', elf: 'memory.elf' };

function count(name: string, value: number | string | undefined, fallback: number, max = 1_000_000): number {
  if (value === undefined) return fallback;
  const n = typeof value === 'number' ? value : /^\s*[0-9]+\s*$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < 0 || n > max) throw new UsageError(`--${name} ${JSON.stringify(String(value))}: expected a whole number from 0 to ${max}`);
  return n;
}

/** The world plug-in for `os`. */
export function worldFor(os: string, worlds: readonly WorldPlugin[] = WORLDS): WorldPlugin {
  const plugin = worlds.find((w) => w.os === os);
  if (!plugin) {
    const known = worlds.map((w) => w.os).join(', ') || 'none';
    throw new UsageError(`--os ${JSON.stringify(os)}: no synthetic world for this OS (known: ${known})`);
  }
  return plugin;
}

/** Check `args` and apply defaults; throws UsageError naming the bad option. */
export function resolveSynthOptions(args: SynthArgs, worlds: readonly WorldPlugin[] = WORLDS): { plugin: WorldPlugin; options: SynthOptions } {
  const plugin = worldFor(args.os ?? SYNTH_DEFAULTS.os, worlds);
  const build = args.build ?? plugin.builds[0]!;
  if (!plugin.builds.includes(build)) {
    throw new UsageError(`--build ${JSON.stringify(build)}: unknown for ${plugin.os} (known: ${plugin.builds.join(', ')})`);
  }
  const seed = count('seed', args.seed, SYNTH_DEFAULTS.seed, Number.MAX_SAFE_INTEGER);
  const size = typeof args.size === 'number' ? args.size : parseSize(args.size ?? SYNTH_DEFAULTS.size);
  const min = plugin.minSize(build);
  if (!Number.isSafeInteger(size) || size % (1 << 20) !== 0) throw new UsageError(`--size ${String(args.size)}: must be a whole number of MiB`);
  if (size < min) throw new UsageError(`--size ${String(args.size)}: a ${plugin.os} ${build} world needs at least ${min >> 20} MiB`);
  if (size > 64 * 2 ** 30) throw new UsageError(`--size ${String(args.size)}: at most 64 GiB`);
  const format = (args.format ?? SYNTH_DEFAULTS.format) as SynthFormat;
  if (!SYNTH_FORMATS.includes(format)) throw new UsageError(`--format ${JSON.stringify(args.format)}: expected one of ${SYNTH_FORMATS.join(', ')}`);
  let paging: number | undefined;
  if (args.paging !== undefined) {
    paging = Number(args.paging);
    if (!plugin.pagingLevels.includes(paging)) {
      throw new UsageError(`--paging ${JSON.stringify(String(args.paging))}: a ${plugin.os} world supports ${plugin.pagingLevels.join(' or ')}`);
    }
  }
  const procs = count('procs', args.procs, SYNTH_DEFAULTS.procs, 100_000);
  const hidden = count('hidden', args.hidden, SYNTH_DEFAULTS.hidden, 100_000);
  if (hidden > procs) throw new UsageError(`--hidden ${hidden}: cannot hide more processes than --procs ${procs}`);
  const options: SynthOptions = {
    os: plugin.os,
    build,
    seed,
    size,
    procs,
    threads: count('threads', args.threads, SYNTH_DEFAULTS.threads, 100_000),
    hidden,
    exited: count('exited', args.exited, SYNTH_DEFAULTS.exited, 100_000),
    decoys: count('decoys', args.decoys, SYNTH_DEFAULTS.decoys, 100_000),
    attack: parseAttackSpec(args.attack, plugin.os, plugin.attacks, plugin.randomFields),
    format,
    paging,
    kaslr: args.kaslr ?? true,
  };
  return { plugin, options };
}

/** A world built in memory, before it is written. */
export interface WorldInMemory {
  readonly options: SynthOptions;
  readonly ctx: WorldContext;
  readonly world: BuiltWorld;
  /** Canvas pages and page-table pages: what goes over the background. */
  readonly patches: readonly PhysPatch[];
  /** The bytes the image will hold at [pa, pa + length) (for tests and measurements). */
  readPhys(pa: number, length: number): Uint8Array;
}

/** Build the world of `options` without writing it. */
export function buildWorld(plugin: WorldPlugin, options: SynthOptions): WorldInMemory {
  const memory = MemoryMap.q35(options.size);
  const rng = new Prng(options.seed, 'kcarve-synth', options.os, options.build);
  const content = new PageContent(memory);
  const pages = new PageAllocator(memory.pageCount, memory.usable, rng.child('page-allocator'));
  const canvas = new PhysCanvas(content);
  const ctx: WorldContext = { options, rng: rng.child('world'), memory, pages, content, canvas };
  const world = plugin.build(ctx);
  const tablePages = new Map<number, Uint8Array>();
  for (const pt of world.pageTables) {
    for (const { paddr, bytes } of pt.tablePages()) {
      const pfn = paddr / PAGE_SIZE;
      if (canvas.has(pfn)) throw new Error(`synth: page-table page ${hex(paddr)} is also an object page (world bug)`);
      tablePages.set(pfn, bytes);
    }
  }
  const patches: PhysPatch[] = [...canvas.patches(), ...[...tablePages.entries()].sort((a, b) => a[0] - b[0]).map(([pfn, bytes]) => ({ paddr: phys(pfn * PAGE_SIZE), bytes }))];
  const readPhys = (pa: number, length: number): Uint8Array => {
    const out = canvas.read(pa, length);
    for (let at = pa - (pa % PAGE_SIZE); at < pa + length; at += PAGE_SIZE) {
      const t = tablePages.get(at / PAGE_SIZE);
      if (t === undefined) continue;
      const from = Math.max(pa, at);
      const to = Math.min(pa + length, at + PAGE_SIZE);
      out.set(t.subarray(from - at, to - at), from - pa);
    }
    return out;
  };
  return { options, ctx, world, patches, readPhys };
}

export interface SynthResult {
  readonly dir: string;
  readonly imagePath: string;
  readonly truthPath: string;
  readonly image: WrittenImage;
  readonly truth: SynthTruth;
}

/** The build parameters recorded in truth.json. */
function params(o: SynthOptions): Record<string, string | number | boolean> {
  return {
    os: o.os,
    build: o.build,
    seed: o.seed,
    size: o.size,
    procs: o.procs,
    threads: o.threads,
    hidden: o.hidden,
    exited: o.exited,
    decoys: o.decoys,
    attack: o.attack.text,
    format: o.format,
    ...(o.paging !== undefined ? { paging: o.paging } : {}),
    kaslr: o.kaslr,
  };
}

/** Build a world and write `<out>/memory.<format>` and `<out>/truth.json`. */
export function synthesize(args: SynthArgs & { out: string }, worlds: readonly WorldPlugin[] = WORLDS): SynthResult {
  const { plugin, options } = resolveSynthOptions(args, worlds);
  try {
    mkdirSync(args.out, { recursive: true });
  } catch (err) {
    throw new ImageIOError(args.out, undefined, `cannot create the output directory: ${(err as Error).message}`, { cause: err });
  }
  const built = buildWorld(plugin, options);
  const imageName = IMAGE_FILE[options.format];
  const imagePath = join(args.out, imageName);
  const image = writeWorldImage(imagePath, options.format, built.ctx.memory, built.ctx.content, built.patches, {
    ...(built.world.notes !== undefined ? { notes: built.world.notes } : {}),
    ...(built.world.elfClass !== undefined ? { elfClass: built.world.elfClass } : {}),
  });
  const truth: SynthTruth = {
    schema: built.world.truth.schema,
    os: built.world.truth.os,
    image: { [options.format]: imageName },
    kernel: built.world.truth.kernel,
    layout: built.world.truth.layout,
    offsets: built.world.truth.offsets,
    tasks: built.world.truth.tasks,
    decoys: built.world.truth.decoys,
    build: {
      generator: 'kcarve synth',
      kcarve_version: KCARVE_VERSION,
      params: params(options),
      note: 'Synthetic world: every byte is a function of params. Background pages are generated noise; objects follow the layout in offsets.',
    },
  };
  const truthPath = join(args.out, 'truth.json');
  writeTruth(truthPath, truth);
  return { dir: args.out, imagePath, truthPath, image, truth };
}
