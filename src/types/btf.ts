// Parse a raw BTF blob: what /sys/kernel/btf/vmlinux holds and what a vmlinux
// ELF carries in its `.BTF` section.
//
// Format facts (cited, not copied):
// - include/uapi/linux/btf.h (Linux 6.1): `struct btf_header` {u16 magic 0xeB9F,
//   u8 version 1, u8 flags, u32 hdr_len, u32 type_off, u32 type_len, u32 str_off,
//   u32 str_len}, section offsets relative to the end of the header;
//   `struct btf_type` {u32 name_off, u32 info, u32 size|type}, info bits 0-15
//   vlen, bits 24-28 kind, bit 31 kind_flag; kinds 0..19 (UNKN, INT, PTR, ARRAY,
//   STRUCT, UNION, ENUM, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT, FUNC,
//   FUNC_PROTO, VAR, DATASEC, FLOAT, DECL_TAG, TYPE_TAG, ENUM64); the trailing
//   data per kind (INT u32; ARRAY btf_array 12 bytes; STRUCT/UNION vlen ×
//   btf_member 12 bytes; ENUM vlen × btf_enum 8 bytes; ENUM64 vlen × btf_enum64
//   12 bytes; FUNC_PROTO vlen × btf_param 8 bytes; VAR btf_var 4 bytes; DATASEC
//   vlen × btf_var_secinfo 12 bytes; DECL_TAG btf_decl_tag 4 bytes).
// - Documentation/bpf/btf.rst (Linux 6.1), "2. BTF Type and String Encoding":
//   2.1 "the first string in the string section must be a null string" (so
//   name_off 0 is the empty name); 2.2 type id 0 is reserved for void and ids
//   are assigned from 1 in order; a struct member's offset is in bits and, when
//   the struct's kind_flag is set, holds bitfield_size << 24 | bit_offset;
//   INT encoding bits: 1 signed, 2 char, 4 bool; an ENUM/ENUM64 kind_flag means
//   signed values (added with ENUM64 in Linux 6.0).
// Newer kernels may grow the header (hdr_len > 24, e.g. a layout section);
// fields past the six above are ignored, as the format allows.
// Every read is bounds-checked: a truncated or corrupt blob raises LayoutError
// naming the file and the offset, and nothing is allocated by a count the blob
// claims before that count is checked against the blob's length.
import { LayoutError } from '../errors.js';

export const BTF_MAGIC = 0xeb9f;

export enum BtfKind {
  UNKN = 0,
  INT = 1,
  PTR = 2,
  ARRAY = 3,
  STRUCT = 4,
  UNION = 5,
  ENUM = 6,
  FWD = 7,
  TYPEDEF = 8,
  VOLATILE = 9,
  CONST = 10,
  RESTRICT = 11,
  FUNC = 12,
  FUNC_PROTO = 13,
  VAR = 14,
  DATASEC = 15,
  FLOAT = 16,
  DECL_TAG = 17,
  TYPE_TAG = 18,
  ENUM64 = 19,
}

export interface BtfMember {
  name: string;
  type: number;
  /** Bit offset from the start of the struct. */
  bitOffset: number;
  /** Bitfield width in bits; 0 when not a bitfield (kind_flag structs only). */
  bitfieldSize: number;
}

export interface BtfType {
  id: number;
  kind: BtfKind;
  name: string;
  kindFlag: boolean;
  /** `size` for INT/ENUM/STRUCT/UNION/DATASEC/FLOAT/ENUM64; otherwise 0. */
  size: number;
  /** Referenced type for PTR/TYPEDEF/CV/FUNC/FUNC_PROTO(return)/VAR/DECL_TAG/TYPE_TAG. */
  type: number;
  /** INT: encoding bits, bit offset and width (btf.h BTF_INT_*). */
  intEncoding?: number;
  intOffset?: number;
  intBits?: number;
  /** ARRAY */
  array?: { type: number; indexType: number; nelems: number };
  /** STRUCT/UNION */
  members?: BtfMember[];
  /** ENUM/ENUM64 */
  enumerators?: Array<{ name: string; value: bigint }>;
  /** Byte offset of this type's record in the file, for error messages. */
  fileOffset: number;
}

export interface BtfBlob {
  endian: 'little' | 'big';
  /** Index = type id; index 0 is undefined (void). */
  types: Array<BtfType | undefined>;
}

const HEADER_MIN = 24;

/** Parse BTF bytes. `file` names the source in errors; `base` is the blob's offset inside that file. */
export function parseBtf(bytes: Uint8Array, file: string, base = 0): BtfBlob {
  const fail = (offset: number, reason: string): LayoutError =>
    new LayoutError(file, undefined, undefined, `BTF at offset 0x${(base + offset).toString(16)}: ${reason}`);
  if (bytes.length < HEADER_MIN) throw fail(0, `truncated: ${bytes.length} bytes, the header alone is ${HEADER_MIN}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let le: boolean;
  if (view.getUint16(0, true) === BTF_MAGIC) le = true;
  else if (view.getUint16(0, false) === BTF_MAGIC) le = false;
  else throw fail(0, `bad magic 0x${view.getUint16(0, true).toString(16)} (want 0xeb9f)`);
  const version = view.getUint8(2);
  if (version !== 1) throw fail(2, `unsupported BTF version ${version}`);
  const hdrLen = view.getUint32(4, le);
  if (hdrLen < HEADER_MIN || hdrLen > bytes.length) throw fail(4, `header length ${hdrLen} is outside 24..${bytes.length}`);
  const typeOff = view.getUint32(8, le);
  const typeLen = view.getUint32(12, le);
  const strOff = view.getUint32(16, le);
  const strLen = view.getUint32(20, le);
  const dataLen = bytes.length - hdrLen;
  if (typeOff + typeLen > dataLen) throw fail(8, `type section [${typeOff}, +${typeLen}) runs past the end (${dataLen} bytes after the header)`);
  if (strOff + strLen > dataLen) throw fail(16, `string section [${strOff}, +${strLen}) runs past the end (${dataLen} bytes after the header)`);
  if (typeLen % 4 !== 0) throw fail(12, `type section length ${typeLen} is not a multiple of 4`);
  const strStart = hdrLen + strOff;
  if (strLen === 0 || bytes[strStart + strLen - 1] !== 0) throw fail(strStart, 'string section is empty or not NUL-terminated');
  const decoder = new TextDecoder('utf-8', { fatal: false });
  const strCache = new Map<number, string>();
  const str = (off: number, at: number): string => {
    if (off >= strLen) throw fail(at, `name offset ${off} is past the string section (${strLen} bytes)`);
    let s = strCache.get(off);
    if (s === undefined) {
      const start = strStart + off;
      const end = bytes.indexOf(0, start); // found: the section ends with NUL
      s = decoder.decode(bytes.subarray(start, end));
      strCache.set(off, s);
    }
    return s;
  };

  const types: Array<BtfType | undefined> = [undefined];
  const start = hdrLen + typeOff;
  const end = start + typeLen;
  let p = start;
  const need = (at: number, n: number, what: string): void => {
    if (at + n > end) throw fail(at, `truncated ${what}: needs ${n} bytes, ${end - at} left in the type section`);
  };
  const u32 = (at: number): number => view.getUint32(at, le);
  while (p < end) {
    need(p, 12, 'type record');
    const id = types.length;
    const info = u32(p + 4);
    const kind = (info >>> 24) & 0x1f;
    const vlen = info & 0xffff;
    const kindFlag = info >>> 31 === 1;
    const t: BtfType = { id, kind, name: str(u32(p), p), kindFlag, size: 0, type: 0, fileOffset: base + p };
    const sizeOrType = u32(p + 8);
    const q = p + 12;
    switch (kind) {
      case BtfKind.INT: {
        need(q, 4, 'INT data');
        const v = u32(q);
        t.size = sizeOrType;
        t.intEncoding = (v >>> 24) & 0x0f;
        t.intOffset = (v >>> 16) & 0xff;
        t.intBits = v & 0xff;
        p = q + 4;
        break;
      }
      case BtfKind.PTR:
      case BtfKind.FWD:
      case BtfKind.TYPEDEF:
      case BtfKind.VOLATILE:
      case BtfKind.CONST:
      case BtfKind.RESTRICT:
      case BtfKind.FUNC:
      case BtfKind.TYPE_TAG:
        t.type = sizeOrType;
        p = q;
        break;
      case BtfKind.FLOAT:
        t.size = sizeOrType;
        p = q;
        break;
      case BtfKind.ARRAY:
        need(q, 12, 'ARRAY data');
        t.array = { type: u32(q), indexType: u32(q + 4), nelems: u32(q + 8) };
        p = q + 12;
        break;
      case BtfKind.STRUCT:
      case BtfKind.UNION: {
        need(q, vlen * 12, `${BtfKind[kind]} members (${vlen})`);
        t.size = sizeOrType;
        const members: BtfMember[] = [];
        for (let i = 0; i < vlen; i += 1) {
          const m = q + i * 12;
          const off = u32(m + 8);
          members.push({
            name: str(u32(m), m),
            type: u32(m + 4),
            bitOffset: kindFlag ? off & 0xffffff : off,
            bitfieldSize: kindFlag ? off >>> 24 : 0,
          });
        }
        t.members = members;
        p = q + vlen * 12;
        break;
      }
      case BtfKind.ENUM: {
        need(q, vlen * 8, `ENUM values (${vlen})`);
        t.size = sizeOrType;
        const vals: Array<{ name: string; value: bigint }> = [];
        for (let i = 0; i < vlen; i += 1) {
          const m = q + i * 8;
          const raw = u32(m + 4);
          vals.push({ name: str(u32(m), m), value: kindFlag ? BigInt(raw | 0) : BigInt(raw) });
        }
        t.enumerators = vals;
        p = q + vlen * 8;
        break;
      }
      case BtfKind.ENUM64: {
        need(q, vlen * 12, `ENUM64 values (${vlen})`);
        t.size = sizeOrType;
        const vals: Array<{ name: string; value: bigint }> = [];
        for (let i = 0; i < vlen; i += 1) {
          const m = q + i * 12;
          const raw = (BigInt(u32(m + 8)) << 32n) | BigInt(u32(m + 4));
          vals.push({ name: str(u32(m), m), value: kindFlag ? BigInt.asIntN(64, raw) : raw });
        }
        t.enumerators = vals;
        p = q + vlen * 12;
        break;
      }
      case BtfKind.FUNC_PROTO:
        need(q, vlen * 8, `FUNC_PROTO parameters (${vlen})`);
        t.type = sizeOrType;
        p = q + vlen * 8;
        break;
      case BtfKind.VAR:
        need(q, 4, 'VAR data');
        t.type = sizeOrType;
        p = q + 4;
        break;
      case BtfKind.DATASEC:
        need(q, vlen * 12, `DATASEC entries (${vlen})`);
        t.size = sizeOrType;
        p = q + vlen * 12;
        break;
      case BtfKind.DECL_TAG:
        need(q, 4, 'DECL_TAG data');
        t.type = sizeOrType;
        p = q + 4;
        break;
      default:
        throw fail(p, `type id ${id} has unknown kind ${kind}`);
    }
    types.push(t);
  }
  // Check every reference now, so later code may index `types` freely.
  const count = types.length;
  const ref = (t: BtfType, target: number, what: string): void => {
    if (target >= count) {
      throw fail(t.fileOffset - base, `type id ${t.id} (${t.name || BtfKind[t.kind]}) refers to ${what} type id ${target}, but there are ${count - 1} types (split BTF needs its base)`);
    }
  };
  for (const t of types) {
    if (!t) continue;
    if (t.kind === BtfKind.ARRAY) {
      ref(t, t.array!.type, 'element');
      ref(t, t.array!.indexType, 'index');
    } else if (t.members) {
      for (const m of t.members) ref(t, m.type, `member ${JSON.stringify(m.name)}`);
    } else if (t.kind !== BtfKind.INT && t.kind !== BtfKind.FLOAT && t.kind !== BtfKind.ENUM && t.kind !== BtfKind.ENUM64 && t.kind !== BtfKind.DATASEC) {
      ref(t, t.type, 'its');
    }
  }
  return { endian: le ? 'little' : 'big', types };
}
