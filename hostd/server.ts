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
import { Logger } from "./log";
import type { PeerCred } from "./peer";

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
  /**
   * Fault injection for tests of lost replies: hold the reply of these methods for this long
   * after the work is done (HOSTD_FAULT_REPLY_DELAY="vm.create=2000,..."; never set in production).
   */
  replyDelayMs?: Record<string, number>;
}

export class Server {
  private readonly handlers = new Map<string, { method: AnyMethod; fn: Handler; open?: StreamOpener }>();
  private readonly upgraded = new WeakSet<net.Socket>();
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();

  /** Mutating calls running now, by idempotency key: a retry joins the first call. */
  private readonly inflight = new Map<string, { method: string; paramsSha256: string; reply: Promise<Reply> }>();

  constructor(
    private readonly log: Logger,
    private readonly o: ServerOptions = {},
  ) {}

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

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private onConnection(sock: net.Socket): void {
    this.sockets.add(sock);
    sock.on("close", () => this.sockets.delete(sock));
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
      this.reply(sock, null, undefined, new KvmError("permission_denied", `hostd refuses this connection: ${denied}. Use root, or a user in hostd's group.`));
      sock.end();
      return;
    }
    let pending = 0;
    let clientDone = false;
    const endIfIdle = () => {
      if (clientDone && pending === 0 && !sock.destroyed && !this.upgraded.has(sock)) sock.end();
    };
    sock.on("end", () => {
      clientDone = true;
      endIfIdle();
    });
    readLines(
      sock,
      (line) => {
        pending++;
        void this.onFrame(sock, line, peer).finally(() => {
          pending--;
          endIfIdle();
        });
      },
      () => {
        this.reply(sock, null, undefined, new KvmError("invalid_request", `Frame larger than ${MAX_FRAME_BYTES} bytes.`));
        sock.end();
      },
    );
  }

  private async onFrame(sock: net.Socket, line: string, peer: PeerCred | undefined): Promise<void> {
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
        target = await h.open(parsed.data, { requestId, log, peer });
      } catch (e) {
        this.reply(sock, id, undefined, toWireError(e, log), requestId);
        return;
      }
      this.reply(sock, id, { attached: true }, undefined, requestId);
      this.upgraded.add(sock);
      // From here on the connection is the stream: no more frames.
      sock.removeAllListeners("data");
      sock.pipe(target);
      target.pipe(sock);
      target.on("error", () => sock.destroy());
      target.on("close", () => sock.destroy());
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
    const reply = h.method.mutating && idempotencyKey && this.o.replies ? await this.once(idempotencyKey, name, parsed.data, run, log) : await run();
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
    sock.write(JSON.stringify(body) + "\n");
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
