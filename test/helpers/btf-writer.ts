// A small BTF writer for tests: build blobs type by type (layout per
// include/uapi/linux/btf.h, Linux 6.1) and check the parser against them.
export type WType =
  | { kind: 'int'; name: string; size: number; signed?: boolean; char?: boolean; bool?: boolean; bits?: number; bitOffset?: number }
  | { kind: 'ptr'; type: number }
  | { kind: 'array'; type: number; index: number; nelems: number }
  | { kind: 'struct' | 'union'; name: string; size: number; members: Array<{ name: string; type: number; bitOffset: number; bitfieldSize?: number }>; kindFlag?: boolean }
  | { kind: 'enum'; name: string; size: number; values: Array<[string, number]>; signed?: boolean }
  | { kind: 'enum64'; name: string; size: number; values: Array<[string, bigint]>; signed?: boolean }
  | { kind: 'fwd'; name: string; union?: boolean }
  | { kind: 'typedef' | 'volatile' | 'const' | 'restrict' | 'type_tag'; name?: string; type: number }
  | { kind: 'func_proto'; ret: number; params: Array<{ name: string; type: number }> }
  | { kind: 'func'; name: string; type: number }
  | { kind: 'var'; name: string; type: number }
  | { kind: 'datasec'; name: string; size: number; vars: Array<{ type: number; offset: number; size: number }> }
  | { kind: 'float'; name: string; size: number }
  | { kind: 'decl_tag'; name: string; type: number; index: number };

const KIND: Record<WType['kind'], number> = {
  int: 1, ptr: 2, array: 3, struct: 4, union: 5, enum: 6, fwd: 7, typedef: 8, volatile: 9, const: 10,
  restrict: 11, func: 12, func_proto: 13, var: 14, datasec: 15, float: 16, decl_tag: 17, type_tag: 18, enum64: 19,
};

/** Type ids are 1 + index in `types`. */
export function writeBtf(types: WType[], options: { bigEndian?: boolean } = {}): Uint8Array {
  const le = !options.bigEndian;
  const strings: number[] = [0];
  const strIndex = new Map<string, number>([['', 0]]);
  const str = (s: string): number => {
    let off = strIndex.get(s);
    if (off === undefined) {
      off = strings.length;
      strings.push(...Buffer.from(s, 'utf8'), 0);
      strIndex.set(s, off);
    }
    return off;
  };
  const words: number[] = [];
  const info = (kind: number, vlen: number, flag = false): number => ((flag ? 0x80000000 : 0) | (kind << 24) | vlen) >>> 0;
  for (const t of types) {
    const k = KIND[t.kind];
    switch (t.kind) {
      case 'int': {
        const enc = (t.signed ? 1 : 0) | (t.char ? 2 : 0) | (t.bool ? 4 : 0);
        words.push(str(t.name), info(k, 0), t.size, ((enc << 24) | ((t.bitOffset ?? 0) << 16) | (t.bits ?? t.size * 8)) >>> 0);
        break;
      }
      case 'ptr':
        words.push(0, info(k, 0), t.type);
        break;
      case 'array':
        words.push(0, info(k, 0), 0, t.type, t.index, t.nelems);
        break;
      case 'struct':
      case 'union':
        words.push(str(t.name), info(k, t.members.length, t.kindFlag), t.size);
        for (const m of t.members) words.push(str(m.name), m.type, t.kindFlag ? (((m.bitfieldSize ?? 0) << 24) | m.bitOffset) >>> 0 : m.bitOffset);
        break;
      case 'enum':
        words.push(str(t.name), info(k, t.values.length, t.signed), t.size);
        for (const [n, v] of t.values) words.push(str(n), v >>> 0);
        break;
      case 'enum64':
        words.push(str(t.name), info(k, t.values.length, t.signed), t.size);
        for (const [n, v] of t.values) {
          const u = BigInt.asUintN(64, v);
          words.push(str(n), Number(u & 0xffffffffn), Number(u >> 32n));
        }
        break;
      case 'fwd':
        words.push(str(t.name), info(k, 0, t.union), 0);
        break;
      case 'typedef':
      case 'volatile':
      case 'const':
      case 'restrict':
      case 'type_tag':
        words.push(str(t.name ?? ''), info(k, 0), t.type);
        break;
      case 'func_proto':
        words.push(0, info(k, t.params.length), t.ret);
        for (const p of t.params) words.push(str(p.name), p.type);
        break;
      case 'func':
        words.push(str(t.name), info(k, 0), t.type);
        break;
      case 'var':
        words.push(str(t.name), info(k, 0), t.type, 1);
        break;
      case 'datasec':
        words.push(str(t.name), info(k, t.vars.length), t.size);
        for (const v of t.vars) words.push(v.type, v.offset, v.size);
        break;
      case 'float':
        words.push(str(t.name), info(k, 0), t.size);
        break;
      case 'decl_tag':
        words.push(str(t.name), info(k, 0), t.type, t.index >>> 0);
        break;
    }
  }
  const typeLen = words.length * 4;
  const out = new Uint8Array(24 + typeLen + strings.length);
  const v = new DataView(out.buffer);
  v.setUint16(0, 0xeb9f, le);
  out[2] = 1;
  v.setUint32(4, 24, le);
  v.setUint32(8, 0, le);
  v.setUint32(12, typeLen, le);
  v.setUint32(16, typeLen, le);
  v.setUint32(20, strings.length, le);
  words.forEach((w, i) => v.setUint32(24 + i * 4, w, le));
  out.set(strings, 24 + typeLen);
  return out;
}

/** A minimal ELF64 little-endian file with the given sections (for .BTF / .rodata tests). */
export function writeElf64(sections: Array<{ name: string; data: Uint8Array }>): Uint8Array {
  const names = [0];
  const nameOff: number[] = [];
  for (const s of [...sections, { name: '.shstrtab' }]) {
    nameOff.push(names.length);
    names.push(...Buffer.from(s.name), 0);
  }
  const shstr = Uint8Array.from(names);
  const all = [...sections.map((s) => s.data), shstr];
  let off = 64;
  const offsets = all.map((d) => {
    const o = off;
    off += d.length;
    return o;
  });
  const shoff = (off + 7) & ~7;
  const shnum = all.length + 1;
  const out = new Uint8Array(shoff + shnum * 64);
  const v = new DataView(out.buffer);
  out.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  v.setUint16(16, 2, true); // ET_EXEC
  v.setUint16(18, 62, true); // EM_X86_64
  v.setUint32(20, 1, true);
  v.setBigUint64(0x28, BigInt(shoff), true);
  v.setUint16(0x34, 64, true);
  v.setUint16(0x3a, 64, true);
  v.setUint16(0x3c, shnum, true);
  v.setUint16(0x3e, shnum - 1, true);
  all.forEach((d, i) => {
    out.set(d, offsets[i]!);
    const h = shoff + (i + 1) * 64;
    v.setUint32(h, nameOff[i]!, true);
    v.setUint32(h + 4, i === all.length - 1 ? 3 : 1, true); // SHT_STRTAB / SHT_PROGBITS
    v.setBigUint64(h + 24, BigInt(offsets[i]!), true);
    v.setBigUint64(h + 32, BigInt(d.length), true);
  });
  return out;
}

/** A bzImage-shaped file around a compressed payload (Documentation/x86/boot.rst header fields). */
export function writeBzImage(payload: Uint8Array, release = '6.1.0-test-amd64 (test@example) #1 SMP'): Uint8Array {
  const setupSects = 4;
  const pm = (setupSects + 1) * 512;
  const payloadOffset = 0x100;
  const out = new Uint8Array(pm + payloadOffset + payload.length + 16);
  const v = new DataView(out.buffer);
  out[0x1f1] = setupSects;
  out.set(Buffer.from('HdrS'), 0x202);
  v.setUint16(0x206, 0x020f, true);
  const verAt = 0x300;
  out.set(Buffer.from(`${release}\u0000`), verAt);
  v.setUint16(0x20e, verAt - 0x200, true);
  v.setUint32(0x248, payloadOffset, true);
  v.setUint32(0x24c, payload.length, true);
  out.set(payload, pm + payloadOffset);
  return out;
}
