import { describe, expect, it } from 'vitest';
import { LayoutError } from '../../src/errors.js';
import { Layout } from '../../src/types/layout.js';
import { emptyLayoutData } from '../../src/types/model.js';
import { parseSymbolMap, withSymbols } from '../../src/types/symbol-map.js';

describe('System.map and kallsyms', () => {
  it('parses System.map lines; the first of a repeated name wins', () => {
    const m = parseSymbolMap(
      ['ffffffff81000000 T _text', 'ffffffff82a0c940 D init_task', 'ffffffff81234567 t helper', 'ffffffff81234999 t helper', ''].join('\n'),
      'System.map',
    );
    expect([...m]).toEqual([
      ['_text', 0xffffffff81000000n],
      ['init_task', 0xffffffff82a0c940n],
      ['helper', 0xffffffff81234567n],
    ]);
  });

  it('skips module symbols in kallsyms', () => {
    const m = parseSymbolMap('ffffffffb4e0c940 D init_task\nffffffffc0a01000 t nf_hook\t[nf_tables]\n', 'kallsyms');
    expect([...m.keys()]).toEqual(['init_task']);
  });

  it('refuses a kallsyms read without privilege (all zeros) and malformed lines', () => {
    expect(() => parseSymbolMap('0000000000000000 T _text\n0000000000000000 D init_task\n', 'kallsyms')).toThrow(
      'kallsyms: every address is 0: kptr_restrict hid them (read /proc/kallsyms as root)',
    );
    const err = (() => {
      try {
        parseSymbolMap('ffffffff81000000 T _text\nnot a line\n', 'map');
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(LayoutError);
    expect((err as Error).message).toBe('map: line 2 is not "<hex address> <type> <name>": "not a line"');
  });

  it("names Debian's placeholder System.map", () => {
    // The whole of /boot/System.map-6.1.0-57-amd64 in linux-image-6.1.0-57-amd64 6.1.192-3:
    const stub = 'ffffffffffffffff B The real System.map is in the linux-image-<version>-dbg package\n';
    expect(() => parseSymbolMap(stub, 'System.map-6.1.0-57-amd64')).toThrow(/placeholder System\.map has no symbols: use a root copy of \/proc\/kallsyms/);
  });

  it('attaches types from BTF variables and the known kernel globals', () => {
    const d = emptyLayoutData();
    d.baseTypes.set('char', { name: 'char', size: 1, signed: true, kind: 'char' });
    d.baseTypes.set('int', { name: 'int', size: 4, signed: true, kind: 'int' });
    d.userTypes.set('task_struct', { name: 'task_struct', kind: 'struct', size: 8, fields: [] });
    d.variableTypes.set('runqueues', { kind: 'base', name: 'int' });
    const l = withSymbols(
      new Layout('k.btf', d),
      new Map([['init_task', 1n], ['runqueues', 2n], ['linux_banner', 3n], ['constructor', 4n]]),
      'Linux version 6.1 (x) #1\n',
    );
    expect(l.symbol('init_task').type).toEqual({ kind: 'struct', name: 'task_struct' });
    expect(l.symbol('runqueues').type).toEqual({ kind: 'base', name: 'int' });
    expect(l.symbol('linux_banner').type).toEqual({ kind: 'array', count: 26, subtype: { kind: 'base', name: 'char' } }); // 25 characters and the NUL
    expect(Buffer.from(l.symbol('linux_banner').constantData!).toString()).toBe('Linux version 6.1 (x) #1\n\u0000');
    expect(l.symbol('constructor').type).toBeUndefined(); // not an Object.prototype lookup
    expect(l.metadata.os).toBe('linux');
  });
});
