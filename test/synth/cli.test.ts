// `kcarve synth` on the command line: exit codes and messages for bad arguments.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { useTmpDir } from '../helpers/images.js';

const tmp = useTmpDir('synth-cli');
let stdout = '';
let stderr = '';
beforeEach(() => {
  stdout = '';
  stderr = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  });
});
afterEach(() => vi.restoreAllMocks());

describe('kcarve synth', () => {
  it('requires --out', async () => {
    expect(await main(['synth'])).toBe(1);
    expect(stderr).toBe('kcarve: --out <dir> is required\n');
  });

  it('rejects an unknown format and an unknown OS with exit code 1', async () => {
    expect(await main(['synth', '--format', 'vmem', '--out', tmp('a')])).toBe(1);
    expect(stderr).toContain("argument 'vmem' is invalid");
    stderr = '';
    expect(await main(['synth', '--os', 'plan9', '--out', tmp('b')])).toBe(1);
    expect(stderr).toMatch(/^kcarve: --os "plan9": no synthetic world for this OS \(known: .*\)\n$/);
    expect(stdout).toBe('');
  });
});
