import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { createRequire } from 'node:module';
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { LayoutError } from '../../src/errors.js';
import { isfFromText, isfToText, layoutToIsf } from '../../src/types/isf.js';
import { Layout } from '../../src/types/layout.js';
import { loadLayout, shippedKernelBtfPath } from '../../src/types/load.js';
import type { LayoutData, TypeDesc } from '../../src/types/model.js';
import { emptyLayoutData } from '../../src/types/model.js';
import { withSymbols } from '../../src/types/symbol-map.js';

const require = createRequire(import.meta.url);

/** A hand-written ISF in the shape Volatility 3 symbol packs have (Windows-like, 32-bit). */
const SAMPLE_ISF = `{
  "metadata": {"format": "6.1.0", "producer": {"name": "hand", "version": "1.0.0"},
               "windows": {"pe": {"major": 5, "minor": 1, "revision": 2600}}},
  "base_types": {
    "unsigned long": {"size": 4, "signed": false, "kind": "int", "endian": "little"},
    "long": {"size": 4, "signed": true, "kind": "int", "endian": "little"},
    "unsigned char": {"size": 1, "signed": false, "kind": "char", "endian": "little"},
    "pointer": {"size": 4, "signed": false, "kind": "int", "endian": "little"},
    "void": {"size": 0, "signed": false, "kind": "void", "endian": "little"}
  },
  "user_types": {
    "_LIST_ENTRY": {"kind": "struct", "size": 8, "fields": {
      "Flink": {"offset": 0, "type": {"kind": "pointer", "subtype": {"kind": "struct", "name": "_LIST_ENTRY"}}},
      "Blink": {"offset": 4, "type": {"kind": "pointer", "subtype": {"kind": "struct", "name": "_LIST_ENTRY"}}}}},
    "_EX_FAST_REF": {"kind": "struct", "size": 4, "fields": {
      "unnamed_field_0": {"offset": 0, "anonymous": true, "type": {"kind": "union", "name": "unnamed_ab12"}}}},
    "unnamed_ab12": {"kind": "union", "size": 4, "fields": {
      "Object": {"offset": 0, "type": {"kind": "pointer", "subtype": {"kind": "base", "name": "void"}}},
      "RefCnt": {"offset": 0, "type": {"kind": "bitfield", "bit_position": 0, "bit_length": 3, "type": {"kind": "base", "name": "unsigned long"}}},
      "Value": {"offset": 0, "type": {"kind": "base", "name": "unsigned long"}}}},
    "_EPROCESS": {"kind": "struct", "size": 608, "fields": {
      "ActiveProcessLinks": {"offset": 136, "type": {"kind": "struct", "name": "_LIST_ENTRY"}},
      "Token": {"offset": 200, "type": {"kind": "struct", "name": "_EX_FAST_REF"}},
      "ImageFileName": {"offset": 372, "type": {"kind": "array", "count": 16, "subtype": {"kind": "base", "name": "unsigned char"}}},
      "State": {"offset": 400, "type": {"kind": "enum", "name": "_PS_STATE"}},
      "Callback": {"offset": 404, "type": {"kind": "pointer", "subtype": {"kind": "function"}}}}}
  },
  "enums": {"_PS_STATE": {"size": 4, "base": "long", "constants": {"Created": 0, "Dead": -1, "Huge": 9223372036854775807}}},
  "symbols": {
    "PsActiveProcessHead": {"address": 18446735277616529472, "type": {"kind": "struct", "name": "_LIST_ENTRY"}},
    "banner": {"address": 4096, "constant_data": "TGludXgAAA==", "linkage_name": "_banner"}
  }
}`;

function comparable(l: LayoutData): unknown {
  return { pointerSize: l.pointerSize, endian: l.endian, baseTypes: l.baseTypes, userTypes: l.userTypes, enums: l.enums, symbols: l.symbols };
}

describe('ISF import', () => {
  const l = isfFromText(SAMPLE_ISF, 'sample.json');

  it('reads types, anonymous unions, bitfields, enums and symbols', () => {
    expect(l.pointerSize).toBe(4);
    expect(l.sizeOf('_EPROCESS')).toBe(608);
    expect(l.offsetOf('_EPROCESS', 'ActiveProcessLinks.Blink')).toBe(140);
    expect(l.offsetOf('_EPROCESS', 'Token.RefCnt')).toBe(200);
    expect(l.member('_EPROCESS', 'Token.RefCnt').bits).toEqual({ position: 0, length: 3 });
    expect(l.sizeOf(l.typeOf('_EPROCESS', 'Token.Object'))).toBe(4);
    expect(l.enums.get('_PS_STATE')?.constants.get('Dead')).toBe(-1n);
    expect(l.metadata.os).toBe('windows');
  });

  it('keeps 64-bit addresses and enum values exact (JSON.parse would round them)', () => {
    expect(l.symbolAddress('PsActiveProcessHead')).toBe(18446735277616529472n);
    expect(l.enums.get('_PS_STATE')?.constants.get('Huge')).toBe(9223372036854775807n);
    expect(Buffer.from(l.symbol('banner').constantData!).toString('latin1')).toBe('Linux\u0000\u0000');
  });

  it('decodes an instance with the imported layout', () => {
    const buf = new Uint8Array(608);
    const v = new DataView(buf.buffer);
    v.setUint32(136, 0x81234568, true);
    v.setUint32(200, 0x8899aab5, true);
    buf.set(Buffer.from('System\u0000'), 372);
    v.setInt32(400, -1, true);
    const e = l.read('_EPROCESS', buf);
    expect(e['ImageFileName']).toBe('System');
    expect((e['ActiveProcessLinks'] as Record<string, unknown>)['Flink']).toBe(0x81234568n);
    expect(e['Token']).toEqual({ Object: 0x8899aab5n, RefCnt: 5, Value: 0x8899aab5 });
    expect(e['State']).toBe(-1);
  });
});

describe('ISF round trips: import → export → import gives the same layout', () => {
  it('the hand-written sample', () => {
    const a = isfFromText(SAMPLE_ISF, 'a.json');
    const b = isfFromText(isfToText(a, 'b.json'), 'b.json');
    expect(comparable(b)).toEqual(comparable(a));
    expect(b.metadata.osInfo).toEqual(a.metadata.osInfo);
  });

  it('random layouts (property)', () => {
    fc.assert(
      fc.property(arbitraryLayout(), (data) => {
        const a = new Layout('rand', data);
        const text = isfToText(a, 'rand.json', { datetime: '2026-01-01T00:00:00Z' });
        const b = isfFromText(text, 'rand.json');
        expect(comparable(b)).toEqual(comparable(a));
        // And a second trip is byte-identical.
        expect(isfToText(b, 'rand.json', { datetime: '2026-01-01T00:00:00Z' })).toBe(text);
      }),
      { numRuns: 100 },
    );
  });
});

describe('BTF → ISF → layout equals the BTF layout (Debian 6.1.0-57-amd64)', () => {
  let btf: Layout;
  let viaIsf: Layout;
  beforeAll(() => {
    btf = withSymbols(loadLayout(shippedKernelBtfPath()), new Map([['init_task', 0xffffffff82a0c940n], ['linux_banner', 0xffffffff82000200n]]), 'Linux version 6.1.0-57-amd64 (x) #1 SMP\n');
    viaIsf = isfFromText(isfToText(btf, 'k.json'), 'k.json');
  });

  it('every struct, union, enum and base type is identical', () => {
    expect(viaIsf.userTypes.size).toBe(btf.userTypes.size);
    expect(comparable(viaIsf)).toEqual(comparable(btf));
  });

  it('the pinned offsets read the same through both', () => {
    for (const [t, p] of [
      ['task_struct', 'tasks'],
      ['task_struct', 'comm'],
      ['task_struct', 'rcu_users'],
      ['task_struct', 'sched_contributes_to_load'],
      ['pid', 'numbers[0].nr'],
      ['mm_struct', 'owner'],
      ['signal_struct', 'thread_head'],
    ] as const) {
      expect(viaIsf.member(t, p)).toEqual(btf.member(t, p));
    }
    expect(viaIsf.symbol('init_task')).toMatchObject({ address: 0xffffffff82a0c940n, type: { kind: 'struct', name: 'task_struct' } });
  });

  it('the export names its producer and format (6.2.0, as dwarf2json writes)', () => {
    const doc = layoutToIsf(btf, { datetime: '2026-01-01T00:00:00Z' }) as { metadata: Record<string, unknown> };
    expect(doc.metadata).toMatchObject({ format: '6.2.0', producer: { name: 'kcarve' }, linux: {} });
  });
});

describe('schema failures are LayoutErrors naming the JSON path', () => {
  const doc = (): Record<string, any> => JSON.parse(SAMPLE_ISF.replace('18446735277616529472', '1'));
  const fail = (d: unknown): string => {
    try {
      isfFromText(JSON.stringify(d), 'bad.json');
    } catch (err) {
      expect(err).toBeInstanceOf(LayoutError);
      return (err as Error).message;
    }
    throw new Error('accepted a bad ISF');
  };

  it('a field offset that is not an integer', () => {
    const d = doc();
    d.user_types._EPROCESS.fields.Token.offset = 'x';
    expect(fail(d)).toBe('bad.json: ISF schema violation: $.user_types._EPROCESS.fields.Token.offset must be integer');
  });

  it('a missing top-level section', () => {
    const d = doc();
    delete d.enums;
    expect(fail(d)).toBe('bad.json: ISF schema violation: $ lacks required property "enums"');
  });

  it('an unknown base kind and an unexpected property', () => {
    const d = doc();
    d.base_types.long.kind = 'wide';
    expect(fail(d)).toMatch(/^bad\.json: ISF schema violation: \$\.base_types\.long\.kind must match pattern/);
    const e = doc();
    e.symbols.banner.extra = 1;
    expect(fail(e)).toBe('bad.json: ISF schema violation: $.symbols.banner has unexpected property "extra"');
  });

  it('6.3.0 files must name their producer; older 6.x need not', () => {
    const d = doc();
    d.metadata.format = '6.3.0';
    delete d.metadata.producer;
    expect(fail(d)).toMatch(/\$\.metadata .*producer/);
    d.metadata.format = '6.2.0';
    expect(() => isfFromText(JSON.stringify(d), 'ok.json')).not.toThrow();
  });

  it('unsupported formats, non-JSON and non-ISF JSON', () => {
    const d = doc();
    d.metadata.format = '4.1.0';
    expect(fail(d)).toBe('bad.json: ISF format 4.1.0 is not supported (kcarve reads format 6.x)');
    expect(() => isfFromText('{"a":', 'x.json')).toThrow(/x\.json: not valid JSON/);
    expect(() => isfFromText('{"a": 1}', 'y.json')).toThrow(/y\.json: ISF schema violation: \$\.metadata\.format is missing/);
  });

  it('an export that cannot be valid ISF is refused with its path', () => {
    const data = emptyLayoutData();
    data.userTypes.set('odd', { name: 'odd', kind: 'struct', size: 1.5, fields: [] });
    expect(() => isfToText(new Layout('mem', data), 'out.json')).toThrow('out.json: ISF schema violation: $.user_types.odd.size must be integer');
  });
});

describe('compressed ISF files load through loadLayout', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kcarve-isf-'));
  it('.json, .json.gz and .json.xz give the same layout', () => {
    const xz = require('@napi-rs/lzma/xz') as { compressSync(d: Uint8Array): Buffer };
    writeFileSync(join(dir, 's.json'), SAMPLE_ISF);
    writeFileSync(join(dir, 's.json.gz'), gzipSync(SAMPLE_ISF));
    writeFileSync(join(dir, 's.json.xz'), xz.compressSync(Buffer.from(SAMPLE_ISF)));
    const plain = loadLayout(join(dir, 's.json'));
    expect(comparable(loadLayout(join(dir, 's.json.gz')))).toEqual(comparable(plain));
    expect(comparable(loadLayout(join(dir, 's.json.xz')))).toEqual(comparable(plain));
    writeFileSync(join(dir, 'broken.json.gz'), gzipSync(SAMPLE_ISF).subarray(0, 40));
    expect(() => loadLayout(join(dir, 'broken.json.gz'))).toThrow(/broken\.json\.gz: gzip data is corrupt/);
    expect(() => loadLayout(join(dir, 'missing.json'))).toThrow(/missing\.json: cannot read/);
  });
});

/** Random layouts whose descriptors only name types that exist. */
function arbitraryLayout(): fc.Arbitrary<LayoutData> {
  const baseNames = ['char', 'int', 'unsigned int', 'long long int', 'long unsigned int'];
  const sizes = [1, 4, 4, 8, 8];
  return fc
    .record({
      structs: fc.array(fc.record({ union: fc.boolean(), nfields: fc.integer({ min: 0, max: 6 }) }), { minLength: 1, maxLength: 6 }),
      picks: fc.array(fc.nat(1000), { minLength: 60, maxLength: 60 }),
      addr: fc.bigInt({ min: 0n, max: 0xffff_ffff_ffff_ffffn }),
      enumVal: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }),
    })
    .map(({ structs, picks, addr, enumVal }) => {
      const data = emptyLayoutData();
      baseNames.forEach((n, i) => data.baseTypes.set(n, { name: n, size: sizes[i]!, signed: i % 2 === 1, kind: n === 'char' ? 'char' : 'int' }));
      data.baseTypes.set('pointer', { name: 'pointer', size: 8, signed: false, kind: 'int' });
      data.baseTypes.set('void', { name: 'void', size: 0, signed: false, kind: 'void' });
      data.enums.set('e', { name: 'e', size: 8, base: 'long long int', constants: new Map([['A', 0n], ['B', enumVal]]) });
      let k = 0;
      const pick = (n: number): number => picks[k++ % picks.length]! % n;
      const desc = (depth: number): TypeDesc => {
        switch (pick(depth > 1 ? 3 : 6)) {
          case 0:
            return { kind: 'base', name: baseNames[pick(baseNames.length)]! };
          case 1:
            return { kind: 'enum', name: 'e' };
          case 2:
            return { kind: 'struct', name: `s${pick(structs.length)}` };
          case 3:
            return { kind: 'pointer', subtype: desc(depth + 1) };
          case 4:
            return { kind: 'array', count: pick(5), subtype: desc(depth + 1) };
          default:
            return { kind: 'bitfield', bitPosition: pick(8), bitLength: 1 + pick(8), type: { kind: 'base', name: 'unsigned int' } };
        }
      };
      structs.forEach((s, i) => {
        const fields = Array.from({ length: s.nfields }, (_, j) => ({ name: `f${j}`, offset: j * 8, type: desc(0) }));
        data.userTypes.set(`s${i}`, { name: `s${i}`, kind: s.union ? 'union' : 'struct', size: 8 * s.nfields, fields });
      });
      data.symbols.set('sym', { name: 'sym', address: addr, type: { kind: 'struct', name: 's0' } });
      data.metadata.os = 'linux';
      return data;
    });
}
