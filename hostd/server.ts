/**
 * hostd's edge: accepts connections on the unix socket, parses each frame,
 * validates it against the protocol, dispatches to a handler and maps every
 * error to the wire in one place. It holds no rules of its own.
 */
import { createHash, randomBytes } from "node:crypto";
import * as net from "node:net";
import type { Duplex } from "node:stream";
import { z } from "zod";
import { KvmError } from "../sdk/errors";
import { AnyMethod, ErrorBody, MAX_FRAME_BYTES, ParamsOut, RequestEnvelope, ResultOf } from "../sdk/protocol";
import { readLines } from "../sdk/transport/framing";
import { inRequest, Logger } from "./log";
import type { PeerCred } from "./peer";

/**
 * What one connection, and one peer, may hold of hostd: without these, a
 * member of hostd's group could open connections without end, leave them
 * idle, or start 1 MiB frames and never finish them, and hostd would keep
 * all of it.
 */
export interface ConnectionLimits {
  /** A frame must reach its newline this long after its first byte; otherwise it is refused and the connection closed. */
  frameTimeoutMs: number;
  /** A connection with no call running, no stream attached and no bytes coming for this long is closed. */
  idleTimeoutMs: number;
  /** Connections one uid (SO_PEERCRED) may have open at once; one more is refused with `too_many_connections`. */
  maxConnectionsPerPeer: number;
  /** uids the per-peer limit does not apply to. */
  unlimitedUids: readonly number[];
  /** How long a connection hostd hangs up on (with an error) has to read it and close its side. */
  hangUpGraceMs: number;
}

/**
 * - 30 s per frame: clients write a request in one go, and even a full 1 MiB
 *   frame arrives in that time over a link of 300 kbit/s.
 * - 10 min idle: hostd's clients open a connection per call and send the
 *   request at once, so an idle connection is a forgotten one, or a person
 *   typing requests into socat, who gets ten minutes between two.
 * - 64 per peer: every concurrent call is one connection, and
 *   `pulumi up --parallel 50` (docs/reliability.md) stays below it; 64 times
 *   the frame limit caps what one user can make hostd buffer at 64 MiB.
 * - root is not limited: it owns hostd (it can kill it, read its database
 *   and the VMs' disks), so a limit would stop no attack by root, only lock
 *   the operator's own tools out (`hostd vm list`, a provider logged in as
 *   root) while a runaway root program held the slots. The frame and idle
 *   timeouts still close root's stuck and forgotten connections.
 * - 5 s to read a last error: a client reads its reply at once; one that
 *   keeps its side open holds a descriptor of hostd's no longer than that.
 */
export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  frameTimeoutMs: 30_000,
  idleTimeoutMs: 600_000,
  maxConnectionsPerPeer: 64,
  unlimitedUids: [0],
  hangUpGraceMs: 5_000,
};

/** A peer over its limit gets one warning at once, then at most one a minute with the count refused meanwhile. */
const REFUSAL_LOG_INTERVAL_MS = 60_000;

/** One accepted connection, as the frame handler sees it. */
interface Conn {
  sock: net.Socket;
  peer?: PeerCred;
  /** Makes the connection a byte stream: no more frames, no idle timer. */
  upgrade(): void;
}

export interface RequestContext {
  requestId: string;
  log: Logger;
  /** Who is calling (the kernel's word for the connection's peer), when hostd could ask; services check host paths as this caller. */
  peer?: PeerCred;
}

type Handler = (params: unknown, ctx: RequestContext) => Promise<unknown>;
/** A method that turns the connection into a byte stream to what it opens (the serial console). */
type StreamOpener = (params: unknown, ctx: RequestContext) => Promise<Duplex>;

/** Where replies of mutating calls are kept by idempotency key (hostd's store). */
export interface ReplyStore {
  get(key: string): { method: string; paramsSha256: string; reply: string } | undefined;
  put(key: string, method: string, paramsSha256: string, reply: string): void;
}

/** A reply as kept for replays: result or wire error. */
type Reply = { result: unknown } | { error: KvmError };

export interface ServerOptions {
  /** Who is on the other end of a new connection (SO_PEERCRED), when hostd can ask. */
  peerOf?: (sock: net.Socket) => PeerCred;
  /** Says why a peer may not drive hostd, or nothing when it may. */
  authorize?: (peer: PeerCred) => string | undefined;
  replies?: ReplyStore;
  /** Defaults: {@link DEFAULT_CONNECTION_LIMITS}. */
  limits?: Partial<ConnectionLimits>;
  /** Called as each connection closes, with the bytes it sent (hostd returns memory to the kernel after bursts). */
  onConnectionClosed?: (bytesRead: number) => void;
  /**
   * Fault injection for tests of lost replies: hold the reply of these methods for this long
   * after the work is done (HOSTD_FAULT_REPLY_DELAY="vm.create=2000,..."; never set in production).
   */
  replyDelayMs?: Record<string, number>;
}

export class Server {
  private readonly handlers = new Map<string, { method: AnyMethod; fn: Handler; open?: StreamOpener }>();
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly limits: ConnectionLimits;
  /** Open connections per limited uid. */
  private readonly perPeer = new Map<number, number>();
  /** Refusals over the per-peer limit not yet logged, per uid, while its log window is open. */
  private readonly refusals = new Map<number, { count: number; timer: NodeJS.Timeout }>();

  /** Mutating calls running now, by idempotency key: a retry joins the first call. */
  private readonly inflight = new Map<string, { method: string; paramsSha256: string; reply: Promise<Reply> }>();

  constructor(
    private readonly log: Logger,
    private readonly o: ServerOptions = {},
  ) {
    this.limits = { ...DEFAULT_CONNECTION_LIMITS, ...o.limits };
  }

  handle<M extends AnyMethod>(method: M, fn: (params: ParamsOut<M>, ctx: RequestContext) => Promise<ResultOf<M>>): void {
    this.handlers.set(method.name, { method, fn: fn as Handler });
  }

  /**
   * A streaming method: after its `{attached: true}` reply, the connection carries raw bytes
   * to and from the stream `open` returns, until either side closes.
   */
  handleStream<M extends AnyMethod>(method: M, open: (params: ParamsOut<M>, ctx: RequestContext) => Promise<Duplex>): void {
    this.handlers.set(method.name, { method, fn: async () => ({ attached: true }), open: open as StreamOpener });
  }

  /** Serves on an already-listening or new net.Server bound to `socketPath`. */
  listen(socketPath: string): Promise<void> {
    return new Promise((resolve, reject) => {
      // allowHalfOpen: a client may shut down its side after its last request (socat, nc -N)
      // and still gets every reply; hostd ends the connection once they are all written.
      const srv = net.createServer({ allowHalfOpen: true }, (sock) => this.onConnection(sock));
      srv.once("error", reject);
      srv.listen(socketPath, () => {
        srv.removeListener("error", reject);
        this.server = srv;
        resolve();
      });
    });
  }

  /** Connections open now, hangs-ups still in their grace period included. */
  get openConnections(): number {
    return this.sockets.size;
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    for (const r of this.refusals.values()) clearTimeout(r.timer);
    this.refusals.clear();
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private onConnection(sock: net.Socket): void {
    this.sockets.add(sock);
    sock.on("close", () => {
      this.sockets.delete(sock);
      this.o.onConnectionClosed?.(sock.bytesRead);
    });
    sock.on("error", () => undefined);
    let denied: string | undefined;
    let peer: PeerCred | undefined;
    try {
      peer = this.o.peerOf?.(sock);
      if (peer && this.o.authorize) denied = this.o.authorize(peer);
    } catch (e) {
      denied = `its credentials could not be read (${(e as Error).message})`;
    }
    if (denied) {
      this.log.warn("connection refused", { why: denied });
      this.hangUp(sock, new KvmError("permission_denied", `hostd refuses this connection: ${denied}. Use root, or a user in hostd's group.`));
      return;
    }
    // Without credentials (no native module) hostd cannot tell peers apart: no per-peer limit then.
    if (peer && !this.admit(sock, peer.uid)) return;
    this.serve(sock, peer);
  }

  /** Counts the connection against its uid's limit, or refuses it when the uid is at the limit. */
  private admit(sock: net.Socket, uid: number): boolean {
    if (this.limits.unlimitedUids.includes(uid)) return true;
    const open = this.perPeer.get(uid) ?? 0;
    const limit = this.limits.maxConnectionsPerPeer;
    if (open >= limit) {
      this.noteRefusal(uid, limit);
      this.hangUp(
        sock,
        new KvmError(
          "too_many_connections",
          `hostd refuses this connection: uid ${uid} already has ${open} connections open, the most one user may have (hostd serve --max-connections-per-peer). Nothing was done; retry once some of them have closed.`,
          { uid, limit },
        ),
      );
      return false;
    }
    this.perPeer.set(uid, open + 1);
    sock.once("close", () => {
      const left = (this.perPeer.get(uid) ?? 1) - 1;
      if (left > 0) this.perPeer.set(uid, left);
      else this.perPeer.delete(uid);
    });
    return true;
  }

  /** Logs refusals so that a flood of them does not flood the log: the first at once, then one line a minute with the count. */
  private noteRefusal(uid: number, limit: number): void {
    const pending = this.refusals.get(uid);
    if (pending) {
      pending.count++;
      return;
    }
    this.log.warn(`refused a connection of uid ${uid}: it has ${limit} open, its limit`, { uid, limit, refused: 1 });
    const flush = () => {
      const r = this.refusals.get(uid)!;
      if (r.count === 0) {
        this.refusals.delete(uid);
        return;
      }
      this.log.warn(`refused ${r.count} more connections of uid ${uid} in the last minute: it is at its limit of ${limit}`, { uid, limit, refused: r.count });
      r.count = 0;
      r.timer = setTimeout(flush, REFUSAL_LOG_INTERVAL_MS).unref();
    };
    this.refusals.set(uid, { count: 0, timer: setTimeout(flush, REFUSAL_LOG_INTERVAL_MS).unref() });
  }

  /** Reads frames from an admitted connection until it closes, is upgraded to a stream, or breaks a limit. */
  private serve(sock: net.Socket, peer: PeerCred | undefined): void {
    const { frameTimeoutMs, idleTimeoutMs } = this.limits;
    let pending = 0;
    let clientDone = false;
    let upgraded = false;
    let idle: NodeJS.Timeout | undefined;
    // The idle timer runs only while no call is in flight (a vm.create may take minutes) and no stream is attached.
    const stopIdle = () => {
      clearTimeout(idle);
      idle = undefined;
    };
    const startIdle = () => {
      stopIdle();
      if (pending > 0 || upgraded || sock.destroyed) return;
      idle = setTimeout(() => {
        this.log.debug("closed an idle connection", { idleMs: idleTimeoutMs, ...(peer && { uid: peer.uid }) });
        sock.destroy();
      }, idleTimeoutMs).unref();
    };
    // Any byte is a sign of life, even a frame still under way (the frame timer watches that one).
    const onBytes = () => idle?.refresh();
    sock.on("data", onBytes);
    sock.on("close", stopIdle);
    const endIfIdle = () => {
      if (clientDone && pending === 0 && !sock.destroyed && !upgraded) sock.end();
    };
    sock.on("end", () => {
      clientDone = true;
      endIfIdle();
    });
    const reader = readLines(
      sock,
      {
        onLine: (line) => {
          pending++;
          stopIdle();
          void this.onFrame(conn, line).finally(() => {
            pending--;
            if (pending === 0) startIdle();
            endIfIdle();
          });
        },
        onNotUtf8: () =>
          this.reply(sock, null, undefined, new KvmError("invalid_request", "The frame is not valid UTF-8: hostd reads frames as UTF-8 text and refuses other bytes rather than guess what they meant.")),
        onStop: (why) => {
          stopIdle();
          const s = Math.round(frameTimeoutMs / 100) / 10;
          this.hangUp(
            sock,
            why === "too_large"
              ? new KvmError("invalid_request", `Frame larger than ${MAX_FRAME_BYTES} bytes.`)
              : new KvmError("invalid_request", `The frame did not end within ${s} s of its first byte (no newline came), so hostd dropped it and closes this connection. Send each request as one line that ends in a newline.`),
          );
        },
      },
      { frameTimeoutMs },
    );
    const conn: Conn = {
      sock,
      peer,
      upgrade: () => {
        upgraded = true;
        stopIdle();
        reader.stop();
        sock.off("data", onBytes);
      },
    };
    startIdle();
  }

  /**
   * Sends `err` as the connection's last word and ends hostd's side. What the
   * peer still sends is read and dropped, so that a client still writing its
   * request can finish and then read why (closing on it at once would make
   * its write fail first, and the reason would be lost); after a grace
   * period the connection is closed whatever the peer does (the socket allows
   * half-open connections, so an end alone would keep the descriptor open).
   */
  private hangUp(sock: net.Socket, err: KvmError): void {
    this.reply(sock, null, undefined, err);
    sock.end();
    sock.resume();
    const grace = setTimeout(() => sock.destroy(), this.limits.hangUpGraceMs).unref();
    sock.once("close", () => clearTimeout(grace));
  }

  private async onFrame(conn: Conn, line: string): Promise<void> {
    const { sock, peer } = conn;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      this.reply(sock, null, undefined, new KvmError("invalid_request", "The frame is not valid JSON."));
      return;
    }
    const env = RequestEnvelope.safeParse(raw);
    if (!env.success) {
      const rawId = (raw as { id?: unknown } | null)?.id;
      const id = typeof rawId === "string" && rawId.length <= 64 ? rawId : null;
      this.reply(sock, id, undefined, new KvmError("invalid_request", `Not a request envelope: ${z.prettifyError(env.error)}`));
      return;
    }
    const { id, method: name, params, idempotencyKey } = env.data;
    const requestId = `${id}.${randomBytes(3).toString("hex")}`;
    const log = this.log.child({ req: requestId, method: name });
    const h = this.handlers.get(name);
    if (!h) {
      this.reply(sock, id, undefined, new KvmError("unknown_method", `Unknown method "${name.slice(0, 64)}". Known: ${[...this.handlers.keys()].join(", ")}.`), requestId);
      return;
    }
    const started = Date.now();
    let parsed: ReturnType<typeof h.method.params.safeParse>;
    try {
      parsed = h.method.params.safeParse(params ?? {});
    } catch (e) {
      // A refinement that throws is a bug in a schema; the request still gets a reply, and hostd lives on.
      log.error("schema threw while validating", { err: (e as Error).message });
      this.reply(sock, id, undefined, new KvmError("invalid_params", `${name}: the params could not be validated: ${(e as Error).message}`), requestId);
      return;
    }
    if (!parsed.success) {
      const err = new KvmError("invalid_params", `${name}: ${z.prettifyError(parsed.error)}`, {
        issues: parsed.error.issues.map((i: z.core.$ZodIssue) => ({ path: i.path.map(String), message: i.message, code: i.code })),
      });
      log.info("rejected", { code: err.code });
      this.reply(sock, id, undefined, err, requestId);
      return;
    }
    if (h.open) {
      let target: Duplex;
      try {
        target = await inRequest({ req: requestId, ...(peer && { uid: peer.uid }), done: false }, () => h.open!(parsed.data, { requestId, log, peer }));
      } catch (e) {
        this.reply(sock, id, undefined, toWireError(e, log), requestId);
        return;
      }
      this.reply(sock, id, { attached: true }, undefined, requestId);
      // From here on the connection is the stream: no more frames.
      conn.upgrade();
      sock.pipe(target);
      target.pipe(sock);
      target.on("error", () => sock.destroy());
      // A clean end reaches the peer through the pipe (it ends `sock`, which flushes); destroying
      // `sock` then would drop what is still buffered — the tail of a migration stream.
      target.on("close", () => !target.readableEnded && sock.destroy());
      sock.on("close", () => target.destroy());
      log.info("stream attached");
      return;
    }
    const run = async (): Promise<Reply> => {
      try {
        const result = await h.fn(parsed.data, { requestId, log, peer });
        log.log(h.method.mutating ? "info" : "debug", "ok", { ms: Date.now() - started });
        return { result };
      } catch (e) {
        const err = toWireError(e, log);
        log.log(err.code === "internal" ? "error" : "info", "failed", { ms: Date.now() - started, code: err.code, err: err.message });
        return { error: err };
      }
    };
    // Everything logged while the call runs, by any part of hostd, carries its request id and caller's uid.
    const scope = { req: requestId, ...(peer && { uid: peer.uid }), done: false };
    const reply = await inRequest(scope, () => (h.method.mutating && idempotencyKey && this.o.replies ? this.once(idempotencyKey, name, parsed.data, run, log) : run()));
    const delay = this.o.replyDelayMs?.[name];
    if (delay) await new Promise((r) => setTimeout(r, delay));
    if ("error" in reply) this.reply(sock, id, undefined, reply.error, requestId);
    else this.reply(sock, id, reply.result, undefined, requestId);
  }

  /**
   * Runs a mutating call once per idempotency key: a retry while it runs
   * joins it, a retry after it ended gets the kept reply. The same key with
   * other params is a client bug, refused.
   */
  private async once(key: string, method: string, params: unknown, run: () => Promise<Reply>, log: Logger): Promise<Reply> {
    const paramsSha256 = createHash("sha256").update(JSON.stringify(params)).digest("hex");
    const reused = () =>
      ({ error: new KvmError("invalid_params", `Idempotency key ${key} was already used for a different request (${method} with other params); use a new key per operation.`) }) as Reply;
    const running = this.inflight.get(key);
    if (running) {
      if (running.method !== method || running.paramsSha256 !== paramsSha256) return reused();
      log.info("joined a running call with the same idempotency key", { key });
      return running.reply;
    }
    const kept = this.o.replies!.get(key);
    if (kept) {
      if (kept.method !== method || kept.paramsSha256 !== paramsSha256) return reused();
      log.info("replayed the reply of an earlier call with the same idempotency key", { key });
      const r = JSON.parse(kept.reply) as { result?: unknown; error?: { code: string; message: string; details?: Record<string, unknown> } };
      return r.error ? { error: new KvmError(r.error.code as KvmError["code"], r.error.message, r.error.details) } : { result: r.result };
    }
    const reply = run();
    this.inflight.set(key, { method, paramsSha256, reply });
    try {
      const r = await reply;
      const body = "error" in r ? { error: { code: r.error.code, message: r.error.message, details: r.error.details } } : { result: r.result };
      this.o.replies!.put(key, method, paramsSha256, JSON.stringify(body));
      return r;
    } finally {
      this.inflight.delete(key);
    }
  }

  private reply(sock: net.Socket, id: string | null, result: unknown, err: KvmError | undefined, requestId?: string): void {
    if (sock.destroyed || !sock.writable) return;
    let body: unknown;
    if (err) {
      const error: ErrorBody = { code: err.code as ErrorBody["code"], message: err.message };
      const details = { ...(err.details ?? {}), ...(requestId ? { requestId } : {}) };
      if (Object.keys(details).length > 0) error.details = details;
      body = { id, error };
    } else {
      body = { id, result };
    }
    // A client that does not read its replies is not read from either, until it has (its buffered replies are what it costs hostd).
    if (!sock.write(JSON.stringify(body) + "\n") && !sock.isPaused()) {
      sock.pause();
      sock.once("drain", () => sock.resume());
    }
  }
}

/** Whether something accepts connections on a unix socket (a live hostd, say). */
export function socketLive(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createConnection(socketPath);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/** The one place where any thrown value becomes a wire error. */
export function toWireError(e: unknown, log: Logger): KvmError {
  if (e instanceof KvmError) {
    // Transport codes never come from hostd; anything else passes through.
    return e;
  }
  const err = e as Error;
  log.error("internal error", { err: err?.message, stack: err?.stack });
  return new KvmError("internal", `hostd hit an internal error: ${err?.message ?? String(e)}. See hostd's log for this request id.`);
}
