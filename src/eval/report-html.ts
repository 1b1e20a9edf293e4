// `kcarve eval --report FILE.html`: one self-contained HTML page (no network at view
// time): the tables of ./format.ts and three plots made with Vega-Lite, compiled to Vega
// and rendered to SVG here in Node (the 'none' renderer needs no canvas): recall by
// status per signature with its Wilson interval, the evasion matrix as a heat map, and
// scan throughput per image.
import { writeFileSync } from 'node:fs';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { ImageIOError } from '../errors.js';
import { evalTables, type Table } from './format.js';
import type { EvalResult } from './run-eval.js';
import { STATUSES } from './score.js';

/** Render one Vega-Lite spec to an SVG string. */
export async function vegaLiteSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

const FONT = { config: { font: 'sans-serif', view: { stroke: null } } } as const;

export function recallSpec(r: EvalResult): TopLevelSpec {
  const values = r.pooled
    .filter((p) => p.attack === 'none')
    .flatMap((p) =>
      STATUSES.filter((st) => p.score.byStatus[st].total > 0).map((st) => {
        const s = p.score.byStatus[st];
        return { signature: p.signature, status: st, recall: s.recall.value, low: s.recall.low, high: s.recall.high, label: `${s.found}/${s.total}` };
      }),
    );
  return {
    ...FONT,
    title: 'Recall by truth status (no attack), 95% Wilson interval',
    data: { values },
    width: 120,
    height: 200,
    facet: { column: { field: 'status', type: 'nominal', sort: [...STATUSES], title: null } },
    spec: {
      layer: [
        { mark: 'bar', encoding: { x: { field: 'signature', type: 'nominal', axis: { labels: false, title: null } }, y: { field: 'recall', type: 'quantitative', scale: { domain: [0, 1] }, axis: { format: '%' }, title: 'recall (bar: found/total; line: 95% interval)' }, color: { field: 'signature', type: 'nominal', legend: { labelLimit: 400 } } } },
        { mark: { type: 'rule', color: 'black' }, encoding: { x: { field: 'signature', type: 'nominal' }, y: { field: 'low', type: 'quantitative', title: null }, y2: { field: 'high' } } },
      ],
    },
  } as TopLevelSpec;
}

export function evasionSpec(r: EvalResult): TopLevelSpec {
  const values = r.pooled.map((p) => {
    const h = p.score.byStatus.hidden;
    return { attack: p.attack, signature: p.signature, missed: h.total === 0 ? null : (h.total - h.found) / h.total, label: `${h.total - h.found}/${h.total}` };
  });
  return {
    ...FONT,
    title: 'Evasion matrix: share of hidden objects missed',
    data: { values },
    width: { step: 140 } as never,
    height: { step: 24 } as never,
    encoding: {
      x: { field: 'signature', type: 'nominal', axis: { labelAngle: -20, labelLimit: 400 } },
      y: { field: 'attack', type: 'nominal', sort: r.attacks },
    },
    layer: [
      { mark: 'rect', encoding: { color: { field: 'missed', type: 'quantitative', scale: { domain: [0, 1], scheme: 'reds' }, title: 'missed' } } },
      { mark: { type: 'text', fontSize: 11 }, encoding: { text: { field: 'label' } } },
    ],
  } as TopLevelSpec;
}

export function throughputSpec(r: EvalResult): TopLevelSpec {
  const values = r.cells
    .filter((c) => c.attack === 'none')
    .flatMap((c) => [
      { image: c.image, signature: c.signature, measure: 'whole scan', gbps: c.gbPerSecond },
      { image: c.image, signature: c.signature, measure: 'value pass', gbps: c.valueGbPerSecond },
    ]);
  return {
    ...FONT,
    title: 'Scan throughput, GB/s (no attack; whole scan = setup + value pass + discovery + graph pass)',
    data: { values },
    facet: { row: { field: 'measure', type: 'nominal', title: null } },
    resolve: { scale: { y: 'independent' } },
    spec: {
      width: { step: 18 } as never,
      height: 160,
      mark: 'bar',
      encoding: {
        x: { field: 'image', type: 'nominal', axis: { labelAngle: -30, labelLimit: 300 } },
        xOffset: { field: 'signature', type: 'nominal' },
        y: { field: 'gbps', type: 'quantitative', title: 'GB/s' },
        color: { field: 'signature', type: 'nominal', legend: { labelLimit: 400 } },
      },
    },
  } as TopLevelSpec;
}

const escapeHtml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function htmlTable(t: Table): string {
  const head = `<tr>${t.headers.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr>`;
  const body = t.rows.map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`).join('\n');
  return `<h2>${escapeHtml(t.title)}</h2>\n<table>\n${head}\n${body}\n</table>`;
}

/** The whole page as a string. */
export async function evalReportHtml(r: EvalResult): Promise<string> {
  const plots = [await vegaLiteSvg(recallSpec(r)), ...(r.attacks.length > 1 ? [await vegaLiteSvg(evasionSpec(r))] : []), await vegaLiteSvg(throughputSpec(r))];
  const meta = [
    `kcarve ${r.kcarveVersion}`,
    ...r.signatures.map((s) => `signature ${s.label}: ${s.name} ${s.version}${s.baseline ? ' (baseline)' : ''}`),
    ...r.images.map((i) => `image ${i.label}: ${i.os} ${i.build}${i.synthetic ? ', synthetic' : ''}${i.attackMethod === 'none' ? '' : `, attacks ${i.attackMethod}`}`),
    ...r.notes,
  ];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>kcarve eval</title>
<style>body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;font-size:13px;margin-bottom:1.5em}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}th{background:#f4f4f4}figure{margin:1em 0}</style>
</head><body>
<h1>kcarve eval</h1>
<ul>${meta.map((m) => `<li>${escapeHtml(m)}</li>`).join('')}</ul>
${plots.map((svg) => `<figure>${svg}</figure>`).join('\n')}
${evalTables(r).map(htmlTable).join('\n')}
<script type="application/json" id="kcarve-eval-result">${JSON.stringify(r).replace(/</g, '\\u003c')}</script>
</body></html>
`;
}

export async function writeEvalReport(r: EvalResult, file: string): Promise<void> {
  const html = await evalReportHtml(r);
  try {
    writeFileSync(file, html);
  } catch (err) {
    throw new ImageIOError(file, undefined, `cannot write the report: ${(err as Error).message}`, { cause: err });
  }
}
