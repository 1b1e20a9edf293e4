// Executive objects in pool blocks: [_POOL_HEADER][optional headers][_OBJECT_HEADER][body],
// the body at the very end of the block, and the _OBJECT_TYPE objects the headers name.
//
// Facts (facts files, object_header; Volatility 2 win7.py / win10.py type maps):
// - XP: _OBJECT_HEADER.Type points to the type's _OBJECT_TYPE; the optional headers are
//   found by byte offsets (NameInfoOffset, HandleInfoOffset, QuotaInfoOffset: distance
//   from that header forward to the OBJECT_HEADER) and, for the creator info, Flags bit
//   0x04; low to high: QUOTA, HANDLE, NAME, CREATOR, OBJECT_HEADER.
// - Windows 7 and later: TypeIndex into ObTypeIndexTable (Process 7, Thread 8, Token 5,
//   Type 2; File 28 on Win7, 37 on 19041); InfoMask bit b present means the header for b
//   starts at OBJECT_HEADER minus the sizes of the present headers with bits <= b, so the
//   lowest bit sits next to the OBJECT_HEADER.
// - Windows 10: stored TypeIndex = index ^ (ObHeaderCookie & 0xff) ^ byte 1 of the
//   OBJECT_HEADER's address.
// - Placement: body = block end - round_up(sizeof(body), granularity) (bottom-up rule of
//   Windows 7 and earlier); with the headers packed right after the pool header the
//   top-down search of Windows 8+ finds the same OBJECT_HEADER.
import type { PoolKind } from './address-space.js';
import type { Struct, WinLayout } from './layout.js';
import { roundUp, utf16 } from './layout.js';
import type { Pool, PoolBlock } from './pool.js';

export type ObType = 'Type' | 'Token' | 'Process' | 'Thread' | 'File';
export type OptionalHeader = 'creator' | 'name' | 'handle' | 'quota' | 'process';

const OPTIONAL_TYPE: Record<OptionalHeader, string> = {
  creator: '_OBJECT_HEADER_CREATOR_INFO',
  name: '_OBJECT_HEADER_NAME_INFO',
  handle: '_OBJECT_HEADER_HANDLE_INFO',
  quota: '_OBJECT_HEADER_QUOTA_INFO',
  process: '_OBJECT_HEADER_PROCESS_INFO',
};
/** XP's optional headers, low to high address (facts winxpsp2x86 object_header.optional_header_note). */
const XP_ORDER: readonly OptionalHeader[] = ['quota', 'handle', 'name', 'creator'];

/** Type indexes (Volatility 2 win7.py _OBJECT_HEADER.type_map; win10.py _OBJECT_HEADER_10_18362.type_map). */
const TYPE_INDEX: Record<string, Record<ObType, number>> = {
  win7sp1x64: { Type: 2, Token: 5, Process: 7, Thread: 8, File: 28 },
  win10x64_19041: { Type: 2, Token: 5, Process: 7, Thread: 8, File: 37 },
  // XP keeps _OBJECT_TYPE.Index too; the order of type creation (Type first) is assumed, only stored, never used to decode.
  winxpsp2x86: { Type: 1, Token: 4, Process: 5, Thread: 6, File: 24 },
};
/** Pool tags of objects of each type (object tags: protected bit before Windows 8). */
export const TYPE_TAG: Record<ObType, string> = { Type: 'ObjT', Token: 'Toke', Process: 'Proc', Thread: 'Thre', File: 'File' };
const BODY_TYPE: Record<ObType, string> = { Type: '_OBJECT_TYPE', Token: '_LIST_ENTRY', Process: '_EPROCESS', Thread: '_ETHREAD', File: '_LIST_ENTRY' };

export interface HeaderSpec {
  readonly optional: readonly OptionalHeader[];
  readonly pointerCount: number;
  readonly handleCount: number;
  /** Creator info: the creating process's pid. */
  readonly creatorPid?: number;
  /** Handle info (single entry): the process holding the handle, and the count. */
  readonly handleOwner?: bigint;
  /** Quota info: what the object charged. */
  readonly quotaNonPaged?: number;
  readonly quotaPaged?: number;
  /** Name info: the name's UTF-16 buffer VA and length in characters. */
  readonly name?: { va: bigint; chars: number };
  readonly flags?: number;
}

export interface ObjectBlock {
  readonly block: PoolBlock;
  readonly type: ObType;
  /** Offset of the _OBJECT_HEADER in the block. */
  readonly headerOff: number;
  /** Offset of the body in the block. */
  readonly bodyOff: number;
  readonly header: Struct;
  /** The body as a structure of the layout (EPROCESS, ETHREAD, OBJECT_TYPE); types the packs lack (TOKEN, FILE_OBJECT) have none. */
  readonly body: Struct;
  readonly headerVa: bigint;
  readonly bodyVa: bigint;
  readonly bodyPa: number;
}

export class ObjectTypes {
  private readonly bodies = new Map<ObType, bigint>();
  readonly index: Record<ObType, number>;

  constructor(
    private readonly w: WinLayout,
    private readonly pool: Pool,
    /** nt!ObHeaderCookie's low byte (Windows 10); 0 elsewhere. */
    readonly cookie: number,
  ) {
    this.index = TYPE_INDEX[w.build.name]!;
    const factsIndex = w.build.facts.object_header.process_type_index;
    if (factsIndex !== null && factsIndex !== this.index.Process) throw new Error(`synth windows: Process type index ${this.index.Process} disagrees with the facts (${factsIndex})`);
  }

  /** Body VA of a type's _OBJECT_TYPE (what XP's OBJECT_HEADER.Type holds). */
  typeObject(t: ObType): bigint {
    const v = this.bodies.get(t);
    if (v === undefined) throw new Error(`synth windows: type object ${t} not created yet`);
    return v;
  }

  /** The byte stored in OBJECT_HEADER.TypeIndex for an object of type `t` whose header is at `headerVa`. */
  storedTypeIndex(t: ObType, headerVa: bigint): number {
    const i = this.index[t];
    if (this.w.build.facts.object_header.type_encoding !== 'index-cookie') return i;
    return (i ^ this.cookie ^ Number((headerVa >> 8n) & 0xffn)) & 0xff;
  }

  /** Bytes of a block holding `bodySize` bytes of body with `optional` headers. */
  blockSize(bodySize: number, optional: readonly OptionalHeader[]): number {
    const opt = optional.reduce((n, h) => n + this.w.optionalSize(OPTIONAL_TYPE[h]), 0);
    return this.w.sizes.poolHeader + opt + this.w.bodyOffset + roundUp(bodySize, this.w.gran);
  }

  /** Optional headers low to high address. */
  private order(optional: readonly OptionalHeader[]): OptionalHeader[] {
    const f = this.w.build.facts.object_header;
    if (f.optional_header_rule === 'byte-offsets') return XP_ORDER.filter((h) => optional.includes(h));
    const bit = (h: OptionalHeader) => f.optional_headers.find((x) => x.type === OPTIONAL_TYPE[h])!.bit!;
    return [...optional].sort((a, b) => bit(b) - bit(a));
  }

  /** Allocate an object of type `t` with a zeroed body of `bodySize` bytes and write its headers. */
  allocObject(kind: PoolKind, t: ObType, bodySize: number, spec: HeaderSpec): ObjectBlock {
    for (const h of spec.optional) {
      if (!this.w.L.hasType(OPTIONAL_TYPE[h])) throw new Error(`synth windows: ${this.w.build.name} has no ${OPTIONAL_TYPE[h]}`);
    }
    const size = this.blockSize(bodySize, spec.optional);
    const block = this.pool.alloc(kind, size, TYPE_TAG[t], true);
    const bodyOff = block.size - roundUp(bodySize, this.w.gran);
    const headerOff = bodyOff - this.w.bodyOffset;
    const ob: ObjectBlock = {
      block,
      type: t,
      headerOff,
      bodyOff,
      header: this.w.struct('_OBJECT_HEADER', block.bytes, headerOff),
      // Token and File bodies have no layout in the packs: their Struct is a bare _LIST_ENTRY view, never written by path.
      body: this.w.struct(BODY_TYPE[t], block.bytes, bodyOff),
      headerVa: block.va + BigInt(headerOff),
      bodyVa: block.va + BigInt(bodyOff),
      bodyPa: block.pa + bodyOff,
    };
    if (t === 'Type' && !this.bodies.has('Type')) this.bodies.set('Type', ob.bodyVa);
    this.writeHeaders(ob, spec);
    return ob;
  }

  private writeHeaders(ob: ObjectBlock, spec: HeaderSpec): void {
    const w = this.w;
    const f = w.build.facts.object_header;
    const h = ob.header;
    h.set('PointerCount', spec.pointerCount);
    h.set('HandleCount', spec.handleCount);
    let flags = spec.flags ?? 0;
    // Optional headers, packed downward from the OBJECT_HEADER.
    const order = this.order(spec.optional);
    let at = ob.headerOff;
    const starts = new Map<OptionalHeader, number>();
    for (const o of [...order].reverse()) {
      at -= w.optionalSize(OPTIONAL_TYPE[o]);
      starts.set(o, at);
    }
    for (const [o, start] of starts) {
      const s = w.struct(OPTIONAL_TYPE[o], ob.block.bytes, start);
      const va = ob.block.va + BigInt(start);
      if (o === 'creator') {
        s.set('TypeList.Flink', va);
        s.set('TypeList.Blink', va);
        s.set('CreatorUniqueProcess', BigInt(spec.creatorPid ?? 0));
      } else if (o === 'name' && spec.name) {
        s.set('Name.Length', spec.name.chars * 2);
        s.set('Name.MaximumLength', spec.name.chars * 2 + 2);
        s.set('Name.Buffer', spec.name.va);
      } else if (o === 'handle') {
        s.set('SingleEntry.Process', spec.handleOwner ?? 0n);
        s.set('SingleEntry.HandleCount', Math.max(1, spec.handleCount));
      } else if (o === 'quota') {
        s.set('PagedPoolCharge', spec.quotaPaged ?? 0x1000);
        s.set('NonPagedPoolCharge', spec.quotaNonPaged ?? ob.block.size);
        s.set('SecurityDescriptorCharge', 0x800);
      }
    }
    if (f.optional_header_rule === 'byte-offsets') {
      const member: Partial<Record<OptionalHeader, string>> = { name: 'NameInfoOffset', handle: 'HandleInfoOffset', quota: 'QuotaInfoOffset' };
      for (const [o, start] of starts) {
        const m = member[o];
        if (m) h.set(m, ob.headerOff - start);
        // The creator info has no offset byte: a Flags bit marks it (facts: OB_FLAG_CREATOR_INFO).
        else if (o === 'creator') flags |= f.optional_headers.find((x) => x.type === OPTIONAL_TYPE.creator)!.flag!;
      }
      h.set('Type', this.typeObject(ob.type));
    } else {
      let mask = 0;
      for (const o of starts.keys()) mask |= f.optional_headers.find((x) => x.type === OPTIONAL_TYPE[o])!.bit!;
      h.set('InfoMask', mask);
      h.set('TypeIndex', this.storedTypeIndex(ob.type, ob.headerVa));
    }
    h.set('Flags', flags);
  }

  /**
   * The _OBJECT_TYPE objects of the types a world uses (Type first: it is its own type),
   * each named by a UTF-16 string in a pool block of its own ('ObNm').
   */
  createTypes(typeNames: readonly ObType[] = ['Type', 'Token', 'Process', 'Thread', 'File']): ObjectBlock[] {
    const out: ObjectBlock[] = [];
    const size = this.w.L.sizeOf('_OBJECT_TYPE');
    for (const t of typeNames) {
      const nameBytes = utf16(t);
      const nameBlock = this.pool.alloc('nonpaged', this.w.sizes.poolHeader + nameBytes.length + 2, 'ObNm', false);
      nameBlock.bytes.set(nameBytes, this.w.sizes.poolHeader);
      const nameVa = nameBlock.va + BigInt(this.w.sizes.poolHeader);
      const ob = this.allocObject('nonpaged', 'Type', size, { optional: ['creator', 'name'], pointerCount: 2, handleCount: 0, name: { va: nameVa, chars: t.length } });
      this.bodies.set(t, ob.bodyVa);
      const b = ob.body;
      b.set('TypeList.Flink', ob.bodyVa + BigInt(b.off('TypeList')));
      b.set('TypeList.Blink', ob.bodyVa + BigInt(b.off('TypeList')));
      b.set('Name.Length', nameBytes.length);
      b.set('Name.MaximumLength', nameBytes.length + 2);
      b.set('Name.Buffer', nameVa);
      b.set('Index', this.index[t]);
      b.set('Key', new DataView(this.pool.tagBytes(TYPE_TAG[t], false).buffer).getUint32(0, true));
      out.push(ob);
    }
    return out;
  }
}
