// The live evasion test: in a running guest, hide the target by DKOM (the truth module
// unlinks it from init_task.tasks), write into its task_struct every mutation the
// campaign found *fragile* (the attacker may change those freely), let it run, check it
// still runs, and dump memory with truth.json. `scanEvasion` (./evade-scan.ts) then
// scans that image with kcarve's signature and the baselines and compares their hits
// with the truth through `evasionFindings` below.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { phys, type PhysAddr } from '../addr.js';
import { EnvironmentError, UsageError } from '../errors.js';
import { KCARVE_VERSION } from '../version.js';
import { buildFuzzInitramfs, buildGuestArtifacts, DEFAULT_BUILD_DIR } from '../datasets/linux/guest-build.js';
import { dumpStoppedGuest } from '../datasets/linux/qemu-boot.js';
import { parseSerialTruth } from '../datasets/linux/serial-truth.js';
import { buildLinuxTruth, type LinuxTruth } from '../datasets/linux/truth.js';
import { openRawImage } from '../datasets/linux/phys-image.js';
import { validateLinuxTruth } from '../datasets/linux/validate.js';
import { UNLINK_STYLES, type UnlinkStyle } from '../datasets/linux/plan.js';
import { findLinuxToolchain } from '../datasets/linux/toolchain.js';
import { FUZZ_CMDLINE, FuzzGuest, type GuestTask } from './guest.js';
import { MUTATION_KINDS, mutate, trialRandom, type MemberSpan, type MutationKind } from './mutations.js';
import type { Robustness } from './report.js';
import { loadRobustness } from './robustness-schema.js';

export interface EvasionOptions {
  robustness: string;
  out: string;
  style?: string;
  /** How long the hidden, mutated target runs before the dump, ms. */
  runMs?: number;
  seed?: number;
  /** Fragile members not to mutate (each is listed in `skipped` with this reason). */
  exclude?: { member: string; reason: string }[];
  /** Mutate only these fragile members (a bisection of a failing combination); the others are skipped. */
  only?: string[];
  buildDir?: string;
  log?: (line: string) => void;
}

export interface AppliedMutation {
  member: string;
  mutation: MutationKind;
  original: string;
  written: string;
}

export interface EvasionResult {
  dir: string;
  truthPath: string;
  target: GuestTask;
  style: UnlinkStyle;
  applied: AppliedMutation[];
  skipped: { member: string; reason: string }[];
  /** Rounds of work the target completed after the mutations, before the dump. */
  roundsAfter: number;
  /** Wall-clock ms from resuming the mutated guest to the target's first completed round (absent: none). */
  firstRoundMs?: number;
  /** The target's task_struct.__state at the dump (0x2001: in its nanosleep; 0x1 seen when it stalled in sigsuspend). */
  targetState: number;
  validation: string;
}

/** Which mutation to apply to a fragile member: the one that changes most (random first), among those that survived. */
export function chooseMutation(m: Robustness['members'][string]): MutationKind | undefined {
  const order: MutationKind[] = ['random', 'pointer', 'ones', 'bitflip', 'zero'];
  return order.find((k) => (m.by_mutation[k]?.outcomes.survived ?? 0) > 0 && (m.by_mutation[k]?.trials ?? 0) === m.by_mutation[k]?.outcomes.survived);
}

/**
 * A char array (comm) gets random non-NUL bytes and a final NUL: as foreign as the
 * campaign's random bytes (which also survived), yet still a C string, so that
 * truth.json can state it (its comm is a string of at most 15 bytes).
 */
function forgedName(original: Buffer, rng: ReturnType<typeof trialRandom>): Buffer {
  const out = Buffer.alloc(original.length);
  for (let i = 0; i < out.length - 1; i++) out[i] = 1 + rng.below(255);
  return out.equals(original) ? Buffer.from(out.map((b, i) => (i === 0 ? (b % 255) + 1 : b))) : out;
}

function rounds(serial: string): number {
  return (serial.match(/kfz: round \d+\r?\n/g) ?? []).length;
}

export async function runEvasion(options: EvasionOptions): Promise<EvasionResult> {
  const log = options.log ?? (() => {});
  const style = (options.style ?? 'self') as UnlinkStyle;
  if (!UNLINK_STYLES.includes(style)) throw new UsageError(`--style must be one of ${UNLINK_STYLES.join(', ')} (got ${JSON.stringify(options.style)})`);
  const rob = loadRobustness(options.robustness);
  const fragile = Object.entries(rob.members).filter(([, m]) => m.verdict === 'fragile');
  for (const name of [...(options.exclude ?? []).map((e) => e.member), ...(options.only ?? [])]) {
    if (!fragile.some(([path]) => path === name)) throw new UsageError(`${name} is not a member ${options.robustness} marks fragile`);
  }
  const tc = findLinuxToolchain();
  if (rob.kernel.release !== tc.kernelRelease) throw new UsageError(`${options.robustness} is for kernel ${rob.kernel.release}; the guest boots ${tc.kernelRelease}`);
  const dir = resolve(options.out);
  mkdirSync(dir, { recursive: true });
  const art = buildGuestArtifacts(tc, options.buildDir ?? DEFAULT_BUILD_DIR, log);
  const initramfs = join(dir, 'initramfs.cpio');
  buildFuzzInitramfs(art, initramfs);
  const guest = await FuzzGuest.start({ qemu: tc.qemu, vmlinuz: tc.vmlinuz, initramfs, log });
  try {
    const target = guest.info.target;
    // Hide (DKOM) and start the endless work loop, then corrupt while it runs.
    await guest.cont();
    guest.send(`hide ${style}`);
    if (!(await guest.waitFor(() => /kfz: hidden\r?\n/.test(guest.serial), 10_000))) throw new EnvironmentError('kfz', 'the guest did not confirm the hide');
    guest.send('run');
    if (!(await guest.waitFor(() => rounds(guest.serial) >= 2, 10_000))) throw new EnvironmentError('kfz', 'the hidden target did not start its work loop');
    await guest.stop();
    const task = await guest.readPhys(target.pa, guest.info.taskStructAlloc);
    const applied: AppliedMutation[] = [];
    const skipped: { member: string; reason: string }[] = [];
    const seed = options.seed ?? 1;
    const excluded = new Map((options.exclude ?? []).map((e) => [e.member, e.reason]));
    const only = options.only === undefined ? undefined : new Set(options.only);
    for (const [path, m] of fragile) {
      if (excluded.has(path) || (only && !only.has(path))) {
        skipped.push({ member: path, reason: excluded.get(path) ?? 'not in the subset asked for' });
        continue;
      }
      const kind = chooseMutation(m);
      if (!kind || !MUTATION_KINDS.includes(kind)) {
        skipped.push({ member: path, reason: 'no mutation survived every trial' });
        continue;
      }
      const span: MemberSpan = { path, offset: m.offset, size: m.size, kind: m.kind as MemberSpan['kind'], ...(m.bits ? { bits: m.bits } : {}) };
      if (m.offset + m.size > task.length) {
        skipped.push({ member: path, reason: 'outside the slab object' });
        continue;
      }
      const original = Buffer.from(task.subarray(m.offset, m.offset + m.size));
      const donors = guest.snapshotDonors.map((d) => d.subarray(m.offset, m.offset + m.size));
      const written = span.kind === 'string' ? forgedName(original, trialRandom(seed, path, kind, 0)) : mutate(span, kind, original, trialRandom(seed, path, kind, 0), donors);
      if (!written) {
        skipped.push({ member: path, reason: `${kind} would not change it in this guest` });
        continue;
      }
      written.copy(task, m.offset); // bitfields in one storage unit compose
      applied.push({ member: path, mutation: kind, original: original.toString('hex'), written: written.toString('hex') });
    }
    await guest.writePhys(target.pa, task);
    const back = await guest.readPhys(target.pa, task.length);
    if (!back.equals(task)) throw new EnvironmentError('gdbstub', 'the mutated task_struct did not read back as written');
    const before = rounds(guest.serial);
    const crashed = () => /Kernel panic|BUG: |Oops: /.test(guest.serial);
    const runMs = options.runMs ?? 3000;
    await guest.cont();
    const resumed = Date.now();
    // The first round after the mutations may take longer than runMs on a loaded host
    // (TCG shares the cores): wait up to 15 s more for it before calling the target stalled.
    await guest.waitFor(() => crashed() || rounds(guest.serial) > before, runMs + 15_000);
    const firstRoundMs = rounds(guest.serial) > before ? Date.now() - resumed : undefined;
    const rest = runMs - (Date.now() - resumed);
    if (rest > 0 && !crashed()) await guest.waitFor(crashed, rest);
    const roundsAfter = rounds(guest.serial) - before;
    if (/Kernel panic|BUG: |Oops: /.test(guest.serial) || guest.events.some((e) => e.event.event === 'RESET')) {
      throw new EnvironmentError('kfz', `the guest crashed after ${applied.length} fragile mutations together (each survived alone): ${guest.serial.split('\n').find((l) => /panic|BUG|Oops/.test(l))?.trim()}`);
    }
    if (roundsAfter === 0) log(`warning: the hidden target completed no round of work within ${(runMs + 15_000) / 1000} s after the mutations`);
    const mark = guest.serial.length;
    guest.send('dump');
    if (!(await guest.waitFor(() => guest.serial.includes('kcarve: truth done', mark), 60_000))) throw new EnvironmentError('kcarve_truth', 'no truth dump within 60 s');
    await guest.stop();
    await dumpStoppedGuest(guest.qmp, 256, join(dir, 'memory.raw'), join(dir, 'memory.elf'));
    writeFileSync(join(dir, 'serial.log'), guest.serial);
    const truth = evasionTruth(guest.serial.slice(mark), dir, tc.vmlinuz, tc.qemu, art.sourceHash, style, seed, target.pa, applied);
    const truthPath = join(dir, 'truth.json');
    writeFileSync(truthPath, `${JSON.stringify(truth, null, 2)}\n`);
    let validation = 'ok';
    const raw = openRawImage(join(dir, 'memory.raw'));
    try {
      validateLinuxTruth(truth, truthPath, raw);
    } catch (err) {
      // A fragile member may be one the validator reads (e.g. comm): record, do not fail.
      validation = (err as Error).message;
    } finally {
      raw.close();
    }
    const targetState = truth.tasks.find((t) => phys(BigInt(t.pa)) === target.pa)!.state;
    return { dir, truthPath, target, style, applied, skipped, roundsAfter, ...(firstRoundMs === undefined ? {} : { firstRoundMs }), targetState, validation };
  } finally {
    await guest.shutdown();
  }
}

/** truth.json for the evasion image: the module's truth plus the mutations written into the target. */
export function evasionTruth(serialText: string, dir: string, vmlinuz: string, qemu: string, sourceHash: string, style: UnlinkStyle, seed: number, targetPa: PhysAddr, applied: AppliedMutation[]): LinuxTruth & { evasion: unknown } {
  const serial = parseSerialTruth(serialText, join(dir, 'serial.log'));
  const raw = openRawImage(join(dir, 'memory.raw'));
  let truth: LinuxTruth;
  try {
    truth = buildLinuxTruth(
      {
        serial, image: { raw: 'memory.raw', elf: 'memory.elf' }, vmlinuz, cmdline: FUZZ_CMDLINE, kcarveVersion: KCARVE_VERSION, guestSourceHash: sourceHash,
        params: { memMiB: 256, seed, procs: 1, threads: 0, hide: 1, exited: 0, kaslr: true, unlinkStyle: style, paging: 4 },
        qemu: { binary: qemu, accel: 'tcg', cpu: 'max,-la57', machine: 'q35' }, memBytes: 256 * 2 ** 20,
      },
      raw,
    );
  } finally {
    raw.close();
  }
  truth.build.generator = 'kcarve fuzz evade';
  const target = truth.tasks.find((t) => phys(BigInt(t.pa)) === targetPa);
  if (!target) throw new EnvironmentError('kcarve_truth', `the truth dump has no task at the target's pa 0x${targetPa.toString(16)}`);
  target.mutations = [...target.mutations, ...applied.map((a) => a.member)];
  return { ...truth, evasion: { target_pa: `0x${targetPa.toString(16)}`, applied } };
}

export interface EvasionFindings {
  /** The hidden, mutated target was among the hits. */
  targetFound: boolean;
  /** Truth tasks (any status) the hits found / missed, by pa. */
  found: number;
  missed: { pid: number; comm: string; status: string; pa: string }[];
  /** Hits at no truth task's pa (exited ones included): false positives, as hex pa. */
  falsePositives: string[];
}

/** Compare a scanner's hits (physical addresses of task_structs) with the evasion image's truth. The integrator's hook. */
export function evasionFindings(truth: LinuxTruth & { evasion?: { target_pa?: string } }, hitsPa: readonly number[]): EvasionFindings {
  const hits = new Set(hitsPa);
  const targetPa = truth.evasion?.target_pa;
  if (!targetPa) throw new UsageError('truth.json has no evasion.target_pa: not an image from kcarve fuzz evade');
  const missed = truth.tasks.filter((t) => t.status !== 'exited' && !hits.has(Number(BigInt(t.pa))));
  const known = new Set(truth.tasks.map((t) => Number(BigInt(t.pa))));
  return {
    targetFound: hits.has(Number(BigInt(targetPa))),
    found: truth.tasks.filter((t) => t.status !== 'exited').length - missed.length,
    missed: missed.map((t) => ({ pid: t.pid, comm: t.comm, status: t.status, pa: t.pa })),
    falsePositives: [...hits].filter((pa) => !known.has(pa)).sort((a, b) => a - b).map((pa) => `0x${pa.toString(16)}`),
  };
}
