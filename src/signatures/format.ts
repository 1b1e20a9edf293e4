// The signature file format, `kcarve-signature/1` (documented in
// signatures/README.md). A signature names its target type and layout, its value
// constraints (compiled to the native matcher's program), its graph edges
// (pointer fields and what must hold at their targets), how a candidate is
// scored, and where every piece came from.
//
// 64-bit values are hex strings ("0xffff800000000000") so JSON keeps them exact.
// Fields are named by layout path (`tasks.next`, `comm[0]`, `Pcb.Header.Type`),
// never by raw offset: offsets come from the layout at load time.
import type { PointerMode } from './program.js';

export const SIGNATURE_SCHEMA = 'kcarve-signature/1';

/** Where a constraint or edge came from, and how far it can be trusted. */
export interface Provenance {
  /** training: learned by `kcarve train`; fuzz: a robustness campaign; header: a kernel
   *  header or documented fact; baseline: reproduces another tool's check. */
  source: 'training' | 'fuzz' | 'header' | 'baseline' | 'manual';
  /** Share of training positives that satisfy it (0..1). */
  support?: number;
  /** Share of negative (non-object) candidates that satisfy it (0..1): its selectivity. */
  negativeRate?: number;
  /** Verdict of a fuzz campaign on the field(s) it reads. */
  robustness?: 'robust' | 'fragile' | 'unknown';
  /** Free text: a citation (file, paper, URL) or the reason it was kept. */
  note?: string;
}

interface FieldRef {
  /** Layout path of the field in the scanned type. */
  field: string;
  /** Bytes added to the field's offset (to test part of a field). Default 0. */
  byte?: number;
  /** Bytes read; default the field's size (must be 1, 2, 4 or 8 for numeric kinds). */
  width?: 1 | 2 | 4 | 8;
  provenance?: Provenance;
}

/** One value constraint; `kind` as in ./program.ts. Values are hex or decimal strings. */
export type ConstraintSpec = FieldRef &
  (
    | { kind: 'eq' | 'ne'; value: string }
    | { kind: 'mask'; mask: string; value: string }
    | { kind: 'range'; min: string; max: string }
    | { kind: 'set'; values: string[] }
    | { kind: 'aligned'; alignment: string }
    /** `mode` defaults to the image's pointer mode (found at scan time). */
    | { kind: 'kptr' | 'kptr_or_null'; mode?: PointerMode }
    /** `maxLength` defaults to the field's size. */
    | { kind: 'string'; minLength?: number; maxLength?: number }
  );

/** How to read a value at an edge's target. */
export type EdgeRead =
  /** A member of a struct at the target address. */
  | { type: string; field: string }
  /** Raw little-endian bytes at `offset` from the target address. */
  | { offset: number; width: 1 | 2 | 4 | 8 };

/** What the value read at the target must be. An edge holds if any alternative holds. */
export type EdgeExpect =
  /** A constant. */
  | { value: string }
  /** The same value as this candidate's own field. */
  | { field: string }
  /** This candidate's virtual address plus offsetOf(type, member) ("" = the object itself). */
  | { selfAddress: string }
  /**
   * The virtual address of an object of the scanned type at `member` (container_of),
   * which itself satisfies this signature's value constraints.
   */
  | { matchesSignature: string };

export interface EdgeSpec {
  /** A stable name used in results and reports (`thread_pid.nr`, `stack.magic`). */
  name: string;
  /**
   * Pointer field of this candidate to follow. Absent: `read` applies to the
   * candidate itself (a self-check such as an empty list pointing to itself).
   */
  from?: string;
  /** Clear these bits of the pointer first (e.g. _EX_FAST_REF reference count): hex. */
  fromClearBits?: string;
  /** The pointer addresses `member` inside a `type` (container_of); subtract its offset. */
  container?: { type: string; member: string };
  /**
   * What the pointer holds: a virtual address (default) or a physical address
   * (Windows DirectoryTableBase).
   */
  space?: 'virtual' | 'physical';
  /** Special structural checks that are not a single read. */
  special?: 'pml4-self-ref';
  read?: EdgeRead;
  expect?: EdgeExpect[];
  /** A candidate whose required edge fails is rejected. */
  required?: boolean;
  /** Weight in the score (default 1). */
  weight?: number;
  provenance?: Provenance;
}

export interface Scoring {
  /** Hits scoring below this are dropped (0..1). Default 0. */
  minScore?: number;
}

export interface SignatureDoc {
  schema: typeof SIGNATURE_SCHEMA;
  name: string;
  version: string;
  description?: string;
  target: {
    /** The OS support it is for: `linux`, `windows`, or a plugin's registered name. */
    os: string;
    /** The object type carved (`task_struct`, `_EPROCESS`). */
    type: string;
    /** Build family (`debian-6.1.0-57-amd64`, `win7sp1x64`) or `generic`. */
    build?: string;
    /** Default layout file, relative to the signature file. `--layout` overrides it. */
    layout?: string;
  };
  /**
   * The type candidates are scanned as, when it is not the target (a pool header
   * for pool-tag scanners). `locate` then names how to reach the target from it.
   */
  scan?: { type: string; locate: 'windows-pool-body' };
  /** Candidates start at multiples of this (bytes, physical). */
  alignment: number;
  /** Value constraints; the first is the prefilter the native matcher runs at memory speed. */
  constraints: ConstraintSpec[];
  /** Value constraints checked on the located target (only with `scan`). */
  targetConstraints?: ConstraintSpec[];
  edges?: EdgeSpec[];
  scoring?: Scoring;
  /** True for signatures that reproduce another tool's checks (Volatility psscan). */
  baseline?: boolean;
  provenance?: {
    /** The command that produced this file (`kcarve train …`). */
    command?: string;
    trainedOn?: string[];
    /** Estimated false positives per GiB of non-object memory, measured on negatives. */
    fpPerGiB?: number;
    /** The same after the graph check (judge()) on the value hits (kcarve train). */
    fpPerGiBAfterGraph?: number;
    /** The target fpPerGiB training stopped at (kcarve train --target-fp-per-gb). */
    targetFpPerGiB?: number;
    /** proven: every required field is marked robust by a fuzz campaign. */
    robustness?: 'proven' | 'unproven';
    robustnessFile?: string;
    notes?: string[];
  };
}
