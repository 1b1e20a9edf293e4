// Turn parsed BTF into a Layout: typedef/const/volatile/restrict/type_tag chains
// are resolved, anonymous structs/unions get synthetic names, bitfields become
// storage-unit + bit position (how Volatility 3 reads ISF bitfields).
//
// Naming, chosen to match what dwarf2json 0.6.0 writes into ISF so that our
// exports look like the files Volatility 3 users already have:
// - an anonymous member is named `unnamed_field_<hex byte offset>` and marked
//   anonymous (dwarf2json main.go, structType.Field loop);
// - `void` is a base type of size 0, and pointers are sized by a base type
//   named `pointer` (dwarf2json addDwarf).
// An anonymous struct/union/enum is named after the typedef that names it
// (`typedef struct { ... } atomic_t` → `atomic_t`) when that name is free,
// otherwise `unnamed_<btf id>`.
import { LayoutError } from '../errors.js';
import { BtfKind, type BtfBlob, type BtfType } from './btf.js';
import { Layout } from './layout.js';
import type { BaseType, BitfieldStorage, Field, TypeDesc } from './model.js';
import { emptyLayoutData } from './model.js';

const MAX_CHAIN = 64;

export interface BtfLayoutOptions {
  /** Pointer size in bytes; default: the size of `long unsigned int`, else 8. */
  pointerSize?: number;
}

/** Build a Layout from parsed BTF. `file` names the source in errors. */
export function btfToLayout(btf: BtfBlob, file: string, options: BtfLayoutOptions = {}): Layout {
  const data = emptyLayoutData(8, btf.endian);
  const types = btf.types;
  const fail = (t: BtfType | undefined, member: string | undefined, reason: string): LayoutError =>
    new LayoutError(file, t ? t.name || `<anonymous ${BtfKind[t.kind]} id ${t.id}>` : undefined, member, `BTF type record at offset 0x${(t?.fileOffset ?? 0).toString(16)}: ${reason}`);

  data.baseTypes.set('void', { name: 'void', size: 0, signed: false, kind: 'void' });

  // Pass 1: names of structs/unions/enums. The first complete definition of a
  // tag wins; a later, different definition of the same tag is kept as
  // `<name>__btf<id>` so nothing is silently dropped. Structs/unions and enums
  // are named apart, as ISF keeps them in separate maps (`struct context` and
  // `enum context` both exist in the 6.1 kernel).
  const nameOf = new Map<number, string>();
  const userTaken = new Set<string>();
  const enumTaken = new Set<string>();
  const takenFor = (kind: BtfKind): Set<string> => (kind === BtfKind.ENUM || kind === BtfKind.ENUM64 ? enumTaken : userTaken);
  // An ENUM with no values is a forward declaration (libbpf btf__add_enum():
  // "Enum initially has no enum values in it (and corresponds to enum forward
  // declaration)"): name it last.
  const isEnumFwd = (t: BtfType): boolean => (t.kind === BtfKind.ENUM || t.kind === BtfKind.ENUM64) && t.enumerators!.length === 0;
  for (const fwdPass of [false, true]) {
    for (const t of types) {
      if (!t || !isTagged(t.kind) || t.name === '' || isEnumFwd(t) !== fwdPass) continue;
      const taken = takenFor(t.kind);
      if (taken.has(t.name)) nameOf.set(t.id, `${t.name}__btf${t.id}`);
      else {
        taken.add(t.name);
        nameOf.set(t.id, t.name);
      }
    }
  }
  for (const t of types) {
    if (!t || t.kind !== BtfKind.TYPEDEF || t.name === '') continue;
    const target = skipQualifiers(types, t.type);
    if (target && isTagged(target.kind) && target.name === '' && !nameOf.has(target.id) && !takenFor(target.kind).has(t.name)) {
      nameOf.set(target.id, t.name);
      takenFor(target.kind).add(t.name);
    }
  }
  for (const t of types) if (t && isTagged(t.kind) && !nameOf.has(t.id)) nameOf.set(t.id, `unnamed_${t.id}`);

  const enumSize = new Map<string, number>();
  for (const t of types) if (t && (t.kind === BtfKind.ENUM || t.kind === BtfKind.ENUM64)) enumSize.set(nameOf.get(t.id)!, t.size);

  // Forward declarations resolve to the definition of the same tag, if any.
  const defByTag = new Map<string, BtfType>();
  for (const t of types) if (t && (t.kind === BtfKind.STRUCT || t.kind === BtfKind.UNION) && t.name !== '' && !defByTag.has(t.name)) defByTag.set(t.name, t);

  const descCache = new Map<number, TypeDesc>();
  const inProgress = new Set<number>();

  const desc = (id: number, from: BtfType | undefined): TypeDesc => {
    if (id === 0) return { kind: 'base', name: 'void' };
    const hit = descCache.get(id);
    if (hit) return hit;
    const t = types[id];
    if (!t) throw fail(from, undefined, `refers to missing type id ${id}`);
    if (inProgress.has(id) || inProgress.size > MAX_CHAIN) throw fail(t, undefined, 'type reference cycle');
    inProgress.add(id);
    let d: TypeDesc;
    switch (t.kind) {
      case BtfKind.INT:
      case BtfKind.FLOAT:
        d = { kind: 'base', name: addBase(t) };
        break;
      case BtfKind.PTR:
        // Recursion ends at struct/union tags (a pointer to a struct does not
        // resolve the struct's members), so only corrupt BTF can cycle here.
        d = { kind: 'pointer', subtype: desc(t.type, t) };
        break;
      case BtfKind.ARRAY:
        d = { kind: 'array', count: t.array!.nelems, subtype: desc(t.array!.type, t) };
        break;
      case BtfKind.STRUCT:
      case BtfKind.UNION:
        d = { kind: t.kind === BtfKind.STRUCT ? 'struct' : 'union', name: nameOf.get(id)! };
        break;
      case BtfKind.FWD: {
        const def = defByTag.get(t.name);
        d = def ? { kind: def.kind === BtfKind.STRUCT ? 'struct' : 'union', name: nameOf.get(def.id)! } : { kind: t.kindFlag ? 'union' : 'struct', name: t.name };
        break;
      }
      case BtfKind.ENUM:
      case BtfKind.ENUM64:
        d = { kind: 'enum', name: nameOf.get(id)! };
        break;
      case BtfKind.TYPEDEF:
      case BtfKind.VOLATILE:
      case BtfKind.CONST:
      case BtfKind.RESTRICT:
      case BtfKind.TYPE_TAG:
        d = desc(t.type, t);
        break;
      case BtfKind.FUNC:
      case BtfKind.FUNC_PROTO:
        d = { kind: 'function' };
        break;
      default:
        throw fail(t, undefined, `a ${BtfKind[t.kind]} cannot be used as a type`);
    }
    inProgress.delete(id);
    descCache.set(id, d);
    return d;
  };

  const addBase = (t: BtfType): string => {
    const name = t.name || `unnamed_base_${t.id}`;
    if (!data.baseTypes.has(name)) {
      let b: BaseType;
      if (t.kind === BtfKind.FLOAT) b = { name, size: t.size, signed: true, kind: 'float' };
      else {
        const enc = t.intEncoding ?? 0;
        const kind = enc & 4 ? 'bool' : enc & 2 || /^(signed |unsigned )?char$/.test(name) ? 'char' : 'int';
        b = { name, size: t.size, signed: (enc & 1) === 1, kind };
      }
      data.baseTypes.set(name, b);
    }
    return name;
  };

  // Pass 2: every type gets its descriptor; structs, unions and enums get definitions.
  for (const t of types) {
    if (!t) continue;
    switch (t.kind) {
      case BtfKind.DATASEC:
      case BtfKind.DECL_TAG:
      case BtfKind.FUNC:
        break;
      case BtfKind.VAR:
        if (t.name !== '' && !data.variableTypes.has(t.name)) data.variableTypes.set(t.name, desc(t.type, t));
        break;
      case BtfKind.TYPEDEF:
        if (t.name !== '' && !data.typedefs.has(t.name)) data.typedefs.set(t.name, desc(t.id, t));
        break;
      default:
        desc(t.id, undefined);
    }
  }
  for (const t of types) {
    if (!t) continue;
    if (t.kind === BtfKind.STRUCT || t.kind === BtfKind.UNION) {
      const name = nameOf.get(t.id)!;
      data.userTypes.set(name, { name, kind: t.kind === BtfKind.STRUCT ? 'struct' : 'union', size: t.size, fields: fieldsOf(t) });
    } else if (t.kind === BtfKind.ENUM || t.kind === BtfKind.ENUM64) {
      const name = nameOf.get(t.id)!;
      const signed = t.kindFlag || t.enumerators!.some((e) => e.value < 0n);
      const constants = new Map<string, bigint>();
      for (const e of t.enumerators!) if (!constants.has(e.name)) constants.set(e.name, e.value);
      data.enums.set(name, { name, size: t.size, base: intBaseName(t.size, signed), constants });
    }
  }

  function fieldsOf(t: BtfType): Field[] {
    const out: Field[] = [];
    const used = new Set<string>();
    for (const m of t.members!) {
      let type = desc(m.type, t);
      const target = skipQualifiers(types, m.type);
      // Old-style bitfields (kind_flag clear) are INTs narrower than their size.
      const intBits = target?.kind === BtfKind.INT && (target.intBits! < target.size * 8 || target.intOffset! !== 0) ? target.intBits! : 0;
      const width = m.bitfieldSize || intBits;
      const bitOffset = m.bitOffset + (intBits ? target!.intOffset! : 0);
      let offset: number;
      if (width > 0 || bitOffset % 8 !== 0) {
        if (type.kind !== 'base' && type.kind !== 'enum') throw fail(t, m.name, `bitfield of non-integer type ${type.kind}`);
        const unit = sizeOfStorage(type);
        if (unit === 0) throw fail(t, m.name, 'bitfield storage unit has size 0');
        const bits = width || unit * 8;
        offset = Math.floor(bitOffset / (unit * 8)) * unit;
        let position = bitOffset - offset * 8;
        if (position + bits > unit * 8) {
          // A packed bitfield that straddles its natural unit: anchor on its first byte.
          offset = Math.floor(bitOffset / 8);
          position = bitOffset % 8;
        }
        type = { kind: 'bitfield', bitPosition: position, bitLength: bits, type: type as BitfieldStorage };
      } else {
        offset = bitOffset / 8;
      }
      let name = m.name;
      let anonymous = false;
      if (name === '') {
        if (type.kind !== 'struct' && type.kind !== 'union') continue; // unnamed padding bitfield
        anonymous = true;
        name = `unnamed_field_${offset.toString(16)}`;
        for (let i = 1; used.has(name); i += 1) name = `unnamed_field_${offset.toString(16)}_${i}`;
      }
      if (used.has(name)) continue; // duplicate member name: C forbids it; keep the first
      used.add(name);
      out.push(anonymous ? { name, offset, type, anonymous } : { name, offset, type });
    }
    return out;
  }

  function sizeOfStorage(d: TypeDesc): number {
    if (d.kind === 'base') return data.baseTypes.get(d.name)?.size ?? 0;
    if (d.kind === 'enum') return enumSize.get(d.name) ?? 0;
    return 0;
  }

  function intBaseName(size: number, signed: boolean): string {
    // Enum storage, named like the C types gcc's DWARF (and so dwarf2json) uses.
    const names: Record<number, [string, string]> = {
      1: ['signed char', 'unsigned char'],
      2: ['short int', 'short unsigned int'],
      4: ['int', 'unsigned int'],
      8: ['long long int', 'long long unsigned int'],
    };
    const pair = names[size];
    const name = pair ? pair[signed ? 0 : 1] : `${signed ? 's' : 'u'}${size * 8}`;
    if (!data.baseTypes.has(name)) data.baseTypes.set(name, { name, size, signed, kind: 'int' });
    return name;
  }

  const pointerSize = options.pointerSize ?? data.baseTypes.get('long unsigned int')?.size ?? 8;
  data.pointerSize = pointerSize;
  data.baseTypes.set('pointer', { name: 'pointer', size: pointerSize, signed: false, kind: 'int' });
  const layout = new Layout(file, data);
  checkMembersInside(layout, types, nameOf);
  return layout;
}

/**
 * Every member must lie inside its struct/union (a flexible array may sit at the
 * end). Corrupt BTF that claims otherwise is rejected here, once, rather than
 * surfacing later as a read past an instance.
 */
function checkMembersInside(layout: Layout, types: Array<BtfType | undefined>, nameOf: Map<number, string>): void {
  for (const t of types) {
    if (!t || (t.kind !== BtfKind.STRUCT && t.kind !== BtfKind.UNION)) continue;
    const u = layout.userTypes.get(nameOf.get(t.id)!)!;
    for (const f of u.fields) {
      const endBits = f.type.kind === 'bitfield' ? f.offset * 8 + f.type.bitPosition + f.type.bitLength : (f.offset + layout.sizeOf(f.type)) * 8;
      if (endBits > u.size * 8) {
        throw new LayoutError(layout.file, u.name, f.name, `BTF type record at offset 0x${t.fileOffset.toString(16)}: member ends at bit ${endBits}, past the end of the ${u.size}-byte ${u.kind}`);
      }
    }
  }
}

function isTagged(kind: BtfKind): boolean {
  return kind === BtfKind.STRUCT || kind === BtfKind.UNION || kind === BtfKind.ENUM || kind === BtfKind.ENUM64;
}

function skipQualifiers(types: Array<BtfType | undefined>, id: number): BtfType | undefined {
  let t = types[id];
  for (let i = 0; t && i < MAX_CHAIN; i += 1) {
    if (t.kind === BtfKind.TYPEDEF || t.kind === BtfKind.CONST || t.kind === BtfKind.VOLATILE || t.kind === BtfKind.RESTRICT || t.kind === BtfKind.TYPE_TAG) {
      t = types[t.type];
    } else return t;
  }
  return undefined;
}
