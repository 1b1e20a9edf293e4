// truth.json of a Windows world (schema kcarve-truth/1, ../shared/TRUTH.md): one entry per
// EPROCESS; pa/va are those of the _EPROCESS body (not the pool header), comm is
// ImageFileName, pid UniqueProcessId, ppid InheritedFromUniqueProcessId, layout.dtb the
// kernel DTB and layout.PsActiveProcessHead_va the list head. 64-bit values (addresses,
// FILETIMEs) are strings: FILETIMEs exceed 2^53.
import { hex } from '../../addr.js';
import { TRUTH_SCHEMA, type SynthDecoy, type SynthTruth, type SynthTruthTask } from '../truth.js';
import type { SynthOptions } from '../world.js';
import type { WinKernelSpace } from './address-space.js';
import type { KernelData } from './kernel-data.js';
import type { KernelViews } from './kernel-lists.js';
import type { WinLayout } from './layout.js';
import type { UnlinkStyle } from './lists.js';
import type { ExitKind, WindowsPlan } from './plan.js';
import type { WProc } from './process.js';

/** Words a Windows machine's memory mentions (for text noise), besides its process names. */
export const COMMON_WINDOWS_WORDS = [
  'ntoskrnl.exe', 'hal.dll', 'ntdll.dll', 'kernel32.dll', 'user32.dll', 'advapi32.dll', 'win32k.sys', 'tcpip.sys', 'ntfs.sys',
  'C:\\Windows\\System32', '\\SystemRoot\\System32\\drivers', 'HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet', 'NT AUTHORITY\\SYSTEM',
  '\\Device\\HarddiskVolume1', 'Microsoft Corporation', '\\BaseNamedObjects', 'WinSta0\\Default',
];

export interface WindowsSynthTask extends SynthTruthTask {
  /** FILETIMEs (100 ns since 1601) as decimal strings; exit_time "0" unless exited. */
  create_time: string;
  exit_time: string;
  /** Pcb.DirectoryTableBase (CR3) as written. */
  dtb: string;
  threads: number;
  session: number | null;
  /** Exited: still referenced (terminated) or its pool block was freed. */
  exit_kind?: ExitKind;
  unlink_style?: UnlinkStyle;
  /** The pool header and object header of the block holding it. */
  pool_header_pa: string;
  object_header_pa: string;
}

const EPROCESS_FIELDS = [
  'Pcb.Header.Type', 'Pcb.Header.Size', 'Pcb.DirectoryTableBase', 'Pcb.ThreadListHead', 'CreateTime', 'ExitTime', 'UniqueProcessId',
  'ActiveProcessLinks', 'SessionProcessLinks', 'InheritedFromUniqueProcessId', 'ImageFileName', 'ThreadListHead', 'ObjectTable',
  'Token', 'Peb', 'VadRoot', 'ActiveThreads', 'ExitStatus', 'Flags', 'Session',
];
const ETHREAD_FIELDS = ['Tcb.Header.Type', 'Tcb.ApcState.Process', 'Tcb.ThreadListEntry', 'Tcb.Teb', 'CreateTime', 'Cid.UniqueProcess', 'Cid.UniqueThread', 'ThreadListEntry'];

function fields(w: WinLayout, type: string, paths: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of paths) {
    try {
      out[p] = w.L.offsetOf(type, p);
    } catch {
      // a member this build does not have
    }
  }
  return out;
}

function truthTask(w: WinLayout, p: WProc): WindowsSynthTask {
  const plan = p.plan;
  const e = p.e;
  const dtb = w.build.arch === 'x86' ? e.big('Pcb.DirectoryTableBase[0]') : e.big('Pcb.DirectoryTableBase');
  const out: WindowsSynthTask = {
    status: plan.status,
    pid: plan.pid,
    tgid: plan.pid,
    ppid: plan.ppid,
    comm: p.name,
    leader: true,
    on_tasks_list: plan.status === 'live',
    va: hex(p.va),
    pa: hex(p.pa),
    mutations: [...p.mutations],
    create_time: plan.createTime.toString(),
    exit_time: plan.exitTime.toString(),
    dtb: hex(dtb),
    threads: plan.threads.length,
    session: plan.program.session ?? null,
    pool_header_pa: hex(p.ob.block.pa),
    object_header_pa: hex(p.ob.block.pa + p.ob.headerOff),
  };
  if (plan.exitKind) out.exit_kind = plan.exitKind;
  if (p.style) out.unlink_style = p.style;
  if (plan.status === 'exited') {
    const name = new Uint8Array(w.nameLength);
    name.set(Buffer.from(p.name, 'latin1'));
    const pidOk = e.big('UniqueProcessId') === BigInt(plan.pid);
    out.residue = { pid: pidOk, tgid: pidOk, comm: Buffer.from(e.raw('ImageFileName')).equals(Buffer.from(name)) };
  }
  return out;
}

export interface WindowsTruthArgs {
  readonly w: WinLayout;
  readonly ks: WinKernelSpace;
  readonly kd: KernelData;
  readonly procs: readonly WProc[];
  readonly plan: WindowsPlan;
  readonly views: KernelViews;
  readonly cookie: number;
  readonly decoys: SynthDecoy[];
  readonly options: SynthOptions;
}

export function windowsTruth(a: WindowsTruthArgs): Omit<SynthTruth<WindowsSynthTask>, 'image' | 'build'> {
  const { w, ks, kd } = a;
  const b = w.build;
  const layout: Record<string, string> = {
    dtb: hex(ks.dtb),
    paging: ks.mode.name,
    PsActiveProcessHead_va: hex(kd.symbol('PsActiveProcessHead')),
    PsActiveProcessHead_pa: hex(kd.symbolPa('PsActiveProcessHead')),
    PspCidTable_va: hex(kd.symbol('PspCidTable')),
    PspCidTable_table_va: hex(a.views.cid.va),
    PsInitialSystemProcess_va: hex(kd.symbol('PsInitialSystemProcess')),
    HandleTableListHead_va: hex(kd.symbol('HandleTableListHead')),
    kernel_base: hex(ks.image.va),
    kernel_base_pa: hex(ks.image.pa),
    pte_base: hex(ks.pteBase),
    self_ref_index: hex(ks.selfRef),
    nonpaged_pool_base: hex(ks.poolBases.nonpaged),
    paged_pool_base: hex(ks.poolBases.paged),
    boot_time: a.plan.bootTime.toString(),
    dump_time: a.plan.dumpTime.toString(),
  };
  if (b.facts.object_header.type_encoding === 'pointer') {
    layout['PsProcessType_va'] = hex(kd.symbol('PsProcessType'));
  } else {
    layout['ObTypeIndexTable_va'] = hex(kd.symbol('ObTypeIndexTable'));
  }
  if (b.facts.object_header.type_encoding === 'index-cookie') {
    layout['ObHeaderCookie_va'] = hex(kd.symbol('ObHeaderCookie'));
    layout['ObHeaderCookie'] = hex(a.cookie);
  }
  if (b.arch === 'x86') layout['xp_linear_window'] = hex(ks.xpWindow);
  return {
    schema: TRUTH_SCHEMA,
    os: 'windows',
    kernel: { build: b.name, release: b.release, arch: b.arch, paging_levels: b.arch === 'x86' ? 3 : 4, kaslr: a.options.kaslr, isf: `${b.name}.isf.json`, facts: `${b.name}.facts.json` },
    layout,
    offsets: {
      _EPROCESS: { size: w.sizes.eprocess, fields: fields(w, '_EPROCESS', EPROCESS_FIELDS) },
      _ETHREAD: { size: w.sizes.ethread, fields: fields(w, '_ETHREAD', [...ETHREAD_FIELDS, 'Tcb.Process', 'ThreadsProcess']) },
      _OBJECT_HEADER: { size: w.bodyOffset, fields: fields(w, '_OBJECT_HEADER', ['PointerCount', 'HandleCount', 'Type', 'TypeIndex', 'InfoMask', 'NameInfoOffset', 'HandleInfoOffset', 'QuotaInfoOffset', 'Flags', 'Body']) },
      _POOL_HEADER: { size: w.sizes.poolHeader, fields: fields(w, '_POOL_HEADER', ['PoolTag']) },
      _HANDLE_TABLE: { size: w.sizes.handleTable, fields: fields(w, '_HANDLE_TABLE', ['TableCode', 'QuotaProcess', 'UniqueProcessId', 'HandleTableList']) },
    },
    tasks: a.procs.map((p) => truthTask(w, p)),
    decoys: a.decoys,
  };
}
