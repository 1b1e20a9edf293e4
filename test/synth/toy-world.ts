// A minimal world plug-in for testing the common machinery: a direct map, a background,
// objects with a recognisable layout in allocated pages, and one page table mapping them.
import { hex, phys, virt } from '../../src/addr.js';
import { PageTableBuilder, X86_64_4LEVEL } from '../../src/layers/index.js';
import {
  NoiseBank,
  NoiseKind,
  TRUTH_SCHEMA,
  populateBackground,
  type BuiltWorld,
  type Prng,
  type SynthTruthTask,
  type WorldContext,
  type WorldPlugin,
} from '../../src/synth/index.js';

export const TOY_BASE = 0xffff_8880_0000_0000n;
/** Toy object: u32 magic, u32 pid, char comm[16], u64 self pointer. */
export const TOY_MAGIC = 0x746f7921;

export const toyWorld: WorldPlugin = {
  os: 'toy',
  builds: ['toy-1', 'toy-2'],
  attacks: { comm: 'zero the name', pid: 'negate the pid' },
  randomFields: ['comm', 'pid', 'magic'],
  pagingLevels: [4],
  minSize: () => 16 << 20,
  build(ctx: WorldContext): BuiltWorld {
    const { memory, pages, content, canvas, options } = ctx;
    const rng = ctx.rng;
    const size = memory.size;
    content.setNoise(
      new NoiseBank(
        {
          pointerSize: 8,
          selfBase: TOY_BASE,
          heapPointer: (r: Prng) => TOY_BASE + BigInt(r.int(size / 64) * 64),
          codePointer: (r: Prng) => 0xffff_ffff_8100_0000n + BigInt(r.int(1 << 20) * 16),
          userPointer: (r: Prng) => 0x7f00_0000_0000n + BigInt(r.int(1 << 30) * 8),
          words: ['toyd', 'toysh'],
          pageCount: memory.pageCount,
        },
        rng.child('noise'),
        8,
      ),
    );
    populateBackground(pages, content, rng.child('background'), { used: 0.4 });
    const pt = new PageTableBuilder(X86_64_4LEVEL, () => {
      const pa = pages.allocPage();
      content.setKind(pa, 4096, NoiseKind.zero);
      return pa;
    });
    const tasks: SynthTruthTask[] = [];
    for (let i = 0; i < options.procs; i += 1) {
      const block = pages.alloc(0);
      const pa = block.pa + rng.int(64) * 64;
      const va = TOY_BASE + BigInt(pa);
      const obj = new Uint8Array(32);
      const view = new DataView(obj.buffer);
      view.setUint32(0, TOY_MAGIC, true);
      view.setUint32(4, 100 + i, true);
      obj.set(new TextEncoder().encode(`toy${i}`), 8);
      view.setBigUint64(24, va, true);
      canvas.write(pa, obj);
      pt.map(virt(TOY_BASE + BigInt(block.pa)), phys(block.pa), 4096);
      tasks.push({ status: 'live', pid: 100 + i, tgid: 100 + i, ppid: 1, comm: `toy${i}`, leader: true, on_tasks_list: true, va: hex(va), pa: hex(pa), mutations: [] });
    }
    return {
      truth: { schema: TRUTH_SCHEMA, os: 'toy', kernel: { release: options.build }, layout: { dtb: hex(pt.root) }, offsets: { toy: { size: 32, fields: { pid: 4, comm: 8 } } }, tasks, decoys: [] },
      pageTables: [pt],
    };
  },
};
