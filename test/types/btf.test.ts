import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { LayoutError } from '../../src/errors.js';
import { parseBtf } from '../../src/types/btf.js';
import { btfToLayout } from '../../src/types/btf-layout.js';
import { layoutFromBytes } from '../../src/types/load.js';
import { writeBtf, type WType } from '../helpers/btf-writer.js';

// A small kernel-like type graph: ids are 1 + index.
const TYPES: WType[] = [
  /* 1 */ { kind: 'int', name: 'int', size: 4, signed: true },
  /* 2 */ { kind: 'int', name: 'char', size: 1, signed: true, char: true },
  /* 3 */ { kind: 'int', name: 'long unsigned int', size: 8 },
  /* 4 */ { kind: 'struct', name: 'list_head', size: 16, members: [{ name: 'next', type: 5, bitOffset: 0 }, { name: 'prev', type: 5, bitOffset: 64 }] },
  /* 5 */ { kind: 'ptr', type: 4 },
  /* 6 */ { kind: 'typedef', name: 'pid_t', type: 1 },
  /* 7 */ { kind: 'array', type: 2, index: 1, nelems: 16 },
  /* 8 */ { kind: 'int', name: 'unsigned int', size: 4 },
  /* 9 */ { kind: 'volatile', type: 8 },
  /* 10 */ { kind: 'struct', name: '', size: 8, members: [{ name: 'a', type: 1, bitOffset: 0 }, { name: 'b', type: 1, bitOffset: 32 }] },
  /* 11 */ { kind: 'union', name: '', size: 8, members: [{ name: 'whole', type: 3, bitOffset: 0 }, { name: '', type: 10, bitOffset: 0 }] },
  /* 12 */ {
    kind: 'struct',
    name: 'task',
    size: 72,
    kindFlag: true,
    members: [
      { name: 'state', type: 9, bitOffset: 0 },
      { name: 'flag_a', type: 8, bitOffset: 32, bitfieldSize: 1 },
      { name: 'flag_b', type: 8, bitOffset: 33, bitfieldSize: 3 },
      { name: 'tasks', type: 4, bitOffset: 64 },
      { name: 'pid', type: 6, bitOffset: 192 },
      { name: 'comm', type: 7, bitOffset: 224 },
      { name: '', type: 11, bitOffset: 384 },
      { name: 'kind', type: 13, bitOffset: 448 },
      { name: 'self', type: 14, bitOffset: 480 },
    ],
  },
  /* 13 */ { kind: 'enum', name: 'task_kind', size: 4, values: [['TK_USER', 0], ['TK_KERNEL', 1], ['TK_NEG', -1]], signed: true },
  /* 14 */ { kind: 'ptr', type: 15 },
  /* 15 */ { kind: 'fwd', name: 'task' },
  /* 16 */ { kind: 'typedef', name: 'atomic_t', type: 17 },
  /* 17 */ { kind: 'struct', name: '', size: 4, members: [{ name: 'counter', type: 1, bitOffset: 0 }] },
  /* 18 */ { kind: 'var', name: 'per_cpu_thing', type: 1 },
  /* 19 */ { kind: 'datasec', name: '.data..percpu', size: 4, vars: [{ type: 18, offset: 0, size: 4 }] },
  /* 20 */ { kind: 'func_proto', ret: 1, params: [{ name: 'x', type: 1 }] },
  /* 21 */ { kind: 'func', name: 'do_thing', type: 20 },
  /* 22 */ { kind: 'enum64', name: 'big_enum', size: 8, values: [['BIG', 0xffff_ffff_ffff_fff0n]] },
  /* 23 */ { kind: 'float', name: 'double', size: 8 },
  /* 24 */ { kind: 'decl_tag', name: 'tag', type: 12, index: -1 },
  /* 25 */ { kind: 'type_tag', name: 'user', type: 1 },
];

describe('BTF parser', () => {
  const blob = writeBtf(TYPES);
  const layout = btfToLayout(parseBtf(blob, 'mini.btf'), 'mini.btf');

  it('reads structs, typedefs, arrays, pointers, forward declarations', () => {
    expect(layout.sizeOf('task')).toBe(72);
    expect(layout.offsetOf('task', 'tasks.next')).toBe(8);
    expect(layout.offsetOf('task', 'tasks.prev')).toBe(16);
    expect(layout.offsetOf('task', 'pid')).toBe(24);
    expect(layout.typeOf('task', 'pid')).toEqual({ kind: 'base', name: 'int' }); // typedef resolved
    expect(layout.typeOf('task', 'comm')).toEqual({ kind: 'array', count: 16, subtype: { kind: 'base', name: 'char' } });
    expect(layout.offsetOf('task', 'comm[5]')).toBe(33);
    expect(layout.typeOf('task', 'state')).toEqual({ kind: 'base', name: 'unsigned int' }); // volatile resolved
    // The FWD pointer resolves to the full definition of the same tag.
    expect(layout.typeOf('task', 'self')).toEqual({ kind: 'pointer', subtype: { kind: 'struct', name: 'task' } });
    expect(layout.sizeOf('pid_t')).toBe(4);
    expect(layout.pointerSize).toBe(8);
  });

  it('flattens anonymous unions and structs, as C does', () => {
    expect(layout.offsetOf('task', 'whole')).toBe(48);
    expect(layout.offsetOf('task', 'a')).toBe(48);
    expect(layout.offsetOf('task', 'b')).toBe(52);
    const anon = layout.fields('task').find((f) => f.anonymous);
    expect(anon?.name).toBe('unnamed_field_30');
  });

  it('names an anonymous struct after the typedef that names it', () => {
    expect(layout.userTypes.has('atomic_t')).toBe(true);
    expect(layout.offsetOf('atomic_t', 'counter')).toBe(0);
  });

  it('turns kind_flag bitfields into storage unit + bit position', () => {
    expect(layout.member('task', 'flag_a')).toMatchObject({ offset: 4, size: 4, bits: { position: 0, length: 1 } });
    expect(layout.member('task', 'flag_b')).toMatchObject({ offset: 4, size: 4, bits: { position: 1, length: 3 } });
  });

  it('reads enums (signed, ENUM64) and records percpu variable types', () => {
    expect(layout.enums.get('task_kind')?.constants.get('TK_NEG')).toBe(-1n);
    expect(layout.enums.get('task_kind')?.base).toBe('int');
    expect(layout.enums.get('big_enum')?.constants.get('BIG')).toBe(0xffff_ffff_ffff_fff0n);
    expect(layout.variableTypes.get('per_cpu_thing')).toEqual({ kind: 'base', name: 'int' });
    expect(layout.baseTypes.get('double')).toMatchObject({ kind: 'float', size: 8 });
  });

  it('reads big-endian BTF', () => {
    const be = btfToLayout(parseBtf(writeBtf(TYPES, { bigEndian: true }), 'be.btf'), 'be.btf');
    expect(be.endian).toBe('big');
    expect(be.offsetOf('task', 'comm')).toBe(28);
    expect(be.enums.get('task_kind')?.constants.get('TK_NEG')).toBe(-1n);
  });

  it('handles old-style bitfields (INT narrower than its size)', () => {
    const b = writeBtf([
      { kind: 'int', name: 'unsigned int', size: 4 },
      { kind: 'int', name: 'unsigned int', size: 4, bits: 5 },
      { kind: 'struct', name: 's', size: 4, members: [{ name: 'lo', type: 2, bitOffset: 0 }, { name: 'hi', type: 2, bitOffset: 5 }] },
    ]);
    const l = btfToLayout(parseBtf(b, 'old.btf'), 'old.btf');
    expect(l.member('s', 'hi')).toMatchObject({ offset: 0, bits: { position: 5, length: 5 } });
  });
});

describe('BTF struct offsets survive a write/parse round trip (property)', () => {
  it('random structs of ints, pointers and arrays', () => {
    const member = fc.record({ kind: fc.constantFrom(1, 2, 3, 4), count: fc.integer({ min: 1, max: 8 }) });
    fc.assert(
      fc.property(fc.array(member, { minLength: 1, maxLength: 30 }), (ms) => {
        // ids: 1 int(4) 2 long(8) 3 char(1) 4 ptr->struct(6) 5..: arrays
        const types: WType[] = [
          { kind: 'int', name: 'int', size: 4, signed: true },
          { kind: 'int', name: 'long int', size: 8, signed: true },
          { kind: 'int', name: 'char', size: 1, signed: true, char: true },
          { kind: 'ptr', type: 6 },
          { kind: 'int', name: 'unsigned char', size: 1 },
        ];
        const sizes: Record<number, number> = { 1: 4, 2: 8, 3: 1, 4: 8 };
        const members: Array<{ name: string; type: number; bitOffset: number }> = [];
        const expected: Array<[string, number, number]> = [];
        let off = 0;
        const arrays: WType[] = [];
        ms.forEach((m, i) => {
          const size = sizes[m.kind]! * m.count;
          const align = sizes[m.kind]!;
          off = Math.ceil(off / align) * align;
          let type = m.kind;
          if (m.count > 1) {
            arrays.push({ kind: 'array', type: m.kind, index: 1, nelems: m.count });
            type = 6 + arrays.length; // after the struct (id 6)
          }
          members.push({ name: `m${i}`, type, bitOffset: off * 8 });
          expected.push([`m${i}`, off, size]);
          off += size;
        });
        types.push({ kind: 'struct', name: 'rand', size: Math.ceil(off / 8) * 8, members }, ...arrays);
        const l = btfToLayout(parseBtf(writeBtf(types), 'r.btf'), 'r.btf');
        for (const [name, o, s] of expected) {
          expect(l.offsetOf('rand', name)).toBe(o);
          expect(l.sizeOf(l.typeOf('rand', name))).toBe(s);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('corrupt BTF gives LayoutError, never a crash', () => {
  const blob = writeBtf(TYPES);

  function outcome(bytes: Uint8Array): 'ok' | 'layout-error' {
    try {
      const l = layoutFromBytes(bytes, 'bad.btf');
      // Touch what the trainer and carver touch: sizes, leaves, decoding.
      for (const name of l.userTypes.keys()) {
        const size = l.sizeOf(name);
        l.leaves(name);
        if (size <= 1 << 20) l.read(name, new Uint8Array(size));
      }
      return 'ok';
    } catch (err) {
      if (err instanceof LayoutError) return 'layout-error';
      throw err;
    }
  }

  it('every truncation is a LayoutError naming the file and an offset', () => {
    for (let n = 0; n < blob.length; n += 1) {
      let err: unknown;
      try {
        btfToLayout(parseBtf(blob.subarray(0, n), 'cut.btf'), 'cut.btf');
      } catch (e) {
        err = e;
      }
      expect(err, `truncated to ${n} bytes`).toBeInstanceOf(LayoutError);
      expect((err as LayoutError).message).toMatch(/^cut\.btf.*offset 0x[0-9a-f]+/);
    }
  });

  it('random byte corruption yields a layout or a LayoutError', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(blob.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), (edits) => {
        const b = Uint8Array.from(blob);
        for (const [at, v] of edits) b[at] = v;
        expect(['ok', 'layout-error']).toContain(outcome(b));
      }),
      { numRuns: 500 },
    );
  });

  it('a huge claimed member count fails on bounds, not on allocation', () => {
    const b = Uint8Array.from(blob);
    const v = new DataView(b.buffer);
    // Type 4 (list_head) record starts after types 1-3 (16 bytes each for INTs).
    const rec = 24 + 16 * 3;
    v.setUint32(rec + 4, (4 << 24) | 0xffff, true);
    expect(() => parseBtf(b, 'huge.btf')).toThrow(/huge\.btf: BTF at offset 0x54: truncated STRUCT members \(65535\): needs 786420 bytes/); // members start after the 12-byte record at 0x48
  });

  it('bad magic, bad header length and dangling references are named', () => {
    const b = Uint8Array.from(blob);
    b[0] = 0;
    expect(() => parseBtf(b, 'm.btf')).toThrow(/m\.btf: BTF at offset 0x0: bad magic/);
    const h = Uint8Array.from(blob);
    new DataView(h.buffer).setUint32(12, 1 << 30, true);
    expect(() => parseBtf(h, 'h.btf')).toThrow(/type section .* runs past the end/);
    const d = writeBtf([{ kind: 'ptr', type: 7 }]);
    expect(() => parseBtf(d, 'd.btf')).toThrow(/refers to its type id 7, but there are 1 types/);
    const outside = writeBtf([
      { kind: 'int', name: 'int', size: 4, signed: true },
      { kind: 'struct', name: 's', size: 4, members: [{ name: 'x', type: 1, bitOffset: 32 }] },
    ]);
    expect(() => btfToLayout(parseBtf(outside, 'o.btf'), 'o.btf')).toThrow('o.btf (s.x): BTF type record at offset 0x28: member ends at bit 64, past the end of the 4-byte struct');
    const cyc = writeBtf([{ kind: 'typedef', name: 'a', type: 2 }, { kind: 'typedef', name: 'b', type: 1 }]);
    expect(() => btfToLayout(parseBtf(cyc, 'c.btf'), 'c.btf')).toThrow(/c\.btf \(a\).*type reference cycle/);
  });
});
