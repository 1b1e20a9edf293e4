// Fields an attacker is known to rewrite (signatures/attacker-fields.json, each entry
// with its citation). They never become required constraints, nor are they read by a
// required graph edge; the trainer may still report invariants on them.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../errors.js';

export interface AttackerField {
  os: 'linux' | 'windows';
  type: string;
  field: string;
  /** Only these bits are the attacker's (mask constraints may keep the others). */
  bits?: bigint;
  why: string;
  source: string;
}

/** signatures/attacker-fields.json in the package (src/train and dist/train sit two levels below the root). */
export function shippedAttackerFieldsPath(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'signatures', 'attacker-fields.json');
}

export function loadAttackerFields(path = shippedAttackerFieldsPath()): AttackerField[] {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new UsageError(`${path}: cannot read the attacker-field list: ${(err as Error).message}`);
  }
  const d = doc as { schema?: unknown; entries?: unknown };
  if (d.schema !== 'kcarve-attacker-fields/1' || !Array.isArray(d.entries)) {
    throw new UsageError(`${path}: not a kcarve-attacker-fields/1 file (schema and entries are required)`);
  }
  return d.entries.map((e: Record<string, unknown>, i: number) => {
    const str = (k: string): string => {
      const v = e[k];
      if (typeof v !== 'string' || v === '') throw new UsageError(`${path}: $.entries[${i}].${k} must be a non-empty string`);
      return v;
    };
    const os = str('os');
    if (os !== 'linux' && os !== 'windows') throw new UsageError(`${path}: $.entries[${i}].os must be "linux" or "windows"`);
    const out: AttackerField = { os, type: str('type'), field: str('field'), why: str('why'), source: str('source') };
    if (e['bits'] !== undefined) out.bits = BigInt(str('bits'));
    return out;
  });
}

const bareType = (t: string): string => t.replace(/^(struct\s+)?_*/, '');

/** `pattern` covers `path` when equal or when path lies inside it (`tasks` covers `tasks.next`, `comm` covers `comm[3]`). */
export function pathCovers(pattern: string, path: string): boolean {
  return path === pattern || path.startsWith(`${pattern}.`) || path.startsWith(`${pattern}[`);
}

/** The entries of `list` that apply to `path` (or any alias) of `type` on `os`. */
export function attackerEntriesFor(list: readonly AttackerField[], os: string, type: string, paths: readonly string[]): AttackerField[] {
  const t = bareType(type);
  return list.filter((e) => e.os === os && bareType(e.type) === t && paths.some((p) => pathCovers(e.field, p)));
}
