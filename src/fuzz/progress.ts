// The campaign's progress on stderr: a bar redrawn in place on a terminal, a plain line
// every `intervalMs` otherwise (CI logs, files). Rate and ETA count this run's trials only.

export interface ProgressSink {
  isTTY?: boolean;
  columns?: number;
  write(text: string): unknown;
}

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '?';
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(s % 60).padStart(2, '0')}s`;
}

export class Progress {
  private done = 0;
  private lastLine = -Infinity;
  private readonly started: number;

  constructor(
    private readonly total: number,
    private readonly sink: ProgressSink,
    private readonly intervalMs = 30_000,
    private readonly now: () => number = Date.now,
  ) {
    this.started = now();
  }

  /** One more trial finished; `note` is its member and outcome. */
  tick(note = ''): void {
    this.done++;
    const t = this.now();
    if (this.sink.isTTY) this.sink.write(`\r${this.line(note)}\x1b[K`);
    else if (t - this.lastLine >= this.intervalMs || this.done === this.total) {
      this.lastLine = t;
      this.sink.write(`${this.line(note)}\n`);
    }
  }

  /** The status text: bar (on a TTY), count, rate, ETA. */
  line(note = ''): string {
    const elapsed = this.now() - this.started;
    const rate = elapsed > 0 ? this.done / (elapsed / 1000) : 0;
    const eta = rate > 0 ? ((this.total - this.done) / rate) * 1000 : NaN;
    const pct = this.total > 0 ? this.done / this.total : 1;
    const text = `${this.done}/${this.total} trials ${(pct * 100).toFixed(1)}% · ${(rate * 3600).toFixed(0)}/h · ETA ${formatDuration(eta)}${note ? ` · ${note}` : ''}`;
    if (!this.sink.isTTY) return `fuzz: ${text}`;
    const width = 24;
    const filled = Math.round(pct * width);
    const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] `;
    const max = (this.sink.columns ?? 100) - 1;
    return (bar + text).slice(0, max);
  }

  finish(): void {
    if (this.sink.isTTY) this.sink.write('\n');
  }
}
