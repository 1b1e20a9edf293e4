// `--truth FILE`: take discovery hints from a ground-truth file (kcarve-truth/1, see
// /work/shared/TRUTH.md) — the kernel addresses it records. Hints only: discovery must
// work without them, and the truth's task list is never read here (that would be
// cheating; `kcarve eval` compares against it).
import { readFileSync } from 'node:fs';
import { phys } from '../addr.js';
import { TruthError } from '../errors.js';
import type { DiscoveryHints } from '../os/types.js';

const HEX = /^0x[0-9a-f]+$/i;

function object(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

/** The discovery hints a truth file gives: direct-map base, kernel page-table root, paging levels, list-head and (Windows) PspCidTable symbols. */
export function hintsFromTruth(file: string): DiscoveryHints {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new TruthError(file, '', `cannot read a truth file: ${(err as Error).message}`);
  }
  const root = object(doc);
  if (root === undefined || root.schema !== 'kcarve-truth/1') {
    throw new TruthError(file, '$.schema', 'must be "kcarve-truth/1"');
  }
  const hints: DiscoveryHints = {};
  const layout = object(root.layout) ?? {};
  const address = (key: string): bigint | undefined => {
    const v = layout[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || !HEX.test(v)) throw new TruthError(file, `$.layout.${key}`, 'must be a hex string ("0x…")');
    return BigInt(v);
  };
  const base = address('page_offset_base');
  if (base !== undefined) hints.pageOffsetBase = base;
  // Linux names the kernel page-table root init_top_pgt; Windows truth files call it dtb.
  const root_ = address('init_top_pgt_pa') ?? address('dtb');
  if (root_ !== undefined) {
    try {
      hints.dtb = phys(root_);
    } catch {
      throw new TruthError(file, '$.layout', `kernel page-table root 0x${root_.toString(16)} is not a physical address`);
    }
  }
  const symbols = new Map<string, bigint>();
  const initTask = address('init_task_va');
  if (initTask !== undefined) symbols.set('init_task', initTask);
  // Windows truth files name kernel variables <symbol>_va.
  for (const name of ['PsActiveProcessHead', 'PspCidTable']) {
    const va = address(`${name}_va`);
    if (va !== undefined) symbols.set(name, va);
  }
  if (symbols.size > 0) hints.symbols = symbols;
  const kernel = object(root.kernel);
  const levels = kernel?.paging_levels;
  if (levels !== undefined) {
    if (levels !== 3 && levels !== 4 && levels !== 5) throw new TruthError(file, '$.kernel.paging_levels', 'must be 3, 4 or 5');
    hints.pagingLevels = levels;
  }
  return hints;
}
