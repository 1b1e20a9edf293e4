// The typed writer, the reader's inverse for one member at a time: synthetic
// worlds build real-layout task_structs / EPROCESSes with it, and tests mutate
// fields with it. Values: number | bigint for integers, enums, bitfields and
// pointers; boolean for bool; a string (latin1, NUL-padded) for char arrays;
// raw bytes (exactly the member's size) for anything.
import type { Layout } from './layout.js';
import type { TypeDesc } from './model.js';

export type Writable = number | bigint | boolean | string | Uint8Array;

/** Write `value` into the member at `path` of a `type` instance that starts at `offset` in `bytes`. */
export function writeMember(layout: Layout, type: string, path: string, bytes: Uint8Array, value: Writable, offset = 0): void {
  const m = layout.member(type, path);
  const at = offset + m.offset;
  const where = `${type}.${path}`;
  if (!Number.isSafeInteger(at) || at < 0 || at + m.size > bytes.length) {
    throw new RangeError(`${where}: needs ${m.size} bytes at offset ${at}, buffer has ${bytes.length}`);
  }
  const le = layout.endian === 'little';
  if (value instanceof Uint8Array) {
    if (value.length !== m.size) throw new RangeError(`${where}: ${value.length} bytes given, the member has ${m.size}`);
    bytes.set(value, at);
    return;
  }
  const t = m.type;
  if (t.kind === 'bitfield') {
    const length = t.bitLength;
    const v = toBig(value, where);
    if (v < -(1n << BigInt(length - 1)) || v >= 1n << BigInt(length)) throw new RangeError(`${where}: ${v} does not fit ${length} bits`);
    const span = le ? Math.ceil((t.bitPosition + length) / 8) : Math.max(m.size, Math.ceil((t.bitPosition + length) / 8));
    const mask = ((1n << BigInt(length)) - 1n) << BigInt(t.bitPosition);
    const old = getUint(bytes, at, span, le);
    setUint(bytes, at, span, le, (old & ~mask) | ((BigInt.asUintN(length, v) << BigInt(t.bitPosition)) & mask));
    return;
  }
  if (t.kind === 'array' && typeof value === 'string') {
    const el = t.subtype;
    const b = el.kind === 'base' ? layout.baseTypes.get(el.name) : undefined;
    if (!b || b.size !== 1) throw new RangeError(`${where}: a string can only be written to a char array`);
    const raw = Buffer.from(value, 'latin1');
    if (raw.length > t.count) throw new RangeError(`${where}: ${raw.length} characters do not fit ${t.count} bytes`);
    bytes.fill(0, at, at + t.count);
    bytes.set(raw, at);
    return;
  }
  const kind = scalarKind(layout, t);
  if (kind === undefined) throw new RangeError(`${where}: write a ${t.kind} as raw bytes (Uint8Array of ${m.size})`);
  if (kind === 'float') {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (typeof value !== 'number') throw new RangeError(`${where}: a float needs a number`);
    if (m.size === 4) view.setFloat32(at, value, le);
    else if (m.size === 8) view.setFloat64(at, value, le);
    else throw new RangeError(`${where}: cannot write a ${m.size}-byte float`);
    return;
  }
  const v = toBig(value, where);
  const bits = BigInt(m.size * 8);
  if (v < -(1n << (bits - 1n)) || v >= 1n << bits) throw new RangeError(`${where}: ${v} does not fit ${m.size} bytes`);
  setUint(bytes, at, m.size, le, BigInt.asUintN(m.size * 8, v));
}

function scalarKind(layout: Layout, t: TypeDesc): 'int' | 'float' | undefined {
  if (t.kind === 'pointer' || t.kind === 'enum') return 'int';
  if (t.kind === 'base') {
    const b = layout.baseTypes.get(t.name);
    if (!b || b.size === 0) return undefined;
    return b.kind === 'float' ? 'float' : 'int';
  }
  return undefined;
}

function toBig(value: Exclude<Writable, Uint8Array>, where: string): bigint {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'boolean') return value ? 1n : 0n;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value);
  throw new RangeError(`${where}: ${JSON.stringify(value)} is not an integer`);
}

function getUint(bytes: Uint8Array, at: number, size: number, le: boolean): bigint {
  let x = 0n;
  for (let i = 0; i < size; i += 1) x = (x << 8n) | BigInt(bytes[le ? at + size - 1 - i : at + i]!);
  return x;
}

function setUint(bytes: Uint8Array, at: number, size: number, le: boolean, v: bigint): void {
  for (let i = 0; i < size; i += 1) {
    bytes[le ? at + i : at + size - 1 - i] = Number(v & 0xffn);
    v >>= 8n;
  }
}
