/**
 * A QMP client: greeting, capabilities negotiation, commands matched to
 * replies by id, and events. QEMU allows one client per QMP socket; hostd
 * keeps this connection open for the life of the VM and learns from its
 * events and its close how and when QEMU went away.
 */
import { EventEmitter } from "node:events";
import * as net from "node:net";
import { z } from "zod";
import { readLines } from "../../sdk/transport/framing";

export class QmpError extends Error {
  override readonly name = "QmpError";
  constructor(
    readonly command: string,
    readonly errorClass: string,
    desc: string,
  ) {
    super(`QMP ${command}: ${errorClass}: ${desc}`);
  }
}

const Greeting = z.object({ QMP: z.object({ version: z.object({ qemu: z.object({ major: z.int(), minor: z.int(), micro: z.int() }) }) }) });
const Reply = z.union([
  z.object({ return: z.unknown(), id: z.string() }),
  z.object({ error: z.object({ class: z.string(), desc: z.string() }), id: z.string() }),
]);
export const QmpEvent = z.object({ event: z.string(), data: z.record(z.string(), z.unknown()).optional(), timestamp: z.unknown().optional() });
export type QmpEvent = z.infer<typeof QmpEvent>;

export interface QmpClientEvents {
  event: [QmpEvent];
  close: [];
}

/** Sees each QMP line: `->` sent to QEMU, `<-` received. */
export type QmpTrace = (direction: "->" | "<-", line: string) => void;

export class QmpClient extends EventEmitter<QmpClientEvents> {
  private nextId = 0;
  private pending = new Map<string, { cmd: string; resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private closed = false;
  version = "";

  private constructor(
    private readonly sock: net.Socket,
    private readonly trace?: QmpTrace,
  ) {
    super();
  }

  /** Connects, reads the greeting and negotiates capabilities; `trace` sees every line both ways (tests' QMP transcripts). */
  static connect(path: string, timeoutMs = 5000, trace?: QmpTrace): Promise<QmpClient> {
    return new Promise((resolve, reject) => {
      const sock = net.createConnection(path);
      const client = new QmpClient(sock, trace);
      let greeted = false;
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new Error(`QMP ${path}: no greeting within ${timeoutMs} ms (is another client attached?)`));
      }, timeoutMs);
      sock.once("error", (e) => {
        clearTimeout(timer);
        if (!greeted) reject(e);
      });
      readLines(sock, {
        onLine: (line) => {
          trace?.("<-", line);
          let msg: unknown;
          try {
            msg = JSON.parse(line);
          } catch {
            return;
          }
          if (!greeted) {
            const g = Greeting.safeParse(msg);
            if (!g.success) return;
            greeted = true;
            const v = g.data.QMP.version.qemu;
            client.version = `${v.major}.${v.minor}.${v.micro}`;
            client.execute("qmp_capabilities").then(
              () => {
                clearTimeout(timer);
                resolve(client);
              },
              (e: Error) => {
                clearTimeout(timer);
                reject(e);
              },
            );
            return;
          }
          client.onMessage(msg);
        },
        // QEMU writes its JSON as ASCII (\u escapes), so such a line is not QMP's: skipped like one that is not JSON.
        onNotUtf8: () => undefined,
        onStop: () => sock.destroy(),
      });
      sock.on("close", () => client.onClose());
    });
  }

  execute(cmd: string, args?: Record<string, unknown>): Promise<unknown> {
    if (this.closed) return Promise.reject(new Error(`QMP ${cmd}: connection closed`));
    const id = `h${++this.nextId}`;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { cmd, resolve, reject });
      const line = JSON.stringify(args ? { execute: cmd, arguments: args, id } : { execute: cmd, id });
      this.trace?.("->", line);
      this.sock.write(line + "\n");
    });
  }

  /**
   * Resolves with the first event named `name` that `match` accepts, or
   * rejects after `timeoutMs`. Register before issuing the command that
   * triggers it.
   */
  waitEvent(name: string, match: (ev: QmpEvent) => boolean, timeoutMs: number): Promise<QmpEvent> {
    return new Promise((resolve, reject) => {
      const onEvent = (ev: QmpEvent) => {
        if (ev.event !== name || !match(ev)) return;
        cleanup();
        resolve(ev);
      };
      const onClose = () => {
        cleanup();
        reject(new Error(`QMP closed while waiting for ${name}`));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`no ${name} event within ${timeoutMs} ms`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.off("event", onEvent);
        this.off("close", onClose);
      };
      this.on("event", onEvent);
      this.on("close", onClose);
    });
  }

  close(): void {
    this.sock.destroy();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private onMessage(msg: unknown): void {
    const ev = QmpEvent.safeParse(msg);
    if (ev.success && "event" in (msg as object)) {
      this.emit("event", ev.data);
      return;
    }
    const r = Reply.safeParse(msg);
    if (!r.success) return;
    const p = this.pending.get(r.data.id);
    if (!p) return;
    this.pending.delete(r.data.id);
    if ("error" in r.data) p.reject(new QmpError(p.cmd, r.data.error.class, r.data.error.desc));
    else p.resolve(r.data.return);
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.pending.values()) p.reject(new Error(`QMP ${p.cmd}: connection closed (QEMU exited?)`));
    this.pending.clear();
    this.emit("close");
  }
}
