// A short robustness campaign on the real guest (Debian's kernel under QEMU TCG): four
// members, every mutation once, cut in two runs to prove resuming; then the live evasion
// image built from its verdicts. Then the live evasion test of issue 8 with the SHIPPED
// campaign: all its fragile members rewritten at once in a DKOM-hidden process, the dump
// scanned with kcarve's trained signature and the reference and baseline signatures.
// Skipped, with the reason, only when QEMU, qemu-img or the Debian kernel and headers are
// missing (.ci/system-deps installs them), or when the installed kernel is not the one
// the shipped campaign and signature were made for.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findExecutable, findLinuxToolchain } from '../src/datasets/linux/toolchain.js';
import { shippedKernelBtfPath } from '../src/types/load.js';
import { loadLayout } from '../src/types/load.js';
import { runCampaign } from '../src/fuzz/campaign.js';
import { evasionFindings, runEvasion } from '../src/fuzz/evade.js';
import { mutatedRequiredMembers, scanEvasion, shippedEvasionSignatures } from '../src/fuzz/evade-scan.js';
import { loadRobustness } from '../src/fuzz/robustness-schema.js';
import { CampaignStore } from '../src/fuzz/store.js';
import type { LinuxTruth } from '../src/datasets/linux/truth.js';

const SHIPPED_ROBUSTNESS = fileURLToPath(new URL('../signatures/robustness/linux-6.1.0-57-amd64.robustness.json', import.meta.url));

function missing(): string | undefined {
  let release: string;
  try {
    release = findLinuxToolchain().kernelRelease;
  } catch (err) {
    return (err as Error).message;
  }
  if (!findExecutable('qemu-img')) return 'qemu-img not found on PATH (apt-get install -y qemu-utils)';
  // Both tests read the shipped BTF (layout offsets) and the second the shipped campaign:
  // they describe one kernel, and the guest boots the installed one.
  const shipped = loadRobustness(SHIPPED_ROBUSTNESS).kernel.release;
  return shipped === release ? undefined : `the installed kernel is ${release}; the shipped BTF and campaign are for ${shipped}`;
}

const why = missing();

describe('kcarve fuzz on a real guest', () => {
  if (why) {
    it.skip(`skipped: ${why}`, () => {});
    return;
  }

  it('classifies well-known members, resumes without repeating trials, and builds the evasion image', async () => {
    const out = mkdtempSync(join(tmpdir(), 'kfz-campaign-'));
    try {
      const members = ['stack', 'sched_class', 'pid', 'comm'];
      const progress: string[] = [];
      const common = { out, guests: 1, members, trials: 1, layout: shippedKernelBtfPath(), progress: { isTTY: false, write: (s: string) => progress.push(s) } };
      const first = await runCampaign({ ...common, limit: 6 });
      expect(first.ran).toBe(6);
      expect(first.remaining).toBeGreaterThan(0);
      const second = await runCampaign(common);
      expect(second.remaining).toBe(0);
      expect(first.ran + second.ran).toBe(second.total);
      const records = new CampaignStore(out).readTrials();
      const keys = records.map((r) => `${r.member}|${r.mutation}|${r.trial}`);
      expect(new Set(keys).size).toBe(keys.length); // nothing ran twice
      expect(progress.at(-1)).toMatch(/^fuzz: \d+\/\d+ trials 100\.0% · \d+\/h · ETA 0m00s/);

      const rob = second.robustness;
      expect(rob.schema).toBe('kcarve-robustness/1');
      expect(rob.kernel.release).toBe(findLinuxToolchain().kernelRelease);
      expect(rob.layout.hash).toBe('sha256:88df2a1481426049964b47419038b1bb3322fbe608dbb7e49300451fe5ac194d');
      expect(rob.campaign.runs).toHaveLength(2);
      expect(Object.keys(rob.members).sort()).toEqual(['comm', 'pid', 'sched_class', 'stack']);
      const layout = loadLayout(shippedKernelBtfPath());
      expect(rob.members['pid']!.offset).toBe(layout.offsetOf('task_struct', 'pid'));
      // A NULL kernel stack pointer faults at once; the scheduler's class cannot be replaced.
      expect(records.find((r) => r.member === 'stack' && r.mutation === 'zero')!.outcome).toBe('panic');
      expect(rob.members['sched_class']!.outcomes.panic).toBeGreaterThanOrEqual(4);
      // pid and comm are cosmetic to the kernel: the probe of issue 8 saw the same.
      expect(rob.members['pid']).toMatchObject({ verdict: 'fragile', trials: 4, not_applicable: ['pointer'] });
      expect(rob.members['comm']!.verdict).toBe('fragile');

      const ev = await runEvasion({ robustness: second.path, out: join(out, 'evade'), runMs: 1500 });
      expect(ev.applied.map((a) => a.member).sort()).toEqual(['comm', 'pid']);
      expect(ev.roundsAfter).toBeGreaterThan(0); // the hidden, mutated process kept running
      const truth = JSON.parse(readFileSync(ev.truthPath, 'utf8')) as LinuxTruth & { evasion: { target_pa: string } };
      const target = truth.tasks.find((t) => t.pa === truth.evasion.target_pa)!;
      expect(target.status).toBe('hidden');
      expect(target.mutations).toEqual(expect.arrayContaining(['tasks', 'pid', 'comm']));
      const raw = readFileSync(join(ev.dir, 'memory.raw'));
      const pidAt = Number(BigInt(target.pa)) + layout.offsetOf('task_struct', 'pid');
      const pidWritten = ev.applied.find((a) => a.member === 'pid')!.written;
      expect(raw.subarray(pidAt, pidAt + 4).toString('hex')).toBe(pidWritten);
      expect(target.pid).toBe(Buffer.from(pidWritten, 'hex').readInt32LE(0)); // the kernel reports the forged pid
      expect(evasionFindings(truth, [Number(BigInt(target.pa))]).targetFound).toBe(true);
      expect(evasionFindings(truth, []).missed.map((m) => m.pa)).toContain(target.pa);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 240_000);

  // One retry: the rare stall above is the guest's, under host load, not the scanner's; a
  // second run boots a fresh guest and must pass every assertion again.
  it("live evasion with the shipped campaign: kcarve's trained signature still finds the hidden, mutated process", { timeout: 150_000, retry: 1 }, async () => {
    const shipped = loadRobustness(SHIPPED_ROBUSTNESS);
    const out = mkdtempSync(join(tmpdir(), 'kfz-evade-live-'));
    try {
      const fragile = Object.entries(shipped.members).filter(([, m]) => m.verdict === 'fragile').map(([k]) => k);
      expect(fragile.length).toBe(shipped.summary.fragile);
      const ev = await runEvasion({ robustness: SHIPPED_ROBUSTNESS, out, runMs: 1500 });
      // Every fragile member was rewritten at once (observed: 409 of 409), and the process
      // kept working: with seed 1 each member but comm gets the value of the campaign's first trial.
      // Known rare failure: 2 of ~40 evasion runs, on a heavily loaded host, left the target
      // asleep in sigsuspend (bench/results/evasion-live.md, "Stalls"); none in 8 runs in a row
      // of this configuration.
      expect(ev.skipped).toEqual([]);
      expect(ev.applied.map((a) => a.member).sort()).toEqual([...fragile].sort());
      expect(ev.roundsAfter).toBeGreaterThan(0);
      const truth = JSON.parse(readFileSync(ev.truthPath, 'utf8')) as LinuxTruth & { evasion: { target_pa: string } };
      const target = truth.tasks.find((t) => t.pa === truth.evasion.target_pa)!;
      expect(target.status).toBe('hidden');

      const sigs = shippedEvasionSignatures();
      const results = await scanEvasion(ev.truthPath, sigs, { workers: 1 });
      const by = (role: string, i = 0) => results.filter((r) => r.signature.role === role)[i]!;
      const robust = by('kcarve');
      expect(robust.error).toBeUndefined();
      expect(robust.neededHints).toBeUndefined(); // found the kernel on its own
      expect(robust.findings!.targetFound).toBe(true);
      expect(robust.hidden).toEqual({ found: 1, total: 1 });
      // The carver reports the real pid through the struct pid and flags the forged one.
      expect(robust.targetRecord!.pid).toBe(ev.target.pid);
      expect(robust.targetRecord!.tampered.some((x) => x.startsWith(`pid: the field holds ${target.pid}`))).toBe(true);
      expect(robust.live!.found).toBe(robust.live!.total);
      // Its hits beyond truth.json are task_structs the truth module does not list: slots
      // of tasks that exited before it loaded (the carver reads their exit evidence) and
      // the idle task of the second CPU (pid 0, swapper/1, never on the tasks list).
      for (const o of robust.outsideTruth!) expect(o.exitEvidence || (o.pid === 0 && /^swapper\//.test(o.comm ?? ''))).toBe(true);

      // What we observe for the others, and why: the two hand-written kcarve signatures
      // require exit_state, static_prio and policy to hold their defined values, and the
      // campaign found all three fragile (a running process does not read them back in
      // its workload), so the evasion rewrote them and both lose the target while still
      // finding every live task. Volatility's psscan checks pid and exit_state, both
      // fragile: it loses the target too. Its needle (any kernel-image pointer) also
      // misleads kcarve's discovery, so it is scanned with the truth's hints.
      const layout = loadLayout(shippedKernelBtfPath());
      const applied = ev.applied.map((a) => a.member);
      for (const r of results.filter((x) => x.signature.role !== 'kcarve')) {
        expect(r.error).toBeUndefined();
        expect(r.findings!.targetFound).toBe(false);
        // The only other task missed: init_task (pid 0) by the baseline, whose pid range is 1..65534.
        expect(r.findings!.missed.filter((m) => m.pa !== target.pa).map((m) => m.pid)).toEqual(r.signature.role === 'baseline' ? [0] : []);
      }
      expect(mutatedRequiredMembers(by('reference').signature.file, applied, layout).sort()).toEqual(['exit_state', 'policy', 'static_prio']);
      expect(mutatedRequiredMembers(by('baseline').signature.file, applied, layout).sort()).toEqual(['exit_state', 'pid']);
      expect(mutatedRequiredMembers(robust.signature.file, applied, layout)).toEqual([]);
      expect(by('baseline').neededHints).toMatch(/page-table root/);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
