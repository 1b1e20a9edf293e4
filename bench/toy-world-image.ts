// A large raw image for bench/scan.ts with the toy `proc` objects of
// test/fixtures/scan/toy-layout.json over kernel-like noise (./kernel-like-image.ts), so
// the fake OS (test/fixtures/scan/fake-os.mjs) finds, verifies and carves every one of
// them. Streamed in 16 MiB blocks; generated once and kept beside a .json describing it.
import { closeSync, existsSync, openSync, readFileSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { fillBlock, xorshift } from './kernel-like-image.js';

const GENERATOR = 'toy-world/1';
/** "kcrvproc" little-endian (test/helpers/scan-world.ts). */
const MAGIC = 0x636f_7270_7672_636bn;
const BASE = 0xffff_8880_0000_0000n;
const SIZE = 128;
// Offsets of toy-layout.json (the fixture is the source of truth).
const F = { magic: 0, pid: 8, tgid: 12, self: 16, parent: 24, tasks: 32, comm: 48, start: 72, tg: 80 };

export interface ToyImageSpec {
  size: number;
  seed: number;
  /** One object per this many bytes. */
  every: number;
}

/** Objects planted: one per `every` bytes, the first (pid 0) at the start of the first slot. */
export function plantedCount(spec: ToyImageSpec): number {
  return Math.floor(spec.size / spec.every);
}

function plant(v: DataView, at: number, pa: number, pid: number, initPa: number): void {
  const va = BASE + BigInt(pa);
  v.setBigUint64(at + F.magic, MAGIC, true);
  v.setInt32(at + F.pid, pid, true);
  v.setInt32(at + F.tgid, pid, true);
  v.setBigUint64(at + F.self, va, true);
  v.setBigUint64(at + F.parent, BASE + BigInt(initPa), true);
  for (const f of [F.tasks, F.tg]) {
    v.setBigUint64(at + f, va + BigInt(f), true);
    v.setBigUint64(at + f + 8, va + BigInt(f), true);
  }
  const comm = `bench-${pid}`.slice(0, 15);
  for (let i = 0; i < 16; i++) v.setUint8(at + F.comm + i, i < comm.length ? comm.charCodeAt(i) : 0);
  v.setBigUint64(at + F.start, BigInt(pid) * 1000n, true);
}

export function ensureToyImage(file: string, spec: ToyImageSpec, log: (s: string) => void): void {
  const metaFile = `${file}.json`;
  const meta = JSON.stringify({ generator: GENERATOR, ...spec });
  if (existsSync(file) && existsSync(metaFile) && statSync(file).size === spec.size && readFileSync(metaFile, 'utf8') === meta) return;
  if (spec.every % 16 !== 0 || spec.every < 4 * SIZE || (16 << 20) % spec.every !== 0) {
    throw new Error('every must be a multiple of 16, at least 512, and divide 16 MiB');
  }
  log(`generating ${file} (${(spec.size / 2 ** 30).toFixed(2)} GiB, one toy proc per ${spec.every} bytes) ...`);
  const rand = xorshift(spec.seed);
  const blockSize = 16 << 20;
  const block = new Uint32Array(blockSize / 4);
  const view = new DataView(block.buffer);
  const fd = openSync(file, 'w');
  let pid = 0;
  const initPa = 0;
  try {
    for (let done = 0; done < spec.size; done += blockSize) {
      const len = Math.min(blockSize, spec.size - done);
      fillBlock(block, rand);
      for (let slot = 0; slot + spec.every <= len; slot += spec.every) {
        // 16-aligned jitter inside the slot, the object wholly inside it.
        const jitter = pid === 0 ? 0 : 16 * (rand() % ((spec.every - SIZE) / 16));
        plant(view, slot + jitter, done + slot + jitter, pid++, initPa);
      }
      writeSync(fd, new Uint8Array(block.buffer, 0, len));
    }
  } finally {
    closeSync(fd);
  }
  writeFileSync(metaFile, meta);
}
