// The Windows world plug-in: XP SP2 x86 (PAE), 7 SP1 x64 and 10 19041 x64 from the layout
// packs. Processes are EPROCESS objects in pool blocks with their threads, tokens, handle
// tables, PEBs, VADs and page tables; the kernel's lists and PspCidTable; DKOM-hidden,
// terminated and freed processes; decoys; attacker mutations. See README.md here.
import { UsageError } from '../../errors.js';
import { qemuCpuStateNote } from '../../layers/elf-notes.js';
import { PAGE_SIZE } from '../memory-map.js';
import { NoiseBank, NoiseKind, type NoiseEnv } from '../noise.js';
import { populateBackground } from '../page-content.js';
import type { BuiltWorld, WorldContext, WorldPlugin } from '../world.js';
import { type ProcessSpace, WinKernelSpace } from './address-space.js';
import { WINDOWS_ATTACKS, WINDOWS_RANDOM_FIELDS, attackProcess } from './attacks.js';
import { WINDOWS_BUILD_NAMES, windowsBuild } from './builds.js';
import { placeDecoys } from './decoys.js';
import { entriesPerPage } from './handle-table.js';
import { KernelData } from './kernel-data.js';
import { type SessionHead, headNode, linkKernelViews } from './kernel-lists.js';
import { winLayout } from './layout.js';
import { type ObjectBlock, ObjectTypes } from './objects.js';
import { planWindowsWorld } from './plan.js';
import { POOL_NOISE_KIND, poolPageTemplate } from './pool-noise.js';
import { Pool, poolTypeValues } from './pool.js';
import { type ProcEnv, type WProc, createProcess } from './process.js';
import { COMMON_WINDOWS_WORDS, windowsTruth } from './truth.js';

/** Background of a Windows machine: pool pages take part of what slab pages are on Linux. */
const WINDOWS_MIX: Readonly<Record<number, number>> = {
  [POOL_NOISE_KIND]: 14,
  [NoiseKind.slab]: 8,
  [NoiseKind.text]: 7,
  [NoiseKind.code]: 18,
  [NoiseKind.entropy]: 25,
  [NoiseKind.sparse]: 20,
  [NoiseKind.pageTable]: 5,
};

/** sizeof(_FILE_OBJECT) where the pack has no such type (Volatility 2 xp_sp2_x86_vtypes.py / win7_sp1_x64_vtypes.py). */
const FILE_OBJECT_SIZE: Readonly<Record<string, number>> = { winxpsp2x86: 0x70, win7sp1x64: 0xd8 };

export const windowsWorld: WorldPlugin = {
  os: 'windows',
  builds: WINDOWS_BUILD_NAMES,
  attacks: WINDOWS_ATTACKS,
  randomFields: WINDOWS_RANDOM_FIELDS,
  // x64 builds: 4-level paging; XP: PAE (3 levels). Each build has exactly one.
  pagingLevels: [4, 3],
  minSize: () => 16 << 20,
  build: buildWindowsWorld,
};

function buildWindowsWorld(ctx: WorldContext): BuiltWorld {
  const { options, memory, pages, content, canvas } = ctx;
  const rng = ctx.rng;
  const build = windowsBuild(options.build);
  const w = winLayout(build);
  const levels = build.arch === 'x86' ? 3 : 4;
  if (options.paging !== undefined && options.paging !== levels) throw new UsageError(`--paging ${options.paging}: a ${build.name} world uses ${levels}-level paging`);
  const ks = new WinKernelSpace(build, memory, pages, content, rng.child('kaslr'), options.kaslr);

  const plan = planWindowsWorld(build, options, rng.child('plan'), entriesPerPage(w));
  const env: NoiseEnv = {
    pointerSize: w.ptrSize,
    selfBase: build.arch === 'x86' ? 0x80000000n : ks.poolBases.nonpaged,
    heapPointer: (r) => ks.poolPointer(r, r.chance(0.3) ? 'paged' : 'nonpaged'),
    codePointer: (r) => ks.image.va + BigInt(r.int(ks.image.rodataEnd / 16) * 16),
    userPointer: (r) => (w.ptrSize === 8 ? 0x7ff600000000n : 0x00400000n) + BigInt(r.int(1 << 20) * 16),
    words: [...new Set([...plan.processes.map((p) => p.program.name), ...COMMON_WINDOWS_WORDS])],
    pageCount: memory.pageCount,
  };
  const bank = new NoiseBank(env, rng.child('noise'));
  bank.define(POOL_NOISE_KIND, 'pool', poolPageTemplate(w, poolTypeValues(w), build.facts.pool.process_tag.protected), { rotate: false, stamp: false });
  content.setNoise(bank);
  populateBackground(pages, content, rng.child('background'), { mix: WINDOWS_MIX });

  const kd = new KernelData(w, ks, rng.child('kernel-data'));
  const pool = new Pool(w, ks, pages, content, rng.child('pool'));
  const cookie = build.facts.object_header.type_encoding === 'index-cookie' ? rng.child('cookie').int(256) : 0;
  const types = new ObjectTypes(w, pool, cookie);
  const typeObjects = types.createTypes();

  // Session spaces (stand-ins for MM_SESSION_SPACE): a page each, its process list at the start.
  const sessions = new Map<number, SessionHead & { pa: number; bytes: Uint8Array }>();
  for (const s of [...new Set(plan.processes.map((p) => p.program.session).filter((s): s is number => s !== undefined))].sort()) {
    const page = pool.bigPage('nonpaged');
    const bytes = new Uint8Array(PAGE_SIZE);
    sessions.set(s, { node: headNode(w.struct('_LIST_ENTRY', bytes, 0), page.va), va: page.va, pa: page.pa, bytes });
  }

  // Shared file objects that handles point at.
  const fileSize = w.L.hasType('_FILE_OBJECT') ? w.L.sizeOf('_FILE_OBJECT') : FILE_OBJECT_SIZE[build.name]!;
  const files: ObjectBlock[] = Array.from({ length: 8 + Math.ceil(options.procs / 2) }, () => types.allocObject('nonpaged', 'File', fileSize, { optional: rng.chance(0.5) ? ['quota'] : [], pointerCount: 1 + rng.int(8), handleCount: 1 + rng.int(3) }));
  const fileRng = rng.child('files');
  for (const f of files) fileRng.fill(f.block.bytes.subarray(f.bodyOff + 16, f.bodyOff + 48));

  // Processes, in creation order.
  const penv: ProcEnv = { w, ks, pool, types, pages, user: { w, pages, content, canvas, computerName: `WIN-${rng.child('host').u32().toString(36).toUpperCase().slice(0, 8)}` } };
  const procs: WProc[] = [];
  const spaces = new Map<WProc, ProcessSpace>();
  const procRng = rng.child('processes');
  for (const p of plan.processes) {
    const parent = procs.find((q) => q.plan.pid === p.ppid && q.plan.exitKind !== 'freed');
    const proc = createProcess(penv, p, parent?.va, procRng.child(`proc:${p.id}`));
    procs.push(proc);
    let dtb: number;
    if (p.program.kind === 'system') {
      dtb = ks.dtb;
    } else if (p.exitKind === 'freed') {
      // Its page directory was freed with it: the DTB names a page now holding other data.
      dtb = build.arch === 'x86' ? ks.pageBelow4G() : pages.allocPage();
      content.setKind(dtb, PAGE_SIZE, NoiseKind.pageTable);
      proc.staleDtb = dtb;
    } else {
      const space = ks.createProcessSpace();
      spaces.set(proc, space);
      dtb = space.dtb;
      if (space.paeTopVa !== undefined) proc.e.set('PaeTop', space.paeTopVa);
    }
    if (build.arch === 'x86') {
      proc.e.set('Pcb.DirectoryTableBase[0]', dtb);
      proc.e.set('Pcb.DirectoryTableBase[1]', ks.pageBelow4G()); // the hyperspace page (a 32-bit physical address)
      if (p.program.kind === 'system' && ks.kernelPaeTop !== undefined) proc.e.set('PaeTop', ks.kernelPaeTop);
    } else {
      proc.e.set('Pcb.DirectoryTableBase', dtb);
    }
    const s = p.program.session;
    if (s !== undefined) proc.e.set('Session', sessions.get(s)!.va);
  }

  const views = linkKernelViews(w, pool, kd, procs, sessions, files, rng.child('kernel-views'));

  // Exits: what the kernel tears down; freed objects go back to the pool.
  const exitRng = rng.child('exits');
  for (const p of procs) {
    if (p.plan.status !== 'exited') continue;
    const e = p.e;
    e.set('ExitTime.QuadPart', p.plan.exitTime);
    e.set('ExitStatus', exitRng.chance(0.8) ? 0 : 1);
    e.set('LastThreadExitStatus', 0);
    e.set('ActiveThreads', 0);
    e.set('ProcessExiting', 1);
    e.set('VmDeleted', 1);
    e.set('Pcb.Header.SignalState', 1);
    e.set('ObjectTable', 0n);
    for (const t of p.threads) {
      p.threadLists.exec.remove(p.threadLists.exec.walk().find((n) => n.va === t.va + BigInt(t.e.off('ThreadListEntry')))!);
      p.threadLists.kernel.remove(p.threadLists.kernel.walk().find((n) => n.va === t.va + BigInt(t.e.off('Tcb.ThreadListEntry')))!);
      t.e.set('ExitTime.QuadPart', p.plan.exitTime - BigInt(exitRng.int(10_000)));
      t.e.set('Terminated', 1);
      t.e.set('Tcb.State', 4);
    }
    p.threadLists.exec.write();
    p.threadLists.kernel.write();
    clearVadRoot(p);
    for (const b of p.vad?.blocks ?? []) pool.free(b, exitRng.chance(0.5) ? w.gran * 2 : undefined, exitRng);
    for (const t of p.threads) pool.free(t.ob.block, exitRng.chance(0.5) ? w.gran * (2 + exitRng.int(t.ob.block.size / w.gran - 4)) : undefined, exitRng);
    if (p.plan.exitKind === 'freed') {
      e.set('ProcessDelete', 1);
      pool.free(p.token.block, undefined, exitRng);
      // A later allocation may take the front of the block: mostly a small one (the tag and
      // headers go, the EPROCESS body survives), sometimes one reaching into the body.
      const units = Math.floor(p.ob.block.size / w.gran);
      const reuse = exitRng.chance(0.6) ? w.gran * (2 + (exitRng.chance(0.7) ? exitRng.int(10) : exitRng.int(units - 3))) : undefined;
      pool.free(p.ob.block, reuse, exitRng);
    }
  }

  // Attacks on the hidden processes.
  if (options.attack.named.length > 0 || options.attack.random > 0) {
    const attackRng = rng.child('attack');
    for (const p of procs) {
      if (p.plan.status !== 'hidden') continue;
      const poolHeader = w.struct('_POOL_HEADER', p.ob.block.bytes, 0);
      for (const f of attackProcess(p.e, poolHeader, options.attack, attackRng.child(`proc:${p.plan.id}`), build.facts.process_object.dispatcher_size, p.mutations)) {
        if (!p.mutations.includes(f)) p.mutations.push(f);
      }
    }
  }

  const decoys = placeDecoys({ w, pool, types, pages, content, canvas }, procs, options.decoys, rng.child('decoys'));

  // Kernel globals.
  const system = procs[0]!;
  kd.setPointer('PsInitialSystemProcess', system.va);
  if (build.facts.object_header.type_encoding === 'pointer') {
    kd.setPointer('PsProcessType', types.typeObject('Process'));
    kd.setPointer('PsThreadType', types.typeObject('Thread'));
  } else {
    const table: bigint[] = Array.from({ length: Math.max(...Object.values(types.index)) + 1 }, () => 0n);
    for (const ob of typeObjects) table[Number(ob.body.get('Index'))] = ob.bodyVa;
    kd.setPointers('ObTypeIndexTable', table);
  }
  if (cookie !== 0 || build.facts.object_header.type_encoding === 'index-cookie') kd.setU32('ObHeaderCookie', ((rng.child('cookie-high').u32() & 0xffffff00) | cookie) >>> 0);

  // Page tables of the processes, now that the kernel's mappings are final.
  for (const [p, space] of spaces) ks.finishProcessSpace(space, p.plan.status === 'exited' ? [] : (p.user?.maps ?? []));

  // Into memory.
  pool.finish(canvas);
  for (const b of pool.blocks) canvas.write(b.pa, b.bytes);
  for (const t of [...views.tables.values(), views.cid]) for (const pg of t.entryPages) canvas.write(pg.pa, pg.bytes);
  for (const s of sessions.values()) canvas.write(s.pa, s.bytes);
  for (const pd of ks.pendingPdpts) canvas.write(pd.pa, pd.bytes);
  kd.commit(canvas);

  const running = procs.filter((p) => p.plan.status !== 'exited' && spaces.has(p));
  const cpu = rng.child('cpu');
  const cr3 = running.length > 0 ? cpu.pick(running).e.big(build.arch === 'x86' ? 'Pcb.DirectoryTableBase[0]' : 'Pcb.DirectoryTableBase') : BigInt(ks.dtb);
  return {
    truth: windowsTruth({ w, ks, kd, procs, plan, views, cookie, decoys, options }),
    pageTables: [ks.pt, ...[...spaces.values()].map((s) => s.pt)],
    notes: qemuCpuStateNote({
      cr0: build.arch === 'x86' ? 0x8001003bn : 0x80050033n, // PG | WP | NE | ET | TS/MP | PE
      cr3,
      cr4: build.name === 'win10x64_19041' ? 0x350ef8n : 0x6f8n, // PAE (bit 5) always; x64 also OSXSAVE etc.
      rip: ks.image.va + BigInt(cpu.int(ks.image.textEnd / 16) * 16),
    }),
    elfClass: build.arch === 'x86' && memory.end <= 2 ** 32 ? 32 : 64,
    decoys,
  };

  function clearVadRoot(p: WProc): void {
    const e = p.e;
    if (build.name === 'winxpsp2x86') {
      e.set('VadRoot', 0n);
      e.set('VadHint', 0n);
      e.set('NumberOfVads', 0);
    } else if (build.name === 'win7sp1x64') {
      e.set('VadRoot.BalancedRoot.RightChild', 0n);
      e.set('VadRoot.NumberGenericTableElements', 0);
      e.set('VadRoot.DepthOfTree', 0);
      e.set('VadRoot.NodeHint', 0n);
    } else {
      e.set('VadRoot.Root', 0n);
      e.set('VadCount', 0n);
      e.trySet('VadHint', 0n);
    }
  }
}
