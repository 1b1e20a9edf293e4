// `kcarve eval` through the CLI: the errors a user can cause, each naming what is wrong
// (the directory without truth.json, the unknown attack with the valid ones, the
// format, the signature), and one small run's table.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.js';
import { useTmpDir } from './helpers/images.js';
import { captureStdio } from './helpers/capture-stdio.js';

const tmp = useTmpDir('eval-cli');
const SIG = 'signatures/linux/baseline-volatility-psscan.sig.json';

const io = captureStdio();

/** A directory with a minimal Linux truth.json and a one-page image (enough to reach the checks). */
function minimalDir(name: string): string {
  const dir = tmp(name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'memory.raw'), new Uint8Array(4096));
  writeFileSync(join(dir, 'truth.json'), JSON.stringify({ schema: 'kcarve-truth/1', os: 'linux', image: { raw: 'memory.raw' }, tasks: [] }));
  return dir;
}
describe('kcarve eval errors', () => {
  it('names the directory that has no truth.json', async () => {
    const dir = tmp('no-truth');
    mkdirSync(dir);
    expect(await main(['eval', '--signature', SIG, dir])).toBe(1);
    expect(io.stderr).toBe(`kcarve: ${dir}: no truth.json in this directory (kcarve eval needs the image's ground truth, schema kcarve-truth/1)\n`);
  });
  it('names a directory that does not exist', async () => {
    const dir = tmp('absent');
    expect(await main(['eval', '--signature', SIG, dir])).toBe(1);
    expect(io.stderr).toContain(`${dir}: not a directory`);
  });
  it('names the valid attacks for an unknown one', async () => {
    const dir = minimalDir('bad-attack');
    expect(await main(['eval', '--signature', SIG, dir, '--attack', 'pid,bogus'])).toBe(1);
    expect(io.stderr).toBe(
      'kcarve: --attack "pid,bogus": "bogus" is not an attack on linux images (valid: comm, pid, tasks, start_time, flags, NAME+NAME, random:N, all)\n',
    );
  });
  it('rejects a bad format, a missing signature and a signature for another OS', async () => {
    const dir = minimalDir('misc');
    expect(await main(['eval', '--signature', SIG, dir, '--format', 'csv'])).toBe(1);
    expect(io.stderr).toContain('--format "csv": expected one of table, json, md');
    io.stderr = '';
    expect(await main(['eval', dir])).toBe(1);
    expect(io.stderr).toContain('needs at least one --signature FILE');
    io.stderr = '';
    expect(await main(['eval', '--signature', 'signatures/windows/eprocess-win7sp1x64.sig.json', dir])).toBe(1);
    expect(io.stderr).toMatch(/eprocess-win7sp1x64\.sig\.json: targets windows \S+, which none of the images is/);
    io.stderr = '';
    expect(await main(['eval', '--signature', tmp('nope.sig.json'), dir])).toBe(1);
    expect(io.stderr).toContain('nope.sig.json: no such file');
  });
  it('refuses attacks on a real (not synthetic) Windows image before scanning anything', async () => {
    const dir = tmp('real-windows');
    mkdirSync(dir);
    writeFileSync(join(dir, 'memory.raw'), new Uint8Array(4096));
    writeFileSync(join(dir, 'truth.json'), JSON.stringify({ schema: 'kcarve-truth/1', os: 'windows', image: { raw: 'memory.raw' }, kernel: { build: 'win7sp1x64', release: '6.1.7601.17514' }, tasks: [] }));
    expect(await main(['eval', '--signature', 'signatures/windows/eprocess-win7sp1x64.sig.json', dir, '--attack', 'pool-tag'])).toBe(1);
    expect(io.stderr).toBe(`kcarve: --attack: ${dir} is a real windows image; attacks are implemented for synthetic worlds and real Linux images only\n`);
  });
  it('names the truth file and field of a broken truth.json', async () => {
    const dir = tmp('broken');
    mkdirSync(dir);
    writeFileSync(join(dir, 'truth.json'), JSON.stringify({ schema: 'kcarve-truth/1', os: 'linux', image: {}, tasks: [{ status: 'gone' }] }));
    expect(await main(['eval', '--signature', SIG, dir])).toBe(2);
    expect(io.stderr).toContain(`${join(dir, 'truth.json')} at $.tasks[0].status`);
  });
});
