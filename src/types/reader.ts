// The typed reader: decode a structure instance from bytes into a plain object,
// for carving (pid, comm, start_time of a candidate) and for training (every
// field of every instance). Decoders are compiled once per type and cached.
//
// Values: integers, enums and bitfields of up to 4 bytes → number; wider → bigint
// (a u64 does not fit a JS number). Pointers → bigint (a virtual address in the
// target's space). bool → boolean. float/double → number. `char` arrays →
// string up to the first NUL, one character per byte (latin1, lossless). Other
// arrays → arrays. Structs/unions → objects; members of anonymous structs/unions
// appear directly on the outer object, as in C. void/function → null.
import type { Layout } from './layout.js';
import type { TypeDesc } from './model.js';

export type Decoded = number | bigint | boolean | string | null | Decoded[] | { [member: string]: Decoded };

type Decoder = (view: DataView, at: number) => Decoded;

const MAX_DEPTH = 64;
const compiled = new WeakMap<Layout, Map<string, Decoder>>();

/**
 * Decode one instance of `type` from `bytes` starting at `offset`.
 * Throws RangeError if fewer than sizeOf(type) bytes are available.
 */
export function readStruct(layout: Layout, type: string, bytes: Uint8Array, offset = 0): { [member: string]: Decoded } {
  const size = layout.sizeOf(type);
  checkRange(bytes, offset, size, type);
  const v = decoderFor(layout, type)(viewOf(bytes), offset);
  return v as { [member: string]: Decoded };
}

/** Decode the member at `path` of a `type` instance that starts at `offset` in `bytes`. */
export function readMember(layout: Layout, type: string, path: string, bytes: Uint8Array, offset = 0): Decoded {
  const m = layout.member(type, path);
  checkRange(bytes, offset + m.offset, m.size, `${type}.${path}`);
  return compile(layout, m.type, 0)(viewOf(bytes), offset + m.offset);
}

function checkRange(bytes: Uint8Array, offset: number, size: number, what: string): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || offset + size > bytes.length) {
    throw new RangeError(`${what}: needs ${size} bytes at offset ${offset}, buffer has ${bytes.length}`);
  }
}

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function decoderFor(layout: Layout, type: string): Decoder {
  let cache = compiled.get(layout);
  if (!cache) {
    cache = new Map();
    compiled.set(layout, cache);
  }
  let d = cache.get(type);
  if (!d) {
    d = compile(layout, layout.typeDesc(type), 0);
    cache.set(type, d);
  }
  return d;
}

function compile(layout: Layout, t: TypeDesc, depth: number): Decoder {
  if (depth > MAX_DEPTH) throw layout.error(undefined, undefined, 'type nests too deeply to decode (cyclic layout?)');
  const le = layout.endian === 'little';
  switch (t.kind) {
    case 'base': {
      const b = layout.baseTypes.get(t.name);
      if (!b) throw layout.error(t.name, undefined, 'base type is not defined');
      if (b.size === 0 || b.kind === 'void') return () => null;
      if (b.kind === 'bool') {
        const rd = intReader(b.size, false, le);
        return (v, at) => {
          const x = rd(v, at);
          return x !== 0 && x !== 0n;
        };
      }
      if (b.kind === 'float') {
        if (b.size === 4) return (v, at) => v.getFloat32(at, le);
        if (b.size === 8) return (v, at) => v.getFloat64(at, le);
        return () => null; // long double: no JS counterpart
      }
      return intReader(b.size, b.signed, le);
    }
    case 'enum': {
      const e = layout.enums.get(t.name);
      if (!e) throw layout.error(t.name, undefined, 'enum is not defined');
      const signed = layout.baseTypes.get(e.base)?.signed ?? [...e.constants.values()].some((c) => c < 0n);
      return intReader(e.size, signed, le);
    }
    case 'pointer':
      return intReader(layout.sizeOf(t), false, le, true);
    case 'bitfield': {
      const size = layout.sizeOf(t.type);
      const signed =
        t.type.kind === 'base'
          ? (layout.baseTypes.get(t.type.name)?.signed ?? false)
          : [...(layout.enums.get(t.type.name)?.constants.values() ?? [])].some((c) => c < 0n);
      return bitfieldReader(size, t.bitPosition, t.bitLength, signed, le);
    }
    case 'array': {
      const el = t.subtype;
      const n = t.count;
      if (n === 0) return () => [];
      const step = layout.sizeOf(el);
      if (el.kind === 'base') {
        const b = layout.baseTypes.get(el.name);
        if (b && b.kind === 'char' && b.size === 1) {
          return (v, at) => {
            let s = '';
            for (let i = 0; i < n; i += 1) {
              const c = v.getUint8(at + i);
              if (c === 0) break;
              s += String.fromCharCode(c);
            }
            return s;
          };
        }
      }
      // Elements of size 0 hold no data; a corrupt count must not size an array.
      if (step === 0) return () => [];
      const one = compile(layout, el, depth + 1);
      return (v, at) => {
        const out: Decoded[] = new Array<Decoded>(n);
        for (let i = 0; i < n; i += 1) out[i] = one(v, at + i * step);
        return out;
      };
    }
    case 'struct':
    case 'union':
    case 'class': {
      const u = layout.userTypes.get(t.name);
      if (!u) throw layout.error(t.name, undefined, 'declared but never defined in this layout');
      const parts = u.fields.map((f) => {
        // A member must lie inside its struct, or decoding would read past the instance.
        const bits = f.type.kind === 'bitfield' ? f.offset * 8 + f.type.bitPosition + f.type.bitLength : (f.offset + layout.sizeOf(f.type)) * 8;
        if (bits > u.size * 8) throw layout.error(u.name, f.name, `member ends at byte ${Math.ceil(bits / 8)}, past the end of the ${u.size}-byte ${u.kind}`);
        return { name: f.name, offset: f.offset, anonymous: f.anonymous === true, dec: compile(layout, f.type, depth + 1) };
      });
      return (v, at) => {
        const obj: { [member: string]: Decoded } = {};
        for (const p of parts) {
          const val = p.dec(v, at + p.offset);
          if (p.anonymous && val !== null && typeof val === 'object' && !Array.isArray(val)) {
            for (const k of Object.keys(val)) if (!(k in obj)) obj[k] = val[k]!;
          } else {
            obj[p.name] = val;
          }
        }
        return obj;
      };
    }
    case 'function':
      return () => null;
  }
}

function intReader(size: number, signed: boolean, le: boolean, alwaysBig = false): Decoder {
  if (!alwaysBig) {
    if (size === 1) return signed ? (v, at) => v.getInt8(at) : (v, at) => v.getUint8(at);
    if (size === 2) return signed ? (v, at) => v.getInt16(at, le) : (v, at) => v.getUint16(at, le);
    if (size === 4) return signed ? (v, at) => v.getInt32(at, le) : (v, at) => v.getUint32(at, le);
  }
  if (size === 8) return signed ? (v, at) => v.getBigInt64(at, le) : (v, at) => v.getBigUint64(at, le);
  return (v, at) => {
    const raw = readBytes(v, at, size, le);
    return signed ? BigInt.asIntN(size * 8, raw) : raw;
  };
}

/** Unsigned integer of `size` bytes (any size) as bigint. */
function readBytes(v: DataView, at: number, size: number, le: boolean): bigint {
  let x = 0n;
  for (let i = 0; i < size; i += 1) {
    const byte = v.getUint8(le ? at + size - 1 - i : at + i);
    x = (x << 8n) | BigInt(byte);
  }
  return x;
}

function bitfieldReader(size: number, position: number, length: number, signed: boolean, le: boolean): Decoder {
  // Little endian: read just the bytes that hold the bits (a packed struct's
  // storage unit may reach past the struct's end). Big endian: the low bits
  // are at the end of the unit, so read the whole unit.
  const span = le ? Math.ceil((position + length) / 8) : Math.max(size, Math.ceil((position + length) / 8));
  const mask = (1n << BigInt(length)) - 1n;
  return (v, at) => {
    let x = (readBytes(v, at, span, le) >> BigInt(position)) & mask;
    if (signed) x = BigInt.asIntN(length, x);
    return length <= 32 ? Number(x) : x;
  };
}
