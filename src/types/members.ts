// Every leaf field of a structure, flattened: what the signature trainer walks to
// learn which fields carry invariants. Nested structs and unions are expanded;
// arrays are expanded element by element up to a limit; `char` arrays are one
// `string` leaf (a name such as `comm`).
import type { Layout } from './layout.js';
import type { TypeDesc } from './model.js';
import { typeName } from './model.js';

export type LeafKind =
  | 'int'
  | 'char'
  | 'bool'
  | 'float'
  | 'enum'
  | 'pointer'
  | 'bitfield'
  | 'string'
  /** An array left unexpanded (more elements than `maxArrayElements`). */
  | 'array'
  | 'void';

export interface LeafMember {
  /** Path usable with Layout.offsetOf (`tasks.next`, `numbers[0].nr`, `pid_links[2].pprev`). */
  path: string;
  offset: number;
  size: number;
  kind: LeafKind;
  /** For int/char/enum/bitfield: how the value is read. */
  signed: boolean;
  type: TypeDesc;
  /** For pointers: C name of what they point to (`struct task_struct`, `char`, `void`, `func`). */
  pointee?: string;
  /** For bitfields: bit position inside the storage unit at `offset`, and width. */
  bits?: { position: number; length: number };
  /** Reached through a union member: shares its bytes with a sibling alternative. */
  inUnion: boolean;
}

export interface MemberOptions {
  /** Arrays with more elements than this stay one `array` leaf. Default 256. */
  maxArrayElements?: number;
}

const MAX_DEPTH = 64;

/** Flattened leaf fields of a struct/union, in offset order (declaration order on ties). */
export function leafMembers(layout: Layout, type: string, options: MemberOptions = {}): LeafMember[] {
  const maxElems = options.maxArrayElements ?? 256;
  const root = layout.userType(type);
  const out: LeafMember[] = [];

  const walk = (desc: TypeDesc, path: string, offset: number, inUnion: boolean, depth: number): void => {
    if (depth > MAX_DEPTH) throw layout.error(type, path, 'type nests too deeply (cyclic layout?)');
    switch (desc.kind) {
      case 'struct':
      case 'union':
      case 'class': {
        const u = layout.userTypes.get(desc.name);
        if (!u) throw layout.error(desc.name, undefined, 'declared but never defined in this layout');
        const union = inUnion || u.kind === 'union';
        for (const f of u.fields) {
          // Members of an anonymous struct/union are named as members of the outer type (C11 6.7.2.1p13).
          const p = f.anonymous ? path : path === '' ? f.name : `${path}.${f.name}`;
          walk(f.type, p, offset + f.offset, union, depth + 1);
        }
        return;
      }
      case 'array': {
        const el = desc.subtype;
        if (el.kind === 'base' && desc.count > 0) {
          const b = layout.baseTypes.get(el.name);
          if (b && b.kind === 'char' && b.size === 1) {
            out.push({ path, offset, size: desc.count, kind: 'string', signed: b.signed, type: desc, inUnion });
            return;
          }
        }
        if (desc.count === 0) return; // flexible array member: no bytes inside the struct
        if (desc.count > maxElems) {
          out.push({ path, offset, size: layout.sizeOf(desc), kind: 'array', signed: false, type: desc, inUnion });
          return;
        }
        const step = layout.sizeOf(el);
        for (let i = 0; i < desc.count; i += 1) walk(el, `${path}[${i}]`, offset + i * step, inUnion, depth + 1);
        return;
      }
      case 'pointer':
        out.push({
          path,
          offset,
          size: layout.sizeOf(desc),
          kind: 'pointer',
          signed: false,
          type: desc,
          pointee: desc.subtype.kind === 'function' ? 'func' : typeName(desc.subtype),
          inUnion,
        });
        return;
      case 'bitfield': {
        const signed =
          desc.type.kind === 'base'
            ? (layout.baseTypes.get(desc.type.name)?.signed ?? false)
            : enumSigned(layout, desc.type.name);
        out.push({
          path,
          offset,
          size: layout.sizeOf(desc.type),
          kind: 'bitfield',
          signed,
          type: desc,
          bits: { position: desc.bitPosition, length: desc.bitLength },
          inUnion,
        });
        return;
      }
      case 'enum':
        out.push({ path, offset, size: layout.sizeOf(desc), kind: 'enum', signed: enumSigned(layout, desc.name), type: desc, inUnion });
        return;
      case 'base': {
        const b = layout.baseTypes.get(desc.name);
        if (!b) throw layout.error(type, path, `base type ${JSON.stringify(desc.name)} is not defined`);
        if (b.size === 0) return; // void / empty: no bytes
        out.push({ path, offset, size: b.size, kind: b.kind, signed: b.signed, type: desc, inUnion });
        return;
      }
      case 'function':
        return; // not a data member
    }
  };

  walk({ kind: root.kind, name: root.name }, '', 0, false, 0);
  // Stable sort: offset order, declaration order on ties (union alternatives).
  return out.map((m, i) => ({ m, i })).sort((a, b) => a.m.offset - b.m.offset || a.i - b.i).map((x) => x.m);
}

function enumSigned(layout: Layout, name: string): boolean {
  const e = layout.enums.get(name);
  if (!e) return false;
  const b = layout.baseTypes.get(e.base);
  if (b) return b.signed;
  for (const v of e.constants.values()) if (v < 0n) return true;
  return false;
}
