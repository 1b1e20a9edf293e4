// What happened in one trial, decided from what the host saw: the guest's console since
// the snapshot was restored, QMP events, the watchdog's heartbeats, and the member's
// bytes read back after the workload. Pure: unit-tested on recorded serial logs.
//
// Console lines come from datasets/qemu-linux/workload/kfz.c ("kfz: …") and the kernel.

export type Outcome =
  /** The kernel oopsed or panicked (oops=panic: every oops panics), or the guest reset. */
  | 'panic'
  /** The watchdog's heartbeats stopped: the system hung. */
  | 'hang'
  /** The target was killed, exited wrongly, or a step of its work failed. */
  | 'target_died'
  /** The target did not finish its work in time while the system kept running. */
  | 'target_stuck'
  /** The work completed, and the kernel had rewritten the member by then. */
  | 'repaired'
  /** The work completed with the corrupted value still in place. */
  | 'survived';

export const OUTCOMES: readonly Outcome[] = ['panic', 'hang', 'target_died', 'target_stuck', 'repaired', 'survived'];
/** Outcomes where corruption broke the system or the process. */
export const BREAKING: ReadonlySet<Outcome> = new Set(['panic', 'hang', 'target_died', 'target_stuck']);

export interface TrialObservation {
  /** Console text since the restore. */
  serial: string;
  /** QMP event names since the restore. */
  events: string[];
  /** Host ms (since the VM was resumed) of each heartbeat. */
  heartbeats: number[];
  /** Host ms since resume when observation ended. */
  endMs: number;
  /** Longest silence of the watchdog that still counts as alive, ms. */
  hangMs: number;
  /** The member's bytes as written, and as read back after the work (undefined if not reached). */
  written?: Buffer;
  readback?: Buffer;
}

export interface Classification {
  outcome: Outcome;
  /** The line or reason that decided it. */
  detail: string;
  /** The kernel printed a WARNING (it noticed something) without crashing. */
  warned: boolean;
}

/** Kernel messages that mean an oops or panic (kernel/panic.c, arch/x86/mm/fault.c, lib/bug.c). */
const CRASH_RE = /Kernel panic - not syncing|BUG: |Oops: |general protection fault|kernel BUG at|unable to handle|double fault|stack-protector|stack guard page|corrupted stack end/;
/** A WARN() splat: lib/bug.c prints "------------[ cut here ]------------" then "WARNING: CPU". */
const WARN_RE = /WARNING: CPU|------------\[ cut here \]------------/;
const RESET_EVENTS = new Set(['RESET', 'GUEST_PANICKED', 'SHUTDOWN', 'GUEST_CRASHLOADED']);
/** Exit status 42, as waitpid() reports it (42 << 8). */
export const CLEAN_EXIT_STATUS = 0x2a00;

function firstLine(serial: string, re: RegExp): string | undefined {
  for (const line of serial.split(/\r?\n/)) if (re.test(line)) return line.replace(/^\[\s*[\d.]+\]\s*/, '').trim();
  return undefined;
}

/** Complete lines only: a line still being written is not yet evidence. */
export function completeLines(serial: string): string {
  const nl = serial.lastIndexOf('\n');
  return nl < 0 ? '' : serial.slice(0, nl + 1);
}

export function workDone(serial: string): boolean {
  return /kfz: work done\r?\n/.test(serial);
}

/** The raw wait status of the target's end, if init printed it. */
export function trialEndStatus(serial: string): number | undefined {
  const m = /kfz: trial end status=(0x[0-9a-f]+|none)[^\n]*\n/.exec(serial);
  if (!m) return undefined;
  return m[1] === 'none' ? -1 : Number(m[1]);
}

export function describeStatus(status: number): string {
  if (status < 0) return 'not reaped';
  if ((status & 0x7f) === 0) return `exit ${(status >> 8) & 0xff}`;
  if ((status & 0xff) === 0x7f) return `stopped by signal ${(status >> 8) & 0xff}`;
  return `killed by signal ${status & 0x7f}${status & 0x80 ? ' (core)' : ''}`;
}

/** The trial has reached an end: nothing more needs to be watched. */
export function trialFinished(serial: string): boolean {
  const s = completeLines(serial);
  return trialEndStatus(s) !== undefined || /kfz: work failed/.test(s) || CRASH_RE.test(s);
}

export function classifyTrial(o: TrialObservation): Classification {
  const serial = completeLines(o.serial);
  const warned = WARN_RE.test(serial);
  const crash = firstLine(serial, CRASH_RE);
  if (crash) return { outcome: 'panic', detail: crash, warned };
  const reset = o.events.find((e) => RESET_EVENTS.has(e));
  if (reset) return { outcome: 'panic', detail: `QMP event ${reset}`, warned };

  const status = trialEndStatus(serial);
  const failed = /kfz: work failed step=(\S+)/.exec(serial);
  if (failed) return { outcome: 'target_died', detail: `work failed at step ${failed[1]}`, warned };
  if (status !== undefined && status !== CLEAN_EXIT_STATUS) {
    return { outcome: 'target_died', detail: `target ${describeStatus(status)}${/kfz: target gone/.test(serial) ? ' during its work' : ''}`, warned };
  }
  if (status === CLEAN_EXIT_STATUS && workDone(serial)) {
    if (o.written && o.readback && !o.readback.equals(o.written)) {
      return { outcome: 'repaired', detail: `read back 0x${o.readback.toString('hex')} after writing 0x${o.written.toString('hex')}`, warned };
    }
    return { outcome: 'survived', detail: 'work done, exit 42', warned };
  }

  // No end: did the system stop, or only the target?
  const last = o.heartbeats.length > 0 ? o.heartbeats[o.heartbeats.length - 1]! : 0;
  const silence = o.endMs - last;
  if (silence > o.hangMs) return { outcome: 'hang', detail: `no heartbeat for the last ${Math.round(silence)} ms`, warned };
  return { outcome: 'target_stuck', detail: workDone(serial) ? 'work done, but the target did not exit in time' : 'the target did not finish its work in time', warned };
}
