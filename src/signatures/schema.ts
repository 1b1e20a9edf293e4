// JSON Schema of `kcarve-signature/1` (see ./format.ts for the meaning of each
// key). Validation runs at load; every failure is a SignatureError naming the
// file and the JSON path of the offending field.
import type { ErrorObject, ValidateFunction } from 'ajv';
import { SignatureError } from '../errors.js';
import { validateSignature } from '../generated/validators.js';

type Schema = Record<string, unknown>;

const HEX_OR_DEC = '^(0x[0-9a-fA-F]+|-?[0-9]+)$';
const num: Schema = { type: 'string', pattern: HEX_OR_DEC };
const width: Schema = { enum: [1, 2, 4, 8] };
const nonNegInt: Schema = { type: 'integer', minimum: 0 };

const provenance: Schema = {
  type: 'object',
  properties: {
    source: { enum: ['training', 'fuzz', 'header', 'baseline', 'manual'] },
    support: { type: 'number', minimum: 0, maximum: 1 },
    negativeRate: { type: 'number', minimum: 0, maximum: 1 },
    robustness: { enum: ['robust', 'fragile', 'unknown'] },
    note: { type: 'string' },
  },
  required: ['source'],
  additionalProperties: false,
};

const fieldRef: Record<string, Schema> = {
  field: { type: 'string', minLength: 1 },
  byte: nonNegInt,
  width,
  provenance,
};

function constraintVariant(kind: string[], own: Record<string, Schema>, required: string[]): Schema {
  return {
    type: 'object',
    properties: { ...fieldRef, kind: { enum: kind }, ...own },
    required: ['field', 'kind', ...required],
    additionalProperties: false,
  };
}

const constraint: Schema = {
  type: 'object',
  required: ['kind'],
  properties: { kind: { enum: ['eq', 'ne', 'mask', 'range', 'set', 'aligned', 'kptr', 'kptr_or_null', 'string'] } },
  // Pick the variant by kind so errors point at the right keys.
  allOf: [
    { if: { properties: { kind: { enum: ['eq', 'ne'] } } }, then: constraintVariant(['eq', 'ne'], { value: num }, ['value']) },
    { if: { properties: { kind: { const: 'mask' } } }, then: constraintVariant(['mask'], { mask: num, value: num }, ['mask', 'value']) },
    { if: { properties: { kind: { const: 'range' } } }, then: constraintVariant(['range'], { min: num, max: num }, ['min', 'max']) },
    {
      if: { properties: { kind: { const: 'set' } } },
      then: constraintVariant(['set'], { values: { type: 'array', items: num, minItems: 1, maxItems: 64 } }, ['values']),
    },
    { if: { properties: { kind: { const: 'aligned' } } }, then: constraintVariant(['aligned'], { alignment: num }, ['alignment']) },
    {
      if: { properties: { kind: { enum: ['kptr', 'kptr_or_null'] } } },
      then: constraintVariant(['kptr', 'kptr_or_null'], { mode: { enum: ['x86-64-4', 'x86-64-5', 'x86-32'] } }, []),
    },
    {
      if: { properties: { kind: { const: 'string' } } },
      then: constraintVariant(['string'], { minLength: nonNegInt, maxLength: { type: 'integer', minimum: 1 } }, []),
    },
  ],
};

const edgeRead: Schema = {
  oneOf: [
    {
      type: 'object',
      properties: { type: { type: 'string', minLength: 1 }, field: { type: 'string', minLength: 1 } },
      required: ['type', 'field'],
      additionalProperties: false,
    },
    { type: 'object', properties: { offset: { type: 'integer' }, width }, required: ['offset', 'width'], additionalProperties: false },
  ],
};

const edgeExpect: Schema = {
  oneOf: [
    { type: 'object', properties: { value: num }, required: ['value'], additionalProperties: false },
    { type: 'object', properties: { field: { type: 'string', minLength: 1 } }, required: ['field'], additionalProperties: false },
    { type: 'object', properties: { selfAddress: { type: 'string' } }, required: ['selfAddress'], additionalProperties: false },
    { type: 'object', properties: { matchesSignature: { type: 'string' } }, required: ['matchesSignature'], additionalProperties: false },
  ],
};

const edge: Schema = {
  type: 'object',
  properties: {
    name: { type: 'string', minLength: 1 },
    from: { type: 'string', minLength: 1 },
    fromClearBits: num,
    container: {
      type: 'object',
      properties: { type: { type: 'string', minLength: 1 }, member: { type: 'string', minLength: 1 } },
      required: ['type', 'member'],
      additionalProperties: false,
    },
    space: { enum: ['virtual', 'physical'] },
    special: { enum: ['pml4-self-ref'] },
    read: edgeRead,
    expect: { type: 'array', items: edgeExpect, minItems: 1 },
    required: { type: 'boolean' },
    weight: { type: 'number', exclusiveMinimum: 0 },
    provenance,
  },
  required: ['name'],
  additionalProperties: false,
  // An edge is either a special structural check or a read with expectations.
  oneOf: [{ required: ['special', 'from'] }, { required: ['read', 'expect'] }],
};

export const signatureSchema: Schema = {
  type: 'object',
  properties: {
    $comment: { type: 'string' },
    schema: { const: 'kcarve-signature/1' },
    name: { type: 'string', minLength: 1 },
    version: { type: 'string', pattern: '^[0-9]+\\.[0-9]+\\.[0-9]+' },
    description: { type: 'string' },
    target: {
      type: 'object',
      properties: {
        // A registered OS support's name: linux, windows, or a plugin's (--os-module).
        os: { type: 'string', pattern: '^[a-z][a-z0-9-]*$' },
        type: { type: 'string', minLength: 1 },
        build: { type: 'string' },
        layout: { type: 'string' },
      },
      required: ['os', 'type'],
      additionalProperties: false,
    },
    scan: {
      type: 'object',
      properties: { type: { type: 'string', minLength: 1 }, locate: { enum: ['windows-pool-body'] } },
      required: ['type', 'locate'],
      additionalProperties: false,
    },
    alignment: { type: 'integer', minimum: 1, maximum: 4096 },
    constraints: { type: 'array', items: constraint, minItems: 1 },
    targetConstraints: { type: 'array', items: constraint },
    edges: { type: 'array', items: edge },
    scoring: {
      type: 'object',
      properties: { minScore: { type: 'number', minimum: 0, maximum: 1 } },
      additionalProperties: false,
    },
    baseline: { type: 'boolean' },
    provenance: {
      type: 'object',
      properties: {
        command: { type: 'string' },
        trainedOn: { type: 'array', items: { type: 'string' } },
        fpPerGiB: { type: 'number', minimum: 0 },
        robustness: { enum: ['proven', 'unproven'] },
        robustnessFile: { type: 'string' },
        notes: { type: 'array', items: { type: 'string' } },
      },
      additionalProperties: true,
    },
  },
  required: ['schema', 'name', 'version', 'target', 'alignment', 'constraints'],
  additionalProperties: false,
};

// Compiled ahead of time (src/validator-codegen.ts): compiling the schema with ajv at
// run time cost each process 0.3–0.75 s.
function validator(): ValidateFunction {
  return validateSignature as unknown as ValidateFunction;
}

/** `$.constraints[2].width` from ajv's `/constraints/2/width`. */
function jsonPath(err: ErrorObject): string {
  let path = '$';
  for (const part of err.instancePath.split('/').slice(1)) {
    const key = part.replace(/~1/g, '/').replace(/~0/g, '~');
    path += /^[0-9]+$/.test(key) ? `[${key}]` : `.${key}`;
  }
  if (err.keyword === 'required') path += `.${(err.params as { missingProperty: string }).missingProperty}`;
  if (err.keyword === 'additionalProperties') path += `.${(err.params as { additionalProperty: string }).additionalProperty}`;
  return path;
}

function describe(err: ErrorObject): string {
  switch (err.keyword) {
    case 'required':
      return 'is required';
    case 'additionalProperties':
      return 'is not a known key';
    case 'enum':
      return `must be one of ${JSON.stringify((err.params as { allowedValues: unknown[] }).allowedValues)}`;
    case 'const':
      return `must be ${JSON.stringify((err.params as { allowedValue: unknown }).allowedValue)}`;
    case 'pattern':
      return 'must be a hex ("0x…") or decimal string';
    case 'oneOf':
      return err.instancePath.startsWith('/edges/')
        ? 'an edge needs either "read" and "expect", or "special" and "from" (see signatures/README.md)'
        : 'matches none of the allowed forms (see signatures/README.md)';
    default:
      return err.message ?? 'is invalid';
  }
}

/** Throws SignatureError(file, path, reason) unless `doc` has the signature file's shape. */
export function validateSignatureShape(doc: unknown, file: string): void {
  const validate = validator();
  if (validate(doc)) return;
  const errors = validate.errors ?? [];
  // ajv reports a failing if/then as an extra "if" error after the real one; skip it.
  // For a oneOf, the branch errors come first; the oneOf itself says more.
  const first = errors.find((e) => e.keyword !== 'if') ?? errors[0];
  const oneOf = errors.find((e) => e.keyword === 'oneOf' && first !== undefined && first.instancePath.startsWith(e.instancePath));
  const err = oneOf ?? first;
  if (!err) throw new SignatureError(file, '$', 'is not a valid signature');
  throw new SignatureError(file, jsonPath(err), describe(err));
}
