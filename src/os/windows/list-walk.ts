// nt!PsActiveProcessHead and the walk of ActiveProcessLinks from it (what `pslist`
// does). The head is a bare LIST_ENTRY in ntoskrnl's data section; every running
// process is on the ring (facts links.process_list). Without symbols it is found from the
// scan's bodies: following ActiveProcessLinks.Flink from a body passes through other
// bodies until it meets an entry that is no body — the head (or a process the scan
// missed). Each body votes for the first such entry; the head is the most voted entry
// that does not look like a process (its container's dispatcher type is not
// ProcessObject) and whose own walk closes back on it.
import { type PhysAddr, type VirtAddr, hex, virt } from '../../addr.js';
import type { ListWalkEntry, ListWalkResult } from '../types.js';
import type { WindowsKernelSpace } from './kernel-space.js';
import { type WinModel, readPtr } from './model.js';

/** More processes than any Windows machine runs (PID space is 2^24 handles / 4): a ring this long is corrupt. */
export const LIST_GUARD = 1 << 16;
/** Steps a vote follows before giving up. */
const VOTE_STEPS = 4096;

/** Flink of the LIST_ENTRY at kernel VA `va`, or undefined where it does not translate. */
function flinkAt(m: WinModel, space: WindowsKernelSpace, va: bigint): bigint | undefined {
  const pa = space.tryTranslate(va);
  if (pa === undefined) return undefined;
  try {
    return readPtr(space.readPhys(pa, m.ptr), 0, m.ptr);
  } catch {
    return undefined;
  }
}

/** Walk the ring from the head at `head`: every entry but the head, in list order. */
export function walkFromHead(m: WinModel, space: WindowsKernelSpace, head: bigint, guard = LIST_GUARD): ListWalkResult {
  const entries: ListWalkEntry[] = [];
  const seen = new Set<bigint>([head]);
  const off = BigInt(m.ep.activeLinks);
  let cur = flinkAt(m, space, head);
  for (;;) {
    if (cur === undefined) return { entries, stoppedBecause: `the Flink read at ${entries.length === 0 ? `the head ${hex(head)}` : `entry ${entries.length}`} does not translate` };
    if (cur === head) return { entries };
    if (seen.has(cur)) return { entries, stoppedBecause: `cycle: ${hex(cur)} reached twice without returning to the head ${hex(head)}` };
    if (entries.length >= guard) return { entries, stoppedBecause: `longer than ${guard} entries` };
    if (!m.isKernel(cur)) return { entries, stoppedBecause: `Flink ${hex(cur)} after entry ${entries.length} is not a kernel address` };
    seen.add(cur);
    const va = virt(cur - off);
    const pa = space.tryTranslate(va);
    if (pa === undefined) return { entries, stoppedBecause: `entry ${hex(va)} does not translate` };
    entries.push({ pa, va });
    cur = flinkAt(m, space, cur);
  }
}

/** Does the object whose ActiveProcessLinks is at `linksPa` carry the process dispatcher type? */
function looksLikeProcess(m: WinModel, space: WindowsKernelSpace, linksPa: PhysAddr): boolean {
  try {
    return space.readPhys((linksPa - m.ep.activeLinks) as PhysAddr, 1)[0] === m.facts.process_object.dispatcher_type;
  } catch {
    return false;
  }
}

export interface HeadSearch {
  head?: VirtAddr;
  votes: number;
  voters: number;
  /** Why candidates were refused, for the evidence. */
  notes: string[];
}

/** Find PsActiveProcessHead from the bodies (see the file comment). */
export function findListHead(m: WinModel, space: WindowsKernelSpace, bodies: readonly PhysAddr[]): HeadSearch {
  const off = m.ep.activeLinks;
  const isBody = new Set<number>(bodies);
  const votes = new Map<bigint, number>();
  let voters = 0;
  for (const b of bodies) {
    let flink: bigint;
    try {
      flink = readPtr(space.readPhys((b + off) as PhysAddr, m.ptr), 0, m.ptr);
    } catch {
      continue;
    }
    const seen = new Set<number>([b]);
    for (let step = 0; step < VOTE_STEPS && m.isKernel(flink); step += 1) {
      const pa = space.tryTranslate(flink);
      if (pa === undefined) break;
      const container = pa - off;
      if (!isBody.has(container)) {
        votes.set(flink, (votes.get(flink) ?? 0) + 1);
        voters += 1;
        break;
      }
      if (seen.has(container)) break; // a self-pointing or stale ring of bodies: no head this way
      seen.add(container);
      try {
        flink = readPtr(space.readPhys(pa, m.ptr), 0, m.ptr);
      } catch {
        break;
      }
    }
  }
  const notes: string[] = [];
  const ranked = [...votes].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  for (const [va, n] of ranked.slice(0, 16)) {
    const pa = space.tryTranslate(va)!;
    if (looksLikeProcess(m, space, pa)) {
      notes.push(`${hex(va)} (${n} vote(s)) is inside a process object the scan did not report`);
      continue;
    }
    const walk = walkFromHead(m, space, va);
    if (walk.stoppedBecause !== undefined) {
      notes.push(`${hex(va)} (${n} vote(s)): its walk ${walk.stoppedBecause}`);
      continue;
    }
    if (!walk.entries.some((e) => isBody.has(e.pa))) {
      notes.push(`${hex(va)} (${n} vote(s)): its ring holds none of the scanned objects`);
      continue;
    }
    return { head: virt(va), votes: n, voters, notes };
  }
  return { votes: 0, voters, notes };
}
