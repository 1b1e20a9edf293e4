// A process's VAD tree: one pool block per region ('VadS' private, 'Vad ' mapped/image),
// linked as a balanced binary search tree by start address, hung off EPROCESS.VadRoot.
//
// Facts (facts files, vad):
// - XP: VadRoot is a pointer to the root _MMVAD; nodes have Parent/LeftChild/RightChild
//   and StartingVpn/EndingVpn (page numbers, inclusive end).
// - Win7: VadRoot is an embedded _MM_AVL_TABLE whose BalancedRoot is a sentinel node; its
//   RightChild is the root, and the root's u1.Parent is the sentinel (balance bits in the
//   low 2 bits of u1, 0 here: a perfectly balanced tree).
// - Win8.1+ (19041): VadRoot is an _RTL_AVL_TREE whose Root points to the root node's
//   VadNode (an _RTL_BALANCED_NODE at offset 0 of _MMVAD_SHORT); Left/Right children,
//   ParentValue = parent address | balance bits; StartingVpn is 32 bits with
//   StartingVpnHigh holding bits 32..39.
import type { PoolKind } from './address-space.js';
import type { Struct, WinLayout } from './layout.js';
import type { Pool, PoolBlock } from './pool.js';
import type { VadRegion } from './user-space.js';

/** VadType of an image mapping (MI_VAD_TYPE VadImageMap = 2, Windows Internals "VADs"). */
const VAD_IMAGE_MAP = 2;

interface Node {
  readonly region: VadRegion;
  readonly block: PoolBlock;
  readonly s: Struct;
  readonly va: bigint;
  left?: Node;
  right?: Node;
  parent?: Node;
}

export interface VadTree {
  readonly blocks: PoolBlock[];
  readonly rootVa: bigint;
  readonly depth: number;
}

function balanced(nodes: Node[], lo: number, hi: number, parent: Node | undefined, depth: number, out: { depth: number }): Node | undefined {
  if (lo > hi) return undefined;
  const mid = (lo + hi) >> 1;
  const n = nodes[mid]!;
  if (parent !== undefined) n.parent = parent;
  out.depth = Math.max(out.depth, depth);
  const l = balanced(nodes, lo, mid - 1, n, depth + 1, out);
  const r = balanced(nodes, mid + 1, hi, n, depth + 1, out);
  if (l) n.left = l;
  if (r) n.right = r;
  return n;
}

/** Allocate the VAD blocks of `regions` (sorted, disjoint) and link them under `eproc` (at `eprocVa`). */
export function buildVadTree(w: WinLayout, pool: Pool, kind: PoolKind, regions: readonly VadRegion[], eproc: Struct, eprocVa: bigint): VadTree {
  const hs = w.sizes.poolHeader;
  const nodes: Node[] = regions.map((region) => {
    const type = region.kind === 'private' ? '_MMVAD_SHORT' : '_MMVAD';
    const block = pool.alloc(kind, hs + w.L.sizeOf(type), region.kind === 'private' ? 'VadS' : 'Vad ', false);
    // Every _MMVAD starts with the _MMVAD_SHORT members (19041 nests them as Core).
    const s = w.struct('_MMVAD_SHORT', block.bytes, hs);
    const startVpn = region.start >> 12n;
    const endVpn = (region.end - 1n) >> 12n;
    if (s.has('StartingVpnHigh')) {
      s.set('StartingVpn', Number(startVpn & 0xffffffffn));
      s.set('EndingVpn', Number(endVpn & 0xffffffffn));
      s.set('StartingVpnHigh', Number(startVpn >> 32n));
      s.set('EndingVpnHigh', Number(endVpn >> 32n));
    } else {
      s.set('StartingVpn', startVpn);
      s.set('EndingVpn', endVpn);
    }
    s.set('u.VadFlags.Protection', region.protection);
    if (region.kind === 'private') s.set('u.VadFlags.PrivateMemory', 1);
    if (region.kind === 'image') {
      if (!s.trySet('u.VadFlags.VadType', VAD_IMAGE_MAP)) s.trySet('u.VadFlags.ImageMap', 1);
    }
    return { region, block, s, va: block.va + BigInt(hs) };
  });
  const info = { depth: 0 };
  const root = balanced(nodes, 0, nodes.length - 1, undefined, 1, info);
  const va = (n: Node | undefined) => n?.va ?? 0n;
  const build = w.build.name;
  if (build === 'winxpsp2x86') {
    for (const n of nodes) {
      n.s.set('Parent', va(n.parent));
      n.s.set('LeftChild', va(n.left));
      n.s.set('RightChild', va(n.right));
    }
    eproc.set('VadRoot', va(root));
    eproc.set('VadHint', va(root));
    eproc.set('NumberOfVads', nodes.length);
  } else if (build === 'win7sp1x64') {
    const sentinel = eprocVa + BigInt(eproc.off('VadRoot.BalancedRoot'));
    for (const n of nodes) {
      n.s.set('u1.Parent', n.parent ? n.parent.va : sentinel);
      n.s.set('LeftChild', va(n.left));
      n.s.set('RightChild', va(n.right));
    }
    eproc.set('VadRoot.BalancedRoot.u1.Parent', sentinel);
    eproc.set('VadRoot.BalancedRoot.RightChild', va(root));
    eproc.set('VadRoot.NumberGenericTableElements', nodes.length);
    eproc.set('VadRoot.DepthOfTree', info.depth);
    eproc.set('VadRoot.NodeHint', va(root));
  } else {
    for (const n of nodes) {
      n.s.set('VadNode.Left', va(n.left));
      n.s.set('VadNode.Right', va(n.right));
      n.s.set('VadNode.ParentValue', va(n.parent));
    }
    eproc.set('VadRoot.Root', va(root));
    eproc.set('VadCount', nodes.length);
    eproc.trySet('VadHint', va(root));
  }
  return { blocks: nodes.map((n) => n.block), rootVa: va(root), depth: info.depth };
}
