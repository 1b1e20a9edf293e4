// The second half of the live evasion test (issue 8, item 5): scan the image that
// `runEvasion` dumped — a process hidden by DKOM whose every fragile task_struct member
// an attacker rewrote — with kcarve's robust signature and with the reference and
// baseline signatures, and say per signature whether the target is still found, how
// many live / hidden / exited tasks each finds, and what it finds that is no task.
//
// The scans are ordinary library scans (runScan, src/scan), first without truth hints:
// the evasion image is scanned the way a user would scan a suspect image. A signature
// whose scan cannot find the kernel's address space on its own (the Volatility baseline:
// its needle is any kernel-image pointer, so its candidates mislead discovery) is scanned
// again with the truth's hints — Volatility itself is given the kernel's symbols — and
// the table says so.
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { KcarveError, TruthError } from '../errors.js';
import { REPO_ROOT } from '../datasets/linux/guest-build.js';
import type { LinuxTruth } from '../datasets/linux/truth.js';
import { runScan } from '../scan/run-scan.js';
import type { Layout } from '../types/layout.js';
import { shippedKernelBtfPath } from '../types/load.js';
import { evasionFindings, type EvasionFindings } from './evade.js';
import { membersOverlap, readSignatureMembersDoc, signatureMemberUses } from './signature-robustness.js';

export interface EvasionSignature {
  /** Short name for the table. */
  label: string;
  /** kcarve: the signature trained with the fuzz verdicts; reference: kcarve's hand-written ones; baseline: what Volatility checks. */
  role: 'kcarve' | 'reference' | 'baseline';
  file: string;
  /** Layout for signatures that name none (generic, baseline). */
  layout?: string;
}

/** The shipped Linux signatures, kcarve's robust one first. */
export function shippedEvasionSignatures(): EvasionSignature[] {
  const dir = join(REPO_ROOT, 'signatures', 'linux');
  const btf = shippedKernelBtfPath();
  return [
    { label: 'kcarve trained (robust)', role: 'kcarve', file: join(dir, 'task_struct-debian-6.1.0-57.trained.sig.json') },
    { label: 'kcarve debian-6.1 (hand-written)', role: 'reference', file: join(dir, 'debian-6.1.0-57-amd64.sig.json') },
    { label: 'kcarve generic (hand-written)', role: 'reference', file: join(dir, 'task_struct-generic.sig.json'), layout: btf },
    { label: 'baseline volatility psscan', role: 'baseline', file: join(dir, 'baseline-volatility-psscan.sig.json'), layout: btf },
  ];
}

export interface SignatureEvasionResult {
  signature: EvasionSignature;
  /** Set when the scan itself failed (a KcarveError: discovery found no kernel, ...). */
  error?: string;
  findings?: EvasionFindings;
  /** Found / total truth tasks by status. */
  live?: { found: number; total: number };
  hidden?: { found: number; total: number };
  exited?: { found: number; total: number };
  hits?: number;
  /** Hits at no truth task: what the carver read there (exited residue, idle tasks the truth module does not list, or noise). */
  outsideTruth?: { pa: string; pid?: number; comm?: string; state?: string; exitEvidence: boolean }[];
  /** What the carver read at the target's pa, when it was found. */
  targetRecord?: { pid?: number; comm?: string; state?: string; tampered: string[]; confidence?: number };
  /** The scan without hints failed with this message and was repeated with the truth's hints. */
  neededHints?: string;
  scanMs?: number;
}

type EvasionTruth = LinuxTruth & { evasion?: { target_pa?: string } };

export function readEvasionTruth(truthPath: string): EvasionTruth {
  try {
    return JSON.parse(readFileSync(truthPath, 'utf8')) as EvasionTruth;
  } catch (err) {
    throw new TruthError(truthPath, '', `cannot read the evasion truth: ${(err as Error).message}`);
  }
}

function countByStatus(truth: EvasionTruth, hits: Set<number>, status: 'live' | 'hidden' | 'exited') {
  const tasks = truth.tasks.filter((t) => t.status === status);
  return { found: tasks.filter((t) => hits.has(Number(BigInt(t.pa)))).length, total: tasks.length };
}

/** Scan the evasion image (memory.raw next to truth.json) with each signature, one after another. */
export async function scanEvasion(truthPath: string, signatures: EvasionSignature[] = shippedEvasionSignatures(), options: { workers?: number; log?: (line: string) => void } = {}): Promise<SignatureEvasionResult[]> {
  const truth = readEvasionTruth(truthPath);
  // Before any scan: a truth.json from elsewhere is the caller's mistake, not a signature's result.
  evasionFindings(truth, []);
  const image = join(truthPath, '..', truth.image?.raw ?? 'memory.raw');
  const out: SignatureEvasionResult[] = [];
  for (const sig of signatures) {
    const t0 = performance.now();
    const base = { image, os: 'linux', signature: sig.file, ...(sig.layout ? { layout: sig.layout } : {}), ...(options.workers === undefined ? {} : { workers: options.workers }), hash: 'none' as const };
    let neededHints: string | undefined;
    try {
      let r;
      try {
        r = await runScan(base);
      } catch (err) {
        if (!(err instanceof KcarveError)) throw err;
        neededHints = err.message;
        r = await runScan({ ...base, truth: truthPath });
      }
      const pas = r.records.map((rec) => Number(rec.pa));
      const hits = new Set(pas);
      const findings = evasionFindings(truth, pas);
      const fp = new Set(findings.falsePositives);
      const tr = r.records.find((rec) => `0x${Number(rec.pa).toString(16)}` === truth.evasion?.target_pa);
      out.push({
        signature: sig,
        findings,
        live: countByStatus(truth, hits, 'live'),
        hidden: countByStatus(truth, hits, 'hidden'),
        exited: countByStatus(truth, hits, 'exited'),
        hits: pas.length,
        outsideTruth: r.records
          .filter((rec) => fp.has(`0x${Number(rec.pa).toString(16)}`))
          .map((rec) => ({ pa: `0x${Number(rec.pa).toString(16)}`, pid: rec.pid, comm: rec.comm, state: rec.state, exitEvidence: (rec.exitEvidence?.length ?? 0) > 0 })),
        ...(tr === undefined ? {} : { targetRecord: { pid: tr.pid, comm: tr.comm, state: tr.state, tampered: tr.tampered ?? [], confidence: tr.confidence } }),
        ...(neededHints === undefined ? {} : { neededHints }),
        scanMs: performance.now() - t0,
      });
    } catch (err) {
      // A signature that cannot scan this image even with hints is a result of the comparison, not a crash of it.
      if (!(err instanceof KcarveError)) throw err;
      out.push({ signature: sig, error: err.message, ...(neededHints === undefined ? {} : { neededHints }), scanMs: performance.now() - t0 });
    }
    options.log?.(`scanned with ${sig.label} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  return out;
}

const frac = (x?: { found: number; total: number }) => (x ? `${x.found}/${x.total}` : '—');

/** What the hits outside the truth are, in words: "9 (8 exited, 1 idle task)". */
export function describeOutside(r: SignatureEvasionResult): string {
  const o = r.outsideTruth ?? [];
  const exited = o.filter((x) => x.exitEvidence).length;
  const idle = o.filter((x) => !x.exitEvidence && x.pid === 0 && /^swapper\//.test(x.comm ?? '')).length;
  const other = o.length - exited - idle;
  const parts = [exited ? `${exited} with exit evidence` : '', idle ? `${idle} idle task` : '', other ? `${other} other` : ''].filter((p) => p !== '');
  return parts.length === 0 ? '0' : `${o.length} (${parts.join(', ')})`;
}

/** A Markdown table of the per-signature results (also readable as plain text). */
export function evasionTable(results: SignatureEvasionResult[]): string {
  const rows = [
    '| signature | role | hidden mutated target | hidden | live | exited (truth) | hits outside the truth | scan s |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    const file = relative(REPO_ROOT, r.signature.file);
    const hinted = r.neededHints === undefined ? '' : ' (with truth hints¹)';
    if (r.error) {
      rows.push(`| ${r.signature.label} (\`${file}\`)${hinted} | ${r.signature.role} | scan failed: ${r.error.replace(/\|/g, '\\|')} | — | — | — | — | ${((r.scanMs ?? 0) / 1000).toFixed(1)} |`);
      continue;
    }
    const f = r.findings!;
    const t = r.targetRecord;
    const seen = t ? `found: pid ${t.pid}, ${t.state}${t.tampered.length ? `, tampered: ${t.tampered.join('; ')}` : ''}${t.confidence === undefined ? '' : `, confidence ${t.confidence.toFixed(2)}`}` : '';
    rows.push(
      `| ${r.signature.label} (\`${file}\`)${hinted} | ${r.signature.role} | ${f.targetFound ? seen || 'found' : '**lost**'} | ${frac(r.hidden)} | ${frac(r.live)} | ${frac(r.exited)} | ${describeOutside(r)} | ${((r.scanMs ?? 0) / 1000).toFixed(1)} |`,
    );
  }
  const notes = results.filter((r) => r.neededHints !== undefined).map((r) => `¹ ${r.signature.label}: without hints the scan failed: ${r.neededHints}`);
  return `${rows.join('\n')}\n${notes.length ? `\n${notes.join('\n')}\n` : ''}`;
}

/**
 * The members a signature rejects candidates on (value constraints, required edges) that
 * the evasion rewrote: why a signature lost the target. Byte overlap in the layout.
 */
export function mutatedRequiredMembers(sigFile: string, applied: readonly string[], layout: Layout): string[] {
  const sig = readSignatureMembersDoc(sigFile);
  const type = sig.target.type;
  const spans = applied.map((m) => layout.member(type, m));
  const out: string[] = [];
  for (const [member, use] of signatureMemberUses(sig)) {
    if (!use.required) continue;
    const r = layout.member(type, member);
    if (spans.some((s) => membersOverlap(s, r))) out.push(member);
  }
  return out;
}
