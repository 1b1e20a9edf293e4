// A one-line progress bar on a terminal (stderr), redrawn at most ten times a second:
//   scanning  [########............]  41%  420/1024 MiB  candidates 312  objects 57
// Only used when stderr is a TTY; the final line is erased when the scan ends.
import type { ScanProgress } from '../scan/progress.js';

const WIDTH = 24;
const MIB = 2 ** 20;
const REDRAW_MS = 100;

const LABEL: Record<ScanProgress['phase'], string> = {
  value: 'scanning',
  discover: 'kernel space',
  graph: 'verifying',
  done: 'done',
};

/** The text of one progress line (exported for tests). */
export function progressLine(p: ScanProgress): string {
  const share = p.phase === 'graph' || p.phase === 'done' ? (p.candidates === 0 ? 1 : p.checked / p.candidates) : p.bytesTotal === 0 ? 1 : p.bytesDone / p.bytesTotal;
  const filled = Math.round(share * WIDTH);
  const bar = `[${'#'.repeat(filled)}${'.'.repeat(WIDTH - filled)}]`;
  const pct = `${Math.floor(share * 100)}%`.padStart(4);
  const mib = `${Math.round(p.bytesDone / MIB)}/${Math.round(p.bytesTotal / MIB)} MiB`;
  const failed = p.failedTasks > 0 ? `  FAILED ${p.failedTasks}` : '';
  return `${LABEL[p.phase].padEnd(12)} ${bar} ${pct}  ${mib}  candidates ${p.candidates}  objects ${p.accepted}${failed}`;
}

export class ProgressBar {
  private last = 0;
  private shown = false;

  constructor(private readonly out: NodeJS.WriteStream) {}

  update(p: ScanProgress): void {
    const now = Date.now();
    if (p.phase === 'done') {
      this.clear();
      return;
    }
    if (now - this.last < REDRAW_MS && p.bytesDone < p.bytesTotal) return;
    this.last = now;
    const line = progressLine(p).slice(0, Math.max(20, (this.out.columns ?? 100) - 1));
    this.out.write(`\r${line}\x1b[K`);
    this.shown = true;
  }

  clear(): void {
    if (this.shown) this.out.write('\r\x1b[K');
    this.shown = false;
  }
}
