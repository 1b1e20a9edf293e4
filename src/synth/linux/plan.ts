// Which tasks a Linux world has, in creation order: init_task, systemd (pid 1), kthreadd
// (pid 2) and its kernel threads, user processes in a tree under pid 1 with their threads,
// processes that exited, and which processes are hidden. Pure function of the options.
//
// As on a booted Debian system (compare the real truth.json task lists): pid 1 and
// kthreadd are children of swapper (pid 0); every other kernel thread is a child of
// kthreadd; pids are handed out in creation order with gaps (short-lived helpers);
// start_time is CLOCK_MONOTONIC ns at fork (start_boottime the same without suspend).
import { UsageError } from '../../errors.js';
import type { Prng } from '../prng.js';
import type { SynthOptions } from '../world.js';

export type TaskKind = 'init' | 'kthread' | 'user' | 'thread';
export type TaskStatus = 'live' | 'hidden' | 'exited';

export interface PlannedTask {
  /** Index in creation order. */
  readonly id: number;
  readonly kind: TaskKind;
  status: TaskStatus;
  readonly pid: number;
  readonly tgid: number;
  readonly comm: string;
  /** id of real_parent (itself for init_task). */
  readonly parent: number;
  /** id of the group leader (itself for leaders). */
  readonly leader: number;
  /** ns since boot. */
  readonly startTime: bigint;
  readonly uid: number;
}

// Kernel threads of a Debian 6.1 guest, in the order they appear (real truth.json).
const KTHREADS = [
  'rcu_gp', 'rcu_par_gp', 'slub_flushwq', 'netns', 'kworker/0:0', 'kworker/0:0H', 'kworker/u2:0', 'mm_percpu_wq',
  'rcu_tasks_kthre', 'rcu_tasks_rude_', 'rcu_tasks_trace', 'ksoftirqd/0', 'rcu_preempt', 'migration/0', 'kworker/0:1',
  'cpuhp/0', 'kdevtmpfs', 'inet_frag_wq', 'kauditd', 'khungtaskd', 'kworker/u2:1', 'oom_reaper', 'writeback',
  'kworker/u2:2', 'kcompactd0', 'ksmd', 'khugepaged', 'kintegrityd', 'kblockd', 'blkcg_punt_bio', 'tpm_dev_wq',
  'edac-poller', 'devfreq_wq', 'quota_events_un', 'kworker/0:1H', 'kswapd0', 'kthrotld', 'acpi_thermal_pm',
  'kworker/0:2', 'mld', 'ipv6_addrconf', 'kstrp', 'zswap-shrink', 'kworker/u3:0', 'scsi_eh_0', 'scsi_tmf_0',
  'jbd2/vda1-8', 'ext4-rsv-conver', 'kworker/1:0', 'kworker/1:1H', 'irq/24-virtio0', 'card0-crtc0',
];

// Long-running programs of a Debian server/desktop; comm is the first 15 bytes
// (TASK_COMM_LEN 16 with the NUL; e.g. "systemd-journal" for systemd-journald).
const PROGRAMS = [
  'systemd-journald', 'systemd-udevd', 'systemd-timesyncd', 'systemd-logind', 'dbus-daemon', 'cron', 'rsyslogd', 'sshd',
  'agetty', 'bash', 'sudo', 'python3', 'nginx', 'postgres', 'containerd', 'dockerd', 'NetworkManager', 'polkitd',
  'avahi-daemon', 'cupsd', 'chronyd', 'irqbalance', 'ModemManager', 'udisksd', 'upowerd', 'login', 'sh', 'vim', 'top',
  'less', 'tmux: server', 'ssh-agent', 'gpg-agent', 'pipewire', 'Xorg', 'gnome-shell', 'unattended-upgr', 'qemu-ga',
  'haveged', 'exim4', 'apache2', 'mysqld', 'redis-server', 'node', 'java', 'php-fpm8.2', 'dhclient', 'wpa_supplicant',
];
const THREAD_NAMES = ['gmain', 'gdbus', 'pool-0', 'worker', 'in:imklog', 'rs:main Q:Reg', 'dockerd', 'containerd', 'JIT thread', 'GC Thread#0', 'tokio-runtime-w', 'IPC I/O Parent'];

function comm(name: string): string {
  return name.slice(0, 15);
}

export interface LinuxPlan {
  readonly tasks: PlannedTask[];
}

/** Checks the counts fit a Linux world (procs counts thread-group leaders alive at the dump, init_task excluded). */
export function checkLinuxCounts(o: SynthOptions): { kthreads: number; users: number } {
  if (o.procs < 2) throw new UsageError(`--procs ${o.procs}: a Linux world needs at least 2 processes (systemd and kthreadd)`);
  const kthreads = Math.min(o.procs - 1, Math.max(1, Math.round(o.procs * 0.4)));
  const users = o.procs - kthreads;
  if (o.threads > 0 && users < 2) {
    throw new UsageError(`--threads ${o.threads}: threads need a user process besides pid 1; raise --procs (${o.procs} gives ${kthreads} kernel threads and pid 1)`);
  }
  if (o.hidden > users - 1) {
    throw new UsageError(`--hidden ${o.hidden}: only ${users - 1} user processes can be hidden with --procs ${o.procs} (${kthreads} are kernel threads, pid 1 stays visible)`);
  }
  return { kthreads, users };
}

export function planLinuxWorld(o: SynthOptions, rng: Prng): LinuxPlan {
  const { kthreads, users } = checkLinuxCounts(o);
  const tasks: PlannedTask[] = [];
  let nextPid = 1;
  let clock = 571_771_385n; // pid 1's start_time in the real train-01 image (boot to init ~0.57 s)
  const add = (t: Omit<PlannedTask, 'id' | 'pid' | 'tgid' | 'startTime'> & { tgidOf?: number }, gap = 0): PlannedTask => {
    const pid = nextPid;
    nextPid += 1 + gap;
    const id = tasks.length;
    const leaderTask = t.leader === -1 ? undefined : tasks[t.leader];
    const task: PlannedTask = {
      id,
      kind: t.kind,
      status: t.status,
      pid,
      tgid: leaderTask?.pid ?? pid,
      comm: t.comm,
      parent: t.parent,
      leader: t.leader === -1 ? id : t.leader,
      startTime: clock,
      uid: t.uid,
    };
    tasks.push(task);
    return task;
  };
  tasks.push({ id: 0, kind: 'init', status: 'live', pid: 0, tgid: 0, comm: 'swapper/0', parent: 0, leader: 0, startTime: 0n, uid: 0 });
  const systemd = add({ kind: 'user', status: 'live', comm: 'systemd', parent: 0, leader: -1, uid: 0 });
  clock += 4_000_000n;
  const kthreadd = add({ kind: 'kthread', status: 'live', comm: 'kthreadd', parent: 0, leader: -1, uid: 0 });
  for (let i = 1; i < kthreads; i += 1) {
    clock += BigInt(1_000_000 + rng.int(8_000_000));
    const name = i - 1 < KTHREADS.length ? KTHREADS[i - 1]! : `kworker/${rng.int(4)}:${i}`;
    add({ kind: 'kthread', status: 'live', comm: name, parent: kthreadd.id, leader: -1, uid: 0 }, rng.chance(0.15) ? rng.int(6) : 0);
  }

  // User processes and exited ones, interleaved in creation order. An exited process
  // sometimes had a thread (both objects exited). Exited processes lean recent: the
  // residue of older ones would have been reused by later forks.
  const userLeaders: PlannedTask[] = [systemd];
  const exitedGroups: number[] = [];
  for (let left = o.exited; left > 0; ) {
    const threads = left >= 2 && rng.chance(0.25) ? 1 : 0;
    exitedGroups.push(threads);
    left -= 1 + threads;
  }
  // Short-lived processes come in bursts (a script, a cron run), in the second half of
  // the uptime: consecutive forks fill whole slabs that are all free after they exit, as in
  // the real images (train-01: the slab at 0x2ae0000 holds three exited tasks).
  const order: (number | 'user')[] = Array<'user'>(users - 1).fill('user');
  const bursts = Math.min(exitedGroups.length, 1 + rng.int(2));
  for (let b = 0; b < bursts; b += 1) {
    const share = exitedGroups.splice(0, b === bursts - 1 ? exitedGroups.length : Math.ceil(exitedGroups.length / 2));
    order.splice(Math.floor(order.length / 2) + rng.int(Math.ceil(order.length / 2) + 1), 0, ...share);
  }
  for (const slot of order) {
    clock += BigInt(rng.int(2_000_000_000)) + 5_000_000n;
    const parent = rng.chance(0.6) ? systemd : rng.pick(userLeaders);
    const uid = rng.chance(0.7) ? 0 : 1000;
    if (slot === 'user') {
      const t = add({ kind: 'user', status: 'live', comm: comm(rng.pick(PROGRAMS)), parent: parent.id, leader: -1, uid }, rng.chance(0.3) ? rng.int(20) : 0);
      userLeaders.push(t);
      continue;
    }
    const leader = add({ kind: 'user', status: 'exited', comm: comm(rng.pick(PROGRAMS)), parent: parent.id, leader: -1, uid });
    for (let i = 0; i < slot; i += 1) {
      clock += BigInt(rng.int(50_000_000)) + 100_000n;
      add({ kind: 'thread', status: 'exited', comm: rng.chance(0.5) ? leader.comm : comm(rng.pick(THREAD_NAMES)), parent: leader.parent, leader: leader.id, uid });
    }
  }

  // Threads of live user processes, created after their leader.
  // pid 1 stays single-threaded (as systemd and the real guests' init are).
  const threadOwners = userLeaders.filter((l) => l.status === 'live' && l.pid !== 1);
  for (let i = 0; i < o.threads; i += 1) {
    const leader = rng.pick(threadOwners);
    clock += BigInt(rng.int(500_000_000)) + 1_000_000n;
    add({ kind: 'thread', status: 'live', comm: rng.chance(0.5) ? leader.comm : comm(rng.pick(THREAD_NAMES)), parent: leader.parent, leader: leader.id, uid: leader.uid });
  }

  // Hidden: user leaders other than pid 1, with all their threads.
  const candidates = rng.shuffle(userLeaders.filter((l) => l.pid !== 1));
  for (const h of candidates.slice(0, o.hidden)) {
    for (const t of tasks) if (t.leader === h.id && t.status === 'live') t.status = 'hidden';
  }
  return { tasks };
}
