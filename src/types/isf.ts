// Volatility 3 Intermediate Symbol Format (ISF): import a `.json`, `.json.gz`
// or `.json.xz` symbol file into a Layout, and export a Layout as ISF that
// Volatility 3 accepts, so one profile serves both tools.
//
// The document shape (metadata, base_types, user_types, enums, symbols; type
// descriptors by `kind`) is Volatility 3's (volatility3/schemas/schema-6.3.0.json,
// symbols/intermed.py Version8Format at commit a1961401d52d); ./isf-schema.ts
// holds the schema both directions are checked against.
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { LayoutError } from '../errors.js';
import { KCARVE_VERSION } from '../version.js';
import { validateIsf } from './isf-schema.js';
import { parseJsonBig, stringifyJsonBig, toPlainJson } from './json-bigint.js';
import { Layout } from './layout.js';
import type { BaseKind, BitfieldStorage, EnumType, LayoutData, SymbolDef, TypeDesc, UserType } from './model.js';
import { emptyLayoutData } from './model.js';
import { decodeXz, isXz } from './xz.js';

/** Largest decompressed ISF accepted (Linux ISFs are ~100 MB of JSON). */
const MAX_ISF = 1024 * 1024 * 1024;

/** Read an ISF file (plain, gzip or xz by content) into a Layout. */
export function loadIsf(path: string): Layout {
  let raw: Buffer;
  try {
    raw = readFileSync(path);
  } catch (err) {
    throw new LayoutError(path, undefined, undefined, `cannot read: ${(err as Error).message}`);
  }
  return isfFromBytes(raw, path);
}

export function isfFromBytes(raw: Uint8Array, file: string): Layout {
  let bytes: Uint8Array = raw;
  if (raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      bytes = gunzipSync(raw, { maxOutputLength: MAX_ISF });
    } catch (err) {
      throw new LayoutError(file, undefined, undefined, `gzip data is corrupt: ${(err as Error).message}`);
    }
  } else if (isXz(raw)) {
    bytes = decodeXz(raw, file, 0, { maxOutput: MAX_ISF });
  }
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  return isfFromText(text, file);
}

export function isfFromText(text: string, file: string): Layout {
  const { exact, plain } = parseJsonBig(text, file);
  const format = (plain as { metadata?: { format?: unknown } } | null)?.metadata?.format;
  if (typeof format !== 'string') throw new LayoutError(file, undefined, undefined, 'ISF schema violation: $.metadata.format is missing (is this an ISF file?)');
  if (!/^6\.[0-9]+\.[0-9]+$/.test(format)) throw new LayoutError(file, undefined, undefined, `ISF format ${format} is not supported (kcarve reads format 6.x)`);
  const [, minor] = format.split('.').map(Number);
  validateIsf(plain, file, (minor ?? 0) >= 3);
  return fromDocument(exact as IsfDocument, file);
}

// --- document types (what the JSON holds) ---------------------------------

interface IsfDescriptor {
  kind: string;
  name?: string;
  subtype?: IsfDescriptor;
  count?: number;
  base?: string;
  bit_position?: number;
  bit_length?: number;
  type?: IsfDescriptor;
}
interface IsfDocument {
  metadata: { format: string; producer?: { name?: string; version?: string; datetime?: string }; linux?: unknown; windows?: unknown; mac?: unknown };
  base_types: Record<string, { size: number; signed: boolean; kind: BaseKind; endian: 'little' | 'big' }>;
  user_types: Record<string, { kind: 'struct' | 'union' | 'class'; size: number; fields: Record<string, { type: IsfDescriptor; offset: number; anonymous?: boolean }> }>;
  enums: Record<string, { size: number; base: string; constants: Record<string, number | bigint> }>;
  symbols: Record<string, { address: number | bigint; linkage_name?: string; type?: IsfDescriptor; constant_data?: string }>;
}

function fromDocument(doc: IsfDocument, file: string): Layout {
  const data = emptyLayoutData();
  const m = doc.metadata;
  data.metadata.format = m.format;
  if (m.producer?.name !== undefined || m.producer?.version !== undefined) {
    data.metadata.producer = { name: m.producer.name ?? '', version: m.producer.version ?? '' };
    if (m.producer.datetime !== undefined) data.metadata.producer.datetime = m.producer.datetime;
  }
  for (const os of ['linux', 'windows', 'mac'] as const) {
    if (m[os] !== undefined) {
      data.metadata.os = os;
      data.metadata.osInfo = m[os];
    }
  }
  for (const [name, b] of Object.entries(doc.base_types)) data.baseTypes.set(name, { name, size: b.size, signed: b.signed, kind: b.kind });
  const endians = new Set(Object.values(doc.base_types).map((b) => b.endian));
  if (endians.size > 1) throw new LayoutError(file, undefined, undefined, 'base types mix little and big endian');
  data.endian = endians.has('big') ? 'big' : 'little';
  data.pointerSize = doc.base_types['pointer']?.size ?? 8;
  for (const [name, u] of Object.entries(doc.user_types)) {
    const t: UserType = { name, kind: u.kind, size: u.size, fields: [] };
    for (const [fname, f] of Object.entries(u.fields)) {
      const type = descFromIsf(f.type, file, name, fname);
      t.fields.push(f.anonymous ? { name: fname, offset: f.offset, type, anonymous: true } : { name: fname, offset: f.offset, type });
    }
    data.userTypes.set(name, t);
  }
  for (const [name, e] of Object.entries(doc.enums)) {
    const constants = new Map<string, bigint>();
    for (const [k, v] of Object.entries(e.constants)) constants.set(k, BigInt(v));
    data.enums.set(name, { name, size: e.size, base: e.base, constants });
  }
  for (const [name, s] of Object.entries(doc.symbols)) {
    const address = BigInt(s.address);
    if (address < 0n || address > 0xffff_ffff_ffff_ffffn) throw new LayoutError(file, undefined, undefined, `symbol ${name} address ${address} is not a 64-bit address`);
    const sym: SymbolDef = { name, address };
    if (s.type) sym.type = descFromIsf(s.type, file, undefined, name);
    if (s.constant_data !== undefined) sym.constantData = new Uint8Array(Buffer.from(s.constant_data, 'base64'));
    if (s.linkage_name !== undefined) sym.linkageName = s.linkage_name;
    data.symbols.set(name, sym);
  }
  return new Layout(file, data);
}

function descFromIsf(d: IsfDescriptor, file: string, type: string | undefined, member: string): TypeDesc {
  const bad = (reason: string): LayoutError => new LayoutError(file, type, member, reason);
  switch (d.kind) {
    case 'base':
      return { kind: 'base', name: d.name! };
    case 'pointer': {
      const p: TypeDesc = { kind: 'pointer', subtype: descFromIsf(d.subtype!, file, type, member) };
      if (d.base !== undefined) p.base = d.base;
      return p;
    }
    case 'array':
      if (d.count! < 0) throw bad(`negative array count ${d.count}`);
      return { kind: 'array', count: d.count!, subtype: descFromIsf(d.subtype!, file, type, member) };
    case 'struct':
    case 'union':
    case 'class':
      return { kind: d.kind, name: d.name! };
    case 'enum':
      return { kind: 'enum', name: d.name! };
    case 'function':
      return { kind: 'function' };
    case 'bitfield': {
      const storage = descFromIsf(d.type!, file, type, member) as BitfieldStorage;
      if (d.bit_position! < 0 || d.bit_length! <= 0) throw bad(`bad bitfield position ${d.bit_position} / length ${d.bit_length}`);
      return { kind: 'bitfield', bitPosition: d.bit_position!, bitLength: d.bit_length!, type: storage };
    }
    default:
      throw bad(`unknown type kind ${JSON.stringify(d.kind)}`);
  }
}

// --- export -----------------------------------------------------------------

export interface IsfExportOptions {
  /** Sources recorded in metadata.linux.symbols (e.g. the System.map used). */
  symbolSources?: Array<{ kind: 'system-map' | 'symtab' | 'dwarf'; name: string; sha256?: string }>;
  /** ISO time recorded as metadata.producer.datetime; default now. */
  datetime?: string;
}

/** The ISF document for a layout (bigints stay bigints; see isfToText). */
export function layoutToIsf(layout: LayoutData, options: IsfExportOptions = {}): Record<string, unknown> {
  const metadata: Record<string, unknown> = {
    format: '6.2.0',
    producer: { name: 'kcarve', version: KCARVE_VERSION, datetime: options.datetime ?? new Date().toISOString() },
  };
  const os = layout.metadata.os;
  if (os === 'windows' && layout.metadata.osInfo !== undefined) metadata['windows'] = layout.metadata.osInfo;
  else if (os === 'linux' || os === 'mac') {
    const info: Record<string, unknown> = layout.metadata.osInfo && typeof layout.metadata.osInfo === 'object' ? { ...(layout.metadata.osInfo as object) } : {};
    if (options.symbolSources?.length) {
      info['symbols'] = options.symbolSources.map((s) => (s.sha256 ? { kind: s.kind, name: s.name, hash_type: 'sha256', hash_value: s.sha256 } : { kind: s.kind, name: s.name }));
    }
    metadata[os] = info;
  }
  const baseTypes: Record<string, unknown> = {};
  for (const b of layout.baseTypes.values()) baseTypes[b.name] = { size: b.size, signed: b.signed, kind: b.kind, endian: layout.endian };
  if (!baseTypes['pointer']) baseTypes['pointer'] = { size: layout.pointerSize, signed: false, kind: 'int', endian: layout.endian };
  if (!baseTypes['void']) baseTypes['void'] = { size: 0, signed: false, kind: 'void', endian: layout.endian };
  const userTypes: Record<string, unknown> = {};
  for (const u of layout.userTypes.values()) {
    const fields: Record<string, unknown> = {};
    for (const f of u.fields) fields[f.name] = f.anonymous ? { type: descToIsf(f.type), offset: f.offset, anonymous: true } : { type: descToIsf(f.type), offset: f.offset };
    userTypes[u.name] = { kind: u.kind, size: u.size, fields };
  }
  const enums: Record<string, unknown> = {};
  for (const e of layout.enums.values()) enums[e.name] = enumToIsf(e);
  const symbols: Record<string, unknown> = {};
  for (const s of layout.symbols.values()) {
    const out: Record<string, unknown> = { address: s.address };
    if (s.linkageName !== undefined) out['linkage_name'] = s.linkageName;
    if (s.type) out['type'] = descToIsf(s.type);
    if (s.constantData) out['constant_data'] = Buffer.from(s.constantData).toString('base64');
    symbols[s.name] = out;
  }
  return { metadata, base_types: baseTypes, user_types: userTypes, enums, symbols };
}

function enumToIsf(e: EnumType): Record<string, unknown> {
  const constants: Record<string, bigint | number> = {};
  for (const [k, v] of e.constants) constants[k] = Number.isSafeInteger(Number(v)) ? Number(v) : v;
  return { size: e.size, base: e.base, constants };
}

function descToIsf(d: TypeDesc): Record<string, unknown> {
  switch (d.kind) {
    case 'base':
    case 'struct':
    case 'union':
    case 'class':
    case 'enum':
      return { kind: d.kind, name: d.name };
    case 'pointer':
      return d.base !== undefined ? { kind: 'pointer', base: d.base, subtype: descToIsf(d.subtype) } : { kind: 'pointer', subtype: descToIsf(d.subtype) };
    case 'array':
      return { kind: 'array', count: d.count, subtype: descToIsf(d.subtype) };
    case 'function':
      return { kind: 'function' };
    case 'bitfield':
      return { kind: 'bitfield', bit_position: d.bitPosition, bit_length: d.bitLength, type: descToIsf(d.type) };
  }
}

/**
 * ISF JSON text for a layout, validated against the 6.3.0 rules before it is
 * returned (a LayoutError names the JSON path if the layout cannot be expressed).
 */
export function isfToText(layout: LayoutData, file: string, options: IsfExportOptions = {}): string {
  const doc = layoutToIsf(layout, options);
  validateIsf(toPlainJson(doc), file, true);
  return stringifyJsonBig(doc);
}
