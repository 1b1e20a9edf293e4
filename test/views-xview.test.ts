// runPslist and runXview end to end on a toy world with the fake OS: the list walk finds
// exactly the linked processes in list order; the cross-view's status of every planted
// object is its truth status.
import { beforeAll, describe, expect, it } from 'vitest';
import { phys } from '../src/addr.js';
import { registerOsModule } from '../src/os/index.js';
import { runPslist } from '../src/views/pslist.js';
import { runXview } from '../src/views/xview.js';
import { useTmpDir } from './helpers/images.js';
import { FAKE_OS_MODULE, TOY_SIGNATURE, buildWorld } from './helpers/scan-world.js';

const tmp = useTmpDir('views-xview');
beforeAll(() => registerOsModule(FAKE_OS_MODULE));

const world = () =>
  buildWorld(tmp('world.lime'), {
    seed: 11,
    format: 'lime',
    runs: [
      { paddr: phys(0x0), length: 0x30000 },
      { paddr: phys(0x100000), length: 0x50000 },
    ],
    live: 8,
    hidden: 3,
    exited: 2,
    threads: 8,
    decoys: 2,
    orphans: 1,
    straddler: false,
  });

describe('pslist and xview on a toy world', () => {
  it('pslist walks the list from init and carves every entry, in list order', async () => {
    const w = world();
    const r = await runPslist({ image: w.path, os: 'fake', signature: TOY_SIGNATURE, workers: 0 });
    const listed = w.objects.filter((o) => o.onList);
    expect(r.walk).toEqual({ entries: listed.length });
    // The world links init first, then the live leaders in creation (= pid) order.
    expect(r.records.map((x) => [x.pid, x.comm])).toEqual(listed.sort((a, b) => a.pid - b.pid).map((o) => [o.pid, o.comm]));
    expect(r).toMatchObject({ schema: 'kcarve-pslist/1', complete: true, missed: [], uncarved: [], notes: [] });
    for (const x of r.records) expect(x.constraintsHeld).toBe(5);
  });

  it('xview gives every planted object its truth status, with the views that saw it', async () => {
    const w = world();
    const r = await runXview({ image: w.path, os: 'fake', signature: TOY_SIGNATURE, workers: 0 });
    expect(r.rows.map((x) => x.pa)).toEqual(w.objects.map((o) => o.pa));
    for (const [i, o] of w.objects.entries()) {
      const row = r.rows[i]!;
      expect([o.comm, row.status]).toEqual([o.comm, o.status]);
      expect(row.seenBy.includes('list')).toBe(o.onList);
      if (o.kind === 'thread') expect(row.seenBy).toContain('thread-lists');
      expect(row.warnings).toEqual([]);
    }
    const count = (s: string) => w.objects.filter((o) => o.status === s).length;
    expect(r.counts).toEqual({ linked: count('live'), hidden: count('hidden'), exited: count('exited') });
    expect(r.views).toEqual([{ name: 'thread-lists', reached: w.objects.filter((o) => o.kind === 'thread').length }]);
    expect(r.scan.records.length).toBe(w.objects.length);
  });
});
