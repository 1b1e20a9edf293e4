// `kcarve synth` on the command line: exit codes and messages for bad arguments.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { useTmpDir } from '../helpers/images.js';
import { captureStdio } from '../helpers/capture-stdio.js';

const tmp = useTmpDir('synth-cli');
const io = captureStdio();

describe('kcarve synth', () => {
  it('requires --out', async () => {
    expect(await main(['synth'])).toBe(1);
    expect(io.stderr).toBe('kcarve: --out <dir> is required\n');
  });

  it('rejects an unknown format and an unknown OS with exit code 1', async () => {
    expect(await main(['synth', '--format', 'vmem', '--out', tmp('a')])).toBe(1);
    expect(io.stderr).toContain("argument 'vmem' is invalid");
    io.stderr = '';
    expect(await main(['synth', '--os', 'plan9', '--out', tmp('b')])).toBe(1);
    expect(io.stderr).toMatch(/^kcarve: --os "plan9": no synthetic world for this OS \(known: .*\)\n$/);
    expect(io.stdout).toBe('');
  });

  it('writes a Linux world and its truth, and reports it as JSON', async () => {
    const out = tmp('linux');
    const args = ['synth', '--os', 'linux', '--seed', '4', '--size', '32M', '--procs', '10', '--threads', '3', '--hidden', '2', '--exited', '2', '--decoys', '3', '--attack', 'comm,random:1', '--format', 'lime', '--out', out, '--json'];
    expect(await main(args)).toBe(0);
    const report = JSON.parse(io.stdout) as Record<string, unknown>;
    expect(report).toMatchObject({ image: join(out, 'memory.lime'), truth: join(out, 'truth.json'), exited: 2, decoys: 3 });
    expect(statSync(join(out, 'memory.lime')).size).toBe(report['fileSize']);
    const truth = JSON.parse(readFileSync(join(out, 'truth.json'), 'utf8')) as { schema: string; image: Record<string, string>; build: { params: Record<string, unknown> }; tasks: { status: string; mutations: string[] }[] };
    expect(truth.schema).toBe('kcarve-truth/1');
    expect(truth.image).toEqual({ lime: 'memory.lime' });
    expect(truth.build.params).toMatchObject({ os: 'linux', seed: 4, size: 32 << 20, attack: 'comm,random:1', format: 'lime' });
    for (const t of truth.tasks.filter((x) => x.status === 'hidden')) expect(t.mutations).toContain('comm');
    expect(io.stderr).toBe('');
  });

  it('lists the Linux attacks in its help', async () => {
    expect(await main(['synth', '--help'])).toBe(0);
    expect(io.stdout).toContain('start_time');
    expect(io.stdout).toContain('random:N');
  });
});
