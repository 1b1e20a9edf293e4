// End to end on a real guest: boot Debian's kernel under QEMU TCG, dump memory, build
// truth.json and validate it against both images. Skipped (with the reason) only when
// QEMU or the Debian kernel is not installed; CI installs them (.ci/system-deps).
// The image is cached under datasets/build/images/ so later tests reuse it.
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cachedLinuxImage, validateLinuxImageDir } from '../src/datasets/linux/build-image.js';
import { E2E_LINUX_PARAMS, planWorkload } from '../src/datasets/linux/plan.js';
import { findLinuxToolchain } from '../src/datasets/linux/toolchain.js';
import { parseSerialTruth } from '../src/datasets/linux/serial-truth.js';
import type { LinuxTruth } from '../src/datasets/linux/truth.js';

function missingComponent(): string | undefined {
  try {
    findLinuxToolchain();
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

const missing = missingComponent();

describe('real Linux image (QEMU TCG, Debian kernel)', () => {
  if (missing) {
    it.skip(`skipped: ${missing}`, () => {});
    return;
  }

  it('builds a small image whose truth matches the raw and ELF dumps', async () => {
    const lines: string[] = [];
    const built = await cachedLinuxImage(E2E_LINUX_PARAMS, { log: (l) => lines.push(l) });
    const truth = JSON.parse(readFileSync(built.truthPath, 'utf8')) as LinuxTruth;
    expect(truth.schema).toBe('kcarve-truth/1');
    expect(truth.kernel.release).toBe(findLinuxToolchain().kernelRelease);
    expect(truth.kernel.paging_levels).toBe(4);
    expect(existsSync(join(built.dir, 'memory.raw'))).toBe(true);
    expect(existsSync(join(built.dir, 'memory.elf'))).toBe(true);

    // Exactly the planned workload, with the planned statuses.
    const plan = planWorkload(E2E_LINUX_PARAMS);
    const byComm = new Map(truth.tasks.map((t) => [t.comm, t]));
    for (const p of plan.procs) {
      expect(byComm.get(p.name)?.status).toBe(p.hidden ? 'hidden' : 'live');
      for (const th of p.threads) expect(byComm.get(th)).toMatchObject({ status: p.hidden ? 'hidden' : 'live', leader: false });
    }
    const hidden = truth.tasks.filter((t) => t.status === 'hidden');
    expect(hidden.filter((t) => t.leader)).toHaveLength(E2E_LINUX_PARAMS.hide);
    expect(hidden.every((t) => t.unlink_style === 'poison' && t.on_tasks_list === false)).toBe(true);
    expect(hidden.filter((t) => t.leader).every((t) => t.mutations.join() === 'tasks')).toBe(true);
    // Every planned short-lived task is an exited entry, unless a later exit reused its
    // freed object (then truth says so in build.exited_dropped).
    const dropped = new Set(truth.build.exited_dropped.map((d) => d.comm));
    for (const e of plan.exited) {
      for (const name of [e.name, ...e.threads]) {
        if (!dropped.has(name)) expect(byComm.get(name)).toMatchObject({ status: 'exited', leader: name === e.name });
      }
    }
    expect(truth.tasks.filter((t) => t.status === 'exited').every((t) => t.residue !== undefined)).toBe(true);
    expect(truth.tasks.find((t) => t.pid === 0)).toMatchObject({ comm: 'swapper/0', pa: truth.layout.init_task_pa });
    expect(truth.offsets.task_struct.size).toBeGreaterThan(truth.offsets.task_struct.fields['comm']!);
    // The slab object is sized at boot (FPU state at the end): between comm and sizeof.
    expect(truth.offsets.task_struct.alloc_size).toBeGreaterThan(truth.offsets.task_struct.fields['comm']!);
    expect(truth.offsets.task_struct.alloc_size).toBeLessThanOrEqual(truth.offsets.task_struct.size);

    // The validation pass, again from the files on disk, on both images.
    const reports = validateLinuxImageDir(built.dir);
    expect(reports.map((r) => r.image)).toEqual([join(built.dir, 'memory.raw'), join(built.dir, 'memory.elf')]);
    for (const r of reports) {
      expect(r.hidden).toBe(hidden.length);
      expect(r.walkLength).toBe(truth.tasks.filter((t) => t.on_tasks_list).length);
    }
    // truth.json was built from the serial log beside it.
    const serial = parseSerialTruth(readFileSync(join(built.dir, 'serial.log'), 'utf8'));
    expect(serial.tasks.filter((t) => t.status !== 'exited')).toHaveLength(truth.tasks.filter((t) => t.status !== 'exited').length);
  }, 400_000);
});
