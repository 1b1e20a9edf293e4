// validateProgram (TypeScript) and compileProgram (native) reject the same
// malformed programs with the same SignatureError: same field, same reason.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SignatureError } from '../src/errors.js';
import { compileProgram } from '../src/native/index.js';
import { validateProgram } from '../src/signatures/validate.js';
import { programArb } from './helpers/program-arbitraries.js';

const eq8 = { kind: 'eq', offset: 0, width: 8, value: 1n };
const one = (c: unknown): unknown => ({ alignment: 8, constraints: [c] });

// [what, program, field, reason]
const cases: Array<[string, unknown, string, string]> = [
  ['not an object', null, '', 'the program must be an object (got null)'],
  ['a string', 'eq', '', 'the program must be an object (got "eq")'],
  ['alignment not a power of two', { alignment: 3, constraints: [eq8] }, 'alignment', 'must be a power of two from 1 to 4096 (got 3)'],
  ['alignment too large', { alignment: 8192, constraints: [eq8] }, 'alignment', 'must be a power of two from 1 to 4096 (got 8192)'],
  ['alignment zero', { alignment: 0, constraints: [eq8] }, 'alignment', 'must be a power of two from 1 to 4096 (got 0)'],
  ['alignment fractional', { alignment: 1.5, constraints: [eq8] }, 'alignment', 'must be a power of two from 1 to 4096 (got a number that is not a safe integer)'],
  ['alignment NaN', { alignment: NaN, constraints: [eq8] }, 'alignment', 'must be a power of two from 1 to 4096 (got a number that is not a safe integer)'],
  ['alignment a string', { alignment: '8', constraints: [eq8] }, 'alignment', 'must be a power of two from 1 to 4096 (got "8")'],
  ['alignment missing', { constraints: [eq8] }, 'alignment', 'must be a power of two from 1 to 4096 (got undefined)'],
  ['alignment a bigint', { alignment: 8n, constraints: [eq8] }, 'alignment', 'must be a power of two from 1 to 4096 (got a bigint)'],
  ['constraints missing', { alignment: 8 }, 'constraints', 'must be an array (got undefined)'],
  ['constraints a string', { alignment: 8, constraints: 'abc' }, 'constraints', 'must be an array (got "abc")'],
  ['no constraints', { alignment: 8, constraints: [] }, 'constraints', 'must hold at least one constraint'],
  ['too many constraints', { alignment: 8, constraints: Array(257).fill(eq8) }, 'constraints', 'must hold at most 256 constraints (got 257)'],
  ['constraint null', one(null), 'constraints[0]', 'must be an object (got null)'],
  ['constraint a number', { alignment: 8, constraints: [eq8, 7] }, 'constraints[1]', 'must be an object (got 7)'],
  ['constraint a function', one(() => 0), 'constraints[0]', 'must be an object (got a function)'],
  ['unknown kind', one({ ...eq8, kind: 'eqq' }), 'constraints[0].kind', 'must be one of eq, ne, mask, range, set, aligned, kptr, kptr_or_null, string (got "eqq")'],
  ['kind with a quote', one({ ...eq8, kind: 'e"q' }), 'constraints[0].kind', 'must be one of eq, ne, mask, range, set, aligned, kptr, kptr_or_null, string (got a string)'],
  ['kind too long to echo', one({ ...eq8, kind: 'x'.repeat(33) }), 'constraints[0].kind', 'must be one of eq, ne, mask, range, set, aligned, kptr, kptr_or_null, string (got a string)'],
  ['constraint an array', one([1]), 'constraints[0].kind', 'must be one of eq, ne, mask, range, set, aligned, kptr, kptr_or_null, string (got undefined)'],
  ['negative offset', { alignment: 8, constraints: [eq8, { ...eq8, offset: -1 }] }, 'constraints[1].offset', 'must be an integer from 0 to 1048575 (got -1)'],
  ['offset too large', one({ ...eq8, offset: 1 << 20 }), 'constraints[0].offset', 'must be an integer from 0 to 1048575 (got 1048576)'],
  ['offset a symbol', one({ ...eq8, offset: Symbol('o') }), 'constraints[0].offset', 'must be an integer from 0 to 1048575 (got a symbol)'],
  ['field past the largest span', one({ ...eq8, offset: 1048570 }), 'constraints[0].offset', 'the field ends at byte 1048578, past the largest span a program may have (1048576)'],
  ['bad width', { alignment: 8, constraints: [eq8, eq8, { ...eq8, width: 3 }] }, 'constraints[2].width', 'must be 1, 2, 4 or 8 (got 3)'],
  ['width a boolean', one({ ...eq8, width: true }), 'constraints[0].width', 'must be 1, 2, 4 or 8 (got a boolean)'],
  ['value a number', one({ ...eq8, value: 5 }), 'constraints[0].value', 'must be a bigint (got 5)'],
  ['value an object', one({ ...eq8, value: {} }), 'constraints[0].value', 'must be a bigint (got an object)'],
  ['value too wide for u8', one({ ...eq8, width: 1, value: 256n }), 'constraints[0].value', 'must fit in an unsigned 8-bit field (0 to 0xff)'],
  ['negative value', one({ kind: 'ne', offset: 0, width: 4, value: -1n }), 'constraints[0].value', 'must fit in an unsigned 32-bit field (0 to 0xffffffff)'],
  ['value past 2^64', one({ ...eq8, value: 1n << 64n }), 'constraints[0].value', 'must fit in an unsigned 64-bit field (0 to 0xffffffffffffffff)'],
  ['huge bigint', one({ ...eq8, value: 1n << 200n }), 'constraints[0].value', 'must fit in an unsigned 64-bit field (0 to 0xffffffffffffffff)'],
  ['mask missing', one({ kind: 'mask', offset: 0, width: 8, value: 0n }), 'constraints[0].mask', 'must be a bigint (got undefined)'],
  ['mask value outside mask', one({ kind: 'mask', offset: 0, width: 8, mask: 0xf0n, value: 0x01n }), 'constraints[0].value', 'has bits outside mask, so the constraint can never hold'],
  ['range min > max', one({ kind: 'range', offset: 0, width: 2, min: 5n, max: 4n }), 'constraints[0].min', 'must not exceed max'],
  ['range max too wide', one({ kind: 'range', offset: 0, width: 2, min: 0n, max: 0x10000n }), 'constraints[0].max', 'must fit in an unsigned 16-bit field (0 to 0xffff)'],
  ['set values not an array', one({ kind: 'set', offset: 0, width: 2, values: { 0: 1n } }), 'constraints[0].values', 'must be an array (got an object)'],
  ['set empty', one({ kind: 'set', offset: 0, width: 2, values: [] }), 'constraints[0].values', 'must hold 1 to 64 values (got 0)'],
  ['set too large', one({ kind: 'set', offset: 0, width: 2, values: Array(65).fill(1n) }), 'constraints[0].values', 'must hold 1 to 64 values (got 65)'],
  ['set value too wide', one({ kind: 'set', offset: 0, width: 2, values: [1n, 2n, 0x10000n] }), 'constraints[0].values[2]', 'must fit in an unsigned 16-bit field (0 to 0xffff)'],
  ['aligned not a power of two', one({ kind: 'aligned', offset: 0, width: 1, alignment: 3n }), 'constraints[0].alignment', 'must be a power of two that fits in an unsigned 8-bit field (got a bigint)'],
  ['aligned too large for the field', one({ kind: 'aligned', offset: 0, width: 1, alignment: 256n }), 'constraints[0].alignment', 'must be a power of two that fits in an unsigned 8-bit field (got a bigint)'],
  ['aligned zero', one({ kind: 'aligned', offset: 0, width: 8, alignment: 0n }), 'constraints[0].alignment', 'must be a power of two that fits in an unsigned 64-bit field (got a bigint)'],
  ['aligned a number', one({ kind: 'aligned', offset: 0, width: 8, alignment: 8 }), 'constraints[0].alignment', 'must be a power of two that fits in an unsigned 64-bit field (got 8)'],
  ['kptr mode unknown', one({ kind: 'kptr', offset: 0, mode: 'x86-64' }), 'constraints[0].mode', 'must be one of x86-64-4, x86-64-5, x86-32 (got "x86-64")'],
  ['kptr_or_null mode missing', one({ kind: 'kptr_or_null', offset: 8 }), 'constraints[0].mode', 'must be one of x86-64-4, x86-64-5, x86-32 (got undefined)'],
  ['string min = max', one({ kind: 'string', offset: 0, minLength: 16, maxLength: 16 }), 'constraints[0].minLength', 'must be less than maxLength'],
  ['string too long', one({ kind: 'string', offset: 0, minLength: 1, maxLength: 4097 }), 'constraints[0].maxLength', 'must be an integer from 1 to 4096 (got 4097)'],
  ['string maxLength zero', one({ kind: 'string', offset: 0, minLength: 0, maxLength: 0 }), 'constraints[0].maxLength', 'must be an integer from 1 to 4096 (got 0)'],
  ['string negative minLength', one({ kind: 'string', offset: 0, minLength: -1, maxLength: 16 }), 'constraints[0].minLength', 'must be an integer from 0 to 4095 (got -1)'],
  ['string past the largest span', one({ kind: 'string', offset: 1048000, minLength: 0, maxLength: 1000 }), 'constraints[0].offset', 'the field ends at byte 1049000, past the largest span a program may have (1048576)'],
];

function caught(fn: () => unknown): SignatureError {
  try {
    fn();
  } catch (err) {
    if (err instanceof SignatureError) return err;
    throw err;
  }
  throw new Error('expected a SignatureError, nothing was thrown');
}

describe('program validation', () => {
  it.each(cases)('%s', (_what, program, field, reason) => {
    const expected = `program${field ? ` at ${field}` : ''}: ${reason}`;
    const fromTs = caught(() => validateProgram(program));
    const fromNative = caught(() => compileProgram(program as never));
    for (const e of [fromTs, fromNative]) {
      expect(e.file).toBe('program');
      expect(e.field).toBe(field);
      expect(e.reason).toBe(reason);
      expect(e.message).toBe(expected);
    }
  });

  it('names the signature source given by the caller', () => {
    const bad = { alignment: 8, constraints: [{ ...eq8, width: 16 }] };
    expect(() => compileProgram(bad as never, 'packs/linux-6.1.json')).toThrow(
      'packs/linux-6.1.json at constraints[0].width: must be 1, 2, 4 or 8 (got 16)',
    );
    expect(() => validateProgram(bad, 'packs/linux-6.1.json')).toThrow(
      'packs/linux-6.1.json at constraints[0].width: must be 1, 2, 4 or 8 (got 16)',
    );
  });

  it('both accept every generated program, and validateProgram returns it unchanged', () => {
    fc.assert(
      fc.property(programArb, (program) => {
        expect(validateProgram(program)).toEqual(program);
        const compiled = compileProgram(program);
        expect(compiled.constraintCount).toBe(program.constraints.length);
        expect(compiled.alignment).toBe(program.alignment);
      }),
      { numRuns: 300 },
    );
  });

  it('validateProgram drops keys the semantics do not use', () => {
    const withExtra = { alignment: 8, note: 'x', constraints: [{ ...eq8, why: 'training set A' }] };
    expect(validateProgram(withExtra)).toEqual({ alignment: 8, constraints: [eq8] });
  });
});
