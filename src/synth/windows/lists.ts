// LIST_ENTRY lists as the NT kernel keeps them: circular, doubly linked, a head first.
//
// Facts (ntdef.h / wdm.h RemoveEntryList, InitializeListHead): Flink/Blink point at the
// next/previous LIST_ENTRY (not at the containing object); an empty head points at
// itself; RemoveEntryList(e) sets e->Blink->Flink = e->Flink and e->Flink->Blink =
// e->Blink and leaves e's own Flink/Blink as they were (stale). A DKOM rootkit does the
// same, and some also point the unlinked entry at itself so that a later
// RemoveEntryList on it (at process exit) does not corrupt its old neighbours.
import type { Struct } from './layout.js';

export type UnlinkStyle = 'stale' | 'self';
export const UNLINK_STYLES: readonly UnlinkStyle[] = ['stale', 'self'];

/** A LIST_ENTRY member of an object: its VA and where to write it. */
export interface ListNode {
  readonly struct: Struct;
  /** Path of the LIST_ENTRY member in the struct (e.g. 'ActiveProcessLinks'); '' when the struct is the LIST_ENTRY itself (a list head). */
  readonly path: string;
  /** VA of the LIST_ENTRY (object VA + member offset). */
  readonly va: bigint;
}

/** The node for member `path` of `struct`, whose start is at `baseVa`. */
export function listNode(struct: Struct, path: string, baseVa: bigint): ListNode {
  return { struct, path, va: baseVa + BigInt(struct.off(path)) };
}

export class EntryList {
  private readonly next = new Map<ListNode, ListNode>();
  private readonly prev = new Map<ListNode, ListNode>();
  private readonly own = new Map<ListNode, { flink: bigint; blink: bigint }>();

  /** `head` then the entries in list order. */
  constructor(
    readonly head: ListNode,
    entries: readonly ListNode[],
  ) {
    const all = [head, ...entries];
    all.forEach((n, i) => {
      this.next.set(n, all[(i + 1) % all.length]!);
      this.prev.set(n, all[(i + all.length - 1) % all.length]!);
    });
  }

  has(n: ListNode): boolean {
    return this.next.has(n) && !this.own.has(n);
  }

  /** Take `n` off the list; its own links become stale (their values now) or point at itself. */
  remove(n: ListNode, style: UnlinkStyle = 'stale'): void {
    const p = this.prev.get(n);
    const x = this.next.get(n);
    if (p === undefined || x === undefined || this.own.has(n) || n === this.head) throw new Error('EntryList: not an entry of this list');
    this.own.set(n, style === 'self' ? { flink: n.va, blink: n.va } : { flink: x.va, blink: p.va });
    this.next.set(p, x);
    this.prev.set(x, p);
  }

  /** Entries reached from the head by Flink, in order. */
  walk(): ListNode[] {
    const out: ListNode[] = [];
    for (let at = this.next.get(this.head)!; at !== this.head; at = this.next.get(at)!) out.push(at);
    return out;
  }

  /** Write every node's Flink/Blink into its struct. */
  write(): void {
    for (const [n, x] of this.next) {
      const o = this.own.get(n);
      const at = n.path === '' ? '' : `${n.path}.`;
      n.struct.set(`${at}Flink`, o ? o.flink : x.va);
      n.struct.set(`${at}Blink`, o ? o.blink : this.prev.get(n)!.va);
    }
  }
}
