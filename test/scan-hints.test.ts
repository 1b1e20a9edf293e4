// --truth FILE: discovery hints from a ground-truth file, and only those.
import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { TruthError } from '../src/errors.js';
import { hintsFromTruth } from '../src/scan/hints.js';
import { mergeHints } from '../src/scan/open-scan.js';
import { useTmpDir } from './helpers/images.js';

const tmp = useTmpDir('scan-hints');
function truth(name: string, doc: unknown): string {
  const file = tmp(name);
  writeFileSync(file, JSON.stringify(doc));
  return file;
}

describe('hints from a truth file', () => {
  it('takes the direct-map base, page-table root, paging levels and init_task, and nothing else', () => {
    const file = truth('linux.json', {
      schema: 'kcarve-truth/1',
      os: 'linux',
      kernel: { release: '6.1.0-57-amd64', paging_levels: 5, kaslr: true },
      layout: { page_offset_base: '0xff11000000000000', init_task_va: '0xffffffff82a0c940', init_task_pa: '0x2a0c940', init_top_pgt_pa: '0x2a0a000' },
      tasks: [{ status: 'hidden', pid: 7, pa: '0x1000' }],
    });
    expect(hintsFromTruth(file)).toEqual({
      pageOffsetBase: 0xff11000000000000n,
      dtb: 0x2a0a000,
      symbols: new Map([['init_task', 0xffffffff82a0c940n]]),
      pagingLevels: 5,
    });
  });

  it('reads a Windows kernel DTB from layout.dtb', () => {
    const file = truth('win.json', { schema: 'kcarve-truth/1', os: 'windows', layout: { dtb: '0x1aa000' }, tasks: [] });
    expect(hintsFromTruth(file)).toEqual({ dtb: 0x1aa000 });
  });

  it.each([
    [{ schema: 'kcarve-truth/2' }, '$.schema', 'must be "kcarve-truth/1"'],
    [{ schema: 'kcarve-truth/1', layout: { page_offset_base: 12 } }, '$.layout.page_offset_base', 'must be a hex string ("0x…")'],
    [{ schema: 'kcarve-truth/1', kernel: { paging_levels: 6 } }, '$.kernel.paging_levels', 'must be 3, 4 or 5'],
  ])('rejects %j naming the field', (doc, field, reason) => {
    const file = truth(`bad-${field}.json`, doc);
    expect(() => hintsFromTruth(file)).toThrow(new TruthError(file, field, reason));
  });

  it('explicit hints win over the truth file, key by key', () => {
    const file = truth('merge.json', { schema: 'kcarve-truth/1', layout: { page_offset_base: '0xffff888000000000' }, kernel: { paging_levels: 4 } });
    expect(mergeHints({ truth: file, hints: { pagingLevels: 5 } })).toEqual({ pageOffsetBase: 0xffff888000000000n, pagingLevels: 5 });
  });
});
