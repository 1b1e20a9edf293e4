// Decoys for Windows worlds: memory that satisfies weak EPROCESS signatures without being a
// process object. Each is listed in truth.decoys (kind, pa, note); none is in truth.tasks.
//
//   proc-tag-garbage   a pool block with the process tag ('Proc' / 'Pro\xe3') and a valid
//                      header chain, followed by garbage (a tag-only scanner's hit)
//   dead-proc-block    a free block (PoolType 0) that still carries the process tag, its
//                      data zeroed, not a former process of this world
//   name-utf16         a process's image name or path in UTF-16 in another pool block
//   name-ascii         a process's name in ASCII text (a log line, a prefetch file name)
//   partial-copy       the first part of a live EPROCESS (dispatcher header, pid, links,
//                      name...) in a block of another tag, the rest overwritten
//   other-object       an object of another type (Thread, Token, File) with a valid pool
//                      and object header, the process's block size, and a process name
//                      and pid at the EPROCESS offsets of ImageFileName / UniqueProcessId
// pa is the candidate address a scanner would report: the body position of the block (for
// name decoys: the string itself).
import { hex } from '../../addr.js';
import type { PhysCanvas } from '../canvas.js';
import { PAGE_SIZE } from '../memory-map.js';
import { NoiseKind } from '../noise.js';
import type { PageAllocator } from '../page-allocator.js';
import type { PageContent } from '../page-content.js';
import type { Prng } from '../prng.js';
import type { SynthDecoy } from '../truth.js';
import { type WinLayout, roundUp, utf16 } from './layout.js';
import type { ObjectTypes, ObType } from './objects.js';
import type { Pool } from './pool.js';
import type { WProc } from './process.js';

export const DECOY_KINDS = ['proc-tag-garbage', 'name-utf16', 'partial-copy', 'name-ascii', 'other-object', 'dead-proc-block'] as const;

export interface DecoyEnv {
  readonly w: WinLayout;
  readonly pool: Pool;
  readonly types: ObjectTypes;
  readonly pages: PageAllocator;
  readonly content: PageContent;
  readonly canvas: PhysCanvas;
}

/** The process block layout a tag scanner assumes: body at the end, sizeof(_EPROCESS) rounded. */
function processBlockSize(env: DecoyEnv): number {
  return env.types.blockSize(env.w.sizes.eprocess, ['quota']);
}

function bodyOffset(env: DecoyEnv, blockSize: number): number {
  return blockSize - roundUp(env.w.sizes.eprocess, env.w.gran);
}

function procTagGarbage(env: DecoyEnv, rng: Prng): SynthDecoy {
  const size = processBlockSize(env);
  const b = env.pool.alloc('nonpaged', size, 'Proc', true);
  rng.fill(b.bytes.subarray(env.w.sizes.poolHeader));
  return { kind: 'proc-tag-garbage', pa: hex(b.pa + bodyOffset(env, size)), note: `process pool tag at ${hex(b.pa)} followed by ${size - env.w.sizes.poolHeader} random bytes` };
}

function deadProcBlock(env: DecoyEnv, rng: Prng): SynthDecoy {
  const size = processBlockSize(env);
  const b = env.pool.alloc('nonpaged', size, 'Proc', true);
  env.pool.free(b, undefined, rng);
  return { kind: 'dead-proc-block', pa: hex(b.pa + bodyOffset(env, size)), note: `free block (PoolType 0) at ${hex(b.pa)} with the process tag, data zero` };
}

function nameUtf16(env: DecoyEnv, p: WProc, rng: Prng): SynthDecoy {
  const text = rng.chance(0.5) || p.user === undefined ? p.plan.program.name : `\\Device\\HarddiskVolume${1 + rng.int(3)}${p.user.imagePath.slice(2)}`;
  const bytes = utf16(text);
  const b = env.pool.alloc('paged', env.w.sizes.poolHeader + 16 + bytes.length + 2, rng.pick(['MmSt', 'ObNm', 'Ntfx', 'FMfn']), false);
  b.bytes.set(bytes, env.w.sizes.poolHeader + 16);
  return { kind: 'name-utf16', pa: hex(b.pa + env.w.sizes.poolHeader + 16), note: `UTF-16 ${JSON.stringify(text)} (pid ${p.plan.pid}) in a ${b.tag} block` };
}

function nameAscii(env: DecoyEnv, p: WProc, rng: Prng): SynthDecoy {
  const pa = env.pages.allocPage();
  env.content.setKind(pa, PAGE_SIZE, NoiseKind.text);
  const upper = p.plan.program.name.toUpperCase();
  const styles = [
    `${p.plan.program.name}\0`,
    `${upper}-${(rng.u32() >>> 0).toString(16).toUpperCase().padStart(8, '0')}.pf\0`,
    `Process ${p.plan.program.name} (PID ${p.plan.pid}) started\r\n`,
    `${p.plan.program.name}\0${p.plan.pid}\0`,
  ];
  const text = new TextEncoder().encode(rng.pick(styles));
  // 8-aligned, where a name scan expects names to start.
  const at = pa + rng.int(Math.floor((PAGE_SIZE - text.length) / 8)) * 8;
  env.canvas.write(at, text);
  return { kind: 'name-ascii', pa: hex(at), note: `ASCII name of pid ${p.plan.pid} (${p.plan.program.name}) in text` };
}

function partialCopy(env: DecoyEnv, p: WProc, rng: Prng): SynthDecoy {
  const size = processBlockSize(env);
  const b = env.pool.alloc('nonpaged', size, rng.pick(['Ntfx', 'MmCa', 'Irp ', 'CM35']), false);
  const body = bodyOffset(env, size);
  const nameEnd = p.e.off('ImageFileName') + env.w.nameLength;
  const keep = Math.min(env.w.sizes.eprocess, nameEnd + rng.int(env.w.sizes.eprocess - nameEnd + 1));
  rng.fill(b.bytes.subarray(env.w.sizes.poolHeader, body));
  b.bytes.set(p.ob.block.bytes.subarray(p.ob.bodyOff, p.ob.bodyOff + keep), body);
  rng.fill(b.bytes.subarray(body + keep));
  return { kind: 'partial-copy', pa: hex(b.pa + body), note: `first ${keep} bytes of the EPROCESS of pid ${p.plan.pid} (${p.name}) in a ${b.tag} block` };
}

function otherObject(env: DecoyEnv, p: WProc, rng: Prng, turn: number): SynthDecoy {
  const t: ObType = (['Thread', 'Token', 'File'] as const)[turn % 3]!;
  const ob = env.types.allocObject('nonpaged', t, env.w.sizes.eprocess, { optional: ['quota'], pointerCount: 1 + rng.int(16), handleCount: rng.int(3) });
  const bytes = ob.block.bytes;
  rng.fill(bytes.subarray(ob.bodyOff));
  const e = env.w.struct('_EPROCESS', bytes, ob.bodyOff);
  e.set('ImageFileName', p.name);
  e.set('UniqueProcessId', BigInt(p.plan.pid));
  return { kind: 'other-object', pa: hex(ob.bodyPa), note: `${t} object of the process block size with ${JSON.stringify(p.name)} and pid ${p.plan.pid} at the EPROCESS offsets` };
}

/** Place `count` decoys, the kinds in turn from a random start, imitating live processes. */
export function placeDecoys(env: DecoyEnv, procs: readonly WProc[], count: number, rng: Prng): SynthDecoy[] {
  const live = procs.filter((p) => p.plan.status === 'live');
  const out: SynthDecoy[] = [];
  const start = rng.int(DECOY_KINDS.length);
  for (let i = 0; i < count; i += 1) {
    const kind = DECOY_KINDS[(start + i) % DECOY_KINDS.length]!;
    const p = rng.pick(live);
    const r = rng.child(`decoy:${i}`);
    switch (kind) {
      case 'proc-tag-garbage':
        out.push(procTagGarbage(env, r));
        break;
      case 'dead-proc-block':
        out.push(deadProcBlock(env, r));
        break;
      case 'name-utf16':
        out.push(nameUtf16(env, p, r));
        break;
      case 'name-ascii':
        out.push(nameAscii(env, p, r));
        break;
      case 'partial-copy':
        out.push(partialCopy(env, p, r));
        break;
      case 'other-object':
        out.push(otherObject(env, p, r, i));
        break;
    }
  }
  return out;
}
