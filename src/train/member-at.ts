// The member path that starts at a byte offset of a type (`tasks` at 2192 in
// task_struct), the inverse of Layout.offsetOf. Graph edges name members, never raw
// offsets (container_of targets, self-pointers, reads at a pointer's target).
import type { Layout } from '../types/layout.js';
import type { TypeDesc } from '../types/model.js';

function join(name: string, sub: string): string {
  if (sub === '') return name;
  return sub.startsWith('[') ? `${name}${sub}` : `${name}.${sub}`;
}

/** '' for offset 0 (the object itself); undefined when no member starts there. */
export function memberAt(layout: Layout, type: string, offset: number): string | undefined {
  return at(layout, layout.typeDesc(type), offset, true, 0);
}

function at(layout: Layout, desc: TypeDesc, off: number, allowEmpty: boolean, depth: number): string | undefined {
  if (off === 0 && allowEmpty) return '';
  if (depth > 32) return undefined;
  switch (desc.kind) {
    case 'struct':
    case 'union':
    case 'class': {
      const u = layout.userTypes.get(desc.name);
      if (!u) return undefined;
      for (const f of u.fields) {
        const size = f.type.kind === 'function' ? 0 : layout.sizeOf(f.type);
        if (off < f.offset || off >= f.offset + size) continue;
        const rel = off - f.offset;
        if (f.anonymous) {
          const sub = at(layout, f.type, rel, false, depth + 1);
          if (sub !== undefined) return sub;
          continue;
        }
        if (rel === 0) return f.name;
        const sub = at(layout, f.type, rel, false, depth + 1);
        if (sub !== undefined) return join(f.name, sub);
      }
      return undefined;
    }
    case 'array': {
      const el = layout.sizeOf(desc.subtype);
      if (el === 0) return undefined;
      const idx = Math.floor(off / el);
      if (desc.count !== 0 && idx >= desc.count) return undefined;
      const rel = off - idx * el;
      if (rel === 0) return `[${idx}]`;
      const sub = at(layout, desc.subtype, rel, false, depth + 1);
      return sub === undefined ? undefined : join(`[${idx}]`, sub);
    }
    default:
      return undefined;
  }
}

/** The deepest member path of `type` starting at `offset` whose value is exactly `width` bytes (a typed read). */
export function leafAt(layout: Layout, type: string, offset: number, width: number): string | undefined {
  return deepest(layout, layout.typeDesc(type), offset, width, 0);
}

function sizeOrOpen(layout: Layout, t: TypeDesc): number {
  // A flexible array member (count 0) has no size but may be read past the struct's end (struct pid's numbers[]).
  return t.kind === 'array' && t.count === 0 ? Number.POSITIVE_INFINITY : t.kind === 'function' ? 0 : layout.sizeOf(t);
}

function deepest(layout: Layout, desc: TypeDesc, off: number, width: number, depth: number): string | undefined {
  if (depth > 32) return undefined;
  switch (desc.kind) {
    case 'base':
    case 'pointer':
    case 'enum':
      return off === 0 && layout.sizeOf(desc) === width ? '' : undefined;
    case 'struct':
    case 'union':
    case 'class': {
      const u = layout.userTypes.get(desc.name);
      if (!u) return undefined;
      for (const f of u.fields) {
        if (off < f.offset || off >= f.offset + sizeOrOpen(layout, f.type)) continue;
        const sub = deepest(layout, f.type, off - f.offset, width, depth + 1);
        if (sub === undefined) continue;
        return f.anonymous ? sub : join(f.name, sub);
      }
      return undefined;
    }
    case 'array': {
      const el = layout.sizeOf(desc.subtype);
      if (el === 0) return undefined;
      const idx = Math.floor(off / el);
      if (desc.count !== 0 && idx >= desc.count) return undefined;
      const sub = deepest(layout, desc.subtype, off - idx * el, width, depth + 1);
      return sub === undefined ? undefined : join(`[${idx}]`, sub);
    }
    default:
      return undefined;
  }
}

/** Bytes of `type` worth reading at a pointer to it: its size, or up to the end of the first element of a trailing flexible array. */
export function readableSize(layout: Layout, type: string): number {
  const u = layout.userType(type);
  let size = u.size;
  for (const f of u.fields) {
    if (f.type.kind === 'array' && f.type.count === 0) size = Math.max(size, f.offset + layout.sizeOf(f.type.subtype));
  }
  return size;
}

/** Layout type name of a pointee C name (`struct pid` → `pid`), when the layout defines it. */
export function pointeeType(layout: Layout, pointee: string | undefined): string | undefined {
  if (pointee === undefined) return undefined;
  const bare = pointee.replace(/^(struct|union)\s+/, '');
  if (bare === pointee && !/^(struct|union)\s/.test(pointee)) return undefined;
  return layout.userTypes.has(bare) ? bare : undefined;
}
