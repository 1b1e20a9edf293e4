import { describe, expect, it } from 'vitest';
import { InvalidAddressError, SignatureError } from '../src/errors.js';
import type { PhysAddr, VirtAddr } from '../src/addr.js';
import { isfFromText } from '../src/types/isf.js';
import { resolveSignature } from '../src/signatures/load.js';
import { judge, type KernelSpace } from '../src/signatures/edges.js';

/** A toy 64-bit kernel: `obj` with a list, a pid, a name, a pointer to a `tag` struct. */
const ISF = `{
  "metadata": {"format": "6.2.0", "producer": {"name": "test", "version": "1.0.0"}},
  "base_types": {
    "unsigned long": {"size": 8, "signed": false, "kind": "int", "endian": "little"},
    "int": {"size": 4, "signed": true, "kind": "int", "endian": "little"},
    "char": {"size": 1, "signed": true, "kind": "char", "endian": "little"},
    "pointer": {"size": 8, "signed": false, "kind": "int", "endian": "little"},
    "void": {"size": 0, "signed": false, "kind": "void", "endian": "little"}
  },
  "user_types": {
    "list_head": {"kind": "struct", "size": 16, "fields": {
      "next": {"offset": 0, "type": {"kind": "pointer", "subtype": {"kind": "struct", "name": "list_head"}}},
      "prev": {"offset": 8, "type": {"kind": "pointer", "subtype": {"kind": "struct", "name": "list_head"}}}}},
    "tag": {"kind": "struct", "size": 16, "fields": {
      "magic": {"offset": 0, "type": {"kind": "base", "name": "unsigned long"}},
      "nr": {"offset": 8, "type": {"kind": "base", "name": "int"}}}},
    "obj": {"kind": "struct", "size": 64, "fields": {
      "flags": {"offset": 0, "type": {"kind": "base", "name": "unsigned long"}},
      "children": {"offset": 8, "type": {"kind": "struct", "name": "list_head"}},
      "pid": {"offset": 24, "type": {"kind": "base", "name": "int"}},
      "tag": {"offset": 32, "type": {"kind": "pointer", "subtype": {"kind": "struct", "name": "tag"}}},
      "name": {"offset": 40, "type": {"kind": "array", "count": 16, "subtype": {"kind": "base", "name": "char"}}},
      "parent": {"offset": 56, "type": {"kind": "pointer", "subtype": {"kind": "struct", "name": "obj"}}}}}
  },
  "enums": {}, "symbols": {}
}`;

const layout = isfFromText(ISF, 'toy.json');

function sig(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    schema: 'kcarve-signature/1',
    name: 'toy',
    version: '1.0.0',
    target: { os: 'linux', type: 'obj' },
    alignment: 64,
    constraints: [
      { field: 'flags', kind: 'mask', mask: '0xff00000000000000', value: '0x0' },
      { field: 'tag', kind: 'kptr' },
      { field: 'name', kind: 'string', minLength: 1 },
      { field: 'pid', kind: 'range', min: '1', max: '4194304' },
    ],
    edges: [
      { name: 'tag.nr', from: 'tag', read: { type: 'tag', field: 'nr' }, expect: [{ field: 'pid' }], required: true },
      { name: 'tag.magic', from: 'tag', read: { type: 'tag', field: 'magic' }, expect: [{ value: '0x57ac6e9d' }] },
      { name: 'children', read: { type: 'obj', field: 'children.next' }, expect: [{ selfAddress: 'children' }] },
      { name: 'parent', read: { type: 'obj', field: 'parent' }, expect: [{ matchesSignature: '' }] },
    ],
    ...overrides,
  };
}

function errorOf(doc: unknown): SignatureError {
  try {
    resolveSignature(doc, 'toy.sig.json', { layout });
  } catch (err) {
    if (err instanceof SignatureError) return err;
    throw err;
  }
  throw new Error('expected a SignatureError');
}

describe('signature loading', () => {
  it('resolves field names to offsets and compiles the program', () => {
    const s = resolveSignature(sig(), 'toy.sig.json', { layout });
    expect(s.program('x86-64-4')).toEqual({
      alignment: 64,
      constraints: [
        { kind: 'mask', offset: 0, width: 8, mask: 0xff00000000000000n, value: 0n },
        { kind: 'kptr', offset: 32, mode: 'x86-64-4' },
        { kind: 'string', offset: 40, minLength: 1, maxLength: 16 },
        { kind: 'range', offset: 24, width: 4, min: 1n, max: 4194304n },
      ],
    });
    // A kptr without an explicit mode follows the image's paging.
    expect(s.program('x86-64-5').constraints[1]).toEqual({ kind: 'kptr', offset: 32, mode: 'x86-64-5' });
    expect(s.edges.map((e) => [e.name, e.from?.offset, e.read?.offset])).toEqual([
      ['tag.nr', 32, 8],
      ['tag.magic', 32, 0],
      ['children', undefined, 8],
      ['parent', undefined, 56],
    ]);
  });

  it.each([
    [{ schema: 'kcarve-signature/2' }, '$.schema', 'must be "kcarve-signature/1"'],
    [{ alignment: 48 }, '$.alignment', 'must be a power of two'],
    [{ constraints: [] }, '$.constraints', 'must NOT have fewer than 1 items'],
    [{ constraints: [{ field: 'pid', kind: 'eq' }] }, '$.constraints[0].value', 'is required'],
    [{ constraints: [{ field: 'pid', kind: 'eq', value: 'zz' }] }, '$.constraints[0].value', 'must be a hex ("0x…") or decimal string'],
    [{ constraints: [{ field: 'pid', kind: 'between', value: '1' }] }, '$.constraints[0].kind', 'must be one of'],
    [{ constraints: [{ field: 'pid', kind: 'eq', value: '1', colour: 'red' }] }, '$.constraints[0].colour', 'is not a known key'],
    [{ constraints: [{ field: 'pid', kind: 'eq', value: '0x100000000' }] }, '$.constraints[0].value', 'does not fit in 4 byte(s)'],
    [{ constraints: [{ field: 'nosuch', kind: 'eq', value: '1' }] }, '$.constraints[0].field', 'no member "nosuch"'],
    [{ constraints: [{ field: 'name', kind: 'eq', value: '1' }] }, '$.constraints[0].width', 'field is 16 bytes'],
    [{ constraints: [{ field: 'flags', kind: 'mask', mask: '0xf0', value: '0x0f' }] }, '$.constraints[0].value', 'bits outside the mask'],
    [{ constraints: [{ field: 'pid', kind: 'range', min: '9', max: '1' }] }, '$.constraints[0].min', 'is above max'],
    [{ constraints: [{ field: 'name', kind: 'string', byte: 8, maxLength: 16 }] }, '$.constraints[0]', 'past the end of name'],
    [{ target: { os: 'linux', type: 'nosuch' } }, '$.target.type', 'not in layout toy.json'],
    [{ edges: [{ name: 'x', from: 'pid', read: { offset: 0, width: 8 }, expect: [{ value: '1' }] }] }, '$.edges[0].from', 'pid is 4 bytes, not a 8-byte pointer'],
    [{ edges: [{ name: 'x', from: 'tag' }] }, '$.edges[0]', 'an edge needs either "read" and "expect", or "special" and "from"'],
    [
      { edges: [{ name: 'x', from: 'tag', read: { type: 'tag', field: 'nr' }, expect: [{ field: 'nope' }] }] },
      '$.edges[0].expect[0].field',
      'no member "nope"',
    ],
    [
      {
        edges: [
          { name: 'x', from: 'tag', read: { type: 'tag', field: 'nr' }, expect: [{ field: 'pid' }] },
          { name: 'x', from: 'tag', read: { type: 'tag', field: 'nr' }, expect: [{ field: 'pid' }] },
        ],
      },
      '$.edges[1].name',
      'duplicate edge name',
    ],
  ])('rejects %j at %s', (override, where, reason) => {
    const err = errorOf(sig(override));
    expect(err.field).toBe(where);
    expect(err.reason).toContain(reason);
    expect(err.message).toContain('toy.sig.json at ');
  });

  it('asks for a layout when the signature names none and none is given', () => {
    expect(() => resolveSignature(sig(), 'toy.sig.json')).toThrow(/\$\.target\.layout: names no layout; pass --layout FILE/);
  });
});

describe('graph edges', () => {
  // Physical memory: obj at 0x1000, its tag at 0x2000, its parent obj at 0x3000.
  const DIRECT_MAP = 0xffff888000000000n;
  const mem = new Uint8Array(0x4000);
  const view = new DataView(mem.buffer);
  const put64 = (pa: number, v: bigint): void => view.setBigUint64(pa, v, true);
  const put32 = (pa: number, v: number): void => view.setInt32(pa, v, true);
  put32(0x1000 + 24, 77); // pid
  put64(0x1000 + 32, DIRECT_MAP + 0x2000n); // tag
  put64(0x1000 + 8, DIRECT_MAP + 0x1008n); // children.next = &self.children (empty list)
  put64(0x1000 + 56, DIRECT_MAP + 0x3000n); // parent
  put64(0x2000, 0x57ac6e9dn); // tag.magic
  put32(0x2008, 77); // tag.nr

  const space: KernelSpace = {
    pointerMode: 'x86-64-4',
    translateVirt(va: VirtAddr): PhysAddr {
      const pa = va - DIRECT_MAP;
      if (pa < 0n || pa >= BigInt(mem.length)) throw new InvalidAddressError('virtual', va, 'not in the direct map');
      return Number(pa) as PhysAddr;
    },
    virtOfPhys: (pa: PhysAddr) => (DIRECT_MAP + BigInt(pa)) as VirtAddr,
    readPhys(pa: PhysAddr, length: number): Uint8Array {
      if (pa + length > mem.length) throw new InvalidAddressError('physical', BigInt(pa), 'in a hole');
      return mem.subarray(pa, pa + length);
    },
  };
  const s = resolveSignature(sig(), 'toy.sig.json', { layout });
  const self = (): Uint8Array => mem.slice(0x1000, 0x1040);

  it('holds every edge on a consistent object', () => {
    const v = judge(s, self(), 0x1000 as PhysAddr, { space, matchesAt: (pa) => pa === 0x3000 });
    expect(v.edges).toEqual([
      { name: 'tag.nr', outcome: 'held' },
      { name: 'tag.magic', outcome: 'held' },
      { name: 'children', outcome: 'held' },
      { name: 'parent', outcome: 'held' },
    ]);
    expect(v.score).toBe(1);
    expect(v.accepted).toBe(true);
  });

  it('rejects when a required edge fails and reports unreadable pointers', () => {
    const bytes = self();
    new DataView(bytes.buffer).setInt32(24, 78, true); // pid no longer matches tag.nr
    new DataView(bytes.buffer).setBigUint64(56, DIRECT_MAP + 0x100000n, true); // parent outside memory
    const v = judge(s, bytes, 0x1000 as PhysAddr, { space, matchesAt: () => true });
    expect(v.edges.map((e) => e.outcome)).toEqual(['failed', 'held', 'held', 'failed']);
    expect(v.accepted).toBe(false);
    expect(v.score).toBe(0.5);
    const bytes2 = self();
    new DataView(bytes2.buffer).setBigUint64(32, DIRECT_MAP + 0x900000n, true); // tag unmapped
    const v2 = judge(s, bytes2, 0x1000 as PhysAddr, { space, matchesAt: () => true });
    expect(v2.edges[0]).toEqual({ name: 'tag.nr', outcome: 'unreadable' });
  });
});
