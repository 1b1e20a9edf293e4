// `kcarve train` on the command line: the files it writes, the exact command line it
// records, and the messages of the mistakes a user can make.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { loadSignature } from '../../src/signatures/load.js';
import { shippedKernelBtfPath } from '../../src/types/load.js';
import { useTmpDir } from '../helpers/images.js';
import { writeWorlds } from './worlds.js';
import { captureStdio } from '../helpers/capture-stdio.js';

const tmp = useTmpDir('train-cli');
/** Fewer negatives than the default: a 32 MiB world does not need 16384. */
const FAST = ['--negatives', '2048', '--hard-negatives', '1024', '--quiet'];
const BTF = shippedKernelBtfPath();
let world: string;

const io = captureStdio();

beforeAll(() => {
  [world] = writeWorlds(tmp, [31]) as [string];
});

describe('kcarve train', () => {
  it('writes the signature and the report, and records its own command line', async () => {
    const sig = tmp('out/task.sig.json');
    const report = tmp('out/report.md');
    mkdirSync(tmp('out'), { recursive: true });
    const args = ['train', '--type', 'task_struct', '--layout', BTF, world, '--out', sig, '--report', report, '--target-fp-per-gb', '0.5', ...FAST];
    expect(await main(args)).toBe(0);
    expect(io.stderr).toBe('');
    const doc = JSON.parse(readFileSync(sig, 'utf8'));
    expect(doc.provenance.command).toBe(['kcarve', ...args].join(' '));
    expect(doc.provenance.targetFpPerGiB).toBe(0.5);
    expect(doc.provenance.robustness).toBe('unproven');
    expect(loadSignature(sig).doc.name).toBe('task_struct-trained');
    const text = readFileSync(report, 'utf8');
    expect(text).toMatch(/^# Training report: task_struct-trained\n/);
    expect(text).toContain('## Chosen value constraints');
    expect(text).toContain('Needs two images or more.');
    expect(io.stdout).toMatch(new RegExp(`^${sig.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: [0-9]+ constraints, [0-9]+ required \\+ [0-9]+ weighted edges, [0-9.]+ false positives/GiB on the training images\\n$`));
  });

  it('--exclude-field keeps a member out of the constraints and edges, --note lands in provenance.notes', async () => {
    // The member the trainer picks first (its prefilter) when it may.
    const free = tmp('free.sig.json');
    expect(await main(['train', '--type', 'task_struct', '--layout', BTF, world, '--out', free, '--no-cv', ...FAST])).toBe(0);
    const first = (JSON.parse(readFileSync(free, 'utf8')).constraints[0].field as string).split(/[.[]/)[0]!;
    const sig = tmp('excl.sig.json');
    const args = ['train', '--type', 'task_struct', '--layout', BTF, world, '--out', sig, '--exclude-field', first, '--note', 'images: kcarve synth (test)', '--no-cv', ...FAST];
    expect(await main(args)).toBe(0);
    const doc = JSON.parse(readFileSync(sig, 'utf8'));
    expect(doc.provenance.command).toBe(['kcarve', ...args].map((a) => (a.includes(' ') ? `'${a}'` : a)).join(' '));
    expect(doc.provenance.notes).toContain('images: kcarve synth (test)');
    expect(doc.provenance.notes).toContain(`left out by --exclude-field (as attacker-controlled): ${first}`);
    const inside = (path: string | undefined): boolean => path !== undefined && (path === first || path.startsWith(`${first}.`) || path.startsWith(`${first}[`));
    for (const c of doc.constraints) expect(inside(c.field)).toBe(false);
    for (const e of doc.edges ?? []) if (e.required) expect(inside(e.from) || inside(e.read?.field)).toBe(false);
  });

  it('prints the signature on stdout without --out', async () => {
    expect(await main(['train', '--type', 'task_struct', '--layout', BTF, world, ...FAST])).toBe(0);
    expect(JSON.parse(io.stdout).schema).toBe('kcarve-signature/1');
  });

  it('prints a JSON summary with --json, and quotes arguments that need it in the recorded command', async () => {
    const odd = tmp("it's here.sig.json");
    expect(await main(['train', '--type', 'task_struct', '--layout', BTF, world, '--out', odd, '--json', ...FAST])).toBe(0);
    const summary = JSON.parse(io.stdout);
    expect(summary).toMatchObject({ signature: odd, report: null, reachedTarget: true, crossValidation: [] });
    expect(summary.constraints).toBeGreaterThan(0);
    expect(JSON.parse(readFileSync(odd, 'utf8')).provenance.command).toBe(
      `kcarve train --type task_struct --layout ${BTF} ${world} --out '${odd.replace("'", "'\\''")}' --json ${FAST.join(' ')}`,
    );
  });

  it('says what is missing or wrong', async () => {
    expect(await main(['train', '--layout', BTF, world])).toBe(1);
    expect(io.stderr).toBe('kcarve: --type <type> is required (e.g. task_struct)\n');
    io.stderr = '';
    expect(await main(['train', '--type', 'task_struct', world])).toBe(1);
    expect(io.stderr).toBe("kcarve: --layout <file> is required (the BTF or ISF of the images' kernel)\n");
    io.stderr = '';
    const empty = tmp('empty');
    mkdirSync(empty);
    expect(await main(['train', '--type', 'task_struct', '--layout', BTF, empty])).toBe(1);
    expect(io.stderr).toBe(`kcarve: ${empty}: no truth.json here (an IMAGE_DIR holds a memory image and its truth.json)\n`);
    io.stderr = '';
    expect(await main(['train', '--type', 'no_such_struct', '--layout', BTF, world, '--quiet'])).toBe(1);
    expect(io.stderr).toBe(`kcarve: --type no_such_struct: not a type of layout ${BTF}\n`);
    io.stderr = '';
    expect(await main(['train', '--type', 'task_struct', '--layout', BTF, world, '--alignment', '48'])).toBe(1);
    expect(io.stderr).toBe('kcarve: --alignment 48: must be a power of two from 1 to 4096\n');
    io.stderr = '';
    const badTruth = tmp('bad-truth');
    mkdirSync(badTruth);
    writeFileSync(`${badTruth}/truth.json`, JSON.stringify({ schema: 'kcarve-truth/1', os: 'linux', image: { raw: 'memory.raw' }, tasks: [{ status: 'zombie' }] }));
    expect(await main(['train', '--type', 'task_struct', '--layout', BTF, badTruth])).toBe(2);
    expect(io.stderr).toBe(`kcarve: ${badTruth}/truth.json at $.tasks[0].status: is "zombie"\n`);
  });
});
