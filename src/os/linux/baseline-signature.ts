// The baseline: what Volatility 3's `linux.psscan` checks, as a kcarve signature,
// so that a scan can show both side by side. Facts from volatility3
// volatility3/framework/plugins/linux/psscan.py (PsScan 2.0.0, scan_tasks):
//  - the needle: the 8-byte address of any kernel symbol whose name contains
//    `_sched_class` (shifted by the KASLR offset), searched byte by byte in the
//    physical layer; the task_struct starts sched_class's offset before a hit;
//  - exit_state must be one of TASK_RUNNING 0, EXIT_DEAD 0x10, EXIT_ZOMBIE 0x20,
//    EXIT_TRACE 0x30;
//  - 0 < pid < 65535.
// kcarve scans without symbols, so the needle becomes "sched_class is an 8-byte
// aligned pointer into the kernel-image map" (every *_sched_class symbol is one);
// with symbols Volatility's needle is a few exact values, so this baseline accepts a
// superset of what psscan's needle accepts. Hits are taken every 8 bytes: an exact
// 8-byte kernel pointer needle only occurs at the fields that hold it.
import type { Layout } from '../../types/layout.js';
import type { SignatureDoc } from '../../signatures/format.js';
import { EXIT_DEAD, EXIT_TRACE, EXIT_ZOMBIE } from './kernel-facts.js';

const PSSCAN = 'volatility3 volatility3/framework/plugins/linux/psscan.py, PsScan 2.0.0 scan_tasks (github.com/volatilityfoundation/volatility3, commit 11da6211)';

export function volatilityPsscanBaseline(layout: Layout, options: { layoutRef?: string; build?: string; command?: string } = {}): SignatureDoc {
  layout.member('task_struct', 'sched_class'); // throws LayoutError naming the layout when absent
  return {
    schema: 'kcarve-signature/1',
    name: 'linux-task_struct-baseline-volatility-psscan',
    version: '1.0.0',
    description:
      "Reproduces Volatility 3 linux.psscan's checks: a sched_class needle, a known exit_state, 0 < pid < 65535. No graph edges. The needle without symbols: any 8-byte aligned kernel-image pointer.",
    target: {
      os: 'linux',
      type: 'task_struct',
      build: options.build ?? 'generic',
      ...(options.layoutRef !== undefined ? { layout: options.layoutRef } : {}),
    },
    alignment: 8,
    baseline: true,
    constraints: [
      {
        field: 'sched_class',
        kind: 'mask',
        mask: '0xffffffffc0000007',
        value: '0xffffffff80000000',
        provenance: {
          source: 'baseline',
          note: `${PSSCAN}: needle = addresses of the *_sched_class symbols; without symbols, an 8-byte aligned pointer into the kernel-image map 0xffffffff80000000 + 1 GiB`,
        },
      },
      {
        field: 'exit_state',
        kind: 'set',
        values: ['0x0', `0x${EXIT_DEAD.toString(16)}`, `0x${EXIT_ZOMBIE.toString(16)}`, `0x${EXIT_TRACE.toString(16)}`],
        provenance: { source: 'baseline', note: `${PSSCAN}: DescExitStateEnum(task.exit_state) must not raise` },
      },
      {
        field: 'pid',
        kind: 'range',
        min: '1',
        max: '65534',
        provenance: { source: 'baseline', note: `${PSSCAN}: 0 < task.pid < 65535 (a folklore bound: PID_MAX_LIMIT is 4194304)` },
      },
    ],
    edges: [],
    provenance: {
      ...(options.command !== undefined ? { command: options.command } : {}),
      robustness: 'unproven',
      notes: [
        `reproduces ${PSSCAN}`,
        'deviation: the needle is a pointer-shape test (no symbols needed) instead of exact symbol addresses; candidates every 8 bytes instead of every byte',
        'by construction it misses init_task (pid 0) and any task whose pid an attacker sets to 0 or above 65534',
      ],
    },
  };
}
