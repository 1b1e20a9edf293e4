// Discovery of the Linux kernel address space on a tiny synthetic kernel
// (test/helpers/linux-mini.ts): what it finds without symbols, how hints are used,
// and the message of every way it can fail.
import { describe, expect, it } from 'vitest';
import { type PhysAddr, phys } from '../src/addr.js';
import { DiscoveryError } from '../src/errors.js';
import { MemoryPhysical } from '../src/layers/memory-physical.js';
import { discoverLinux } from '../src/os/linux/discover.js';
import { linuxTaskSignature } from '../src/os/linux/task-signature.js';
import { resolveSignature, type Signature } from '../src/signatures/load.js';
import { scanReference } from '../src/signatures/reference.js';
import { MINI, MINI_POB_L5, debianLayout, miniKernel } from './helpers/linux-mini.js';

function signature(): Signature {
  const layout = debianLayout();
  return resolveSignature(linuxTaskSignature(layout, { kernel: '6.1' }).doc, 'mini.sig.json', { layout });
}

function candidates(image: MemoryPhysical, sig: Signature, mode: 'x86-64-4' | 'x86-64-5' = 'x86-64-4'): PhysAddr[] {
  const all = image.readPhys(phys(0), MINI.ram);
  return scanReference(all, sig.program(mode), { start: 0, end: MINI.ram, limit: MINI.ram, phase: 0 }).map((x) => phys(x));
}

function discoveryError(f: () => unknown): DiscoveryError {
  try {
    f();
  } catch (err) {
    if (err instanceof DiscoveryError) return err;
    throw err;
  }
  throw new Error('expected a DiscoveryError');
}

describe('Linux discovery on a synthetic kernel', () => {
  const sig = signature();

  it('finds the direct map, paging, init_top_pgt, the image offset, init_task and the free-pointer key', () => {
    const k = miniKernel();
    const hits = candidates(k.image, sig);
    expect(hits).toEqual(k.tasks.map((t) => t.pa));
    const info = discoverLinux(k.image, sig, hits, {});
    expect(info).toMatchObject({
      os: 'linux',
      pointerMode: 'x86-64-4',
      pagingLevels: 4,
      pageOffsetBase: `0x${MINI.pageOffsetBase.toString(16)}`,
      // init_top_pgt, not the process root the tasks' mm->pgd gave.
      dtb: `0x${MINI.initTopPgt.toString(16)}`,
      kernelImageDelta: `0x${(MINI.imageVa - BigInt(MINI.imagePa)).toString(16)}`,
      linux: {
        initTask: { va: `0x${(MINI.imageVa - BigInt(MINI.imagePa) + BigInt(MINI.initTaskPa)).toString(16)}`, pa: `0x${MINI.initTaskPa.toString(16)}` },
        freelist: { offset: MINI.freePointerOffset, key: `0x${MINI.freelistKey.toString(16)}`, stride: MINI.stride, support: 2 },
      },
    });
    expect(info.evidence.join('\n')).toContain('self-pointers of 5 of 5 voting candidates');
  });

  it('tells 5-level paging from the shape of the direct-map base and verifies it with the page tables', () => {
    const k = miniKernel({ levels: 5 });
    // A 4-level pointer test rejects 5-level kernel pointers; the permissive mode finds every task.
    expect(candidates(k.image, sig, 'x86-64-4')).toEqual([]);
    const hits = candidates(k.image, sig, 'x86-64-5');
    expect(hits).toEqual(k.tasks.map((t) => t.pa));
    const info = discoverLinux(k.image, sig, hits, {});
    expect(info).toMatchObject({ pagingLevels: 5, pointerMode: 'x86-64-5', pageOffsetBase: `0x${MINI_POB_L5.toString(16)}`, dtb: `0x${MINI.initTopPgt.toString(16)}` });
    expect(info.evidence[1]).toMatch(/^5-level paging: mm->pgd of the candidate at 0x600000 0x100000 maps 0xff11234000000000 to physical 0/);
    // init_task's tasks.next is a 5-level direct-map pointer, below the 4-level kernel half
    // (a held-out real 5-level image lost swapper/0 to a 4-level test here).
    expect(info.linux?.initTask?.pa).toBe(`0x${MINI.initTaskPa.toString(16)}`);
  });

  it('uses a page_offset_base hint and says whether the self-pointers agree', () => {
    const k = miniKernel();
    const info = discoverLinux(k.image, sig, candidates(k.image, sig), { pageOffsetBase: MINI.pageOffsetBase });
    expect(info.evidence[0]).toBe(`page_offset_base 0x${MINI.pageOffsetBase.toString(16)} from the hint, and 5 of 5 candidates' self-pointers agree`);
  });

  it('uses a dtb hint as the root as it is', () => {
    const k = miniKernel();
    const info = discoverLinux(k.image, sig, candidates(k.image, sig), { dtb: phys(MINI.processRoot) });
    expect(info.dtb).toBe(`0x${MINI.processRoot.toString(16)}`);
    expect(info.evidence[1]).toMatch(/^4-level paging: the hint 0x100000 maps/);
  });

  it('finds init_task and init_top_pgt from symbols, slid by KASLR through _text', () => {
    const k = miniKernel();
    const slide = MINI.imageVa - 0xffff_ffff_8100_0000n;
    const link = (runtime: bigint): bigint => runtime - slide;
    const delta = MINI.imageVa - BigInt(MINI.imagePa);
    const symbols = new Map<string, bigint>([
      ['_text', 0xffff_ffff_8100_0000n],
      ['init_task', link(BigInt(MINI.initTaskPa) + delta)],
      ['init_top_pgt', link(BigInt(MINI.initTopPgt) + delta)],
    ]);
    const info = discoverLinux(k.image, sig, candidates(k.image, sig), { symbols });
    expect(info.dtb).toBe(`0x${MINI.initTopPgt.toString(16)}`);
    expect(info.evidence).toContain(`init_top_pgt 0x${MINI.initTopPgt.toString(16)} from the symbol`);
    expect(info.evidence).toContain(`init_task 0x${(BigInt(MINI.initTaskPa) + delta).toString(16)} from the symbol`);
  });

  it('ignores an init_task symbol that holds no pid-0 task', () => {
    const k = miniKernel();
    const info = discoverLinux(k.image, sig, candidates(k.image, sig), { symbols: new Map([['init_task', MINI.imageVa + 0x100n]]) });
    expect(info.evidence).toContain(`the init_task symbol 0x${(MINI.imageVa + 0x100n).toString(16)} holds no pid-0 idle task; ignored`);
    expect(info.linux?.initTask?.pa).toBe(`0x${MINI.initTaskPa.toString(16)}`);
  });

  it('fails naming the direct-map base when the scan found nothing', () => {
    const k = miniKernel();
    const err = discoveryError(() => discoverLinux(k.image, sig, [], {}));
    expect(err.what).toBe('direct-map base (page_offset_base)');
    expect(err.message).toBe('<mini-kernel>: cannot find the direct-map base (page_offset_base): the scan found no candidate objects to read self-pointers from');
  });

  it('fails naming the direct-map base when no candidate points at itself', () => {
    const image = MemoryPhysical.zeroed([{ paddr: 0, length: 0x10000 }], '<empty>');
    const err = discoveryError(() => discoverLinux(image, sig, [phys(0x1000), phys(0x4000)], {}));
    expect(err.message).toBe(
      '<empty>: cannot find the direct-map base (page_offset_base): none of the 2 candidates read has an empty list head or cpus_ptr pointing into a 1 GiB-aligned direct map; pass the base as a hint',
    );
  });

  it('fails naming the page-table root when no task has an mm and the image has no CPU notes', () => {
    const k = miniKernel({ withMm: false });
    const err = discoveryError(() => discoverLinux(k.image, sig, candidates(k.image, sig), {}));
    expect(err.what).toBe('kernel page-table root');
    expect(err.reason).toBe('no candidate has an mm whose pgd is readable, and the image has no CPU notes; pass the root as a hint');
  });

  it('fails naming the hint when a dtb hint does not map the direct map', () => {
    const k = miniKernel();
    const err = discoveryError(() => discoverLinux(k.image, sig, candidates(k.image, sig), { dtb: phys(0x200000) }));
    expect(err.what).toBe('kernel page-table root (the hint did not verify)');
    expect(err.reason).toBe(`none of 1 root(s) (0x200000 from the hint) maps the direct-map base 0x${MINI.pageOffsetBase.toString(16)} to physical 0`);
  });

  it('fails naming the root when mm->pgd leads to a page that maps nothing', () => {
    const k = miniKernel();
    // Point every mm's pgd at an empty page.
    const mm = debianLayout().offsetOf('mm_struct', 'pgd');
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, MINI.pageOffsetBase + 0x700000n, true);
    for (let i = 0; i < 8; i++) k.image.writePhys(phys(MINI.mms + i * 0x800 + mm), b);
    const err = discoveryError(() => discoverLinux(k.image, sig, candidates(k.image, sig), {}));
    expect(err.reason).toBe(`none of 1 root(s) (0x700000 from mm->pgd of the candidate at 0x600000) maps the direct-map base 0x${MINI.pageOffsetBase.toString(16)} to physical 0`);
  });

  it('reports no free-pointer key when no slot is freed', () => {
    const k = miniKernel({ tasks: [
      { pid: 0, comm: 'swapper/0', slot: -1 },
      { pid: 1, comm: 'init', slot: 0, parent: 0 },
    ] });
    const info = discoverLinux(k.image, sig, candidates(k.image, sig), {});
    expect(info.linux?.freelist).toBeUndefined();
    expect(info.evidence.at(-1)).toBe('SLUB free pointer: no key explains two or more candidates (no freed slots among them, or init_on_free)');
  });
});
