// truth.json of a real Linux image, in the shared schema kcarve-truth/1
// (../shared/TRUTH.md): built from what the guest's truth module printed, plus the
// residue of exited tasks measured in the dumped image.
import { hex, phys } from '../../addr.js';
import type { PhysImage } from './phys-image.js';
import { paddedComm } from './validate.js';
import type { SerialTask, SerialTruth, TaskStatus } from './serial-truth.js';
import type { LinuxImageParams, UnlinkStyle } from './plan.js';

export const TRUTH_SCHEMA = 'kcarve-truth/1';

export interface TruthTask {
  status: TaskStatus;
  pid: number;
  tgid: number;
  ppid: number;
  comm: string;
  leader: boolean;
  on_tasks_list: boolean;
  va: string;
  pa: string;
  /** Fields of this object an attacker changed: the list members a DKOM unlink rewrote. */
  mutations: string[];
  /** Exited tasks only: are these fields still intact at pa + offset in the raw image? */
  residue?: { pid: boolean; tgid: boolean; comm: boolean };
  /** Hidden tasks: how they were unlinked (self | stale | poison). */
  unlink_style?: UnlinkStyle;
  /** task_struct.__state, exit_state and flags at the dump (0 for exited tasks). */
  state: number;
  exit_state: number;
  flags: number;
}

export interface LinuxTruth {
  schema: typeof TRUTH_SCHEMA;
  os: 'linux';
  image: { raw?: string; elf?: string; compression?: 'zstd' };
  kernel: {
    release: string;
    paging_levels: 4 | 5;
    kaslr: boolean;
    /** The booted kernel (the BTF inside it describes every layout). */
    vmlinuz: string;
    btf?: { file: string };
    cmdline: string;
  };
  layout: Record<string, string> & {
    page_offset_base: string;
    init_task_va: string;
    init_task_pa: string;
    init_top_pgt_pa: string;
  };
  /** size = sizeof(struct task_struct); alloc_size = bytes per slab object (arch_task_struct_size). */
  offsets: { task_struct: { size: number; alloc_size?: number; fields: Record<string, number> } };
  tasks: TruthTask[];
  /** How the image was made (extra keys are allowed by the schema). */
  build: {
    generator: string;
    kcarve_version: string;
    params: LinuxImageParams;
    guest_source_hash: string;
    qemu: { binary: string; accel: 'tcg' | 'kvm'; cpu: string; machine: string };
    mem_bytes: number;
    /** Exited records not kept: the object is a live/hidden task now, or was recorded again later. */
    exited_dropped: { pid: number; comm: string; pa: string; reason: string }[];
    note: string;
  };
}

/**
 * Which members of this object the hide rewrote (kcarve_truth.c hide_pid): the leader's
 * `tasks`, a thread's `thread_group` and `thread_node`. The stale style rewrites only the
 * neighbours and leaves the object itself untouched: no mutation.
 */
function mutationsOf(t: SerialTask): string[] {
  if (t.status !== 'hidden' || t.style === 'stale') return [];
  return t.leader ? ['tasks'] : ['thread_group', 'thread_node'];
}

function toTruthTask(t: SerialTask): TruthTask {
  const out: TruthTask = {
    status: t.status,
    pid: t.pid,
    tgid: t.tgid,
    ppid: t.ppid,
    comm: t.comm,
    leader: t.leader,
    on_tasks_list: t.status === 'live' && t.onList,
    va: hex(t.va),
    pa: hex(t.pa),
    mutations: mutationsOf(t),
    state: t.state,
    exit_state: t.exitState,
    flags: t.flags,
  };
  if (t.status === 'hidden' && t.style) out.unlink_style = t.style;
  return out;
}

/**
 * The tasks of a dump: live and hidden as printed; exited records whose object is now a
 * live or hidden task (a zombie still listed, or a freed task_struct reused by a later
 * task) are dropped, and of two exits at one address only the later one is kept (its
 * bytes are the ones that can survive).
 */
export function selectTasks(serial: SerialTruth): { tasks: SerialTask[]; dropped: LinuxTruth['build']['exited_dropped'] } {
  const present = serial.tasks.filter((t) => t.status !== 'exited');
  const occupied = new Set(present.map((t) => t.pa));
  const dropped: LinuxTruth['build']['exited_dropped'] = [];
  const lastExitAt = new Map<number, SerialTask>();
  for (const t of serial.tasks) {
    if (t.status !== 'exited') continue;
    if (occupied.has(t.pa)) {
      dropped.push({ pid: t.pid, comm: t.comm, pa: hex(t.pa), reason: 'the object is a live or hidden task at the dump' });
      continue;
    }
    const earlier = lastExitAt.get(t.pa);
    if (earlier) dropped.push({ pid: earlier.pid, comm: earlier.comm, pa: hex(earlier.pa), reason: 'a later exited task used the same object' });
    lastExitAt.set(t.pa, t);
  }
  const exited = serial.tasks.filter((t) => t.status === 'exited' && lastExitAt.get(t.pa) === t);
  return { tasks: [...present, ...exited], dropped };
}

/** Measure the residue of one exited task: are pid, tgid and comm still at pa + offset? */
export function measureResidue(
  image: PhysImage,
  offsets: Record<string, number>,
  t: { pa: number; pid: number; tgid: number; comm: string },
): { pid: boolean; tgid: boolean; comm: boolean } {
  const want = paddedComm(t.comm);
  const read = (off: number, len: number) => image.readPhys(phys(t.pa + off), len);
  const pid = read(offsets['pid']!, 4);
  const tgid = read(offsets['tgid']!, 4);
  const comm = read(offsets['comm']!, want.length);
  return {
    pid: pid !== undefined && pid.readInt32LE(0) === t.pid,
    tgid: tgid !== undefined && tgid.readInt32LE(0) === t.tgid,
    comm: comm !== undefined && comm.equals(want),
  };
}

export interface TruthInputs {
  serial: SerialTruth;
  params: LinuxImageParams;
  image: LinuxTruth['image'];
  vmlinuz: string;
  cmdline: string;
  kcarveVersion: string;
  guestSourceHash: string;
  qemu: LinuxTruth['build']['qemu'];
  memBytes: number;
}

/** Assemble truth.json; `raw` supplies the residue of exited tasks. */
export function buildLinuxTruth(inputs: TruthInputs, raw: PhysImage): LinuxTruth {
  const { serial } = inputs;
  const { tasks, dropped } = selectTasks(serial);
  const layout: Record<string, string> = {};
  for (const [k, v] of Object.entries(serial.layout)) layout[k] = hex(v);
  return {
    schema: TRUTH_SCHEMA,
    os: 'linux',
    image: inputs.image,
    kernel: {
      release: serial.release,
      paging_levels: serial.pagingLevels as 4 | 5,
      kaslr: inputs.params.kaslr,
      vmlinuz: inputs.vmlinuz,
      cmdline: inputs.cmdline,
    },
    layout: layout as LinuxTruth['layout'],
    offsets: {
      task_struct: {
        size: serial.taskStructSize,
        ...(serial.taskStructAllocSize !== undefined ? { alloc_size: serial.taskStructAllocSize } : {}),
        fields: { ...serial.offsets },
      },
    },
    tasks: tasks.map((t) => {
      const out = toTruthTask(t);
      if (t.status === 'exited') out.residue = measureResidue(raw, serial.offsets, t);
      return out;
    }),
    build: {
      generator: 'kcarve dataset linux',
      kcarve_version: inputs.kcarveVersion,
      params: inputs.params,
      guest_source_hash: inputs.guestSourceHash,
      qemu: inputs.qemu,
      mem_bytes: inputs.memBytes,
      exited_dropped: dropped,
      note:
        'Exited tasks are those that exited after the truth module loaded (kernel threads and ' +
        'helpers that ended earlier in boot are not recorded). The kernel is not deterministic: ' +
        'the seed fixes the workload, not pids or addresses.',
    },
  };
}
