// The synthetic Windows worlds (XP SP2 x86 PAE, 7 SP1 x64, 10 19041 x64): every truth
// process at its pa decoding through the layout pack to its truth fields, its pool and
// object headers, the PsActiveProcessHead walk, translation through the kernel and the
// process page tables, the self-map, threads and handle tables pointing back, PspCidTable,
// VADs and DKOM styles.
// Worlds are 32 MiB. Files, attacks and options: windows-disk.test.ts.
import { beforeAll, describe, expect, it } from 'vitest';
import { type PhysAddr, phys, virt } from '../../src/addr.js';
import { PagingTranslator, X86_64_4LEVEL, X86_PAE, type PhysReadable } from '../../src/layers/index.js';
import { buildWorld, resolveSynthOptions, type SynthArgs, type WorldInMemory } from '../../src/synth/index.js';
import { windowsBuild } from '../../src/synth/windows/builds.js';
import { decodeEntry, entriesPerPage } from '../../src/synth/windows/handle-table.js';
import { roundUp, winLayout } from '../../src/synth/windows/layout.js';
import type { WindowsSynthTask } from '../../src/synth/windows/truth.js';
const BUILDS = ['winxpsp2x86', 'win7sp1x64', 'win10x64_19041'] as const;

function world(args: SynthArgs): WorldInMemory {
  const { plugin, options } = resolveSynthOptions({ os: 'windows', ...args });
  return buildWorld(plugin, options);
}
const tasksOf = (w: WorldInMemory) => w.world.truth.tasks as WindowsSynthTask[];
const mem = (w: WorldInMemory): PhysReadable => ({ readPhys: (pa: PhysAddr, n: number) => w.readPhys(pa, n) });

/** Read `n` bytes at `va` through `t`, page by page. */
function readVirt(w: WorldInMemory, t: PagingTranslator, va: bigint, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let done = 0; done < n; ) {
    const span = t.translateVirtSpan(virt(va + BigInt(done)));
    const k = Math.min(n - done, span.length);
    out.set(w.readPhys(span.pa, k), done);
    done += k;
  }
  return out;
}

function utf16At(bytes: Uint8Array, length: number): string {
  let s = '';
  for (let i = 0; i + 1 < length; i += 2) s += String.fromCharCode(bytes[i]! | (bytes[i + 1]! << 8));
  return s;
}

describe.each(BUILDS)('windows world %s', (build) => {
  const B = windowsBuild(build);
  const W = winLayout(B);
  const L = W.L;
  const mode = B.arch === 'x86' ? X86_PAE : X86_64_4LEVEL;
  const dtbPath = B.arch === 'x86' ? 'Pcb.DirectoryTableBase[0]' : 'Pcb.DirectoryTableBase';
  const EP = W.sizes.eprocess;
  let w: WorldInMemory;
  let kernel: PagingTranslator;
  let tasks: WindowsSynthTask[];
  const eproc = (t: WindowsSynthTask) => w.readPhys(Number(t.pa), EP);
  const field = (t: WindowsSynthTask, path: string) => L.readMember('_EPROCESS', path, eproc(t));
  const ptr = (bytes: Uint8Array, at = 0) => (W.ptrSize === 8 ? new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(at, true) : BigInt(new DataView(bytes.buffer, bytes.byteOffset).getUint32(at, true)));
  const kread = (va: bigint, n: number) => readVirt(w, kernel, va, n);

  beforeAll(() => {
    w = world({ build, seed: 3, size: '32M', procs: 30, threads: 20, hidden: 4, exited: 6, decoys: 12 });
    tasks = tasksOf(w);
    kernel = new PagingTranslator(mem(w), mode, phys(Number(w.world.truth.layout['dtb'])));
  });

  it('has the statuses, exit kinds and unlink styles asked for', () => {
    expect(tasks.filter((t) => t.status === 'hidden')).toHaveLength(4);
    expect(tasks.filter((t) => t.status === 'exited')).toHaveLength(6);
    expect(tasks.filter((t) => t.status !== 'exited')).toHaveLength(30);
    expect(new Set(tasks.filter((t) => t.status === 'exited').map((t) => t.exit_kind))).toEqual(new Set(['terminated', 'freed']));
    expect(new Set(tasks.filter((t) => t.status === 'hidden').map((t) => t.unlink_style))).toEqual(new Set(['stale', 'self']));
    expect(tasks[0]).toMatchObject({ pid: 4, ppid: 0, comm: 'System', status: 'live' });
    for (const t of tasks) expect(t.pid % 4).toBe(0);
    expect(w.world.truth.decoys).toHaveLength(12);
  });

  it('puts every process at its pa, decoding through the layout to its truth fields', () => {
    for (const t of tasks) {
      const d = (p: string) => field(t, p);
      if (t.status === 'exited' && t.exit_kind === 'freed') {
        expect(d('UniqueProcessId') === BigInt(t.pid)).toBe(t.residue!.pid);
        expect(d('ImageFileName') === t.comm).toBe(t.residue!.comm);
        continue;
      }
      expect(d('UniqueProcessId')).toBe(BigInt(t.pid));
      expect(d('InheritedFromUniqueProcessId')).toBe(BigInt(t.ppid));
      expect(d('ImageFileName')).toBe(t.comm);
      expect(d('CreateTime.QuadPart')).toBe(BigInt(t.create_time));
      expect(d('ExitTime.QuadPart')).toBe(BigInt(t.exit_time));
      expect(d('Pcb.Header.Type')).toBe(B.facts.process_object.dispatcher_type);
      expect(d('Pcb.Header.Size')).toBe(B.facts.process_object.dispatcher_size);
      expect(BigInt(d(dtbPath) as number | bigint)).toBe(BigInt(t.dtb));
      if (t.status === 'exited') {
        expect(t.residue).toEqual({ pid: true, tgid: true, comm: true });
        expect(BigInt(t.exit_time)).toBeGreaterThan(BigInt(t.create_time));
        expect(d('ObjectTable')).toBe(0n);
      } else {
        expect(t.exit_time).toBe('0');
      }
    }
    // Create times increase in creation order (XP's System has none).
    const times = tasks.map((t) => BigInt(t.create_time)).filter((x) => x !== 0n);
    expect(times).toEqual([...times].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
  });

  it('wraps every object in a pool block: header, optional headers, object header with the Process type', () => {
    const tagBytes = Buffer.from(B.facts.pool.process_tag.u32.slice(2).match(/../g)!.reverse().join(''), 'hex');
    const cookie = Number(w.world.truth.layout['ObHeaderCookie'] ?? 0);
    let encodedDiffers = false;
    for (const t of tasks) {
      const poolPa = Number(t.pool_header_pa);
      const ph = w.readPhys(poolPa, W.sizes.poolHeader);
      const blockSize = Number(L.readMember('_POOL_HEADER', 'BlockSize', ph)) * W.gran;
      const tagged = Buffer.from(ph.subarray(L.offsetOf('_POOL_HEADER', 'PoolTag'), L.offsetOf('_POOL_HEADER', 'PoolTag') + 4)).equals(tagBytes);
      if (t.exit_kind === 'freed') {
        // Free (PoolType 0, tag kept) or its front reused by an allocation with another tag.
        expect(tagged && L.readMember('_POOL_HEADER', 'PoolType', ph) !== 0).toBe(false);
        continue;
      }
      expect(tagged).toBe(true);
      expect(L.readMember('_POOL_HEADER', 'PoolType', ph)).not.toBe(0);
      // Body at the end of the block (bottom-up rule).
      expect(poolPa + blockSize - roundUp(EP, W.gran)).toBe(Number(t.pa));
      const hdrPa = Number(t.object_header_pa);
      expect(hdrPa + W.bodyOffset).toBe(Number(t.pa));
      const oh = w.readPhys(hdrPa, W.bodyOffset);
      if (B.facts.object_header.type_encoding === 'pointer') {
        const typeVar = kread(BigInt(w.world.truth.layout['PsProcessType_va']!), 4);
        expect(L.readMember('_OBJECT_HEADER', 'Type', oh)).toBe(ptr(typeVar));
      } else {
        const stored = L.readMember('_OBJECT_HEADER', 'TypeIndex', oh) as number;
        const headerVa = BigInt(t.va) - BigInt(W.bodyOffset);
        const index = B.facts.object_header.type_encoding === 'index-cookie' ? (stored ^ cookie ^ Number((headerVa >> 8n) & 0xffn)) & 0xff : stored;
        expect(index).toBe(B.facts.object_header.process_type_index);
        if (stored !== index) encodedDiffers = true;
        // Optional headers: what InfoMask announces fits between the pool header and the object header.
        const mask = L.readMember('_OBJECT_HEADER', 'InfoMask', oh) as number;
        const opt = B.facts.object_header.optional_headers.filter((h) => (mask & h.bit!) !== 0).reduce((n, h) => n + L.sizeOf(h.type), 0);
        expect(poolPa + W.sizes.poolHeader + opt).toBe(hdrPa);
      }
    }
    if (B.facts.object_header.type_encoding === 'index-cookie') expect(encodedDiffers).toBe(true);
  });

  it('tiles each pool page with a consistent chain of blocks (BlockSize forward, PreviousSize back)', () => {
    const pages = new Set(tasks.filter((t) => t.exit_kind !== 'freed').map((t) => Number(t.pool_header_pa) - (Number(t.pool_header_pa) % 4096)));
    let blocks = 0;
    for (const page of pages) {
      const bytes = w.readPhys(page, 4096);
      const starts: number[] = [];
      let prev = 0;
      for (let at = 0; at < 4096; ) {
        const size = Number(L.readMember('_POOL_HEADER', 'BlockSize', bytes, at)) * W.gran;
        expect(Number(L.readMember('_POOL_HEADER', 'PreviousSize', bytes, at)) * W.gran).toBe(prev);
        expect(size).toBeGreaterThan(0);
        starts.push(page + at);
        prev = size;
        at += size;
        expect(at).toBeLessThanOrEqual(4096);
      }
      for (const t of tasks) if (Number(t.pool_header_pa) - (Number(t.pool_header_pa) % 4096) === page && t.exit_kind !== 'freed') expect(starts).toContain(Number(t.pool_header_pa));
      blocks += starts.length;
    }
    // Objects share their pages with other allocations.
    expect(blocks).toBeGreaterThan(2 * pages.size);
  });

  it('links exactly the live processes from PsActiveProcessHead, with consistent Blinks', () => {
    const head = BigInt(w.world.truth.layout['PsActiveProcessHead_va']!);
    expect(kernel.translateVirt(virt(head))).toBe(Number(w.world.truth.layout['PsActiveProcessHead_pa']));
    const off = BigInt(L.offsetOf('_EPROCESS', 'ActiveProcessLinks'));
    const seen: number[] = [];
    let prev = head;
    for (let at = ptr(kread(head, W.ptrSize)); at !== head; ) {
      const links = kread(at, 2 * W.ptrSize);
      expect(ptr(links, W.ptrSize)).toBe(prev);
      seen.push(kernel.translateVirt(virt(at - off)));
      prev = at;
      at = ptr(links);
      expect(seen.length).toBeLessThan(tasks.length + 1);
    }
    expect(seen).toEqual(tasks.filter((t) => t.on_tasks_list).map((t) => Number(t.pa)));
    expect(tasks.filter((t) => t.on_tasks_list).every((t) => t.status === 'live')).toBe(true);
  });

  it('gives hidden processes stale or self-pointing links, their neighbours skipping them', () => {
    const off = L.offsetOf('_EPROCESS', 'ActiveProcessLinks');
    for (const t of tasks.filter((x) => x.status === 'hidden')) {
      const entryVa = BigInt(t.va) + BigInt(off);
      const flink = field(t, 'ActiveProcessLinks.Flink') as bigint;
      if (t.unlink_style === 'self') {
        expect(flink).toBe(entryVa);
        expect(t.mutations).toContain('ActiveProcessLinks');
      } else {
        expect(flink).not.toBe(entryVa);
        // Its old neighbour no longer points back at it.
        expect(ptr(kread(flink + BigInt(W.ptrSize), W.ptrSize))).not.toBe(entryVa);
        expect(t.mutations).toEqual([]);
      }
    }
  });

  it('translates every object va through the kernel DTB to its pa', () => {
    for (const t of tasks) expect(kernel.translateVirt(virt(BigInt(t.va)))).toBe(Number(t.pa));
    for (const name of ['PspCidTable', 'HandleTableListHead', 'PsInitialSystemProcess']) {
      expect(() => kernel.translateVirt(virt(BigInt(w.world.truth.layout[`${name}_va`]!)))).not.toThrow();
    }
    const system = ptr(kread(BigInt(w.world.truth.layout['PsInitialSystemProcess_va']!), W.ptrSize));
    expect(system).toBe(BigInt(tasks[0]!.va));
  });

  it('maps each self-reference: the page tables appear at PTE_BASE in every address space', () => {
    const pteBase = BigInt(w.world.truth.layout['pte_base']!);
    const selfRef = Number(w.world.truth.layout['self_ref_index']);
    if (B.name === 'win7sp1x64') expect(selfRef).toBe(0x1ed);
    for (const t of tasks.filter((x) => x.exit_kind !== 'freed')) {
      const dtb = Number(t.dtb);
      const pt = new PagingTranslator(mem(w), mode, phys(dtb));
      if (B.arch === 'x86') {
        // PDE_BASE 0xC0600000 + 0x1000·k maps page directory k (PDPT entry k).
        const pdpt = w.readPhys(dtb, 32);
        for (let k = 0; k < 4; k += 1) {
          const pd = Number(new DataView(pdpt.buffer).getBigUint64(k * 8, true) & 0xffffff000n);
          expect(pt.translateVirt(virt(0xc0600000n + BigInt(k) * 0x1000n))).toBe(pd);
        }
      } else {
        const root = w.readPhys(dtb, 4096);
        const e = new DataView(root.buffer).getBigUint64(selfRef * 8, true);
        expect(Number(e & 0xffffffffff000n)).toBe(dtb);
        const s = BigInt(selfRef);
        const pml4Va = pteBase + (s << 30n) + (s << 21n) + (s << 12n);
        expect(pt.translateVirt(virt(pml4Va))).toBe(dtb);
      }
    }
  });

  it("maps each running process's PEB and parameters in its own page tables only", () => {
    for (const t of tasks.filter((x) => x.status !== 'exited')) {
      const peb = field(t, 'Peb') as bigint;
      if (t.pid === 4 || ['Registry', 'MemCompression'].includes(t.comm)) {
        expect(peb).toBe(0n);
        continue;
      }
      const pt = new PagingTranslator(mem(w), mode, phys(Number(t.dtb)));
      const pebBytes = readVirt(w, pt, peb, W.sizes.peb);
      expect(() => kernel.translateVirt(virt(peb))).toThrow();
      const imageBase = L.readMember('_PEB', 'ImageBaseAddress', pebBytes) as bigint;
      expect(imageBase).toBe(field(t, 'SectionBaseAddress'));
      expect(Buffer.from(readVirt(w, pt, imageBase, 2)).toString('latin1')).toBe('MZ');
      const params = readVirt(w, pt, L.readMember('_PEB', 'ProcessParameters', pebBytes) as bigint, W.sizes.params);
      const str = (p: string) => utf16At(readVirt(w, pt, L.readMember('_RTL_USER_PROCESS_PARAMETERS', `${p}.Buffer`, params) as bigint, Number(L.readMember('_RTL_USER_PROCESS_PARAMETERS', `${p}.Length`, params))), Number(L.readMember('_RTL_USER_PROCESS_PARAMETERS', `${p}.Length`, params)));
      const image = str('ImagePathName');
      expect(image.toLowerCase().endsWith(t.comm.toLowerCase()) || image.toLowerCase().includes(`\\${t.comm.toLowerCase()}`)).toBe(true);
      expect(str('CommandLine')).toContain(image);
    }
  });

  it('gives each process threads that point back, on both thread lists', () => {
    const exec = L.offsetOf('_ETHREAD', 'ThreadListEntry');
    const kern = L.offsetOf('_ETHREAD', 'Tcb.ThreadListEntry');
    const walk = (headVa: bigint, entryOff: number): bigint[] => {
      const out: bigint[] = [];
      for (let at = ptr(kread(headVa, W.ptrSize)); at !== headVa; at = ptr(kread(at, W.ptrSize))) {
        out.push(at - BigInt(entryOff));
        expect(out.length).toBeLessThan(1000);
      }
      return out;
    };
    let total = 0;
    for (const t of tasks.filter((x) => x.status !== 'exited')) {
      const va = BigInt(t.va);
      const threads = walk(va + BigInt(L.offsetOf('_EPROCESS', 'ThreadListHead')), exec);
      expect(threads).toHaveLength(t.threads);
      expect(walk(va + BigInt(L.offsetOf('_EPROCESS', 'Pcb.ThreadListHead')), kern)).toEqual(threads);
      for (const th of threads) {
        const e = kread(th, W.sizes.ethread);
        expect(L.readMember('_ETHREAD', 'Tcb.ApcState.Process', e)).toBe(va);
        expect(L.readMember('_ETHREAD', B.arch === 'x86' ? 'ThreadsProcess' : 'Tcb.Process', e)).toBe(va);
        expect(L.readMember('_ETHREAD', 'Cid.UniqueProcess', e)).toBe(BigInt(t.pid));
        expect(Number(L.readMember('_ETHREAD', 'Cid.UniqueThread', e) as bigint) % 4).toBe(0);
        expect(L.readMember('_ETHREAD', 'Tcb.Header.Type', e)).toBe(6);
      }
      total += threads.length;
    }
    expect(total).toBeGreaterThanOrEqual(30 + 20);
    // Terminated processes have no threads left on their lists.
    for (const t of tasks.filter((x) => x.exit_kind === 'terminated')) {
      const head = BigInt(t.va) + BigInt(L.offsetOf('_EPROCESS', 'ThreadListHead'));
      expect(ptr(kread(head, W.ptrSize))).toBe(head);
    }
  });

  it('gives each running process an ObjectTable whose QuotaProcess and UniqueProcessId point back', () => {
    for (const t of tasks.filter((x) => x.status !== 'exited')) {
      const ht = kread(field(t, 'ObjectTable') as bigint, W.sizes.handleTable);
      expect(L.readMember('_HANDLE_TABLE', 'QuotaProcess', ht)).toBe(t.pid === 4 ? 0n : BigInt(t.va));
      expect(BigInt(L.readMember('_HANDLE_TABLE', 'UniqueProcessId', ht) as number | bigint)).toBe(BigInt(t.pid));
      // Level-0 table: its entries point at object headers.
      const code = BigInt(L.readMember('_HANDLE_TABLE', 'TableCode', ht) as number | bigint);
      if ((code & 3n) === 0n) {
        const page = kread(code, 4096);
        const first = decodeEntry(W, page, 1);
        expect(first).not.toBe(0n);
        expect(() => kernel.translateVirt(virt(first))).not.toThrow();
      }
    }
  });

  it('keeps every process still in memory, and the threads of running ones, in PspCidTable', () => {
    const table = kread(BigInt(w.world.truth.layout['PspCidTable_table_va']!), W.sizes.handleTable);
    expect(ptr(kread(BigInt(w.world.truth.layout['PspCidTable_va']!), W.ptrSize))).toBe(BigInt(w.world.truth.layout['PspCidTable_table_va']!));
    const code = BigInt(L.readMember('_HANDLE_TABLE', 'TableCode', table) as number | bigint);
    const per = entriesPerPage(W);
    const pageOf = (index: number): Uint8Array => {
      if ((code & 3n) === 0n) return kread(code, 4096);
      const l1 = kread(code & ~3n, 4096);
      return kread(ptr(l1, Math.floor(index / per) * W.ptrSize), 4096);
    };
    const lookup = (id: number) => decodeEntry(W, pageOf(id / 4), (id / 4) % per);
    for (const t of tasks) expect(lookup(t.pid)).toBe(t.exit_kind === 'freed' ? 0n : BigInt(t.va));
  });

  it('hangs a VAD tree off each running process that covers its PEB', () => {
    for (const t of tasks.filter((x) => x.status !== 'exited' && (field(x, 'Peb') as bigint) !== 0n)) {
      const pebVpn = (field(t, 'Peb') as bigint) >> 12n;
      const nodes: { start: bigint; end: bigint }[] = [];
      const visit = (va: bigint): void => {
        if (va === 0n) return;
        const n = kread(va, L.sizeOf('_MMVAD_SHORT'));
        const g = (p: string) => BigInt(L.readMember('_MMVAD_SHORT', p, n) as number | bigint);
        const [left, right] = B.name === 'win10x64_19041' ? [g('VadNode.Left'), g('VadNode.Right')] : [g('LeftChild'), g('RightChild')];
        visit(left);
        nodes.push(B.name === 'win10x64_19041' ? { start: g('StartingVpn') | (g('StartingVpnHigh') << 32n), end: g('EndingVpn') | (g('EndingVpnHigh') << 32n) } : { start: g('StartingVpn'), end: g('EndingVpn') });
        visit(right);
      };
      const root = B.name === 'winxpsp2x86' ? (field(t, 'VadRoot') as bigint) : B.name === 'win7sp1x64' ? (field(t, 'VadRoot.BalancedRoot.RightChild') as bigint) : (field(t, 'VadRoot.Root') as bigint);
      visit(root);
      expect(nodes.length).toBeGreaterThanOrEqual(5);
      for (let i = 1; i < nodes.length; i += 1) expect(nodes[i]!.start).toBeGreaterThan(nodes[i - 1]!.end);
      expect(nodes.some((n) => n.start <= pebVpn && pebVpn <= n.end)).toBe(true);
    }
  });

  it('places decoys that are not process objects', () => {
    const pas = new Set(tasks.map((t) => t.pa));
    for (const d of w.world.truth.decoys) expect(pas.has(d.pa)).toBe(false);
    const kinds = new Set(w.world.truth.decoys.map((d) => d.kind));
    expect(kinds).toEqual(new Set(['proc-tag-garbage', 'name-utf16', 'partial-copy', 'name-ascii', 'other-object', 'dead-proc-block']));
    const tag = Buffer.from(B.facts.pool.process_tag.u32.slice(2).match(/../g)!.reverse().join(''), 'hex');
    for (const d of w.world.truth.decoys.filter((x) => x.kind === 'proc-tag-garbage' || x.kind === 'dead-proc-block')) {
      // The process tag sits in a pool header in front of the decoy.
      const bytes = w.readPhys(Number(d.pa) - 256, 256);
      expect(Buffer.from(bytes).includes(tag)).toBe(true);
    }
  });
});
