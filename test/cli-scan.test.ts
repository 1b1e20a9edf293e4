// `kcarve scan`, `pslist` and `xview` through the CLI: the exact output of each format
// on a small fixture world, usage errors, help, the progress line, and a reader that
// goes away (`| head`).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { phys } from '../src/addr.js';
import { progressLine } from '../src/cli/progress-bar.js';
import { main } from '../src/cli/main.js';
import { useTmpDir } from './helpers/images.js';
import { FAKE_OS_MODULE, TOY_LAYOUT, TOY_SIGNATURE, buildWorld } from './helpers/scan-world.js';
import { captureStdio } from './helpers/capture-stdio.js';

const tmp = useTmpDir('cli-scan');
const FAKE_OS = fileURLToPath(FAKE_OS_MODULE);

const io = captureStdio();

/** Five objects: init, a live leader and its thread, a hidden and an exited process; one decoy. */
function tiny(name: string) {
  return buildWorld(tmp(name), {
    seed: 3,
    format: 'elf-core',
    runs: [
      { paddr: phys(0x1000), length: 0x2000 },
      { paddr: phys(0x8000), length: 0x1000 },
    ],
    live: 1,
    hidden: 1,
    exited: 1,
    threads: 1,
    decoys: 1,
    orphans: 0,
    straddler: false,
  });
}

const common = ['--os-module', FAKE_OS, '--workers', '0'];

describe('kcarve xview / scan / pslist output', () => {
  it('xview --format csv', async () => {
    const w = tiny('csv.elf');
    expect(await main(['xview', w.path, ...common, '--format', 'csv'])).toBe(0);
    expect(io.stderr).toBe('');
    expect(io.stdout).toBe(
      [
        'pa,va,pid,tgid,ppid,comm,status,leader,state,start_time,exit_time,dtb,confidence,constraints_held,edges_held,edges_failed,edges_unreadable,exit_evidence,tampered,seen_by,why,warnings',
        "0x2e90,0xffff888000002e90,2,2,0,hidden-2,hidden,true,R,0x1e8480,,,0.6666666666666666,5,self;parent,tasks.next.prev,,,,scan,alive (no exit evidence) and not reached by the kernel's process list,",
        "0x80b0,0xffff8880000080b0,1,1,0,live-1,live,true,R,0xf4240,,,1,5,self;tasks.next.prev;parent,,,,,scan;list,on the kernel's process list,",
        "0x8c90,0xffff888000008c90,0,0,0,init-0,live,true,R,0x0,,,1,5,self;tasks.next.prev;parent,,,,,scan;list,on the kernel's process list,",
        "0x8ee0,0xffff888000008ee0,3,3,1,exited-3,exited,true,X (dead),0x2dc6c0,,,0.6666666666666666,5,self;parent,tasks.next.prev,,state 0x10 has the dead bit 0x10,,scan,not on the kernel's process list; exit evidence: state 0x10 has the dead bit 0x10,",
        '0x8f70,0xffff888000008f70,4,1,0,thread-4,live,false,R,0x3d0900,,,1,5,self;tasks.next.prev;parent,,,,,scan;thread-lists,"a thread of pid 1 (at 0x80b0, on the process list), reached by thread-lists",',
        '',
      ].join('\r\n'),
    );
  });

  it('xview --format jsonl: one task per line', async () => {
    const w = tiny('jsonl.elf');
    expect(await main(['xview', w.path, ...common, '--format', 'jsonl'])).toBe(0);
    const lines = io.stdout.trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.pa, l.status])).toEqual([
      ['0x2e90', 'hidden'],
      ['0x80b0', 'live'],
      ['0x8c90', 'live'],
      ['0x8ee0', 'exited'],
      ['0x8f70', 'live'],
    ]);
    expect(io.stdout.split('\n')[3]).toBe(
      '{"pa":"0x8ee0","va":"0xffff888000008ee0","pid":3,"tgid":3,"ppid":1,"comm":"exited-3","status":"exited","leader":true,' +
        '"state":"X (dead)","start_time":"0x2dc6c0","constraints_held":5,"confidence":0.6666666666666666,' +
        '"edges":{"self":"held","tasks.next.prev":"failed","parent":"held"},"exit_evidence":["state 0x10 has the dead bit 0x10"],' +
        '"seen_by":["scan"],"why":"not on the kernel\'s process list; exit evidence: state 0x10 has the dead bit 0x10","warnings":[]}',
    );
  });

  it('scan --format json: the run and its tasks, in the truth schema\'s vocabulary', async () => {
    const w = tiny('json.elf');
    expect(await main(['scan', w.path, ...common, '--format', 'json', '--chunk-size', '4K'])).toBe(0);
    const bytes = readFileSync(w.path);
    const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
    const time = expect.any(Number);
    const task = (pa: string, pid: number, tgid: number, ppid: number, comm: string, start: string, extra: object = {}) => ({
      pa,
      va: `0xffff88800000${pa.slice(2).padStart(4, '0')}`,
      pid,
      tgid,
      ppid,
      comm,
      ...('status' in extra ? { status: 'exited' } : {}),
      leader: pid === tgid,
      state: 'status' in extra ? 'X (dead)' : 'R',
      start_time: start,
      constraints_held: 5,
      confidence: 'status' in extra || comm.startsWith('hidden') ? 2 / 3 : 1,
      edges: { self: 'held', 'tasks.next.prev': 'status' in extra || comm.startsWith('hidden') ? 'failed' : 'held', parent: 'held' },
      exit_evidence: 'status' in extra ? ['state 0x10 has the dead bit 0x10'] : [],
    });
    expect(JSON.parse(io.stdout)).toEqual({
      schema: 'kcarve-scan/1',
      kcarve_version: '0.1.0',
      image: {
        path: w.path,
        format: 'elf-core',
        detail: 'ELF64 core, e_machine 62 (x86-64), 2 PT_LOAD',
        file_size: bytes.length,
        mapped_size: 0x3000,
        runs: 2,
        holes: 2,
        hash: { mode: 'edges', first_mib: sha(bytes), last_mib: sha(bytes) },
      },
      signature: {
        name: 'toy-proc',
        version: '1.0.0',
        file: TOY_SIGNATURE,
        sha256: sha(readFileSync(TOY_SIGNATURE)),
        target: { os: 'fake', type: 'proc', build: 'toy' },
        layout: TOY_LAYOUT,
        baseline: false,
      },
      os: 'fake',
      options: { workers: 0, chunk_size: 4096, io: 'read' },
      kernel: {
        os: 'linux',
        pointer_mode: 'x86-64-4',
        paging_levels: 4,
        page_offset_base: '0xffff888000000000',
        evidence: ['direct-map base 0xffff888000000000: self pointer minus address of 5 of 6 candidates'],
        fake_list_head: '0x8c90',
      },
      stats: {
        chunks: 3,
        candidates: 6,
        accepted: 5,
        rejected: { value_recheck: 0, locate: 0, target_constraints: 0, required_edge: 1, min_score: 0, duplicate: 0 },
        unverified: [],
      },
      complete: true,
      missed: [],
      notes: [],
      timings: { setup_ms: time, value_pass_ms: time, discover_ms: time, graph_pass_ms: time, total_ms: time },
      // No --os and no --signature: every OS support with a default signature was tried
      // (the built-in ones too, which find nothing here).
      detection: { chosen: 'fake', signature: TOY_SIGNATURE, tried: expect.arrayContaining([{ os: 'fake', signature: TOY_SIGNATURE, records: 5 }]) },
      tasks: [
        task('0x2e90', 2, 2, 0, 'hidden-2', '0x1e8480'),
        task('0x80b0', 1, 1, 0, 'live-1', '0xf4240'),
        task('0x8c90', 0, 0, 0, 'init-0', '0x0'),
        task('0x8ee0', 3, 3, 1, 'exited-3', '0x2dc6c0', { status: 'exited' }),
        task('0x8f70', 4, 1, 0, 'thread-4', '0x3d0900'),
      ],
    });
  });

  it('pslist --format table', async () => {
    const w = tiny('table.elf');
    expect(await main(['pslist', w.path, ...common])).toBe(0);
    expect(io.stdout).toBe(
      [
        `image      ${w.path} (elf-core, 12.0 KiB in 2 run(s))`,
        'signature  toy-proc 1.0.0 (fake proc), OS support fake',
        'kernel     x86-64-4, direct map at 0xffff888000000000',
        'list       2 object(s)',
        '',
        '  PA      VA                  PID  TGID  PPID  COMM    STATE  CONF  EDGES',
        '  0x8c90  0xffff888000008c90  0    0     0     init-0  R      1.00  3/3',
        '  0x80b0  0xffff8880000080b0  1    1     0     live-1  R      1.00  3/3',
        '',
      ].join('\n'),
    );
  });

  it('--out writes the output to a file', async () => {
    const w = tiny('out.elf');
    const out = tmp('out.csv');
    expect(await main(['scan', w.path, ...common, '--format', 'csv', '--out', out])).toBe(0);
    expect(io.stdout).toBe('');
    expect(readFileSync(out, 'utf8').split('\r\n')[4]).toBe(
      '0x8ee0,0xffff888000008ee0,3,3,1,exited-3,exited,true,X (dead),0x2dc6c0,,,0.6666666666666666,5,self;parent,tasks.next.prev,,state 0x10 has the dead bit 0x10,,,,',
    );
  });
});

describe('kcarve scan: usage and help', () => {
  it.each([
    [['--workers', 'many'], 'kcarve: --workers must be an integer from 0 to 256 (got "many")\n'],
    [['--chunk-size', '0'], 'kcarve: --chunk-size must be a positive size such as 65536, 64K, 64M or 1G (got "0")\n'],
    [['--chunk-size', '12Q'], 'kcarve: --chunk-size must be a positive size such as 65536, 64K, 64M or 1G (got "12Q")\n'],
    // Built-in OS supports are registered before the plugin.
    [['--os', 'plan9'], /^kcarve: no OS support called "plan9" \(registered: ([a-z-]+, )*fake\)\n$/],
  ])('%j is a usage error (exit 1)', async (args, message) => {
    const w = tiny(`usage-${args[1]}.elf`);
    expect(await main(['scan', w.path, '--os-module', FAKE_OS, ...args])).toBe(1);
    if (typeof message === 'string') expect(io.stderr).toBe(message);
    else expect(io.stderr).toMatch(message);
    expect(io.stdout).toBe('');
  });

  it('an unknown --format is refused by the parser (exit 1)', async () => {
    expect(await main(['scan', 'x.elf', '--format', 'xml'])).toBe(1);
    expect(io.stderr).toContain(`argument 'xml' is invalid. Allowed choices are table, json, jsonl, csv.`);
  });

  it('a missing image is bad input (exit 2), named in the message', async () => {
    expect(await main(['scan', tmp('absent.elf'), ...common, '--signature', TOY_SIGNATURE])).toBe(2);
    expect(io.stderr).toMatch(/^kcarve: .*absent\.elf: /);
  });

  it('--help teaches: what it does, and examples', async () => {
    for (const cmd of ['scan', 'pslist', 'xview']) {
      io.stdout = '';
      expect(await main([cmd, '--help'])).toBe(0);
      expect(io.stdout).toContain('Examples:\n');
      expect(io.stdout).toContain(`  kcarve ${cmd} memory.elf\n`);
      expect(io.stdout).toContain('Exit status: 0 ok; 1 bad command line; 2 unreadable or malformed input, or a partial');
    }
  });
});

describe('progress line', () => {
  it('shows the value pass by bytes and the graph pass by candidates', () => {
    const base = { bytesTotal: 1024 * 2 ** 20, candidates: 312, checked: 0, accepted: 0, failedTasks: 0 };
    expect(progressLine({ ...base, phase: 'value', bytesDone: 420 * 2 ** 20 })).toBe(
      'scanning     [##########..............]  41%  420/1024 MiB  candidates 312  objects 0',
    );
    expect(progressLine({ ...base, phase: 'graph', bytesDone: base.bytesTotal, checked: 156, accepted: 57, failedTasks: 1 })).toBe(
      'verifying    [############............]  50%  1024/1024 MiB  candidates 312  objects 57  FAILED 1',
    );
  });
});

describe('a reader that goes away', () => {
  it('`kcarve scan ... | head -n 1` ends quietly, with exit status 0', () => {
    const w = buildWorld(tmp('big.raw'), {
      seed: 5,
      format: 'raw',
      runs: [{ paddr: phys(0), length: 0x200000 }],
      live: 1500,
      hidden: 0,
      exited: 0,
      threads: 0,
      decoys: 0,
      orphans: 0,
      straddler: false,
    });
    const cli = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
    const r = spawnSync(
      'bash',
      ['-o', 'pipefail', '-c', `"${process.execPath}" --import tsx "${cli}" scan "${w.path}" --os-module "${FAKE_OS}" --workers 0 --format jsonl | head -n 1`],
      { encoding: 'utf8' },
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ pa: expect.stringMatching(/^0x/), comm: expect.any(String) });
    // The output is far bigger than a pipe holds, so the writer did meet a closed pipe.
    expect(w.objects.length * 250).toBeGreaterThan(2 ** 16 * 4);
  });
});
