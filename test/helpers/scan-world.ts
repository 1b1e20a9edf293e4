// A tiny fake kernel world for the scan-engine tests: toy `proc` objects
// (test/fixtures/scan/toy-layout.json) planted at random 16-byte aligned places in an
// image with runs and holes, over random noise. It has linked, hidden (unlinked) and
// exited processes, threads on their leader's ring, decoys the graph pass must reject,
// "orphans" it accepts with a failed edge, and optionally one object cut by the end of
// a run. test/fixtures/scan/fake-os.mjs is the OS support that reads it. No vitest
// import here: bench/scan.ts builds its worlds with this too.
import { fileURLToPath } from 'node:url';
import { type PhysAddr, phys } from '../../src/addr.js';
import { writeElfCoreImage } from '../../src/layers/elf-core.js';
import type { RunSpec } from '../../src/layers/image-writer.js';
import { writeLimeImage } from '../../src/layers/lime.js';
import { writeRawImage } from '../../src/layers/raw.js';

export const TOY_SIGNATURE = fileURLToPath(new URL('../fixtures/scan/toy.sig.json', import.meta.url));
export const TOY_LAYOUT = fileURLToPath(new URL('../fixtures/scan/toy-layout.json', import.meta.url));
export const FAKE_OS_MODULE = new URL('../fixtures/scan/fake-os.mjs', import.meta.url).href;

/** "kcrvproc" little-endian: the toy signature's prefilter. */
export const MAGIC = 0x636f_7270_7672_636bn;
const SIZE = 128;
const DEAD = 0x10;
// Field offsets of toy-layout.json (the fixture is the source; the fake OS reads them by name).
const F = { magic: 0, pid: 8, tgid: 12, self: 16, parent: 24, tasks: 32, comm: 48, state: 64, ppid: 68, start: 72, tg: 80 };

export type Kind = 'init' | 'live' | 'hidden' | 'exited' | 'thread' | 'orphan';

export interface Planted {
  pa: PhysAddr;
  va: bigint;
  kind: Kind;
  pid: number;
  tgid: number;
  ppid: number;
  comm: string;
  /** The truth status: live, hidden (DKOM; its threads too; orphans) or exited. */
  status: 'live' | 'hidden' | 'exited';
  onList: boolean;
}

export interface WorldSpec {
  seed: number;
  format: 'raw' | 'lime' | 'elf-core';
  /** Runs to write (raw: must be one run at 0). */
  runs: RunSpec[];
  live: number;
  hidden: number;
  exited: number;
  threads: number;
  /** Value hits whose self pointer is wrong: rejected by the required edge. */
  decoys: number;
  /** Accepted objects whose parent pointer leads nowhere. */
  orphans: number;
  /** Plant one object cut by the end of the last run (a value hit that cannot be verified). */
  straddler: boolean;
  /** Direct-map base (va = base + pa). */
  base?: bigint;
}

export interface World {
  path: string;
  spec: WorldSpec;
  base: bigint;
  /** Objects the scan must report (everything accepted), ascending by pa. */
  objects: Planted[];
  /** Value hits rejected by the required `self` edge. */
  decoys: PhysAddr[];
  straddler?: PhysAddr;
}

class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = (seed * 2654435761) >>> 0 || 1;
  }
  next(): number {
    this.s ^= this.s << 13;
    this.s >>>= 0;
    this.s ^= this.s >>> 17;
    this.s ^= this.s << 5;
    this.s >>>= 0;
    return this.s;
  }
  below(n: number): number {
    return Math.floor((this.next() / 2 ** 32) * n);
  }
}

/** Deterministic random bytes (xorshift32, a word at a time). */
function noise(seed: number, length: number): Uint8Array {
  const words = new Uint32Array(Math.ceil(length / 4));
  const rng = new Rng(seed);
  for (let i = 0; i < words.length; i++) words[i] = rng.next();
  return new Uint8Array(words.buffer, 0, length);
}

export function buildWorld(path: string, spec: WorldSpec): World {
  const rng = new Rng(spec.seed);
  const base = spec.base ?? 0xffff_8880_0000_0000n;
  const contents = spec.runs.map((r, i) => noise(spec.seed * 31 + i + 1, r.length));
  const taken: [number, number][] = [];
  const free = (pa: number, len: number) => taken.every(([a, b]) => pa + len <= a || pa >= b);

  /** A random 16-aligned place for a whole object inside a run. */
  const place = (): PhysAddr => {
    for (let tries = 0; tries < 10_000; tries++) {
      const r = spec.runs[rng.below(spec.runs.length)]!;
      if (r.length < SIZE + 16) continue;
      const start = Math.ceil(r.paddr / 16) * 16;
      const slots = Math.floor((r.paddr + r.length - SIZE - start) / 16) + 1;
      const pa = start + 16 * rng.below(slots);
      if (free(pa, SIZE)) {
        taken.push([pa, pa + SIZE]);
        return phys(pa);
      }
    }
    throw new Error('scan-world: no room left for another object');
  };
  const viewAt = (pa: number): DataView => {
    const i = spec.runs.findIndex((r) => pa >= r.paddr && pa < r.paddr + r.length);
    const r = spec.runs[i]!;
    const bytes = contents[i]!;
    return new DataView(bytes.buffer, bytes.byteOffset + (pa - r.paddr), Math.min(SIZE, r.paddr + r.length - pa));
  };
  const va = (pa: number): bigint => base + BigInt(pa);
  const setPtr = (pa: number, field: number, v: bigint): void => viewAt(pa).setBigUint64(field, v, true);

  let nextPid = 0;
  const write = (pa: PhysAddr, p: Omit<Planted, 'pa' | 'va'>, parent: number, state: number): Planted => {
    const v = viewAt(pa);
    v.setBigUint64(F.magic, MAGIC, true);
    v.setInt32(F.pid, p.pid, true);
    v.setInt32(F.tgid, p.tgid, true);
    v.setBigUint64(F.self, va(pa), true);
    v.setBigUint64(F.parent, va(parent), true);
    // Empty lists until linked: next = prev = the list head itself.
    for (const f of [F.tasks, F.tg]) {
      v.setBigUint64(f, va(pa + f), true);
      v.setBigUint64(f + 8, va(pa + f), true);
    }
    for (let i = 0; i < 16; i++) v.setUint8(F.comm + i, i < p.comm.length ? p.comm.charCodeAt(i) : 0);
    v.setUint32(F.state, state, true);
    v.setInt32(F.ppid, p.ppid, true);
    v.setBigUint64(F.start, BigInt(p.pid) * 1_000_000n, true);
    return { pa, va: va(pa), ...p };
  };
  const proc = (kind: Kind, parent: Planted | undefined, state = 0): Planted => {
    const pa = place();
    const pid = nextPid++;
    const status = kind === 'hidden' || kind === 'orphan' ? 'hidden' : kind === 'exited' ? 'exited' : 'live';
    return write(
      pa,
      { kind, pid, tgid: pid, ppid: parent?.pid ?? 0, comm: `${kind}-${pid}`, status, onList: kind === 'init' || kind === 'live' },
      parent?.pa ?? pa,
      state,
    );
  };
  /** Link a ring through field `f`: each next points at the following object's list head. */
  const ring = (objs: Planted[], f: number): void => {
    objs.forEach((o, i) => {
      const next = objs[(i + 1) % objs.length]!;
      const prev = objs[(i + objs.length - 1) % objs.length]!;
      setPtr(o.pa, f, va(next.pa + f));
      setPtr(o.pa, f + 8, va(prev.pa + f));
    });
  };

  const init = proc('init', undefined);
  const listed: Planted[] = [init];
  const objects: Planted[] = [init];
  const parentOf = (): Planted => listed[rng.below(listed.length)]!;
  for (let i = 0; i < spec.live; i++) listed.push(proc('live', parentOf()));
  objects.push(...listed.slice(1));
  ring(listed, F.tasks);
  const unlinked: Planted[] = [];
  for (let i = 0; i < spec.hidden; i++) unlinked.push(proc('hidden', parentOf()));
  for (let i = 0; i < spec.exited; i++) unlinked.push(proc('exited', parentOf(), DEAD));
  // DKOM leaves the unlinked object's own pointers stale: at a former neighbour.
  for (const u of unlinked) {
    const n = listed[rng.below(listed.length)]!;
    setPtr(u.pa, F.tasks, va(n.pa + F.tasks));
    setPtr(u.pa, F.tasks + 8, va(n.pa + F.tasks));
  }
  objects.push(...unlinked);

  const leaders = [...listed.slice(1), ...unlinked.filter((u) => u.kind === 'hidden')];
  const groups = new Map<Planted, Planted[]>();
  for (let i = 0; i < spec.threads && leaders.length > 0; i++) {
    const leader = leaders[rng.below(leaders.length)]!;
    const pa = place();
    const pid = nextPid++;
    const t = write(
      pa,
      { kind: 'thread', pid, tgid: leader.pid, ppid: leader.ppid, comm: `thread-${pid}`, status: leader.status, onList: false },
      leader.pa,
      0,
    );
    objects.push(t);
    groups.set(leader, [...(groups.get(leader) ?? [leader]), t]);
  }
  for (const g of groups.values()) ring(g, F.tg);

  for (let i = 0; i < spec.orphans; i++) {
    const o = proc('orphan', undefined);
    // A parent pointer into nothing: far outside the image.
    setPtr(o.pa, F.parent, base + 0x7_0000_0000_0000n);
    objects.push(o);
  }
  const decoys: PhysAddr[] = [];
  for (let i = 0; i < spec.decoys; i++) {
    const d = proc('live', init);
    setPtr(d.pa, F.self, d.va + 0x1000n); // the required edge fails
    decoys.push(d.pa);
  }
  let straddler: PhysAddr | undefined;
  if (spec.straddler) {
    // The value span (64 bytes: magic..comm) fits before the run ends; the object does not.
    const last = spec.runs[spec.runs.length - 1]!;
    const pa = phys(Math.floor((last.paddr + last.length - 80) / 16) * 16);
    if (!free(pa, SIZE)) throw new Error('scan-world: straddler place taken');
    taken.push([pa, pa + SIZE]);
    const v = viewAt(pa);
    v.setBigUint64(F.magic, MAGIC, true);
    v.setInt32(F.pid, 4242, true);
    v.setBigUint64(F.self, va(pa), true);
    v.setBigUint64(F.tasks, va(pa + F.tasks), true);
    for (let i = 0; i < 16; i++) v.setUint8(F.comm + i, i < 5 ? 'strad'.charCodeAt(i) : 0);
    straddler = pa;
  }

  const write_ = { raw: writeRawImage, lime: writeLimeImage, 'elf-core': writeElfCoreImage }[spec.format];
  write_(path, spec.runs, (_run, index) => [contents[index]!]);
  objects.sort((a, b) => a.pa - b.pa);
  return { path, spec, base, objects, decoys: decoys.sort((a, b) => a - b), ...(straddler === undefined ? {} : { straddler }) };
}
