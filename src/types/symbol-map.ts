// Kernel symbol addresses from a System.map or /proc/kallsyms. Both are lines
// of "<hex address> <type letter> <name>", kallsyms adding "\t[module]" for
// module symbols (Documentation/admin-guide/sysctl/kernel.rst kptr_restrict;
// scripts/mksysmap; kernel/kallsyms.c s_show). Module symbols are not part of
// vmlinux and are skipped. When kptr_restrict hides addresses, kallsyms prints
// zeros for all of them: that is an error, not a map.
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { LayoutError } from '../errors.js';
import { Layout } from './layout.js';
import type { SymbolDef, TypeDesc } from './model.js';

export interface SymbolMap {
  /** Name → address; the first line for a name wins (static symbols repeat). */
  symbols: Map<string, bigint>;
  /** sha256 of the file, for ISF metadata. */
  sha256: string;
}

export function parseSymbolMap(text: string, file: string): Map<string, bigint> {
  const out = new Map<string, bigint>();
  let lineNo = 0;
  let nonZero = false;
  for (const line of text.split('\n')) {
    lineNo += 1;
    if (line.trim() === '') continue;
    if (/The real System\.map is in the linux-image-.*-dbg package/.test(line)) {
      // Debian's /boot/System.map-* is this one-line placeholder.
      throw new LayoutError(file, undefined, undefined, "Debian's placeholder System.map has no symbols: use a root copy of /proc/kallsyms, or the System.map from the linux-image-*-dbg package");
    }
    const m = /^([0-9a-fA-F]{1,16})\s+([A-Za-z?-])\s+(\S+)(\s+\[\S+\])?\s*$/.exec(line);
    if (!m) throw new LayoutError(file, undefined, undefined, `line ${lineNo} is not "<hex address> <type> <name>": ${JSON.stringify(line.slice(0, 80))}`);
    if (m[4]) continue; // a module's symbol
    const address = BigInt(`0x${m[1]}`);
    if (address !== 0n) nonZero = true;
    if (!out.has(m[3]!)) out.set(m[3]!, address);
  }
  if (out.size === 0) throw new LayoutError(file, undefined, undefined, 'no symbols');
  if (!nonZero) throw new LayoutError(file, undefined, undefined, 'every address is 0: kptr_restrict hid them (read /proc/kallsyms as root)');
  return out;
}

export function loadSymbolMap(path: string): SymbolMap {
  let raw: Buffer;
  try {
    raw = readFileSync(path);
  } catch (err) {
    throw new LayoutError(path, undefined, undefined, `cannot read: ${(err as Error).message}`);
  }
  return { symbols: parseSymbolMap(raw.toString('latin1'), path), sha256: createHash('sha256').update(raw).digest('hex') };
}

/**
 * Types of kernel globals that BTF does not carry (vmlinux BTF only types
 * per-CPU variables) but that Volatility 3's Linux plugins read through the
 * symbol's type (e.g. `object_from_symbol("init_task")`). Each is a fact of
 * the kernel source (Linux 6.1):
 * - init_task: `struct task_struct init_task` (init/init_task.c)
 * - init_mm: `struct mm_struct init_mm` (mm/init-mm.c)
 * - init_pid_ns: `struct pid_namespace init_pid_ns` (kernel/pid.c)
 * - modules: `LIST_HEAD(modules)`, a struct list_head (kernel/module/main.c)
 * - linux_banner: `const char linux_banner[]` (init/version-timestamp.c)
 */
const KNOWN_GLOBALS: Record<string, (layout: Layout, banner?: Uint8Array) => TypeDesc | undefined> = {
  init_task: (l) => structIfKnown(l, 'task_struct'),
  init_mm: (l) => structIfKnown(l, 'mm_struct'),
  init_pid_ns: (l) => structIfKnown(l, 'pid_namespace'),
  modules: (l) => structIfKnown(l, 'list_head'),
  linux_banner: (l, banner) => (banner && l.baseTypes.has('char') ? { kind: 'array', count: banner.length, subtype: { kind: 'base', name: 'char' } } : undefined),
};

function structIfKnown(l: Layout, name: string): TypeDesc | undefined {
  return l.userTypes.has(name) ? { kind: 'struct', name } : undefined;
}

/**
 * A copy of `layout` with symbol addresses added. Types come from BTF VAR
 * entries or the known-globals table; `banner` (the linux_banner text) becomes
 * the constant data of `linux_banner`, which Volatility 3 matches against the
 * image to pick the symbol table.
 */
export function withSymbols(layout: Layout, symbols: Map<string, bigint>, banner?: string): Layout {
  const data = layout.data();
  const merged = new Map<string, SymbolDef>(data.symbols);
  const bannerBytes = banner !== undefined ? new Uint8Array(Buffer.from(`${banner}\u0000`, 'latin1')) : undefined;
  for (const [name, address] of symbols) {
    const sym: SymbolDef = { name, address };
    const known = Object.hasOwn(KNOWN_GLOBALS, name) ? KNOWN_GLOBALS[name] : undefined;
    const type = layout.variableTypes.get(name) ?? known?.(layout, bannerBytes);
    if (type) sym.type = type;
    if (name === 'linux_banner' && bannerBytes) sym.constantData = bannerBytes;
    merged.set(name, sym);
  }
  return new Layout(layout.file, { ...data, symbols: merged, metadata: { ...data.metadata, os: data.metadata.os ?? 'linux' } });
}
