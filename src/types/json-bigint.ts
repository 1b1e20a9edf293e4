// JSON with integers beyond 2^53. ISF stores kernel addresses as plain JSON
// numbers (dwarf2json writes Go uint64s: 18446744071603208192), which JSON.parse
// rounds. Node 20's JSON.parse has no access to a number's source text (that is
// the TC39 "JSON.parse source text access" proposal, flag-only in V8 11.3), so
// integers that are not safe are rewritten to tagged strings before parsing and
// turned into bigint afterwards.
import { LayoutError } from '../errors.js';

const TAG = '\u0000bigint:';
/** A JSON string literal, or an integer literal of 16+ digits standing alone. */
const TOKENS = /"(?:[^"\\]|\\.)*"|(?<![\w.+-])-?\d{16,}(?![\w.])/g;
const MAYBE_BIG = /(?<![\w.+-])-?\d{16,}(?![\w.])/;

export interface ParsedJson {
  /** The document with unsafe integers as bigint. */
  exact: unknown;
  /** The document as JSON.parse gives it (unsafe integers rounded): for schema validation. */
  plain: unknown;
}

/** Parse JSON text; unsafe integers become bigint in `exact`. */
export function parseJsonBig(text: string, file: string): ParsedJson {
  let plain: unknown;
  try {
    plain = JSON.parse(text);
  } catch (err) {
    throw new LayoutError(file, undefined, undefined, `not valid JSON: ${(err as Error).message}`);
  }
  if (!MAYBE_BIG.test(text)) return { exact: plain, plain };
  let found = false;
  const rewritten = text.replace(TOKENS, (tok) => {
    if (tok.startsWith('"')) {
      if (tok.startsWith('"\\u0000bigint:')) {
        throw new LayoutError(file, undefined, undefined, 'a string value starts with "\\u0000bigint:", which this reader reserves');
      }
      return tok;
    }
    if (Number.isSafeInteger(Number(tok))) return tok;
    found = true;
    return `"\\u0000bigint:${tok}"`;
  });
  if (!found) return { exact: plain, plain };
  return { exact: revive(JSON.parse(rewritten)), plain };
}

function revive(v: unknown): unknown {
  if (typeof v === 'string') return v.startsWith(TAG) ? BigInt(v.slice(TAG.length)) : v;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i += 1) v[i] = revive(v[i]);
    return v;
  }
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o)) o[k] = revive(o[k]);
    return o;
  }
  return v;
}

/** JSON text in which bigint values are written as plain integer literals. */
export function stringifyJsonBig(value: unknown, indent?: number): string {
  const text = JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? `${TAG}${v.toString()}` : v), indent);
  return text.replace(/"\\u0000bigint:(-?[0-9]+)"/g, '$1');
}

/** A copy in which bigints are numbers (rounded): what a JSON reader sees, for validation. */
export function toPlainJson(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v);
  if (Array.isArray(v)) return v.map(toPlainJson);
  if (v !== null && typeof v === 'object') {
    if (v instanceof Uint8Array) return v;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = toPlainJson(x);
    return out;
  }
  return v;
}
