// Progress of a scan and what it missed: the data the CLI's progress bar and the
// result's partial report are made of.
import type { PhysAddr } from '../addr.js';

export type ScanPhase = 'value' | 'discover' | 'graph' | 'done';

/**
 * One progress event. Counters never decrease from one event to the next; phases come
 * in the order value, discover, graph, done (discover and graph are skipped when the
 * value pass finds nothing). The last event has phase 'done', bytesDone = bytesTotal
 * and checked = candidates. Bytes of a chunk that could not be scanned count as done
 * (the result names them in `missed`).
 */
export interface ScanProgress {
  phase: ScanPhase;
  /** Bytes of the image's runs the value pass has finished with. */
  bytesDone: number;
  /** Bytes of the image's runs (mappedSize). */
  bytesTotal: number;
  /** Value-constraint hits so far. */
  candidates: number;
  /** Candidates the graph pass has finished with. */
  checked: number;
  /** Candidates the graph pass accepted so far (before merging hits that located one object). */
  accepted: number;
  /** Tasks that failed so far (ranges or batches reported in `missed`). */
  failedTasks: number;
}

/** A part of the image the scan could not cover, and why. */
export interface Missed {
  phase: 'value' | 'graph';
  /**
   * Value pass: the chunk whose candidates were not scanned. Graph pass: from the
   * batch's first candidate to its last (the candidates themselves are listed).
   */
  paddr: PhysAddr;
  length: number;
  /** Graph pass: the value hits that were not verified. */
  candidates?: PhysAddr[];
  /**
   * unreadable: the image could not be read there (I/O error, the file changed).
   * worker-failure: the worker threw or died: a bug in kcarve or its OS support.
   */
  kind: 'unreadable' | 'worker-failure';
  /** One line for humans. */
  reason: string;
  error: { name: string; message: string; stack?: string };
}

export type ProgressListener = (p: ScanProgress) => void;

/** Keeps the counters and tells the listener; the counters only ever grow. */
export class ProgressTracker {
  private state: ScanProgress;

  constructor(
    bytesTotal: number,
    private readonly listener: ProgressListener | undefined,
  ) {
    this.state = { phase: 'value', bytesDone: 0, bytesTotal, candidates: 0, checked: 0, accepted: 0, failedTasks: 0 };
  }

  get current(): Readonly<ScanProgress> {
    return this.state;
  }

  update(change: Partial<Omit<ScanProgress, 'bytesTotal'>>): void {
    this.state = { ...this.state, ...change };
    this.listener?.({ ...this.state });
  }

  add(delta: Partial<Pick<ScanProgress, 'bytesDone' | 'candidates' | 'checked' | 'accepted' | 'failedTasks'>>): void {
    const s = this.state;
    this.update({
      bytesDone: s.bytesDone + (delta.bytesDone ?? 0),
      candidates: s.candidates + (delta.candidates ?? 0),
      checked: s.checked + (delta.checked ?? 0),
      accepted: s.accepted + (delta.accepted ?? 0),
      failedTasks: s.failedTasks + (delta.failedTasks ?? 0),
    });
  }
}
