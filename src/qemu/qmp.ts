// A client for the QEMU Machine Protocol (QMP) over a unix socket.
//
// Protocol facts (QEMU docs/interop/qmp-spec.rst, QEMU 7.2):
// - On connect the server sends a greeting {"QMP": {"version": …, "capabilities": […]}}
//   and accepts only `qmp_capabilities` until that has been executed (capabilities
//   negotiation mode).
// - A command is {"execute": NAME, "arguments": {…}, "id": ANY}; its answer is
//   {"return": …, "id"} or {"error": {"class", "desc"}, "id"}, echoing the id.
// - Asynchronous events {"event", "data", "timestamp"} may arrive at any time, between
//   or before answers.
// - Every message the server sends is one JSON object on one line (CRLF-terminated).
//
// The client is general on purpose: the image builder uses it to stop the guest and dump
// memory, the fuzzing campaigns reuse it (snapshots, stop/cont, events).
import { connect as netConnect, type Socket } from 'node:net';
import { EnvironmentError } from '../errors.js';

export interface QmpGreeting {
  version: { qemu: { major: number; minor: number; micro: number }; package: string };
  capabilities: string[];
}

export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp?: { seconds: number; microseconds: number };
}

/** QEMU answered a command with an error object. */
export class QmpError extends EnvironmentError {
  constructor(
    readonly command: string,
    readonly errorClass: string,
    readonly desc: string,
  ) {
    super('qemu', `QMP command ${command} failed: ${errorClass}: ${desc}`);
  }
}

export interface QmpConnectOptions {
  /** Keep retrying while the socket does not exist yet / refuses (QEMU starting). */
  waitMs?: number;
  /** Default timeout of each command, ms (a dump of a large guest needs more). */
  commandTimeoutMs?: number;
}

interface Pending {
  command: string;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout | undefined;
}

/** Longest line accepted from the server; a QMP answer is far smaller. */
const MAX_LINE = 64 * 1024 * 1024;

export class QmpClient {
  private buffer = '';
  private nextId = 1;
  private readonly pending = new Map<string, Pending>();
  private readonly listeners = new Set<(e: QmpEvent) => void>();
  private readonly closeWaiters = new Set<(err: Error) => void>();
  private closedError: Error | undefined;
  private greetingWaiter: { resolve: (g: QmpGreeting) => void; reject: (e: Error) => void } | undefined;
  greeting: QmpGreeting | undefined;

  private constructor(
    private readonly socket: Socket,
    readonly path: string,
    private readonly commandTimeoutMs: number,
  ) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('error', (err) => this.fail(new EnvironmentError('qemu', `QMP socket ${path}: ${err.message}`)));
    socket.on('close', () => this.fail(new EnvironmentError('qemu', `QMP connection ${path} closed`)));
  }

  /** Connect, read the greeting and leave capabilities-negotiation mode. */
  static async connect(path: string, options: QmpConnectOptions = {}): Promise<QmpClient> {
    const deadline = Date.now() + (options.waitMs ?? 0);
    for (;;) {
      try {
        const socket = await openSocket(path);
        const client = new QmpClient(socket, path, options.commandTimeoutMs ?? 30_000);
        try {
          client.greeting = await client.readGreeting(options.commandTimeoutMs ?? 30_000);
          await client.execute('qmp_capabilities');
        } catch (err) {
          client.close();
          throw err;
        }
        return client;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        const retriable = code === 'ENOENT' || code === 'ECONNREFUSED';
        if (!retriable || Date.now() >= deadline) {
          if (err instanceof EnvironmentError) throw err;
          throw new EnvironmentError('qemu', `cannot connect to QMP socket ${path}: ${(err as Error).message}`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  /** Run one command; resolves with its `return` value, rejects with QmpError. */
  execute<T = unknown>(command: string, args?: Record<string, unknown>, options: { timeoutMs?: number } = {}): Promise<T> {
    if (this.closedError) return Promise.reject(this.closedError);
    const id = `kcarve-${this.nextId++}`;
    const message: Record<string, unknown> = { execute: command, id };
    if (args !== undefined) message['arguments'] = args;
    return new Promise<T>((resolve, reject) => {
      const timeoutMs = options.timeoutMs ?? this.commandTimeoutMs;
      const timer =
        timeoutMs > 0
          ? setTimeout(() => {
              this.pending.delete(id);
              reject(new EnvironmentError('qemu', `QMP command ${command} got no answer within ${timeoutMs} ms`));
            }, timeoutMs)
          : undefined;
      this.pending.set(id, { command, resolve: resolve as (v: unknown) => void, reject, timer });
      this.socket.write(`${JSON.stringify(message)}\n`);
    });
  }

  /** Subscribe to asynchronous events; returns the unsubscribe function. */
  onEvent(listener: (e: QmpEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The next event named `name` (and matching `predicate`), or a timeout error. */
  waitForEvent(name: string, options: { timeoutMs?: number; predicate?: (e: QmpEvent) => boolean } = {}): Promise<QmpEvent> {
    if (this.closedError) return Promise.reject(this.closedError);
    return new Promise((resolve, reject) => {
      const timeoutMs = options.timeoutMs ?? this.commandTimeoutMs;
      const off = this.onEvent((e) => {
        if (e.event !== name || (options.predicate && !options.predicate(e))) return;
        cleanup();
        resolve(e);
      });
      const onClose = (err: Error) => {
        cleanup();
        reject(err);
      };
      this.closeWaiters.add(onClose);
      const timer = setTimeout(() => {
        cleanup();
        reject(new EnvironmentError('qemu', `no QMP event ${name} within ${timeoutMs} ms`));
      }, timeoutMs);
      const cleanup = () => {
        off();
        clearTimeout(timer);
        this.closeWaiters.delete(onClose);
      };
    });
  }

  /** Close the connection; pending commands are rejected. */
  close(): void {
    this.socket.destroy();
    this.fail(new EnvironmentError('qemu', `QMP connection ${this.path} closed by the client`));
  }

  get closed(): boolean {
    return this.closedError !== undefined;
  }

  private readGreeting(timeoutMs: number): Promise<QmpGreeting> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.greetingWaiter = undefined;
        this.socket.destroy();
        reject(new EnvironmentError('qemu', `no QMP greeting on ${this.path} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.greetingWaiter = {
        resolve: (g) => {
          clearTimeout(timer);
          resolve(g);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
    });
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    if (this.buffer.length > MAX_LINE) {
      this.socket.destroy();
      this.fail(new EnvironmentError('qemu', `QMP server sent a line longer than ${MAX_LINE} bytes`));
      return;
    }
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, nl).trim();
      this.buffer = this.buffer.slice(nl + 1);
      if (line !== '') this.onMessage(line);
    }
  }

  private onMessage(line: string): void {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(line) as Record<string, unknown>;
    } catch {
      this.socket.destroy();
      this.fail(new EnvironmentError('qemu', `QMP server sent invalid JSON: ${line.slice(0, 200)}`));
      return;
    }
    if ('QMP' in msg) {
      const waiter = this.greetingWaiter;
      this.greetingWaiter = undefined;
      waiter?.resolve(msg['QMP'] as QmpGreeting);
      return;
    }
    if (typeof msg['event'] === 'string') {
      for (const l of [...this.listeners]) l(msg as unknown as QmpEvent);
      return;
    }
    const id = msg['id'];
    let entry = typeof id === 'string' ? this.pending.get(id) : undefined;
    let key = id as string;
    if (!entry && id === undefined && this.pending.size === 1) {
      // QEMU answers a request it could not parse without an id; with one command in
      // flight it can only be that one.
      [key, entry] = [...this.pending.entries()][0]!;
    }
    if (!entry) return; // an answer to a command that already timed out
    this.pending.delete(key);
    if (entry.timer) clearTimeout(entry.timer);
    if ('error' in msg) {
      const e = (msg['error'] ?? {}) as { class?: string; desc?: string };
      entry.reject(new QmpError(entry.command, e.class ?? 'UnknownError', e.desc ?? '(no description)'));
    } else {
      entry.resolve(msg['return']);
    }
  }

  private fail(err: Error): void {
    if (this.closedError) return;
    this.closedError = err;
    this.greetingWaiter?.reject(err);
    this.greetingWaiter = undefined;
    for (const p of this.pending.values()) {
      if (p.timer) clearTimeout(p.timer);
      p.reject(new EnvironmentError('qemu', `${err.message} while waiting for ${p.command}`));
    }
    this.pending.clear();
    for (const w of [...this.closeWaiters]) w(err);
  }
}

function openSocket(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(path);
    const onError = (err: Error) => {
      socket.destroy();
      reject(err);
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      socket.off('error', onError);
      resolve(socket);
    });
  });
}
