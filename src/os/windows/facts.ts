// The Windows facts a scan needs beyond the structure layout: pool header size and
// granularity, the process pool tag, how object headers encode their type and optional
// headers, the paging mode. They live in `<build>.facts.json` (schema kcarve-winfacts/1)
// beside each layout pack `<build>.isf.json` (signatures/layouts/windows/README.md), and
// are found from the layout a signature resolved against: a layout without its facts
// file cannot be scanned for Windows objects.
//
// This is the production reader of those files; src/synth/windows/builds.ts has its own
// (production code does not import the synthetic worlds).
import { existsSync, readFileSync } from 'node:fs';
import { LayoutError } from '../../errors.js';

/** The part of a facts file the Windows OS support reads. */
export interface WindowsFacts {
  readonly file: string;
  readonly build: string;
  readonly os: { readonly name: string; readonly major: number; readonly minor: number; readonly build: number };
  readonly pointer_size: 4 | 8;
  readonly address_space: {
    readonly paging: 'x86-pae' | 'x86-64-4level';
    readonly dtb_member: string;
    readonly pml4_self_ref_index?: string | null;
    /** PTE_BASE: where the self-map shows the page tables (fixed on XP and 7). */
    readonly pte_base?: string;
    readonly kernel_va_start: string;
  };
  readonly pool: {
    readonly header_type: string;
    readonly header_size: number;
    readonly granularity: number;
    readonly block_size_unit: number;
    readonly process_tag: { readonly ascii: string; readonly protected: boolean; readonly u32: string };
    readonly pool_type_rule: string;
  };
  readonly object_header: {
    readonly body_offset: number;
    readonly type_encoding: 'pointer' | 'index' | 'index-cookie';
    readonly process_type_index: number | null;
    readonly optional_header_rule: 'byte-offsets' | 'info-mask';
    readonly optional_headers: readonly { readonly type: string; readonly bit?: number; readonly offset_member?: string | null; readonly flag?: number }[];
  };
  readonly process_object: { readonly dispatcher_type: number; readonly dispatcher_size: number };
  readonly pid_rules: { readonly multiple_of: number; readonly system_pid: number };
  readonly links: {
    readonly process_list: string;
    readonly thread_list_executive: { readonly head: string; readonly entry: string };
    readonly thread_list_kernel: { readonly head: string; readonly entry: string };
    readonly thread_to_process: readonly string[];
  };
  readonly image_file_name: { readonly member: string; readonly length: number };
}

const REQUIRED = ['build', 'os', 'pointer_size', 'address_space', 'pool', 'object_header', 'process_object', 'pid_rules', 'links', 'image_file_name'] as const;

const cache = new Map<string, WindowsFacts>();

/** The facts file that belongs to a layout pack file (`x.isf.json` → `x.facts.json`). */
export function factsPathFor(layoutFile: string): string {
  return layoutFile.replace(/\.isf\.json$/, '') + '.facts.json';
}

/** Read and check the facts beside `layoutFile` (cached per path). LayoutError naming the file otherwise. */
export function factsForLayout(layoutFile: string): WindowsFacts {
  const path = factsPathFor(layoutFile);
  const hit = cache.get(path);
  if (hit !== undefined) return hit;
  if (!layoutFile.endsWith('.isf.json') || !existsSync(path)) {
    throw new LayoutError(
      layoutFile,
      undefined,
      undefined,
      `the Windows OS support needs the layout pack's facts file beside it (${path}); ` +
        'use a pack from signatures/layouts/windows/ or add <build>.facts.json (schema kcarve-winfacts/1)',
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new LayoutError(path, undefined, undefined, `cannot read the facts file: ${(err as Error).message}`);
  }
  const f = raw as Record<string, unknown>;
  if (typeof f !== 'object' || f === null || f['schema'] !== 'kcarve-winfacts/1') {
    throw new LayoutError(path, undefined, undefined, 'not a kcarve-winfacts/1 file ($.schema)');
  }
  for (const key of REQUIRED) {
    if (f[key] === undefined) throw new LayoutError(path, undefined, undefined, `facts key $.${key} is missing`);
  }
  const facts = { ...(f as object), file: path } as WindowsFacts;
  if (facts.pointer_size !== 4 && facts.pointer_size !== 8) throw new LayoutError(path, undefined, undefined, '$.pointer_size must be 4 or 8');
  cache.set(path, facts);
  return facts;
}

/** Windows 8 and later find the object header top-down from the pool header (facts pool.object_placement). */
export function usesTopDownPlacement(f: WindowsFacts): boolean {
  return f.os.major > 6 || (f.os.major === 6 && f.os.minor >= 2);
}

/** The process pool tag as stored (u32, little-endian), per the facts. */
export function processTagValue(f: WindowsFacts): number {
  return Number(BigInt(f.pool.process_tag.u32));
}
