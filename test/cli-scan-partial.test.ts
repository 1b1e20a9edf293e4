// A partial scan through the CLI: the output is still written, io.stderr names every part
// of the image that was not covered and why, and the exit status is 2. The library's
// partial results are tested in scan-engine.test.ts; here runScan returns one.
import { describe, expect, it, vi } from 'vitest';
import { phys } from '../src/addr.js';
import type { ScanResult } from '../src/scan/run-scan.js';
import { captureStdio } from './helpers/capture-stdio.js';

const partial: ScanResult = {
  schema: 'kcarve-scan/1',
  kcarveVersion: '0.1.0',
  image: { path: '/img/memory.elf', format: 'elf-core', detail: 'ELF64 core', fileSize: 0x300000, mappedSize: 0x200000, runs: 1, holes: 0, hash: { mode: 'none' } },
  signature: { name: 'toy-proc', version: '1.0.0', file: '/sig.json', sha256: '00', target: { os: 'linux', type: 'proc' }, layout: '/l.json', baseline: false },
  os: 'fake',
  kernel: { os: 'linux', pointerMode: 'x86-64-4', pagingLevels: 4, pageOffsetBase: '0xffff888000000000', evidence: [] },
  options: { workers: 2, chunkSize: 0x100000, io: 'read' },
  records: [{ pa: phys(0x1040), pid: 7, tgid: 7, comm: 'sshd', edges: [{ name: 'self', outcome: 'held' }], confidence: 1, exitEvidence: [] }],
  stats: {
    chunks: 2,
    candidates: 1,
    accepted: 1,
    rejected: { valueRecheck: 0, locate: 0, targetConstraints: 0, requiredEdge: 0, minScore: 0, duplicate: 0 },
    unverified: [],
  },
  complete: false,
  missed: [
    {
      phase: 'value',
      paddr: phys(0x100000),
      length: 0x100000,
      kind: 'unreadable',
      reason: 'could not read physical [0x100000, 0x200000): /img/memory.elf at offset 0x1ff000: read failed (EIO)',
      error: { name: 'ImageIOError', message: '/img/memory.elf at offset 0x1ff000: read failed (EIO)' },
    },
  ],
  notes: [],
  timings: { setupMs: 1, valuePassMs: 1, discoverMs: 1, graphPassMs: 1, totalMs: 4 },
};

vi.mock('../src/scan/run-scan.js', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../src/scan/run-scan.js')>()),
  runScan: vi.fn(async () => partial),
}));

const { main } = await import('../src/cli/main.js');

const io = captureStdio();

describe('kcarve scan with a partial result', () => {
  it('writes what it found, names what it missed on io.stderr, and exits with 2', async () => {
    expect(await main(['scan', '/img/memory.elf', '--format', 'jsonl'])).toBe(2);
    expect(io.stdout).toBe(
      '{"pa":"0x1040","pid":7,"tgid":7,"comm":"sshd","confidence":1,"edges":{"self":"held"},"exit_evidence":[]}\n',
    );
    expect(io.stderr).toBe(
      'kcarve: partial result: 1 part(s) of the image were not covered; the output above lacks them:\n' +
        '  value pass, unreadable: could not read physical [0x100000, 0x200000): /img/memory.elf at offset 0x1ff000: read failed (EIO)\n',
    );
  });

  it('json output carries the missed ranges too', async () => {
    expect(await main(['scan', '/img/memory.elf', '--format', 'json'])).toBe(2);
    const doc = JSON.parse(io.stdout);
    expect(doc.complete).toBe(false);
    expect(doc.missed).toEqual([
      {
        phase: 'value',
        paddr: '0x100000',
        length: 0x100000,
        kind: 'unreadable',
        reason: 'could not read physical [0x100000, 0x200000): /img/memory.elf at offset 0x1ff000: read failed (EIO)',
        error: { name: 'ImageIOError', message: '/img/memory.elf at offset 0x1ff000: read failed (EIO)' },
      },
    ]);
  });
});
