// bench/linux-accuracy: Linux support measured on real images with ground truth
// (directories with truth.json, kcarve-truth/1, e.g. the training set built by
// `kcarve dataset linux --manifest datasets/linux-train.json`). Not a test; run
//   npx tsx bench/linux-accuracy.ts [--signature SIG.json] datasets/build/train/*
// (--signature: measure that signature instead of the Linux default, signatures/linux/
// task_struct-debian-6.1.0-57.trained.sig.json; the baseline is always measured beside it)
// Per image and per container (memory.raw, memory.elf), with no symbols:
//  - discovery: page_offset_base, init_top_pgt, init_task against truth;
//  - the shipped Debian signature through the native matcher, judge() and carve():
//    found / missed per truth status, hits truth does not list (split into those
//    carrying exit evidence — unrecorded exited tasks — and the rest: false positives),
//    carve mismatches (pid, tgid, comm, leader; ppid of live and hidden);
//  - the baseline (Volatility linux.psscan's checks) on the same image, for contrast;
//  - which exit evidence each status carries;
//  - the init_task.tasks walk against on_tasks_list.
// Results print as text and go to bench/results/linux-accuracy.json.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PhysAddr } from '../src/addr.js';
import { openImage } from '../src/layers/open-image.js';
import { linuxSupport } from '../src/os/linux/index.js';
import { judge } from '../src/signatures/edges.js';
import { loadSignature } from '../src/signatures/load.js';
import { scanRuns } from '../src/signatures/measure.js';
import { evaluateAt } from '../src/signatures/reference.js';
import { scanPointerMode } from '../src/scan/verify.js';
import { STATUSES, type ScoredHit, scoreHits } from '../src/eval/score.js';
import { loadTruth } from '../src/train/truth-file.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, '..');
const argv = process.argv.slice(2);
const sigAt = argv.indexOf('--signature');
const sigFile = sigAt >= 0 ? path.resolve(argv[sigAt + 1] ?? '') : path.join(root, 'signatures/linux/task_struct-debian-6.1.0-57.trained.sig.json');
if (sigAt >= 0) argv.splice(sigAt, 2);
const sig = loadSignature(sigFile);
process.stdout.write(`signature: ${path.relative(root, sigFile)}\n`);
const baseline = loadSignature(path.join(root, 'signatures/linux/baseline-volatility-psscan.sig.json'), { layout: sig.layout });
const size = sig.layout.sizeOf('task_struct');

interface TruthTask {
  status: string;
  pid: number;
  tgid: number;
  ppid: number;
  comm: string;
  leader: boolean;
  on_tasks_list: boolean;
  pa: string;
  va: string;
  residue?: { pid: boolean; tgid: boolean; comm: boolean };
}

const dirs = argv;
if (dirs.length === 0) {
  process.stderr.write('usage: npx tsx bench/linux-accuracy.ts [--signature SIG.json] DIR... (directories with truth.json)\n');
  process.exit(1);
}

const results: unknown[] = [];
const evidenceByStatus = new Map<string, Map<string, number>>();
const totals = new Map<string, { found: number; total: number }>();
let falsePositivesTotal = 0;
let unrecordedExitedTotal = 0;
let baselineFpTotal = 0;
for (const dir of dirs) {
  const truth = JSON.parse(readFileSync(path.join(dir, 'truth.json'), 'utf8')) as {
    layout: Record<string, string>;
    image: { raw?: string; elf?: string };
    kernel: { paging_levels?: number };
    tasks: TruthTask[];
  };
  const byPa = new Map(truth.tasks.map((t) => [Number(BigInt(t.pa)), t]));
  const truthObjects = loadTruth(path.join(dir, 'truth.json')).objects;
  for (const which of ['raw', 'elf'] as const) {
    const file = truth.image[which];
    if (file === undefined) continue;
    const image = openImage(path.join(dir, file));
    const started = Date.now();
    // The image's own pointer mode (as kcarve scan picks it): a 4-level kptr test rejects every 5-level pointer.
    const mode = scanPointerMode(sig, truth.kernel.paging_levels);
    const program = sig.program(mode);
    const hits = scanRuns(image, program);
    const scanMs = Date.now() - started;
    const info = linuxSupport.discover(image, sig, hits, {});
    const space = linuxSupport.kernelSpace(image, info);
    const matchesAt = (pa: PhysAddr): boolean => {
      const b = image.readPhys(pa, size);
      return evaluateAt(b, 0, b.length, program);
    };
    let carveMismatches = 0;
    let rejected = 0;
    const scored: ScoredHit[] = [];
    for (const pa of hits) {
      const bytes = image.readPhys(pa, size);
      const v = judge(sig, bytes, pa, { space, matchesAt });
      if (!v.accepted) rejected += 1;
      const r = linuxSupport.carve(sig, bytes, pa, space);
      const t = byPa.get(pa);
      const status = t?.status ?? ((r.exitEvidence?.length ?? 0) > 0 ? 'unrecorded-exited' : 'false-positive');
      scored.push({ pa, ...(r.exitEvidence === undefined ? {} : { exitEvidence: r.exitEvidence }) });
      if (t !== undefined && (r.pid !== t.pid || r.tgid !== t.tgid || r.comm !== t.comm || r.leader !== t.leader || (t.status !== 'exited' && r.ppid !== t.ppid))) {
        carveMismatches += 1;
      }
      const ev = evidenceByStatus.get(status) ?? new Map<string, number>();
      evidenceByStatus.set(status, ev);
      const kinds = new Set((r.exitEvidence ?? []).map((e) => e.replace(/0x[0-9a-f]+/g, 'X').replace(/decodes to (NULL.*|X.*)$/, 'decodes plausibly')));
      if (kinds.size === 0) kinds.add('(none)');
      for (const k of kinds) ev.set(k, (ev.get(k) ?? 0) + 1);
    }
    const walk = linuxSupport.walkList(image, sig, space, info, {});
    const onList = truth.tasks.filter((t) => t.on_tasks_list).map((t) => Number(BigInt(t.pa)));
    const walked = new Set(walk.entries.map((e) => e.pa as number));
    const walkEqual = walked.size === onList.length && onList.every((p) => walked.has(p));
    const baseHits = scanRuns(image, baseline.program(mode), { maxHits: 1 << 26 });
    // found / total per status and the hits truth does not list: src/eval/score.ts, the
    // same scoring kcarve eval reports (exited objects count when their residue is intact).
    const score = scoreHits(truthObjects, scored, image.mappedSize, { strict: false });
    const counts = Object.fromEntries(STATUSES.filter((st) => score.byStatus[st].total > 0).map((st) => [st, { found: score.byStatus[st].found, total: score.byStatus[st].total }]));
    const { falsePositives, unrecordedExited } = score;
    const baseScore = scoreHits(truthObjects, baseHits.map((pa) => ({ pa })), image.mappedSize, { strict: true });
    const baseFound = Object.fromEntries(STATUSES.map((st) => [st, baseScore.byStatus[st].found]));
    const baseFp = baseScore.falsePositives;
    const discovery = {
      pageOffsetBase: info.pageOffsetBase === truth.layout['page_offset_base'],
      initTopPgt: info.dtb === truth.layout['init_top_pgt_pa'],
      initTask: info.linux?.initTask?.pa === truth.layout['init_task_pa'],
    };
    for (const [k, v] of Object.entries(counts)) {
      const tot = totals.get(k) ?? { found: 0, total: 0 };
      tot.found += v.found;
      tot.total += v.total;
      totals.set(k, tot);
    }
    falsePositivesTotal += falsePositives;
    unrecordedExitedTotal += unrecordedExited;
    baselineFpTotal += baseFp;
    const name = `${path.basename(dir)}/${which}`;
    const line =
      `${name.padEnd(30)} ${Object.entries(counts)
        .map(([k, v]) => `${k} ${v.found}/${v.total}`)
        .join(', ')}; unrecorded exited ${unrecordedExited}; false positives ${falsePositives}; rejected by edges ${rejected}; carve mismatches ${carveMismatches}; ` +
      `discovery ${Object.values(discovery).every(Boolean) ? 'ok' : JSON.stringify(discovery)}; walk ${walkEqual ? 'equal' : 'DIFFERENT'} (${walk.entries.length}); ` +
      `baseline found ${JSON.stringify(baseFound)}, other hits ${baseFp}; scan ${scanMs} ms`;
    process.stdout.write(`${line}\n`);
    results.push({ image: name, counts, unrecordedExited, falsePositives, rejected, carveMismatches, discovery, walkEqual, walkLength: walk.entries.length, baseline: { found: baseFound, otherHits: baseFp }, scanMs });
    image.close();
  }
}
process.stdout.write(`\ntotal: ${[...totals].map(([k, v]) => `${k} ${v.found}/${v.total}`).join(', ')}; unrecorded exited ${unrecordedExitedTotal}; false positives ${falsePositivesTotal}; baseline other hits ${baselineFpTotal}\n`);
process.stdout.write('\nexit evidence by status (hits carrying each kind):\n');
for (const [status, ev] of evidenceByStatus) {
  process.stdout.write(`  ${status}: ${[...ev].map(([k, n]) => `${k} ×${n}`).join('; ')}\n`);
}
mkdirSync(path.join(here, 'results'), { recursive: true });
writeFileSync(
  path.join(here, 'results', 'linux-accuracy.json'),
  `${JSON.stringify({ dirs, results, evidence: Object.fromEntries([...evidenceByStatus].map(([s, m]) => [s, Object.fromEntries(m)])) }, null, 2)}\n`,
);
