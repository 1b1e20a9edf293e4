// What the Windows OS support reads, resolved once per layout: member offsets of
// _EPROCESS, _ETHREAD, _POOL_HEADER, _OBJECT_HEADER and the handle tables, asked for by
// name from the layout pack, and the facts beside it (./facts.ts). No offset is written
// in code: a new build is a new pack.
import { LayoutError } from '../../errors.js';
import { type PagingMode, X86_64_4LEVEL, X86_PAE } from '../../layers/paging-modes.js';
import type { Layout } from '../../types/layout.js';
import type { PointerMode } from '../../signatures/program.js';
import { type WindowsFacts, factsForLayout } from './facts.js';

/** A member: byte offset and size; bitfields also give their bit position and length. */
export interface Member {
  readonly offset: number;
  readonly size: number;
  readonly bits?: { readonly position: number; readonly length: number };
}

/** An optional object header (XP: found by an offset byte or a flag; 7+: by an InfoMask bit). */
export interface OptionalHeader {
  readonly type: string;
  readonly size: number;
  readonly bit?: number;
  readonly offsetMember?: Member;
  readonly flag?: number;
}

export class WinModel {
  readonly facts: WindowsFacts;
  readonly ptr: 4 | 8;
  readonly paging: PagingMode;
  readonly pointerMode: PointerMode;
  readonly pagingLevels: number;
  /** Lowest kernel-half VA (facts address_space.kernel_va_start). */
  readonly kernelStart: bigint;
  readonly ep: {
    readonly size: number;
    readonly dtb: Member;
    readonly threadListHead: number;
    readonly pcbThreadListHead: number;
    readonly activeLinks: number;
    readonly pid: Member;
    readonly ppid: Member;
    readonly name: Member;
    readonly createTime: number;
    readonly exitTime: number;
    readonly objectTable: number;
    readonly activeThreads: Member;
  };
  readonly et: {
    readonly size: number;
    /** _ETHREAD.ThreadListEntry (executive list) and Tcb.ThreadListEntry (kernel list). */
    readonly listEntry: number;
    readonly kernelListEntry: number;
    /** The process pointer of each list: ThreadsProcess / Tcb.Process, and Tcb.ApcState.Process. */
    readonly owner: Member;
    readonly kernelOwner: Member;
    readonly cidThread: Member;
  };
  readonly pool: {
    readonly headerSize: number;
    readonly gran: number;
    readonly previousSize: Member;
    readonly poolIndex: Member;
    readonly blockSize: Member;
    readonly poolType: Member;
    readonly tag: Member;
    /** Process tag as stored (protected bit included per the facts). */
    readonly processTag: number;
    /** PoolType odd means non-paged (before Vista) or paged (Vista on). */
    readonly oddIsNonPaged: boolean;
  };
  readonly oh: {
    readonly bodyOffset: number;
    readonly pointerCount: Member;
    readonly infoMask?: Member;
    readonly flags: Member;
    readonly optional: readonly OptionalHeader[];
  };
  readonly ht: {
    readonly tableCode: number;
    readonly quotaProcess: number;
    readonly uniqueProcessId: Member;
    readonly handleTableList: number;
    readonly entrySize: number;
    /** 19041: the packed ObjectPointerBits; else the plain Object pointer. */
    readonly objectPointerBits?: Member;
    readonly object?: Member;
  };

  constructor(readonly L: Layout) {
    const f = factsForLayout(L.file);
    this.facts = f;
    if (L.pointerSize !== f.pointer_size) {
      throw new LayoutError(L.file, undefined, undefined, `pointer size ${L.pointerSize} disagrees with ${f.file} (${f.pointer_size})`);
    }
    this.ptr = f.pointer_size;
    // Facts address_space.paging: the x86 pack is the PAE kernel; x64 is 4-level.
    this.paging = f.address_space.paging === 'x86-pae' ? X86_PAE : X86_64_4LEVEL;
    this.pointerMode = this.ptr === 4 ? 'x86-32' : 'x86-64-4';
    this.pagingLevels = this.paging.levels.length;
    this.kernelStart = BigInt(f.address_space.kernel_va_start);
    const m = (type: string, path: string): Member => {
      const r = L.member(type, path);
      return r.bits === undefined ? { offset: r.offset, size: r.size } : { offset: r.offset, size: r.size, bits: r.bits };
    };
    const o = (type: string, path: string): number => L.offsetOf(type, path);
    // DirectoryTableBase is ULONG[2] on XP (element 0 is CR3), a ULONGLONG on x64 (facts dtb_rule).
    const dtbPath = L.typeOf('_EPROCESS', f.address_space.dtb_member).kind === 'array' ? `${f.address_space.dtb_member}[0]` : f.address_space.dtb_member;
    const links = f.links;
    this.ep = {
      size: L.sizeOf('_EPROCESS'),
      dtb: m('_EPROCESS', dtbPath),
      threadListHead: o('_EPROCESS', links.thread_list_executive.head),
      pcbThreadListHead: o('_EPROCESS', links.thread_list_kernel.head),
      activeLinks: o('_EPROCESS', links.process_list),
      pid: m('_EPROCESS', 'UniqueProcessId'),
      ppid: m('_EPROCESS', 'InheritedFromUniqueProcessId'),
      name: m('_EPROCESS', f.image_file_name.member),
      createTime: o('_EPROCESS', 'CreateTime'),
      exitTime: o('_EPROCESS', 'ExitTime'),
      objectTable: o('_EPROCESS', 'ObjectTable'),
      activeThreads: m('_EPROCESS', 'ActiveThreads'),
    };
    const member = (qualified: string): string => qualified.replace(/^_ETHREAD\./, '');
    const apc = links.thread_to_process.find((p) => p.includes('ApcState'));
    const own = links.thread_to_process.find((p) => !p.includes('ApcState'));
    if (apc === undefined || own === undefined) {
      throw new LayoutError(f.file, '_ETHREAD', undefined, 'links.thread_to_process must name the ApcState.Process pointer and the thread list owner');
    }
    this.et = {
      size: L.sizeOf('_ETHREAD'),
      listEntry: o('_ETHREAD', member(links.thread_list_executive.entry)),
      kernelListEntry: o('_ETHREAD', `Tcb.${links.thread_list_kernel.entry.replace(/^_KTHREAD\./, '')}`),
      owner: m('_ETHREAD', member(own)),
      kernelOwner: m('_ETHREAD', member(apc)),
      cidThread: m('_ETHREAD', 'Cid.UniqueThread'),
    };
    const ph = f.pool.header_type;
    this.pool = {
      headerSize: f.pool.header_size,
      gran: f.pool.granularity,
      previousSize: m(ph, 'PreviousSize'),
      poolIndex: m(ph, 'PoolIndex'),
      blockSize: m(ph, 'BlockSize'),
      poolType: m(ph, 'PoolType'),
      tag: m(ph, 'PoolTag'),
      processTag: Number(BigInt(f.pool.process_tag.u32)),
      oddIsNonPaged: /odd = non-paged/.test(f.pool.pool_type_rule),
    };
    const oh = f.object_header;
    this.oh = {
      bodyOffset: oh.body_offset,
      pointerCount: m('_OBJECT_HEADER', 'PointerCount'),
      ...(oh.optional_header_rule === 'info-mask' ? { infoMask: m('_OBJECT_HEADER', 'InfoMask') } : {}),
      flags: m('_OBJECT_HEADER', 'Flags'),
      optional: oh.optional_headers
        .filter((h) => L.hasType(h.type))
        .map((h) => ({
          type: h.type,
          size: L.sizeOf(h.type),
          ...(h.bit === undefined ? {} : { bit: h.bit }),
          ...(h.offset_member ? { offsetMember: m('_OBJECT_HEADER', h.offset_member) } : {}),
          ...(h.flag === undefined ? {} : { flag: h.flag }),
        })),
    };
    const entry = L.sizeOf('_HANDLE_TABLE_ENTRY');
    const hasBits = (() => {
      try {
        return L.member('_HANDLE_TABLE_ENTRY', 'ObjectPointerBits').bits !== undefined;
      } catch {
        return false;
      }
    })();
    this.ht = {
      tableCode: o('_HANDLE_TABLE', 'TableCode'),
      quotaProcess: o('_HANDLE_TABLE', 'QuotaProcess'),
      uniqueProcessId: m('_HANDLE_TABLE', 'UniqueProcessId'),
      handleTableList: o('_HANDLE_TABLE', 'HandleTableList'),
      entrySize: entry,
      ...(hasBits ? { objectPointerBits: m('_HANDLE_TABLE_ENTRY', 'ObjectPointerBits') } : { object: m('_HANDLE_TABLE_ENTRY', 'Object') }),
    };
  }

  /** Is `v` a kernel-half address of this build? */
  isKernel(v: bigint): boolean {
    return v >= this.kernelStart && v <= (this.ptr === 4 ? 0xffff_ffffn : 0xffff_ffff_ffff_ffffn);
  }
}

const models = new WeakMap<Layout, WinModel>();

/** The model of a layout (built once per layout object). */
export function winModel(L: Layout): WinModel {
  let m = models.get(L);
  if (m === undefined) {
    m = new WinModel(L);
    models.set(L, m);
  }
  return m;
}

// ---- little-endian readers over a byte array ----

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** Unsigned integer of `size` (1, 2, 4, 8) bytes at `at`, as bigint. */
export function readUint(b: Uint8Array, at: number, size: number): bigint {
  const v = view(b);
  switch (size) {
    case 1:
      return BigInt(b[at]!);
    case 2:
      return BigInt(v.getUint16(at, true));
    case 4:
      return BigInt(v.getUint32(at, true));
    case 8:
      return v.getBigUint64(at, true);
    default:
      throw new Error(`internal: cannot read a ${size}-byte integer`);
  }
}

/** A member's value (a bitfield's bits extracted), as bigint. */
export function readMember(b: Uint8Array, base: number, m: Member): bigint {
  const raw = readUint(b, base + m.offset, m.size);
  if (m.bits === undefined) return raw;
  return (raw >> BigInt(m.bits.position)) & ((1n << BigInt(m.bits.length)) - 1n);
}

/** A member's value as a number (for fields known to be small: sizes, counts, pids). */
export function readSmall(b: Uint8Array, base: number, m: Member): number {
  return Number(BigInt.asUintN(53, readMember(b, base, m)));
}

/** A pointer-sized value at `at`. */
export function readPtr(b: Uint8Array, at: number, ptr: 4 | 8): bigint {
  return readUint(b, at, ptr);
}
