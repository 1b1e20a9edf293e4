// The QMP client against a fake QMP server on a unix socket. The server's lines are
// the ones QEMU 7.2 (Debian 1:7.2+dfsg-7+deb12u18) sent while kcarve dumped a guest.
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type Server, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QmpClient, QmpError } from '../src/qemu/qmp.js';
import { EnvironmentError } from '../src/errors.js';

const GREETING =
  '{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "Debian 1:7.2+dfsg-7+deb12u18+b3"}, "capabilities": ["oob"]}}';
const STOP_EVENT = '{"timestamp": {"seconds": 1795987366, "microseconds": 287892}, "event": "STOP"}';
const DUMP_EVENT =
  '{"timestamp": {"seconds": 1795987368, "microseconds": 33223}, "event": "DUMP_COMPLETED", "data": {"result": {"total": 268697600, "status": "completed", "completed": 268697600}}}';

type Handler = (msg: Record<string, unknown>, reply: (line: string) => void, socket: Socket) => void;

interface Fake {
  path: string;
  server: Server;
  received: Record<string, unknown>[];
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});

function tempSocketPath(): string {
  const dir = mkdtempSync(join(tmpdir(), 'kcq-test-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'qmp.sock');
}

/** A QMP server that enforces capabilities negotiation as QEMU does, then calls `handle`. */
function fakeQmp(handle: Handler, path = tempSocketPath(), listenNow = true): Fake {
  const received: Record<string, unknown>[] = [];
  const server = createServer((socket) => {
    let negotiated = false;
    let buf = '';
    const reply = (line: string) => socket.write(`${line}\r\n`);
    reply(GREETING);
    socket.on('data', (chunk) => {
      buf += chunk.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const msg = JSON.parse(buf.slice(0, nl)) as Record<string, unknown>;
        buf = buf.slice(nl + 1);
        received.push(msg);
        const id = JSON.stringify(msg['id']);
        if (!negotiated) {
          if (msg['execute'] === 'qmp_capabilities') {
            negotiated = true;
            reply(`{"return": {}, "id": ${id}}`);
          } else {
            reply(`{"error": {"class": "CommandNotFound", "desc": "Expecting capabilities negotiation with 'qmp_capabilities'"}, "id": ${id}}`);
          }
          continue;
        }
        handle(msg, reply, socket);
      }
    });
  });
  if (listenNow) server.listen(path);
  cleanups.push(() => server.close());
  return { path, server, received };
}

describe('QmpClient', () => {
  it('negotiates capabilities first and exposes the greeting', async () => {
    const fake = fakeQmp((msg, reply) => reply(`{"return": {"status": "running", "running": true}, "id": ${JSON.stringify(msg['id'])}}`));
    const qmp = await QmpClient.connect(fake.path);
    cleanups.push(() => qmp.close());
    expect(qmp.greeting?.version.qemu).toEqual({ major: 7, minor: 2, micro: 22 });
    expect(fake.received[0]?.['execute']).toBe('qmp_capabilities');
    await expect(qmp.execute('query-status')).resolves.toEqual({ status: 'running', running: true });
    expect(fake.received[1]).toMatchObject({ execute: 'query-status' });
    expect(fake.received[1]?.['arguments']).toBeUndefined();
  });

  it('matches answers to commands by id, whatever their order, and passes arguments', async () => {
    const held: [Record<string, unknown>, (l: string) => void][] = [];
    const fake = fakeQmp((msg, reply) => {
      held.push([msg, reply]);
      if (held.length === 2) {
        // Answer the second command first.
        for (const [m, r] of held.reverse()) r(`{"return": ${JSON.stringify({ echo: m['arguments'] })}, "id": ${JSON.stringify(m['id'])}}`);
      }
    });
    const qmp = await QmpClient.connect(fake.path);
    cleanups.push(() => qmp.close());
    const a = qmp.execute('pmemsave', { val: 0, size: 268435456, filename: '/tmp/a.raw' });
    const b = qmp.execute('dump-guest-memory', { paging: false, protocol: 'file:/tmp/a.elf' });
    await expect(a).resolves.toEqual({ echo: { val: 0, size: 268435456, filename: '/tmp/a.raw' } });
    await expect(b).resolves.toEqual({ echo: { paging: false, protocol: 'file:/tmp/a.elf' } });
    const ids = fake.received.slice(1).map((m) => m['id']);
    expect(new Set(ids).size).toBe(2);
  });

  it('delivers events that arrive before and between answers (recorded stop + dump)', async () => {
    const fake = fakeQmp((msg, reply) => {
      const id = JSON.stringify(msg['id']);
      if (msg['execute'] === 'stop') {
        reply(`{"return": {}, "id": ${id}}`);
        reply(STOP_EVENT);
      } else if (msg['execute'] === 'dump-guest-memory') {
        reply(DUMP_EVENT); // QEMU sends the event before the answer
        reply(`{"return": {}, "id": ${id}}`);
      }
    });
    const qmp = await QmpClient.connect(fake.path);
    cleanups.push(() => qmp.close());
    const seen: string[] = [];
    const off = qmp.onEvent((e) => seen.push(e.event));
    const stopped = qmp.waitForEvent('STOP', { timeoutMs: 2000 });
    await qmp.execute('stop');
    const ev = await stopped;
    expect(ev.timestamp).toEqual({ seconds: 1795987366, microseconds: 287892 });
    const done = qmp.waitForEvent('DUMP_COMPLETED', { predicate: (e) => (e.data?.['result'] as { status: string }).status === 'completed' });
    await qmp.execute('dump-guest-memory', { paging: false, protocol: 'file:/x' });
    await expect(done).resolves.toMatchObject({ data: { result: { total: 268697600 } } });
    off();
    expect(seen).toEqual(['STOP', 'DUMP_COMPLETED']);
  });

  it('rejects an error answer with QmpError carrying class and description', async () => {
    const fake = fakeQmp((msg, reply) =>
      reply(`{"error": {"class": "GenericError", "desc": "Invalid parameter 'size'"}, "id": ${JSON.stringify(msg['id'])}}`),
    );
    const qmp = await QmpClient.connect(fake.path);
    cleanups.push(() => qmp.close());
    const err = await qmp.execute('pmemsave', { val: 0, size: -1, filename: '/x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QmpError);
    expect(err).toBeInstanceOf(EnvironmentError);
    expect((err as QmpError).errorClass).toBe('GenericError');
    expect((err as QmpError).message).toBe("qemu: QMP command pmemsave failed: GenericError: Invalid parameter 'size'");
  });

  it('rejects pending commands when QEMU closes the connection (quit)', async () => {
    const fake = fakeQmp((_msg, _reply, socket) => socket.destroy());
    const qmp = await QmpClient.connect(fake.path);
    const err = await qmp.execute('quit').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EnvironmentError);
    expect((err as Error).message).toMatch(/QMP connection .* closed while waiting for quit/);
    expect(qmp.closed).toBe(true);
    await expect(qmp.execute('query-status')).rejects.toThrow(/closed/);
  });

  it('times out a command that gets no answer', async () => {
    const fake = fakeQmp(() => {});
    const qmp = await QmpClient.connect(fake.path);
    cleanups.push(() => qmp.close());
    await expect(qmp.execute('query-status', undefined, { timeoutMs: 100 })).rejects.toThrow(
      'qemu: QMP command query-status got no answer within 100 ms',
    );
    await expect(qmp.waitForEvent('RESET', { timeoutMs: 50 })).rejects.toThrow('no QMP event RESET within 50 ms');
  });

  it('waits for a socket that QEMU has not created yet', async () => {
    const path = tempSocketPath();
    const fake = fakeQmp((msg, reply) => reply(`{"return": {}, "id": ${JSON.stringify(msg['id'])}}`), path, false);
    setTimeout(() => fake.server.listen(path), 200);
    const qmp = await QmpClient.connect(path, { waitMs: 5000 });
    cleanups.push(() => qmp.close());
    await expect(qmp.execute('cont')).resolves.toEqual({});
  });

  it('fails with the socket path when nothing listens', async () => {
    const path = tempSocketPath();
    await expect(QmpClient.connect(path, { waitMs: 100 })).rejects.toThrow(`qemu: cannot connect to QMP socket ${path}`);
  });

  it('refuses a server that sends something other than JSON', async () => {
    const fake = fakeQmp((_msg, reply) => reply('this is not json'));
    const qmp = await QmpClient.connect(fake.path);
    await expect(qmp.execute('query-status')).rejects.toThrow(/invalid JSON: this is not json/);
  });
});
