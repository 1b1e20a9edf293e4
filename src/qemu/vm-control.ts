// Run state and snapshots of a QEMU guest over QMP, with the gdbstub kept quiet.
//
// Facts (QEMU 7.2, recorded in test/fixtures/fuzz/qmp-snapshots-7.2.json):
// - `savevm`/`loadvm` have no QMP command in 7.2; `human-monitor-command` runs them and
//   answers `{"return": ""}` on success and the error *text* otherwise, e.g.
//   "Error: Snapshot 'kfz' does not exist in one or more devices\r\n" or, with no qcow2
//   attached, "Error: no block device can store vmstate for snapshot\r\n".
// - `stop` and `cont` emit STOP / RESUME events; `query-status` tells whether it runs.
// - With a gdbstub client connected, every stop makes the stub send a stop reply; the
//   client must take it before it sends anything (see ./gdb-remote.ts).
import { EnvironmentError } from '../errors.js';
import type { GdbRemoteClient } from './gdb-remote.js';
import type { QmpClient } from './qmp.js';

export class VmControl {
  constructor(
    readonly qmp: QmpClient,
    readonly gdb?: GdbRemoteClient,
    /** How long to wait for the gdbstub's stop reply after a stop, ms. */
    private readonly stopReplyMs = 300,
  ) {}

  /** A human-monitor command; any text it prints is an error (savevm/loadvm print nothing on success). */
  async hmp(command: string, timeoutMs = 60_000): Promise<void> {
    const out = await this.qmp.execute<string>('human-monitor-command', { 'command-line': command }, { timeoutMs });
    if (typeof out === 'string' && out.trim() !== '') throw new EnvironmentError('qemu', `${command}: ${out.trim()}`);
  }

  savevm(tag: string): Promise<void> {
    return this.hmp(`savevm ${tag}`);
  }

  loadvm(tag: string): Promise<void> {
    return this.hmp(`loadvm ${tag}`);
  }

  async isRunning(): Promise<boolean> {
    const st = await this.qmp.execute<{ running: boolean }>('query-status');
    return st.running;
  }

  /** Stop the VM and take the gdbstub's stop reply (a byte sent while it runs would stop it). */
  async stop(): Promise<void> {
    await this.qmp.execute('stop');
    await this.gdb?.drainStopReplies(this.stopReplyMs);
  }

  async cont(): Promise<void> {
    await this.qmp.execute('cont');
  }

  /** Stop if running, then load the snapshot: the VM is left stopped. */
  async restore(tag: string): Promise<void> {
    if (await this.isRunning()) await this.stop();
    await this.loadvm(tag);
  }
}
