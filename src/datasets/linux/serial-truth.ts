// Parses the ground truth that the guest's kcarve_truth module prints on the serial
// console (datasets/qemu-linux/module/kcarve_truth.c). Each record is one printk line
// "kcarve: KIND key=value …", possibly after the kernel's "[    6.72] " timestamp:
//
//   kcarve: begin version=1 release=6.1.0-57-amd64
//   kcarve: layout page_offset_base=0x… paging_levels=4 …
//   kcarve: offset task_struct.pid=2416
//   kcarve: task status=live pid=1 tgid=1 ppid=0 leader=1 on_list=1 va=0x… pa=0x…
//           state=0x0 exit_state=0x0 flags=0x… comm=<16 bytes hex>[ style=self]
//   kcarve: error …
//   kcarve: truth done
//
// comm is printed as the 16 raw bytes of task_struct.comm so that no name can break
// the line format.
import { TruthError } from '../../errors.js';
import type { UnlinkStyle } from './plan.js';

export type TaskStatus = 'live' | 'hidden' | 'exited';

export interface SerialTask {
  status: TaskStatus;
  pid: number;
  tgid: number;
  ppid: number;
  leader: boolean;
  /** The task's own `tasks` member is linked into init_task.tasks. */
  onList: boolean;
  va: bigint;
  pa: number;
  state: number;
  exitState: number;
  flags: number;
  /** task_struct.comm up to its NUL. */
  comm: string;
  /** All 16 bytes of task_struct.comm as recorded. */
  commBytes: Buffer;
  style: UnlinkStyle | undefined;
  /** 1-based line in the serial log. */
  line: number;
}

export interface SerialTruth {
  release: string;
  layout: Record<string, bigint>;
  pagingLevels: number;
  taskStructSize: number;
  /**
   * Bytes the kernel allocates per task_struct (arch_task_struct_size: the FPU state at
   * the end is sized at boot, so this is often less than sizeof); undefined in logs of
   * module versions that did not print it.
   */
  taskStructAllocSize: number | undefined;
  /** Member offsets in task_struct (bytes), e.g. { tasks: 2192, pid: 2416 }. */
  offsets: Record<string, number>;
  tasks: SerialTask[];
}

const PREFIX = 'kcarve: ';
const TASK_COMM_LEN = 16;

function fields(rest: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const tok of rest.trim().split(/\s+/)) {
    const eq = tok.indexOf('=');
    if (eq > 0) m.set(tok.slice(0, eq), tok.slice(eq + 1));
  }
  return m;
}

/** Parse a serial log; throws TruthError naming the line when the truth is incomplete or malformed. */
export function parseSerialTruth(text: string, source = 'serial.log'): SerialTruth {
  const lines = text.split(/\r?\n/);
  // Only the last complete dump counts.
  let begin = -1;
  let done = -1;
  for (let i = 0; i < lines.length; i++) {
    const at = lines[i]!.indexOf(PREFIX);
    if (at < 0) continue;
    const body = lines[i]!.slice(at + PREFIX.length);
    if (body.startsWith('begin ')) begin = i;
    else if (body.startsWith('truth done') && begin >= 0) done = i;
    else if (body.startsWith('error')) throw new TruthError(source, `line ${i + 1}`, `the truth module reported: ${body}`);
  }
  if (begin < 0) throw new TruthError(source, '', 'no "kcarve: begin" record: the truth module never dumped');
  if (done < begin) throw new TruthError(source, `line ${begin + 1}`, 'the truth dump has no "kcarve: truth done" marker (cut short?)');

  const truth: SerialTruth = { release: '', layout: {}, pagingLevels: 0, taskStructSize: 0, taskStructAllocSize: undefined, offsets: {}, tasks: [] };
  for (let i = begin; i < done; i++) {
    const line = lines[i]!;
    const at = line.indexOf(PREFIX);
    if (at < 0) continue;
    const body = line.slice(at + PREFIX.length);
    const sp = body.indexOf(' ');
    const kind = sp < 0 ? body : body.slice(0, sp);
    const f = fields(sp < 0 ? '' : body.slice(sp + 1));
    const where = `line ${i + 1}`;
    const num = (key: string, radix: 10 | 16): number => {
      const v = f.get(key);
      const ok = radix === 16 ? /^0x[0-9a-f]+$/i.test(v ?? '') : /^-?\d+$/.test(v ?? '');
      if (!ok) throw new TruthError(source, where, `${kind} record has no valid ${key} (${JSON.stringify(v)})`);
      const n = Number(radix === 16 ? BigInt(v!) : v);
      if (!Number.isSafeInteger(n)) throw new TruthError(source, where, `${key}=${v} is out of range`);
      return n;
    };
    const big = (key: string): bigint => {
      const v = f.get(key);
      if (!/^0x[0-9a-f]+$/i.test(v ?? '')) throw new TruthError(source, where, `${kind} record has no valid ${key} (${JSON.stringify(v)})`);
      return BigInt(v!);
    };
    switch (kind) {
      case 'begin':
        truth.release = f.get('release') ?? '';
        if (f.get('version') !== '1') throw new TruthError(source, where, `unknown truth format version ${JSON.stringify(f.get('version'))}`);
        break;
      case 'layout':
        for (const [k, v] of f) {
          if (k === 'paging_levels') truth.pagingLevels = num(k, 10);
          else truth.layout[k] = big(k);
        }
        break;
      case 'offset':
        for (const [k, v] of f) {
          const m = /^task_struct\.(\w+)$/.exec(k);
          if (!m || !/^\d+$/.test(v)) throw new TruthError(source, where, `malformed offset record ${JSON.stringify(body)}`);
          if (m[1] === 'size') truth.taskStructSize = Number(v);
          else if (m[1] === 'alloc_size') truth.taskStructAllocSize = Number(v);
          else truth.offsets[m[1]!] = Number(v);
        }
        break;
      case 'task':
        truth.tasks.push(parseTask(f, source, where, i + 1, num, big));
        break;
      default:
        break; // "loaded" and future records
    }
  }
  if (truth.pagingLevels !== 4 && truth.pagingLevels !== 5) {
    throw new TruthError(source, '', `no valid paging_levels in the layout records (got ${truth.pagingLevels})`);
  }
  for (const k of ['page_offset_base', 'init_task_va', 'init_task_pa', 'init_top_pgt_pa']) {
    if (truth.layout[k] === undefined) throw new TruthError(source, '', `the layout records lack ${k}`);
  }
  for (const k of ['tasks', 'pid', 'tgid', 'comm', 'real_parent']) {
    if (truth.offsets[k] === undefined) throw new TruthError(source, '', `the offset records lack task_struct.${k}`);
  }
  if (truth.taskStructSize <= 0) throw new TruthError(source, '', 'the offset records lack task_struct.size');
  return truth;
}

function parseTask(
  f: Map<string, string>,
  source: string,
  where: string,
  line: number,
  num: (k: string, r: 10 | 16) => number,
  big: (k: string) => bigint,
): SerialTask {
  const status = f.get('status');
  if (status !== 'live' && status !== 'hidden' && status !== 'exited') {
    throw new TruthError(source, where, `task record has unknown status ${JSON.stringify(status)}`);
  }
  const commHex = f.get('comm') ?? '';
  if (!new RegExp(`^[0-9a-f]{${TASK_COMM_LEN * 2}}$`, 'i').test(commHex)) {
    throw new TruthError(source, where, `task record comm must be ${TASK_COMM_LEN} bytes of hex (got ${JSON.stringify(commHex)})`);
  }
  const commBytes = Buffer.from(commHex, 'hex');
  const nul = commBytes.indexOf(0);
  const style = f.get('style');
  if (style !== undefined && style !== 'self' && style !== 'stale' && style !== 'poison') {
    throw new TruthError(source, where, `task record has unknown style ${JSON.stringify(style)}`);
  }
  return {
    status,
    pid: num('pid', 10),
    tgid: num('tgid', 10),
    ppid: num('ppid', 10),
    leader: num('leader', 10) === 1,
    onList: num('on_list', 10) === 1,
    va: big('va'),
    pa: num('pa', 16),
    state: num('state', 16),
    exitState: num('exit_state', 16),
    flags: num('flags', 16),
    comm: commBytes.subarray(0, nul < 0 ? TASK_COMM_LEN : nul).toString('latin1'),
    commBytes,
    style,
    line,
  };
}
