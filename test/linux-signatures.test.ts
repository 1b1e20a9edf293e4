// The task_struct signature generator and the shipped Linux signatures: what the
// generator writes for a layout, what it leaves out and why, that the shipped
// files load and are what the generator writes, and the Volatility psscan baseline.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.js';
import { volatilityPsscanBaseline } from '../src/os/linux/baseline-signature.js';
import { freePointerWindow, linuxTaskSignature } from '../src/os/linux/task-signature.js';
import type { Provenance, SignatureDoc } from '../src/signatures/format.js';
import { loadSignature, resolveSignature } from '../src/signatures/load.js';
import { isfFromText } from '../src/types/isf.js';
import { shippedKernelBtfPath } from '../src/types/load.js';
import { debianLayout } from './helpers/linux-mini.js';
import { captureStdio } from './helpers/capture-stdio.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SIGS = join(ROOT, 'signatures', 'linux');
const layout = debianLayout();

function fieldsOf(doc: SignatureDoc): string[] {
  return doc.constraints.map((c) => `${c.field}:${c.kind}`);
}

/** A constraint or edge without its measured figures, to compare a shipped file with the generator. */
function unmeasured<T extends { provenance?: Provenance }>(c: T): T {
  const { support: _s, negativeRate: _n, ...p } = c.provenance ?? { source: 'header' as const };
  return { ...c, provenance: p };
}

describe('the task_struct signature generator', () => {
  it('puts the free-pointer window of the Debian 6.1 layout at 3104..4904', () => {
    // fpu registers at 5696 (+512 legacy area) .. sizeof 9792: ALIGN_DOWN(6208 / 2, 8), ALIGN_DOWN(9792 / 2, 8) + 8.
    expect(freePointerWindow(layout)).toEqual({ from: 3104, to: 4904 });
  });

  it('writes header-sourced value invariants, the sched_class prefilter first, and no field in the window', () => {
    const { doc, skipped } = linuxTaskSignature(layout, { kernel: '6.1' });
    expect(skipped).toEqual([]);
    expect(doc.alignment).toBe(64);
    expect(doc.constraints[0]).toMatchObject({ field: 'sched_class', kind: 'mask', mask: '0xffffffffc0000007', value: '0xffffffff80000000' });
    expect(fieldsOf(doc)).toEqual([
      'sched_class:mask', 'stack_canary:mask', 'stack_canary:ne', 'stack:aligned', 'stack:kptr_or_null', 'exit_state:set',
      'static_prio:range', 'policy:set', 'real_cred:kptr_or_null', 'cred:kptr_or_null', 'signal:kptr', 'real_parent:kptr',
      'group_leader:kptr', 'mm:kptr_or_null', 'active_mm:kptr_or_null', 'thread_pid:kptr_or_null', 'cpus_ptr:kptr',
      'flags:mask', '__state:mask',
    ]);
    for (const c of doc.constraints) {
      const m = layout.member('task_struct', c.field);
      expect(m.offset + m.size <= 3104 || m.offset >= 4904).toBe(true);
      expect(c.provenance).toMatchObject({ source: 'header', robustness: 'unknown' });
      expect(c.provenance?.note).toMatch(/\.(h|c)\b/);
    }
    expect(doc.edges?.map((e) => `${e.name}${e.required ? '!' : ''}`)).toEqual([
      'real_parent.task!', 'cpus_ptr.self', 'thread_pid.nr', 'pid_links.self', 'stack.magic', 'mm.owner', 'tasks.next.prev', 'sibling.next.prev',
    ]);
    expect(doc.edges?.find((e) => e.name === 'stack.magic')?.expect).toEqual([{ value: '0x57ac6e9d' }]);
    expect(doc.provenance?.robustness).toBe('unproven');
  });

  it('leaves 6.1-only facts out of the generic signature', () => {
    const { doc } = linuxTaskSignature(layout);
    expect(fieldsOf(doc)).not.toContain('flags:mask');
    expect(fieldsOf(doc)).not.toContain('__state:mask');
    expect(doc.target).toEqual({ os: 'linux', type: 'task_struct', build: 'generic' });
  });

  it('skips fields a layout lacks and fields the free pointer may cover, and says so', () => {
    const isf = JSON.stringify({
      metadata: { format: '6.2.0', producer: { name: 'test', version: '1' } },
      base_types: {
        'unsigned long': { size: 8, signed: false, kind: 'int', endian: 'little' },
        int: { size: 4, signed: true, kind: 'int', endian: 'little' },
        pointer: { size: 8, signed: false, kind: 'int', endian: 'little' },
      },
      user_types: {
        task_struct: {
          kind: 'struct',
          size: 256,
          fields: {
            sched_class: { offset: 0, type: { kind: 'pointer', subtype: { kind: 'base', name: 'unsigned long' } } },
            stack_canary: { offset: 8, type: { kind: 'base', name: 'unsigned long' } },
            // Inside [ALIGN_DOWN(128/2, 8), 128 + 8): a freed slot's pointer may be there.
            signal: { offset: 96, type: { kind: 'pointer', subtype: { kind: 'base', name: 'unsigned long' } } },
          },
        },
      },
      enums: {},
      symbols: {},
    });
    const toy = isfFromText(isf, 'toy.json');
    const { doc, skipped } = linuxTaskSignature(toy);
    expect(fieldsOf(doc)).toEqual(['sched_class:mask', 'stack_canary:mask', 'stack_canary:ne']);
    expect(skipped).toContain('constraint on signal: the SLUB free pointer of a freed slot may cover it (bytes 64..136)');
    expect(skipped).toContain('constraint on stack: not in the layout');
    expect(skipped).toContain('edge real_parent.task: layout lacks task_struct.real_parent');
    expect(doc.provenance?.notes).toContain('skipped: constraint on stack: not in the layout');
  });
});

describe('the shipped Linux signatures', () => {
  it('the Debian 6.1.0-57 signature loads with its own layout and is what the generator writes', () => {
    const sig = loadSignature(join(SIGS, 'debian-6.1.0-57-amd64.sig.json'));
    expect(sig.doc.target).toEqual({ os: 'linux', type: 'task_struct', build: 'debian-6.1.0-57-amd64', layout: '../btf/linux-6.1.0-57-amd64.btf.gz' });
    expect(sig.layout.file).toBe(shippedKernelBtfPath());
    const gen = linuxTaskSignature(layout, { kernel: '6.1' }).doc;
    expect(sig.doc.constraints.map(unmeasured)).toEqual(gen.constraints);
    expect(sig.doc.edges?.map((e) => unmeasured(e))).toEqual(gen.edges);
    expect(sig.doc.scoring).toEqual({ minScore: 0.5 });
    expect(sig.doc.provenance?.command).toMatch(/^kcarve signature linux --layout signatures\/btf\/linux-6\.1\.0-57-amd64\.btf\.gz --kernel 6\.1 /);
    expect(sig.doc.provenance?.trainedOn).toHaveLength(6);
    // Measured on the six training images: every true object satisfies every constraint.
    for (const c of sig.doc.constraints) {
      expect(c.provenance?.support).toBe(1);
      expect(c.provenance?.negativeRate).toBeGreaterThanOrEqual(0);
    }
    expect(sig.doc.provenance?.fpPerGiB).toBe(0);
  });

  it('the generic signature has no layout of its own and loads with the one given', () => {
    const file = join(SIGS, 'task_struct-generic.sig.json');
    const doc = JSON.parse(readFileSync(file, 'utf8')) as SignatureDoc;
    expect(doc.target.layout).toBeUndefined();
    expect(() => loadSignature(file)).toThrow(/at \$\.target\.layout: names no layout; pass --layout FILE/);
    const sig = loadSignature(file, { layout });
    expect(sig.doc.constraints.map(unmeasured)).toEqual(linuxTaskSignature(layout).doc.constraints);
    expect(sig.doc.provenance?.command).toMatch(/^kcarve signature linux --layout \S+ --train /);
  });

  it('the baseline reproduces linux.psscan: a sched_class needle, exit_state, 0 < pid < 65535', () => {
    const sig = loadSignature(join(SIGS, 'baseline-volatility-psscan.sig.json'), { layout });
    expect(sig.doc.baseline).toBe(true);
    expect(sig.doc.edges).toEqual([]);
    expect(sig.doc.constraints.map(unmeasured)).toEqual(volatilityPsscanBaseline(layout).constraints);
    expect(sig.program('x86-64-4')).toEqual({
      alignment: 8,
      constraints: [
        { kind: 'mask', offset: layout.offsetOf('task_struct', 'sched_class'), width: 8, mask: 0xffffffffc0000007n, value: 0xffffffff80000000n },
        { kind: 'set', offset: layout.offsetOf('task_struct', 'exit_state'), width: 4, values: [0n, 0x10n, 0x20n, 0x30n] },
        { kind: 'range', offset: layout.offsetOf('task_struct', 'pid'), width: 4, min: 1n, max: 65534n },
      ],
    });
    for (const c of sig.doc.constraints) expect(c.provenance?.note).toMatch(/volatility3 volatility3\/framework\/plugins\/linux\/psscan\.py/);
  });
});

describe('kcarve signature linux', () => {
  const io = captureStdio();
  const dir = mkdtempSync(join(tmpdir(), 'kcarve-sig-linux-'));

  it('writes a signature that loads, with the command that made it', async () => {
    const file = join(dir, 'gen.sig.json');
    expect(await main(['signature', 'linux', '--layout', shippedKernelBtfPath(), '--kernel', '6.1', '--out', file])).toBe(0);
    expect(io.stdout).toBe(`wrote ${file}: 19 constraints, 8 edges\n`);
    const doc = JSON.parse(readFileSync(file, 'utf8')) as SignatureDoc;
    expect(doc.provenance?.command).toBe(`kcarve signature linux --layout ${shippedKernelBtfPath()} --kernel 6.1 --out ${file}`);
    expect(resolveSignature(doc, file, { layout }).constraints).toHaveLength(19);
  });

  it('refuses --baseline with --kernel (exit 1) and an unknown --kernel', async () => {
    const file = join(dir, 'bad.sig.json');
    expect(await main(['signature', 'linux', '--layout', shippedKernelBtfPath(), '--baseline', 'volatility-psscan', '--kernel', '6.1', '--out', file])).toBe(1);
    expect(io.stderr).toBe('kcarve: --baseline and --kernel do not go together: the baseline reproduces another tool as it is\n');
    io.stderr = '';
    expect(await main(['signature', 'linux', '--layout', shippedKernelBtfPath(), '--kernel', '5.10', '--out', file])).toBe(1);
    expect(io.stderr).toContain("option '--kernel <version>' argument '5.10' is invalid. must be one of 6.1");
  });
});

describe('measuring a signature on an image with truth', () => {
  it('counts support, negative rate and hits of each constraint on the synthetic kernel', async () => {
    const { miniKernel, MINI } = await import('./helpers/linux-mini.js');
    const { writeFileSync } = await import('node:fs');
    const { openImage } = await import('../src/layers/open-image.js');
    const { measureSignature } = await import('../src/signatures/measure.js');
    const k = miniKernel();
    const file = join(mkdtempSync(join(tmpdir(), 'kcarve-measure-')), 'mini.raw');
    writeFileSync(file, k.image.readPhys(0 as never, MINI.ram));
    const image = openImage(file);
    try {
      const sig = resolveSignature(linuxTaskSignature(layout, { kernel: '6.1' }).doc, 'mini.sig.json', { layout });
      const m = measureSignature(sig, [{ name: 'mini', image, positives: k.tasks.map((t) => t.pa) }], 'x86-64-4');
      expect(m.samples).toEqual([{ name: 'mini', positives: 6, found: 6, falsePositives: 0, positions: MINI.ram / 64 }]);
      expect(m.fpPerGiB).toBe(0);
      for (const c of m.constraints) expect(c.support).toBe(1);
      // Few other positions hold a kernel-image pointer where sched_class would be (init_task's own
      // image-VA fields); zero-filled memory passes `stack aligned`.
      expect(m.constraints[0]).toMatchObject({ where: '$.constraints[0]', support: 1 });
      expect(m.constraints[0]!.negativeRate * (MINI.ram / 64 - 6)).toBeLessThanOrEqual(4);
      expect(m.constraints[3]!.where).toBe('$.constraints[3]');
      expect(m.constraints[3]!.negativeRate).toBeGreaterThan(0.99);
    } finally {
      image.close();
    }
  });
});
