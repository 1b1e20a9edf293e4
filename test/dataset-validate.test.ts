// The validation pass of real Linux images, on tiny hand-built images: a correct one
// passes (raw and ELF core), and each kind of disagreement fails with its own message.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateLinuxTruth } from '../src/datasets/linux/validate.js';
import { openElfCoreImage, openRawImage, type PhysImage } from '../src/datasets/linux/phys-image.js';
import { measureResidue } from '../src/datasets/linux/truth.js';
import { ImageFormatError, TruthError } from '../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'kcarve-validate-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// A made-up layout (small offsets, so the image stays tiny).
const OFF = { tasks: 0x100, pid: 0x120, tgid: 0x124, real_parent: 0x128, comm: 0x140 };
const POB = 0xffff888000000000n; // direct map (4-level, no KASLR)
const KDELTA = 0xffffffff81000000n; // kernel image: va = pa + KDELTA
const MEM = 0x8000;

interface T {
  status: 'live' | 'hidden' | 'exited';
  pid: number;
  tgid: number;
  ppid: number;
  comm: string;
  pa: number;
  parentPa: number;
  onList: boolean;
  residue?: { pid: boolean; tgid: boolean; comm: boolean };
}

const INIT_PA = 0x2a40;
const vaOf = (pa: number) => (pa === INIT_PA ? BigInt(pa) + KDELTA : BigInt(pa) + POB);

function world(): { mem: Buffer; tasks: T[] } {
  const tasks: T[] = [
    { status: 'live', pid: 0, tgid: 0, ppid: 0, comm: 'swapper/0', pa: INIT_PA, parentPa: INIT_PA, onList: true },
    { status: 'live', pid: 1, tgid: 1, ppid: 0, comm: 'init', pa: 0x4000, parentPa: INIT_PA, onList: true },
    { status: 'live', pid: 10, tgid: 10, ppid: 1, comm: 'ks0-aaaaaa', pa: 0x4400, parentPa: 0x4000, onList: true },
    { status: 'hidden', pid: 11, tgid: 11, ppid: 1, comm: 'ks1-bbbbbb', pa: 0x4800, parentPa: 0x4000, onList: false },
    { status: 'hidden', pid: 12, tgid: 11, ppid: 1, comm: 'kt1.1-cccc', pa: 0x4c00, parentPa: 0x4000, onList: false },
    { status: 'live', pid: 2, tgid: 1, ppid: 0, comm: 'init-thread', pa: 0x5000, parentPa: INIT_PA, onList: false },
    { status: 'exited', pid: 20, tgid: 20, ppid: 1, comm: 'kx0-dddddd', pa: 0x5400, parentPa: 0x4000, onList: false, residue: { pid: true, tgid: true, comm: true } },
    { status: 'exited', pid: 21, tgid: 21, ppid: 1, comm: 'kx1-eeeeee', pa: 0x5800, parentPa: 0x4000, onList: false, residue: { pid: true, tgid: true, comm: false } },
  ];
  const mem = Buffer.alloc(MEM);
  for (const t of tasks) {
    mem.writeInt32LE(t.pid, t.pa + OFF.pid);
    mem.writeInt32LE(t.tgid, t.pa + OFF.tgid);
    mem.writeBigUInt64LE(vaOf(t.parentPa), t.pa + OFF.real_parent);
    if (!(t.status === 'exited' && t.residue?.comm === false)) mem.write(t.comm, t.pa + OFF.comm, 'latin1');
  }
  // init_task.tasks: init -> 1 -> 10 -> init; the hidden leader is self-linked.
  const ring = [INIT_PA, 0x4000, 0x4400];
  ring.forEach((pa, i) => {
    mem.writeBigUInt64LE(vaOf(ring[(i + 1) % ring.length]!) + BigInt(OFF.tasks), pa + OFF.tasks);
    mem.writeBigUInt64LE(vaOf(ring[(i + ring.length - 1) % ring.length]!) + BigInt(OFF.tasks), pa + OFF.tasks + 8);
  });
  mem.writeBigUInt64LE(vaOf(0x4800) + BigInt(OFF.tasks), 0x4800 + OFF.tasks);
  return { mem, tasks };
}

function truthOf(tasks: T[]): Record<string, unknown> {
  return {
    schema: 'kcarve-truth/1',
    os: 'linux',
    image: { raw: 'memory.raw' },
    kernel: { release: 'test', paging_levels: 4, kaslr: false },
    layout: {
      page_offset_base: `0x${POB.toString(16)}`,
      init_task_va: `0x${vaOf(INIT_PA).toString(16)}`,
      init_task_pa: `0x${INIT_PA.toString(16)}`,
      init_top_pgt_pa: '0x1000',
    },
    offsets: { task_struct: { size: 0x200, fields: { ...OFF } } },
    tasks: tasks.map((t) => ({
      status: t.status,
      pid: t.pid,
      tgid: t.tgid,
      ppid: t.ppid,
      comm: t.comm,
      leader: t.pid === t.tgid,
      on_tasks_list: t.onList,
      va: `0x${vaOf(t.pa).toString(16)}`,
      pa: `0x${t.pa.toString(16)}`,
      mutations: [],
      ...(t.residue ? { residue: t.residue } : {}),
    })),
  };
}

let n = 0;
function rawImage(mem: Buffer): PhysImage {
  const path = join(dir, `img-${n++}.raw`);
  writeFileSync(path, mem);
  return openRawImage(path);
}

/** An ELF64 core like QEMU's: a PT_NOTE, then PT_LOADs; [hole.start, hole.end) left out. */
function elfImage(mem: Buffer, hole: { start: number; end: number }): PhysImage {
  const loads = [
    { paddr: 0, data: mem.subarray(0, hole.start) },
    { paddr: hole.end, data: mem.subarray(hole.end) },
  ];
  const phnum = 1 + loads.length;
  const head = Buffer.alloc(64 + 56 * phnum);
  head.writeUInt32BE(0x7f454c46, 0);
  head[4] = 2; // ELFCLASS64
  head[5] = 1; // ELFDATA2LSB
  head[6] = 1;
  head.writeUInt16LE(4, 0x10); // ET_CORE
  head.writeUInt16LE(62, 0x12); // EM_X86_64
  head.writeBigUInt64LE(64n, 0x20);
  head.writeUInt16LE(64, 0x34);
  head.writeUInt16LE(56, 0x36);
  head.writeUInt16LE(phnum, 0x38);
  head.writeUInt32LE(4, 64); // PT_NOTE, empty
  let offset = head.length;
  loads.forEach((l, i) => {
    const at = 64 + 56 * (i + 1);
    head.writeUInt32LE(1, at);
    head.writeBigUInt64LE(BigInt(offset), at + 8);
    head.writeBigUInt64LE(BigInt(l.paddr), at + 24);
    head.writeBigUInt64LE(BigInt(l.data.length), at + 32);
    head.writeBigUInt64LE(BigInt(l.data.length), at + 40);
    offset += l.data.length;
  });
  const path = join(dir, `img-${n++}.elf`);
  writeFileSync(path, Buffer.concat([head, ...loads.map((l) => l.data)]));
  return openElfCoreImage(path);
}

function check(mem: Buffer, truth: Record<string, unknown>) {
  const img = rawImage(mem);
  try {
    return validateLinuxTruth(truth, 'truth.json', img);
  } finally {
    img.close();
  }
}

function failure(mem: Buffer, truth: Record<string, unknown>): TruthError {
  try {
    check(mem, truth);
  } catch (err) {
    expect(err).toBeInstanceOf(TruthError);
    return err as TruthError;
  }
  throw new Error('validation passed but should have failed');
}

describe('validateLinuxTruth: a correct image', () => {
  it('passes on the raw image and reports what it checked', () => {
    const { mem, tasks } = world();
    const r = check(mem, truthOf(tasks));
    expect(r).toMatchObject({ tasks: 8, live: 4, hidden: 2, exited: 2, exitedIntact: 1, walkLength: 3 });
  });

  it('passes on the same memory as an ELF core with a hole between its loads', () => {
    const { mem, tasks } = world();
    const img = elfImage(mem, { start: 0x3000, end: 0x4000 });
    try {
      expect(img.runs).toEqual([
        { paddr: 0, fileOffset: 64 + 56 * 3, length: 0x3000 },
        { paddr: 0x4000, fileOffset: 64 + 56 * 3 + 0x3000, length: 0x4000 },
      ]);
      expect(img.readPhys(0x3800 as never, 4)).toBeUndefined();
      expect(validateLinuxTruth(truthOf(tasks), 'truth.json', img).walkLength).toBe(3);
    } finally {
      img.close();
    }
  });

  it('measures residue: pid and tgid survive, a wiped comm does not', () => {
    const { mem } = world();
    const img = rawImage(mem);
    try {
      expect(measureResidue(img, OFF, { pa: 0x5400, pid: 20, tgid: 20, comm: 'kx0-dddddd' })).toEqual({ pid: true, tgid: true, comm: true });
      expect(measureResidue(img, OFF, { pa: 0x5800, pid: 21, tgid: 21, comm: 'kx1-eeeeee' })).toEqual({ pid: true, tgid: true, comm: false });
      expect(measureResidue(img, OFF, { pa: MEM - 8, pid: 21, tgid: 21, comm: 'x' })).toEqual({ pid: false, tgid: false, comm: false });
    } finally {
      img.close();
    }
  });
});

describe('validateLinuxTruth: each kind of mismatch fails loudly', () => {
  it('a pid that is not at pa + offset', () => {
    const { mem, tasks } = world();
    mem.writeInt32LE(99, 0x4400 + OFF.pid);
    expect(failure(mem, truthOf(tasks)).message).toBe(
      `truth.json at tasks[2].pid: live task pid 10 ("ks0-aaaaaa") at pa 0x4400: task_struct.pid in ${dir}/img-${n - 1}.raw is 99`,
    );
  });

  it('a tgid that differs', () => {
    const { mem, tasks } = world();
    mem.writeInt32LE(1, 0x4c00 + OFF.tgid);
    expect(failure(mem, truthOf(tasks)).message).toMatch(/^truth\.json at tasks\[4\]\.tgid: hidden task pid 12 \("kt1\.1-cccc"\) at pa 0x4c00: task_struct\.tgid in .* is 1$/);
  });

  it('a comm that differs', () => {
    const { mem, tasks } = world();
    mem.write('evil', 0x4800 + OFF.comm, 'latin1');
    expect(failure(mem, truthOf(tasks)).message).toMatch(/at tasks\[3\]\.comm: hidden task pid 11 \("ks1-bbbbbb"\) at pa 0x4800: task_struct\.comm in .* is "evilbbbbbb"$/);
  });

  it('a ppid that real_parent does not lead to', () => {
    const { mem, tasks } = world();
    tasks[2]!.ppid = 0;
    expect(failure(mem, truthOf(tasks)).message).toBe(
      'truth.json at tasks[2].ppid: live task pid 10 ("ks0-aaaaaa") at pa 0x4400: real_parent 0xffff888000004000 leads to tgid 1, truth says ppid 0',
    );
  });

  it('a hidden task that the list walk still reaches', () => {
    const { mem, tasks } = world();
    // Link the "hidden" leader back in after pid 10.
    mem.writeBigUInt64LE(vaOf(0x4800) + BigInt(OFF.tasks), 0x4400 + OFF.tasks);
    mem.writeBigUInt64LE(vaOf(INIT_PA) + BigInt(OFF.tasks), 0x4800 + OFF.tasks);
    expect(failure(mem, truthOf(tasks)).message).toBe(
      'truth.json at tasks[3].status: hidden task pid 11 ("ks1-bbbbbb") at pa 0x4800 is reachable from init_task.tasks (init_task.tasks walk step 3: next = 0xffff888000004900)',
    );
  });

  it('a linked task that the list walk misses', () => {
    const { mem, tasks } = world();
    mem.writeBigUInt64LE(vaOf(INIT_PA) + BigInt(OFF.tasks), 0x4000 + OFF.tasks); // 1 -> init, skipping 10
    expect(failure(mem, truthOf(tasks)).message).toBe(
      'truth.json at tasks[2].on_tasks_list: live task pid 10 ("ks0-aaaaaa") at pa 0x4400 is marked on_tasks_list but the init_task.tasks walk does not reach it',
    );
  });

  it('a list walk that reaches an object truth does not know', () => {
    const { mem, tasks } = world();
    mem.writeBigUInt64LE(vaOf(0x6000) + BigInt(OFF.tasks), 0x4400 + OFF.tasks);
    expect(failure(mem, truthOf(tasks)).message).toBe(
      'truth.json at tasks: init_task.tasks walk step 3: next = 0xffff888000006100 reaches pa 0x6000, which truth does not list as a task',
    );
  });

  it('a list that loops without returning to init_task', () => {
    const { mem, tasks } = world();
    mem.writeBigUInt64LE(vaOf(0x4000) + BigInt(OFF.tasks), 0x4400 + OFF.tasks); // 10 -> 1
    expect(failure(mem, truthOf(tasks)).message).toBe(
      'truth.json at tasks: init_task.tasks walk step 3: next = 0xffff888000004100 reaches live task pid 1 ("init") at pa 0x4000 a second time',
    );
  });

  it('a list pointer that is neither direct map nor kernel image', () => {
    const { mem, tasks } = world();
    mem.writeBigUInt64LE(0xdead000000000100n, 0x4400 + OFF.tasks); // LIST_POISON1
    expect(failure(mem, truthOf(tasks)).message).toBe(
      'truth.json at layout: init_task.tasks walk step 3: next = 0xdead000000000100 is neither in the direct map nor in the kernel image',
    );
  });

  it('a live thread of a hidden process', () => {
    const { mem, tasks } = world();
    tasks[4]!.status = 'live';
    expect(failure(mem, truthOf(tasks)).message).toBe(
      'truth.json at tasks[4].status: live task pid 12 ("kt1.1-cccc") at pa 0x4c00 is a thread of hidden process 11 and must be hidden too',
    );
  });

  it('a recorded residue that the image contradicts', () => {
    const { mem, tasks } = world();
    tasks[7]!.residue = { pid: true, tgid: true, comm: true };
    expect(failure(mem, truthOf(tasks)).message).toBe(
      `truth.json at tasks[7].residue.comm: exited task pid 21 ("kx1-eeeeee") at pa 0x5800: residue.comm is true but ${dir}/img-${n - 1}.raw says false`,
    );
  });

  it('a task outside the image', () => {
    const { mem, tasks } = world();
    tasks[2]!.pa = MEM - 0x100;
    const e = failure(mem, truthOf(tasks));
    expect(e.message).toMatch(/^truth\.json at tasks\[2\]: live task pid 10 \("ks0-aaaaaa"\) at pa 0x7f00: task_struct\.pid at pa 0x8020 is outside /);
  });

  it('two tasks at one address', () => {
    const { mem, tasks } = world();
    tasks[5]!.pa = 0x4400;
    expect(failure(mem, truthOf(tasks)).message).toBe(
      'truth.json at tasks[5]: live task pid 2 ("init-thread") at pa 0x4400 shares its address with live task pid 10 ("ks0-aaaaaa") at pa 0x4400',
    );
  });

  it('an exited task whose object is a live task at the dump', () => {
    const { mem, tasks } = world();
    tasks[6]!.pa = 0x4400;
    expect(failure(mem, truthOf(tasks)).message).toBe(
      'truth.json at tasks[6]: exited task pid 20 ("kx0-dddddd") at pa 0x4400: its object is live task pid 10 ("ks0-aaaaaa") at pa 0x4400 at the dump',
    );
  });

  it('malformed truth: schema, hex fields, missing residue', () => {
    const { mem, tasks } = world();
    expect(failure(mem, { ...truthOf(tasks), schema: 'x' }).message).toBe('truth.json at schema: expected "kcarve-truth/1" (got "x")');
    const t = truthOf(tasks) as { tasks: Record<string, unknown>[] };
    t.tasks[1]!['pa'] = 16384;
    expect(failure(mem, t).message).toBe('truth.json at tasks[1].pa: must be a 0x-prefixed hex string (got 16384)');
    const u = truthOf(tasks) as { tasks: Record<string, unknown>[] };
    delete u.tasks[6]!['residue'];
    expect(failure(mem, u).message).toBe('truth.json at tasks[6].residue: an exited task must record its residue');
  });
});

describe('openElfCoreImage', () => {
  it('rejects a file that is not an ELF core, naming the offset', () => {
    const p = join(dir, 'not.elf');
    writeFileSync(p, Buffer.alloc(128, 1));
    expect(() => openElfCoreImage(p)).toThrow(ImageFormatError);
    expect(() => openElfCoreImage(p)).toThrow(`${p} at offset 0x0: not an ELF file (bad magic)`);
  });

  it('rejects a PT_LOAD that runs past the end of the file', () => {
    const { mem } = world();
    const img = elfImage(mem, { start: 0x3000, end: 0x4000 });
    img.close();
    const p = join(dir, `img-${n - 1}.elf`);
    const bytes = readFileSync(p);
    writeFileSync(p, bytes.subarray(0, bytes.length - 16));
    expect(() => openElfCoreImage(p)).toThrow(`${p} at offset 0x${(64 + 56 * 2).toString(16)}: PT_LOAD 2 (paddr 0x4000) runs past the end of the file`);
  });
});
