// The graph pass for one value hit: is it really an object of the signature's target
// type, and what does it say? Runs in the scan workers (and in-process with
// `--workers 0`, the same function). Steps, in order:
//   1. recheck the value constraints compiled for the image's real pointer mode (the
//      value pass ran with the loosest mode of the pointer width, see scanPointerMode);
//   2. `scan.locate` signatures: ask the OS where the target object is, and test the
//      signature's targetConstraints on it;
//   3. evaluate the graph edges (judge) through the kernel address space;
//   4. carve the accepted object into a ProcessRecord (OS code).
// Reading an object that is not wholly in the image is an expected fault: the
// candidate is reported as unverified with the reason. Anything else propagates.
import type { PhysAddr } from '../addr.js';
import { InvalidAddressError, UsageError } from '../errors.js';
import type { KernelSpaceInfo, OsSupport, ProcessRecord } from '../os/types.js';
import { judge, type KernelSpace } from '../signatures/edges.js';
import type { Signature } from '../signatures/load.js';
import { type PointerMode, type Program, programSpan } from '../signatures/program.js';
import { constraintHolds, evaluateAt } from '../signatures/reference.js';
import type { Rejections } from './messages.js';

/**
 * The pointer mode the value pass compiles for before the image's real one is known:
 * the loosest of the signature's pointer width. A kernel pointer under 4-level paging
 * (>= 0xffff8000_00000000) is also one under 5-level (>= 0xff000000_00000000), so
 * 'x86-64-5' finds every candidate of either; the graph pass rechecks with the real
 * mode. A hint of the paging level (`--truth`, symbols) gives the exact mode at once.
 */
export function scanPointerMode(sig: Signature, pagingLevels?: number): PointerMode {
  if (sig.layout.pointerSize === 4) return 'x86-32';
  return pagingLevels === 4 ? 'x86-64-4' : 'x86-64-5';
}

/** What the graph pass needs, built once per scan in each thread. */
export interface VerifyContext {
  sig: Signature;
  os: OsSupport;
  space: KernelSpace;
  /** The value program for the image's pointer mode. */
  program: Program;
  /** Constraints on the located target (scan.locate signatures), if any. */
  targetProgram: Program | undefined;
}

export function verifyContext(sig: Signature, os: OsSupport, space: KernelSpace, kernel: KernelSpaceInfo): VerifyContext {
  if (sig.doc.scan !== undefined && os.locate === undefined) {
    throw new UsageError(
      `${sig.file}: the signature scans ${sig.scanType} and locates ${sig.targetType} from it, ` +
        `but the ${os.os} OS support has no locate()`,
    );
  }
  return { sig, os, space, program: sig.program(kernel.pointerMode), targetProgram: sig.targetProgram(kernel.pointerMode) };
}

export type Verification =
  | { kind: 'record'; record: ProcessRecord }
  | { kind: 'rejected'; why: keyof Rejections }
  | { kind: 'unverified'; reason: string };

/** Bytes at pa, or undefined when any of them is not in the image. */
function readOrUndefined(space: KernelSpace, pa: PhysAddr, length: number): Uint8Array | undefined {
  try {
    return space.readPhys(pa, length);
  } catch (err) {
    if (err instanceof InvalidAddressError) return undefined;
    throw err;
  }
}

/** Reused by programMatchesAt, whose bytes do not outlive the call. */
let scratch = new Uint8Array(0);

/** Does the object at `pa` satisfy the program? (false when its bytes are not all in the image) */
export function programMatchesAt(space: KernelSpace, program: Program, pa: PhysAddr): boolean {
  const span = programSpan(program);
  if (space.readPhysInto === undefined) {
    const bytes = readOrUndefined(space, pa, span);
    return bytes !== undefined && evaluateAt(bytes, 0, span, program);
  }
  // Into one reused array: every candidate (and every object a matchesSignature edge
  // points to) is checked here, and a fresh ~10 KiB array each time cost more than the
  // check itself (new memory is expensive to touch; bench/results/scan.md).
  if (scratch.length < span) scratch = new Uint8Array(span);
  const bytes = scratch.subarray(0, span);
  try {
    space.readPhysInto(pa, bytes);
  } catch (err) {
    if (err instanceof InvalidAddressError) return false;
    throw err;
  }
  return evaluateAt(bytes, 0, span, program);
}

export function verifyCandidate(ctx: VerifyContext, pa: PhysAddr): Verification {
  const { sig, os, space, program, targetProgram } = ctx;
  try {
    if (!programMatchesAt(space, program, pa)) {
      // Distinguish "fails the constraints" from "cannot be read" (the value pass read it,
      // so unreadable here means the image changed or a run was lost).
      if (readOrUndefined(space, pa, programSpan(program)) === undefined) {
        return { kind: 'unverified', reason: `the scanned bytes at ${hexPa(pa)} are no longer readable` };
      }
      return { kind: 'rejected', why: 'valueRecheck' };
    }
    let target = pa;
    if (sig.doc.scan !== undefined) {
      const located = os.locate!(sig, pa, space);
      if (located === undefined) return { kind: 'rejected', why: 'locate' };
      target = located;
    }
    const size = Math.max(sig.layout.sizeOf(sig.targetType), sig.doc.scan === undefined ? programSpan(program) : 0);
    const bytes = readOrUndefined(space, target, size);
    if (bytes === undefined) {
      return { kind: 'unverified', reason: `${sig.targetType} at ${hexPa(target)} (${size} bytes) is not wholly in the image` };
    }
    if (targetProgram !== undefined && !evaluateAt(bytes, 0, bytes.length, targetProgram)) {
      return { kind: 'rejected', why: 'targetConstraints' };
    }
    // matchesSignature edges ask about the target type: for scan.locate signatures that
    // is the target program (vacuous without targetConstraints).
    const matchProgram = sig.doc.scan === undefined ? program : targetProgram;
    const verdict = judge(sig, bytes, target, {
      space,
      matchesAt: (at) => (matchProgram === undefined ? true : programMatchesAt(space, matchProgram, at)),
    });
    if (!verdict.accepted) {
      const requiredFailed = sig.edges.some((e, i) => e.required && verdict.edges[i]!.outcome !== 'held');
      return { kind: 'rejected', why: requiredFailed ? 'requiredEdge' : 'minScore' };
    }
    const carved = os.carve(sig, bytes, target, space);
    if (carved.pa !== target) {
      throw new Error(`internal: ${os.os} carve() returned pa ${hexPa(carved.pa)} for the object at ${hexPa(target)}`);
    }
    return {
      kind: 'record',
      record: { ...carved, constraintsHeld: program.constraints.length, edges: verdict.edges, confidence: verdict.score },
    };
  } catch (err) {
    // A pointer the OS code followed into a hole. (A file that changed under us is an
    // ImageIOError and fails the whole batch: the scan reports it as missed.)
    if (err instanceof InvalidAddressError) {
      return { kind: 'unverified', reason: err.message };
    }
    throw err;
  }
}

/**
 * Carve the object at `pa` whether or not the signature accepts it — an object a kernel
 * list reaches that the scan did not report — with its edges and the number of value
 * constraints that hold on it (for scan.locate signatures: target constraints), as
 * evidence of why the scan missed it.
 */
export function carveObject(ctx: VerifyContext, pa: PhysAddr): Exclude<Verification, { kind: 'rejected' }> {
  const { sig, os, space, program, targetProgram } = ctx;
  const own = sig.doc.scan === undefined ? program : targetProgram;
  const size = Math.max(sig.layout.sizeOf(sig.targetType), own === undefined ? 0 : programSpan(own));
  try {
    const bytes = readOrUndefined(space, pa, size);
    if (bytes === undefined) return { kind: 'unverified', reason: `${sig.targetType} at ${hexPa(pa)} (${size} bytes) is not wholly in the image` };
    const held = own === undefined ? 0 : own.constraints.filter((c) => constraintHolds(bytes, 0, bytes.length, c)).length;
    const verdict = judge(sig, bytes, pa, { space, matchesAt: (at) => (own === undefined ? true : programMatchesAt(space, own, at)) });
    const carved = os.carve(sig, bytes, pa, space);
    return { kind: 'record', record: { ...carved, constraintsHeld: held, edges: verdict.edges, confidence: verdict.score } };
  } catch (err) {
    if (err instanceof InvalidAddressError) return { kind: 'unverified', reason: err.message };
    throw err;
  }
}

function hexPa(pa: number): string {
  return `0x${pa.toString(16)}`;
}
