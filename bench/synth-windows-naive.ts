// How naive EPROCESS scans score on a Windows world (the "must not be perfect" check of
// issue 4). Two scanners, each reporting candidate physical addresses X of an _EPROCESS:
//   pool-tag  at every granularity-aligned offset (8 on x86, 16 on x64) whose 4 tag bytes
//             are the process tag ('Pro\xe3' before Windows 8, 'Proc' after) and whose
//             BlockSize can hold an EPROCESS: X = header + BlockSize·gran -
//             round_up(sizeof(_EPROCESS), gran) (Volatility 3's bottom-up rule; on 19041
//             the headers sit right after the pool header, so it finds the same body)
//   name      every occurrence of a known process name (the truth's comms) as the bytes of
//             ImageFileName (NUL after it unless it fills the member), anywhere in memory,
//             taken as ImageFileName: X = hit - offset(ImageFileName)
// A candidate is a true positive when X is the pa of a truth process (live, hidden or
// exited). Recall counts live and hidden processes, and exited ones whose residue
// (pid and name) is intact (TRUTH.md). Layout facts come from truth.json (offsets).
//
// Run: node --import tsx bench/synth-windows-naive.ts [DIR...]
//   no DIR: builds the default world of each build (kcarve synth defaults, seed 1) in a
//           temp directory; DIR: a directory with truth.json and memory.raw of a Windows world
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { synthesize } from '../src/synth/synthesize.js';
import { windowsBuild } from '../src/synth/windows/builds.js';

interface Truth {
  kernel: { build: string };
  tasks: { status: string; pa: string; comm: string; residue?: { pid: boolean; tgid: boolean; comm: boolean } }[];
  offsets: { _EPROCESS: { size: number; fields: Record<string, number> }; _POOL_HEADER: { size: number; fields: Record<string, number> } };
  decoys: { kind: string; pa: string }[];
}

const CHUNK = 8 << 20;

function scanImage(path: string, overlap: number, visit: (b: Buffer, base: number, end: number) => void): void {
  const size = statSync(path).size;
  const fd = openSync(path, 'r');
  const buf = Buffer.alloc(CHUNK + overlap);
  try {
    for (let base = 0; base < size; base += CHUNK) {
      const n = readSync(fd, buf, 0, Math.min(CHUNK + overlap, size - base), base);
      visit(buf.subarray(0, n), base, Math.min(CHUNK, n));
    }
  } finally {
    closeSync(fd);
  }
}

function score(name: string, candidates: Set<number>, truth: Truth): { line: string; precision: number; recall: number } {
  const all = new Set(truth.tasks.map((t) => Number(BigInt(t.pa))));
  const wanted = truth.tasks.filter((t) => t.status !== 'exited' || (t.residue?.pid && t.residue.comm)).map((t) => Number(BigInt(t.pa)));
  const tp = [...candidates].filter((c) => all.has(c)).length;
  const found = wanted.filter((pa) => candidates.has(pa)).length;
  const precision = candidates.size === 0 ? 0 : tp / candidates.size;
  const recall = wanted.length === 0 ? 0 : found / wanted.length;
  const decoys = new Set(truth.decoys.map((d) => Number(BigInt(d.pa))));
  const onDecoys = [...candidates].filter((c) => decoys.has(c)).length;
  return {
    line: `${name.padEnd(9)} candidates ${String(candidates.size).padStart(7)}  true ${String(tp).padStart(4)}  on decoys ${String(onDecoys).padStart(3)}  precision ${(precision * 100).toFixed(1).padStart(5)} %  recall ${(recall * 100).toFixed(1).padStart(5)} % (${found}/${wanted.length})`,
    precision,
    recall,
  };
}

function poolTagScan(image: string, truth: Truth): Set<number> {
  const b = windowsBuild(truth.kernel.build);
  const gran = b.facts.pool.granularity;
  const tag = Buffer.from(BigInt(b.facts.pool.process_tag.u32).toString(16).padStart(8, '0').match(/../g)!.reverse().join(''), 'hex');
  const tagOff = truth.offsets._POOL_HEADER.fields['PoolTag']!;
  const size = Math.ceil(truth.offsets._EPROCESS.size / gran) * gran;
  const hs = truth.offsets._POOL_HEADER.size;
  // BlockSize: XP bits 16..24 of Ulong1, x64 byte 2 (the packs' bitfields).
  const blockSize = (buf: Buffer, at: number) => (gran === 8 ? buf.readUInt16LE(at + 2) & 0x1ff : buf[at + 2]!);
  const out = new Set<number>();
  scanImage(image, 16, (buf, base, end) => {
    for (let i = buf.indexOf(tag, 0); i !== -1 && i < end; i = buf.indexOf(tag, i + 1)) {
      const header = i - tagOff;
      if ((base + header) % gran !== 0 || header < 0) continue;
      const bytes = blockSize(buf, header) * gran;
      if (bytes < hs + size) continue;
      out.add(base + header + bytes - size);
    }
  });
  return out;
}

function nameScan(image: string, truth: Truth): Set<number> {
  const off = truth.offsets._EPROCESS.fields['ImageFileName']!;
  const length = windowsBuild(truth.kernel.build).name === 'winxpsp2x86' ? 16 : 15;
  const names = [...new Set(truth.tasks.map((t) => t.comm))].filter((n) => n.length > 0).map((n) => Buffer.from(n, 'latin1'));
  const out = new Set<number>();
  scanImage(image, 16, (buf, base, end) => {
    for (const n of names) {
      for (let i = buf.indexOf(n); i !== -1 && i < end; i = buf.indexOf(n, i + 1)) {
        if (n.length < length && buf[i + n.length] !== 0) continue;
        if (base + i - off >= 0) out.add(base + i - off);
      }
    }
  });
  return out;
}

function run(dir: string): { build: string; results: ReturnType<typeof score>[] } {
  const truth = JSON.parse(readFileSync(join(dir, 'truth.json'), 'utf8')) as Truth;
  const image = join(dir, 'memory.raw');
  const results = [score('pool-tag', poolTagScan(image, truth), truth), score('name', nameScan(image, truth), truth)];
  process.stdout.write(`${dir} (${truth.kernel.build}: ${truth.tasks.length} processes, ${truth.decoys.length} decoys)\n${results.map((r) => `  ${r.line}`).join('\n')}\n`);
  return { build: truth.kernel.build, results };
}

const dirs = process.argv.slice(2);
if (dirs.length > 0) {
  for (const d of dirs) run(d);
} else {
  for (const build of ['winxpsp2x86', 'win7sp1x64', 'win10x64_19041']) {
    const dir = mkdtempSync(join(tmpdir(), 'kcarve-naive-win-'));
    try {
      synthesize({ os: 'windows', build, seed: 1, out: dir });
      run(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}
