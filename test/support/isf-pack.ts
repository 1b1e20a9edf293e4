// Small, test-only readers for the Windows layout packs in
// signatures/layouts/windows/. They are deliberately not an ISF importer
// (that lives in src/types/); they check the JSON the way the tests need:
// Volatility 3's schema rules (volatility3/schemas/schema-6.2.0.json, written
// out by hand below), sizes, dotted member paths and internal consistency.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const PACK_DIR = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../signatures/layouts/windows',
);

export type TypeDesc =
  | { kind: 'base'; name: string }
  | { kind: 'pointer'; subtype: TypeDesc; base?: string }
  | { kind: 'array'; count: number; subtype: TypeDesc }
  | { kind: 'struct' | 'union' | 'class'; name: string }
  | { kind: 'enum'; name: string }
  | { kind: 'function' }
  | { kind: 'bitfield'; bit_position: number; bit_length: number; type: TypeDesc };

export interface Field { offset: number; type: TypeDesc; anonymous?: boolean }
export interface UserType { kind: 'struct' | 'union' | 'class'; size: number; fields: Record<string, Field> }
export interface Isf {
  metadata: Record<string, unknown>;
  base_types: Record<string, { size: number; kind: string; signed: boolean; endian: string }>;
  user_types: Record<string, UserType>;
  enums: Record<string, { size: number; base: string; constants: Record<string, number> }>;
  symbols: Record<string, unknown>;
}

export function readJson<T>(file: string): T {
  return JSON.parse(readFileSync(path.join(PACK_DIR, file), 'utf8')) as T;
}

// ------------------------------------------------------------ schema shape
// Mirrors volatility3/schemas/schema-6.2.0.json (Volatility 3 @ a1961401):
// which keys each object may and must have, and the kind patterns.

function keysOk(obj: unknown, where: string, allowed: string[], required: string[], errs: string[]): obj is Record<string, unknown> {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
    errs.push(`${where}: not an object`);
    return false;
  }
  for (const k of Object.keys(obj)) if (!allowed.includes(k)) errs.push(`${where}: unexpected key ${k}`);
  for (const k of required) if (!(k in obj)) errs.push(`${where}: missing key ${k}`);
  return true;
}

const isInt = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v);

function checkTypeDesc(t: unknown, where: string, errs: string[], inBitfield = false): void {
  if (typeof t !== 'object' || t === null) { errs.push(`${where}: type is not an object`); return; }
  const kind = (t as { kind?: unknown }).kind;
  const o = t as Record<string, unknown>;
  switch (kind) {
    case 'base':
      if (keysOk(o, where, ['kind', 'name'], ['kind', 'name'], errs) && typeof o.name !== 'string') errs.push(`${where}: name`);
      return;
    case 'enum':
      keysOk(o, where, ['kind', 'name'], ['kind', 'name'], errs);
      return;
    case 'pointer':
      if (inBitfield) break;
      if (keysOk(o, where, ['kind', 'base', 'subtype'], ['kind', 'subtype'], errs)) checkTypeDesc(o.subtype, `${where}*`, errs);
      return;
    case 'array':
      if (inBitfield) break;
      if (keysOk(o, where, ['kind', 'subtype', 'count'], ['kind', 'subtype', 'count'], errs)) {
        if (!isInt(o.count)) errs.push(`${where}: count`);
        checkTypeDesc(o.subtype, `${where}[]`, errs);
      }
      return;
    case 'struct': case 'union': case 'class':
      if (inBitfield) break;
      keysOk(o, where, ['kind', 'name'], ['kind', 'name'], errs);
      return;
    case 'function':
      if (inBitfield) break;
      keysOk(o, where, ['kind'], ['kind'], errs);
      return;
    case 'bitfield':
      if (inBitfield) break;
      if (keysOk(o, where, ['kind', 'bit_position', 'bit_length', 'type'], ['kind', 'bit_position', 'bit_length', 'type'], errs)) {
        if (!isInt(o.bit_position) || !isInt(o.bit_length)) errs.push(`${where}: bit position/length`);
        checkTypeDesc(o.type, `${where}:bits`, errs, true);
      }
      return;
  }
  errs.push(`${where}: kind ${String(kind)} not allowed here`);
}

/** Every violation of the ISF 6.x schema rules above; [] when valid. */
export function schemaErrors(doc: unknown): string[] {
  const errs: string[] = [];
  if (!keysOk(doc, 'document', ['metadata', 'base_types', 'user_types', 'enums', 'symbols'],
    ['metadata', 'base_types', 'user_types', 'enums', 'symbols'], errs)) return errs;
  const md = doc.metadata;
  if (keysOk(md, 'metadata', ['format', 'producer', 'windows', 'linux', 'mac'], ['format'], errs)) {
    if (typeof md.format !== 'string' || !/^6.[0-9]+.[0-9]+$/.test(md.format)) errs.push('metadata.format');
    const os = ['windows', 'linux', 'mac'].filter((k) => k in md);
    if (os.length > 1) errs.push('metadata: more than one OS block');
    const prod = md.producer as Record<string, unknown> | undefined;
    if (prod !== undefined) {
      if (typeof prod !== 'object' || prod === null) errs.push('metadata.producer');
      else {
        for (const k of ['name', 'version']) if (typeof prod[k] !== 'string') errs.push(`metadata.producer.${k}`);
        if (typeof prod.version === 'string' && !/^[0-9]+.[0-9]+.[0-9]+$/.test(prod.version)) errs.push('metadata.producer.version');
      }
    }
    if ('windows' in md && keysOk(md.windows, 'metadata.windows', ['pe', 'pdb'], [], errs)) {
      const w = md.windows;
      if ('pe' in w && keysOk(w.pe, 'metadata.windows.pe', ['major', 'minor', 'revision', 'build'], ['major', 'minor', 'revision'], errs)) {
        for (const v of Object.values(w.pe)) if (!isInt(v)) errs.push('metadata.windows.pe: non-integer');
      }
      if ('pdb' in w && keysOk(w.pdb, 'metadata.windows.pdb', ['GUID', 'age', 'database', 'machine_type'], ['GUID', 'age', 'database', 'machine_type'], errs)) {
        if (typeof w.pdb.GUID !== 'string' || !isInt(w.pdb.age) || typeof w.pdb.database !== 'string' || !isInt(w.pdb.machine_type)) errs.push('metadata.windows.pdb: types');
      }
    }
  }
  for (const [n, b] of Object.entries(doc.base_types as Record<string, unknown>)) {
    if (keysOk(b, `base_types.${n}`, ['size', 'signed', 'kind', 'endian'], ['size', 'kind', 'signed', 'endian'], errs)) {
      if (!isInt(b.size) || typeof b.signed !== 'boolean') errs.push(`base_types.${n}: size/signed`);
      if (!/^(void|int|float|char|bool)$/.test(String(b.kind))) errs.push(`base_types.${n}: kind`);
      if (!/^(little|big)$/.test(String(b.endian))) errs.push(`base_types.${n}: endian`);
    }
  }
  for (const [n, u] of Object.entries(doc.user_types as Record<string, unknown>)) {
    if (!keysOk(u, `user_types.${n}`, ['kind', 'size', 'fields'], ['kind', 'size', 'fields'], errs)) continue;
    if (!/^(struct|union|class)$/.test(String(u.kind))) errs.push(`user_types.${n}: kind`);
    if (!isInt(u.size)) errs.push(`user_types.${n}: size`);
    for (const [m, f] of Object.entries(u.fields as Record<string, unknown>)) {
      const where = `user_types.${n}.${m}`;
      if (keysOk(f, where, ['type', 'offset', 'anonymous'], ['type', 'offset'], errs)) {
        if (!isInt(f.offset)) errs.push(`${where}: offset`);
        checkTypeDesc(f.type, where, errs);
      }
    }
  }
  for (const [n, e] of Object.entries(doc.enums as Record<string, unknown>)) {
    if (keysOk(e, `enums.${n}`, ['size', 'base', 'constants'], ['size', 'base', 'constants'], errs)) {
      for (const v of Object.values(e.constants as Record<string, unknown>)) if (!isInt(v)) errs.push(`enums.${n}: constant`);
    }
  }
  for (const [n, s] of Object.entries(doc.symbols as Record<string, unknown>)) {
    if (keysOk(s, `symbols.${n}`, ['address', 'linkage_name', 'type', 'constant_data'], ['address'], errs) && typeof s.address !== 'number') errs.push(`symbols.${n}: address`);
  }
  return errs;
}

// ------------------------------------------------------------------ sizes

export function sizeOf(isf: Isf, t: TypeDesc): number {
  switch (t.kind) {
    case 'base': return need(isf.base_types[t.name], `base type ${t.name}`).size;
    case 'pointer': return need(isf.base_types.pointer, 'base type pointer').size;
    case 'array': return t.count * sizeOf(isf, t.subtype);
    case 'struct': case 'union': case 'class': return need(isf.user_types[t.name], `type ${t.name}`).size;
    case 'enum': return need(isf.enums[t.name], `enum ${t.name}`).size;
    case 'bitfield': return sizeOf(isf, t.type);
    case 'function': throw new Error('a function has no size');
  }
}

function need<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new Error(`missing ${what}`);
  return v;
}

export interface Resolved { offset: number; type: TypeDesc; size: number; bitPosition?: number; bitLength?: number }

/** Byte offset, type and size of a dotted member path, e.g. 'Pcb.Header.Size'. */
export function resolve(isf: Isf, typeName: string, dotted: string): Resolved {
  let t: TypeDesc = { kind: 'struct', name: typeName };
  let offset = 0;
  for (const part of dotted.split('.')) {
    if (t.kind !== 'struct' && t.kind !== 'union' && t.kind !== 'class') throw new Error(`${typeName}.${dotted}: ${part} is not inside a struct`);
    const ut = need(isf.user_types[t.name], `type ${t.name}`);
    const f = need(ut.fields[part], `member ${t.name}.${part}`);
    offset += f.offset;
    t = f.type;
  }
  const r: Resolved = { offset, type: t, size: sizeOf(isf, t) };
  if (t.kind === 'bitfield') { r.bitPosition = t.bit_position; r.bitLength = t.bit_length; }
  return r;
}

/** Absolute bit position of a bitfield member inside its struct (offset*8 + bit). */
export function absoluteBit(isf: Isf, typeName: string, member: string): { bit: number; length: number } {
  const r = resolve(isf, typeName, member);
  if (r.bitPosition === undefined || r.bitLength === undefined) throw new Error(`${typeName}.${member} is not a bitfield`);
  return { bit: r.offset * 8 + r.bitPosition, length: r.bitLength };
}

// ------------------------------------------------------------ consistency

function* refs(t: TypeDesc): Generator<TypeDesc> {
  yield t;
  if (t.kind === 'pointer' || t.kind === 'array') yield* refs(t.subtype);
  if (t.kind === 'bitfield') yield* refs(t.type);
}

/**
 * Internal consistency of one ISF document; [] when consistent:
 * - every named base type, user type and enum that a member uses exists;
 * - every member lies inside its struct, every bitfield inside its storage;
 * - a union has a member at offset 0;
 * - members may overlap only by nesting: both PDB converters flatten
 *   anonymous unions and structs into the enclosing type (so a struct can
 *   hold union alternatives, and a union can hold the members of an anonymous
 *   struct at non-zero offsets); alternatives then nest, one range inside
 *   the other, and a member that straddles another's end is an error.
 *   Bitfields that share one storage unit are exempt.
 */
export function consistencyErrors(isf: Isf): string[] {
  const errs: string[] = [];
  for (const [tn, ut] of Object.entries(isf.user_types)) {
    const ranges: { name: string; start: number; end: number; bits: boolean }[] = [];
    for (const [m, f] of Object.entries(ut.fields)) {
      const where = `${tn}.${m}`;
      let ok = true;
      for (const r of refs(f.type)) {
        if (r.kind === 'base' && !(r.name in isf.base_types)) { errs.push(`${where}: base type ${r.name} undefined`); ok = false; }
        if ((r.kind === 'struct' || r.kind === 'union' || r.kind === 'class') && !(r.name in isf.user_types)) { errs.push(`${where}: type ${r.name} undefined`); ok = false; }
        if ((r.kind === 'struct' || r.kind === 'union') && r.name in isf.user_types && isf.user_types[r.name]?.kind !== r.kind) errs.push(`${where}: refers to ${r.name} as ${r.kind}`);
        if (r.kind === 'enum' && !(r.name in isf.enums)) { errs.push(`${where}: enum ${r.name} undefined`); ok = false; }
      }
      if (!ok) continue;
      const size = sizeOf(isf, f.type);
      if (f.offset < 0 || f.offset + size > ut.size) errs.push(`${where}: [${f.offset}, ${f.offset + size}) outside size ${ut.size}`);
      if (f.type.kind === 'bitfield' && f.type.bit_position + f.type.bit_length > size * 8) errs.push(`${where}: bits beyond storage`);
      if (f.type.kind === 'bitfield' && f.type.bit_length < 1) errs.push(`${where}: empty bitfield`);
      ranges.push({ name: m, start: f.offset, end: f.offset + size, bits: f.type.kind === 'bitfield' });
    }
    if (ut.kind === 'union' && ranges.length > 0 && !ranges.some((r) => r.start === 0)) errs.push(`${tn}: union has no member at 0`);
    for (let i = 0; i < ranges.length; i++) {
      for (let j = i + 1; j < ranges.length; j++) {
        const a = ranges[i]!, b = ranges[j]!;
        if (!(a.start < b.end && b.start < a.end)) continue;
        if (a.bits && b.bits && a.start === b.start) continue;
        const nested = (a.start <= b.start && b.end <= a.end) || (b.start <= a.start && a.end <= b.end);
        if (!nested) errs.push(`${tn}: ${a.name} [${a.start},${a.end}) and ${b.name} [${b.start},${b.end}) overlap without nesting`);
      }
    }
  }
  return errs;
}
