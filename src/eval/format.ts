// `kcarve eval` output: the same tables as aligned text (table) or Markdown (md), or the
// whole result as JSON. Three tables: pooled accuracy per signature and status (the
// unattacked images), per image, and the evasion matrix (one row per attack, one column
// per signature, hidden objects missed).
import type { Proportion } from './metrics.js';
import type { EvalResult } from './run-eval.js';
import { STATUSES } from './score.js';

export const EVAL_FORMATS = ['table', 'json', 'md'] as const;
export type EvalFormat = (typeof EVAL_FORMATS)[number];

export interface Table {
  title: string;
  headers: string[];
  rows: string[][];
}

const pct = (x: number | null): string => (x === null ? '–' : (100 * x).toFixed(1));
/** "96.0 [86.5–98.9]" (percent, Wilson interval) or "–" when n = 0. */
export const withCi = (p: Proportion): string => (p.value === null ? '–' : `${pct(p.value)} [${pct(p.low)}–${pct(p.high)}]`);
const num = (x: number | null, digits: number): string => (x === null ? '–' : x.toFixed(digits));

/** The tables of a result, in reading order. */
export function evalTables(r: EvalResult): Table[] {
  const tables: Table[] = [];
  const conf = `${Math.round(r.confidence * 100)}%`;
  const none = r.pooled.filter((p) => p.attack === 'none');
  tables.push({
    title: `Pooled over ${r.images.length} image(s), no attack: recall and precision in %, ${conf} Wilson intervals`,
    headers: ['signature', 'status', 'found/total', 'recall', 'precision', 'F1', 'FP', 'FP/GB', 'scan s', 'GB/s'],
    rows: none.flatMap((p) =>
      [...STATUSES, 'all' as const].map((st) => {
        const s = st === 'all' ? p.score.all : p.score.byStatus[st];
        return [p.signature, st, `${s.found}/${s.total}`, withCi(s.recall), withCi(s.precision), num(s.f1 === null ? null : s.f1 * 100, 1), String(p.score.falsePositives), num(p.score.falsePositivesPerGb, 2), num(p.scanSeconds, 2), num(p.gbPerSecond, 3)];
      }),
    ),
  });
  tables.push({
    title: `Per image, no attack: found/total per status; recall, precision, F1 over all statuses in % (${conf} Wilson intervals)`,
    headers: ['image', 'signature', 'live', 'hidden', 'exited', 'recall (all)', 'precision (all)', 'F1 (all)', 'FP', 'FP with exit evidence', 'FP/GB', 'candidates', 'scan s', 'GB/s', 'value-pass GB/s'],
    rows: r.cells
      .filter((c) => c.attack === 'none')
      .map((c) => [
        c.image,
        c.signature,
        ...STATUSES.map((st) => `${c.score.byStatus[st].found}/${c.score.byStatus[st].total}`),
        withCi(c.score.all.recall),
        withCi(c.score.all.precision),
        num(c.score.all.f1 === null ? null : c.score.all.f1 * 100, 1),
        String(c.score.falsePositives),
        String(c.score.unmatchedWithExitEvidence),
        num(c.score.falsePositivesPerGb, 2),
        String(c.candidates),
        num(c.scanSeconds, 2),
        num(c.gbPerSecond, 3),
        num(c.valueGbPerSecond, 3),
      ]),
  });
  if (r.attacks.length > 1) {
    const sigs = r.signatures.map((s) => s.label).filter((l) => r.pooled.some((p) => p.signature === l));
    tables.push({
      title: 'Evasion matrix: hidden objects missed / hidden objects, pooled over the images (the attack rewrites the hidden ones)',
      headers: ['attack', ...sigs],
      rows: r.attacks.map((a) => [
        a,
        ...sigs.map((l) => {
          const p = r.pooled.find((x) => x.attack === a && x.signature === l);
          if (p === undefined) return '–';
          const h = p.score.byStatus.hidden;
          return `${h.total - h.found}/${h.total} missed`;
        }),
      ]),
    });
  }
  return tables;
}

function renderText(t: Table): string {
  const widths = t.headers.map((h, i) => Math.max(h.length, ...t.rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [t.title, line(t.headers.map((h) => h.toUpperCase())), ...t.rows.map(line)].join('\n');
}

function renderMd(t: Table): string {
  const esc = (s: string): string => s.replace(/\|/g, '\\|');
  return [`### ${t.title}`, '', `| ${t.headers.map(esc).join(' | ')} |`, `|${t.headers.map(() => '---').join('|')}|`, ...t.rows.map((r) => `| ${r.map(esc).join(' | ')} |`)].join('\n');
}

function preamble(r: EvalResult): string[] {
  return [
    `signatures: ${r.signatures.map((s) => `${s.label} (${s.name} ${s.version}${s.baseline ? ', baseline' : ''})`).join('; ')}`,
    `images: ${r.images.map((i) => `${i.label} (${i.os} ${i.build}${i.synthetic ? ', synthetic' : ''}${i.attackMethod === 'none' ? '' : `, attacks ${i.attackMethod}`})`).join('; ')}`,
    ...r.notes.map((n) => `note: ${n}`),
  ];
}

export function renderEval(r: EvalResult, format: EvalFormat): string {
  if (format === 'json') return `${JSON.stringify(r, null, 2)}\n`;
  const tables = evalTables(r);
  if (format === 'md') return `${preamble(r).map((l) => `- ${l}`).join('\n')}\n\n${tables.map(renderMd).join('\n\n')}\n`;
  return `${preamble(r).join('\n')}\n\n${tables.map(renderText).join('\n\n')}\n`;
}
