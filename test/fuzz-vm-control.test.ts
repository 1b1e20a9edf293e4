// VmControl (QMP run state and snapshots, as the fuzzing guest uses them) against a fake
// QMP server that answers with the lines QEMU 7.2 sent for the same requests
// (test/fixtures/fuzz/qmp-snapshots-7.2.json), and with a fake gdbstub that sends the stop
// reply QEMU sends after a stop.
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type Socket } from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QmpClient } from '../src/qemu/qmp.js';
import { GdbRemoteClient } from '../src/qemu/gdb-remote.js';
import { VmControl } from '../src/qemu/vm-control.js';
import { EnvironmentError } from '../src/errors.js';

interface Session {
  greeting: string;
  exchange: { request: { execute: string; arguments?: Record<string, unknown> }; replies: string[] }[];
}
const fixture = JSON.parse(readFileSync(new URL('./fixtures/fuzz/qmp-snapshots-7.2.json', import.meta.url), 'utf8')) as { without_drive: Session; with_qcow2: Session };

const cleanups: (() => void)[] = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});

/**
 * Answers each request with the recorded replies of the next recorded request with the same
 * command (and command line), the id replaced; `onCommand` sees every request.
 */
async function replayQmp(session: Session, onCommand: (execute: string) => void = () => {}): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'kfz-qmp-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'qmp.sock');
  const used = new Set<number>();
  const server = createServer((s) => {
    cleanups.push(() => s.destroy());
    s.write(`${session.greeting}\r\n`);
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const msg = JSON.parse(buf.slice(0, nl)) as { execute: string; arguments?: Record<string, unknown>; id: string };
        buf = buf.slice(nl + 1);
        onCommand(msg.execute === 'human-monitor-command' ? String(msg.arguments?.['command-line']) : msg.execute);
        const i = session.exchange.findIndex((e, k) => !used.has(k) && e.request.execute === msg.execute && JSON.stringify(e.request.arguments) === JSON.stringify(msg.arguments));
        if (i < 0) throw new Error(`no recorded answer to ${JSON.stringify(msg)}`);
        used.add(i);
        for (const line of session.exchange[i]!.replies) {
          const reply = JSON.parse(line) as Record<string, unknown>;
          if ('id' in reply) reply['id'] = msg.id;
          s.write(`${JSON.stringify(reply)}\r\n`);
        }
      }
    });
  });
  await new Promise<void>((r) => server.listen(path, () => r()));
  cleanups.push(() => server.close());
  return path;
}

describe('VmControl against recorded QEMU 7.2 answers', () => {
  it('saves and loads a snapshot on a qcow2, and stops before loading a running VM', async () => {
    const seen: string[] = [];
    const qmp = await QmpClient.connect(await replayQmp(fixture.with_qcow2, (c) => seen.push(c)));
    cleanups.push(() => qmp.close());
    const vm = new VmControl(qmp);
    expect(await vm.isRunning()).toBe(false); // -S: "prelaunch"
    // The first recorded loadvm ran before any savevm: QEMU's error text becomes an error.
    const err = await vm.loadvm('kfz').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EnvironmentError);
    expect((err as Error).message).toBe("qemu: loadvm kfz: Error: Snapshot 'kfz' does not exist in one or more devices");
    await vm.savevm('kfz');
    await vm.cont();
    await vm.restore('kfz'); // query-status says running → stop, then loadvm
    expect(seen).toEqual(['qmp_capabilities', 'query-status', 'loadvm kfz', 'savevm kfz', 'cont', 'query-status', 'stop', 'loadvm kfz']);
  });

  it('says why savevm fails without a snapshot-capable drive', async () => {
    const qmp = await QmpClient.connect(await replayQmp(fixture.without_drive));
    cleanups.push(() => qmp.close());
    await expect(new VmControl(qmp).savevm('kfz')).rejects.toThrow('savevm kfz: Error: no block device can store vmstate for snapshot');
  });

  it('takes the gdbstub\'s stop reply after a stop, before anything else is sent to the stub', async () => {
    const qmp = await QmpClient.connect(await replayQmp(fixture.with_qcow2));
    cleanups.push(() => qmp.close());
    const received: string[] = [];
    let stub: Socket | undefined;
    const gdbServer = createServer((s) => {
      stub = s;
      cleanups.push(() => s.destroy());
      s.on('data', (d) => received.push(d.toString('latin1')));
    });
    await new Promise<void>((r) => gdbServer.listen(0, '127.0.0.1', () => r()));
    cleanups.push(() => gdbServer.close());
    const gdb = await GdbRemoteClient.connect('127.0.0.1', (gdbServer.address() as { port: number }).port);
    cleanups.push(() => gdb.close());
    const vm = new VmControl(qmp, gdb, 2000);
    await vm.savevm('kfz');
    await vm.cont();
    const stopping = vm.stop();
    await new Promise((r) => setTimeout(r, 50));
    stub!.write('$T02thread:01;#04'); // what QEMU's stub sent after a QMP stop (fuzz-gdb-remote fixture)
    await stopping;
    expect(gdb.stopReplies).toEqual([]); // drained
    await new Promise((r) => setTimeout(r, 50));
    expect(received.join('')).toBe('+'); // only the ack, sent while the VM is stopped
  });
});
