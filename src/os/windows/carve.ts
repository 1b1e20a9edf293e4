// An _EPROCESS carved into a process record (names as in the truth schema: pid is
// UniqueProcessId, ppid InheritedFromUniqueProcessId, comm ImageFileName), with the
// evidence that the process has exited.
//
// Exit evidence, each item measured on the synthetic worlds of all three builds
// (bench/windows-scan.ts prints the table; test/os-windows-carve.test.ts pins it) to fire
// on every terminated or freed process and on no live or hidden one:
// - ExitTime set: PspExitProcess stamps it; a running process has 0 (facts time).
// - ObjectTable NULL: the handle table is destroyed at exit (ObKillProcess); every
//   running process, System included, has one.
// - both thread lists empty and ActiveThreads 0: the last thread has left.
// - the pool block is free (PoolType 0) or the headers in front of the body no longer
//   describe a block holding it (the block was freed and its front reused).
// Not used, because hidden processes show them too: ActiveProcessLinks pointing to itself
// (DKOM's "self" unlink) or stale, a pool tag other than the process tag (the pool-tag
// attack), and a page-table root without a self-map is only evidence when the object
// has exited anyway.
import { type PhysAddr, phys } from '../../addr.js';
import type { KernelSpace } from '../../signatures/edges.js';
import type { Signature } from '../../signatures/load.js';
import type { ProcessRecord } from '../types.js';
import { type WinModel, readMember, readPtr, readSmall, readUint, winModel } from './model.js';
import { poolBlockOf } from './pool-object.js';

/** 100 ns ticks from 1601-01-01 to 1970-01-01 (FILETIME epoch, facts time.unit). */
const FILETIME_UNIX_EPOCH = 116_444_736_000_000_000n;

/** A FILETIME as an ISO date for messages (undefined when outside Date's range). */
export function filetimeText(ft: bigint): string {
  const ms = (ft - FILETIME_UNIX_EPOCH) / 10_000n;
  const d = new Date(Number(ms));
  return Number.isNaN(d.getTime()) ? `FILETIME ${ft}` : d.toISOString();
}

/** ImageFileName up to its NUL, bytes as Latin-1 (what the kernel stores is 8-bit). */
export function imageName(bytes: Uint8Array, m: WinModel): string {
  const { offset, size } = m.ep.name;
  let s = '';
  for (let i = 0; i < size; i += 1) {
    const b = bytes[offset + i]!;
    if (b === 0) break;
    s += String.fromCharCode(b);
  }
  return s;
}

/** Does the LIST_ENTRY at `off` of the object (VA `va`) point to itself both ways? */
function emptyList(bytes: Uint8Array, off: number, va: bigint | undefined, m: WinModel): boolean {
  if (va === undefined) return false;
  const self = va + BigInt(off);
  return readPtr(bytes, off, m.ptr) === self && readPtr(bytes, off + m.ptr, m.ptr) === self;
}

/** The exit evidence of an _EPROCESS (see the file comment). */
export function exitEvidence(m: WinModel, bytes: Uint8Array, pa: PhysAddr, va: bigint | undefined, space: KernelSpace): string[] {
  const out: string[] = [];
  const exit = readUint(bytes, m.ep.exitTime, 8);
  if (exit !== 0n) out.push(`ExitTime set (${filetimeText(exit)})`);
  if (readPtr(bytes, m.ep.objectTable, m.ptr) === 0n) out.push('ObjectTable NULL (handle table destroyed)');
  if (readSmall(bytes, 0, m.ep.activeThreads) === 0 && emptyList(bytes, m.ep.threadListHead, va, m) && emptyList(bytes, m.ep.pcbThreadListHead, va, m)) {
    out.push('no threads: ActiveThreads 0, both thread lists empty');
  }
  const block = poolBlockOf(m, space, pa);
  if (block !== undefined && block.consistent && block.poolType === 0) out.push('its pool block is free (PoolType 0)');
  else if (block === undefined || !block.consistent) out.push('no pool block in front of it holds it (freed, its front reused)');
  return out;
}

export function carveProcess(sig: Signature, bytes: Uint8Array, pa: PhysAddr, space: KernelSpace): Omit<ProcessRecord, 'edges' | 'confidence'> {
  const m = winModel(sig.layout);
  const va = space.virtOfPhys(pa);
  const pid = readSmall(bytes, 0, m.ep.pid);
  const exitTime = readUint(bytes, m.ep.exitTime, 8);
  const dtbRaw = readMember(bytes, 0, { offset: m.ep.dtb.offset, size: m.ep.dtb.size });
  const dtbPa = m.ptr === 4 ? dtbRaw & 0xffff_ffe0n : dtbRaw & 0x000f_ffff_ffff_f000n;
  return {
    pa,
    ...(va === undefined ? {} : { va }),
    pid,
    tgid: pid,
    ppid: readSmall(bytes, 0, m.ep.ppid),
    comm: imageName(bytes, m),
    startTime: readUint(bytes, m.ep.createTime, 8),
    exitTime,
    state: exitTime === 0n ? 'running' : 'terminated',
    ...(dtbPa === 0n ? {} : { dtb: phys(dtbPa) }),
    leader: true,
    exitEvidence: exitEvidence(m, bytes, pa, va, space),
  };
}
