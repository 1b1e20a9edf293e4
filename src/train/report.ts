// The human-readable report of a training run (markdown): what was chosen and why —
// support, selectivity, robustness, edges — the measured false-positive rates and
// the cross-validation per held-out image.
import type { ConstraintSpec } from '../signatures/format.js';
import { KCARVE_VERSION } from '../version.js';
import { type EdgeCandidate, edgeClass } from './edge-eval.js';
import type { Candidate } from './invariants.js';
import { slotName } from './slots.js';
import type { TrainOptions, TrainResult } from './train.js';

const pct = (x: number | undefined): string => (x === undefined ? '–' : x === 0 ? '0' : x < 0.0001 ? x.toExponential(1) : `${(x * 100).toFixed(x < 0.01 ? 3 : 1)}%`);
const cell = (s: string): string => s.replace(/\|/g, '\\|');
const fp = (x: number): string => x.toFixed(x < 1 ? 3 : 1);

export function describeConstraint(s: ConstraintSpec): string {
  switch (s.kind) {
    case 'eq':
    case 'ne':
      return `${s.kind === 'eq' ? '==' : '!='} ${s.value}`;
    case 'mask':
      return `& ${s.mask} == ${s.value}`;
    case 'range':
      return `in [${s.min}, ${s.max}]`;
    case 'set':
      return `in {${s.values.length <= 6 ? s.values.join(', ') : `${s.values.slice(0, 6).join(', ')}, … ${s.values.length} values`}}`;
    case 'aligned':
      return `aligned ${s.alignment}`;
    case 'kptr':
      return 'kernel pointer';
    case 'kptr_or_null':
      return 'kernel pointer or null';
    case 'string':
      return `printable name, ${s.minLength ?? 0}..${(s.maxLength ?? 1) - 1} chars`;
  }
}

function fieldOf(c: Candidate): string {
  return c.slot ? slotName(c.slot) : c.str!.path;
}

function candidateRow(c: Candidate, i?: number): string {
  const cols = [
    ...(i === undefined ? [] : [String(i)]),
    `\`${fieldOf(c)}\``,
    cell(describeConstraint(c.spec)),
    pct(c.support),
    pct(c.exitedSupport),
    pct(c.negativeRate),
    c.robustness ?? 'unproven',
    c.cost.toFixed(1) + (c.simd ? ' (SIMD)' : ''),
    cell(c.note),
  ];
  return `| ${cols.join(' | ')} |`;
}

function edgeRow(e: EdgeCandidate): string {
  const neg = e.negativeRate === undefined ? `– (${e.negApplicable} applicable)` : `${pct(e.negativeRate)} of ${e.negApplicable}`;
  const ex = e.exitedN === 0 ? '–' : `${e.exitedHeld}/${e.exitedN}`;
  return `| ${e.role ?? '–'} | \`${cell(e.spec.name)}\` | ${e.held}/${e.n} (${e.nulls} null, ${e.unreadable} unreadable) | ${neg} | ${ex} | ${e.attacker ? `attacker: ${cell(e.attacker.split(':')[0]!)}` : e.robustness ?? 'unproven'} |`;
}

export function renderReport(r: TrainResult, opts: TrainOptions): string {
  const m = r.model;
  const doc = r.doc;
  const out: string[] = [];
  const line = (s = ''): void => void out.push(s);
  line(`# Training report: ${doc.name}`);
  line();
  line(`kcarve ${KCARVE_VERSION}, target \`${opts.type}\` (${m.shape.os}, ${m.shape.mode}), layout \`${opts.layoutPath ?? m.slots.slots[0]?.leaf.path ?? ''}\`.`);
  if (opts.command) line(`Command: \`${opts.command}\``);
  line();
  line(`Time: ${r.seconds.train.toFixed(1)} s training, ${r.seconds.check.toFixed(1)} s checking on the training images, ${r.seconds.crossValidation.toFixed(1)} s cross-validation (${r.seconds.total.toFixed(1)} s in all). Training steps (wall / CPU seconds): ${Object.entries(m.seconds).map(([k, v]) => `${k} ${v.toFixed(1)}/${(m.cpuSeconds[k] ?? 0).toFixed(1)}`).join(', ')}.`);
  line();
  line('## Training images');
  line();
  line('| image | truth sha256 | image file | GiB | live | hidden | exited | decoys |');
  line('|---|---|---|---|---|---|---|---|');
  for (const img of m.images) {
    const n = (s: string) => img.truth.objects.filter((o) => o.status === s).length;
    line(`| ${img.id} | ${img.truthHash} | ${img.imagePath.split('/').pop()} | ${(img.mappedBytes / 2 ** 30).toFixed(2)} | ${n('live')} | ${n('hidden')} | ${n('exited')} | ${img.decoys.length} |`);
  }
  line();
  line('## Instances');
  line();
  line(`- Object window: ${m.objectSize} bytes (the slab object size truth records, else sizeof(${opts.type})); ${m.slots.slots.length} slots (leaf members at their width, byte by byte inside char arrays), ${m.slots.strings.length} char arrays; ${m.slots.pastObject} leaves lie past the object and are not used.`);
  line(`- Alignment: ${m.alignment} (${m.alignmentNote}).`);
  line(`- Positives: ${m.positives.windows.count} live and hidden objects. Exited objects (${m.exited.windows.count}) are kept apart: the tables show how many of them each constraint and edge still holds on.`);
  const kept = m.selection.exitedKept;
  line(
    kept
      ? `- Exited objects with intact residue: ${m.exitedKeep.windows.count}; the selection ${kept.preferred ? 'preferred constraints that hold on them' : 'tried to keep them, missed the target, and ran again without that preference'}; the chosen value constraints accept ${kept.kept} of ${kept.of}.`
      : '- Exited objects with intact residue: none, or not kept (--no-keep-exited).',
  );
  if (m.skipped.count > 0) line(`- Left out: ${m.skipped.count} truth object(s) whose ${m.objectSize}-byte window the image does not hold whole (${m.skipped.examples.join(', ')}${m.skipped.count > m.skipped.examples.length ? ', …' : ''}).`);
  line(`- Negatives: ${m.randomNegatives} aligned offsets drawn from every candidate offset of the images, 16 at a time within 256 KiB (truth objects excluded), plus ${m.decoyNegatives} listed decoys; then the false hits of each round (see the trace); finally every aligned offset, scanned with the native matcher.`);
  line();
  line('## Candidate invariants');
  line();
  const fam = new Map<string, { all: number; ok: number }>();
  for (const c of m.candidates.candidates) {
    const f = fam.get(c.family) ?? { all: 0, ok: 0 };
    f.all += 1;
    if (c.excluded === undefined) f.ok += 1;
    fam.set(c.family, f);
  }
  line('| family | candidates | eligible |');
  line('|---|---|---|');
  for (const [k, v] of fam) line(`| ${k} | ${v.all} | ${v.ok} |`);
  line();
  line('Why candidates were not eligible (first reason): ' + Object.entries(m.candidates.excludedCounts).map(([k, v]) => `${k}: ${v}`).join('; ') + '.');
  line();
  line(r.robustness ? `Robustness: only members that ${r.robustness.path} marks robust were eligible (signature robustness: proven).` : 'Robustness: no fuzz campaign given (`--robustness`); the signature says `robustness: unproven`. Fields on the attacker-controlled list (signatures/attacker-fields.json, with citations) were excluded from required constraints and required edges all the same.');
  line();
  line('## Pointer classes');
  line();
  line('Pointer members grouped by the classes their values fall in over the positives (direct-map: inside the image\'s direct map of its RAM; kaslr-data: elsewhere in the KASLR window, vmalloc or vmemmap; kernel-image, modules, user, null; ./pointer-shape.ts has the bounds and sources).');
  line();
  line('| classes | members | e.g. |');
  line('|---|---|---|');
  const patterns = new Map<string, string[]>();
  for (const row of m.candidates.pointerClasses) {
    const key = Object.keys(row.classes).sort().join(' + ');
    patterns.set(key, [...(patterns.get(key) ?? []), row.path]);
  }
  for (const [key, paths] of [...patterns.entries()].sort((a, b) => b[1].length - a[1].length)) {
    line(`| ${key} | ${paths.length} | ${paths.slice(0, 4).map((p) => `\`${p}\``).join(', ')}${paths.length > 4 ? ', …' : ''} |`);
  }
  line();
  line('## Chosen value constraints');
  line();
  line('Constraint 0 is the prefilter the native matcher runs with SIMD on every aligned offset.');
  line();
  line('| # | field | test | support | exited | random-negative rate | robustness | cost | why |');
  line('|---|---|---|---|---|---|---|---|---|');
  m.selection.chosen.forEach((c, i) => line(candidateRow(c, i)));
  line();
  line('### Selection trace');
  line();
  const byId = new Map(m.candidates.candidates.map((c) => [c.id, c]));
  const name = (id: number): string => {
    const c = byId.get(id)!;
    return `\`${fieldOf(c)}\` ${cell(describeConstraint(c.spec))}`;
  };
  for (const s of m.selection.trace) {
    switch (s.kind) {
      case 'prefilter-trial':
        line(`- prefilter trial ${name(s.candidate)}: ${s.falseHits}${s.truncated ? '+ (stopped at the cap)' : ''} false hits in the first ${s.images} image(s) (${s.seconds.toFixed(2)} s)`);
        break;
      case 'add':
        line(`- add ${name(s.candidate)}: rejects ${s.rejected}, ${s.survivors} of ${s.sample} hard negatives survive (estimated ${fp(s.estFpPerGiB)} FP/GiB)`);
        break;
      case 'measure':
        line(`- **measured** ${s.constraints} constraints on every aligned offset: ${s.falseHits} false hits = ${fp(s.fpPerGiB)} FP/GiB (${s.perImage.map((p) => `${p.id} ${p.falseHits}`).join(', ')}; ${s.seconds.toFixed(2)} s)`);
        break;
      case 'prune':
        line(`- prune ${name(s.candidate)}: no negative needs it`);
        break;
      case 'revert-prune':
        line(`- pruning undone: it gave ${fp(s.fpPerGiB)} FP/GiB`);
        break;
      case 'drop-exited-preference':
        line(`- keeping the exited objects ended at ${fp(s.fpPerGiB)} FP/GiB, above the target: the selection above is discarded and run again without that preference (below)`);
        break;
    }
  }
  line();
  line(`Result: **${fp(m.selection.fpPerGiB)} false positives per GiB** of non-object memory (${m.selection.falseHits} false hits over ${m.selection.nonObjectGiB.toFixed(3)} GiB); target ${opts.targetFpPerGiB ?? 0.1} ${m.selection.reachedTarget ? 'met' : '**not met** (no eligible candidate rejects the remaining false hits)'}.`);
  line();
  line('## Graph edges');
  line();
  line(`Required edges must hold; weighted edges (weight 1) add to the score = held weight / total weight. A hit is accepted when every required edge holds and score >= minScore = ${m.minScore} (${m.minScoreNote}). Negative rates count only negatives an edge applies to (its pointer a kernel pointer, its field non-zero).`);
  line();
  line('| role | edge | held on positives | negative rate | exited | reads |');
  line('|---|---|---|---|---|---|');
  for (const e of m.edges) line(edgeRow(e));
  line();
  const others = (['inward', 'pointer', 'target'] as const).flatMap((cls) =>
    m.edgeCandidates
      .filter((e) => e.role === undefined && edgeClass(e) === cls && e.followedSupport === 1)
      .sort((a, b) => (a.negHeld + 1) / (a.negApplicable + 2) - (b.negHeld + 1) / (b.negApplicable + 2) || b.support - a.support)
      .slice(0, 6),
  );
  if (others.length > 0) {
    line(`Other edge candidates (${m.edgeCandidates.length - m.edges.length} not chosen; the most selective of each kind that hold wherever their pointer can be followed — inward checks, pointers to other objects, words at pointer targets):`);
    line();
    line('| role | edge | held on positives | negative rate | exited | reads |');
    line('|---|---|---|---|---|---|');
    for (const e of others) line(edgeRow(e));
    line();
  }
  line('## The signature on its training images');
  line();
  line('Found after the graph check (exited: also by the value constraints alone); false hits by the value constraints (on listed decoys) and after the graph check.');
  line();
  line('| image | live | hidden | exited | value hits: false (decoys) | after graph: false | FP/GiB after graph |');
  line('|---|---|---|---|---|---|---|');
  for (const t of r.training) {
    const v = t.value;
    const a = t.accepted;
    const decoys = Object.entries(v.decoyHits).map(([k, n]) => `${k} ${n}`).join(', ') || 'none';
    line(`| ${t.id} | ${a.found.live}/${v.present.live} | ${a.found.hidden}/${v.present.hidden} | ${a.found.exited}/${v.present.exited} (value ${v.found.exited}) | ${v.falsePositives.length} (${decoys}) | ${a.falsePositives.length} | ${fp(a.falsePositives.length / Math.max(t.nonObjectGiB, 1e-9))} |`);
  }
  line();
  line('## Cross-validation (leave one image out)');
  line();
  if (r.folds.length === 0) line(opts.crossValidate === false ? 'Not run (--no-cv).' : 'Needs two images or more.');
  else {
    line('Each row: trained on the other images, scanned the held-out one (native matcher, then the graph check with its truth kernel space).');
    line();
    line('| held out | live | hidden | exited (value/graph) | false hits (value/graph) | FP/GiB after graph | constraints | edges req/wt | seconds |');
    line('|---|---|---|---|---|---|---|---|---|');
    for (const f of r.folds) {
      const o = f.outcome;
      line(
        `| ${f.heldOut} | ${o.accepted.found.live}/${f.present.live} | ${o.accepted.found.hidden}/${f.present.hidden} | ${o.value.found.exited}/${o.accepted.found.exited} of ${f.present.exited} | ${o.value.falsePositives.length}/${o.accepted.falsePositives.length} | ${fp(o.accepted.falsePositives.length / Math.max(o.nonObjectGiB, 1e-9))} | ${f.constraints.length} | ${f.edges.required}/${f.edges.weighted} | ${f.seconds.toFixed(1)} |`,
      );
    }
    line();
    const fields = new Map<string, number>();
    for (const f of r.folds) for (const c of f.constraints) fields.set(c, (fields.get(c) ?? 0) + 1);
    line(`Constraints across folds: ${[...fields.entries()].sort((a, b) => b[1] - a[1]).map(([k, v]) => `\`${k}\` ×${v}`).join(', ')}.`);
  }
  line();
  line('## Best eligible candidates not chosen');
  line();
  line('| field | test | support | exited | random-negative rate | robustness | cost | why |');
  line('|---|---|---|---|---|---|---|---|');
  const chosen = new Set(m.selection.chosen);
  m.candidates.candidates
    .filter((c) => c.excluded === undefined && !chosen.has(c))
    .sort((a, b) => (a.negativeRate ?? 1) - (b.negativeRate ?? 1))
    .slice(0, 15)
    .forEach((c) => line(candidateRow(c)));
  line();
  line('## Strong invariants left out');
  line();
  line('Support 1 on the training positives but not eligible (attacker-controlled, not robust, or not carried over to a held-out image):');
  line();
  const left = m.candidates.candidates.filter((c) => c.excluded !== undefined && c.support === 1 && c.family !== 'aligned' && c.family !== 'nonzero');
  const show = [...left.filter((c) => c.excluded!.startsWith('attacker')), ...left.filter((c) => !c.excluded!.startsWith('attacker'))].slice(0, 20);
  for (const c of show) line(`- \`${fieldOf(c)}\` ${cell(describeConstraint(c.spec))}: ${c.excluded}`);
  line();
  line('## Limits');
  line();
  line('- Exited objects are not trained on: constraints that read pointers the exit path clears (stack, mm, cred) make the signature miss them; their recall is reported, not optimised.');
  line('- A range is the observed span widened by half its width on each side; the leave-one-image-out check drops ranges, sets and constants that did not carry over between training images, but images unlike all training images (another kernel build, more CPUs, another workload) can still break them.');
  line('- Edge candidates come from the first positive whose pointer can be followed and must hold on every other: an edge true on most but not all positives is not found.');
  line('- The false-positive rate counts any hit that is not a truth object; a real image may hold freed objects the truth does not list (exited before the truth module loaded).');
  line('- Without a fuzz campaign nothing says an attacker cannot rewrite a chosen field, and constants of the training machines (a sysctl default such as numa_scan_period, CPU-dependent FPU/XSAVE sizes and PKRU, the guest workload) hold only on machines like them: train on images of the machines you will scan, or give --robustness.');
  return `${out.join('\n')}\n`;
}
