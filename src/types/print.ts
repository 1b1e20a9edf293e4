// Render a struct the way pahole does, for researchers: one member per line with
// `/* offset size */`, bitfields as `/* offset:bit size */`, absolute offsets.
// Anonymous structs/unions are always shown inline (their synthetic names mean
// nothing); named nested structs are expanded `expand` levels deep.
import type { Layout } from './layout.js';
import type { LeafMember } from './members.js';
import type { TypeDesc } from './model.js';
import { typeName } from './model.js';

export interface PrintOptions {
  /** How many levels of named nested structs/unions to expand inline. Default 0. */
  expand?: number;
}

export function formatType(layout: Layout, type: string, options: PrintOptions = {}): string {
  const u = layout.userType(type);
  const lines: string[] = [];
  const COL = 56;
  const line = (text: string, comment: string): void => {
    lines.push(comment ? `${text.padEnd(COL)} ${comment}` : text);
  };
  const loc = (offset: number, size: number, bit?: number): string =>
    bit === undefined ? `/* ${String(offset).padStart(5)} ${String(size).padStart(5)} */` : `/* ${`${offset}:${bit}`.padStart(8)} ${String(size).padStart(4)} */`;

  const decl = (t: TypeDesc, name: string): string => {
    if (t.kind === 'array') {
      let inner: TypeDesc = t;
      let dims = '';
      while (inner.kind === 'array') {
        dims += `[${inner.count === 0 ? '' : inner.count}]`;
        inner = inner.subtype;
      }
      return `${typeName(inner)} ${name}${dims}`;
    }
    if (t.kind === 'bitfield') return `${typeName(t.type)} ${name}:${t.bitLength}`;
    if (t.kind === 'pointer' && t.subtype.kind === 'function') return `func *${name}`;
    return `${typeName(t)} ${name}`;
  };

  const body = (name: string, base: number, indent: string, depth: number): void => {
    const ut = layout.userTypes.get(name);
    if (!ut) {
      line(`${indent}/* ${name}: declared but never defined */`, '');
      return;
    }
    for (const f of ut.fields) {
      const at = base + f.offset;
      const t = f.type;
      const nested = t.kind === 'struct' || t.kind === 'union' || t.kind === 'class';
      if (nested && (f.anonymous || depth < (options.expand ?? 0))) {
        const size = layout.sizeOf(t);
        line(`${indent}${f.anonymous ? t.kind : typeName(t)} {`, loc(at, size));
        body(t.name, at, `${indent}    `, f.anonymous ? depth : depth + 1);
        line(`${indent}}${f.anonymous ? '' : ` ${f.name}`};`, '');
        continue;
      }
      if (t.kind === 'bitfield') {
        line(`${indent}${decl(t, f.name)};`, loc(at, layout.sizeOf(t.type), t.bitPosition));
        continue;
      }
      let size: number | string;
      try {
        size = layout.sizeOf(t);
      } catch {
        size = '?';
      }
      line(`${indent}${decl(t, f.name)};`, `/* ${String(at).padStart(5)} ${String(size).padStart(5)} */`);
    }
  };

  line(`${u.kind} ${u.name} {`, `/* size: ${u.size} */`);
  body(u.name, 0, '    ', 0);
  lines.push('};');
  return `${lines.join('\n')}\n`;
}

/** One line per leaf: offset, size, kind and path (for `layout show --leaves`). */
export function formatLeaves(leaves: LeafMember[]): string {
  const rows = leaves.map((l) => {
    const where = l.bits ? `${l.offset}:${l.bits.position}` : String(l.offset);
    const what = l.kind === 'pointer' ? `pointer -> ${l.pointee}` : l.kind === 'bitfield' ? `bitfield:${l.bits!.length}` : l.kind;
    return `${where.padStart(8)} ${String(l.size).padStart(5)}  ${what.padEnd(32)} ${l.path}${l.inUnion ? '  (union)' : ''}`;
  });
  return `${'offset'.padStart(8)} ${'size'.padStart(5)}  ${'kind'.padEnd(32)} path\n${rows.join('\n')}\n`;
}
