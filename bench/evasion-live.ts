// The live evasion test of issue 8 as a report: boot the fuzz guest (Debian's kernel,
// QEMU TCG), hide the target by DKOM, rewrite every member the shipped campaign marks
// fragile, let it run, dump, and scan the dump with kcarve's trained signature and the
// reference and baseline signatures. Writes bench/results/evasion-live.md.
//
// Run: node --import tsx bench/evasion-live.ts [--styles self,stale,poison] [--seeds 1,2]
// One guest at a time (TCG is CPU-heavy); each run takes ~30-40 s here.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findLinuxToolchain } from '../src/datasets/linux/toolchain.js';
import { runEvasion, type EvasionResult } from '../src/fuzz/evade.js';
import { evasionTable, mutatedRequiredMembers, scanEvasion, type SignatureEvasionResult } from '../src/fuzz/evade-scan.js';
import { loadRobustness } from '../src/fuzz/robustness-schema.js';
import { readSignatureMembersDoc, signatureRobustness } from '../src/fuzz/signature-robustness.js';
import { loadLayout, shippedKernelBtfPath } from '../src/types/load.js';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const robPath = join(root, 'signatures', 'robustness', 'linux-6.1.0-57-amd64.robustness.json');

function arg(name: string, dflt: string): string[] {
  const i = process.argv.indexOf(`--${name}`);
  return (i >= 0 ? process.argv[i + 1]! : dflt).split(',').filter((s) => s !== '');
}

const styles = arg('styles', 'self');
const seeds = arg('seeds', '1').map(Number);
const rob = loadRobustness(robPath);
const tc = findLinuxToolchain();
const layout = loadLayout(shippedKernelBtfPath());
const sha = createHash('sha256').update(readFileSync(robPath)).digest('hex');
const qemuVersion = execFileSync(tc.qemu, ['--version'], { encoding: 'utf8' }).split('\n')[0];
const fragile = Object.values(rob.members).filter((m) => m.verdict === 'fragile').length;

function forgedPid(ev: EvasionResult): string {
  const w = ev.applied.find((a) => a.member === 'pid')?.written;
  return w === undefined ? 'unchanged' : String(Buffer.from(w, 'hex').readInt32LE(0));
}

const runs: { style: string; seed: number; ev: EvasionResult; results: SignatureEvasionResult[]; seconds: number; load: number; serialTail?: string }[] = [];
for (const style of styles) {
  for (const seed of seeds) {
    const out = mkdtempSync(join(tmpdir(), 'kcarve-evasion-'));
    try {
      const t0 = performance.now();
      const ev = await runEvasion({ robustness: robPath, out, style, seed, runMs: 3000, log: (l) => process.stderr.write(`${l}\n`) });
      const results = await scanEvasion(ev.truthPath, undefined, { log: (l) => process.stderr.write(`${l}\n`) });
      // A target that did no work after the mutations: keep the end of the console for the report.
      const serialTail = ev.roundsAfter === 0 ? readFileSync(join(ev.dir, 'serial.log'), 'utf8').split('\n').filter((l) => !/kcarve: (task|layout|begin|offset)/.test(l)).slice(-30).join('\n') : undefined;
      runs.push({ style, seed, ev, results, seconds: (performance.now() - t0) / 1000, load: loadavg()[0]!, ...(serialTail ? { serialTail } : {}) });
      process.stderr.write(evasionTable(results));
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }
}

const lines: string[] = [];
const cmd = `node --import tsx bench/evasion-live.ts --styles ${styles.join(',')} --seeds ${seeds.join(',')}`;
lines.push('# Live evasion test (issue 8, item 5)', '');
lines.push(`Written by \`${cmd}\` on ${new Date().toISOString()} (kcarve's own CLI does the same for one run: \`kcarve fuzz evade --robustness ${relative(root, robPath)} --out /tmp/evade --scan\`).`, '');
lines.push(`- Kernel: Debian \`${tc.kernelRelease}\` (\`${tc.vmlinuz}\`), ${qemuVersion}, TCG, \`-cpu max,-la57 -smp 2\`, 256 MiB, KASLR on.`);
lines.push(`- Campaign: \`${relative(root, robPath)}\` (sha256 ${sha.slice(0, 16)}…): ${rob.summary.members} members, ${rob.summary.robust} robust, ${fragile} fragile, ${rob.summary.unknown} unknown.`);
lines.push('- What a run does (src/fuzz/evade.ts, evade-scan.ts): boot the fuzz guest, hide the target (a user process, child of pid 1) by DKOM in the given unlink style, stop the guest, write into the target\'s task_struct **every** member the campaign marks fragile at once (per member the mutation that survived all its trials: random first), resume, check the target keeps completing rounds of work (sleep/wake, fork, /proc reads, signals), dump memory and truth.json, then scan memory.raw with each signature (library `runScan`, no truth hints unless a scan cannot find the kernel on its own).');
lines.push('');
lines.push('## Summary', '');
lines.push('| signature | role | hidden, mutated target found | live tasks found (all runs) | other truth tasks missed |');
lines.push('|---|---|---|---|---|');
const labels = runs[0]?.results.map((x) => x.signature.label) ?? [];
for (const label of labels) {
  const per = runs.map((r) => r.results.find((x) => x.signature.label === label)!);
  const found = per.filter((x) => x.findings?.targetFound).length;
  const live = per.reduce((a, x) => [a[0]! + (x.live?.found ?? 0), a[1]! + (x.live?.total ?? 0)], [0, 0]);
  const missed = [...new Set(per.flatMap((x) => (x.findings?.missed ?? []).filter((m) => m.status !== 'hidden').map((m) => `pid ${m.pid} (${m.comm})`)))];
  const failed = per.filter((x) => x.error).length;
  lines.push(`| ${label} | ${per[0]!.signature.role} | ${found === 0 ? '**lost**' : found === runs.length ? 'found' : '**partly**'} (found in ${found}/${runs.length} runs)${failed ? ` (${failed} scans failed)` : ''} | ${live[0]}/${live[1]} | ${missed.join(', ') || 'none'} |`);
}
lines.push('');
lines.push("Baseline result: Volatility 3's `linux.psscan` checks (`baseline-volatility-psscan.sig.json`) lose the hidden process in every run: it requires `pid` in 1..65534 and a valid `exit_state`, both fragile, both rewritten. kcarve's hand-written signatures lose it too (they require `exit_state`, `static_prio`, `policy`, fragile). kcarve's trained signature, whose value constraints and required edges use only members the campaign marks robust, finds it in every run and reports its real pid from its `struct pid`, flagging the forged `pid` field as tampered.");
lines.push('');
lines.push('## Runs', '');
lines.push('| style | seed | fragile members applied | skipped | rounds of work after the mutations (first after ms) | target pid → forged pid | seconds (boot+mutate+dump+4 scans) |');
lines.push('|---|---|---|---|---|---|---|');
for (const r of runs) lines.push(`| ${r.style} | ${r.seed} | ${r.ev.applied.length} / ${fragile} | ${r.ev.skipped.length === 0 ? 'none' : r.ev.skipped.map((s) => `${s.member} (${s.reason})`).join('; ')} | ${r.ev.roundsAfter} (${r.ev.firstRoundMs ?? '—'}) | ${r.ev.target.pid} → ${forgedPid(r.ev)} | ${r.seconds.toFixed(0)} |`);
lines.push('');
for (const r of runs) {
  lines.push(`## Scan results: style ${r.style}, seed ${r.seed}`, '');
  lines.push(evasionTable(r.results));
  for (const s of r.results) {
    if (!s.findings || s.findings.targetFound) continue;
    const why = mutatedRequiredMembers(s.signature.file, r.ev.applied.map((a) => a.member), layout);
    lines.push(`- ${s.signature.label} lost the target: it requires ${why.map((m) => `\`${m}\``).join(', ')}, which the campaign marks fragile and the evasion rewrote.` + (s.findings.missed.length > 1 ? ` It also misses ${s.findings.missed.filter((m) => m.status !== 'hidden').map((m) => `pid ${m.pid} (${m.comm})`).join(', ')}.` : ''));
  }
  if (r.serialTail) lines.push('- **The target completed no round of work after the mutations** (see "Stalls" below); the end of the console without the truth dump:', '', '```', r.serialTail, '```', '');
  lines.push(`- truth.json check against memory.raw (kcarve's own validator, which expects sane pid/comm): ${r.ev.validation}`, '');
}
lines.push('## Reading the table', '');
lines.push("- \"exited (truth)\" is 0/0: the fuzz guest's truth module printed no exited task in these dumps, so exited-task detection is not measured by this test (the dataset images of `kcarve dataset linux` measure it).");
lines.push('- "hits outside the truth": carved objects at no task truth.json lists. For the kcarve signatures they are real task_structs the truth module cannot list: slots of tasks that exited before the module was loaded (kernel threads `cryptomgr_test`, which the carver reads as exited: `exit_state EXIT_DEAD`, freed slab slot) and the idle task of CPU 1 (`swapper/1`, pid 0, never on the tasks list). For the baseline they are mostly noise: without the `*_sched_class` symbols its needle is "any aligned kernel-image pointer", and "with exit evidence" there only means the carver read exit-like values at a random place.');
lines.push('- The baseline needs the truth\'s hints (direct-map base, kernel page-table root, paging levels, init_task: the kernel addresses Volatility reads from its symbol table; never the task list): its candidates mislead kcarve\'s kernel-space discovery, so without them its scan fails (footnote ¹).');
lines.push('');
const stalls = runs.filter((r) => r.ev.roundsAfter === 0).map((r) => `${r.style} seed ${r.seed}`);
lines.push('', '## Stalls', '');
lines.push(`In this report, ${stalls.length} of ${runs.length} runs saw the target complete no round of work after the mutations${stalls.length ? ` (${stalls.join(', ')})` : ''}; \`runEvasion\` waits up to 15 s beyond the run time for the first round before it reports that. The slowest first round here came ${Math.max(...runs.map((r) => r.ev.firstRoundMs ?? 0))} ms after resuming (load average up to ${Math.max(...runs.map((r) => r.load)).toFixed(1)} after a run).${stalls.length ? ` kcarve's trained signature found the stalled target in ${runs.filter((r) => r.ev.roundsAfter === 0 && r.results.some((x) => x.signature.role === 'kcarve' && x.findings?.targetFound)).length} of these ${stalls.length}.` : ''}`);
lines.push('');
lines.push("Across all evasion runs made while building this (about 40: this bench three times, runs by hand, the CI test's configuration 8 times in a row), 2 stalled before this report: `stale` seed 1 and `self` seed 3, both while the host was heavily loaded (load average 7–10 on 2 shared cores). The first of them was seen before \`runEvasion\` waited beyond the 3 s run time, so it may have been only a slow first round; the second waited 18 s. Rerunning the same style and seed did not stall again, and 8 consecutive runs of the CI test's configuration (self, seed 1, 1.5 s) did not stall. In the truth dump of the `self` seed 3 stall, the target was alive and hidden with `__state` 0x1 (TASK_INTERRUPTIBLE without TASK_FREEZABLE): asleep in `sigsuspend`, waiting for the SIGUSR1 it sends itself each round, not in its 300 ms `nanosleep` (0x2001, as in every healthy dump).");
lines.push('');
lines.push("**The cause is not found.** Two differences from the campaign may explain it: (1) the campaign corrupts a target blocked in `read()` on a pipe and then makes it work, whereas the evasion stops the guest wherever the looping target happens to be (normally inside its 300 ms sleep; on a loaded host the stop comes later, possibly between its `kill()` and its `sigsuspend()`), so a member that only matters while a signal is in flight can look fragile to the campaign and still matter here; (2) seed 1 writes exactly the values of the campaign's first trial of each member but `comm` (`trialRandom(seed, member, mutation, 0)`; `comm` gets random non-NUL bytes and a NUL), other seeds write values the campaign never tried. No member was skipped: nothing identified one to skip (`runEvasion` takes `exclude` and `only` lists for a bisection; one bisection of `self` seed 3 could not start because that run did not stall again).");
lines.push('');
lines.push('## Does the trained signature use only robust members?', '');
const sigFile = runs[0]?.results.find((x) => x.signature.role === 'kcarve')?.signature.file;
if (sigFile) {
  const uses = signatureRobustness(readSignatureMembersDoc(sigFile), rob, layout);
  lines.push(`\`${relative(root, sigFile)}\`: every value constraint and required edge reads only members the campaign marks robust: ${uses.filter((u) => u.required).every((u) => u.verdict === 'robust') ? 'yes' : '**no**'}. Weighted edges (they only score) read these members that are not robust:`, '');
  for (const u of uses.filter((x) => x.verdict !== 'robust')) lines.push(`- \`${u.member}\` (${u.verdict}${u.required ? ', REQUIRED' : ''}): ${u.uses.join('; ')}`);
  lines.push('', 'test/fuzz-signature-robustness.test.ts checks this list against signatures/linux/README.md.');
}
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
writeFileSync(join(root, 'bench', 'results', 'evasion-live.md'), `${lines.join('\n')}\n`);
process.stderr.write('wrote bench/results/evasion-live.md\n');
