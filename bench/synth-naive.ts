// How naive task_struct scans score on a world (or a real image): the "must not be perfect"
// check of issue 4. Three scanners, each reporting candidate physical addresses X:
//   comm      at every 8-aligned X, task_struct.comm (X + offset) is a printable name:
//             1..15 printable ASCII bytes then a NUL
//   pid+comm  the above and 0 < pid < 65535 at X + offset(pid) (the folklore bound)
//   names     every occurrence of a known process name (the truth's comms, NUL-terminated)
//             anywhere in memory, taken as comm: X = hit - offset(comm)
// A candidate is a true positive when X is the pa of a truth task (live, hidden or
// exited). Recall counts live and hidden tasks, and exited ones whose residue is intact
// (TRUTH.md). Offsets come from truth.json.
//
// Run: node --import tsx bench/synth-naive.ts [DIR...]
//   no DIR: builds the default world (kcarve synth defaults, seed 1) in a temp directory
//   DIR:    a directory with truth.json and memory.raw (synthetic or real)
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { synthesize } from '../src/synth/synthesize.js';

interface Truth {
  tasks: { status: string; pa: string; comm: string; residue?: { pid: boolean; tgid: boolean; comm: boolean } }[];
  offsets: { task_struct: { fields: Record<string, number> } };
}

const CHUNK = 8 << 20;

function isPrintableName(b: Buffer, at: number): boolean {
  for (let i = 0; i < 16; i += 1) {
    const c = b[at + i]!;
    if (c === 0) return i > 0;
    if (c < 0x20 || c > 0x7e) return false;
  }
  return false;
}

/** Stream the image, calling visit(chunk, base) with an overlap of `overlap` bytes. */
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

function score(name: string, candidates: Set<number>, truth: Truth): string {
  const all = new Set(truth.tasks.map((t) => Number(BigInt(t.pa))));
  const wanted = truth.tasks.filter((t) => t.status !== 'exited' || (t.residue?.pid && t.residue.tgid && t.residue.comm)).map((t) => Number(BigInt(t.pa)));
  const tp = [...candidates].filter((c) => all.has(c)).length;
  const found = wanted.filter((pa) => candidates.has(pa)).length;
  const precision = candidates.size === 0 ? 0 : tp / candidates.size;
  const recall = wanted.length === 0 ? 0 : found / wanted.length;
  return `${name.padEnd(9)} candidates ${String(candidates.size).padStart(8)}  true ${String(tp).padStart(4)}  precision ${(precision * 100).toFixed(2).padStart(6)} %  recall ${(recall * 100).toFixed(1).padStart(5)} % (${found}/${wanted.length})`;
}

function run(dir: string): void {
  const truth = JSON.parse(readFileSync(join(dir, 'truth.json'), 'utf8')) as Truth;
  const raw = join(dir, 'memory.raw');
  const F = truth.offsets.task_struct.fields;
  const commOff = F['comm']!;
  const pidOff = F['pid']!;
  const comm = new Set<number>();
  const pidComm = new Set<number>();
  scanImage(raw, commOff + 16, (b, base, end) => {
    for (let x = 0; x < end && x + commOff + 16 <= b.length; x += 8) {
      const c = b[x + commOff]!;
      if (c < 0x20 || c > 0x7e || !isPrintableName(b, x + commOff)) continue;
      comm.add(base + x);
      const pid = b.readInt32LE(x + pidOff);
      if (pid > 0 && pid < 65535) pidComm.add(base + x);
    }
  });
  const names = [...new Set(truth.tasks.map((t) => t.comm))].map((n) => Buffer.from(`${n}\0`, 'latin1'));
  const byName = new Set<number>();
  scanImage(raw, 64, (b, base, end) => {
    for (const n of names) {
      for (let i = b.indexOf(n); i >= 0 && i < end; i = b.indexOf(n, i + 1)) {
        // A name preceded by another printable byte is a suffix of a longer string, not a comm.
        if (i > 0 && b[i - 1]! >= 0x20 && b[i - 1]! <= 0x7e) continue;
        if (base + i >= commOff) byName.add(base + i - commOff);
      }
    }
  });
  process.stdout.write(`${dir}\n  ${score('comm', comm, truth)}\n  ${score('pid+comm', pidComm, truth)}\n  ${score('names', byName, truth)}\n`);
}

const dirs = process.argv.slice(2);
if (dirs.length === 0) {
  const dir = mkdtempSync(join(tmpdir(), 'kcarve-naive-'));
  try {
    synthesize({ out: dir });
    process.stdout.write('default world: kcarve synth --out DIR (os linux, seed 1, 256M, procs 40, threads 12, hidden 3, exited 6, decoys 12)\n');
    run(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
} else {
  for (const d of dirs) run(d.replace(/\/$/, ''));
}
