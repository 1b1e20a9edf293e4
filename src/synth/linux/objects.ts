// Kernel objects as byte buffers with their addresses, and the kernel's two list kinds
// (struct list_head, struct hlist_node) built over them.
//
// Facts (include/linux/list.h, include/linux/poison.h, Linux 6.1):
// - list_head {next, prev}; an empty list points at itself (INIT_LIST_HEAD).
// - list_del_init: neighbours skip the entry, the entry points at itself.
// - __list_del(prev, next) alone: neighbours skip the entry, the entry is untouched.
// - list_del: neighbours skip it, next = LIST_POISON1, prev = LIST_POISON2, with
//   LIST_POISON1 = 0x100 + POISON_POINTER_DELTA and LIST_POISON2 = 0x122 +
//   POISON_POINTER_DELTA, POISON_POINTER_DELTA = CONFIG_ILLEGAL_POINTER_VALUE =
//   0xdead000000000000 on x86-64 (the real truth.json records 0xdead000000000100/122).
// - list_del_rcu (task exit, __unhash_process): neighbours skip it, prev =
//   LIST_POISON2, next kept (readers under RCU may still follow it).
// - hlist_head {first}; hlist_node {next, pprev}, pprev = address of the previous
//   node's next (or of the head's first); hlist_del_rcu sets pprev = LIST_POISON2.
import type { PhysCanvas } from '../canvas.js';

export const LIST_POISON1 = 0xdead000000000100n;
export const LIST_POISON2 = 0xdead000000000122n;

export type UnlinkStyle = 'self' | 'stale' | 'poison';
export const UNLINK_STYLES: readonly UnlinkStyle[] = ['self', 'stale', 'poison'];

/** An object's bytes, its physical address and its kernel virtual address. */
export class ObjBuf {
  readonly bytes: Uint8Array;
  readonly view: DataView;

  constructor(
    readonly pa: number,
    readonly va: bigint,
    size: number,
  ) {
    this.bytes = new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer);
  }

  u64(off: number, v: bigint): void {
    this.view.setBigUint64(off, BigInt.asUintN(64, v), true);
  }
  u32(off: number, v: number): void {
    this.view.setUint32(off, v >>> 0, true);
  }
  i32(off: number, v: number): void {
    this.view.setInt32(off, v, true);
  }
  getU64(off: number): bigint {
    return this.view.getBigUint64(off, true);
  }
  getU32(off: number): number {
    return this.view.getUint32(off, true);
  }
  /** An empty list head at `off` (points at itself). */
  emptyList(off: number): void {
    this.u64(off, this.va + BigInt(off));
    this.u64(off + 8, this.va + BigInt(off));
  }
  /** Write the object into the canvas (the first `length` bytes; default all). */
  commit(canvas: PhysCanvas, length = this.bytes.length): void {
    canvas.write(this.pa, this.bytes.subarray(0, length));
  }
}

/** A list_head inside an object. */
export interface ListNode {
  readonly obj: ObjBuf;
  readonly off: number;
}

function nodeVa(n: ListNode): bigint {
  return n.obj.va + BigInt(n.off);
}

/**
 * A circular doubly linked list as the kernel keeps it: the head first, then the
 * entries. Unlinks are applied in order with the kernel's exact pointer updates; write()
 * stores every node's final next/prev into its object.
 */
export class ListModel {
  private readonly next = new Map<ListNode, ListNode | bigint>();
  private readonly prev = new Map<ListNode, ListNode | bigint>();
  /** Nodes by object address and offset, so callers may pass equal (not identical) nodes. */
  private readonly byKey = new Map<string, ListNode>();

  constructor(readonly nodes: readonly ListNode[]) {
    nodes.forEach((n, i) => {
      this.next.set(n, nodes[(i + 1) % nodes.length]!);
      this.prev.set(n, nodes[(i + nodes.length - 1) % nodes.length]!);
      this.byKey.set(`${n.obj.pa}+${n.off}`, n);
    });
  }

  /** True when `n` (by object and offset) is one of this list's nodes. */
  has(n: ListNode): boolean {
    return this.byKey.has(`${n.obj.pa}+${n.off}`);
  }

  private canonical(n: ListNode): ListNode {
    const c = this.byKey.get(`${n.obj.pa}+${n.off}`);
    if (c === undefined) throw new Error('ListModel: not a node of this list');
    return c;
  }

  private skip(given: ListNode): void {
    const n = this.canonical(given);
    const p = this.prev.get(n);
    const x = this.next.get(n);
    if (typeof p !== 'object' || typeof x !== 'object') throw new Error('ListModel: entry is not on the list');
    this.next.set(p, x);
    this.prev.set(x, p);
  }

  /** Unlink `n` the way a DKOM rootkit does in `style`. */
  unlink(given: ListNode, style: UnlinkStyle): void {
    const n = this.canonical(given);
    this.skip(n);
    if (style === 'self') {
      this.next.set(n, n);
      this.prev.set(n, n);
    } else if (style === 'poison') {
      this.next.set(n, LIST_POISON1);
      this.prev.set(n, LIST_POISON2);
    }
  }

  /** list_del_rcu: how an exiting task leaves its lists. */
  delRcu(given: ListNode): void {
    const n = this.canonical(given);
    this.skip(n);
    this.prev.set(n, LIST_POISON2);
  }

  /** Nodes reached from the head by following next, the head excluded. */
  walk(): ListNode[] {
    const out: ListNode[] = [];
    let at = this.next.get(this.nodes[0]!);
    while (typeof at === 'object' && at !== this.nodes[0] && out.length <= this.nodes.length) {
      out.push(at);
      at = this.next.get(at);
    }
    return out;
  }

  write(): void {
    for (const n of this.nodes) {
      const x = this.next.get(n)!;
      const p = this.prev.get(n)!;
      n.obj.u64(n.off, typeof x === 'bigint' ? x : nodeVa(x));
      n.obj.u64(n.off + 8, typeof p === 'bigint' ? p : nodeVa(p));
    }
  }
}

/** Link `nodes` on the hlist whose head (one pointer, `first`) is at head.obj + head.off. */
export function linkHlist(head: ListNode, nodes: readonly ListNode[]): void {
  head.obj.u64(head.off, nodes.length > 0 ? nodeVa(nodes[0]!) : 0n);
  nodes.forEach((n, i) => {
    n.obj.u64(n.off, i + 1 < nodes.length ? nodeVa(nodes[i + 1]!) : 0n);
    n.obj.u64(n.off + 8, i === 0 ? nodeVa(head) : nodeVa(nodes[i - 1]!));
  });
}
