// Windows signatures as code. bench/windows-signatures.ts writes the baselines from here;
// the shipped kcarve signatures (signatures/windows/eprocess-*.sig.json) are now outputs
// of `kcarve train`, and kcarveSignatureDoc stays as the hand-written, non-trained
// reference they replaced (signatures/windows/README.md):
//
// kcarve `_EPROCESS` (per build): value constraints only on fields the kernel cannot run
// without — the page-table root, the dispatcher and thread list heads the scheduler
// walks, the token and handle-table pointers, the VAD root — after Dolan-Gavitt,
// Srivastava, Traynor and Giffin, "Robust signatures for kernel data structures", CCS
// 2009 (their XP signature has no pool tag, no dispatcher Type/Size); none on what an
// attacker may rewrite without consequence (pool tag and index, Pcb.Header.Type/Size,
// CreateTime, ImageFileName, UniqueProcessId, ActiveProcessLinks). Graph edges confirm a
// candidate by its threads pointing back (or both thread lists empty and self-pointing,
// as after the last thread left), its handle table's QuotaProcess, its PML4's
// self-reference; see EDGE_WEIGHTS for the score.
//
// Baseline (per build): Volatility 3 windows.psscan as of volatilityfoundation/volatility3
// @ a1961401d52db56f310675d8cd4af09e3d9e4139 — PoolScanner.builtin_constraints for
// b"Pro\xe3" / b"Proc" (size ≥ 600, any pool type, no type test), POOL_HEADER.get_object
// (bottom-up to 7, top-down from 8: the OsSupport's locate), then EPROCESS.is_valid
// (framework/symbols/windows/extensions/__init__.py).
import type { ConstraintSpec, EdgeSpec, Provenance, SignatureDoc } from '../../signatures/format.js';
import type { Layout } from '../../types/layout.js';
import type { WindowsBuild } from './index.js';
import { winModel } from './model.js';

export const VOLATILITY3_COMMIT = 'a1961401d52db56f310675d8cd4af09e3d9e4139';
const DOLAN_GAVITT = 'Dolan-Gavitt et al., Robust signatures for kernel data structures, CCS 2009';

/** Measured figures for one constraint or edge (from bench/windows-signatures.ts). */
export interface Measured {
  support: number;
  negativeRate?: number;
}

/** FILETIME (100 ns since 1601) of a UTC date. */
export function filetimeOf(iso: string): bigint {
  return BigInt(Date.parse(iso)) * 10_000n + 116_444_736_000_000_000n;
}

function vadRoot(build: WindowsBuild): string {
  // Facts vad.note: XP a pointer to the root _MMVAD; 7 an _MM_AVL_TABLE whose
  // BalancedRoot.RightChild is the root; 10 an _RTL_AVL_TREE whose Root is.
  return build === 'winxpsp2x86' ? 'VadRoot' : build === 'win7sp1x64' ? 'VadRoot.BalancedRoot.RightChild' : 'VadRoot.Root';
}

function dtbField(L: Layout): string {
  const f = winModel(L).facts.address_space.dtb_member;
  return L.typeOf('_EPROCESS', f).kind === 'array' ? `${f}[0]` : f;
}

interface Piece<T> {
  spec: T;
  why: string;
}

/** The kcarve value constraints of a build, in order (the first is the prefilter). */
function kcarveConstraints(build: WindowsBuild, L: Layout): Piece<ConstraintSpec>[] {
  const m = winModel(L);
  const list = (path: string, why: string): Piece<ConstraintSpec>[] => [
    { spec: { field: `${path}.Flink`, kind: 'kptr' }, why },
    { spec: { field: `${path}.Blink`, kind: 'kptr' }, why },
  ];
  const dtb = dtbField(L);
  const dtbPieces: Piece<ConstraintSpec>[] =
    m.ptr === 4
      ? [
          { spec: { field: dtb, kind: 'aligned', alignment: '0x20' }, why: 'CR3 of a PAE process: a 32-byte aligned PDPT (facts dtb_rule); a wrong value faults the first context switch' },
          { spec: { field: dtb, kind: 'range', min: '0x20', max: '0xffffffe0' }, why: 'CR3 is never 0 for a process with an address space' },
        ]
      : [
          {
            spec: { field: dtb, kind: 'range', min: '0x1000', max: '0xfffffffffffff' },
            why: 'CR3 of the process: a physical address (bits 51:12, Intel SDM 4.5), never below the first page; low bits may carry a PCID from Windows 10 on, so no alignment is required',
          },
        ];
  if (build === 'win7sp1x64') {
    dtbPieces.push({ spec: { field: dtb, kind: 'aligned', alignment: '0x1000' }, why: 'Windows 7 uses no PCID: the PML4 address is page aligned (facts dtb_rule)' });
  }
  const pieces: Piece<ConstraintSpec>[] = [
    { spec: { field: 'ThreadListHead.Flink', kind: 'kptr' }, why: 'the executive thread list the kernel walks to enumerate and terminate threads (facts links.thread_list_executive)' },
    { spec: { field: 'ThreadListHead.Blink', kind: 'kptr' }, why: 'the executive thread list (tail)' },
    ...list('Pcb.ThreadListHead', 'the kernel (KPROCESS) thread list the scheduler walks (facts links.thread_list_kernel)'),
    ...list('Pcb.ReadyListHead', 'KPROCESS ready list: threads of a swapped-out process wait there; the dispatcher inserts into it'),
    ...list('Pcb.Header.WaitListHead', 'the process object\'s wait list (DISPATCHER_HEADER): KeWaitFor* links wait blocks into it'),
    ...dtbPieces,
    { spec: { field: 'Token.Value', kind: 'kptr' }, why: 'the primary token (_EX_FAST_REF: pointer plus a reference count in the low bits); every access check dereferences it' },
    { spec: { field: 'ObjectTable', kind: 'kptr_or_null' }, why: 'the handle table; NULL only once the process has exited' },
    { spec: { field: vadRoot(build), kind: 'kptr_or_null' }, why: 'the VAD tree root (facts vad); the memory manager walks it on every fault in user space' },
  ];
  // A 32-bit build's pointers are 32-bit whatever the image: name the mode (the loader
  // otherwise first compiles kptr constraints for x86-64).
  if (m.ptr === 4) for (const p of pieces) if (p.spec.kind === 'kptr' || p.spec.kind === 'kptr_or_null') p.spec = { ...p.spec, mode: 'x86-32' };
  return pieces;
}

/** Edge weights: the two thread lists decide; handle table and page tables add. */
export const EDGE_WEIGHTS = { threads: 3, handleTable: 1, pageTables: 1 };

function kcarveEdges(build: WindowsBuild, L: Layout): Piece<EdgeSpec>[] {
  const m = winModel(L);
  const owner = m.facts.links.thread_to_process.find((p) => !p.includes('ApcState'))!.replace(/^_ETHREAD\./, '');
  const apc = m.facts.links.thread_to_process.find((p) => p.includes('ApcState'))!.replace(/^_ETHREAD\./, '');
  const w = EDGE_WEIGHTS;
  const edges: Piece<EdgeSpec>[] = [
    {
      spec: {
        name: 'ThreadListHead',
        from: 'ThreadListHead.Flink',
        container: { type: '_ETHREAD', member: 'ThreadListEntry' },
        read: { type: '_ETHREAD', field: owner },
        expect: [{ selfAddress: '' }],
        weight: w.threads,
      },
      why: `the first thread on the executive list names this process (_ETHREAD.${owner}, facts links.thread_to_process)`,
    },
    {
      spec: { name: 'ThreadListHead.empty', read: { type: '_EPROCESS', field: 'ThreadListHead.Flink' }, expect: [{ selfAddress: 'ThreadListHead' }], weight: w.threads },
      why: 'or the executive list is empty and points to itself (the last thread has left)',
    },
    {
      spec: {
        name: 'Pcb.ThreadListHead',
        from: 'Pcb.ThreadListHead.Flink',
        container: { type: '_ETHREAD', member: 'Tcb.ThreadListEntry' },
        read: { type: '_ETHREAD', field: apc },
        expect: [{ selfAddress: '' }],
        weight: w.threads,
      },
      why: `the first thread on the kernel list names this process (_ETHREAD.${apc})`,
    },
    {
      spec: { name: 'Pcb.ThreadListHead.empty', read: { type: '_EPROCESS', field: 'Pcb.ThreadListHead.Flink' }, expect: [{ selfAddress: 'Pcb.ThreadListHead' }], weight: w.threads },
      why: 'or the kernel list is empty and points to itself',
    },
    {
      spec: { name: 'ObjectTable.QuotaProcess', from: 'ObjectTable', read: { type: '_HANDLE_TABLE', field: 'QuotaProcess' }, expect: [{ selfAddress: '' }], weight: w.handleTable },
      why: "the handle table charges this process (facts links.handle_table_owner); not for System's kernel table, not after exit",
    },
  ];
  if (m.ptr === 8) {
    edges.push({
      spec: { name: 'DirectoryTableBase.self-map', from: dtbField(L), space: 'physical', special: 'pml4-self-ref', weight: w.pageTables },
      why: 'the PML4 maps itself (facts address_space); not for a freed process whose page directory went with it',
    });
  }
  return edges;
}

function prov(source: Provenance['source'], why: string, m?: Measured, robustness?: Provenance['robustness']): Provenance {
  return {
    source,
    ...(m === undefined ? {} : { support: round(m.support) }),
    ...(m?.negativeRate === undefined ? {} : { negativeRate: round(m.negativeRate) }),
    ...(robustness === undefined ? {} : { robustness }),
    note: why,
  };
}

function round(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}

export interface SpecMeasures {
  constraints?: Measured[];
  edges?: Measured[];
  notes?: string[];
  command?: string;
  trainedOn?: string[];
  fpPerGiB?: number;
}

/**
 * minScore: live processes score threads·2 (+ the handle table, + the self-map on x64),
 * System one less (its kernel table charges nobody), terminated processes threads·2
 * (+ the self-map), freed ones threads·2; a copy of another process's bytes scores at
 * most the self-map. The floor lets through any object both of whose thread lists are
 * consistent with it.
 */
function minScore(edges: readonly Piece<EdgeSpec>[]): number {
  const total = edges.reduce((n, e) => n + (e.spec.weight ?? 1), 0);
  return Math.floor(((2 * EDGE_WEIGHTS.threads) / total) * 1e4) / 1e4;
}

export function kcarveSignatureDoc(build: WindowsBuild, L: Layout, layoutRef: string, measured: SpecMeasures = {}): SignatureDoc {
  const m = winModel(L);
  const constraints = kcarveConstraints(build, L);
  const edges = kcarveEdges(build, L);
  return {
    schema: 'kcarve-signature/1',
    name: `eprocess-${build}`,
    version: '1.0.0',
    description:
      `kcarve _EPROCESS signature for ${m.facts.os.name}: value constraints on fields the kernel cannot run without, ` +
      'no pool tag, no dispatcher Type/Size, no name, pid or CreateTime; thread, handle-table and page-table edges.',
    target: { os: 'windows', type: '_EPROCESS', build, layout: layoutRef },
    alignment: m.pool.gran,
    constraints: constraints.map((c, i) => ({ ...c.spec, provenance: prov('header', `${c.why}. ${DOLAN_GAVITT}`, measured.constraints?.[i], 'unknown') })),
    edges: edges.map((e, i) => ({ ...e.spec, provenance: prov('header', e.why, measured.edges?.[i], 'unknown') })),
    scoring: { minScore: minScore(edges) },
    provenance: {
      ...(measured.command === undefined ? {} : { command: measured.command }),
      ...(measured.trainedOn === undefined ? {} : { trainedOn: measured.trainedOn }),
      ...(measured.fpPerGiB === undefined ? {} : { fpPerGiB: measured.fpPerGiB }),
      robustness: 'unproven',
      notes: [
        `Fields chosen after ${DOLAN_GAVITT}: no fuzz campaign has run on these builds yet, so every piece is robustness "unknown".`,
        'support: share of the worlds\' true _EPROCESS objects (live, hidden, terminated, freed with the body intact) a piece holds on; negativeRate: share of non-object aligned offsets a constraint holds on.',
        ...(measured.notes ?? []),
      ],
    },
  };
}

/** Volatility 3's CreateTime window at the commit: 1998 < year < 2024 + 10 (the host clock then). */
export const VOL3_CREATE_TIME = { min: filetimeOf('1999-01-01T00:00:00Z'), max: filetimeOf('2034-01-01T00:00:00Z') - 1n };

export function baselineSignatureDoc(build: WindowsBuild, L: Layout, layoutRef: string, measured: SpecMeasures = {}): SignatureDoc {
  const m = winModel(L);
  const vol = `volatility3@${VOLATILITY3_COMMIT}`;
  const constraints: ConstraintSpec[] = [
    {
      field: 'PoolTag',
      kind: 'set',
      values: ['0xe36f7250', '0x636f7250'],
      provenance: prov('baseline', `b"Pro\\xe3" or b"Proc" (psscan.scan_processes; poolscanner.PoolScanner.builtin_constraints, ${vol})`),
    },
  ];
  const bs = m.pool.blockSize;
  // size=(600, None): BlockSize · alignment ≥ 600, alignment 8 (x86) / 16 (x64).
  const minUnits = Math.ceil(600 / m.pool.gran);
  const notes: string[] = [];
  if (bs.bits !== undefined && bs.bits.length === 8 && bs.bits.position % 8 === 0) {
    constraints.push({
      field: 'BlockSize',
      byte: bs.bits.position / 8,
      width: 1,
      kind: 'range',
      min: String(minUnits),
      max: '255',
      provenance: prov('baseline', `BlockSize · ${m.pool.gran} ≥ 600 (PoolConstraint size=(600, None), PoolHeaderScanner.__call__, ${vol})`),
    });
  } else {
    notes.push(
      `BlockSize is a ${bs.bits?.length ?? bs.size * 8}-bit field sharing its bytes with PoolType here, which no constraint kind can bound; ` +
        `the locate step refuses blocks too small to hold the headers and an _EPROCESS (≥ ${m.pool.headerSize + m.oh.bodyOffset + m.ep.size} bytes, stricter than Volatility's 600)`,
    );
  }
  const dtb = dtbField(L);
  const targetConstraints: ConstraintSpec[] = [
    { field: 'ImageFileName', width: 1, kind: 'ne', value: '0', provenance: prov('baseline', `a name whose first byte is not NUL (EPROCESS.is_valid, ${vol}); printable is not checked there`) },
    {
      field: 'CreateTime.QuadPart',
      kind: 'range',
      min: `0x${VOL3_CREATE_TIME.min.toString(16)}`,
      max: `0x${VOL3_CREATE_TIME.max.toString(16)}`,
      provenance: prov('baseline', `CreateTime non-zero and 1998 < year < current_year + 10, current_year fixed at the commit's 2024 (EPROCESS.is_valid, ${vol})`),
    },
    { field: 'UniqueProcessId', kind: 'aligned', alignment: '4', provenance: prov('baseline', `"NT pids are divisible by 4" (EPROCESS.is_valid, ${vol})`) },
    {
      field: dtb,
      kind: 'range',
      min: '0x1000',
      max: m.ptr === 4 ? '0xffffffff' : '0xffffffffffffffff',
      provenance: prov('baseline', `DirectoryTableBase != 0 and dtb & ~0xFFF != 0 (EPROCESS.is_valid, ${vol})`),
    },
    ...['Flink', 'Blink'].map(
      (l): ConstraintSpec => ({
        field: `ThreadListHead.${l}`,
        kind: 'range',
        min: '0x80000000',
        max: m.ptr === 4 ? '0xffffffff' : '0xffffffffffffffff',
        provenance: prov('baseline', `ThreadListHead.${l} >= 0x80000000, "a quick test" (EPROCESS.is_valid, ${vol})`),
      }),
    ),
  ];
  return {
    schema: 'kcarve-signature/1',
    name: `baseline-volatility-psscan-${build}`,
    version: '1.0.0',
    description: `Reproduces Volatility 3 windows.psscan (${vol}) on ${m.facts.os.name}: pool tag and block size, then EPROCESS.is_valid on the located body.`,
    target: { os: 'windows', type: '_EPROCESS', build, layout: layoutRef },
    scan: { type: '_POOL_HEADER', locate: 'windows-pool-body' },
    alignment: m.pool.gran,
    constraints,
    targetConstraints,
    baseline: true,
    provenance: {
      ...(measured.command === undefined ? {} : { command: measured.command }),
      notes: [
        `Source: volatilityfoundation/volatility3 @ ${VOLATILITY3_COMMIT}: framework/plugins/windows/psscan.py, poolscanner.py, framework/symbols/windows/extensions/pool.py and __init__.py (EPROCESS.is_valid).`,
        'Not expressible as conjunctive constraints, so not reproduced: is_valid exempts a process named "System" with pid 4 from the CreateTime test (XP\'s System has CreateTime 0 and is missed here), and an ExitTime, when set, must lie in the same window and after CreateTime.',
        ...notes,
        ...(measured.notes ?? []),
      ],
    },
  };
}
