// A client for the GDB remote serial protocol (RSP), as far as a fuzzing campaign needs
// it: read and write guest memory of a stopped QEMU guest, ask why it stopped.
//
// Protocol facts (GDB manual, "Remote Protocol": Overview, Packets, Stop Reply Packets):
// - A packet is `$` data `#` two hex digits of the modulo-256 sum of the data bytes. The
//   receiver answers `+` (good) or `-` (resend). In data, `#`, `$`, `}` and `*` are
//   escaped as `}` followed by the byte XOR 0x20; a reply may be run-length encoded:
//   `X*n` repeats X (n - 29) more times.
// - `m ADDR,LEN` answers hex bytes or `E NN`; `M ADDR,LEN:HEX` answers `OK` or `E NN`;
//   `?` answers a stop reply (`S NN` or `T NN…`).
// - QEMU's gdbstub (7.2, gdbstub.c) adds `Qqemu.PhyMemMode:1`: from then on `m`/`M` take
//   guest *physical* addresses. A virtual read goes through the current vCPU's page
//   tables, which under KPTI may lack the kernel's direct map while the vCPU is in user
//   mode; a physical read does not depend on what the vCPU was doing.
//
// Facts found on QEMU 7.2 under TCG (issue 8): there is no no-ack mode; connecting stops
// the VM; any byte received while the VM runs stops it (even a `+`). So talk to the stub
// only between QMP `stop` and `cont`, and after each `stop` drain the stop reply QEMU
// sends (`T02…`) before anything else. Without TCP_NODELAY every small write waits for
// the peer's delayed ACK (≈ 40 ms); with it a memory write takes ≈ 0.1–0.2 ms.
import { connect as tcpConnect, type Socket } from 'node:net';
import { hex, type PhysAddr, type VirtAddr } from '../addr.js';
import { EnvironmentError } from '../errors.js';

/** The stub answered `E NN` to a memory access (e.g. 14 = EFAULT: unmapped address). */
export class GdbRemoteError extends EnvironmentError {
  constructor(
    readonly request: string,
    readonly code: number | undefined,
    readonly reply: string,
  ) {
    super('gdbstub', `${request}: ${code !== undefined ? `error E${code.toString(16).padStart(2, '0')}` : `unexpected reply ${JSON.stringify(reply.slice(0, 80))}`}`);
  }
}

export interface GdbConnectOptions {
  /** Keep retrying while the port refuses (QEMU starting), ms. */
  waitMs?: number;
  /** Per-request timeout, ms. */
  timeoutMs?: number;
}

/** Bytes per `m`/`M` packet: QEMU 7.2's packet buffer is 4096 bytes of hex text. */
export const GDB_CHUNK = 1024;

/** A stop reply: `S05`, `T02thread:p01.01;`. */
export function isStopReply(payload: string): boolean {
  return /^[ST][0-9a-fA-F]{2}/.test(payload);
}

export function checksum(data: Buffer): string {
  let sum = 0;
  for (const b of data) sum = (sum + b) & 0xff;
  return sum.toString(16).padStart(2, '0');
}

/** Frame `data` as a packet, escaping the four special bytes. */
export function encodePacket(data: string): Buffer {
  const raw = Buffer.from(data, 'latin1');
  const out: number[] = [];
  for (const b of raw) {
    if (b === 0x23 || b === 0x24 || b === 0x7d || b === 0x2a) out.push(0x7d, b ^ 0x20);
    else out.push(b);
  }
  const body = Buffer.from(out);
  return Buffer.concat([Buffer.from('$'), body, Buffer.from(`#${checksum(body)}`)]);
}

/** Undo escapes and run-length encoding of a received packet body. */
export function decodeBody(body: Buffer): string {
  const out: number[] = [];
  for (let i = 0; i < body.length; i++) {
    const b = body[i]!;
    if (b === 0x7d && i + 1 < body.length) {
      out.push(body[++i]! ^ 0x20);
    } else if (b === 0x2a && out.length > 0 && i + 1 < body.length) {
      const n = body[++i]! - 29;
      const prev = out[out.length - 1]!;
      for (let k = 0; k < n; k++) out.push(prev);
    } else {
      out.push(b);
    }
  }
  return Buffer.from(out).toString('latin1');
}

interface Waiter {
  accept: (payload: string) => boolean;
  resolve: (payload: string) => void;
  reject: (err: Error) => void;
}

export class GdbRemoteClient {
  private buf: Buffer = Buffer.alloc(0);
  private waiter: Waiter | undefined;
  private lastSent: Buffer | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private closedError: Error | undefined;
  private physMode = false;
  /** Stop replies that arrived while no request expected one (newest last). */
  readonly stopReplies: string[] = [];
  private stopWaiters: ((s: string) => void)[] = [];
  /** Packets with a bad checksum that were nacked (for tests and diagnostics). */
  nacked = 0;

  private constructor(
    private readonly socket: Socket,
    readonly address: string,
    private readonly timeoutMs: number,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('error', (err) => this.fail(new EnvironmentError('gdbstub', `${address}: ${err.message}`)));
    socket.on('close', () => this.fail(new EnvironmentError('gdbstub', `connection to ${address} closed`)));
  }

  static async connect(host: string, port: number, options: GdbConnectOptions = {}): Promise<GdbRemoteClient> {
    const deadline = Date.now() + (options.waitMs ?? 0);
    for (;;) {
      try {
        const socket = await new Promise<Socket>((resolve, reject) => {
          const s = tcpConnect({ host, port });
          s.once('error', (e) => {
            s.destroy();
            reject(e);
          });
          s.once('connect', () => {
            s.removeAllListeners('error');
            resolve(s);
          });
        });
        return new GdbRemoteClient(socket, `${host}:${port}`, options.timeoutMs ?? 10_000);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ECONNREFUSED' || Date.now() >= deadline) {
          throw new EnvironmentError('gdbstub', `cannot connect to ${host}:${port}: ${(err as Error).message}`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  get closed(): boolean {
    return this.closedError !== undefined;
  }

  close(): void {
    this.socket.destroy();
    this.fail(new EnvironmentError('gdbstub', `connection to ${this.address} closed by the client`));
  }

  /** Send one packet and resolve with the first reply `accept` takes (others are stop replies or dropped). */
  request(data: string, accept: (payload: string) => boolean = (p) => !isStopReply(p)): Promise<string> {
    const run = () =>
      new Promise<string>((resolve, reject) => {
        if (this.closedError) return reject(this.closedError);
        const timer = setTimeout(() => {
          this.waiter = undefined;
          reject(new EnvironmentError('gdbstub', `no reply to ${JSON.stringify(data.slice(0, 40))} from ${this.address} within ${this.timeoutMs} ms`));
        }, this.timeoutMs);
        this.waiter = {
          accept,
          resolve: (p) => {
            clearTimeout(timer);
            resolve(p);
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        };
        this.lastSent = encodePacket(data);
        this.socket.write(this.lastSent);
      });
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }

  /**
   * Wait up to `ms` for a stop reply (QEMU sends one after every QMP `stop`), and return
   * all that are queued. Call it after `stop`, before any other request.
   */
  async drainStopReplies(ms: number): Promise<string[]> {
    if (this.stopReplies.length === 0 && ms > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, ms);
        const w = () => done();
        function done() {
          clearTimeout(t);
          resolve();
        }
        this.stopWaiters.push(w);
      });
    }
    return this.stopReplies.splice(0);
  }

  /** `?`: why the target stopped (a stop reply). */
  haltReason(): Promise<string> {
    return this.request('?', isStopReply);
  }

  /** Switch `m`/`M` between physical (QEMU extension) and virtual addressing. */
  async setPhysicalMode(on: boolean): Promise<void> {
    if (this.physMode === on) return;
    const r = await this.request(`Qqemu.PhyMemMode:${on ? 1 : 0}`);
    if (r !== 'OK') throw new GdbRemoteError(`Qqemu.PhyMemMode:${on ? 1 : 0}`, undefined, r);
    this.physMode = on;
  }

  async readPhys(addr: PhysAddr, length: number): Promise<Buffer> {
    await this.setPhysicalMode(true);
    return this.readMem(BigInt(addr), length);
  }

  async writePhys(addr: PhysAddr, data: Uint8Array): Promise<void> {
    await this.setPhysicalMode(true);
    return this.writeMem(BigInt(addr), data);
  }

  async readVirt(addr: VirtAddr, length: number): Promise<Buffer> {
    await this.setPhysicalMode(false);
    return this.readMem(addr, length);
  }

  async writeVirt(addr: VirtAddr, data: Uint8Array): Promise<void> {
    await this.setPhysicalMode(false);
    return this.writeMem(addr, data);
  }

  private async readMem(addr: bigint, length: number): Promise<Buffer> {
    if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`bad read length ${length}`);
    const parts: Buffer[] = [];
    for (let done = 0; done < length; ) {
      const n = Math.min(GDB_CHUNK, length - done);
      const req = `m${(addr + BigInt(done)).toString(16)},${n.toString(16)}`;
      const reply = await this.request(req);
      if (/^E[0-9a-fA-F]{2}$/.test(reply)) throw new GdbRemoteError(`read ${n} bytes at ${hex(addr + BigInt(done))}`, parseInt(reply.slice(1), 16), reply);
      if (reply.length !== n * 2 || !/^[0-9a-fA-F]*$/.test(reply)) throw new GdbRemoteError(`read ${n} bytes at ${hex(addr + BigInt(done))}`, undefined, reply);
      parts.push(Buffer.from(reply, 'hex'));
      done += n;
    }
    return Buffer.concat(parts);
  }

  private async writeMem(addr: bigint, data: Uint8Array): Promise<void> {
    for (let done = 0; done < data.length; ) {
      const n = Math.min(GDB_CHUNK, data.length - done);
      const a = addr + BigInt(done);
      const req = `M${a.toString(16)},${n.toString(16)}:${Buffer.from(data.subarray(done, done + n)).toString('hex')}`;
      const reply = await this.request(req);
      if (reply !== 'OK') {
        throw new GdbRemoteError(`write ${n} bytes at ${hex(a)}`, /^E[0-9a-fA-F]{2}$/.test(reply) ? parseInt(reply.slice(1), 16) : undefined, reply);
      }
      done += n;
    }
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    for (;;) {
      if (this.buf.length === 0) return;
      const c = this.buf[0]!;
      if (c === 0x2b /* + */) {
        this.buf = this.buf.subarray(1);
        continue;
      }
      if (c === 0x2d /* - */) {
        this.buf = this.buf.subarray(1);
        if (this.lastSent) this.socket.write(this.lastSent);
        continue;
      }
      if (c !== 0x24 /* $ */ && c !== 0x25 /* % notification */) {
        this.buf = this.buf.subarray(1); // line noise between packets
        continue;
      }
      const hash = this.buf.indexOf(0x23 /* # */, 1);
      if (hash < 0 || this.buf.length < hash + 3) {
        if (this.buf.length > 1 << 20) this.fail(new EnvironmentError('gdbstub', `${this.address} sent an unterminated packet longer than 1 MiB`));
        return;
      }
      const body = this.buf.subarray(1, hash);
      const sum = this.buf.subarray(hash + 1, hash + 3).toString('latin1');
      this.buf = this.buf.subarray(hash + 3);
      if (c === 0x25) continue; // non-stop notifications are not acked and not used
      if (sum.toLowerCase() !== checksum(body)) {
        this.nacked++;
        this.socket.write('-');
        continue;
      }
      this.socket.write('+');
      this.onPacket(decodeBody(body));
    }
  }

  private onPacket(payload: string): void {
    const w = this.waiter;
    if (w && w.accept(payload)) {
      this.waiter = undefined;
      w.resolve(payload);
      return;
    }
    if (isStopReply(payload)) {
      this.stopReplies.push(payload);
      for (const s of this.stopWaiters.splice(0)) s(payload);
    }
  }

  private fail(err: Error): void {
    if (this.closedError) return;
    this.closedError = err;
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(err);
    for (const s of this.stopWaiters.splice(0)) s('');
  }
}
