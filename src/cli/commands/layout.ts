// `kcarve layout`: look at structure layouts and move them between formats.
//   show FILE TYPE            print a struct like pahole (offsets, sizes, types)
//   export-isf --btf FILE     write Volatility 3 ISF (BTF + System.map/kallsyms)
//   extract-btf FILE --out X  take the BTF out of a vmlinuz/vmlinux
import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Command, InvalidArgumentError } from 'commander';
import { LayoutError, UsageError } from '../../errors.js';
import { isfToText } from '../../types/isf.js';
import { extractKernelBtf } from '../../types/kernel-image.js';
import { leafMembers } from '../../types/members.js';
import { loadLayout } from '../../types/load.js';
import { formatLeaves, formatType } from '../../types/print.js';
import { typeName } from '../../types/model.js';
import { loadSymbolMap, withSymbols } from '../../types/symbol-map.js';

const FORMATS = `Layout files (told apart by content, optionally .gz or .xz compressed):
  - raw BTF, as in /sys/kernel/btf/vmlinux
  - a vmlinux ELF with a .BTF section
  - a bzImage (/boot/vmlinuz-*, gzip or xz payload; Debian's are xz)
  - Volatility 3 ISF JSON (format 6.x), e.g. a dwarf2json output or a symbol pack
  - the shipped Debian 6.1.0-57-amd64 BTF: signatures/btf/linux-6.1.0-57-amd64.btf.gz`;

function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a non-negative integer');
  return n;
}

/** Refuse an output name we cannot honour before doing the work. */
function checkOut(path: string): void {
  if (path.endsWith('.xz')) {
    // @napi-rs/lzma 1.4.5 (the xz library that runs on Node 20) encodes
    // without real compression (a 5.6 MB ISF stays 5.6 MB), so do not pretend.
    throw new UsageError(`cannot write ${path}: xz output is not supported; write .gz (Volatility 3 reads .json.gz) or run xz on the plain file`);
  }
}

function write(path: string, text: string | Uint8Array): void {
  const data = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  const out: Uint8Array = path.endsWith('.gz') ? gzipSync(data, { level: 9 }) : data;
  try {
    writeFileSync(path, out);
  } catch (err) {
    throw new UsageError(`cannot write ${path}: ${(err as Error).message}`);
  }
}

export function register(program: Command): void {
  const layout = program
    .command('layout')
    .description('Inspect structure layouts (BTF, vmlinux, ISF) and convert between them')
    .addHelpText('after', `\n${FORMATS}\n`);

  layout
    .command('show')
    .description('Print a struct or union with offsets, sizes and types, like pahole')
    .argument('<file>', 'layout file (see "kcarve layout --help")')
    .argument('<type>', 'struct or union name, e.g. task_struct')
    .option('--expand <levels>', 'expand named nested structs this many levels deep', nonNegativeInt, 0)
    .option('--leaves', 'list every leaf field (flattened path, offset, size, kind) instead')
    .option('--member <path>', 'print just one member: offset, size and type (e.g. tasks.next, numbers[0].nr)')
    .addHelpText(
      'after',
      `
Examples:
  kcarve layout show signatures/btf/linux-6.1.0-57-amd64.btf.gz task_struct
  kcarve layout show /sys/kernel/btf/vmlinux task_struct --member tasks.next
  kcarve layout show vmlinux.json.xz pid --expand 1
  kcarve layout show /boot/vmlinuz-6.1.0-57-amd64 task_struct --leaves

Offsets are in bytes from the start of the struct; a bitfield shows as
offset:bit, the bit counted from the least significant bit of its storage unit.`,
    )
    .action((file: string, type: string, opts: { expand: number; leaves?: boolean; member?: string }) => {
      const l = loadLayout(file);
      if (opts.member !== undefined) {
        const m = l.member(type, opts.member);
        const bits = m.bits ? ` bits ${m.bits.position}..${m.bits.position + m.bits.length - 1}` : '';
        process.stdout.write(`${type}.${opts.member}: offset ${m.offset} size ${m.size}${bits} type ${typeName(m.type)}\n`);
      } else if (opts.leaves) {
        process.stdout.write(formatLeaves(leafMembers(l, type)));
      } else {
        process.stdout.write(formatType(l, type, { expand: opts.expand }));
      }
    });

  layout
    .command('export-isf')
    .description('Write a layout (with symbol addresses) as Volatility 3 ISF JSON')
    .requiredOption('--btf <file>', 'layout source: BTF, vmlinux, vmlinuz or ISF')
    .option('--symbols <file>', 'System.map or a copy of /proc/kallsyms (read as root) for symbol addresses')
    .option('--banner <text>', 'linux_banner text (default: found in a vmlinux/vmlinuz; needed by Volatility to match the image)')
    .requiredOption('--out <file>', 'output ISF: .json or .json.gz')
    .addHelpText(
      'after',
      `
Examples:
  kcarve layout export-isf --btf /boot/vmlinuz-$(uname -r) --symbols System.map --out linux.json.gz
  sudo cat /proc/kallsyms > kallsyms; kcarve layout export-isf --btf /sys/kernel/btf/vmlinux --symbols kallsyms --out linux.json

The output follows Volatility 3's ISF schema (format 6.2.0, checked against the
6.3.0 rules before writing). Volatility picks a Linux symbol table by
linux_banner: give --symbols so the banner symbol has an address, and a vmlinux
or vmlinuz (or --banner) so it has its text. kallsyms addresses include the
KASLR slide; Volatility works out the slide itself either way.`,
    )
    .action((opts: { btf: string; symbols?: string; banner?: string; out: string }) => {
      checkOut(opts.out);
      let l = loadLayout(opts.btf);
      const sources: Array<{ kind: 'system-map'; name: string; sha256: string }> = [];
      if (opts.symbols !== undefined) {
        const map = loadSymbolMap(opts.symbols);
        // linux_banner always ends with a newline (init/version-timestamp.c); a shell argument rarely does.
        const banner = opts.banner === undefined ? l.metadata.banner : opts.banner.endsWith('\n') ? opts.banner : `${opts.banner}\n`;
        l = withSymbols(l, map.symbols, banner);
        sources.push({ kind: 'system-map', name: basename(opts.symbols), sha256: map.sha256 });
      }
      write(opts.out, isfToText(l, opts.out, { symbolSources: sources }));
      process.stderr.write(`wrote ${opts.out}: ${l.userTypes.size} structs/unions, ${l.enums.size} enums, ${l.symbols.size} symbols\n`);
    });

  layout
    .command('extract-btf')
    .description("Take a kernel's BTF out of a vmlinuz (bzImage), a vmlinux ELF or a raw BTF file")
    .argument('<kernel>', 'vmlinuz / vmlinux / BTF file')
    .requiredOption('--out <file>', 'where to write the raw BTF (.gz to gzip it)')
    .addHelpText(
      'after',
      `
Examples:
  kcarve layout extract-btf /boot/vmlinuz-6.1.0-57-amd64 --out linux-6.1.0-57-amd64.btf.gz
  kcarve layout extract-btf vmlinux --out vmlinux.btf

The bzImage payload (xz with the x86 BCJ filter on Debian, or gzip) is
decompressed in-process; the kernel release and linux_banner found are printed.`,
    )
    .action((kernel: string, opts: { out: string }) => {
      checkOut(opts.out);
      let bytes: Buffer;
      try {
        bytes = readFileSync(kernel);
      } catch (err) {
        throw new LayoutError(kernel, undefined, undefined, `cannot read: ${(err as Error).message}`);
      }
      const k = extractKernelBtf(bytes, kernel);
      write(opts.out, k.btf);
      const what = k.kind === 'bzimage' ? `bzImage (${k.compression} payload)` : k.kind === 'elf' ? 'vmlinux ELF' : 'raw BTF';
      process.stderr.write(`wrote ${opts.out}: ${k.btf.length} bytes of BTF from ${what}${k.release ? `, release ${k.release}` : ''}\n`);
      if (k.banner) process.stderr.write(`banner: ${k.banner}`);
    });
}
