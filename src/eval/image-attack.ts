// Attacker mutations applied to a COPY of a real Linux image: the hidden task_structs
// (truth status "hidden", threads of hidden processes included) get the fields of one
// evasion row rewritten in place, the way src/synth/linux/attacks.ts rewrites them in a
// synthetic world (same names, same semantics), so a row means the same on both. The
// input image is never opened for writing: the copy lives in a temporary directory.
import { closeSync, copyFileSync, constants, openSync, writeSync } from 'node:fs';
import { basename, join } from 'node:path';
import { phys } from '../addr.js';
import { ImageIOError, UsageError } from '../errors.js';
import { openImage } from '../layers/open-image.js';
import type { PhysicalRun } from '../layers/physical.js';
import { LINUX_ATTACKS, LINUX_RANDOM_FIELDS } from '../synth/linux/attacks.js';
import { Prng } from '../synth/prng.js';
import type { AttackSpec } from '../synth/attack.js';
import type { TruthObject } from '../train/truth-file.js';
import type { Layout } from '../types/layout.js';

export interface MutatedImage {
  path: string;
  /** pa → the members changed there. */
  changed: Map<number, string[]>;
}

/** Write `bytes` at guest physical `pa` of an image file open as `fd`, through its runs. */
function writePhysToFile(fd: number, file: string, runs: readonly PhysicalRun[], pa: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) {
    const at = pa + done;
    const run = runs.find((r) => at >= r.paddr && at < r.paddr + r.length);
    if (run === undefined) throw new ImageIOError(file, at, `cannot write the attack at physical 0x${at.toString(16)}: no run of the image holds it`);
    const n = Math.min(bytes.length - done, run.paddr + run.length - at);
    writeSync(fd, bytes, done, n, run.fileOffset + (at - run.paddr));
    done += n;
  }
}

/** The new bytes of member `field` for attack `name` (the synth's semantics). */
function attackBytes(name: string, size: number, rng: Prng): Uint8Array {
  switch (name) {
    case 'comm': {
      // 15 random non-NUL bytes, at least one no printable-name test accepts, then NUL.
      const b = new Uint8Array(size);
      for (let i = 0; i < Math.min(15, size - 1); i += 1) b[i] = 1 + rng.int(255);
      b[rng.int(Math.min(15, size - 1))] = 0x80 + rng.int(0x80);
      return b;
    }
    case 'tasks':
    case 'start_time':
      return new Uint8Array(size);
    default:
      // pid, flags and random:N fields: random bytes.
      return rng.fill(new Uint8Array(size));
  }
}

/**
 * Copy `image` into `dir` and rewrite, in the copy, the members `spec` names on every
 * hidden object of `objects`. `layout` resolves task_struct members.
 */
export function mutateLinuxImageCopy(image: string, dir: string, objects: readonly TruthObject[], spec: AttackSpec, layout: Layout, seed: string): MutatedImage {
  for (const n of spec.named) if (!Object.hasOwn(LINUX_ATTACKS, n)) throw new UsageError(`attack ${JSON.stringify(n)} is not a Linux attack (known: ${Object.keys(LINUX_ATTACKS).join(', ')})`);
  const out = join(dir, basename(image));
  try {
    // A reflink where the filesystem has them, a plain copy elsewhere.
    copyFileSync(image, out, constants.COPYFILE_FICLONE);
  } catch (err) {
    throw new ImageIOError(image, undefined, `cannot copy the image for the attack: ${(err as Error).message}`, { cause: err });
  }
  const physical = openImage(out);
  const runs = physical.runs;
  let fd: number;
  try {
    fd = openSync(out, 'r+');
  } catch (err) {
    physical.close();
    throw new ImageIOError(out, undefined, `cannot open the copy for writing: ${(err as Error).message}`, { cause: err });
  }
  const changed = new Map<number, string[]>();
  try {
    for (const o of objects) {
      if (o.status !== 'hidden') continue;
      const rng = new Prng(seed, spec.text, String(o.pa));
      const fields: [string, string][] = spec.named.map((n) => [n, n]);
      if (spec.random > 0) {
        const pool = LINUX_RANDOM_FIELDS.filter((f) => !spec.named.includes(f));
        for (const f of rng.shuffle([...pool]).slice(0, spec.random)) fields.push([`random`, f]);
      }
      for (const [attack, field] of fields) {
        const m = layout.member('task_struct', field);
        const bytes = attackBytes(attack, m.size, rng);
        const before = physical.readPhys(phys(o.pa + m.offset), m.size);
        // A mutation must change the member; flip the first byte of the rare no-op.
        if (Buffer.from(before).equals(Buffer.from(bytes))) bytes[0] = before[0]! ^ 0xff;
        writePhysToFile(fd, out, runs, o.pa + m.offset, bytes);
      }
      changed.set(o.pa, fields.map(([, f]) => f));
    }
  } finally {
    closeSync(fd);
    physical.close();
  }
  return { path: out, changed };
}
