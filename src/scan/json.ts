// Results as JSON, in the ground-truth schema's vocabulary (/work/shared/TRUTH.md): keys in
// snake_case, 64-bit values and addresses as hex strings ("0xffff8880..."), and each
// object under `tasks` with the truth names where they overlap — `pa`, `va`, `pid`,
// `tgid`, `ppid`, `comm`, `status`, `leader` — so a result and a truth file compare
// directly by `pa`. Counts, sizes and lengths stay numbers.
import { hex } from '../addr.js';
import type { ProcessRecord } from '../os/types.js';
import type { CrossViewRow, TruthStatus } from '../views/cross-view.js';

/** Keys whose number values are physical addresses (printed in hex like the truth's). */
const ADDRESS_KEYS = new Set(['pa', 'paddr', 'va', 'dtb']);
/** Keys whose arrays hold physical addresses (Missed.candidates; a count of the same name is not one). */
const ADDRESS_LIST_KEYS = new Set(['candidates']);

function snake(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/**
 * Plain JSON data for any result value: bigint → hex, keys → snake_case, numbers under
 * address keys → hex. Records inside are better written with `taskJson`.
 */
export function toJsonData(value: unknown, key = ''): unknown {
  if (typeof value === 'bigint') return hex(value);
  if (typeof value === 'number' && ADDRESS_KEYS.has(key)) return hex(value);
  const itemKey = ADDRESS_LIST_KEYS.has(key) ? 'pa' : key;
  if (Array.isArray(value)) return value.map((v) => toJsonData(v, itemKey));
  if (value instanceof Float64Array) return Array.from(value, (v) => toJsonData(v, itemKey));
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[snake(k)] = toJsonData(v, k);
    return out;
  }
  return value;
}

export interface TaskJson {
  pa: string;
  va?: string;
  pid?: number;
  tgid?: number;
  ppid?: number;
  comm?: string;
  status?: TruthStatus;
  leader?: boolean;
  state?: string;
  start_time?: string;
  exit_time?: string;
  dtb?: string;
  confidence: number;
  constraints_held?: number;
  /** Edge name → held | failed | unreadable, in signature order. */
  edges: Record<string, string>;
  exit_evidence: string[];
  /** Fields the kernel's own objects contradict (signs of an attacker). */
  tampered?: string[];
  /** xview only. */
  seen_by?: string[];
  why?: string;
  warnings?: string[];
}

/**
 * One object in truth vocabulary. `status` when known: from the cross-view, or 'live'
 * for a list walk; a plain scan knows only 'exited' (exit evidence) — live and hidden
 * need the list (`kcarve xview`), so it leaves `status` out otherwise.
 */
export function taskJson(r: ProcessRecord, status?: TruthStatus): TaskJson {
  const out: TaskJson = { pa: hex(r.pa), confidence: r.confidence, edges: {}, exit_evidence: r.exitEvidence ?? [] };
  if (r.va !== undefined) out.va = hex(r.va);
  if (r.pid !== undefined) out.pid = r.pid;
  if (r.tgid !== undefined) out.tgid = r.tgid;
  if (r.ppid !== undefined) out.ppid = r.ppid;
  if (r.comm !== undefined) out.comm = r.comm;
  const s = status ?? ((r.exitEvidence ?? []).length > 0 ? 'exited' : undefined);
  if (s !== undefined) out.status = s;
  if (r.leader !== undefined) out.leader = r.leader;
  if (r.state !== undefined) out.state = r.state;
  if (r.startTime !== undefined) out.start_time = hex(r.startTime);
  if (r.exitTime !== undefined) out.exit_time = hex(r.exitTime);
  if (r.dtb !== undefined) out.dtb = hex(r.dtb);
  if (r.constraintsHeld !== undefined) out.constraints_held = r.constraintsHeld;
  for (const e of r.edges) out.edges[e.name] = e.outcome;
  if (r.tampered !== undefined && r.tampered.length > 0) out.tampered = r.tampered;
  // Keep the key order stable for readers and diffs.
  const { confidence, edges, exit_evidence, ...head } = out;
  return { ...head, confidence, edges, exit_evidence } as TaskJson;
}

/** A cross-view row in truth vocabulary (the carved fields, when the object could be carved). */
export function rowJson(row: CrossViewRow): TaskJson {
  const base: TaskJson =
    row.record !== undefined ? taskJson(row.record, row.status) : { pa: hex(row.pa), status: row.status, confidence: 0, edges: {}, exit_evidence: [] };
  return { ...base, status: row.status, seen_by: row.seenBy, why: row.why, warnings: row.warnings };
}
