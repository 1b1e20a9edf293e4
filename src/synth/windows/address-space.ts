// The kernel address space of a Windows world and the per-process page tables.
//
// Facts (facts files, address_space; GC = Geoff Chappell's MMPTE pages cited there):
// - XP SP2 runs the PAE kernel here: CR3 → a 32-byte table of 4 PDPTEs; the page tables
//   are mapped at PTE_BASE 0xC0000000 by entries 0..3 of the 4th page directory, which
//   point at the four page directories (PDE_BASE 0xC0600000, self-map PTE 0xC0603018).
//   Each process has its own four page directories; the system part (>= 0x80000000) of
//   its directories holds the same PDEs as the kernel's.
// - x64: the PML4 maps itself through one entry: 0x1ED on Windows 7 (PTE_BASE
//   0xFFFFF68000000000), a random entry per boot since Windows 10 1607. A process PML4
//   carries the kernel half (entries 256..511) and its own self-reference.
// Conventions of the releases (general Windows knowledge, not from the packs; stated so a
// reader can check them): Win7 x64 nonpaged pool from 0xFFFFFA8000000000, paged pool from
// 0xFFFFF8A000000000, ntoskrnl at 0xFFFFF80000000000 + its physical address; Win10 puts
// the pools in random 512 GiB slots (KASLR of system VA regions) and the kernel at a random
// 2 MiB slot in 0xFFFFF800'00000000..0xFFFFF808'00000000; XP maps low physical memory
// (kernel image and initial nonpaged pool) at 0x80000000 + pa, ntkrnlpa at 0x804D7000,
// paged pool from 0xE1000000, and expands nonpaged pool below 0xFFBE0000.
import { type PhysAddr, hex, phys, virt } from '../../addr.js';
import { UsageError } from '../../errors.js';
import { PageTableBuilder } from '../../layers/page-table-builder.js';
import { type PagingMode, X86_64_4LEVEL, X86_PAE, canonicalize } from '../../layers/paging-modes.js';
import type { MemoryMap } from '../memory-map.js';
import { PAGE_SIZE } from '../memory-map.js';
import { NoiseKind } from '../noise.js';
import type { PageAllocator } from '../page-allocator.js';
import type { PageContent } from '../page-content.js';
import type { Prng } from '../prng.js';
import type { WindowsBuild } from './builds.js';

const MiB = 1 << 20;
const TWO_MIB = 2 * MiB;
const GiB = 2 ** 30;
const FOUR_GIB = 2 ** 32;
/** Table entry bits present | writable | accessed | dirty (Intel SDM vol. 3A, 4.5). */
const TABLE_BITS = 0x63n;

export type PoolKind = 'nonpaged' | 'paged';

/** A user page of a process: where it is mapped and what backs it. */
export interface UserMapping {
  readonly va: bigint;
  readonly pa: number;
  readonly writable: boolean;
  readonly executable: boolean;
}

export interface ProcessSpace {
  readonly pt: PageTableBuilder;
  /** The value of Pcb.DirectoryTableBase (CR3): PML4, or on XP the 32-byte PDPT. */
  readonly dtb: number;
  /** XP: kernel VA of the PDPT (EPROCESS.PaeTop). */
  readonly paeTopVa?: bigint;
}

interface Region {
  readonly base: bigint;
  next: bigint;
  readonly end: bigint;
}

export interface KernelImage {
  readonly va: bigint;
  readonly pa: number;
  readonly size: number;
  readonly textEnd: number;
  readonly rodataEnd: number;
}

export class WinKernelSpace {
  readonly mode: PagingMode;
  readonly pt: PageTableBuilder;
  /** PML4 index of the self-reference (x64), or 3 on PAE (the 4th page directory). */
  readonly selfRef: number;
  readonly pteBase: bigint;
  readonly image: KernelImage;
  /** XP: bytes of low physical memory mapped at 0x80000000 + pa. */
  readonly xpWindow: number;
  /** CR3 of the kernel (System's DirectoryTableBase). */
  dtb = 0;
  private readonly regions: Record<PoolKind, Region>;
  private readonly vaRng: Prng;

  constructor(
    readonly build: WindowsBuild,
    private readonly memory: MemoryMap,
    private readonly pages: PageAllocator,
    private readonly content: PageContent,
    rng: Prng,
    kaslr: boolean,
  ) {
    this.vaRng = rng.child('pool-va');
    const alloc = () => this.tablePage();
    if (build.arch === 'x86') {
      this.mode = X86_PAE;
      this.pt = new PageTableBuilder(X86_PAE, alloc);
      this.selfRef = 3;
      this.pteBase = BigInt(build.facts.address_space.pte_base ?? '0xc0000000');
      const lowEnd = memory.ram[0]!.end;
      this.xpWindow = Math.min(512 * MiB, Math.floor(lowEnd / TWO_MIB) * TWO_MIB);
      // ntkrnlpa at 0x804d7000 (pa 0x4d7000), 2 MiB of image.
      this.image = { va: 0x804d7000n, pa: 0x4d7000, size: 0x200000, textEnd: 0x120000, rodataEnd: 0x180000 };
      this.regions = {
        nonpaged: { base: 0xf8000000n, next: 0xf8000000n + BigInt(this.vaRng.int(256) * PAGE_SIZE), end: 0xffbe0000n },
        paged: { base: 0xe1000000n, next: 0xe1000000n + BigInt(this.vaRng.int(64) * PAGE_SIZE), end: 0xf0000000n },
      };
    } else {
      this.mode = X86_64_4LEVEL;
      this.pt = new PageTableBuilder(X86_64_4LEVEL, alloc);
      this.xpWindow = 0;
      // Windows 7 fixes the layout; 10 randomizes it per boot (with --no-kaslr this world
      // keeps 10's regions at fixed, 7-like places instead, and the self-reference at 0x1ED).
      const randomized = build.facts.address_space.pml4_self_ref_fixed !== true;
      const random = randomized && kaslr;
      const used = new Set<number>([0x1f0]); // the kernel image's slot, 0xFFFFF800'00000000
      this.selfRef = random ? pickSlot(rng, used, 0x100, 0x1ff) : Number(build.facts.address_space.pml4_self_ref_index ?? '0x1ed');
      used.add(this.selfRef);
      this.pteBase = canonicalize(X86_64_4LEVEL, BigInt(this.selfRef) << 39n);
      const imageSize = Math.max(TWO_MIB, Math.min(10 * MiB, Math.floor(memory.size / 8 / TWO_MIB) * TWO_MIB));
      const imagePa = this.pickImagePa(rng, imageSize, kaslr);
      const imageVa = random ? 0xfffff80000000000n + BigInt(rng.int(16384) * TWO_MIB) : 0xfffff80000000000n + BigInt(imagePa);
      this.image = { va: imageVa, pa: imagePa, size: imageSize, textEnd: Math.floor((imageSize * 0.55) / PAGE_SIZE) * PAGE_SIZE, rodataEnd: Math.floor((imageSize * 0.75) / PAGE_SIZE) * PAGE_SIZE };
      const region = (fixedBase: bigint): Region => {
        let base = fixedBase;
        if (random) {
          const slot = pickSlot(rng, used, 0x100, 0x1ef);
          used.add(slot);
          base = canonicalize(X86_64_4LEVEL, BigInt(slot) << 39n) + BigInt(rng.int(256)) * BigInt(GiB);
        }
        const start = base + BigInt(this.vaRng.int(4096) * PAGE_SIZE);
        return { base, next: start, end: base + 64n * BigInt(GiB) };
      };
      this.regions = { nonpaged: region(0xfffffa8000000000n), paged: region(0xfffff8a000000000n) };
    }
    this.reserveImage();
    if (build.arch === 'x86') {
      // The four page directories first (so the PDPT is final), then the self-map.
      for (let r = 0; r < 4; r += 1) this.pt.setEntry(virt(BigInt(r) * BigInt(GiB) + 0x3fe00000n), 1, 0n);
      this.pt.mapRange(virt(0x80000000n), phys(0), this.xpWindow, { global: true }, TWO_MIB);
      this.selfMapPae(this.pt);
      const slot = this.pdptSlot(this.pt);
      this.dtb = slot.pa;
      this.kernelPaeTop = slot.va;
    } else {
      this.pt.mapRange(virt(this.image.va), phys(this.image.pa), this.image.size, { global: true }, TWO_MIB);
      this.pt.setEntry(virt(this.pteBase), 0, BigInt(this.pt.root) | TABLE_BITS);
      this.dtb = this.pt.root;
    }
  }

  private tablePage(): PhysAddr {
    const pa = this.pages.allocPage();
    this.content.setKind(pa, PAGE_SIZE, NoiseKind.zero);
    return pa;
  }

  private pickImagePa(rng: Prng, size: number, kaslr: boolean): number {
    const low = this.memory.usable[1]!;
    const first = Math.ceil(low.start / TWO_MIB);
    const last = Math.floor((low.end - size) / TWO_MIB);
    if (last < first) throw new UsageError(`a ${this.memory.size >> 20} MiB world has no room for a ${size >> 20} MiB kernel image`);
    return (kaslr ? first + rng.int(Math.min(last, first + 64) - first + 1) : first) * TWO_MIB;
  }

  private reserveImage(): void {
    const { pa, size, textEnd, rodataEnd } = this.image;
    const start = pa - (pa % PAGE_SIZE);
    this.pages.reserve(start, size);
    this.content.setKind(start, textEnd, NoiseKind.code);
    this.content.setKind(start + textEnd, rodataEnd - textEnd, NoiseKind.text);
    this.content.setKind(start + rodataEnd, size - rodataEnd, NoiseKind.sparse);
  }

  /** Physical address of a kernel-image VA (the image is mapped linearly). */
  imagePa(va: bigint): number {
    const off = va - this.image.va;
    if (off < 0n || off >= BigInt(this.image.size)) throw new RangeError(`${hex(va)} is not in the kernel image`);
    return this.image.pa + Number(off);
  }

  get poolBases(): Record<PoolKind, bigint> {
    return { nonpaged: this.regions.nonpaged.base, paged: this.regions.paged.base };
  }

  /** A VA somewhere in a pool region (for noise pointers; not necessarily mapped). */
  poolPointer(rng: Prng, kind: PoolKind = 'nonpaged'): bigint {
    const r = this.regions[kind];
    if (this.build.arch === 'x86' && kind === 'nonpaged') return 0x80000000n + BigInt(rng.int(this.xpWindow / 16) * 16);
    return r.base + BigInt(rng.int(Math.max(1, Number(r.next - r.base) / 16 + 4096)) * 16);
  }

  /** Map a pool page; returns its VA. XP's low memory is already mapped at 0x80000000 + pa. */
  mapPoolPage(kind: PoolKind, pa: number): bigint {
    if (this.finishing) throw new Error('synth windows: a kernel page was mapped after process page tables were finished (world bug)');
    if (this.build.arch === 'x86' && kind === 'nonpaged' && pa + PAGE_SIZE <= this.xpWindow) return 0x80000000n + BigInt(pa);
    const r = this.regions[kind];
    const va = r.next;
    if (va + BigInt(PAGE_SIZE) > r.end) throw new UsageError(`the ${kind} pool region of this world is full`);
    // Pages of a pool are not handed out back to back: small gaps, as other allocations took them.
    r.next += BigInt(PAGE_SIZE * (1 + (this.vaRng.chance(0.25) ? this.vaRng.int(4) : 0)));
    this.pt.map(virt(va), phys(pa), PAGE_SIZE, { global: true, noExecute: this.build.arch === 'x64' });
    return va;
  }

  /** Entries 0..3 of the 4th page directory point at the four directories (PTE_BASE 0xC0000000). */
  private selfMapPae(pt: PageTableBuilder): void {
    const pdpt = pt.readPhys(pt.root, 32);
    const v = new DataView(pdpt.buffer, pdpt.byteOffset, 32);
    for (let k = 0; k < 4; k += 1) {
      const pd = v.getBigUint64(k * 8, true) & 0x000ffffffffff000n;
      pt.setEntry(virt(this.pteBase + BigInt(k) * BigInt(TWO_MIB)), 1, pd | TABLE_BITS);
    }
  }

  /**
   * The 32-byte PDPT a PAE CR3 points to, copied into a slot of a nonpaged page below
   * 4 GiB (CR3 holds 32 bits under PAE). The builder's own root page keeps a copy.
   */
  private pdptSlot(pt: PageTableBuilder): { pa: number; va: bigint } {
    const index = this.pdptUsed++;
    const page = Math.floor(index / (PAGE_SIZE / 32));
    if (page >= this.pdptPages.length) this.addPdptPage();
    const p = this.pdptPages[page]!;
    const off = (index % (PAGE_SIZE / 32)) * 32;
    this.pendingPdpts.push({ pa: p.pa + off, bytes: pt.readPhys(pt.root, 32) });
    return { pa: p.pa + off, va: p.va + BigInt(off) };
  }

  private addPdptPage(): void {
    const pa = this.pageBelow4G();
    this.content.setKind(pa, PAGE_SIZE, NoiseKind.zero);
    this.pdptPages.push({ pa, va: this.mapPoolPage('nonpaged', pa) });
  }

  private readonly pdptPages: { pa: number; va: bigint }[] = [];
  private pdptUsed = 0;
  /** PDPT copies to write into the canvas (XP). */
  readonly pendingPdpts: { pa: number; bytes: Uint8Array }[] = [];
  /** XP: VA of the kernel's PDPT (System's EPROCESS.PaeTop). */
  kernelPaeTop: bigint | undefined;

  /** A page below 4 GiB (what 32-bit physical fields such as XP's CR3 can name). */
  pageBelow4G(): number {
    const rejected: number[] = [];
    try {
      for (;;) {
        const pa = this.pages.allocPage();
        if (pa + PAGE_SIZE <= FOUR_GIB) return pa;
        rejected.push(pa);
      }
    } finally {
      for (const pa of rejected) this.pages.free({ pa: phys(pa), order: 0 });
    }
  }

  /**
   * A new process's page-table root (so its DTB is known when the EPROCESS is written):
   * on XP its four page directories, self-map and PDPT slot; on x64 the PML4 with its
   * self-reference. The kernel half and the user pages follow in finishProcessSpace.
   */
  createProcessSpace(): ProcessSpace {
    const pt = new PageTableBuilder(this.mode, () => this.tablePage());
    if (this.mode === X86_PAE) {
      for (let r = 0; r < 4; r += 1) pt.setEntry(virt(BigInt(r) * BigInt(GiB) + 0x3fe00000n), 1, 0n);
      this.selfMapPae(pt);
      const slot = this.pdptSlot(pt);
      return { pt, dtb: slot.pa, paeTopVa: slot.va };
    }
    pt.setEntry(virt(this.pteBase), 0, BigInt(pt.root) | TABLE_BITS);
    return { pt, dtb: pt.root };
  }

  /**
   * Copy the kernel half into a process's tables (as the kernel does at process creation
   * and keeps in sync) and map its user pages. Call once every kernel mapping is made:
   * afterwards mapPoolPage refuses.
   */
  finishProcessSpace(space: ProcessSpace, user: readonly UserMapping[]): void {
    this.finishing = true;
    const { pt } = space;
    if (this.mode === X86_PAE) {
      // System PDEs of the 3rd and 4th directories, except the 4th's self-map entries.
      for (let r = 2; r < 4; r += 1) {
        const entries = this.directoryEntries(this.pt, r);
        for (let i = 0; i < 512; i += 1) {
          if (r === 3 && i < 4) continue;
          if (entries[i] !== 0n) pt.setEntry(virt(BigInt(r) * BigInt(GiB) + BigInt(i) * BigInt(TWO_MIB)), 1, entries[i]!);
        }
      }
    } else {
      const root = this.pt.readPhys(this.pt.root, PAGE_SIZE);
      const v = new DataView(root.buffer, root.byteOffset, PAGE_SIZE);
      for (let i = 256; i < 512; i += 1) {
        const e = v.getBigUint64(i * 8, true);
        if (i !== this.selfRef && e !== 0n) pt.setEntry(virt(canonicalize(this.mode, BigInt(i) << 39n)), 0, e);
      }
    }
    for (const m of user) pt.map(virt(m.va), phys(m.pa), PAGE_SIZE, { user: true, writable: m.writable, noExecute: !m.executable });
  }

  private finishing = false;

  /** The 512 entries of page directory `r` (PAE). */
  private directoryEntries(pt: PageTableBuilder, r: number): bigint[] {
    const pdpt = pt.readPhys(pt.root, 32);
    const pd = Number(new DataView(pdpt.buffer, pdpt.byteOffset, 32).getBigUint64(r * 8, true) & 0x000ffffffffff000n);
    const bytes = pt.readPhys(phys(pd), PAGE_SIZE);
    const v = new DataView(bytes.buffer, bytes.byteOffset, PAGE_SIZE);
    return Array.from({ length: 512 }, (_, i) => v.getBigUint64(i * 8, true));
  }
}

/** A PML4 index in [lo, hi] not in `used`. */
function pickSlot(rng: Prng, used: Set<number>, lo: number, hi: number): number {
  for (;;) {
    const i = lo + rng.int(hi - lo + 1);
    if (!used.has(i)) return i;
  }
}
