// The task_struct fields Linux support reads, resolved once per layout. Every
// offset comes from the layout by name (no offset of a kernel struct lives in
// code); a field a kernel version lacks is undefined and its use is skipped.
import { LayoutError } from '../../errors.js';
import type { Layout } from '../../types/layout.js';

/** Offset and size of one member. */
export interface FieldAt {
  offset: number;
  size: number;
}

export interface TaskLayout {
  layout: Layout;
  /** The scanned type (task_struct). */
  type: string;
  size: number;
  pid: FieldAt;
  tgid: FieldAt;
  comm: FieldAt;
  /** `__state` (5.14+) or `state` (older kernels, a long). */
  state: FieldAt;
  exitState: FieldAt;
  flags: FieldAt;
  usage?: FieldAt;
  startTime?: FieldAt;
  stack: FieldAt;
  mm: FieldAt;
  activeMm?: FieldAt;
  realParent: FieldAt;
  groupLeader: FieldAt;
  tasks: FieldAt;
  children?: FieldAt;
  sibling?: FieldAt;
  threadGroup?: FieldAt;
  threadNode?: FieldAt;
  threadPid?: FieldAt;
  pidLinks0?: FieldAt;
  signal?: FieldAt;
  cpusPtr?: FieldAt;
  cpusMask?: FieldAt;
  /** Every `struct list_head` member (for self-pointer votes), by offset. */
  listHeads: number[];
  /** Related structs, when the layout has them. */
  pidNr?: number;
  pidTasks0?: number;
  mmPgd?: number;
  mmOwner?: number;
  signalThreadHead?: number;
  listNext: number;
  listPrev: number;
}

function at(layout: Layout, type: string, path: string): FieldAt {
  const m = layout.member(type, path);
  return { offset: m.offset, size: m.size };
}

function maybe(layout: Layout, type: string, path: string): FieldAt | undefined {
  try {
    return at(layout, type, path);
  } catch (err) {
    if (err instanceof LayoutError) return undefined;
    throw err;
  }
}

function maybeOffset(layout: Layout, type: string, path: string): number | undefined {
  if (!layout.hasType(type)) return undefined;
  return maybe(layout, type, path)?.offset;
}

const cache = new WeakMap<Layout, Map<string, TaskLayout>>();

/** Resolve the fields of `type` (default task_struct); LayoutError names a missing required one. */
export function taskLayout(layout: Layout, type = 'task_struct'): TaskLayout {
  let perType = cache.get(layout);
  if (!perType) {
    perType = new Map();
    cache.set(layout, perType);
  }
  const hit = perType.get(type);
  if (hit) return hit;
  const state = maybe(layout, type, '__state') ?? maybe(layout, type, 'state');
  if (!state) throw layout.error(type, '__state', 'has neither __state (5.14+) nor state');
  const listHeads = layout
    .leaves(type, { maxArrayElements: 8 })
    .filter((l) => l.path.endsWith('.next') && l.kind === 'pointer' && l.pointee === 'struct list_head')
    .map((l) => l.offset);
  const t: TaskLayout = {
    layout,
    type,
    size: layout.sizeOf(type),
    pid: at(layout, type, 'pid'),
    tgid: at(layout, type, 'tgid'),
    comm: at(layout, type, 'comm'),
    state,
    exitState: at(layout, type, 'exit_state'),
    flags: at(layout, type, 'flags'),
    usage: maybe(layout, type, 'usage'),
    startTime: maybe(layout, type, 'start_time'),
    stack: at(layout, type, 'stack'),
    mm: at(layout, type, 'mm'),
    activeMm: maybe(layout, type, 'active_mm'),
    realParent: at(layout, type, 'real_parent'),
    groupLeader: at(layout, type, 'group_leader'),
    tasks: at(layout, type, 'tasks'),
    children: maybe(layout, type, 'children'),
    sibling: maybe(layout, type, 'sibling'),
    threadGroup: maybe(layout, type, 'thread_group'),
    threadNode: maybe(layout, type, 'thread_node'),
    threadPid: maybe(layout, type, 'thread_pid'),
    pidLinks0: maybe(layout, type, 'pid_links[0]'),
    signal: maybe(layout, type, 'signal'),
    cpusPtr: maybe(layout, type, 'cpus_ptr'),
    cpusMask: maybe(layout, type, 'cpus_mask'),
    listHeads,
    pidNr: maybeOffset(layout, 'pid', 'numbers[0].nr'),
    pidTasks0: maybeOffset(layout, 'pid', 'tasks[0].first'),
    mmPgd: maybeOffset(layout, 'mm_struct', 'pgd'),
    mmOwner: maybeOffset(layout, 'mm_struct', 'owner'),
    signalThreadHead: maybeOffset(layout, 'signal_struct', 'thread_head'),
    listNext: layout.offsetOf('list_head', 'next'),
    listPrev: layout.offsetOf('list_head', 'prev'),
  };
  perType.set(type, t);
  return t;
}

/** Little-endian unsigned read of a 1/2/4/8-byte field; undefined when `bytes` is too short. */
export function readU(bytes: Uint8Array, offset: number, size: number): bigint | undefined {
  if (offset < 0 || offset + size > bytes.length) return undefined;
  // Whole 32-bit halves as numbers, then at most three BigInt operations: discovery reads
  // several fields of thousands of candidates, and a BigInt shift per byte showed up.
  const o = offset;
  if (size === 8) {
    const lo = (bytes[o]! | (bytes[o + 1]! << 8) | (bytes[o + 2]! << 16) | (bytes[o + 3]! << 24)) >>> 0;
    const hi = (bytes[o + 4]! | (bytes[o + 5]! << 8) | (bytes[o + 6]! << 16) | (bytes[o + 7]! << 24)) >>> 0;
    return (BigInt(hi) << 32n) | BigInt(lo);
  }
  if (size <= 6) {
    let n = 0;
    for (let i = size - 1; i >= 0; i--) n = n * 256 + bytes[o + i]!;
    return BigInt(n);
  }
  let v = 0n;
  for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[o + i]!);
  return v;
}

/** A field as a bigint; undefined when the field is unknown or past the bytes given. */
export function readField(bytes: Uint8Array, f: FieldAt | undefined): bigint | undefined {
  return f === undefined ? undefined : readU(bytes, f.offset, f.size);
}

/** A signed 32-bit field (pid_t). */
export function readI32(bytes: Uint8Array, f: FieldAt): number | undefined {
  const v = readU(bytes, f.offset, 4);
  return v === undefined ? undefined : Number(BigInt.asIntN(32, v));
}

/** A NUL-terminated char array (latin1, one character per byte). */
export function readCString(bytes: Uint8Array, f: FieldAt): string | undefined {
  if (f.offset + f.size > bytes.length) return undefined;
  let s = '';
  for (let i = 0; i < f.size; i++) {
    const c = bytes[f.offset + i]!;
    if (c === 0) break;
    s += String.fromCharCode(c);
  }
  return s;
}
