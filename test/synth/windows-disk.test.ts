// Windows worlds as files and under attack: determinism on disk, the LiME/ELF writers,
// KASLR of 19041's regions, option checks with exact messages, and attacks that change
// exactly the fields they name (compared byte by byte with the same world unattacked).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { phys } from '../../src/addr.js';
import { UsageError } from '../../src/errors.js';
import { openImage, qemuCpuStates, readElfNotes } from '../../src/layers/index.js';
import { buildWorld, resolveSynthOptions, synthesize, type SynthArgs, type WorldInMemory } from '../../src/synth/index.js';
import { WINDOWS_RANDOM_FIELDS, attackTarget } from '../../src/synth/windows/attacks.js';
import { windowsBuild } from '../../src/synth/windows/builds.js';
import { winLayout } from '../../src/synth/windows/layout.js';
import type { WindowsSynthTask } from '../../src/synth/windows/truth.js';
import { useTmpDir } from '../helpers/images.js';

const tmp = useTmpDir('synth-windows-disk');
const BUILDS = ['winxpsp2x86', 'win7sp1x64', 'win10x64_19041'] as const;

function world(args: SynthArgs): WorldInMemory {
  const { plugin, options } = resolveSynthOptions({ os: 'windows', ...args });
  return buildWorld(plugin, options);
}
const tasksOf = (w: WorldInMemory) => w.world.truth.tasks as WindowsSynthTask[];

describe('windows attacks', () => {
  // The single-field matrix in pairs of disjoint fields (each field checked on its own bytes), random:N, and two Linux names.
  const specs = [['pool-tag', 'create-time-zero'], ['pool-index', 'name-first-byte'], ['dispatcher-type', 'pid-not-div4'], ['dispatcher-size', 'active-links-zero'], ['random:3'], ['flags', 'comm']];
  it.each(BUILDS)('change exactly the fields they name (%s)', (build) => {
    const B = windowsBuild(build);
    const W = winLayout(B);
    const base = { build, seed: 5, size: '24M', procs: 20, threads: 6, hidden: 3, exited: 2, decoys: 4 };
    const clean = world(base);
    for (const spec of specs) {
      const attacked = world({ ...base, attack: spec.join(',') });
      const before = tasksOf(clean);
      const after = tasksOf(attacked);
      expect(after.map((t) => t.pa)).toEqual(before.map((t) => t.pa));
      for (let i = 0; i < after.length; i += 1) {
        const t = after[i]!;
        const pool = Number(t.pool_header_pa);
        const span = Number(t.pa) + W.sizes.eprocess - pool;
        const a = attacked.readPhys(pool, span);
        const b = clean.readPhys(pool, span);
        const changedBytes: number[] = [];
        for (let k = 0; k < span; k += 1) if (a[k] !== b[k]) changedBytes.push(k);
        if (t.status !== 'hidden') {
          expect(changedBytes).toEqual([]);
          continue;
        }
        const dkom = before[i]!.mutations;
        const targets = spec[0] === 'random:3' ? [] : spec.map(attackTarget);
        const fields = t.mutations.filter((m) => !dkom.includes(m) || targets.includes(m));
        if (spec[0] === 'random:3') expect(fields).toHaveLength(3);
        else expect(new Set(fields)).toEqual(new Set(targets));
        // Every changed byte lies in a mutated field, and every mutated field changed.
        const ranges = fields.map((f) => {
          if (f.startsWith('_POOL_HEADER.')) {
            const m = W.L.member('_POOL_HEADER', f.slice('_POOL_HEADER.'.length));
            return [m.offset, m.offset + m.size] as const;
          }
          const m = W.L.member('_EPROCESS', f);
          const at = Number(t.pa) - pool + m.offset;
          return [at, at + m.size] as const;
        });
        for (const k of changedBytes) expect(ranges.some(([s, e]) => k >= s && k < e)).toBe(true);
        for (const [s, e] of ranges) expect(changedBytes.some((k) => k >= s && k < e)).toBe(true);
        if (spec.includes('pid-not-div4')) expect(Number(W.L.readMember('_EPROCESS', 'UniqueProcessId', attacked.readPhys(Number(t.pa), W.sizes.eprocess)) as bigint) % 4).not.toBe(0);
      }
    }
  });

  it('draws random fields that exist in every build', () => {
    for (const build of BUILDS) {
      const L = winLayout(windowsBuild(build)).L;
      for (const f of WINDOWS_RANDOM_FIELDS) expect(() => L.member('_EPROCESS', f)).not.toThrow();
    }
  });
});

describe('windows worlds on disk', () => {
  it.each(BUILDS)('are byte-identical for the same arguments and differ for another seed (%s)', (build) => {
    const args = { os: 'windows', build, size: '16M', procs: 12, threads: 4, hidden: 2, exited: 2, decoys: 6 };
    const h = (dir: string) => createHash('sha256').update(readFileSync(`${dir}/memory.raw`)).digest('hex');
    const a = synthesize({ ...args, seed: 9, out: tmp(`${build}-a`) });
    const b = synthesize({ ...args, seed: 9, out: tmp(`${build}-b`) });
    const c = synthesize({ ...args, seed: 10, out: tmp(`${build}-c`) });
    expect(h(a.dir)).toBe(h(b.dir));
    expect(readFileSync(a.truthPath, 'utf8')).toBe(readFileSync(b.truthPath, 'utf8'));
    expect(h(a.dir)).not.toBe(h(c.dir));
    // The file holds what the in-memory world says.
    const raw = readFileSync(a.imagePath);
    const t = a.truth.tasks[1]!;
    const L = winLayout(windowsBuild(build)).L;
    expect(L.readMember('_EPROCESS', 'UniqueProcessId', raw.subarray(Number(t.pa), Number(t.pa) + L.sizeOf('_EPROCESS')))).toBe(BigInt(t.pid));
  });

  it('writes LiME and ELF cores that hold the same bytes (XP: ELF32 with a QEMU CPU note whose CR3 is a process DTB)', () => {
    const args = { os: 'windows', build: 'winxpsp2x86', size: '16M', procs: 10, threads: 2, hidden: 1, exited: 1, decoys: 3, seed: 2 };
    const raw = synthesize({ ...args, out: tmp('xp-raw') });
    const elf = synthesize({ ...args, format: 'elf', out: tmp('xp-elf') });
    const lime = synthesize({ ...args, format: 'lime', out: tmp('xp-lime') });
    const rawBytes = readFileSync(raw.imagePath);
    for (const path of [elf.imagePath, lime.imagePath]) {
      const img = openImage(path);
      try {
        for (const t of raw.truth.tasks) expect(Buffer.from(img.readPhys(phys(Number(t.pa)), 0x100)).equals(rawBytes.subarray(Number(t.pa), Number(t.pa) + 0x100))).toBe(true);
      } finally {
        img.close();
      }
    }
    expect(readFileSync(elf.imagePath)[4]).toBe(1); // EI_CLASS = ELFCLASS32
    const cr3 = qemuCpuStates(readElfNotes(elf.imagePath))[0]!.cr3;
    expect((raw.truth.tasks as WindowsSynthTask[]).map((t) => BigInt(t.dtb))).toContain(cr3);
  });

  it('randomizes the 19041 self-reference and pool slots per seed, and fixes them without KASLR', () => {
    const layout = (seed: number, kaslr: boolean) => world({ build: 'win10x64_19041', size: '16M', procs: 8, hidden: 0, exited: 1, decoys: 2, seed, kaslr }).world.truth.layout;
    const slots = new Set([1, 2, 3, 4].map((seed) => layout(seed, true)['self_ref_index']));
    expect(slots.size).toBeGreaterThan(1);
    for (const seed of [1, 2]) {
      const l = layout(seed, false);
      expect(l['self_ref_index']).toBe('0x1ed');
      expect(l['nonpaged_pool_base']).toBe('0xfffffa8000000000');
    }
  });

  it('refuses options a Windows world cannot honour, naming them', () => {
    expect(() => resolveSynthOptions({ os: 'windows', build: 'win2000' })).toThrow(new UsageError('--build "win2000": unknown for windows (known: win10x64_19041, win7sp1x64, winxpsp2x86)'));
    expect(() => world({ build: 'winxpsp2x86', size: '16M', procs: 5, hidden: 4 })).toThrow(
      new UsageError('--hidden 4: only 0 of the 5 processes of a winxpsp2x86 world can be hidden (System and the boot chain stay visible); raise --procs'),
    );
    expect(() => world({ build: 'win7sp1x64', size: '16M', paging: 3 })).toThrow(new UsageError('--paging 3: a win7sp1x64 world uses 4-level paging'));
    expect(() => world({ build: 'win7sp1x64', size: '16M', procs: 0, hidden: 0 })).toThrow(new UsageError('--procs 0: a Windows world needs at least 1 process (System)'));
  });
});
