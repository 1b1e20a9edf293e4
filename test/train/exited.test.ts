// Keeping exited objects: with intact exited objects beside the positives, the trainer
// also learns each family on both (a kptr_or_null where exited objects hold NULL, a
// wider range), and every such candidate holds on every positive and every exited
// object; without them nothing of the kind appears. And a 32-bit layout's kptr
// without an explicit mode loads (it used to be compiled for x86-64 first and fail).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { resolveSignature } from '../../src/signatures/load.js';
import { buildCandidates } from '../../src/train/candidates.js';
import { fastTest } from '../../src/train/fast-eval.js';
import { pointerShapeFor } from '../../src/train/pointer-shape.js';
import { slotsOf } from '../../src/train/slots.js';
import type { WindowSet } from '../../src/train/windows.js';
import { Layout } from '../../src/types/layout.js';
import { emptyLayoutData } from '../../src/types/model.js';
import { Rng } from '../helpers/program-arbitraries.js';

const SIZE = 32;

function layoutOf(pointerSize: 4 | 8): Layout {
  const d = emptyLayoutData(pointerSize);
  for (const [name, size] of [['unsigned long', pointerSize], ['unsigned int', 4], ['void', 0]] as const) {
    d.baseTypes.set(name, { name, size, signed: false, kind: name === 'void' ? 'void' : 'int' });
  }
  const base = (name: string) => ({ kind: 'base' as const, name });
  const voidPtr = { kind: 'pointer' as const, subtype: base('void') };
  d.userTypes.set('obj', {
    name: 'obj',
    kind: 'struct',
    size: SIZE,
    fields: [
      { name: 'p', offset: 0, type: voidPtr },
      { name: 'r', offset: 8, type: base('unsigned int') },
      { name: 'junk', offset: 16, type: base('unsigned long') },
      { name: 'q', offset: 24, type: voidPtr },
    ],
  });
  return new Layout('obj.json', d);
}

const layout = layoutOf(8);
const shape = pointerShapeFor('linux', 8, 4);
const slots = slotsOf(layout, 'obj', SIZE);

function windows(count: number, images: number, fill: (view: DataView, at: number, i: number) => void): WindowSet {
  const bytes = new Uint8Array(count * SIZE);
  const view = new DataView(bytes.buffer);
  const image = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    image[i] = i % images;
    fill(view, i * SIZE, i);
  }
  return { size: SIZE, count, bytes, view, image, pa: new Float64Array(count) };
}

const kernelPtr = (rng: Rng): bigint => 0xffff_8880_0000_0000n + (rng.u64() % 2n ** 36n) * 8n;

describe('candidates that admit exited objects', () => {
  it('are learned on positives and intact exited objects together, and hold on both', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 }), fc.integer({ min: 2, max: 3 }), fc.integer({ min: 1, max: 6 }), (seed, images, nExited) => {
        const rng = new Rng(seed);
        const pos = windows(12 * images, images, (v, at) => {
          v.setBigUint64(at, kernelPtr(rng), true);
          v.setUint32(at + 8, 100 + rng.below(10), true);
          v.setBigUint64(at + 16, rng.u64(), true);
          v.setBigUint64(at + 24, kernelPtr(rng), true);
        });
        // Exited: p cleared on the exit path, r a little past the positives' range, q overwritten (a free pointer).
        const exited = windows(nExited, images, (v, at, i) => {
          v.setBigUint64(at, i === 0 ? 0n : kernelPtr(rng), true);
          v.setUint32(at + 8, 100 + rng.below(10), true);
          v.setBigUint64(at + 16, rng.u64(), true);
          v.setBigUint64(at + 24, rng.u64() | 1n, true);
        });
        const input = { os: 'linux' as const, type: 'obj', slots, positives: pos, exited, imageIds: Array.from({ length: images }, (_, i) => `img${i}`), shape, attacker: [] };
        const plain = buildCandidates(input).candidates;
        const keep = buildCandidates({ ...input, exitedKeep: exited }).candidates;
        const admitting = keep.filter((c) => c.note.endsWith('(learned with the intact exited objects)'));
        expect(plain.some((c) => c.note.includes('exited objects'))).toBe(false);
        // p: every positive a kernel pointer, an exited one NULL → kptr (positives) and kptr_or_null (both).
        expect(keep.some((c) => c.slot?.path === 'p' && c.constraint.kind === 'kptr' && c.exitedSupport! < 1)).toBe(true);
        const p = admitting.find((c) => c.slot?.path === 'p' && c.constraint.kind === 'kptr_or_null');
        expect(p).toMatchObject({ support: 1, exitedSupport: 1 });
        // Honest: each admitting candidate holds on every positive and every exited object.
        for (const c of admitting) {
          const t = fastTest(c.constraint);
          for (let i = 0; i < pos.count; i++) expect(t(pos.view, i * SIZE)).toBe(true);
          for (let i = 0; i < exited.count; i++) expect(t(exited.view, i * SIZE)).toBe(true);
          expect(c.exitedSupport).toBe(1);
        }
        // The overwritten word admits no pointer class: nothing on q holds on the exited objects.
        expect(keep.filter((c) => c.slot?.path === 'q' && (c.constraint.kind === 'kptr' || c.constraint.kind === 'kptr_or_null')).every((c) => c.exitedSupport! < 1)).toBe(true);
      }),
      { numRuns: 30 },
    );
  });
});

describe('kptr on a 32-bit layout', () => {
  it('loads without an explicit mode and compiles for x86-32', () => {
    const L = layoutOf(4);
    const doc = { schema: 'kcarve-signature/1', name: 't', version: '1.0.0', target: { os: 'windows', type: 'obj' }, alignment: 8, constraints: [{ field: 'p', kind: 'kptr' }] };
    const sig = resolveSignature(doc, 't.sig.json', { layout: L });
    expect(sig.program('x86-32').constraints[0]).toEqual({ kind: 'kptr', offset: 0, mode: 'x86-32' });
    expect(() => sig.program('x86-64-4')).toThrow(/pointer mode x86-64-4 does not fit a 4-byte field/);
  });
});
