// Checks that a value is a well-formed constraint Program, with the exact
// checks, order and messages of the native compiler
// (native/src/compile_program.cc). Signature packs are untrusted JSON-derived
// input: everything here is a SignatureError naming the JSON path of the bad
// field. A test compares the messages of both, case by case.
import { SignatureError } from '../errors.js';
import type { Constraint, Program, Width } from './program.js';

/** Candidate alignment is a power of two up to one page (4 KiB). */
export const MAX_ALIGNMENT = 4096;
export const MAX_CONSTRAINTS = 256;
export const MAX_SET_VALUES = 64;
/** No field may end more than 1 MiB after the candidate's start. */
export const MAX_PROGRAM_SPAN = 1 << 20;
export const MAX_STRING_LENGTH = 4096;

const KINDS = ['eq', 'ne', 'mask', 'range', 'set', 'aligned', 'kptr', 'kptr_or_null', 'string'] as const;
const MODES = ['x86-64-4', 'x86-64-5', 'x86-32'] as const;

/** How a bad value is shown in messages (the native side prints the same). */
export function describe(v: unknown): string {
  switch (typeof v) {
    case 'undefined':
      return 'undefined';
    case 'number':
      return Number.isSafeInteger(v) ? String(v) : 'a number that is not a safe integer';
    case 'string':
      return v.length <= 32 && /^[\x20-\x7e]*$/.test(v) && !/["\\]/.test(v) ? `"${v}"` : 'a string';
    case 'object':
      return v === null ? 'null' : Array.isArray(v) ? 'an array' : 'an object';
    case 'bigint':
      return 'a bigint';
    case 'boolean':
      return 'a boolean';
    case 'symbol':
      return 'a symbol';
    default:
      return 'a function';
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

function maxOf(width: Width): bigint {
  return (1n << BigInt(8 * width)) - 1n;
}

class Checker {
  constructor(readonly source: string) {}

  fail(field: string, reason: string): never {
    throw new SignatureError(this.source, field, reason);
  }

  integerIn(o: Record<string, unknown>, key: string, path: string, lo: number, hi: number): number {
    const v = o[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < lo || v > hi) {
      this.fail(`${path}.${key}`, `must be an integer from ${lo} to ${hi} (got ${describe(v)})`);
    }
    return v;
  }

  width(o: Record<string, unknown>, path: string): Width {
    const v = o.width;
    if (v !== 1 && v !== 2 && v !== 4 && v !== 8) {
      this.fail(`${path}.width`, `must be 1, 2, 4 or 8 (got ${describe(v)})`);
    }
    return v;
  }

  value(v: unknown, field: string, width: Width): bigint {
    if (typeof v !== 'bigint') this.fail(field, `must be a bigint (got ${describe(v)})`);
    if (v < 0n || v > maxOf(width)) {
      this.fail(field, `must fit in an unsigned ${8 * width}-bit field (0 to 0x${maxOf(width).toString(16)})`);
    }
    return v;
  }

  constraint(v: unknown, path: string): Constraint {
    if (typeof v !== 'object' || v === null) this.fail(path, `must be an object (got ${describe(v)})`);
    const o = v as Record<string, unknown>;
    const kind = o.kind;
    if (typeof kind !== 'string' || !(KINDS as readonly string[]).includes(kind)) {
      this.fail(`${path}.kind`, `must be one of ${KINDS.join(', ')} (got ${describe(kind)})`);
    }
    const offset = this.integerIn(o, 'offset', path, 0, MAX_PROGRAM_SPAN - 1);
    let c: Constraint;
    switch (kind as Constraint['kind']) {
      case 'eq':
      case 'ne': {
        const width = this.width(o, path);
        c = { kind: kind as 'eq' | 'ne', offset, width, value: this.value(o.value, `${path}.value`, width) };
        break;
      }
      case 'mask': {
        const width = this.width(o, path);
        const mask = this.value(o.mask, `${path}.mask`, width);
        const value = this.value(o.value, `${path}.value`, width);
        if ((value & ~mask) !== 0n) this.fail(`${path}.value`, 'has bits outside mask, so the constraint can never hold');
        c = { kind: 'mask', offset, width, mask, value };
        break;
      }
      case 'range': {
        const width = this.width(o, path);
        const min = this.value(o.min, `${path}.min`, width);
        const max = this.value(o.max, `${path}.max`, width);
        if (min > max) this.fail(`${path}.min`, 'must not exceed max');
        c = { kind: 'range', offset, width, min, max };
        break;
      }
      case 'set': {
        const width = this.width(o, path);
        const vs = o.values;
        if (!Array.isArray(vs)) this.fail(`${path}.values`, `must be an array (got ${describe(vs)})`);
        if (vs.length < 1 || vs.length > MAX_SET_VALUES) {
          this.fail(`${path}.values`, `must hold 1 to ${MAX_SET_VALUES} values (got ${vs.length})`);
        }
        const values = vs.map((x: unknown, j: number) => this.value(x, `${path}.values[${j}]`, width));
        c = { kind: 'set', offset, width, values };
        break;
      }
      case 'aligned': {
        const width = this.width(o, path);
        const a = o.alignment;
        if (typeof a !== 'bigint' || a <= 0n || (a & (a - 1n)) !== 0n || a > maxOf(width)) {
          this.fail(
            `${path}.alignment`,
            `must be a power of two that fits in an unsigned ${8 * width}-bit field (got ${describe(a)})`,
          );
        }
        c = { kind: 'aligned', offset, width, alignment: a };
        break;
      }
      case 'kptr':
      case 'kptr_or_null': {
        const mode = o.mode;
        if (typeof mode !== 'string' || !(MODES as readonly string[]).includes(mode)) {
          this.fail(`${path}.mode`, `must be one of ${MODES.join(', ')} (got ${describe(mode)})`);
        }
        c = { kind: kind as 'kptr' | 'kptr_or_null', offset, mode: mode as (typeof MODES)[number] };
        break;
      }
      case 'string': {
        const minLength = this.integerIn(o, 'minLength', path, 0, MAX_STRING_LENGTH - 1);
        const maxLength = this.integerIn(o, 'maxLength', path, 1, MAX_STRING_LENGTH);
        if (minLength >= maxLength) this.fail(`${path}.minLength`, 'must be less than maxLength');
        c = { kind: 'string', offset, minLength, maxLength };
        break;
      }
    }
    const end = offset + spanOf(c);
    if (end > MAX_PROGRAM_SPAN) {
      this.fail(
        `${path}.offset`,
        `the field ends at byte ${end}, past the largest span a program may have (${MAX_PROGRAM_SPAN})`,
      );
    }
    return c;
  }
}

function spanOf(c: Constraint): number {
  switch (c.kind) {
    case 'kptr':
    case 'kptr_or_null':
      return c.mode === 'x86-32' ? 4 : 8;
    case 'string':
      return c.maxLength;
    default:
      return c.width;
  }
}

/**
 * Returns a clean copy of `program` (only the fields the semantics use) or
 * throws SignatureError(source, field, reason).
 */
export function validateProgram(program: unknown, source = 'program'): Program {
  const ck: Checker = new Checker(source);
  if (!isObject(program)) ck.fail('', `the program must be an object (got ${describe(program)})`);
  const alignment = program.alignment;
  if (
    typeof alignment !== 'number' ||
    !Number.isSafeInteger(alignment) ||
    alignment < 1 ||
    alignment > MAX_ALIGNMENT ||
    (alignment & (alignment - 1)) !== 0
  ) {
    ck.fail('alignment', `must be a power of two from 1 to ${MAX_ALIGNMENT} (got ${describe(alignment)})`);
  }
  const cs = program.constraints;
  if (!Array.isArray(cs)) ck.fail('constraints', `must be an array (got ${describe(cs)})`);
  if (cs.length === 0) ck.fail('constraints', 'must hold at least one constraint');
  if (cs.length > MAX_CONSTRAINTS) {
    ck.fail('constraints', `must hold at most ${MAX_CONSTRAINTS} constraints (got ${cs.length})`);
  }
  const constraints: Constraint[] = [];
  for (let i = 0; i < cs.length; i++) constraints.push(ck.constraint(cs[i], `constraints[${i}]`));
  return { alignment, constraints };
}
