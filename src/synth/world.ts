// The OS part of a synthetic world is a plug-in: the common machinery (memory map, page
// allocator, noise, canvas, image writer, truth writer, attack parser) is the same for
// every OS, and a world (`linux`, `windows`) only decides what objects exist and where.
// A new OS adds a directory under src/synth/ and one line in ./worlds.ts.
import type { PageTableBuilder } from '../layers/page-table-builder.js';
import type { AttackSpec } from './attack.js';
import type { PhysCanvas } from './canvas.js';
import type { MemoryMap, SynthFormat } from './memory-map.js';
import type { PageAllocator } from './page-allocator.js';
import type { PageContent } from './page-content.js';
import type { Prng } from './prng.js';
import type { SynthDecoy, SynthTruth, SynthTruthTask } from './truth.js';

/** The arguments of `kcarve synth`, checked and with defaults applied. */
export interface SynthOptions {
  readonly os: string;
  readonly build: string;
  readonly seed: number;
  /** Bytes of guest RAM. */
  readonly size: number;
  /** Processes (thread-group leaders / EPROCESSes) alive at the dump, hidden ones included. */
  readonly procs: number;
  /** Extra threads spread over the live processes. */
  readonly threads: number;
  /** How many of the processes are unlinked from the kernel's process list (DKOM). */
  readonly hidden: number;
  /** Processes that exited before the dump (freed objects with residue). */
  readonly exited: number;
  /** Decoy structures (name strings, partial copies, look-alikes). */
  readonly decoys: number;
  readonly attack: AttackSpec;
  readonly format: SynthFormat;
  /** Paging levels (x86-64: 4 or 5); undefined = the world's default. */
  readonly paging: number | undefined;
  readonly kaslr: boolean;
}

/** What a world gets to build itself with. All randomness comes from `rng` (and its children). */
export interface WorldContext {
  readonly options: SynthOptions;
  readonly rng: Prng;
  readonly memory: MemoryMap;
  readonly pages: PageAllocator;
  /** Content kind per page; the world sets its noise bank (content.setNoise) before writing. */
  readonly content: PageContent;
  /** Object bytes; pages start as their background. */
  readonly canvas: PhysCanvas;
}

/** What a world hands back: its truth and the page tables to write over the image. */
export interface BuiltWorld<T extends SynthTruthTask = SynthTruthTask> {
  /** Everything but `image` and `build`, which the writer fills in. */
  readonly truth: Omit<SynthTruth<T>, 'image' | 'build'>;
  /** Page tables (kernel and per-process); their pages are written over the image. */
  readonly pageTables: readonly PageTableBuilder[];
  /** ELF notes for an `elf` image (e.g. a QEMU CPU state with CR3). */
  readonly notes?: Uint8Array;
  /** ELF class of an `elf` image (default 64). */
  readonly elfClass?: 32 | 64;
  readonly decoys?: readonly SynthDecoy[];
}

export interface WorldPlugin {
  /** The `--os` value. */
  readonly os: string;
  /** `--build` names this world knows; the first is the default. */
  readonly builds: readonly string[];
  /** Attack names for --attack, each with one line of what it does. */
  readonly attacks: Readonly<Record<string, string>>;
  /** Fields `random:N` draws from. */
  readonly randomFields: readonly string[];
  /** Paging levels the world can build (first = default). */
  readonly pagingLevels: readonly number[];
  /** Smallest --size the world fits in, in bytes. */
  minSize(build: string): number;
  /** Build the world. Throws UsageError when the options cannot be honoured. */
  build(ctx: WorldContext): BuiltWorld;
}
