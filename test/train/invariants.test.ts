// Invariant inference on hand-built instance sets: whatever constraint the generator
// plants in a field (constant, fixed bits, range, alignment, pointer class, small
// set, printable name), the trainer recovers it with support 1; and a field on the
// attacker-controlled list never becomes eligible, whatever it holds.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Layout } from '../../src/types/layout.js';
import { emptyLayoutData } from '../../src/types/model.js';
import type { AttackerField } from '../../src/train/attacker-fields.js';
import { buildCandidates } from '../../src/train/candidates.js';
import { fastTest } from '../../src/train/fast-eval.js';
import type { Candidate } from '../../src/train/invariants.js';
import { pointerShapeFor } from '../../src/train/pointer-shape.js';
import { slotsOf } from '../../src/train/slots.js';
import type { WindowSet } from '../../src/train/windows.js';
import { Rng } from '../helpers/program-arbitraries.js';

const SIZE = 96;

function objLayout(): Layout {
  const d = emptyLayoutData(8);
  for (const [name, size] of [['unsigned long', 8], ['unsigned int', 4], ['unsigned short', 2], ['char', 1], ['void', 0]] as const) {
    d.baseTypes.set(name, { name, size, signed: name === 'char', kind: name === 'char' ? 'char' : name === 'void' ? 'void' : 'int' });
  }
  const base = (name: string) => ({ kind: 'base' as const, name });
  const voidPtr = { kind: 'pointer' as const, subtype: base('void') };
  d.userTypes.set('obj', {
    name: 'obj',
    kind: 'struct',
    size: SIZE,
    fields: [
      { name: 'k', offset: 0, type: base('unsigned long') },
      { name: 'm', offset: 8, type: base('unsigned int') },
      { name: 'r', offset: 12, type: base('unsigned int') },
      { name: 'a', offset: 16, type: base('unsigned long') },
      { name: 'p', offset: 24, type: voidPtr },
      { name: 'q', offset: 32, type: voidPtr },
      { name: 's', offset: 40, type: base('unsigned short') },
      { name: 'pad', offset: 42, type: base('unsigned short') },
      { name: 'pid', offset: 44, type: base('unsigned int') },
      { name: 'name', offset: 48, type: { kind: 'array', count: 16, subtype: base('char') } },
      { name: 'noise', offset: 64, type: { kind: 'array', count: 4, subtype: base('unsigned long') } },
    ],
  });
  return new Layout('obj.json', d);
}

const layout = objLayout();
const shape = pointerShapeFor('linux', 8, 4);
const slots = slotsOf(layout, 'obj', SIZE);
const attacker: AttackerField[] = [{ os: 'linux', type: 'obj', field: 'pid', why: 'test', source: 'test' }];

interface Plan {
  seed: number;
  images: number;
  perImage: number;
  k: bigint;
  mask: number;
  maskValue: number;
  lo: number;
  span: number;
  alignLog: number;
  set: number[];
}

const planArb: fc.Arbitrary<Plan> = fc.record({
  seed: fc.integer({ min: 1, max: 2 ** 31 }),
  images: fc.integer({ min: 1, max: 3 }),
  perImage: fc.integer({ min: 12, max: 20 }), // a set of up to 6 values needs 12 positives (at most half as many values as positives)
  k: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  mask: fc.integer({ min: 1, max: 0xfffffffe }),
  maskValue: fc.integer({ min: 0, max: 0xffffffff }),
  lo: fc.integer({ min: 0, max: 1 << 30 }),
  span: fc.integer({ min: 1, max: 1 << 20 }),
  alignLog: fc.integer({ min: 1, max: 12 }),
  set: fc.uniqueArray(fc.integer({ min: 0, max: 0xffff }), { minLength: 2, maxLength: 6 }),
});

/** Positives with the plan's invariants planted, everything else random. */
function positives(plan: Plan): WindowSet {
  const rng = new Rng(plan.seed);
  const count = plan.images * plan.perImage;
  const bytes = new Uint8Array(count * SIZE);
  const view = new DataView(bytes.buffer);
  const image = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const at = i * SIZE;
    image[i] = Math.floor(i / plan.perImage);
    for (let b = 0; b < SIZE; b++) bytes[at + b] = rng.below(256);
    view.setBigUint64(at, plan.k, true);
    view.setUint32(at + 8, ((rng.u32() & ~plan.mask) | (plan.maskValue & plan.mask)) >>> 0, true);
    view.setUint32(at + 12, plan.lo + rng.below(plan.span + 1), true);
    view.setBigUint64(at + 16, (rng.u64() >> BigInt(plan.alignLog)) << BigInt(plan.alignLog), true);
    view.setBigUint64(at + 24, 0xffff_ffff_8000_0000n + (rng.u64() % 0x4000_0000n), true);
    // Positive 0 holds a null, positive 1 a pointer: both kinds are always there.
    view.setBigUint64(at + 32, i === 0 || (i > 1 && rng.below(3) === 0) ? 0n : 0xffff_8880_0000_0000n + (rng.u64() % 2n ** 40n), true);
    view.setUint16(at + 40, plan.set[i < plan.set.length ? i : rng.below(plan.set.length)]!, true);
    view.setUint32(at + 44, 1234, true);
    const len = 1 + rng.below(15);
    for (let c = 0; c < 16; c++) bytes[at + 48 + c] = c < len ? 0x21 + rng.below(0x5e) : 0;
  }
  return { size: SIZE, count, bytes, view, image, pa: new Float64Array(count) };
}

const noExited: WindowSet = { size: SIZE, count: 0, bytes: new Uint8Array(0), view: new DataView(new ArrayBuffer(0)), image: new Int32Array(0), pa: new Float64Array(0) };

function candidatesFor(plan: Plan, pos: WindowSet): Candidate[] {
  return buildCandidates({
    os: 'linux',
    type: 'obj',
    slots,
    positives: pos,
    exited: noExited,
    imageIds: Array.from({ length: plan.images }, (_, i) => `img${i}`),
    shape,
    attacker,
  }).candidates;
}

const on = (cs: Candidate[], path: string) => cs.filter((c) => c.slot?.path === path || c.str?.path === path);
const valuesOf = (pos: WindowSet, off: number, read: (v: DataView, at: number) => number) => Array.from({ length: pos.count }, (_, i) => read(pos.view, i * SIZE + off));

describe('invariant inference', () => {
  it('recovers every planted invariant with support 1, and the support is real', () => {
    fc.assert(
      fc.property(planArb, (plan) => {
        const pos = positives(plan);
        const cs = candidatesFor(plan, pos);
        // Support is honest: every support-1 candidate holds on every positive.
        for (const c of cs.filter((x) => x.support === 1)) {
          const t = fastTest(c.constraint);
          for (let i = 0; i < pos.count; i++) expect(t(pos.view, i * SIZE)).toBe(true);
        }
        // Constant.
        const k = on(cs, 'k').find((c) => c.constraint.kind === 'eq');
        expect(k?.constraint).toMatchObject({ kind: 'eq', value: plan.k });
        expect(k?.stable).toBe(true);
        // Fixed bits: a mask covering the planted bits (or a constant, if the free bits happen to agree).
        const m = on(cs, 'm').find((c) => c.constraint.kind === 'mask' || c.constraint.kind === 'eq')!;
        if (m.constraint.kind === 'mask') {
          expect(m.constraint.mask & BigInt(plan.mask)).toBe(BigInt(plan.mask));
          expect(m.constraint.value & BigInt(plan.mask)).toBe(BigInt((plan.maskValue & plan.mask) >>> 0));
        } else expect(m.constraint.kind === 'eq' && (m.constraint.value & BigInt(plan.mask)) === BigInt((plan.maskValue & plan.mask) >>> 0)).toBe(true);
        // Range: holds every value, widened by at most the observed span (plus one) on each side.
        const rv = valuesOf(pos, 12, (v, at) => v.getUint32(at, true));
        const rmin = Math.min(...rv);
        const rmax = Math.max(...rv);
        const r = on(cs, 'r').find((c) => c.constraint.kind === 'range' || c.constraint.kind === 'eq')!;
        if (r.constraint.kind === 'range') {
          expect(Number(r.constraint.min)).toBeLessThanOrEqual(rmin);
          expect(Number(r.constraint.max)).toBeGreaterThanOrEqual(rmax);
          expect(Number(r.constraint.min)).toBeGreaterThanOrEqual(rmin - (rmax - rmin) - 2);
          expect(Number(r.constraint.max)).toBeLessThanOrEqual(rmax + (rmax - rmin) + 2);
        } else expect(rmin).toBe(rmax);
        // Alignment.
        const a = on(cs, 'a').find((c) => c.constraint.kind === 'aligned' || c.constraint.kind === 'eq')!;
        if (a.constraint.kind === 'aligned') expect(a.constraint.alignment >= 1n << BigInt(plan.alignLog)).toBe(true);
        // Pointer classes: kernel pointer, kernel-image region; null or kernel pointer.
        expect(on(cs, 'p').some((c) => c.constraint.kind === 'kptr' && c.support === 1)).toBe(true);
        expect(on(cs, 'p').find((c) => c.family === 'region')?.constraint).toMatchObject({ kind: 'range', min: 0xffff_ffff_8000_0000n, max: 0xffff_ffff_bfff_ffffn });
        expect(on(cs, 'q').some((c) => c.constraint.kind === 'kptr_or_null' && c.support === 1)).toBe(true);
        // Small set: within the planted values, holding every value seen.
        const s = on(cs, 's').find((c) => c.constraint.kind === 'set')!;
        const seen = new Set(valuesOf(pos, 40, (v, at) => v.getUint16(at, true)));
        expect(s.constraint.kind === 'set' && s.constraint.values.map(Number).sort()).toEqual([...seen].sort());
        for (const v of seen) expect(plan.set).toContain(v);
        // Printable name.
        expect(on(cs, 'name').find((c) => c.family === 'string')).toMatchObject({ support: 1, constraint: { kind: 'string', offset: 48, maxLength: 16 } });
        // The attacker-controlled field holds a constant, but nothing on it is eligible.
        const pid = on(cs, 'pid');
        expect(pid.some((c) => c.constraint.kind === 'eq')).toBe(true);
        for (const c of pid) expect(c.excluded).toMatch(/attacker-controlled/);
      }),
      { numRuns: 40 },
    );
  });

  it('does not trust a value that is constant per image but differs between images (a KASLR address)', () => {
    const plan: Plan = { seed: 7, images: 3, perImage: 10, k: 5n, mask: 0xff, maskValue: 1, lo: 10, span: 5, alignLog: 3, set: [1, 2] };
    const pos = positives(plan);
    // noise[0] = a kernel-image address that moves by 2 MiB steps between images, same within one.
    for (let i = 0; i < pos.count; i++) pos.view.setBigUint64(i * SIZE + 64, 0xffff_ffff_8100_0040n + BigInt(pos.image[i]! * 0x60_0000), true);
    const cs = on(candidatesFor(plan, pos), 'noise[0]');
    expect(cs.map((c) => c.family).sort()).toEqual(['aligned', 'kptr', 'nonzero', 'region']);
  });

  it('flags a range that one image falls outside of as not carrying over', () => {
    const plan: Plan = { seed: 9, images: 3, perImage: 10, k: 5n, mask: 0xff, maskValue: 1, lo: 10, span: 5, alignLog: 3, set: [1, 2] };
    const pos = positives(plan);
    for (let i = 0; i < pos.count; i++) pos.view.setBigUint64(i * SIZE, pos.image[i] === 2 ? 100n + BigInt(i % 2) : 5n + BigInt(i % 3), true);
    const k = on(candidatesFor(plan, pos), 'k');
    const range = k.find((c) => c.family === 'range');
    expect(range?.stable).toBe(false);
    expect(range?.unstableOn).toEqual(['img2']);
  });
});
