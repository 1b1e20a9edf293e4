// Attacker mutations of hidden Windows processes (--attack), the single-field evasion
// matrix of issue 4: each named attack rewrites one field of the EPROCESS or of its pool
// header the way a rootkit evading a scanner would; random:N rewrites N EPROCESS members
// drawn from WINDOWS_RANDOM_FIELDS with random bytes. Applied to every hidden process,
// recorded per object in truth `mutations` by member path (pool-header fields as
// `_POOL_HEADER.<member>`).
//
// The Linux attack names (comm, pid, tasks, start_time, flags) are accepted too, on the
// equivalent EPROCESS members, so one evasion matrix runs over both OSes.
import { drawRandomFields, type AttackSpec } from '../attack.js';
import type { Prng } from '../prng.js';
import type { Struct } from './layout.js';

export const WINDOWS_ATTACKS: Readonly<Record<string, string>> = {
  'pool-tag': "overwrite the 4 pool-tag bytes of the EPROCESS block (no longer 'Proc' / 'Pro\\xe3')",
  'pool-index': "set the pool header's PoolIndex to another value",
  'dispatcher-type': 'set Pcb.Header.Type to a value other than ProcessObject (3)',
  'dispatcher-size': "set Pcb.Header.Size to a value other than the build's",
  'create-time-zero': 'set CreateTime to 0',
  'name-first-byte': 'zero the first byte of ImageFileName',
  'pid-not-div4': 'add 1..3 to UniqueProcessId (no longer a multiple of 4)',
  'active-links-zero': 'zero both pointers of ActiveProcessLinks',
  comm: 'overwrite ImageFileName with random bytes, at least one not printable (the linux attack of that name)',
  pid: 'set UniqueProcessId to a random value (the linux attack of that name)',
  tasks: 'zero ActiveProcessLinks (the linux name of active-links-zero)',
  start_time: 'set CreateTime to 0 (the linux name of create-time-zero)',
  flags: 'set Flags to a random 32-bit value (the linux attack of that name)',
};

/** EPROCESS members random:N draws from (present in all three builds). */
export const WINDOWS_RANDOM_FIELDS: readonly string[] = [
  'Pcb.Header.Type', 'Pcb.Header.Size', 'Pcb.DirectoryTableBase', 'Pcb.ThreadListHead', 'CreateTime', 'ExitTime',
  'UniqueProcessId', 'ActiveProcessLinks', 'SessionProcessLinks', 'ObjectTable', 'Token', 'InheritedFromUniqueProcessId',
  'ImageFileName', 'ThreadListHead', 'ActiveThreads', 'Peb', 'ExitStatus', 'Flags', 'VadRoot', 'SectionBaseAddress',
  'Win32Process', 'Session', 'RundownProtect', 'LastThreadExitStatus',
];

/** Which member each named attack changes. */
const TARGET: Readonly<Record<string, string>> = {
  'pool-tag': '_POOL_HEADER.PoolTag',
  'pool-index': '_POOL_HEADER.PoolIndex',
  'dispatcher-type': 'Pcb.Header.Type',
  'dispatcher-size': 'Pcb.Header.Size',
  'create-time-zero': 'CreateTime',
  'name-first-byte': 'ImageFileName',
  'pid-not-div4': 'UniqueProcessId',
  'active-links-zero': 'ActiveProcessLinks',
  comm: 'ImageFileName',
  pid: 'UniqueProcessId',
  tasks: 'ActiveProcessLinks',
  start_time: 'CreateTime',
  flags: 'Flags',
};

export function attackTarget(name: string): string {
  const t = TARGET[name];
  if (t === undefined) throw new Error(`windows attack ${name} has no target`);
  return t;
}

/**
 * Apply `spec` to one process: `eproc` is its EPROCESS, `pool` its pool header. Returns
 * the members changed, in order, without repeats. random:N skips the named attacks'
 * members and `alreadyChanged` (the DKOM unlink's).
 */
export function attackProcess(eproc: Struct, pool: Struct, spec: AttackSpec, rng: Prng, processDispatcherSize: number, alreadyChanged: readonly string[] = []): string[] {
  const changed: string[] = [];
  const note = (m: string) => {
    if (!changed.includes(m)) changed.push(m);
  };
  /** Write raw bytes into member `path` of `s`, making sure the value changes. */
  const put = (s: Struct, path: string, bytes: Uint8Array) => {
    const before = s.raw(path);
    if (Buffer.from(before).equals(Buffer.from(bytes))) bytes[0] = before[0]! ^ 0xff;
    s.setRaw(path, bytes);
  };
  const other = (current: number, bits: number): number => {
    let v = rng.int(1 << bits);
    if (v === current) v = (v + 1 + rng.int((1 << bits) - 1)) % (1 << bits);
    return v;
  };
  for (const name of spec.named) {
    switch (name) {
      case 'pool-tag': {
        const tag = new Uint8Array(4);
        const old = pool.raw('PoolTag');
        for (let i = 0; i < 4; i += 1) tag[i] = 0x41 + rng.int(26);
        if (Buffer.from(tag).equals(Buffer.from(old))) tag[0] = tag[0] === 0x41 ? 0x42 : 0x41;
        pool.setRaw('PoolTag', tag);
        break;
      }
      case 'pool-index': {
        const bits = pool.L.member('_POOL_HEADER', 'PoolIndex').bits!.length;
        pool.set('PoolIndex', other(Number(pool.get('PoolIndex')), bits));
        break;
      }
      case 'dispatcher-type':
        eproc.set('Pcb.Header.Type', other(3, 8));
        break;
      case 'dispatcher-size':
        eproc.set('Pcb.Header.Size', other(processDispatcherSize, 8));
        break;
      case 'create-time-zero':
      case 'start_time':
        put(eproc, 'CreateTime', new Uint8Array(8));
        break;
      case 'name-first-byte': {
        const b = eproc.raw('ImageFileName');
        b[0] = 0;
        put(eproc, 'ImageFileName', b);
        break;
      }
      case 'pid-not-div4':
        eproc.set('UniqueProcessId', eproc.big('UniqueProcessId') + BigInt(1 + rng.int(3)));
        break;
      case 'active-links-zero':
      case 'tasks':
        put(eproc, 'ActiveProcessLinks', new Uint8Array(eproc.size('ActiveProcessLinks')));
        break;
      case 'comm': {
        const n = eproc.size('ImageFileName');
        const b = new Uint8Array(n);
        for (let i = 0; i < n; i += 1) b[i] = 1 + rng.int(255);
        b[rng.int(n)] = 0x80 + rng.int(0x80);
        put(eproc, 'ImageFileName', b);
        break;
      }
      case 'pid':
        put(eproc, 'UniqueProcessId', rng.fill(new Uint8Array(eproc.size('UniqueProcessId'))));
        break;
      case 'flags':
        put(eproc, 'Flags', rng.fill(new Uint8Array(4)));
        break;
      default:
        throw new Error(`windows attack ${name} is not implemented`);
    }
    note(attackTarget(name));
  }
  if (spec.random > 0) {
    const exclude = [...spec.named.map(attackTarget), ...alreadyChanged];
    for (const field of drawRandomFields(rng, WINDOWS_RANDOM_FIELDS, spec.random, exclude)) {
      put(eproc, field, rng.fill(new Uint8Array(eproc.size(field))));
      note(field);
    }
  }
  return changed;
}
