// Linux kernel address-space discovery from an image and a scan's candidates,
// with no symbols needed (hints are used when given):
//
//  1. page_offset_base: the consensus of the candidates' self-pointers (./self-pointers.ts).
//  2. the page-table root and 4- vs 5-level paging: roots from the hint, the CPU
//     notes of a QEMU ELF core (CR3; CR4.LA57 tells 5-level), and the candidates'
//     mm->pgd read through the direct map; a root counts when it maps the direct-map
//     base back to PA 0 and candidates' VAs to their PAs (./page-tables.ts).
//  3. the kernel image: its mappings under that root give the image offset (VA − PA)
//     and its physical extent; among its pages, init_top_pgt itself.
//  4. init_task: from the `init_task` symbol, or the pid-0 idle candidate inside the
//     kernel image, or a candidate's tasks link that points into the kernel image.
//  5. the SLUB free-pointer key of the task_struct cache (./freelist.ts), for carving.
import { type PhysAddr, type VirtAddr, hex, phys, virt } from '../../addr.js';
import { DiscoveryError, InvalidAddressError } from '../../errors.js';
import { qemuCpuStates, readElfNotes } from '../../layers/elf-notes.js';
import { PagingTranslator } from '../../layers/paging.js';
import type { PagingMode } from '../../layers/paging-modes.js';
import type { PhysicalReader } from '../../layers/physical.js';
import type { Signature } from '../../signatures/load.js';
import type { DiscoveryHints, KernelSpaceInfo, LinuxSpaceInfo } from '../types.js';
import { findFreelistKey } from './freelist.js';
import { KERNEL_BASE } from '../../signatures/reference.js';
import { KERNEL_HALF_L4, PF_IDLE, START_KERNEL_MAP } from './kernel-facts.js';
import { LinuxKernelSpace } from './kernel-space.js';
import { describeRanges, findInitTopPgt, kernelImageMappings, pagingMode, verifyRoot, type KernelImageMap } from './page-tables.js';
import { selfPointerVotes, type CandidateBytes } from './self-pointers.js';
import { readI32, readU, taskLayout, type TaskLayout } from './task-layout.js';
import { freePointerWindow } from './task-signature.js';

/** Candidates read for discovery; more add nothing but time. */
const MAX_OBJECTS = 4096;
/** Distinct page-table roots tried. */
const MAX_ROOTS = 16;
/** CR4.LA57: 5-level paging is on (Intel SDM 3A, 2.5). */
const CR4_LA57 = 1n << 12n;

/** Read each candidate's object (as much of it as the image holds, at least the fields discovery reads). */
export function readCandidates(image: PhysicalReader, candidates: readonly PhysAddr[], t: TaskLayout, max = MAX_OBJECTS): CandidateBytes[] {
  const out: CandidateBytes[] = [];
  for (const pa of candidates.slice(0, max)) {
    for (const length of [t.size, t.comm.offset + t.comm.size]) {
      try {
        out.push({ pa, bytes: image.readPhys(pa, length) });
        break;
      } catch (err) {
        if (!(err instanceof InvalidAddressError)) throw err;
      }
    }
  }
  return out;
}

function fail(image: PhysicalReader, what: string, reason: string): DiscoveryError {
  return new DiscoveryError(image.path, what, reason);
}

interface Root {
  root: PhysAddr;
  source: string;
  levels?: number;
}

/** Page-table roots to try: the hint, CPU notes, candidates' mm->pgd. */
function rootCandidates(image: PhysicalReader, objects: readonly CandidateBytes[], t: TaskLayout, pob: bigint, evidence: string[]): Root[] {
  const roots: Root[] = [];
  const seen = new Set<number>();
  const push = (r: Root): void => {
    if (seen.has(r.root) || roots.length >= MAX_ROOTS) return;
    seen.add(r.root);
    roots.push(r);
  };
  if (image.format === 'elf-core') {
    try {
      for (const cpu of qemuCpuStates(readElfNotes(image.path))) {
        const root = cpu.cr3 & 0x000f_ffff_ffff_f000n;
        if (root !== 0n) push({ root: phys(root), source: `CR3 of CPU ${cpu.cpu} (QEMU note)`, levels: (cpu.cr4 & CR4_LA57) !== 0n ? 5 : 4 });
      }
    } catch (err) {
      evidence.push(`ELF notes unreadable, CR3 not used: ${(err as Error).message}`);
    }
  }
  if (t.mmPgd !== undefined) {
    for (const { pa, bytes } of objects) {
      const mm = readU(bytes, t.mm.offset, 8);
      if (mm === undefined || mm < pob) continue;
      try {
        const pgd = readU(image.readPhys(phys(mm - pob + BigInt(t.mmPgd)), 8), 0, 8)!;
        if (pgd < pob) continue;
        push({ root: phys(pgd - pob), source: `mm->pgd of the candidate at ${hex(pa)}` });
      } catch (err) {
        if (!(err instanceof InvalidAddressError) && !(err instanceof RangeError)) throw err;
      }
    }
  }
  return roots;
}

/** Symbols as runtime addresses: shifted by the KASLR slide when `_text` is known and the image map is. */
function runtimeSymbol(hints: DiscoveryHints, name: string, map: KernelImageMap | undefined, evidence: string[]): bigint | undefined {
  const link = hints.symbols?.get(name);
  if (link === undefined) return undefined;
  const text = hints.symbols?.get('_text');
  if (text !== undefined && map !== undefined) {
    // The image map starts at _text rounded down to 2 MiB (arch/x86/mm/init_64.c cleanup_highmap keeps [_text, _brk_end)).
    const lowest = BigInt(map.ranges[0]!.va);
    const slide = lowest - (text - (text % 0x200000n));
    if (slide !== 0n) evidence.push(`symbols slid by ${hex(slide)} (KASLR): _text ${hex(text)} vs the image map's first page ${hex(lowest)}`);
    return link + slide;
  }
  return link;
}

export function discoverLinux(image: PhysicalReader, sig: Signature, candidates: readonly PhysAddr[], hints: DiscoveryHints): KernelSpaceInfo {
  const t = taskLayout(sig.layout, sig.targetType);
  const evidence: string[] = [];
  const objects = readCandidates(image, candidates, t);
  const votes = selfPointerVotes(objects, t);

  // 1. The direct-map base.
  let pob: bigint;
  if (hints.pageOffsetBase !== undefined) {
    pob = hints.pageOffsetBase;
    const agree = votes.directMap?.value === pob ? `, and ${votes.directMap.votes} of ${votes.directMap.voters} candidates' self-pointers agree` : '';
    evidence.push(`page_offset_base ${hex(pob)} from the hint${agree}`);
  } else {
    const d = votes.directMap;
    if (d === undefined) {
      throw fail(
        image,
        'direct-map base (page_offset_base)',
        candidates.length === 0
          ? 'the scan found no candidate objects to read self-pointers from'
          : `none of the ${objects.length} candidates read has an empty list head or cpus_ptr pointing into a 1 GiB-aligned direct map; pass the base as a hint`,
      );
    }
    if (d.votes === d.runnerUp) {
      throw fail(image, 'direct-map base (page_offset_base)', `candidates' self-pointers are split evenly (${d.votes} votes each for ${hex(d.value)} and another base)`);
    }
    pob = d.value;
    evidence.push(`page_offset_base ${hex(pob)}: self-pointers of ${d.votes} of ${d.voters} voting candidates (${objects.length} read) agree${d.runnerUp > 0 ? `; runner-up ${d.runnerUp}` : ''}`);
  }

  // 2. Paging levels and a page-table root that translates the direct map.
  const shape = pob < KERNEL_HALF_L4 ? 5 : 4;
  const probes: Array<readonly [VirtAddr, PhysAddr]> = objects
    .filter((o) => !isImageObject(o, t))
    .slice(0, 2)
    .map((o) => [virt(pob + BigInt(o.pa)), o.pa] as const);
  const roots: Root[] = hints.dtb !== undefined ? [{ root: hints.dtb, source: 'the hint', ...(hints.pagingLevels ? { levels: hints.pagingLevels } : {}) }] : rootCandidates(image, objects, t, pob, evidence);
  let verified: { root: Root; levels: number } | undefined;
  for (const root of roots) {
    const order = hints.pagingLevels ? [hints.pagingLevels] : root.levels ? [root.levels] : shape === 5 ? [5] : [4, 5];
    const levels = order.find((l) => verifyRoot(image, pagingMode(l), root.root, pob, probes));
    if (levels !== undefined) {
      verified = { root, levels };
      break;
    }
  }
  if (verified === undefined) {
    const why =
      roots.length === 0
        ? 'no candidate has an mm whose pgd is readable, and the image has no CPU notes; pass the root as a hint'
        : `none of ${roots.length} root(s) (${roots.slice(0, 3).map((r) => `${hex(r.root)} from ${r.source}`).join('; ')}) maps the direct-map base ${hex(pob)} to physical 0`;
    throw fail(image, hints.dtb !== undefined ? 'kernel page-table root (the hint did not verify)' : 'kernel page-table root', why);
  }
  const levels = verified.levels;
  evidence.push(`${levels}-level paging: ${verified.root.source} ${hex(verified.root.root)} maps ${hex(pob)} to physical 0${probes.length ? ` and ${probes.length} candidate(s) to their addresses` : ''}${hints.pagingLevels ? ' (levels from the hint)' : verified.root.levels ? ' (CR4.LA57 from the CPU note)' : ''}`);

  // 3. The kernel image and init_top_pgt.
  const mode = pagingMode(levels);
  const map = kernelImageMappings(image, mode, verified.root.root);
  if (map === undefined) throw fail(image, 'kernel image map', `the root ${hex(verified.root.root)} maps nothing at ${hex(START_KERNEL_MAP)}..+1 GiB`);
  evidence.push(`kernel image: ${describeRanges(map.ranges)}, VA − PA ${hex(map.delta)} for ${(map.share * 100).toFixed(0)}% of it`);
  if (votes.kernelImage) {
    const k = votes.kernelImage;
    evidence.push(`kernel-image self-pointers (${k.votes} candidate(s)) ${k.value === map.delta ? 'agree' : `disagree: ${hex(k.value)}`}`);
  }
  let dtb = verified.root.root;
  if (hints.dtb === undefined) {
    const symbolVa = runtimeSymbol(hints, 'init_top_pgt', map, evidence);
    const bySymbol = symbolVa === undefined ? undefined : tryTranslate(image, mode, verified.root.root, symbolVa);
    if (bySymbol !== undefined && verifyRoot(image, mode, bySymbol, pob, probes)) {
      dtb = bySymbol;
      evidence.push(`init_top_pgt ${hex(dtb)} from the symbol`);
    } else {
      const search = findInitTopPgt(image, map, verified.root.root);
      if (search.found !== undefined && verifyRoot(image, mode, search.found, pob, probes)) {
        dtb = search.found;
        evidence.push(`init_top_pgt ${hex(dtb)}: the one kernel-image page (of ${search.pagesExamined}) with an empty user half and the kernel half of ${hex(verified.root.root)}`);
      } else {
        evidence.push(
          `init_top_pgt not identified (${search.matches.length} matching pages); using ${hex(dtb)} (${verified.root.source}), whose kernel half is the same`,
        );
      }
    }
  }

  const linux: LinuxSpaceInfo = {};
  const info: KernelSpaceInfo = {
    os: 'linux',
    pointerMode: levels === 5 ? 'x86-64-5' : 'x86-64-4',
    pagingLevels: levels,
    dtb: hex(dtb),
    pageOffsetBase: hex(pob),
    kernelImageDelta: hex(map.delta),
    evidence,
    linux,
  };

  // 4. init_task.
  const space = new LinuxKernelSpace(image, info);
  const init = findInitTask(space, objects, t, hints, map, evidence);
  if (init !== undefined) linux.initTask = { va: hex(init.va), pa: hex(init.pa), size: t.size };

  // 5. The task_struct cache's free-pointer key.
  const key = findFreelistKey({ slots: objects.filter((o) => !isImageObject(o, t)), pageOffsetBase: pob, alignment: sig.alignment, window: freePointerWindow(sig.layout, sig.targetType) });
  if (key !== undefined) {
    linux.freelist = {
      offset: key.offset,
      ...(key.key !== undefined ? { key: hex(key.key) } : {}),
      ...(key.stride !== undefined ? { stride: key.stride } : {}),
      support: key.support,
    };
    evidence.push(
      `SLUB free pointer at +${key.offset}${key.key !== undefined ? `, key ${hex(key.key)}` : ' (not hardened)'}: ${key.support} candidate(s) decode to NULL or a slot of their own slab (${key.hypotheses} hypotheses${key.stride ? `, slot stride ${key.stride}` : ''})`,
    );
  } else {
    evidence.push('SLUB free pointer: no key explains two or more candidates (no freed slots among them, or init_on_free)');
  }
  return info;
}

/** Is this object the pid-0 idle task (init_task lives in the kernel image, not a slab)? */
function isImageObject(o: CandidateBytes, t: TaskLayout): boolean {
  const flags = readU(o.bytes, t.flags.offset, 4) ?? 0n;
  return readI32(o.bytes, t.pid) === 0 && (Number(flags) & PF_IDLE) !== 0;
}

function tryTranslate(image: PhysicalReader, mode: PagingMode, root: PhysAddr, va: bigint): PhysAddr | undefined {
  try {
    return new PagingTranslator(image, mode, root).translateVirt(virt(va));
  } catch (err) {
    if (err instanceof InvalidAddressError || err instanceof RangeError) return undefined;
    throw err;
  }
}

/** Is there a pid-0 idle task (PF_IDLE, include/linux/sched.h) at `va`? Returns its PA. */
function idleTaskAt(space: LinuxKernelSpace, t: TaskLayout, va: bigint): PhysAddr | undefined {
  try {
    const pa = space.translateVirt(virt(va));
    const end = Math.max(t.pid.offset + t.pid.size, t.flags.offset + t.flags.size, t.tasks.offset + t.tasks.size);
    const o = { pa, bytes: space.readPhys(pa, end) };
    const next = readU(o.bytes, t.tasks.offset + t.listNext, 8) ?? 0n;
    // tasks.next is a kernel pointer of the space's own paging depth: under 5-level
    // paging the next task sits in a direct map below the 4-level kernel half.
    return isImageObject(o, t) && next >= KERNEL_BASE[space.pointerMode] ? pa : undefined;
  } catch (err) {
    if (err instanceof InvalidAddressError || err instanceof RangeError) return undefined;
    throw err;
  }
}

function findInitTask(
  space: LinuxKernelSpace,
  objects: readonly CandidateBytes[],
  t: TaskLayout,
  hints: DiscoveryHints,
  map: KernelImageMap,
  evidence: string[],
): { va: bigint; pa: PhysAddr } | undefined {
  const symbol = runtimeSymbol(hints, 'init_task', map, evidence);
  if (symbol !== undefined) {
    const pa = idleTaskAt(space, t, symbol);
    if (pa !== undefined) {
      evidence.push(`init_task ${hex(symbol)} from the symbol`);
      return { va: symbol, pa };
    }
    evidence.push(`the init_task symbol ${hex(symbol)} holds no pid-0 idle task; ignored`);
  }
  // The pid-0 idle candidate whose own self-pointers say it lives at a kernel-image VA.
  for (const o of objects) {
    if (!isImageObject(o, t)) continue;
    const va = BigInt(o.pa) + (space.kernelImageDelta ?? 0n);
    if (space.kernelImageDelta !== undefined && va >= START_KERNEL_MAP && idleTaskAt(space, t, va) === o.pa) {
      evidence.push(`init_task ${hex(va)}: the pid-0 idle candidate at ${hex(o.pa)}, at that VA through the kernel image map`);
      return { va, pa: o.pa };
    }
  }
  // A task next to init_task on the list points into the kernel image.
  const seen = new Set<bigint>();
  for (const o of objects) {
    for (const at of [t.tasks.offset + t.listNext, t.tasks.offset + t.listPrev]) {
      const ptr = readU(o.bytes, at, 8);
      if (ptr === undefined || ptr < START_KERNEL_MAP || seen.has(ptr)) continue;
      seen.add(ptr);
      const va = ptr - BigInt(t.tasks.offset);
      const pa = idleTaskAt(space, t, va);
      if (pa !== undefined) {
        evidence.push(`init_task ${hex(va)}: the tasks link of the candidate at ${hex(o.pa)} points to a pid-0 task in the kernel image`);
        return { va, pa };
      }
    }
  }
  evidence.push('init_task not found (no pid-0 candidate in the kernel image, no tasks link into it, no symbol)');
  return undefined;
}
