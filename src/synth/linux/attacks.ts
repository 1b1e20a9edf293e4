// Attacker mutations of hidden Linux tasks (--attack): each named attack rewrites one
// task_struct member the way a rootkit evading a scanner would; random:N rewrites N
// members drawn from MUTABLE_TASK_FIELDS with random bytes. Applied to every hidden task
// object (leaders and their threads), recorded per object in truth `mutations`.
import { drawRandomFields, type AttackSpec } from '../attack.js';
import type { Prng } from '../prng.js';
import type { LinuxOffsets } from './layout.js';
import { MUTABLE_TASK_FIELDS } from './layout.js';
import type { ObjBuf } from './objects.js';

export const LINUX_ATTACKS: Readonly<Record<string, string>> = {
  comm: 'overwrite comm with 15 random non-NUL bytes (not a printable name)',
  pid: 'set task->pid to a random 32-bit value (the real pid stays in thread_pid->numbers[0].nr)',
  tasks: 'zero both pointers of the tasks list_head',
  start_time: 'set start_time to 0',
  flags: 'set flags to a random 32-bit value',
};

export const LINUX_RANDOM_FIELDS: readonly string[] = MUTABLE_TASK_FIELDS;

function randomBytes(rng: Prng, n: number): Uint8Array {
  return rng.fill(new Uint8Array(n));
}

/**
 * Apply `spec` to one task object; returns the member names changed, in order. random:N
 * draws N members other than the named ones and `alreadyChanged` (the DKOM unlink's).
 */
export function attackTask(o: LinuxOffsets, task: ObjBuf, spec: AttackSpec, rng: Prng, alreadyChanged: readonly string[] = []): string[] {
  const changed: string[] = [];
  const set = (field: string, bytes: Uint8Array): void => {
    const off = o.task[field]!;
    const size = o.taskSizes[field]!;
    if (bytes.length !== size) throw new Error(`attack ${field}: ${bytes.length} bytes for a ${size}-byte member`);
    // A mutation must change the member; redraw the rare no-op.
    const before = task.bytes.slice(off, off + size);
    task.bytes.set(bytes, off);
    if (Buffer.from(before).equals(Buffer.from(bytes))) task.bytes[off] = before[0]! ^ 0xff;
    changed.push(field);
  };
  for (const name of spec.named) {
    switch (name) {
      case 'comm': {
        const b = new Uint8Array(16);
        for (let i = 0; i < 15; i += 1) b[i] = 1 + rng.int(255);
        // At least one byte that no printable-name test accepts.
        b[rng.int(15)] = 0x80 + rng.int(0x80);
        set('comm', b);
        break;
      }
      case 'pid':
        set('pid', randomBytes(rng, 4));
        break;
      case 'tasks':
        set('tasks', new Uint8Array(16));
        break;
      case 'start_time':
        set('start_time', new Uint8Array(8));
        break;
      case 'flags':
        set('flags', randomBytes(rng, 4));
        break;
      default:
        throw new Error(`linux attack ${name} is not implemented`);
    }
  }
  if (spec.random > 0) {
    for (const field of drawRandomFields(rng, LINUX_RANDOM_FIELDS, spec.random, [...spec.named, ...alreadyChanged])) {
      set(field, randomBytes(rng, o.taskSizes[field]!));
    }
  }
  return changed;
}
