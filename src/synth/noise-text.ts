// Text pages: what a kernel's memory holds in ASCII — the printk ring buffer, process
// environments and argument vectors, file paths from the dentry and page caches,
// configuration files. Process names appear here in real memory too, which is what makes
// a name-string scan imprecise.
import type { NoiseEnv, TemplatePage } from './noise.js';
import type { Prng } from './prng.js';
import { PAGE_SIZE } from './memory-map.js';

const SUBSYSTEMS = ['usb 1-1', 'ata1.00', 'e1000e 0000:00:02.0', 'virtio_net virtio0', 'EXT4-fs (vda1)', 'systemd[1]', 'audit', 'NET', 'ACPI', 'pci 0000:00:1f.2', 'input', 'random', 'clocksource', 'rcu', 'Freeing unused kernel image'];
const MESSAGES = [
  'new high-speed USB device number 2 using xhci_hcd',
  'mounted filesystem with ordered data mode. Quota mode: none.',
  'Link is Up - 1000Mbps/Full - flow control off',
  'Registered protocol family 10',
  'type=1400 audit(1700000000.123:42): apparmor="STATUS" operation="profile_load"',
  'Started Journal Service.',
  'crng init done',
  'Switched to clocksource tsc',
  'ATA-7: QEMU HARDDISK, 2.5+, max UDMA/100',
  'link up, 1.5 Gbps (SStatus 113 SControl 300)',
  'Adding 1048572k swap on /dev/vda5.',
  'segfault at 0 ip 000055d5c2a1b2c4 sp 00007ffd4b9e2f10 error 4',
];
const PATHS = ['/usr/bin/', '/usr/sbin/', '/usr/lib/x86_64-linux-gnu/', '/etc/', '/var/log/', '/run/systemd/', '/proc/self/', '/sys/fs/cgroup/', '/home/user/', '/tmp/', '/dev/'];
const FILES = ['libc.so.6', 'ld-linux-x86-64.so.2', 'passwd', 'resolv.conf', 'journal', 'notify', 'status', 'cmdline', 'syslog', 'auth.log', 'ssh_config', 'bashrc', 'null', 'pts/0'];
const ENV = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/root', 'TERM=linux', 'LANG=C.UTF-8', 'SHELL=/bin/bash', 'USER=root', 'LOGNAME=root', 'PWD=/', 'SHLVL=1', 'INVOCATION_ID=5f1c0e9b2a6d4c3e8f7a1b2c3d4e5f60', 'JOURNAL_STREAM=8:12345'];
/**
 * How often a text string names one of the world's own words (its processes). Calibrated on
 * the real 256 MiB guests: a search for the truth's process names finds 7-20 hits per task
 * there (bench/synth-naive.ts on datasets/build/train); a rate of a few percent gives the
 * same order on a default world, where templates repeat across pages.
 */
const WORLD_WORD_RATE = 0.01;
const PROGRAMS = ['systemd', 'systemd-journald', 'systemd-udevd', 'sshd', 'cron', 'rsyslogd', 'dbus-daemon', 'agetty', 'bash', 'sh', 'login', 'kworker/0:1', 'ksoftirqd/0', 'python3', 'nginx', 'postgres'];

function logLine(rng: Prng, env: NoiseEnv): string {
  const secs = rng.int(5000);
  const micros = String(rng.int(1e6)).padStart(6, '0');
  const who = rng.chance(WORLD_WORD_RATE) && env.words.length > 0 ? `${rng.pick(env.words)}[${1 + rng.int(30000)}]` : rng.pick(SUBSYSTEMS);
  return `[${String(secs).padStart(5, ' ')}.${micros}] ${who}: ${rng.pick(MESSAGES)}\n`;
}

function path(rng: Prng, env: NoiseEnv): string {
  const file = rng.chance(WORLD_WORD_RATE) && env.words.length > 0 ? rng.pick(env.words) : rng.pick(FILES);
  return `${rng.pick(PATHS)}${file}\0`;
}

/** An argv/envp block as it sits at the top of a process stack: NUL-separated strings. */
function argvBlock(rng: Prng, env: NoiseEnv): string {
  const prog = rng.chance(WORLD_WORD_RATE) && env.words.length > 0 ? rng.pick(env.words) : rng.pick(PROGRAMS);
  const args = [prog, ...Array.from({ length: rng.int(4) }, () => rng.pick(['-D', '--daemon', '-f', '/etc/ssh/sshd_config', '-n', '--system', '-q']))];
  const envs = Array.from({ length: 2 + rng.int(6) }, () => rng.pick(ENV));
  return `${[...args, ...envs].join('\0')}\0`;
}

export function textTemplate(rng: Prng, env: NoiseEnv, page: TemplatePage): void {
  const style = rng.int(3);
  let at = 0;
  while (at < PAGE_SIZE) {
    let s: string;
    if (style === 0) s = logLine(rng, env);
    else if (style === 1) s = rng.chance(0.5) ? argvBlock(rng, env) : path(rng, env);
    else s = rng.chance(0.2) ? logLine(rng, env) : rng.chance(0.5) ? path(rng, env) : argvBlock(rng, env);
    at += page.ascii(at, s);
    if (style === 1) at = (at + 7) & ~7; // page-cache / slab strings sit on aligned slots
  }
}

/** Names of common Linux programs, for worlds to draw process names and decoys from. */
export const COMMON_PROGRAMS: readonly string[] = PROGRAMS;
