// Loading robustness.json (schema kcarve-robustness/1, written by ./report.ts) with a
// JSON Schema check: what `kcarve train --robustness` and the evasion test read. The
// schema pins what consumers rely on (verdicts, outcomes, offsets, the campaign's
// provenance) and allows extra keys, as every kcarve file format does.
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { Ajv, type ValidateFunction } from 'ajv';
import { SignatureError } from '../errors.js';
import { jsonPath } from '../types/isf-schema.js';
import { OUTCOMES } from './classify.js';
import { MUTATION_KINDS } from './mutations.js';
import { ROBUSTNESS_SCHEMA, type Robustness } from './report.js';

type Schema = Record<string, unknown>;
const obj = (properties: Record<string, Schema>, required: string[]): Schema => ({ type: 'object', properties, required });
const nat: Schema = { type: 'integer', minimum: 0 };
const str: Schema = { type: 'string' };
const verdict: Schema = { enum: ['robust', 'fragile', 'unknown'] };
const outcomes: Schema = { type: 'object', propertyNames: { enum: [...OUTCOMES] }, additionalProperties: nat };

const SCHEMA: Schema = obj(
  {
    schema: { const: ROBUSTNESS_SCHEMA },
    kernel: obj({ release: str, vmlinuz: str }, ['release']),
    layout: obj({ type: { const: 'task_struct' }, hash: { type: 'string', pattern: '^sha256:[0-9a-f]{64}$' }, size: nat, alloc_size: nat }, ['type', 'hash', 'size', 'alloc_size']),
    campaign: obj(
      {
        command: str, seed: nat, trials_per_mutation: nat, seconds: nat, trials_run: nat, trials_remaining: nat,
        mutations: { type: 'array', items: { enum: [...MUTATION_KINDS] } },
        runs: { type: 'array', items: obj({ command: str, seconds: nat, trials: nat }, ['command', 'seconds', 'trials']) },
      },
      ['command', 'seed', 'trials_per_mutation', 'mutations', 'runs', 'seconds', 'trials_run', 'trials_remaining'],
    ),
    verdict_rule: str,
    target: str,
    summary: obj({ members: nat, robust: nat, fragile: nat, unknown: nat }, ['members', 'robust', 'fragile', 'unknown']),
    members: {
      type: 'object',
      additionalProperties: obj(
        {
          offset: nat, size: { type: 'integer', minimum: 1 }, kind: str, trials: nat, outcomes, verdict, reason: str,
          not_applicable: { type: 'array', items: { enum: [...MUTATION_KINDS] } },
          by_mutation: {
            type: 'object',
            propertyNames: { enum: [...MUTATION_KINDS] },
            additionalProperties: obj({ trials: nat, outcomes, verdict }, ['trials', 'outcomes', 'verdict']),
          },
          bits: obj({ position: nat, length: { type: 'integer', minimum: 1 } }, ['position', 'length']),
        },
        ['offset', 'size', 'kind', 'trials', 'outcomes', 'by_mutation', 'verdict', 'reason', 'not_applicable'],
      ),
    },
  },
  ['schema', 'kernel', 'layout', 'campaign', 'verdict_rule', 'target', 'summary', 'members'],
);

let validator: ValidateFunction | undefined;

/** Check a parsed document; throws SignatureError naming the JSON path of the first violation. */
export function validateRobustness(doc: unknown, file: string): Robustness {
  validator ??= new Ajv({ allErrors: false, strict: false }).compile(SCHEMA);
  if (!validator(doc)) {
    const e = validator.errors?.[0];
    throw new SignatureError(file, e ? jsonPath(e.instancePath) : '$', `not a ${ROBUSTNESS_SCHEMA} file: ${e?.message ?? 'invalid'}`);
  }
  const rob = doc as Robustness;
  let robust = 0;
  let fragile = 0;
  for (const m of Object.values(rob.members)) (m.verdict === 'robust' ? robust++ : m.verdict === 'fragile' ? fragile++ : 0);
  if (robust !== rob.summary.robust || fragile !== rob.summary.fragile) {
    throw new SignatureError(file, '$.summary', `counts ${rob.summary.robust} robust / ${rob.summary.fragile} fragile, the members say ${robust} / ${fragile}`);
  }
  return rob;
}

/** Read and check robustness.json (optionally .gz). */
export function loadRobustness(path: string): Robustness {
  let doc: unknown;
  try {
    let raw = readFileSync(path);
    if (raw[0] === 0x1f && raw[1] === 0x8b) raw = gunzipSync(raw);
    doc = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw new SignatureError(path, '', `cannot read: ${(err as Error).message}`);
  }
  return validateRobustness(doc, path);
}
