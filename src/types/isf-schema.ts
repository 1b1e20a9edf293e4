// A JSON Schema for Volatility 3's Intermediate Symbol Format, written from the
// rules of volatility3/schemas/schema-6.3.0.json (volatilityfoundation/volatility3,
// commit a1961401d52db56f310675d8cd4af09e3d9e4139), which Volatility 3 applies
// to an ISF whose metadata.format is "6.3.0" (volatility3/schemas/__init__.py
// picks "schema-" + format + ".json"). Exports declare format 6.2.0 (as
// dwarf2json 0.6.0 does, so Volatility releases without the 6.3.0 schema accept
// them) and are checked against these stricter 6.3.0 rules, which 6.2.0 files
// also satisfy: 6.3.0 only adds that metadata.producer is required and its
// version is dotted.
// Imports of 6.0.x-6.2.x files use the relaxed variant: producer optional and
// `metadata.linux`/`mac` free-form, as those versions had them.
import type { ErrorObject, ValidateFunction } from 'ajv';
import { LayoutError } from '../errors.js';
import { validateIsfRelaxed, validateIsfStrict } from '../generated/validators.js';

type Schema = Record<string, unknown>;

const obj = (properties: Record<string, Schema>, required: string[], extra = false): Schema => ({
  type: 'object',
  properties,
  required,
  additionalProperties: extra,
});
const str = (pattern?: string): Schema => (pattern ? { type: 'string', pattern } : { type: 'string' });
const int: Schema = { type: 'integer' };
const ref = (name: string): Schema => ({ $ref: `#/definitions/${name}` });
const mapOf = (value: Schema): Schema => ({ type: 'object', additionalProperties: value });

export function isfSchema(relaxed: boolean): Schema {
  const nixItem = obj(
    { kind: str('^(dwarf|symtab|system-map)$'), name: str(), hash_type: str('^(sha256)$'), hash_value: str('^[a-fA-F0-9]+$') },
    [],
  );
  const nix = relaxed ? { type: 'object' } : obj({ symbols: { type: 'array', items: ref('metadata_nix_item') }, types: { type: 'array', items: ref('metadata_nix_item') } }, []);
  const head = { format: ref('metadata_format'), producer: ref('metadata_producer') };
  const headReq = relaxed ? ['format'] : ['format', 'producer'];
  const metadataVariant = (osKey?: string, osDef?: string): Schema =>
    osKey && osDef ? obj({ ...head, [osKey]: ref(osDef) }, [...headReq, osKey]) : obj(head, headReq);
  // One descriptor shape per `kind`; `kind` values are disjoint, so oneOf picks one.
  const kindIs = (pattern: string): Schema => str(pattern);
  const definitions: Record<string, Schema> = {
    metadata_producer: {
      type: 'object',
      properties: { name: str(), version: relaxed ? str() : str('^[0-9]+.[0-9]+.[0-9]+$'), datetime: { type: 'string', format: 'date-time' } },
      required: relaxed ? [] : ['name', 'version'],
    },
    metadata_windows_pe: obj({ major: int, minor: int, revision: int, build: int }, ['major', 'minor', 'revision']),
    metadata_windows_pdb: obj({ GUID: str(), age: int, database: str(), machine_type: int }, ['GUID', 'age', 'database', 'machine_type']),
    metadata_windows: obj({ pe: ref('metadata_windows_pe'), pdb: ref('metadata_windows_pdb') }, []),
    metadata_nix: nix,
    metadata_nix_item: nixItem,
    metadata_format: str('^6.[0-9]+.[0-9]+$'),
    element_metadata: {
      type: 'object',
      oneOf: [metadataVariant(), metadataVariant('windows', 'metadata_windows'), metadataVariant('linux', 'metadata_nix'), metadataVariant('mac', 'metadata_nix')],
    },
    element_enum: obj({ size: int, base: str(), constants: mapOf(int) }, ['size', 'base', 'constants']),
    element_symbol: obj(
      { address: { type: 'number' }, linkage_name: str(), type: ref('type_descriptor'), constant_data: { type: 'string', media: { binaryEncoding: 'base64', readOnly: true } } },
      ['address'],
    ),
    element_base_type: obj({ size: int, signed: { type: 'boolean' }, kind: str('^(void|int|float|char|bool)$'), endian: str('^(little|big)$') }, ['size', 'kind', 'signed', 'endian']),
    element_user_type: obj({ kind: str('^(struct|union|class)$'), size: int, fields: mapOf(ref('field')) }, ['kind', 'size', 'fields']),
    field: obj({ type: ref('type_descriptor'), offset: int, anonymous: { type: 'boolean' } }, ['type', 'offset']),
    type_descriptor: {
      oneOf: ['type_pointer', 'type_base', 'type_array', 'type_struct', 'type_enum', 'type_function', 'type_bitfield'].map(ref),
    },
    type_pointer: obj({ kind: kindIs('^pointer$'), base: str(), subtype: ref('type_descriptor') }, ['kind', 'subtype']),
    type_base: obj({ kind: kindIs('^base$'), name: str() }, ['kind', 'name']),
    type_array: obj({ kind: kindIs('^array$'), subtype: ref('type_descriptor'), count: int }, ['kind', 'subtype', 'count']),
    type_struct: obj({ kind: kindIs('^(struct|class|union)$'), name: str() }, ['kind', 'name']),
    type_enum: obj({ kind: kindIs('^enum$'), name: str() }, ['kind', 'name']),
    type_function: obj({ kind: kindIs('^function$') }, ['kind']),
    type_bitfield: obj(
      { kind: kindIs('^bitfield$'), bit_position: int, bit_length: int, type: { oneOf: [ref('type_base'), ref('type_enum')] } },
      ['kind', 'bit_position', 'bit_length', 'type'],
    ),
  };
  return {
    $id: relaxed ? 'kcarve:isf-6-relaxed' : 'kcarve:isf-6.3.0',
    title: 'Volatility 3 ISF (kcarve rendition of schema-6.3.0)',
    type: 'object',
    definitions,
    properties: {
      metadata: ref('element_metadata'),
      base_types: mapOf(ref('element_base_type')),
      user_types: mapOf(ref('element_user_type')),
      enums: mapOf(ref('element_enum')),
      symbols: mapOf(ref('element_symbol')),
    },
    required: ['metadata', 'base_types', 'user_types', 'enums', 'symbols'],
    additionalProperties: false,
  };
}

/** RFC 3339 date-time (JSON Schema's `date-time` format), checked loosely. */
export const ISF_DATE_TIME = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:?\d{2})?$/;

// Compiled ahead of time (src/validator-codegen.ts, with ISF_DATE_TIME as the date-time
// format): compiling both schemas with ajv at run time cost each process ~0.3 s.
function getValidators(): { strict: ValidateFunction; relaxed: ValidateFunction } {
  return { strict: validateIsfStrict as unknown as ValidateFunction, relaxed: validateIsfRelaxed as unknown as ValidateFunction };
}

/**
 * Check a parsed ISF document (numbers, not bigints). `strict` applies the
 * 6.3.0 rules (exports); otherwise the version's own rules (imports).
 * Throws LayoutError naming the JSON path of the first violation.
 */
export function validateIsf(doc: unknown, file: string, strict: boolean): void {
  const v = getValidators();
  const validate = strict ? v.strict : v.relaxed;
  if (validate(doc)) return;
  const errors = validate.errors ?? [];
  throw new LayoutError(file, undefined, undefined, `ISF schema violation: ${describe(pickError(errors))}`);
}

/** The error deepest in the document explains best (oneOf reports its branches first). */
function pickError(errors: ErrorObject[]): ErrorObject | undefined {
  let best: ErrorObject | undefined;
  for (const e of errors) if (!best || e.instancePath.length > best.instancePath.length) best = e;
  return best;
}

function describe(e: ErrorObject | undefined): string {
  if (!e) return 'document does not match the schema';
  const path = jsonPath(e.instancePath);
  let what = e.message ?? 'is invalid';
  if (e.keyword === 'additionalProperties') what = `has unexpected property ${JSON.stringify((e.params as { additionalProperty: string }).additionalProperty)}`;
  if (e.keyword === 'required') what = `lacks required property ${JSON.stringify((e.params as { missingProperty: string }).missingProperty)}`;
  return `${path} ${what}`;
}

/** `/user_types/task_struct/fields/pid/offset` → `$.user_types.task_struct.fields.pid.offset`. */
export function jsonPath(pointer: string): string {
  if (pointer === '') return '$';
  return (
    '$' +
    pointer
      .split('/')
      .slice(1)
      .map((seg) => seg.replace(/~1/g, '/').replace(/~0/g, '~'))
      .map((seg) => (/^[A-Za-z_][A-Za-z0-9_]*$/.test(seg) ? `.${seg}` : `[${JSON.stringify(seg)}]`))
      .join('')
  );
}
