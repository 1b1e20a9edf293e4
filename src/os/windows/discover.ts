// Windows kernel address space from an image alone (issue 5, item 3):
//   1. the kernel DTB: the page-table roots the scan's bodies name in
//      Pcb.DirectoryTableBase are tested for the self-map (./self-map.ts); each root that
//      has one is validated by translating the bodies' own pointers (ThreadListHead.Flink
//      → the first thread's ThreadListEntry.Blink must lead back to the body's own
//      ThreadListHead, an empty list's Flink to itself). Every process's root carries the
//      kernel half, so several validate equally; the kernel's own (System's) is the one
//      with an empty user half. Without any (a signature that reads no DTB), x64 images
//      are searched page by page for a PML4 that maps itself.
//   2. the paging mode: the layout's pointer size (4: PAE, 8: 4-level; facts paging).
//   3. PsActiveProcessHead: from symbols when given, else from the bodies (./list-walk.ts).
// Symbols and a truth file's values (DiscoveryHints) are used when given, checked, and
// never required.
import { type PhysAddr, hex, phys } from '../../addr.js';
import { ImageFormatError, LayoutError } from '../../errors.js';
import type { PhysicalReader } from '../../layers/physical.js';
import type { Signature } from '../../signatures/load.js';
import type { DiscoveryHints, KernelSpaceInfo } from '../types.js';
import { bodiesOfHits } from './bodies.js';
import { WindowsKernelSpace } from './kernel-space.js';
import { findListHead, walkFromHead } from './list-walk.js';
import { type WinModel, readMember, readPtr, readUint, winModel } from './model.js';
import { type SelfMap, paeSelfMap, rootOf, x64SelfMap } from './self-map.js';

/** Bodies discovery looks at, at most (a scan with more hits learns nothing new from the rest). */
const MAX_BODIES = 4096;
/** Distinct DirectoryTableBase values tested for a self-map, most common first. */
const MAX_DTBS = 256;
/** Bodies each DTB is validated on. */
const VALIDATE_SAMPLE = 64;
/** Roots validated at a time, kernel-like first. */
const VALIDATE_BATCH = 4;

interface DtbChoice {
  dtb: bigint;
  map: SelfMap;
  /** Bodies whose ThreadListHead translates consistently through it. */
  validated: number;
  /** Bodies naming it, and how many of them have not exited (ExitTime 0). */
  named: number;
  running: number;
}

function selfMapOf(m: WinModel, image: PhysicalReader, dtb: bigint): SelfMap | undefined {
  if (m.ptr === 4) {
    const pteBase = m.facts.address_space.pte_base;
    if (pteBase === undefined) throw new LayoutError(m.facts.file, undefined, undefined, 'a PAE build needs address_space.pte_base (the self-map window)');
    return paeSelfMap(image, dtb, BigInt(pteBase));
  }
  return x64SelfMap(image, dtb);
}

function spaceFor(m: WinModel, image: PhysicalReader, dtb: bigint, map: SelfMap): WindowsKernelSpace {
  return new WindowsKernelSpace(image, m.pointerMode, rootOf(dtb, m.ptr === 4), m.kernelStart, { start: map.start, end: map.end });
}

/** How many of `bodies` have a ThreadListHead that translates back to itself through `space`. */
export function validateOnBodies(m: WinModel, space: WindowsKernelSpace, bodies: readonly PhysAddr[]): number {
  let ok = 0;
  const step = Math.max(1, Math.floor(bodies.length / VALIDATE_SAMPLE));
  for (let i = 0; i < bodies.length; i += step) {
    const head = bodies[i]! + m.ep.threadListHead;
    let flink: bigint;
    try {
      flink = readPtr(space.readPhys(head as PhysAddr, m.ptr), 0, m.ptr);
    } catch {
      continue;
    }
    if (!m.isKernel(flink)) continue;
    const first = space.tryTranslate(flink);
    if (first === undefined) continue;
    let blink: bigint;
    try {
      blink = readPtr(space.readPhys((first + m.ptr) as PhysAddr, m.ptr), 0, m.ptr);
    } catch {
      continue;
    }
    if (space.tryTranslate(blink) === head) ok += 1;
  }
  return ok;
}

/** Kernel-like first: an empty user half (System's), then roots of running processes, then the most named. */
function preferred(a: Omit<DtbChoice, 'validated'>, b: Omit<DtbChoice, 'validated'>): number {
  // A terminated process keeps an empty user half too: prefer roots of running processes.
  return a.map.userEntries - b.map.userEntries || b.running - a.running || b.named - a.named || (a.dtb < b.dtb ? -1 : 1);
}

/** x64 fallback: every page of the image, tested for a PML4 that maps itself. */
function scanForPml4s(image: PhysicalReader, limit: number): bigint[] {
  const out: bigint[] = [];
  const page = new Uint8Array(4096);
  const e = new BigUint64Array(page.buffer);
  for (const r of image.runs) {
    const first = Math.ceil(r.paddr / 4096) * 4096;
    for (let pa = first; pa + 4096 <= r.paddr + r.length && out.length < limit; pa += 4096) {
      image.readPhysInto(phys(pa), page);
      const self = BigInt(pa) | 1n;
      for (let i = 256; i < 512; i += 1) {
        // Present, and the frame is this page (flag bits 1..11 and 63 may vary).
        if ((e[i]! & 0x000f_ffff_ffff_f001n) === self) {
          out.push(BigInt(pa));
          break;
        }
      }
    }
  }
  return out;
}

export function discoverWindows(image: PhysicalReader, sig: Signature, candidates: readonly PhysAddr[], hints: DiscoveryHints): KernelSpaceInfo {
  const m = winModel(sig.layout);
  const evidence: string[] = [];
  if (hints.pagingLevels !== undefined && hints.pagingLevels !== m.pagingLevels) {
    evidence.push(`the hints say ${hints.pagingLevels}-level paging; the ${m.facts.build} layout has ${m.pagingLevels} levels, which is used`);
  }
  const bodies = bodiesOfHits(m, sig, image, candidates, MAX_BODIES);
  let validatedRoots = 0;
  const validate = (c: Omit<DtbChoice, 'validated'>): DtbChoice => {
    validatedRoots += 1;
    return { ...c, validated: validateOnBodies(m, spaceFor(m, image, c.dtb, c.map), bodies) };
  };
  const mapped = (dtb: bigint, named: number, running: number): Omit<DtbChoice, 'validated'> | undefined => {
    const map = selfMapOf(m, image, dtb);
    return map === undefined ? undefined : { dtb, map, named, running };
  };
  /**
   * Every process root carries the same kernel half, so validating all of them repeats
   * one answer: roots are validated kernel-like first, a batch at a time, and the first
   * batch where any validates gives the choice (most validated, then preference).
   */
  const pick = (roots: Omit<DtbChoice, 'validated'>[]): DtbChoice | undefined => {
    const order = [...roots].sort(preferred);
    for (let i = 0; i < order.length; i += VALIDATE_BATCH) {
      const batch = order.slice(i, i + VALIDATE_BATCH).map(validate);
      const best = batch.filter((c) => c.validated > 0).sort((a, b) => b.validated - a.validated)[0];
      if (best !== undefined) return best;
    }
    return undefined;
  };

  let chosen: DtbChoice | undefined;
  let roots: Omit<DtbChoice, 'validated'>[] = [];
  if (hints.dtb !== undefined) {
    const hinted = mapped(BigInt(hints.dtb), 0, 0);
    chosen = hinted === undefined ? undefined : validate(hinted);
    if (chosen !== undefined) evidence.push(`kernel DTB ${hex(hints.dtb)} from the hints (its self-map checks out; ${chosen.validated} of ${Math.min(bodies.length, VALIDATE_SAMPLE)} sampled objects translate through it)`);
    else evidence.push(`the hinted DTB ${hex(hints.dtb)} has no ${m.ptr === 4 ? 'PAE' : 'PML4'} self-map; ignored`);
  }
  if (chosen === undefined) {
    const named = new Map<bigint, { n: number; running: number }>();
    for (const b of bodies) {
      let dtb: bigint;
      let exit: bigint;
      try {
        dtb = readMember(image.readPhys(phys(b + m.ep.dtb.offset), m.ep.dtb.size), 0, { offset: 0, size: m.ep.dtb.size });
        exit = readUint(image.readPhys(phys(b + m.ep.exitTime), 8), 0, 8);
      } catch {
        continue;
      }
      if (dtb === 0n) continue;
      const v = named.get(dtb) ?? { n: 0, running: 0 };
      v.n += 1;
      if (exit === 0n) v.running += 1;
      named.set(dtb, v);
    }
    const ranked = [...named].sort((a, b) => b[1].n - a[1].n || (a[0] < b[0] ? -1 : 1)).slice(0, MAX_DTBS);
    roots = ranked.map(([dtb, v]) => mapped(dtb, v.n, v.running)).filter((c): c is Omit<DtbChoice, 'validated'> => c !== undefined);
    chosen = pick(roots);
    if (chosen !== undefined) {
      evidence.push(
        `kernel DTB ${hex(chosen.dtb)}: one of ${roots.length} DirectoryTableBase value(s) of ${bodies.length} scanned object(s) with a ` +
          `${m.ptr === 4 ? 'PAE page-directory self-map' : `PML4 self-reference at index ${hex(chosen.map.index)}`}; ` +
          `${chosen.validated} sampled object(s) translate their own ThreadListHead through it` +
          (roots.length > 1 ? `; it maps no user space (${chosen.map.userEntries} user entries), as the System process's root does, and belongs to a running process` : ''),
      );
    }
  }
  if (chosen === undefined && m.ptr === 8) {
    const t0 = performance.now();
    const found = scanForPml4s(image, MAX_DTBS);
    roots = found.map((dtb) => mapped(dtb, 0, 0)).filter((c): c is Omit<DtbChoice, 'validated'> => c !== undefined);
    chosen = pick(roots);
    if (chosen === undefined && bodies.length === 0 && roots.length > 0) chosen = { ...[...roots].sort(preferred)[0]!, validated: 0 };
    if (chosen !== undefined) {
      evidence.push(
        `kernel DTB ${hex(chosen.dtb)}: found by reading every page for a self-referencing PML4 (${found.length} found, ` +
          `${((performance.now() - t0) / 1000).toFixed(2)} s); ${chosen.validated} sampled object(s) translate through it`,
      );
    }
  }
  if (chosen === undefined) {
    throw new ImageFormatError(
      image.path,
      undefined,
      `no Windows ${m.facts.build} kernel page-table root found: ${bodies.length} scanned object(s) named ${roots.length} root(s) with a self-map, ` +
        `none translating their own pointers` + (m.ptr === 4 ? ' (XP PAE roots are found only from the objects; pass --truth or a DTB hint)' : ''),
    );
  }
  evidence.push(`${validatedRoots} root(s) validated on up to ${VALIDATE_SAMPLE} objects each`);

  const space = spaceFor(m, image, chosen.dtb, chosen.map);
  const info: KernelSpaceInfo = {
    os: 'windows',
    pointerMode: m.pointerMode,
    pagingLevels: m.pagingLevels,
    dtb: hex(rootOf(chosen.dtb, m.ptr === 4)),
    evidence,
    windows: {
      kernelStart: hex(m.kernelStart),
      selfMap: { index: chosen.map.index, start: hex(chosen.map.start), end: hex(chosen.map.end) },
    },
  };

  // PsActiveProcessHead.
  const symbol = hints.symbols?.get('PsActiveProcessHead');
  let head: bigint | undefined;
  if (symbol !== undefined) {
    const walk = walkFromHead(m, space, symbol);
    if (walk.stoppedBecause === undefined) {
      head = symbol;
      evidence.push(`PsActiveProcessHead ${hex(symbol)} from the symbols (its ring of ${walk.entries.length} closes)`);
    } else {
      evidence.push(`the PsActiveProcessHead symbol ${hex(symbol)} does not lead to a closed ring (${walk.stoppedBecause}); searching from the objects`);
    }
  }
  if (head === undefined) {
    const found = findListHead(m, space, bodies);
    if (found.head !== undefined) {
      head = found.head;
      evidence.push(`PsActiveProcessHead ${hex(found.head)}: the first non-object entry ${found.votes} of ${found.voters} scanned object(s) reach along ActiveProcessLinks`);
    } else {
      evidence.push(`PsActiveProcessHead not found (${found.voters} object(s) led off their ring${found.notes.length > 0 ? `: ${found.notes.join('; ')}` : ''})`);
    }
  }
  if (head !== undefined) info.windows!.listHead = hex(head);
  const cid = hints.symbols?.get('PspCidTable');
  if (cid !== undefined) {
    info.windows!.pspCidTable = hex(cid);
    evidence.push(`PspCidTable ${hex(cid)} from the symbols`);
  }
  return info;
}
