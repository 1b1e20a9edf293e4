// The trainer's plumbing: the block cache returns exactly what the layer below holds
// (across blocks and runs, holes reported the same way), negatives are aligned,
// inside runs and never a truth object, streamed windows equal direct reads, and
// member paths come back from offsets.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { phys } from '../../src/addr.js';
import { InvalidAddressError } from '../../src/errors.js';
import { MemoryPhysical } from '../../src/layers/memory-physical.js';
import { BLOCK, CachedPhysical } from '../../src/train/cached-physical.js';
import { leafAt, memberAt, readableSize } from '../../src/train/member-at.js';
import type { TrainingImage } from '../../src/train/training-image.js';
import { parseTruth } from '../../src/train/truth-file.js';
import { candidateCount, readWindows, sampleNegatives } from '../../src/train/windows.js';
import { loadLayout, shippedKernelBtfPath } from '../../src/types/index.js';
import { patternBytes } from '../helpers/images.js';

/** Two runs with a hole between them: [0, 3 blocks + 100) and [4 blocks, 6 blocks). */
function layer(): MemoryPhysical {
  return new MemoryPhysical([
    { paddr: phys(0), bytes: patternBytes(1, 3 * BLOCK + 100) },
    { paddr: phys(4 * BLOCK), bytes: patternBytes(2, 2 * BLOCK) },
  ]);
}

describe('CachedPhysical', () => {
  it('reads exactly what the layer below holds, and reports holes alike', () => {
    const inner = layer();
    const cached = new CachedPhysical(layer(), 2 * BLOCK);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 6 * BLOCK }), fc.integer({ min: 1, max: 3 * BLOCK }), (pa, n) => {
        let want: Uint8Array | Error;
        try {
          want = inner.readPhys(phys(pa), n);
        } catch (err) {
          want = err as Error;
        }
        if (want instanceof Error) {
          expect(want).toBeInstanceOf(InvalidAddressError);
          expect(() => cached.readPhys(phys(pa), n)).toThrow(want.message);
        } else expect(Buffer.from(cached.readPhys(phys(pa), n)).equals(want)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('reads each block from below once while it stays cached', () => {
    const cached = new CachedPhysical(layer(), 4 * BLOCK);
    for (let i = 0; i < 100; i++) cached.readPhys(phys((i * 977) % (2 * BLOCK)), 64);
    expect(cached.misses).toBe(2);
  });
});

function fakeImage(truthTasks: { pa: number; status: string }[]): TrainingImage {
  const physical = new CachedPhysical(layer());
  const truth = parseTruth(
    { schema: 'kcarve-truth/1', os: 'linux', image: {}, tasks: truthTasks.map((t) => ({ ...t, pa: `0x${t.pa.toString(16)}`, va: '0xffff888000000000' })) },
    'fake/truth.json',
  );
  return { physical, truth, byPa: new Map(truth.objects.map((o) => [o.pa, o])) } as unknown as TrainingImage;
}

describe('negatives', () => {
  it('are aligned, whole windows inside one run, distinct, never a truth object, and deterministic', () => {
    const img = fakeImage([{ pa: 0x1000, status: 'live' }, { pa: 0x2040, status: 'exited' }]);
    const size = 200;
    const total = candidateCount([img], 64, size);
    // Run 1: starts 0..(3 blocks + 100 - 200); run 2: 4 blocks .. 6 blocks - 200.
    expect(total).toBe(Math.floor((3 * BLOCK + 100 - size) / 64) + 1 + Math.floor((2 * BLOCK - size) / 64) + 1);
    const refs = sampleNegatives([img], 64, size, 2000, 5);
    expect(refs).toHaveLength(2000);
    expect(new Set(refs.map((r) => r.pa)).size).toBe(2000);
    for (const r of refs) {
      expect(r.pa % 64).toBe(0);
      expect(img.physical.isMappedPhys(phys(r.pa), size)).toBe(true);
      expect(r.pa === 0x1000 || r.pa === 0x2040).toBe(false);
    }
    expect(sampleNegatives([img], 64, size, 2000, 5)).toEqual(refs);
    expect(sampleNegatives([img], 64, size, 2000, 6)).not.toEqual(refs);
  });

  it('are read through the stream exactly as one by one', () => {
    const img = fakeImage([]);
    const refs = sampleNegatives([img], 8, 300, 500, 1);
    const w = readWindows([img], refs, 300);
    refs.forEach((r, i) => expect(Buffer.from(w.bytes.subarray(i * 300, (i + 1) * 300)).equals(img.physical.readPhys(phys(r.pa), 300))).toBe(true));
    expect([...w.pa]).toEqual(refs.map((r) => r.pa));
  });
});

describe('member paths from offsets', () => {
  const L = loadLayout(shippedKernelBtfPath());
  it('names members and leaves of the 6.1 task_struct and struct pid', () => {
    expect(memberAt(L, 'task_struct', 0)).toBe('');
    expect(memberAt(L, 'task_struct', L.offsetOf('task_struct', 'tasks'))).toBe('tasks');
    expect(memberAt(L, 'task_struct', L.offsetOf('task_struct', 'cpus_mask'))).toBe('cpus_mask');
    expect(memberAt(L, 'task_struct', L.offsetOf('task_struct', 'tasks') + 3)).toBeUndefined();
    // numbers[] is a flexible array member: nr of its first element lies at sizeof(struct pid).
    expect(leafAt(L, 'pid', 96, 4)).toBe('numbers[0].nr');
    expect(readableSize(L, 'pid')).toBe(96 + L.sizeOf('upid'));
    expect(leafAt(L, 'mm_struct', L.offsetOf('mm_struct', 'owner'), 8)).toBe('owner');
    expect(leafAt(L, 'task_struct', L.offsetOf('task_struct', 'pid'), 8)).toBeUndefined();
  });
});
