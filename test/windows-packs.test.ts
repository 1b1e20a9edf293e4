// Windows layout packs (signatures/layouts/windows/*.isf.json + *.facts.json).
//
// The expected numbers below were read from the cited sources, not from the
// pack files; the pack is generated from Volatility 2 / JPCERT data by
// tools/build_packs.py, so a pin that agrees comes from two sources.
// Source keys:
//   GC   Geoff Chappell's kernel tables, mirror geoffchappellmirror/
//        geoffchappellmirror.github.io @ cf378772: inc/ntos/ps/eprocess,
//        ps/ethread, ke/kprocess, ob/object_header*, api/pebteb/peb,
//        api/pebteb/rtl_user_process_parameters (columns "late 5.1" x86,
//        "6.1" x64, and the unlabelled last column = 2004 x64).
//   ND   ntdiff/headers @ 627cf4a9, Win7_SP1/x64/System32/ntoskrnl.exe/
//        Standalone/_EPROCESS.h (pdbex output of the 7601 PDB).
//   FB   computer.forensikblog.de/2006/01/ethread-5-1-2600-0.html
//        (WinDbg `dt -b -v _ETHREAD`, XP RTM; same 0x258/0x1c0 sizes as SP2).
//   V2   Volatility 2 @ 328a178e. For XP and Win7 it is the pack's own
//        source (marked "V2 only" where no second source was found); for
//        19041 it is the independent check (the pack comes from JPCERT).
//   V2P  Volatility 2 @ 328a178e volatility/plugins/overlays/windows/
//        win10.py Win10PoolHeader: hand-written _POOL_HEADER for x86/x64.
//   J24  JPCERT ISF 339E7413...-1 (7601.24540) where that later build agrees.
import { describe, expect, it } from 'vitest';
import {
  absoluteBit, consistencyErrors, readJson, resolve, schemaErrors, type Isf, type TypeDesc,
} from './support/isf-pack.js';

type Pin = [type: string, member: string, offset: number, source: string];
interface Expect {
  sizes: Record<string, [number, string]>;
  offsets: Pin[];
  imageFileNameLength: number;
  poolBits: Record<'PreviousSize' | 'PoolIndex' | 'BlockSize' | 'PoolType', [bit: number, len: number]>;
}

const XP: Expect = {
  sizes: {
    _EPROCESS: [0x260, 'GC'], _KPROCESS: [0x6c, 'V2 xp.py DTBSignature Size 0x1b * 4'],
    _ETHREAD: [0x258, 'FB'], _KTHREAD: [0x1c0, 'FB'], _DISPATCHER_HEADER: [0x10, 'FB'],
    _KAPC_STATE: [0x18, 'FB'], _OBJECT_HEADER: [0x20, 'GC'], _POOL_HEADER: [0x8, 'V2P'],
    _OBJECT_HEADER_CREATOR_INFO: [0x10, 'GC'], _OBJECT_HEADER_NAME_INFO: [0x10, 'GC'],
    _OBJECT_HEADER_QUOTA_INFO: [0x10, 'GC'], _OBJECT_HEADER_HANDLE_INFO: [0x8, 'GC'],
    _LIST_ENTRY: [0x8, 'FB'], _EX_FAST_REF: [0x4, 'V2 only'], _CLIENT_ID: [0x8, 'V2 only'],
  },
  offsets: [
    ['_EPROCESS', 'Pcb', 0x0, 'GC'], ['_EPROCESS', 'CreateTime', 0x70, 'GC'],
    ['_EPROCESS', 'ExitTime', 0x78, 'GC'], ['_EPROCESS', 'UniqueProcessId', 0x84, 'GC'],
    ['_EPROCESS', 'ActiveProcessLinks', 0x88, 'GC'], ['_EPROCESS', 'ObjectTable', 0xc4, 'GC'],
    ['_EPROCESS', 'Token', 0xc8, 'GC'], ['_EPROCESS', 'VadRoot', 0x11c, 'GC'],
    ['_EPROCESS', 'InheritedFromUniqueProcessId', 0x14c, 'GC'], ['_EPROCESS', 'ImageFileName', 0x174, 'GC'],
    ['_EPROCESS', 'ThreadListHead', 0x190, 'GC'], ['_EPROCESS', 'Peb', 0x1b0, 'GC'],
    ['_EPROCESS', 'Pcb.DirectoryTableBase', 0x18, 'GC'], ['_EPROCESS', 'Pcb.ThreadListHead', 0x50, 'GC'],
    ['_EPROCESS', 'Pcb.Header.Type', 0x0, 'FB'], ['_EPROCESS', 'Pcb.Header.Size', 0x2, 'FB'],
    ['_ETHREAD', 'Cid', 0x1ec, 'GC'], ['_ETHREAD', 'ThreadListEntry', 0x22c, 'GC'],
    ['_ETHREAD', 'ThreadsProcess', 0x220, 'GC'], ['_ETHREAD', 'CreateTime', 0x1c0, 'GC'],
    ['_ETHREAD', 'Tcb.ApcState.Process', 0x44, 'FB (ApcState 0x34 + Process 0x10)'],
    ['_KTHREAD', 'ThreadListEntry', 0x1b0, 'V2 only'],
    ['_CLIENT_ID', 'UniqueProcess', 0x0, 'V2 only'], ['_CLIENT_ID', 'UniqueThread', 0x4, 'V2 only'],
    ['_HANDLE_TABLE', 'QuotaProcess', 0x4, 'V2 only'], ['_HANDLE_TABLE', 'UniqueProcessId', 0x8, 'V2 only'],
    ['_HANDLE_TABLE', 'HandleTableList', 0x1c, 'V2 only'],
    ['_OBJECT_HEADER', 'PointerCount', 0x0, 'GC'], ['_OBJECT_HEADER', 'HandleCount', 0x4, 'GC'],
    ['_OBJECT_HEADER', 'Type', 0x8, 'GC'], ['_OBJECT_HEADER', 'NameInfoOffset', 0xc, 'GC'],
    ['_OBJECT_HEADER', 'HandleInfoOffset', 0xd, 'GC'], ['_OBJECT_HEADER', 'QuotaInfoOffset', 0xe, 'GC'],
    ['_OBJECT_HEADER', 'Flags', 0xf, 'GC'], ['_OBJECT_HEADER', 'SecurityDescriptor', 0x14, 'GC'],
    ['_OBJECT_HEADER', 'Body', 0x18, 'GC'], ['_POOL_HEADER', 'PoolTag', 0x4, 'V2P'],
    ['_PEB', 'ImageBaseAddress', 0x8, 'GC'], ['_PEB', 'Ldr', 0xc, 'GC'], ['_PEB', 'ProcessParameters', 0x10, 'GC'],
    ['_RTL_USER_PROCESS_PARAMETERS', 'ImagePathName', 0x38, 'GC'],
    ['_RTL_USER_PROCESS_PARAMETERS', 'CommandLine', 0x40, 'GC'],
  ],
  imageFileNameLength: 16,
  // V2P 32-bit: PreviousSize 0..9, PoolIndex 9..16 at 0; BlockSize 0..9, PoolType 9..16 at 2.
  poolBits: { PreviousSize: [0, 9], PoolIndex: [9, 7], BlockSize: [16, 9], PoolType: [25, 7] },
};

// x64 bit layout of _POOL_HEADER, V2P 64-bit: PreviousSize 0..8, PoolIndex
// 8..16 at 0; BlockSize 0..8, PoolType 8..16 at 2; PoolTag at 4.
const POOL64 = { PreviousSize: [0, 8], PoolIndex: [8, 8], BlockSize: [16, 8], PoolType: [24, 8] } as Expect['poolBits'];

const WIN7: Expect = {
  sizes: {
    _EPROCESS: [0x4d0, 'GC, ND'], _KPROCESS: [0x160, 'ND'], _DISPATCHER_HEADER: [0x18, 'ND'],
    _ETHREAD: [0x498, 'V2 only (0x4a8 in 7601.24540)'], _KTHREAD: [0x360, 'V2 only (0x368 in 7601.24540)'],
    _KAPC_STATE: [0x30, 'J24'], _OBJECT_HEADER: [0x38, 'GC'], _POOL_HEADER: [0x10, 'V2P'],
    _OBJECT_HEADER_CREATOR_INFO: [0x20, 'GC'], _OBJECT_HEADER_NAME_INFO: [0x20, 'GC'],
    _OBJECT_HEADER_HANDLE_INFO: [0x10, 'GC'], _OBJECT_HEADER_QUOTA_INFO: [0x20, 'GC'],
    _OBJECT_HEADER_PROCESS_INFO: [0x10, 'GC'], _LIST_ENTRY: [0x10, 'ND'], _EX_FAST_REF: [0x8, 'ND'],
    _HANDLE_TABLE: [0x68, 'J24'], _MM_AVL_TABLE: [0x40, 'ND'],
  },
  offsets: [
    ['_EPROCESS', 'Pcb', 0x0, 'GC, ND'], ['_EPROCESS', 'CreateTime', 0x168, 'GC, ND'],
    ['_EPROCESS', 'ExitTime', 0x170, 'GC, ND'], ['_EPROCESS', 'UniqueProcessId', 0x180, 'GC, ND'],
    ['_EPROCESS', 'ActiveProcessLinks', 0x188, 'GC, ND'], ['_EPROCESS', 'ObjectTable', 0x200, 'GC, ND'],
    ['_EPROCESS', 'Token', 0x208, 'GC, ND'], ['_EPROCESS', 'InheritedFromUniqueProcessId', 0x290, 'GC, ND'],
    ['_EPROCESS', 'ImageFileName', 0x2e0, 'GC, ND'], ['_EPROCESS', 'ThreadListHead', 0x308, 'GC, ND'],
    ['_EPROCESS', 'Peb', 0x338, 'GC, ND'], ['_EPROCESS', 'VadRoot', 0x448, 'GC, ND'],
    ['_EPROCESS', 'Pcb.DirectoryTableBase', 0x28, 'GC, ND'], ['_EPROCESS', 'Pcb.ThreadListHead', 0x30, 'GC, ND'],
    ['_EPROCESS', 'Pcb.Header.Type', 0x0, 'ND'], ['_EPROCESS', 'Pcb.Header.Size', 0x2, 'ND'],
    ['_ETHREAD', 'Cid', 0x3b0, 'GC'], ['_ETHREAD', 'ThreadListEntry', 0x420, 'GC'],
    ['_ETHREAD', 'Tcb.Process', 0x210, 'J24'], ['_ETHREAD', 'Tcb.ApcState.Process', 0x70, 'J24 (0x50 + 0x20)'],
    ['_KTHREAD', 'ThreadListEntry', 0x2f8, 'J24'],
    ['_CLIENT_ID', 'UniqueProcess', 0x0, 'J24'], ['_CLIENT_ID', 'UniqueThread', 0x8, 'J24'],
    ['_HANDLE_TABLE', 'QuotaProcess', 0x8, 'J24'], ['_HANDLE_TABLE', 'UniqueProcessId', 0x10, 'J24'],
    ['_HANDLE_TABLE', 'HandleTableList', 0x20, 'J24'],
    ['_OBJECT_HEADER', 'PointerCount', 0x0, 'GC'], ['_OBJECT_HEADER', 'HandleCount', 0x8, 'GC'],
    ['_OBJECT_HEADER', 'Lock', 0x10, 'GC'], ['_OBJECT_HEADER', 'TypeIndex', 0x18, 'GC'],
    ['_OBJECT_HEADER', 'TraceFlags', 0x19, 'GC'], ['_OBJECT_HEADER', 'InfoMask', 0x1a, 'GC'],
    ['_OBJECT_HEADER', 'Flags', 0x1b, 'GC'], ['_OBJECT_HEADER', 'SecurityDescriptor', 0x28, 'GC'],
    ['_OBJECT_HEADER', 'Body', 0x30, 'GC'], ['_POOL_HEADER', 'PoolTag', 0x4, 'V2P'],
    ['_POOL_HEADER', 'ProcessBilled', 0x8, 'V2P'],
    ['_PEB', 'ImageBaseAddress', 0x10, 'GC'], ['_PEB', 'Ldr', 0x18, 'GC'], ['_PEB', 'ProcessParameters', 0x20, 'GC'],
    ['_RTL_USER_PROCESS_PARAMETERS', 'ImagePathName', 0x60, 'GC'],
    ['_RTL_USER_PROCESS_PARAMETERS', 'CommandLine', 0x70, 'GC'],
  ],
  imageFileNameLength: 15,
  poolBits: POOL64,
};

const WIN10: Expect = {
  sizes: {
    _EPROCESS: [0xa40, 'GC'], _KPROCESS: [0x438, 'V2'], _ETHREAD: [0x898, 'V2'], _KTHREAD: [0x430, 'V2'],
    _DISPATCHER_HEADER: [0x18, 'V2'], _KAPC_STATE: [0x30, 'V2'], _OBJECT_HEADER: [0x38, 'GC'],
    _POOL_HEADER: [0x10, 'V2P'], _HANDLE_TABLE: [0x80, 'V2'],
    _OBJECT_HEADER_CREATOR_INFO: [0x20, 'GC'], _OBJECT_HEADER_NAME_INFO: [0x20, 'GC'],
    _OBJECT_HEADER_HANDLE_INFO: [0x10, 'GC'], _OBJECT_HEADER_QUOTA_INFO: [0x20, 'GC'],
    _OBJECT_HEADER_PROCESS_INFO: [0x10, 'GC'], _OBJECT_HEADER_AUDIT_INFO: [0x10, 'V2'],
    _OBJECT_HEADER_EXTENDED_INFO: [0x10, 'V2'], _OBJECT_HEADER_PADDING_INFO: [0x4, 'V2'],
    _RTL_AVL_TREE: [0x8, 'GC'],
  },
  offsets: [
    ['_EPROCESS', 'Pcb', 0x0, 'GC'], ['_EPROCESS', 'UniqueProcessId', 0x440, 'GC'],
    ['_EPROCESS', 'ActiveProcessLinks', 0x448, 'GC'], ['_EPROCESS', 'Flags2', 0x460, 'GC'],
    ['_EPROCESS', 'CreateTime', 0x468, 'GC'], ['_EPROCESS', 'Token', 0x4b8, 'GC'],
    ['_EPROCESS', 'InheritedFromUniqueProcessId', 0x540, 'GC'], ['_EPROCESS', 'Peb', 0x550, 'GC'],
    ['_EPROCESS', 'ObjectTable', 0x570, 'GC'], ['_EPROCESS', 'ImageFileName', 0x5a8, 'GC'],
    ['_EPROCESS', 'ThreadListHead', 0x5e0, 'GC'], ['_EPROCESS', 'VadRoot', 0x7d8, 'GC'],
    ['_EPROCESS', 'ExitTime', 0x840, 'GC'],
    ['_EPROCESS', 'Pcb.DirectoryTableBase', 0x28, 'GC'], ['_EPROCESS', 'Pcb.ThreadListHead', 0x30, 'GC'],
    ['_EPROCESS', 'Pcb.UserDirectoryTableBase', 0x388, 'GC'],
    ['_EPROCESS', 'Pcb.Header.Type', 0x0, 'V2'], ['_EPROCESS', 'Pcb.Header.Size', 0x2, 'V2'],
    ['_ETHREAD', 'Cid', 0x478, 'GC, V2'], ['_ETHREAD', 'ThreadListEntry', 0x4e8, 'GC, V2'],
    ['_ETHREAD', 'Tcb.Process', 0x220, 'V2'], ['_ETHREAD', 'Tcb.ApcState.Process', 0xb8, 'V2 (0x98 + 0x20)'],
    ['_KTHREAD', 'ThreadListEntry', 0x2f8, 'V2'],
    ['_CLIENT_ID', 'UniqueProcess', 0x0, 'V2'], ['_CLIENT_ID', 'UniqueThread', 0x8, 'V2'],
    ['_HANDLE_TABLE', 'QuotaProcess', 0x10, 'V2'], ['_HANDLE_TABLE', 'HandleTableList', 0x18, 'V2'],
    ['_HANDLE_TABLE', 'UniqueProcessId', 0x28, 'V2'],
    ['_OBJECT_HEADER', 'PointerCount', 0x0, 'GC'], ['_OBJECT_HEADER', 'HandleCount', 0x8, 'GC'],
    ['_OBJECT_HEADER', 'Lock', 0x10, 'GC'], ['_OBJECT_HEADER', 'TypeIndex', 0x18, 'GC'],
    ['_OBJECT_HEADER', 'TraceFlags', 0x19, 'GC'], ['_OBJECT_HEADER', 'InfoMask', 0x1a, 'GC'],
    ['_OBJECT_HEADER', 'Flags', 0x1b, 'GC'], ['_OBJECT_HEADER', 'Reserved', 0x1c, 'GC'],
    ['_OBJECT_HEADER', 'SecurityDescriptor', 0x28, 'GC'], ['_OBJECT_HEADER', 'Body', 0x30, 'GC'],
    ['_POOL_HEADER', 'PoolTag', 0x4, 'V2P'], ['_POOL_HEADER', 'ProcessBilled', 0x8, 'V2P'],
    ['_PEB', 'ImageBaseAddress', 0x10, 'GC'], ['_PEB', 'Ldr', 0x18, 'GC'], ['_PEB', 'ProcessParameters', 0x20, 'GC'],
    ['_RTL_USER_PROCESS_PARAMETERS', 'ImagePathName', 0x60, 'GC'],
    ['_RTL_USER_PROCESS_PARAMETERS', 'CommandLine', 0x70, 'GC'],
    ['_RTL_AVL_TREE', 'Root', 0x0, 'GC'],
  ],
  imageFileNameLength: 15,
  poolBits: POOL64,
};

const BUILDS: { id: string; pointer: number; expect: Expect }[] = [
  { id: 'winxpsp2x86', pointer: 4, expect: XP },
  { id: 'win7sp1x64', pointer: 8, expect: WIN7 },
  { id: 'win10x64_19041', pointer: 8, expect: WIN10 },
];

interface Facts {
  schema: string; build: string; isf: string; pointer_size: number;
  pool: { header_size: number; granularity: number; block_size_unit: number;
    process_tag: { ascii: string; protected: boolean; u32: string; bytes_hex: string } };
  object_header: { body_offset: number; type_encoding: string; type_member: string;
    process_type_index: number | null; optional_header_rule: string;
    optional_headers: { type: string; bit?: number; offset_member?: string | null }[] };
  process_object: { dispatcher_type: number; dispatcher_size: number; header_signature_hex: string };
  pid_rules: { multiple_of: number; system_pid: number };
  links: Record<string, string | string[] | { head: string; entry: string }>;
  image_file_name: { member: string; length: number };
  vad: { root_member: string; note: string };
  address_space: { paging: string; dtb_member: string; pml4_self_ref_index?: string | null; pml4_self_ref_fixed?: boolean };
}

/** Resolve '_TYPE.member.path' or a path relative to _EPROCESS. */
function resolvePath(isf: Isf, p: string) {
  if (p.startsWith('_')) {
    const dot = p.indexOf('.');
    return resolve(isf, p.slice(0, dot), p.slice(dot + 1));
  }
  return resolve(isf, '_EPROCESS', p);
}

describe.each(BUILDS)('Windows layout pack $id', ({ id, pointer, expect: want }) => {
  const isf = readJson<Isf>(`${id}.isf.json`);
  const facts = readJson<Facts>(`${id}.facts.json`);

  it('follows the ISF 6.x schema rules (no keys Volatility 3 would reject)', () => {
    expect(schemaErrors(isf)).toEqual([]);
    expect(isf.base_types.pointer?.size).toBe(pointer);
  });

  it('cites its source in the metadata', () => {
    const producer = isf.metadata.producer as { source: { layout: { repository: string; commit: string; path: string } } };
    expect(producer.source.layout.repository).toMatch(/^[\w.-]+\/[\w.-]+$/);
    expect(producer.source.layout.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(producer.source.layout.path.length).toBeGreaterThan(0);
    const win = isf.metadata.windows as { pdb?: { GUID: string; age: number; machine_type: number } };
    if (win.pdb !== undefined) {
      expect(win.pdb.GUID).toMatch(/^[0-9A-F]{32}$/);
      expect(win.pdb.machine_type).toBe(0x8664); // IMAGE_FILE_MACHINE_AMD64
    }
  });

  it('is internally consistent: references resolve, members fit, overlaps only nest', () => {
    expect(consistencyErrors(isf)).toEqual([]);
  });

  it.each(Object.entries(want.sizes))('sizeof(%s) matches its source', (type, [size]) => {
    expect(isf.user_types[type]?.size).toBe(size);
  });

  it.each(want.offsets)('%s.%s is at %i (%s)', (type, member, offset) => {
    expect(resolve(isf, type, member).offset).toBe(offset);
  });

  it('ImageFileName is a UCHAR array of the right length', () => {
    const t = resolve(isf, '_EPROCESS', 'ImageFileName').type;
    expect(t).toEqual({ kind: 'array', count: want.imageFileNameLength, subtype: { kind: 'base', name: 'unsigned char' } });
    expect(facts.image_file_name.length).toBe(want.imageFileNameLength);
  });

  it('pins the _POOL_HEADER bitfields', () => {
    for (const [m, [bit, len]] of Object.entries(want.poolBits)) {
      expect(absoluteBit(isf, '_POOL_HEADER', m), m).toEqual({ bit, length: len });
    }
    expect(resolve(isf, '_POOL_HEADER', 'PoolTag').size).toBe(4);
  });

  it('keeps every _EPROCESS and _KPROCESS member, in order, inside the struct', () => {
    for (const t of ['_EPROCESS', '_KPROCESS']) {
      const fields = Object.values(isf.user_types[t]!.fields);
      expect(fields.length).toBeGreaterThan(t === '_EPROCESS' ? 60 : 20);
      const offsets = fields.map((f) => f.offset);
      expect([...offsets].sort((a, b) => a - b)).toEqual(offsets);
    }
  });

  it('facts agree with the layout', () => {
    expect(facts.schema).toBe('kcarve-winfacts/1');
    expect(facts.isf).toBe(`${id}.isf.json`);
    expect(facts.pointer_size).toBe(pointer);
    expect(facts.pool.header_size).toBe(isf.user_types._POOL_HEADER!.size);
    // Pool blocks are 8-byte units on 32-bit and 16-byte units on 64-bit
    // Windows (Volatility 3 pool.py: alignment by symbol-table bitness).
    expect(facts.pool.granularity).toBe(pointer * 2);
    expect(facts.pool.block_size_unit).toBe(facts.pool.granularity);
    expect(facts.object_header.body_offset).toBe(resolve(isf, '_OBJECT_HEADER', 'Body').offset);
    expect(resolve(isf, '_OBJECT_HEADER', facts.object_header.type_member).offset).toBeGreaterThan(0);
    for (const h of facts.object_header.optional_headers) {
      expect(isf.user_types[h.type], h.type).toBeDefined();
      if (h.offset_member) expect(resolve(isf, '_OBJECT_HEADER', h.offset_member).size).toBe(1);
    }
    if (facts.object_header.optional_header_rule === 'info-mask') {
      // bits are 1, 2, 4, ... in order, one per header
      expect(facts.object_header.optional_headers.map((h) => h.bit)).toEqual(
        facts.object_header.optional_headers.map((_, i) => 1 << i));
      expect(resolve(isf, '_OBJECT_HEADER', 'InfoMask').size).toBe(1);
    }
    for (const [name, p] of Object.entries(facts.links)) {
      const paths = typeof p === 'string' ? [p] : Array.isArray(p) ? p : [p.head, p.entry];
      for (const one of paths) expect(() => resolvePath(isf, one), `${name}: ${one}`).not.toThrow();
    }
    expect(() => resolvePath(isf, facts.address_space.dtb_member)).not.toThrow();
    expect(() => resolvePath(isf, facts.vad.root_member)).not.toThrow();
    expect(() => resolvePath(isf, facts.image_file_name.member)).not.toThrow();
  });

  it('the process pool tag bytes follow from the tag and its protected bit', () => {
    const tag = facts.pool.process_tag;
    const le = Buffer.from(tag.ascii, 'latin1').readUInt32LE(0);
    const u32 = tag.protected ? (le | 0x80000000) >>> 0 : le;
    expect(BigInt(tag.u32)).toBe(BigInt(u32));
    const b = Buffer.alloc(4);
    b.writeUInt32LE(u32, 0);
    expect(b.toString('hex')).toBe(tag.bytes_hex);
  });

  it('the process DISPATCHER_HEADER signature matches Type/Size and sizeof(_KPROCESS)', () => {
    const po = facts.process_object;
    expect(po.dispatcher_type).toBe(3); // ProcessObject (GC ke/kprocess)
    const type = resolve(isf, '_EPROCESS', 'Pcb.Header.Type');
    const size = resolve(isf, '_EPROCESS', 'Pcb.Header.Size');
    expect([type.size, size.size]).toEqual([1, 1]);
    const sig = Buffer.from(po.header_signature_hex, 'hex');
    expect(sig[type.offset]).toBe(po.dispatcher_type);
    expect(sig[size.offset]).toBe(po.dispatcher_size);
    const units = isf.user_types._KPROCESS!.size / 4;
    if (units <= 0xff) expect(po.dispatcher_size).toBe(units);
    // 19041: 0x438 / 4 = 0x10e does not fit the UCHAR; Volatility 2's DTB
    // signature for build >= 19041 records 0 there.
    else expect(po.dispatcher_size).toBe(0);
  });

  it('PID rules', () => {
    expect(facts.pid_rules.multiple_of).toBe(4);
    expect(facts.pid_rules.system_pid % facts.pid_rules.multiple_of).toBe(0);
  });
});

describe('per-build facts that differ between the packs', () => {
  const f = Object.fromEntries(BUILDS.map((b) => [b.id, readJson<Facts>(`${b.id}.facts.json`)]));
  it('pool tag is protected (Pro\\xe3) before Windows 8 only', () => {
    expect(f.winxpsp2x86!.pool.process_tag.bytes_hex).toBe('50726fe3');
    expect(f.win7sp1x64!.pool.process_tag.bytes_hex).toBe('50726fe3');
    expect(f.win10x64_19041!.pool.process_tag.bytes_hex).toBe('50726f63');
  });
  it('object type: pointer on XP, index on Win7, cookie-encoded index on Win10; Process is 7', () => {
    expect(f.winxpsp2x86!.object_header.type_encoding).toBe('pointer');
    expect(f.win7sp1x64!.object_header.type_encoding).toBe('index');
    expect(f.win10x64_19041!.object_header.type_encoding).toBe('index-cookie');
    expect(f.win7sp1x64!.object_header.process_type_index).toBe(7);
    expect(f.win10x64_19041!.object_header.process_type_index).toBe(7);
  });
  it('address space: PAE on XP, fixed PML4 self-map 0x1ed on Win7, randomized on Win10', () => {
    expect(f.winxpsp2x86!.address_space.paging).toBe('x86-pae');
    expect(f.win7sp1x64!.address_space.pml4_self_ref_index).toBe('0x1ed');
    expect(f.win7sp1x64!.address_space.pml4_self_ref_fixed).toBe(true);
    expect(f.win10x64_19041!.address_space.pml4_self_ref_fixed).toBe(false);
  });
});

describe('the pack checks can fail', () => {
  const isf = readJson<Isf>('win7sp1x64.isf.json');
  const clone = (): Isf => structuredClone(isf);
  it('an extra metadata key breaks the schema rules', () => {
    const bad = clone();
    bad.metadata.kcarve = {};
    expect(schemaErrors(bad)).toContain('metadata: unexpected key kcarve');
  });
  it('a bad kind breaks the schema rules', () => {
    const bad = clone();
    (bad.user_types._EX_FAST_REF!.fields.Value!.type as TypeDesc & { kind: string }).kind = 'pointer64';
    expect(schemaErrors(bad).some((e) => e.includes('_EX_FAST_REF.Value'))).toBe(true);
  });
  it('a member past the end, a dangling type and a straddling member are caught', () => {
    const bad = clone();
    bad.user_types._CLIENT_ID!.fields.UniqueThread!.offset = 0xc;
    bad.user_types._LIST_ENTRY!.fields.Flink!.type = { kind: 'pointer', subtype: { kind: 'struct', name: '_NO_SUCH' } };
    bad.user_types._EPROCESS!.fields.ExitTime!.offset = 0x16c; // straddles CreateTime
    const errs = consistencyErrors(bad);
    expect(errs.some((e) => e.startsWith('_CLIENT_ID.UniqueThread') && e.includes('outside'))).toBe(true);
    expect(errs).toContain('_LIST_ENTRY.Flink: type _NO_SUCH undefined');
    expect(errs.some((e) => e.includes('ExitTime') && e.includes('overlap without nesting'))).toBe(true);
  });
});
