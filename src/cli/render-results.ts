// Output of `kcarve scan`, `pslist` and `xview` in the four formats:
//   table  for people: a short header about the run, then one row per object
//   json   one document: the run (image, signature, kernel, stats, missed, timings) and
//          `tasks`, in the truth schema's vocabulary (src/scan/json.ts)
//   jsonl  one task object per line, nothing else (the run's summary goes to stderr only
//          when it is partial)
//   csv    a header line, then one line per task (RFC 4180 quoting)
import { type TaskJson, toJsonData } from '../scan/json.js';
import type { RunIdentity } from '../scan/run-scan.js';
import { formatSize } from './commands/info.js';
import type { OutputFormat } from './scan-options.js';

/** CSV columns, in order (the JSON task keys, with edges split by outcome). */
export const CSV_COLUMNS = [
  'pa',
  'va',
  'pid',
  'tgid',
  'ppid',
  'comm',
  'status',
  'leader',
  'state',
  'start_time',
  'exit_time',
  'dtb',
  'confidence',
  'constraints_held',
  'edges_held',
  'edges_failed',
  'edges_unreadable',
  'exit_evidence',
  'tampered',
  'seen_by',
  'why',
  'warnings',
] as const;

function csvCell(v: unknown): string {
  if (v === undefined || v === null) return '';
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function edgesWith(t: TaskJson, outcome: string): string {
  return Object.entries(t.edges)
    .filter(([, o]) => o === outcome)
    .map(([name]) => name)
    .join(';');
}

export function renderCsv(tasks: readonly TaskJson[]): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const t of tasks) {
    const cells: Record<(typeof CSV_COLUMNS)[number], unknown> = {
      pa: t.pa,
      va: t.va,
      pid: t.pid,
      tgid: t.tgid,
      ppid: t.ppid,
      comm: t.comm,
      status: t.status,
      leader: t.leader,
      state: t.state,
      start_time: t.start_time,
      exit_time: t.exit_time,
      dtb: t.dtb,
      confidence: t.confidence,
      constraints_held: t.constraints_held,
      edges_held: edgesWith(t, 'held'),
      edges_failed: edgesWith(t, 'failed'),
      edges_unreadable: edgesWith(t, 'unreadable'),
      exit_evidence: t.exit_evidence.join('; '),
      tampered: t.tampered?.join('; '),
      seen_by: t.seen_by?.join(';'),
      why: t.why,
      warnings: t.warnings?.join('; '),
    };
    lines.push(CSV_COLUMNS.map((c) => csvCell(cells[c])).join(','));
  }
  return `${lines.join('\r\n')}\r\n`;
}

export function renderJsonl(tasks: readonly TaskJson[]): string {
  return tasks.map((t) => `${JSON.stringify(t)}\n`).join('');
}

/** The JSON document: the run's data (snake_case, hex addresses) with `tasks` last. */
export function renderJson(run: object, tasks: readonly TaskJson[]): string {
  return `${JSON.stringify({ ...(toJsonData(run) as object), tasks }, null, 2)}\n`;
}

/** A name as a terminal can show it: bytes outside printable ASCII as \xNN (attackers write such names). */
export function printable(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

export interface TableColumn {
  title: string;
  cell: (t: TaskJson) => string;
}

export const COLUMNS: Record<string, TableColumn> = {
  pa: { title: 'PA', cell: (t) => t.pa },
  va: { title: 'VA', cell: (t) => t.va ?? '-' },
  pid: { title: 'PID', cell: (t) => String(t.pid ?? '-') },
  tgid: { title: 'TGID', cell: (t) => String(t.tgid ?? '-') },
  ppid: { title: 'PPID', cell: (t) => String(t.ppid ?? '-') },
  comm: { title: 'COMM', cell: (t) => (t.comm === undefined ? '-' : printable(t.comm)) },
  state: { title: 'STATE', cell: (t) => t.state ?? '-' },
  status: { title: 'STATUS', cell: (t) => t.status ?? '-' },
  conf: { title: 'CONF', cell: (t) => t.confidence.toFixed(2) },
  edges: {
    title: 'EDGES',
    cell: (t) => {
      const all = Object.values(t.edges);
      return `${all.filter((o) => o === 'held').length}/${all.length}`;
    },
  },
  exit: { title: 'EXIT EVIDENCE', cell: (t) => t.exit_evidence.join('; ') },
  seen: { title: 'SEEN BY', cell: (t) => (t.seen_by ?? []).join(',') },
  why: { title: 'WHY', cell: (t) => t.why ?? '' },
};

export function renderTable(header: string[], tasks: readonly TaskJson[], columns: readonly TableColumn[], footer: string[] = []): string {
  const rows = tasks.map((t) => columns.map((c) => c.cell(t)));
  const widths = columns.map((c, i) => Math.max(c.title.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => `  ${cells.map((c, i) => c.padEnd(widths[i]!)).join('  ')}`.trimEnd();
  const body = tasks.length === 0 ? ['  (none)'] : [line(columns.map((c) => c.title)), ...rows.map(line)];
  return `${[...header, '', ...body, ...(footer.length > 0 ? ['', ...footer] : [])].join('\n')}\n`;
}

/** The header lines every table starts with. */
export function identityLines(id: RunIdentity, kernel: { pageOffsetBase?: string; pointerMode?: string; dtb?: string } | undefined): string[] {
  const k =
    kernel === undefined
      ? 'not found (no candidates)'
      : [kernel.pointerMode, kernel.pageOffsetBase && `direct map at ${kernel.pageOffsetBase}`, kernel.dtb && `page tables at ${kernel.dtb}`]
          .filter(Boolean)
          .join(', ');
  return [
    `image      ${id.image.path} (${id.image.format}, ${formatSize(id.image.mappedSize)} in ${id.image.runs} run(s))`,
    `signature  ${id.signature.name} ${id.signature.version} (${id.signature.target.os} ${id.signature.target.type}), OS support ${id.os}`,
    `kernel     ${k}`,
  ];
}

/** Write one of the formats for a list of tasks and the run they came from. */
export function render(format: OutputFormat, run: object, tasks: readonly TaskJson[], table: () => string): string {
  switch (format) {
    case 'json':
      return renderJson(run, tasks);
    case 'jsonl':
      return renderJsonl(tasks);
    case 'csv':
      return renderCsv(tasks);
    case 'table':
      return table();
  }
}
