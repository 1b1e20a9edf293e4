// Loading a signature: validate the file's shape, resolve every field name
// against the layout (offsets come only from there), and compile the value
// constraints to the matcher's Program. Every failure names the file and the
// JSON path of the field at fault.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { LayoutError, SignatureError } from '../errors.js';
import type { Layout } from '../types/layout.js';
import { loadLayout } from '../types/load.js';
import type { ConstraintSpec, EdgeSpec, SignatureDoc } from './format.js';
import type { Constraint, PointerMode, Program, Width } from './program.js';
import { programSpan } from './program.js';
import { validateSignatureShape } from './schema.js';

/** A constraint with its field resolved to an offset and width. */
export interface ResolvedConstraint {
  spec: ConstraintSpec;
  /** JSON path, for messages (`$.constraints[3]`). */
  where: string;
  offset: number;
  /** Compile for an image's pointer mode (only kptr kinds without an explicit mode vary). */
  compile(mode: PointerMode): Constraint;
}

export type ResolvedExpect =
  | { kind: 'value'; value: bigint }
  | { kind: 'field'; offset: number; width: Width }
  | { kind: 'self'; delta: number }
  | { kind: 'matches'; delta: number };

export interface ResolvedEdge {
  spec: EdgeSpec;
  name: string;
  required: boolean;
  weight: number;
  /** The pointer to follow, in the scanned object; undefined for self-checks. */
  from?: { offset: number; width: Width };
  clearBits: bigint;
  /** Subtracted from the pointer (container_of). */
  containerDelta: number;
  space: 'virtual' | 'physical';
  special?: 'pml4-self-ref';
  read?: { offset: number; width: Width };
  expect: ResolvedExpect[];
}

export interface Signature {
  file: string;
  doc: SignatureDoc;
  layout: Layout;
  /** The object type a hit is carved as. */
  targetType: string;
  /** The type candidates are scanned as (the target, or a pool header). */
  scanType: string;
  alignment: number;
  constraints: ResolvedConstraint[];
  targetConstraints: ResolvedConstraint[];
  edges: ResolvedEdge[];
  minScore: number;
  /** The matcher program for an image whose kernel pointers have this shape. */
  program(mode: PointerMode): Program;
  /** Constraints on the located target (scan.locate signatures), or undefined. */
  targetProgram(mode: PointerMode): Program | undefined;
}

export interface LoadSignatureOptions {
  /** Use this layout instead of the one the signature names. */
  layout?: Layout;
  /** Path of a layout file to load instead of the one the signature names. */
  layoutPath?: string;
  /**
   * The document's shape was validated already (a scan worker resolving the document
   * its main thread loaded): skip the JSON Schema check, which costs ~1 s to compile.
   */
  shapeChecked?: boolean;
}

/** Read, validate and resolve a signature file. */
export function loadSignature(file: string, options: LoadSignatureOptions = {}): Signature {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new SignatureError(file, '', `cannot read: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new SignatureError(file, '', `not valid JSON: ${(err as Error).message}`);
  }
  return resolveSignature(doc, file, options);
}

/** Validate and resolve an already-parsed signature document. */
export function resolveSignature(doc: unknown, file: string, options: LoadSignatureOptions = {}): Signature {
  if (options.shapeChecked !== true) validateSignatureShape(doc, file);
  const sig = doc as SignatureDoc;
  const layout = options.layout ?? layoutFor(sig, file, options.layoutPath);
  const fail = (where: string, reason: string): SignatureError => new SignatureError(file, where, reason);
  const requireType = (type: string, where: string): void => {
    if (!layout.hasType(type)) throw fail(where, `type ${JSON.stringify(type)} is not in layout ${layout.file}`);
  };

  const targetType = sig.target.type;
  requireType(targetType, '$.target.type');
  const scanType = sig.scan?.type ?? targetType;
  if (sig.scan) requireType(scanType, '$.scan.type');
  if (sig.targetConstraints && !sig.scan) throw fail('$.targetConstraints', 'needs $.scan (constraints on a located target)');

  const constraints = sig.constraints.map((c, i) => resolveConstraint(layout, scanType, c, `$.constraints[${i}]`, fail));
  const targetConstraints = (sig.targetConstraints ?? []).map((c, i) =>
    resolveConstraint(layout, targetType, c, `$.targetConstraints[${i}]`, fail),
  );
  const edges = (sig.edges ?? []).map((e, i) => resolveEdge(layout, targetType, e, `$.edges[${i}]`, fail));
  const names = new Set<string>();
  edges.forEach((e, i) => {
    if (names.has(e.name)) throw fail(`$.edges[${i}].name`, `duplicate edge name ${JSON.stringify(e.name)}`);
    names.add(e.name);
  });

  const alignment = sig.alignment;
  if ((alignment & (alignment - 1)) !== 0) throw fail('$.alignment', 'must be a power of two');
  const program = (mode: PointerMode): Program => ({ alignment, constraints: constraints.map((c) => c.compile(mode)) });
  const targetProgram = (mode: PointerMode): Program | undefined =>
    targetConstraints.length === 0 ? undefined : { alignment: 1, constraints: targetConstraints.map((c) => c.compile(mode)) };
  // The compiled program must fit the scanned type's bytes or the matcher reads past it.
  // Compiled here in the layout's own pointer mode: a kptr without an explicit mode on a
  // 32-bit layout (4-byte pointers) only fits x86-32, and compiling it for x86-64 failed.
  const span = programSpan(program(layout.pointerSize === 4 ? 'x86-32' : 'x86-64-4'));
  if (span > layout.sizeOf(scanType) + 4096) throw fail('$.constraints', `reads ${span} bytes, far past ${scanType}`);

  return {
    file,
    doc: sig,
    layout,
    targetType,
    scanType,
    alignment,
    constraints,
    targetConstraints,
    edges,
    minScore: sig.scoring?.minScore ?? 0,
    program,
    targetProgram,
  };
}

function layoutFor(sig: SignatureDoc, file: string, layoutPath: string | undefined): Layout {
  const p = layoutPath ?? (sig.target.layout ? path.resolve(path.dirname(file), sig.target.layout) : undefined);
  if (p === undefined) throw new SignatureError(file, '$.target.layout', 'names no layout; pass --layout FILE');
  try {
    return loadLayout(p);
  } catch (err) {
    if (err instanceof LayoutError) throw new SignatureError(file, '$.target.layout', err.message);
    throw err;
  }
}

type Fail = (where: string, reason: string) => SignatureError;

/** Parse a hex/decimal string as an unsigned value of `width` bytes. */
function parseValue(text: string, width: number, where: string, fail: Fail): bigint {
  let v = BigInt(text);
  const top = 1n << BigInt(width * 8);
  if (v < 0n && v >= -(top >> 1n)) v += top; // two's complement for negative decimals
  if (v < 0n || v >= top) throw fail(where, `${text} does not fit in ${width} byte(s)`);
  return v;
}

function fieldOf(layout: Layout, type: string, field: string, where: string, fail: Fail): { offset: number; size: number; bits: boolean } {
  try {
    const m = layout.member(type, field);
    return { offset: m.offset, size: m.size, bits: m.bits !== undefined };
  } catch (err) {
    if (err instanceof LayoutError) throw fail(where, err.message);
    throw err;
  }
}

function numericWidth(size: number, explicit: Width | undefined, where: string, fail: Fail): Width {
  const w = explicit ?? size;
  if (w !== 1 && w !== 2 && w !== 4 && w !== 8) {
    throw fail(`${where}.width`, `field is ${size} bytes; give width 1, 2, 4 or 8 to test part of it`);
  }
  return w;
}

function resolveConstraint(layout: Layout, type: string, spec: ConstraintSpec, where: string, fail: Fail): ResolvedConstraint {
  const f = fieldOf(layout, type, spec.field, `${where}.field`, fail);
  const offset = f.offset + (spec.byte ?? 0);
  const end = f.offset + f.size;
  const reads = (n: number): void => {
    if (offset + n > end) throw fail(where, `reads ${n} byte(s) at +${offset - f.offset}, past the end of ${spec.field} (${f.size} bytes)`);
  };
  switch (spec.kind) {
    case 'string': {
      const maxLength = spec.maxLength ?? end - offset;
      const minLength = spec.minLength ?? 0;
      reads(maxLength);
      if (minLength >= maxLength) throw fail(`${where}.minLength`, `must be below maxLength (${maxLength})`);
      const c: Constraint = { kind: 'string', offset, minLength, maxLength };
      return { spec, where, offset, compile: () => c };
    }
    case 'kptr':
    case 'kptr_or_null': {
      const width = numericWidth(f.size, spec.width, where, fail);
      reads(width);
      const fixed = spec.mode;
      const kind = spec.kind;
      return {
        spec,
        where,
        offset,
        compile: (mode) => {
          const m = fixed ?? mode;
          if ((m === 'x86-32') !== (width === 4)) throw fail(where, `pointer mode ${m} does not fit a ${width}-byte field`);
          return { kind, offset, mode: m };
        },
      };
    }
    default: {
      const width = numericWidth(f.size, spec.width, where, fail);
      reads(width);
      const v = (text: string, key: string): bigint => parseValue(text, width, `${where}.${key}`, fail);
      let c: Constraint;
      switch (spec.kind) {
        case 'eq':
        case 'ne':
          c = { kind: spec.kind, offset, width, value: v(spec.value, 'value') };
          break;
        case 'mask': {
          const mask = v(spec.mask, 'mask');
          const value = v(spec.value, 'value');
          if ((value & ~mask) !== 0n) throw fail(`${where}.value`, 'has bits outside the mask; it could never match');
          c = { kind: 'mask', offset, width, mask, value };
          break;
        }
        case 'range': {
          const min = v(spec.min, 'min');
          const max = v(spec.max, 'max');
          if (min > max) throw fail(`${where}.min`, 'is above max');
          c = { kind: 'range', offset, width, min, max };
          break;
        }
        case 'set':
          c = { kind: 'set', offset, width, values: spec.values.map((x, i) => v(x, `values[${i}]`)) };
          break;
        case 'aligned': {
          const alignment = v(spec.alignment, 'alignment');
          if (alignment === 0n || (alignment & (alignment - 1n)) !== 0n) throw fail(`${where}.alignment`, 'must be a power of two');
          c = { kind: 'aligned', offset, width, alignment };
          break;
        }
      }
      return { spec, where, offset, compile: () => c };
    }
  }
}

function resolveEdge(layout: Layout, type: string, spec: EdgeSpec, where: string, fail: Fail): ResolvedEdge {
  const ptrWidth = layout.pointerSize as Width;
  let from: ResolvedEdge['from'];
  if (spec.from !== undefined) {
    const f = fieldOf(layout, type, spec.from, `${where}.from`, fail);
    if (f.size !== layout.pointerSize) throw fail(`${where}.from`, `${spec.from} is ${f.size} bytes, not a ${layout.pointerSize}-byte pointer`);
    from = { offset: f.offset, width: f.size as Width };
  }
  let containerDelta = 0;
  if (spec.container) {
    const c = spec.container;
    containerDelta = fieldOf(layout, c.type, c.member, `${where}.container`, fail).offset;
  }
  let read: ResolvedEdge['read'];
  if (spec.read) {
    if ('type' in spec.read) {
      const r = spec.read;
      const f = fieldOf(layout, r.type, r.field, `${where}.read`, fail);
      read = { offset: f.offset, width: numericWidth(f.size, undefined, `${where}.read`, fail) };
    } else {
      read = { offset: spec.read.offset, width: spec.read.width };
    }
  }
  const expect: ResolvedExpect[] = (spec.expect ?? []).map((e, i) => {
    const at = `${where}.expect[${i}]`;
    if ('value' in e) return { kind: 'value', value: parseValue(e.value, read?.width ?? ptrWidth, `${at}.value`, fail) };
    if ('field' in e) {
      const f = fieldOf(layout, type, e.field, `${at}.field`, fail);
      return { kind: 'field', offset: f.offset, width: numericWidth(f.size, undefined, at, fail) };
    }
    if ('selfAddress' in e) {
      return { kind: 'self', delta: e.selfAddress === '' ? 0 : fieldOf(layout, type, e.selfAddress, `${at}.selfAddress`, fail).offset };
    }
    const m = e.matchesSignature;
    return { kind: 'matches', delta: m === '' ? 0 : fieldOf(layout, type, m, `${at}.matchesSignature`, fail).offset };
  });
  if (spec.special === 'pml4-self-ref' && spec.space !== 'physical') {
    throw fail(`${where}.space`, 'pml4-self-ref follows a physical address (a DTB); set "space": "physical"');
  }
  return {
    spec,
    name: spec.name,
    required: spec.required ?? false,
    weight: spec.weight ?? 1,
    ...(from ? { from } : {}),
    clearBits: spec.fromClearBits ? BigInt(spec.fromClearBits) : 0n,
    containerDelta,
    space: spec.space ?? 'virtual',
    ...(spec.special ? { special: spec.special } : {}),
    ...(read ? { read } : {}),
    expect,
  };
}
