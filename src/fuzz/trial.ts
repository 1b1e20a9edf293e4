// One trial on one guest: restore the snapshot, corrupt one member of the target's
// task_struct, resume, drive the workload (kfz "go", then "exit"), read the member back
// in between, and classify. Every trial starts from the same snapshot, so the member's
// original bytes are those read once from the snapshot (FuzzGuest.snapshotTask).
import { phys } from '../addr.js';
import { BREAKING, classifyTrial, completeLines, trialFinished, workDone, type Classification } from './classify.js';
import type { FuzzGuest } from './guest.js';
import { mutate, trialRandom, type MemberSpan, type MutationKind } from './mutations.js';

export interface TrialTiming {
  /** From resume to "kfz: work done" (or an end), ms. */
  workMs: number;
  /** From "exit" to the target's reaping, ms. */
  exitMs: number;
  /** Watched after a clean end for a late crash, ms. */
  settleMs: number;
  /** Longest watchdog silence that still counts as alive, ms. */
  hangMs: number;
}

/** Measured on Debian 6.1 under TCG: a clean trial's work takes ≈ 0.3 s, the exit ≈ 20 ms. */
export const DEFAULT_TIMING: TrialTiming = { workMs: 3000, exitMs: 1500, settleMs: 300, hangMs: 1500 };

export interface TrialRecord {
  member: string;
  offset: number;
  size: number;
  mutation: MutationKind;
  trial: number;
  outcome: Classification['outcome'];
  detail: string;
  warned: boolean;
  /** Storage bytes of the member: before, as written, as read back after the work (hex). */
  original: string;
  written: string;
  readback: string | null;
  ms: number;
  guest: number;
}

/** The bytes that make the trial: what `mutate` gives for this member in this guest. */
export function plannedWrite(guest: FuzzGuest, span: MemberSpan, kind: MutationKind, trial: number, seed: number): { original: Buffer; written: Buffer | undefined } {
  const original = guest.snapshotTask.subarray(span.offset, span.offset + span.size);
  const donors = guest.snapshotDonors.map((d) => d.subarray(span.offset, span.offset + span.size));
  return { original, written: mutate(span, kind, original, trialRandom(seed, span.path, kind, trial), donors) };
}

/** Run one trial whose write is known to change the member. */
export async function runTrial(guest: FuzzGuest, span: MemberSpan, kind: MutationKind, trial: number, written: Buffer, original: Buffer, timing: TrialTiming = DEFAULT_TIMING): Promise<TrialRecord> {
  const started = Date.now();
  const at = phys(guest.info.target.pa + span.offset);
  await guest.restore();
  await guest.writePhys(at, written);
  const obs = await observe(guest, timing, async () => guest.readPhys(at, span.size));
  const c = classifyTrial({ ...obs, written });
  return {
    member: span.path, offset: span.offset, size: span.size, mutation: kind, trial,
    outcome: c.outcome, detail: c.detail, warned: c.warned,
    original: original.toString('hex'), written: written.toString('hex'),
    readback: obs.readback ? obs.readback.toString('hex') : null,
    ms: Date.now() - started, guest: guest.index,
  };
}

/**
 * Resume the restored (and possibly corrupted) guest and drive one round of work.
 * `readBack` runs while the VM is stopped after the work, before the target exits.
 */
export async function observe(guest: FuzzGuest, timing: TrialTiming, readBack: () => Promise<Buffer>) {
  await guest.cont();
  const t0 = Date.now();
  guest.send('go');
  const crashed = () => guest.events.some((e) => e.event.event === 'RESET' || e.event.event === 'GUEST_PANICKED' || e.event.event === 'SHUTDOWN');
  const ended = () => crashed() || trialFinished(guest.serial);
  await guest.waitFor(() => ended() || workDone(completeLines(guest.serial)), timing.workMs);
  let readback: Buffer | undefined;
  if (!ended() && workDone(completeLines(guest.serial))) {
    await guest.stop();
    readback = await readBack();
    await guest.cont();
    guest.send('exit');
    await guest.waitFor(ended, timing.exitMs);
  }
  if (ended() && !crashed()) {
    // A clean end: watch a little longer for a delayed oops (timers, RCU callbacks).
    await guest.waitFor(() => crashed() || /Kernel panic|BUG: |Oops: /.test(guest.serial), timing.settleMs);
  }
  const endMs = Date.now() - t0;
  return {
    serial: guest.serial,
    events: guest.events.map((e) => e.event.event),
    heartbeats: guest.heartbeats.map((h) => h - t0),
    endMs,
    hangMs: timing.hangMs,
    readback,
  };
}

export function isBreaking(r: Pick<TrialRecord, 'outcome'>): boolean {
  return BREAKING.has(r.outcome);
}
