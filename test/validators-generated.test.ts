// The committed ahead-of-time validators (src/generated/validators.ts) must be what
// ajv generates from the current schemas; otherwise a schema edit would silently not
// take effect. Regenerate with `npm run gen:validators`.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { GENERATED_VALIDATORS, generateValidatorsSource } from '../src/validator-codegen.js';
import { validateSignatureShape } from '../src/signatures/schema.js';
import { SignatureError } from '../src/errors.js';

describe('generated schema validators', () => {
  it('are up to date with the schemas (run `npm run gen:validators` if not)', () => {
    const committed = readFileSync(path.join(import.meta.dirname, '..', GENERATED_VALIDATORS), 'utf8');
    expect(committed === generateValidatorsSource()).toBe(true);
  });

  it('reject a bad signature with the field path, as the run-time compile did', () => {
    const doc = {
      schema: 'kcarve-signature/1',
      name: 'x',
      version: '1.0.0',
      target: { os: 'linux', type: 'task_struct' },
      alignment: 8,
      constraints: [{ field: 'pid', kind: 'eq', value: '0x1', width: 3 }],
    };
    let err: unknown;
    try {
      validateSignatureShape(doc, 'bad.sig.json');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SignatureError);
    expect(String((err as Error).message)).toContain('$.constraints[0].width');
    expect(() => validateSignatureShape({ ...doc, constraints: [{ field: 'pid', kind: 'eq', value: '0x1' }] }, 'ok.sig.json')).not.toThrow();
  });
});
