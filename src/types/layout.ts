// A structure layout asked for by name: `offsetOf('task_struct', 'tasks.next')`.
// No offset of a kernel structure lives in code; they all come from a Layout
// built from BTF, ISF or a layout pack (see ./load.ts).
//
// Paths: members joined by `.`, array elements by `[i]`:
//   `tasks.next`, `Pcb.DirectoryTableBase`, `numbers[0].nr`, `comm[3]`.
// Members of anonymous structs/unions are reached directly, as in C
// (`task_struct.rcu_users` lives in an anonymous union).
import { LayoutError } from '../errors.js';
import { leafMembers, type LeafMember, type MemberOptions } from './members.js';
import type { BaseType, EnumType, Field, LayoutData, LayoutMetadata, SymbolDef, TypeDesc, UserType } from './model.js';
import { typeName } from './model.js';
import { readMember, readStruct, type Decoded } from './reader.js';
import { writeMember, type Writable } from './writer.js';

/** Where a path leads: its byte offset, size and type. */
export interface ResolvedMember {
  /** The path as given. */
  path: string;
  /** Byte offset from the start of the outer type (a bitfield's storage unit). */
  offset: number;
  /** Bytes (a bitfield's storage unit size). */
  size: number;
  type: TypeDesc;
  /** Present for bitfields. */
  bits?: { position: number; length: number };
}

type PathStep = { name: string } | { index: number };

/** Deepest nesting followed before a layout is judged cyclic (C types nest far less). */
const MAX_DEPTH = 64;

export class Layout implements LayoutData {
  readonly pointerSize: number;
  readonly endian: 'little' | 'big';
  readonly baseTypes: Map<string, BaseType>;
  readonly userTypes: Map<string, UserType>;
  readonly enums: Map<string, EnumType>;
  readonly typedefs: Map<string, TypeDesc>;
  readonly symbols: Map<string, SymbolDef>;
  readonly variableTypes: Map<string, TypeDesc>;
  readonly metadata: LayoutMetadata;
  /** Per user type: member name → field and its offset, anonymous members flattened. */
  private readonly memberIndex = new Map<string, Map<string, { field: Field; offset: number }>>();
  private readonly resolveCache = new Map<string, ResolvedMember>();

  /** `file` names the source in every LayoutError this layout raises. */
  constructor(
    readonly file: string,
    data: LayoutData,
  ) {
    this.pointerSize = data.pointerSize;
    this.endian = data.endian;
    this.baseTypes = data.baseTypes;
    this.userTypes = data.userTypes;
    this.enums = data.enums;
    this.typedefs = data.typedefs;
    this.symbols = data.symbols;
    this.variableTypes = data.variableTypes;
    this.metadata = data.metadata;
  }

  error(type: string | undefined, member: string | undefined, reason: string): LayoutError {
    return new LayoutError(this.file, type, member, reason);
  }

  /** True if `name` names a struct/union, typedef, enum or base type. */
  hasType(name: string): boolean {
    return this.findType(name) !== undefined;
  }

  /**
   * The descriptor a type name stands for. Accepts `task_struct`, `struct task_struct`,
   * typedef names (`pid_t`), enum and base type names.
   */
  typeDesc(name: string): TypeDesc {
    const t = this.findType(name);
    if (t === undefined) throw this.error(name, undefined, 'no such type in this layout');
    return t;
  }

  private findType(name: string): TypeDesc | undefined {
    const m = /^(struct|union|class|enum)\s+(.+)$/.exec(name.trim());
    const bare = m ? m[2]! : name.trim();
    const want = m ? m[1] : undefined;
    const u = this.userTypes.get(bare);
    if (u && (want === undefined || want === u.kind)) return { kind: u.kind, name: bare };
    const e = this.enums.get(bare);
    if (e && (want === undefined || want === 'enum')) return { kind: 'enum', name: bare };
    if (want !== undefined) return undefined;
    const td = this.typedefs.get(bare);
    if (td) return td;
    if (this.baseTypes.has(bare)) return { kind: 'base', name: bare };
    return undefined;
  }

  /** The struct/union definition behind a name; throws if it is not one. */
  userType(name: string): UserType {
    const desc = this.typeDesc(name);
    if (desc.kind !== 'struct' && desc.kind !== 'union' && desc.kind !== 'class') {
      throw this.error(name, undefined, `is ${typeName(desc)}, not a struct or union`);
    }
    const u = this.userTypes.get(desc.name);
    if (!u) throw this.error(desc.name, undefined, 'declared but never defined in this layout');
    return u;
  }

  /** Size in bytes of a named type or a descriptor. */
  sizeOf(type: string | TypeDesc): number {
    const desc = typeof type === 'string' ? this.typeDesc(type) : type;
    return this.sizeOfDesc(desc, typeof type === 'string' ? type : typeName(desc), 0);
  }

  private sizeOfDesc(t: TypeDesc, context: string, depth: number): number {
    if (depth > MAX_DEPTH) throw this.error(context, undefined, 'type nests too deeply (cyclic layout?)');
    switch (t.kind) {
      case 'base': {
        const b = this.baseTypes.get(t.name);
        if (!b) throw this.error(context, undefined, `base type ${JSON.stringify(t.name)} is not defined`);
        return b.size;
      }
      case 'pointer': {
        if (t.base === undefined) return this.pointerSize;
        const b = this.baseTypes.get(t.base);
        if (!b) throw this.error(context, undefined, `pointer base type ${JSON.stringify(t.base)} is not defined`);
        return b.size;
      }
      case 'array': {
        const n = t.count * this.sizeOfDesc(t.subtype, context, depth + 1);
        if (!Number.isSafeInteger(n)) throw this.error(context, undefined, `array of ${t.count} elements is too large`);
        return n;
      }
      case 'struct':
      case 'union':
      case 'class': {
        const u = this.userTypes.get(t.name);
        if (!u) throw this.error(t.name, undefined, 'declared but never defined in this layout');
        return u.size;
      }
      case 'enum': {
        const e = this.enums.get(t.name);
        if (!e) throw this.error(context, undefined, `enum ${JSON.stringify(t.name)} is not defined`);
        return e.size;
      }
      case 'bitfield':
        return this.sizeOfDesc(t.type, context, depth + 1);
      case 'function':
        throw this.error(context, undefined, 'a function type has no size');
    }
  }

  /** Byte offset of `path` inside `type` (a bitfield's storage unit). */
  offsetOf(type: string, path: string): number {
    return this.member(type, path).offset;
  }

  /** The type at `path` inside `type` (`''` gives the type itself). */
  typeOf(type: string, path: string): TypeDesc {
    return this.member(type, path).type;
  }

  /** Offset, size and type of `path` inside `type`. */
  member(type: string, path: string): ResolvedMember {
    const key = `${type}\u0000${path}`;
    const hit = this.resolveCache.get(key);
    if (hit) return hit;
    const r = this.resolve(type, path);
    this.resolveCache.set(key, r);
    return r;
  }

  private resolve(type: string, path: string): ResolvedMember {
    const steps = parsePath(path, (reason) => this.error(type, path, reason));
    let desc = this.typeDesc(type);
    let offset = 0;
    let bits: { position: number; length: number } | undefined;
    for (const step of steps) {
      if (bits) throw this.error(type, path, 'a bitfield has no members or elements');
      if ('name' in step) {
        if (desc.kind !== 'struct' && desc.kind !== 'union' && desc.kind !== 'class') {
          throw this.error(type, path, `cannot take member ${JSON.stringify(step.name)} of ${typeName(desc)}`);
        }
        const hit = this.membersByName(desc.name, type, path).get(step.name);
        if (!hit) throw this.error(type, path, `${typeName(desc)} has no member ${JSON.stringify(step.name)}`);
        offset += hit.offset;
        desc = hit.field.type;
        if (desc.kind === 'bitfield') bits = { position: desc.bitPosition, length: desc.bitLength };
      } else {
        if (desc.kind !== 'array') throw this.error(type, path, `cannot index ${typeName(desc)}`);
        // A flexible array member (count 0) may be indexed past its declared end, as in C.
        if (desc.count !== 0 && step.index >= desc.count) {
          throw this.error(type, path, `index ${step.index} is out of bounds for ${typeName(desc)}`);
        }
        offset += step.index * this.sizeOfDesc(desc.subtype, type, 0);
        desc = desc.subtype;
      }
    }
    if (!Number.isSafeInteger(offset)) throw this.error(type, path, 'offset is not a safe integer');
    const size = this.sizeOfDesc(desc, type, 0);
    return bits ? { path, offset, size, type: desc, bits } : { path, offset, size, type: desc };
  }

  /** Member name → field and offset, with anonymous struct/union members flattened in. */
  private membersByName(name: string, ctxType: string, ctxPath: string): Map<string, { field: Field; offset: number }> {
    const cached = this.memberIndex.get(name);
    if (cached) return cached;
    const index = new Map<string, { field: Field; offset: number }>();
    const visit = (typeName: string, base: number, depth: number): void => {
      if (depth > MAX_DEPTH) throw this.error(ctxType, ctxPath, 'anonymous members nest too deeply (cyclic layout?)');
      const u = this.userTypes.get(typeName);
      if (!u) throw this.error(typeName, undefined, 'declared but never defined in this layout');
      for (const f of u.fields) {
        // The synthetic name of an anonymous member stays reachable too (ISF files name them).
        if (!index.has(f.name)) index.set(f.name, { field: f, offset: base + f.offset });
        if (f.anonymous && (f.type.kind === 'struct' || f.type.kind === 'union' || f.type.kind === 'class')) {
          visit(f.type.name, base + f.offset, depth + 1);
        }
      }
    };
    visit(name, 0, 0);
    this.memberIndex.set(name, index);
    return index;
  }

  /** Every leaf field of a struct/union, flattened (see ./members.ts). */
  leaves(type: string, options?: MemberOptions): LeafMember[] {
    return leafMembers(this, type, options);
  }

  /** Decode an instance of `type` at `offset` in `bytes` into a plain object (see ./reader.ts). */
  read(type: string, bytes: Uint8Array, offset = 0): { [member: string]: Decoded } {
    return readStruct(this, type, bytes, offset);
  }

  /** Decode one member of a `type` instance that starts at `offset` in `bytes`. */
  readMember(type: string, path: string, bytes: Uint8Array, offset = 0): Decoded {
    return readMember(this, type, path, bytes, offset);
  }

  /** Write one member of a `type` instance that starts at `offset` in `bytes` (see ./writer.ts). */
  write(type: string, path: string, bytes: Uint8Array, value: Writable, offset = 0): void {
    writeMember(this, type, path, bytes, value, offset);
  }

  /** The fields a struct/union declares (anonymous members not flattened). */
  fields(type: string): Field[] {
    return this.userType(type).fields;
  }

  /** A symbol's address, or undefined when the layout does not know it. */
  symbolAddress(name: string): bigint | undefined {
    return this.symbols.get(name)?.address;
  }

  /** A symbol; throws LayoutError when it is unknown. */
  symbol(name: string): SymbolDef {
    const s = this.symbols.get(name);
    if (!s) throw this.error(undefined, undefined, `no symbol ${JSON.stringify(name)} in this layout`);
    return s;
  }

  /** Enumerator name for a value of enum `name`, if one matches. */
  enumName(name: string, value: bigint | number): string | undefined {
    const e = this.enums.get(name);
    if (!e) throw this.error(name, undefined, 'no such enum in this layout');
    const v = BigInt(value);
    for (const [k, c] of e.constants) if (c === v) return k;
    return undefined;
  }

  /** The layout's data (maps shared, not copied). */
  data(): LayoutData {
    return {
      pointerSize: this.pointerSize,
      endian: this.endian,
      baseTypes: this.baseTypes,
      userTypes: this.userTypes,
      enums: this.enums,
      typedefs: this.typedefs,
      symbols: this.symbols,
      variableTypes: this.variableTypes,
      metadata: this.metadata,
    };
  }
}

/** Split `a.b[2].c` into steps; `''` is the empty path. */
export function parsePath(path: string, fail: (reason: string) => Error): PathStep[] {
  const steps: PathStep[] = [];
  if (path === '') return steps;
  let i = 0;
  let expectName = true;
  while (i < path.length) {
    const c = path[i]!;
    if (c === '[') {
      const close = path.indexOf(']', i);
      const digits = close < 0 ? '' : path.slice(i + 1, close);
      if (!/^[0-9]+$/.test(digits) || steps.length === 0) throw fail(`bad array index at character ${i} of the path`);
      const index = Number(digits);
      if (!Number.isSafeInteger(index)) throw fail(`array index ${digits} is too large`);
      steps.push({ index });
      i = close + 1;
      expectName = false;
    } else if (c === '.') {
      if (expectName) throw fail(`empty member name at character ${i} of the path`);
      i += 1;
      expectName = true;
    } else {
      if (!expectName) throw fail(`expected '.' or '[' at character ${i} of the path`);
      let j = i;
      while (j < path.length && path[j] !== '.' && path[j] !== '[' && path[j] !== ']') j += 1;
      if (j === i) throw fail(`unexpected ${JSON.stringify(c)} at character ${i} of the path`);
      steps.push({ name: path.slice(i, j) });
      i = j;
      expectName = false;
    }
  }
  if (expectName) throw fail('path ends with "."');
  return steps;
}
