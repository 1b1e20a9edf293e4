import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { LayoutError } from '../../src/errors.js';
import { Layout, parsePath } from '../../src/types/layout.js';
import { emptyLayoutData, type LayoutData } from '../../src/types/model.js';
import { formatLeaves, formatType } from '../../src/types/print.js';

/**
 * struct node { struct node *next; int id; };                       size 16
 * struct thing {                                                     size 64
 *   unsigned int flags;            0
 *   unsigned int lo:4, hi:12;      4 (bits 0..3, 4..15)
 *   struct node head;              8
 *   struct node arr[2];           24
 *   union { long long unsigned int raw; struct { int a; int b; }; } 56 (anonymous)
 * };
 * enum color : int { RED = 0, BLUE = -2 }
 */
function sample(endian: 'little' | 'big' = 'little'): Layout {
  const d: LayoutData = emptyLayoutData(8, endian);
  for (const [name, size, signed, kind] of [
    ['int', 4, true, 'int'],
    ['unsigned int', 4, false, 'int'],
    ['long long unsigned int', 8, false, 'int'],
    ['char', 1, true, 'char'],
    ['_Bool', 1, false, 'bool'],
    ['double', 8, true, 'float'],
    ['void', 0, false, 'void'],
  ] as const) {
    d.baseTypes.set(name, { name, size, signed, kind });
  }
  d.userTypes.set('node', {
    name: 'node',
    kind: 'struct',
    size: 16,
    fields: [
      { name: 'next', offset: 0, type: { kind: 'pointer', subtype: { kind: 'struct', name: 'node' } } },
      { name: 'id', offset: 8, type: { kind: 'base', name: 'int' } },
    ],
  });
  d.userTypes.set('ab', { name: 'ab', kind: 'struct', size: 8, fields: [{ name: 'a', offset: 0, type: { kind: 'base', name: 'int' } }, { name: 'b', offset: 4, type: { kind: 'base', name: 'int' } }] });
  d.userTypes.set('raw_or_ab', {
    name: 'raw_or_ab',
    kind: 'union',
    size: 8,
    fields: [
      { name: 'raw', offset: 0, type: { kind: 'base', name: 'long long unsigned int' } },
      { name: 'unnamed_field_0', offset: 0, type: { kind: 'struct', name: 'ab' }, anonymous: true },
    ],
  });
  d.userTypes.set('thing', {
    name: 'thing',
    kind: 'struct',
    size: 72,
    fields: [
      { name: 'flags', offset: 0, type: { kind: 'base', name: 'unsigned int' } },
      { name: 'lo', offset: 4, type: { kind: 'bitfield', bitPosition: 0, bitLength: 4, type: { kind: 'base', name: 'unsigned int' } } },
      { name: 'hi', offset: 4, type: { kind: 'bitfield', bitPosition: 4, bitLength: 12, type: { kind: 'base', name: 'int' } } },
      { name: 'head', offset: 8, type: { kind: 'struct', name: 'node' } },
      { name: 'arr', offset: 24, type: { kind: 'array', count: 2, subtype: { kind: 'struct', name: 'node' } } },
      { name: 'unnamed_field_38', offset: 56, type: { kind: 'union', name: 'raw_or_ab' }, anonymous: true },
      { name: 'color', offset: 64, type: { kind: 'enum', name: 'color' } },
      { name: 'ok', offset: 68, type: { kind: 'base', name: '_Bool' } },
      { name: 'tail', offset: 72, type: { kind: 'array', count: 0, subtype: { kind: 'base', name: 'char' } } },
    ],
  });
  d.enums.set('color', { name: 'color', size: 4, base: 'int', constants: new Map([['RED', 0n], ['BLUE', -2n]]) });
  d.typedefs.set('node_t', { kind: 'struct', name: 'node' });
  d.symbols.set('first_node', { name: 'first_node', address: 0xffffffff81000000n, type: { kind: 'struct', name: 'node' } });
  return new Layout('sample.json', d);
}

describe('paths', () => {
  const l = sample();
  it('nested members, array elements, anonymous members and enums', () => {
    expect(l.offsetOf('thing', 'head.id')).toBe(16);
    expect(l.offsetOf('thing', 'arr[1].next')).toBe(40);
    expect(l.offsetOf('thing', 'arr[1]')).toBe(40);
    expect(l.offsetOf('thing', 'b')).toBe(60);
    expect(l.offsetOf('thing', 'raw')).toBe(56);
    expect(l.offsetOf('thing', 'unnamed_field_38.b')).toBe(60); // the synthetic name works too
    expect(l.offsetOf('thing', '')).toBe(0);
    expect(l.typeOf('thing', 'arr[0].next')).toEqual({ kind: 'pointer', subtype: { kind: 'struct', name: 'node' } });
    expect(l.sizeOf('thing')).toBe(72);
    expect(l.sizeOf('struct node')).toBe(16);
    expect(l.sizeOf('node_t')).toBe(16);
    expect(l.sizeOf('enum color')).toBe(4);
    expect(l.sizeOf(l.typeOf('thing', 'arr'))).toBe(32);
    expect(l.member('thing', 'hi')).toEqual({ path: 'hi', offset: 4, size: 4, type: l.typeOf('thing', 'hi'), bits: { position: 4, length: 12 } });
    expect(l.offsetOf('thing', 'tail[100]')).toBe(172); // flexible array
    expect(l.enumName('color', -2)).toBe('BLUE');
    expect(l.symbolAddress('first_node')).toBe(0xffffffff81000000n);
    expect(l.symbolAddress('nope')).toBeUndefined();
  });

  const errorOf = (fn: () => unknown): LayoutError => {
    try {
      fn();
    } catch (err) {
      expect(err).toBeInstanceOf(LayoutError);
      return err as LayoutError;
    }
    throw new Error('no error');
  };

  it('errors name file, type and member', () => {
    const e = errorOf(() => l.offsetOf('thing', 'head.nope'));
    expect([e.file, e.type, e.member]).toEqual(['sample.json', 'thing', 'head.nope']);
    expect(e.message).toBe('sample.json (thing.head.nope): struct node has no member "nope"');
    expect(errorOf(() => l.offsetOf('thing', 'arr[2]')).message).toBe('sample.json (thing.arr[2]): index 2 is out of bounds for struct node[2]');
    expect(errorOf(() => l.offsetOf('thing', 'flags.x')).message).toMatch(/cannot take member "x" of unsigned int/);
    expect(errorOf(() => l.offsetOf('thing', 'head[0]')).message).toMatch(/cannot index struct node/);
    expect(errorOf(() => l.offsetOf('thing', 'lo.x')).message).toMatch(/a bitfield has no members/);
    expect(errorOf(() => l.offsetOf('thing', 'a..b')).message).toMatch(/empty member name at character 2/);
    expect(errorOf(() => l.offsetOf('thing', 'arr[x]')).message).toMatch(/bad array index/);
    expect(errorOf(() => l.offsetOf('thing', 'head.')).message).toMatch(/path ends with "\."/);
    expect(errorOf(() => l.offsetOf('nothing', 'x')).message).toBe('sample.json (nothing): no such type in this layout');
    expect(errorOf(() => l.userType('color')).message).toBe('sample.json (color): is enum color, not a struct or union');
    expect(errorOf(() => l.symbol('nope')).message).toBe('sample.json: no symbol "nope" in this layout');
  });

  it('parsePath accepts what it prints (property)', () => {
    const name = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,8}$/);
    const step = fc.tuple(name, fc.array(fc.nat(99), { maxLength: 2 }));
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 5 }), (steps) => {
        const text = steps.map(([n, idx]) => n + idx.map((i) => `[${i}]`).join('')).join('.');
        const parsed = parsePath(text, (r) => new Error(r));
        expect(parsed).toEqual(steps.flatMap(([n, idx]) => [{ name: n }, ...idx.map((index) => ({ index }))]));
      }),
    );
  });
});

describe('leaf members', () => {
  it('flatten nested structs, arrays, unions and bitfields in offset order', () => {
    const leaves = sample().leaves('thing');
    expect(leaves.map((x) => [x.path, x.offset, x.size, x.kind, x.inUnion])).toEqual([
      ['flags', 0, 4, 'int', false],
      ['lo', 4, 4, 'bitfield', false],
      ['hi', 4, 4, 'bitfield', false],
      ['head.next', 8, 8, 'pointer', false],
      ['head.id', 16, 4, 'int', false],
      ['arr[0].next', 24, 8, 'pointer', false],
      ['arr[0].id', 32, 4, 'int', false],
      ['arr[1].next', 40, 8, 'pointer', false],
      ['arr[1].id', 48, 4, 'int', false],
      ['raw', 56, 8, 'int', true],
      ['a', 56, 4, 'int', true],
      ['b', 60, 4, 'int', true],
      ['color', 64, 4, 'enum', false],
      ['ok', 68, 1, 'bool', false],
    ]);
    expect(sample().leaves('thing').find((x) => x.path === 'hi')?.signed).toBe(true);
    expect(sample().leaves('thing', { maxArrayElements: 1 }).find((x) => x.path === 'arr')).toMatchObject({ kind: 'array', size: 32 });
  });
});

describe('typed reader', () => {
  function bytes(endian: 'little' | 'big'): Uint8Array {
    const le = endian === 'little';
    const b = new Uint8Array(72);
    const v = new DataView(b.buffer);
    v.setUint32(0, 0xdeadbeef, le);
    v.setUint32(4, (0xfff << 4) | 0x9, le); // hi = -1 (12 signed bits), lo = 9
    v.setBigUint64(8, 0xffff888001234560n, le);
    v.setInt32(16, -7, le);
    v.setInt32(48, 77, le);
    v.setBigUint64(56, endian === 'little' ? 0x0000000200000001n : 0x0000000100000002n, le);
    v.setInt32(64, -2, le);
    b[68] = 1;
    return b;
  }

  for (const endian of ['little', 'big'] as const) {
    it(`decodes every kind (${endian} endian)`, () => {
      const l = sample(endian);
      const t = l.read('thing', bytes(endian));
      expect(t).toEqual({
        flags: 0xdeadbeef,
        lo: 9,
        hi: -1,
        head: { next: 0xffff888001234560n, id: -7 },
        arr: [
          { next: 0n, id: 0 },
          { next: 0n, id: 77 },
        ],
        raw: endian === 'little' ? 0x0000000200000001n : 0x0000000100000002n,
        a: 1,
        b: 2,
        color: -2,
        ok: true,
        tail: [],
      });
    });
  }

  it('reads at an offset inside a larger buffer, and one member at a time', () => {
    const l = sample();
    const big = new Uint8Array(100 + 72);
    big.set(bytes('little'), 100);
    expect(l.read('thing', big, 100)['flags']).toBe(0xdeadbeef);
    expect(l.readMember('thing', 'arr[1].id', big, 100)).toBe(77);
    expect(l.readMember('thing', 'hi', big, 100)).toBe(-1);
    expect(() => l.read('thing', big, 101)).toThrow(RangeError);
  });
});

describe('typed writer', () => {
  it('writes what the reader reads, and refuses values that do not fit', () => {
    for (const endian of ['little', 'big'] as const) {
      const l = sample(endian);
      const buf = new Uint8Array(72);
      l.write('thing', 'hi', buf, -5);
      l.write('thing', 'lo', buf, 7);
      l.write('thing', 'arr[1].next', buf, 0xffff888000001000n);
      l.write('thing', 'b', buf, -3);
      l.write('thing', 'color', buf, -2);
      l.write('thing', 'ok', buf, true);
      expect(l.read('thing', buf)).toMatchObject({ hi: -5, lo: 7, b: -3, color: -2, ok: true, arr: [{ next: 0n }, { next: 0xffff888000001000n }] });
      expect(() => l.write('thing', 'lo', buf, 16)).toThrow('thing.lo: 16 does not fit 4 bits');
      expect(() => l.write('thing', 'flags', buf, 2 ** 32)).toThrow('thing.flags: 4294967296 does not fit 4 bytes');
      expect(() => l.write('thing', 'head', buf, 1)).toThrow(/write a struct as raw bytes/);
      l.write('thing', 'head', buf, new Uint8Array(16).fill(0xff));
      expect(l.readMember('thing', 'head.id', buf)).toBe(-1);
    }
  });
});

describe('pahole-like printing', () => {
  it('shows offsets, sizes, bitfields and anonymous unions inline', () => {
    const text = formatType(sample(), 'thing');
    expect(text.split('\n').map((s) => s.replace(/\s+/g, ' ').trim())).toEqual([
      'struct thing { /* size: 72 */',
      'unsigned int flags; /* 0 4 */',
      'unsigned int lo:4; /* 4:0 4 */',
      'int hi:12; /* 4:4 4 */',
      'struct node head; /* 8 16 */',
      'struct node arr[2]; /* 24 32 */',
      'union { /* 56 8 */',
      'long long unsigned int raw; /* 56 8 */',
      'struct { /* 56 8 */',
      'int a; /* 56 4 */',
      'int b; /* 60 4 */',
      '};',
      '};',
      'enum color color; /* 64 4 */',
      '_Bool ok; /* 68 1 */',
      'char tail[]; /* 72 0 */',
      '};',
      '',
    ]);
    expect(formatType(sample(), 'thing', { expand: 1 })).toMatch(/struct node {\s+\/\* +8 +16 \*\/\n\s+struct node \* next;\s+\/\* +8 +8 \*\//);
    expect(formatLeaves(sample().leaves('node'))).toMatch(/0 +8 +pointer -> struct node +next/);
  });
});
