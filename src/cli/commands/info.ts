// `kcarve info IMAGE`: what a memory image holds, as kcarve will read it. The first
// command to run on a new image: it shows whether the format was recognised, which
// physical ranges the image covers (runs) and which it lacks (holes).
import { type Command, Option } from 'commander';
import { hex } from '../../addr.js';
import { ImageFormatError } from '../../errors.js';
import { qemuCpuStates, readElfNotes, vmcoreinfo } from '../../layers/elf-notes.js';
import { FILE_IMAGE_FORMATS, type FileImageFormat, openImage } from '../../layers/open-image.js';
import type { PhysicalReader } from '../../layers/physical.js';

/** Text output lists at most this many runs and holes unless --all. */
const TEXT_LIMIT = 50;

export interface ImageInfo {
  path: string;
  format: string;
  detail: string;
  fileSize: number;
  mappedSize: number;
  /** One past the highest physical address held. */
  endAddress: string;
  runs: { paddr: string; end: string; fileOffset: number; length: number }[];
  holes: { paddr: string; end: string; length: number }[];
  /** ELF cores only: what the notes say about the CPUs and the guest kernel. */
  notes?: {
    /** One per QEMU CPU-state note; cr3 is the page-table root the CPU had loaded. */
    cpus: { cpu: number; cr0: string; cr3: string; cr4: string; rip: string }[];
    /** The guest's VMCOREINFO lines (Linux with -device vmcoreinfo), if present. */
    vmcoreinfo?: Record<string, string>;
    /** Why the notes could not be read, when they could not. */
    error?: string;
  };
}

function describeNotes(path: string): NonNullable<ImageInfo['notes']> {
  try {
    const notes = readElfNotes(path);
    const info = vmcoreinfo(notes);
    return {
      cpus: qemuCpuStates(notes).map((c) => ({ cpu: c.cpu, cr0: hex(c.cr0), cr3: hex(c.cr3), cr4: hex(c.cr4), rip: hex(c.rip) })),
      ...(info === undefined ? {} : { vmcoreinfo: Object.fromEntries(info) }),
    };
  } catch (err) {
    // Memory is readable without the notes: report the problem instead of failing.
    if (err instanceof ImageFormatError) return { cpus: [], error: err.message };
    throw err;
  }
}

/** The plain-data description `info --json` prints (addresses as hex strings). */
export function describeImage(image: PhysicalReader): ImageInfo {
  return {
    path: image.path,
    format: image.format,
    detail: image.detail,
    fileSize: image.fileSize,
    mappedSize: image.mappedSize,
    endAddress: hex(image.endAddress),
    runs: image.runs.map((r) => ({ paddr: hex(r.paddr), end: hex(r.paddr + r.length), fileOffset: r.fileOffset, length: r.length })),
    holes: image.holes().map((h) => ({ paddr: hex(h.paddr), end: hex(h.paddr + h.length), length: h.length })),
    ...(image.format === 'elf-core' ? { notes: describeNotes(image.path) } : {}),
  };
}

/** 1536 → "1.5 KiB"; exact byte counts are printed beside it where they matter. */
export function formatSize(bytes: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} bytes` : `${value.toFixed(1)} ${units[unit]}`;
}

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `  ${cells.map((c, i) => c.padEnd(widths[i]!)).join('  ')}`.trimEnd();
  return [line(header), ...rows.map(line)];
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

export function renderInfo(info: ImageInfo, all: boolean): string {
  const out: string[] = [
    `image      ${info.path}`,
    `format     ${info.format}: ${info.detail}`,
    `file size  ${formatSize(info.fileSize)} (${info.fileSize} bytes)`,
    `mapped     ${formatSize(info.mappedSize)} (${info.mappedSize} bytes) of physical 0x0..${info.endAddress}, ` +
      `in ${plural(info.runs.length, 'run')} with ${plural(info.holes.length, 'hole')}`,
    '',
    'runs (physical memory the image holds)',
  ];
  const cap = (n: number) => (all ? n : Math.min(n, TEXT_LIMIT));
  const more = (n: number, what: string) =>
    n > cap(n) ? [`  ... ${n - cap(n)} more ${what} (--all lists them, --json prints everything)`] : [];
  out.push(
    ...table(
      ['physical start', 'physical end', 'file offset', 'length'],
      info.runs.slice(0, cap(info.runs.length)).map((r) => [r.paddr, r.end, hex(r.fileOffset), formatSize(r.length)]),
    ),
    ...more(info.runs.length, 'runs'),
  );
  out.push('', info.holes.length === 0 ? 'holes: none' : 'holes (physical memory the image lacks; reads there fail)');
  if (info.holes.length > 0) {
    out.push(
      ...table(
        ['physical start', 'physical end', 'length'],
        info.holes.slice(0, cap(info.holes.length)).map((h) => [h.paddr, h.end, formatSize(h.length)]),
      ),
      ...more(info.holes.length, 'holes'),
    );
  }
  if (info.notes !== undefined) {
    const { cpus, vmcoreinfo: vmci, error } = info.notes;
    out.push('', 'ELF notes');
    if (error !== undefined) out.push(`  unreadable: ${error}`);
    if (cpus.length === 0 && error === undefined) out.push('  no QEMU CPU-state notes');
    for (const c of cpus) out.push(`  cpu ${c.cpu}: CR3 ${c.cr3} (page-table root), CR0 ${c.cr0}, CR4 ${c.cr4}, RIP ${c.rip}`);
    if (vmci !== undefined) out.push(`  VMCOREINFO: ${Object.keys(vmci).length} entries (--json prints them)`);
  }
  return `${out.join('\n')}\n`;
}

const HELP_AFTER = `
What it shows:
  kcarve reads a memory image as "runs": ranges of guest physical addresses and where
  their bytes sit in the file. Physical memory no run covers is a "hole" (MMIO gaps,
  memory the acquisition skipped); kcarve never invents bytes for a hole. Addresses
  are physical and printed in hex; sizes are bytes. For QEMU ELF cores it also shows
  each CPU's CR3 (the page-table root in use at dump time) from QEMU's notes.

Formats (detected from the first bytes of the file):
  elf-core  ELF core from QEMU "dump-guest-memory" (virsh dump --memory-only): one
            run per PT_LOAD, at its p_paddr. ELF64 and ELF32 (32-bit guests).
  lime      LiME "format=lime": one run per range header.
  raw       anything else: the file is physical memory from address 0, one run, no
            holes (gaps in guest memory are stored as zeros, so they read as zeros).

Examples:
  kcarve info memory.elf
  kcarve info --json memory.lime | jq '.runs | length'
  kcarve info --format raw dump.bin      # a raw image that happens to start with "\\x7fELF"

Exit status: 0 ok, 1 bad command line, 2 unreadable or malformed image (the message
names the file, the offset of the bad header and what is wrong).
`;

export function register(program: Command): void {
  program
    .command('info')
    .summary('show the format, physical runs and holes of a memory image')
    .description('Show how kcarve reads a memory image: its format, the physical address ranges it holds (runs), the ranges it lacks (holes), and its sizes.')
    .argument('<image>', 'memory image file (QEMU ELF core, LiME or raw)')
    .option('--json', 'print one JSON object (addresses as hex strings, sizes and file offsets as numbers)')
    .option('--all', `list every run and hole (text output stops at ${TEXT_LIMIT} of each)`)
    .addOption(new Option('--format <format>', 'read the file as this format instead of detecting it').choices([...FILE_IMAGE_FORMATS]))
    .addHelpText('after', HELP_AFTER)
    .action((path: string, opts: { json?: boolean; all?: boolean; format?: FileImageFormat }) => {
      const image = openImage(path, opts.format === undefined ? {} : { format: opts.format });
      try {
        const info = describeImage(image);
        process.stdout.write(opts.json === true ? `${JSON.stringify(info, null, 2)}\n` : renderInfo(info, opts.all === true));
      } finally {
        image.close();
      }
    });
}
