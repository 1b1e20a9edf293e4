// What the OS-neutral scan pipeline asks of an operating system (src/os/linux,
// src/os/windows): find the kernel's address space, carve a hit into a process
// record, and walk the kernel's own process list. Everything crossing into a
// worker thread is plain data (KernelSpaceInfo), rebuilt there with
// kernelSpace().
import type { PhysAddr, VirtAddr } from '../addr.js';
import type { PhysicalReader } from '../layers/physical.js';
import type { EdgeResult, KernelSpace } from '../signatures/edges.js';
import type { Signature } from '../signatures/load.js';
import type { PointerMode } from '../signatures/program.js';

export type OsName = 'linux' | 'windows';

/**
 * The kernel address space as found in an image, in plain data (structured-clone
 * safe). Fields are hex strings where they hold 64-bit values.
 */
export interface KernelSpaceInfo {
  os: OsName;
  pointerMode: PointerMode;
  /** 4 or 5 (x86-64), 3 for x86 PAE. */
  pagingLevels: number;
  /** Physical address of the kernel page-table root (Linux init_top_pgt, Windows kernel DTB). */
  dtb?: string;
  /** Linux: start of the direct map (PA 0), hex. */
  pageOffsetBase?: string;
  /** Linux: kernel image virtual address minus physical address, hex (bigint delta). */
  kernelImageDelta?: string;
  /** How each value was found (symbols, truth file, self-pointers, CR3 note ...), for the report. */
  evidence: string[];
  /** Linux specifics found by discovery. */
  linux?: LinuxSpaceInfo;
  /** Windows specifics found by discovery. */
  windows?: WindowsSpaceInfo;
}

/** What Linux discovery finds beyond the address space itself (plain data, hex strings). */
export interface LinuxSpaceInfo {
  /**
   * init_task, whose `tasks` list is the kernel's process list, when found: its VA
   * (in the kernel image, not the direct map), PA and size in bytes.
   */
  initTask?: { va: string; pa: string; size: number };
  /**
   * The task_struct cache's SLUB free pointer: its offset in the object, the
   * CONFIG_SLAB_FREELIST_HARDENED key (s->random; absent when not hardened), the slot
   * stride, and how many scan candidates decoded plausibly under it.
   */
  freelist?: { offset: number; key?: string; stride?: number; support: number };
}

/** What Windows discovery finds beyond the page-table root (plain data, hex strings). */
export interface WindowsSpaceInfo {
  /** Lowest kernel-half VA of the build. */
  kernelStart: string;
  /** The self-map: PML4 index (x64) or 3 (PAE), and the VA window the page tables appear at. */
  selfMap: { index: number; start: string; end: string };
  /** VA of the process list head (nt!PsActiveProcessHead), when found. */
  listHead?: string;
  /** VA of the nt!PspCidTable variable (a pointer to the CID handle table), when given by symbols. */
  pspCidTable?: string;
}

/** Names and addresses the user may supply; discovery must work without them. */
export interface DiscoveryHints {
  /** A symbol layout (ISF with symbols) or System.map-derived addresses. */
  symbols?: Map<string, bigint>;
  /** Values taken from a truth file (tests, `--truth`). */
  pageOffsetBase?: bigint;
  dtb?: PhysAddr;
  pagingLevels?: number;
}

/** One carved process object. Names follow the truth schema where they overlap. */
export interface ProcessRecord {
  /** Physical address of the object (what a scan reports; truth matches on it). */
  pa: PhysAddr;
  va?: VirtAddr;
  pid?: number;
  tgid?: number;
  ppid?: number;
  comm?: string;
  /** Linux start_time / Windows CreateTime, raw units of the OS (ns since boot / FILETIME). */
  startTime?: bigint;
  /** Windows ExitTime (FILETIME); 0 when not exited. */
  exitTime?: bigint;
  /** OS-specific state text (`R`, `S`, `Z`, `X (dead)`, `terminated` ...). */
  state?: string;
  /** OS-specific process flags (Linux task_struct.flags, PF_*). */
  flags?: number;
  /** Page-table root of the process, when its address space is reachable. */
  dtb?: PhysAddr;
  /** Linux: thread-group leader. Windows: always true. */
  leader?: boolean;
  /** Signals the carver read that speak for "this object is freed / exited". */
  exitEvidence?: string[];
  /**
   * Fields whose value disagrees with what the kernel's own objects say (a rewritten
   * pid that its struct pid contradicts, ...): signs of an attacker, never of exit.
   */
  tampered?: string[];
  /** Indexes of value constraints that held (all do for a scan hit). */
  constraintsHeld?: number;
  edges: EdgeResult[];
  /** The signature's score in 0..1. */
  confidence: number;
}

export interface ListWalkEntry {
  pa: PhysAddr;
  va: VirtAddr;
}

export interface ListWalkResult {
  /** Objects reached from the list head, in list order. */
  entries: ListWalkEntry[];
  /** Why the walk stopped early, if it did (cycle, unreadable link, length guard). */
  stoppedBecause?: string;
}

/** A source of "this object is a process the kernel knows about" other than the scan. */
export interface ViewResult {
  /** `tasks-list`, `thread-lists`, `pid-links`, `children`, `ActiveProcessLinks`, `ThreadListHead` ... */
  name: string;
  /** Objects this source reaches, by physical address. */
  pas: PhysAddr[];
  /** Why the source stopped early or could not be used, if so. */
  note?: string;
}

export interface OsSupport {
  os: OsName;
  /**
   * Find the kernel address space from the image, the value-constraint hits of a
   * scan, and any hints. Throws a KcarveError naming what could not be found.
   */
  discover(image: PhysicalReader, sig: Signature, candidates: readonly PhysAddr[], hints: DiscoveryHints): KernelSpaceInfo;
  /** Rebuild a usable address space from its plain description (in any thread). */
  kernelSpace(image: PhysicalReader, info: KernelSpaceInfo): KernelSpace;
  /** Decode an object's bytes (at least sizeOf(target type)) into a process record. */
  carve(sig: Signature, bytes: Uint8Array, pa: PhysAddr, space: KernelSpace): Omit<ProcessRecord, 'edges' | 'confidence'>;
  /**
   * Signatures with `scan.locate` scan one type and carve another (a pool header in
   * front of an _EPROCESS): the physical address of the target object for the scanned
   * hit at `pa`, or undefined when the hit leads to none. Needed only by an OS whose
   * signatures use `scan`; the scan engine refuses such a signature without it.
   */
  locate?(sig: Signature, pa: PhysAddr, space: KernelSpace): PhysAddr | undefined;
  /** Walk the kernel's own process list from its head, with cycle and length guards. */
  walkList(image: PhysicalReader, sig: Signature, space: KernelSpace, info: KernelSpaceInfo, hints: DiscoveryHints): ListWalkResult;
  /**
   * Other views the kernel keeps (Linux thread lists, pid links, children lists;
   * Windows thread lists, PspCidTable), starting from the list walk and the scan's
   * records. The list walk itself is view `list` and need not be repeated.
   */
  views(image: PhysicalReader, sig: Signature, space: KernelSpace, info: KernelSpaceInfo, walk: ListWalkResult, records: readonly ProcessRecord[]): ViewResult[];
}
