// The page-table self-reference edge (Windows: EPROCESS.Pcb.DirectoryTableBase is the
// physical address of a PML4 with one entry mapping the PML4 itself): found on a
// field that holds such an address in every positive, written as a `special` edge,
// and evaluated by the scanner's own edge code.
import { describe, expect, it } from 'vitest';
import { phys } from '../../src/addr.js';
import { MemoryPhysical } from '../../src/layers/memory-physical.js';
import { evaluateEdge } from '../../src/signatures/edges.js';
import { resolveSignature } from '../../src/signatures/load.js';
import { CachedPhysical } from '../../src/train/cached-physical.js';
import { edgeSpecOf } from '../../src/train/edge-eval.js';
import { findEdgeSites } from '../../src/train/edge-sites.js';
import { pointerShapeFor } from '../../src/train/pointer-shape.js';
import { slotsOf } from '../../src/train/slots.js';
import type { TrainingImage } from '../../src/train/training-image.js';
import { parseTruth } from '../../src/train/truth-file.js';
import { TruthKernelSpace } from '../../src/train/truth-space.js';
import { readWindows } from '../../src/train/windows.js';
import { Layout } from '../../src/types/layout.js';
import { emptyLayoutData } from '../../src/types/model.js';

function procLayout(): Layout {
  const d = emptyLayoutData(8);
  d.baseTypes.set('unsigned long long', { name: 'unsigned long long', size: 8, signed: false, kind: 'int' });
  const u64 = { kind: 'base' as const, name: 'unsigned long long' };
  d.userTypes.set('proc', {
    name: 'proc',
    kind: 'struct',
    size: 32,
    fields: [
      { name: 'DirectoryTableBase', offset: 0, type: u64 },
      { name: 'Other', offset: 8, type: u64 },
      { name: 'Flags', offset: 16, type: u64 },
      { name: 'Spare', offset: 24, type: u64 },
    ],
  });
  return new Layout('proc.json', d);
}

describe('PML4 self-reference edge', () => {
  it('is found on the DTB field, and holds only where the PML4 maps itself', () => {
    const bytes = new Uint8Array(0x10000);
    const view = new DataView(bytes.buffer);
    // A PML4 at 0x3000 whose entry 0x1ed maps itself (present, writable); a page at 0x4000 that does not.
    view.setBigUint64(0x3000 + 0x1ed * 8, 0x3000n | 0x63n, true);
    view.setBigUint64(0x4000 + 8, 0x5000n | 0x63n, true);
    const objects = [0x8000, 0x8100, 0x8200];
    for (const pa of objects) {
      view.setBigUint64(pa, 0x3000n | 0x2n, true); // low bits (PCID-like) are ignored
      view.setBigUint64(pa + 8, 0x4000n, true);
      view.setBigUint64(pa + 16, BigInt(pa), true);
    }
    const truth = parseTruth(
      {
        schema: 'kcarve-truth/1',
        os: 'windows',
        image: {},
        kernel: { paging_levels: 4 },
        layout: { dtb: '0x3000' },
        tasks: objects.map((pa) => ({ status: 'live', pa: `0x${pa.toString(16)}`, va: `0xffffa000000${pa.toString(16)}` })),
      },
      'win/truth.json',
    );
    const physical = new CachedPhysical(new MemoryPhysical([{ paddr: phys(0), bytes }]));
    const shape = pointerShapeFor('windows', 8, 4);
    const space = new TruthKernelSpace(physical, truth, shape.mode);
    const img = { physical, truth, space, shape, byPa: new Map(truth.objects.map((o) => [o.pa, o])) } as unknown as TrainingImage;
    const layout = procLayout();
    const slots = slotsOf(layout, 'proc', 32);
    const windows = readWindows([img], objects.map((pa) => ({ image: 0, pa })), 32);
    const sites = findEdgeSites(
      { windows, objects: truth.objects, images: [img] },
      { layout, type: 'proc', objectSize: 32, shape, pointerSlots: [], constantSlots: new Set(), allSlots: slots.slots },
    );
    expect(sites.map((s) => [s.from?.path, s.special])).toEqual([['DirectoryTableBase', 'pml4-self-ref']]);
    const { spec } = edgeSpecOf(sites[0]!, 'proc');
    expect(spec).toEqual({ name: 'DirectoryTableBase pml4-self-ref', from: 'DirectoryTableBase', space: 'physical', special: 'pml4-self-ref' });
    const sig = resolveSignature(
      { schema: 'kcarve-signature/1', name: 't', version: '1.0.0', target: { os: 'windows', type: 'proc' }, alignment: 8, constraints: [{ field: 'Other', kind: 'ne', value: '0' }], edges: [spec] },
      't.json',
      { layout },
    );
    const ctx = { space, matchesAt: () => false };
    for (const pa of objects) expect(evaluateEdge(sig.edges[0]!, physical.readPhys(phys(pa), 32), phys(pa), ctx)).toBe('held');
    // The same field pointing at the page that does not map itself.
    const other = new Uint8Array(32);
    new DataView(other.buffer).setBigUint64(0, 0x4000n, true);
    expect(evaluateEdge(sig.edges[0]!, other, phys(0x9000), ctx)).toBe('failed');
  });
});
