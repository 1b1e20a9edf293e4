// Handle tables: a _HANDLE_TABLE's TableCode names a page of _HANDLE_TABLE_ENTRY (level
// 0) or a page of pointers to such pages (level 1; level 2 above that), the level in its
// low bits; handle h is entry h/4 of the whole array (Volatility 3
// framework/plugins/windows/handles.py, Handles.handles/_make_handle_array @ a1961401,
// level mask 7; Volatility 2 overlays/windows/windows.py, citing Russinovich).
// An entry's object pointer, per build (the layout's _HANDLE_TABLE_ENTRY):
// - XP, 7: `Object` with attribute / lock bits 0..2 (Volatility masks ~7);
// - 19041: `ObjectPointerBits` (bits 20..63) hold the address shifted right by 4; the
//   kernel-half address is restored by sign-extending bit 47.
// Entries of a process's ObjectTable point at _OBJECT_HEADERs, entries of PspCidTable at
// object bodies (EPROCESS / ETHREAD; Volatility 2 malware/psxview.py, win8.py).
import { type VirtAddr, virt } from '../../addr.js';
import { InvalidAddressError } from '../../errors.js';
import type { WindowsKernelSpace } from './kernel-space.js';
import { type WinModel, readMember, readPtr } from './model.js';

export const PAGE = 4096;

/** Decode the object pointer of entry `index` of a level-0 page (0 for a free entry). */
export function entryObject(m: WinModel, page: Uint8Array, index: number): bigint {
  const at = index * m.ht.entrySize;
  if (m.ht.objectPointerBits !== undefined) {
    const bits = readMember(page, at, m.ht.objectPointerBits);
    if (bits === 0n) return 0n;
    const va = bits << 4n;
    return va & (1n << 47n) ? va | 0xffff_0000_0000_0000n : va;
  }
  return readMember(page, at, m.ht.object!) & ~7n;
}

export interface HandleEntry {
  handle: number;
  object: VirtAddr;
}

export interface TableWalk {
  entries: HandleEntry[];
  /** Pages that could not be read (the walk goes on without them). */
  unreadable: number;
}

/** Entries per level-0 page. */
export function entriesPerPage(m: WinModel): number {
  return PAGE / m.ht.entrySize;
}

/** Every non-free entry of the _HANDLE_TABLE at `table`, at most `limit` of them. */
export function walkHandleTable(m: WinModel, space: WindowsKernelSpace, table: bigint, limit = 1 << 20): TableWalk {
  const code = readPtr(space.readVirt(virt(table + BigInt(m.ht.tableCode)), m.ptr), 0, m.ptr);
  const levels = Number(code & 7n);
  const base = code & ~7n;
  const per = entriesPerPage(m);
  const ptrs = PAGE / m.ptr;
  const out: TableWalk = { entries: [], unreadable: 0 };
  const read = (va: bigint): Uint8Array | undefined => {
    if (!m.isKernel(va)) return undefined;
    try {
      return space.readVirt(virt(va), PAGE);
    } catch (err) {
      if (err instanceof InvalidAddressError) {
        out.unreadable += 1;
        return undefined;
      }
      throw err;
    }
  };
  const leaf = (va: bigint, first: number): void => {
    const page = read(va);
    if (page === undefined) return;
    for (let i = 0; i < per && out.entries.length < limit; i += 1) {
      const object = entryObject(m, page, i);
      if (object !== 0n && m.isKernel(object)) out.entries.push({ handle: (first + i) * 4, object: virt(object) });
    }
  };
  const level = (va: bigint, depth: number, first: number): void => {
    if (depth === 0) return leaf(va, first);
    const page = read(va);
    if (page === undefined) return;
    const span = per * ptrs ** (depth - 1);
    for (let k = 0; k < ptrs && out.entries.length < limit; k += 1) {
      const sub = readPtr(page, k * m.ptr, m.ptr);
      if (sub !== 0n) level(sub, depth - 1, first + k * span);
    }
  };
  if (levels > 2) throw new InvalidAddressError('virtual', table, `TableCode ${code.toString(16)} names ${levels} levels (at most 2 exist)`);
  level(base, levels, 0);
  return out;
}
