/**
 * HostClient: typed calls to one hostd over a {@link Transport}.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { Duplex } from "node:stream";
import { z } from "zod";
import { isKvmError, KvmError } from "./errors";
import {
  AnyMethod,
  HostHello,
  hostHello,
  hostEvents,
  vmSerialLog,
  ParamsIn,
  PROTOCOL_VERSION,
  ResponseEnvelope,
  ResultOf,
  diskCreate,
  diskDelete,
  diskGet,
  diskList,
  diskUpdate,
  imageList,
  imagePrune,
  networkCreate,
  networkDelete,
  networkGet,
  networkList,
  networkUpdate,
  vmCreate,
  vmDelete,
  vmGet,
  vmList,
  vmStart,
  vmStop,
  vmUpdate,
} from "./protocol";
import { readLines } from "./transport/framing";
import { Transport } from "./transport/types";

export interface CallOptions {
  /** Give up (and close the channel) after this long. Default: the client's timeout. */
  timeoutMs?: number;
}

/**
 * Retries after the connection broke or could not be made. Mutating calls
 * carry an idempotency key, the same on every attempt, so hostd runs them
 * once however often they are sent; a mutating call without one (the hostd
 * does not announce `idempotency`) is sent again only if it never reached
 * hostd, since a second run could do it twice.
 */
const RETRY_DELAYS_MS = [250, 1000, 2000];
/** `too_many_connections`: hostd refused the connection before reading a byte of it, so a retry cannot run anything twice. */
const RETRYABLE = new Set(["transport_disconnected", "connect_failed", "too_many_connections"]);

export class HostClient {
  private hello?: Promise<HostHello>;

  constructor(
    readonly transport: Transport,
    private readonly defaults: { timeoutMs: number } = { timeoutMs: 120_000 },
  ) {}

  /**
   * Calls one method. Params are validated here first, so bad input fails
   * before anything is sent; the result is validated against the protocol.
   */
  async call<M extends AnyMethod>(method: M, params: ParamsIn<M>, opts: CallOptions = {}): Promise<ResultOf<M>> {
    const parsed = method.params.safeParse(params);
    if (!parsed.success) {
      throw new KvmError("invalid_params", `${method.name}: ${z.prettifyError(parsed.error)}`, {
        issues: parsed.error.issues,
      });
    }
    const id = `c-${randomBytes(6).toString("hex")}`;
    const timeoutMs = opts.timeoutMs ?? this.defaults.timeoutMs;
    // Only a hostd that announces it accepts the key (an older one refuses unknown envelope fields).
    const keyed = method.mutating && (await this.helloOnce()).capabilities.includes("idempotency");
    const frame = JSON.stringify({
      id,
      method: method.name,
      params: parsed.data,
      ...(keyed && { idempotencyKey: `k-${randomUUID()}` }),
    });
    let reply: unknown;
    for (let attempt = 0; ; attempt++) {
      /** Whether the request went out on a stream (before that, nothing can have run). */
      let sent = false;
      try {
        const stream = await this.transport.openStream();
        sent = true;
        reply = await exchange(stream, frame, timeoutMs, this.transport.target, method.name);
        const refused = refusedConnection(reply);
        if (refused) throw refused;
        break;
      } catch (e) {
        if (sent && method.mutating && !keyed && isKvmError(e, "transport_disconnected")) throw this.outcomeUnknown(method.name, e);
        if (!(e instanceof KvmError) || !RETRYABLE.has(e.code) || attempt >= RETRY_DELAYS_MS.length) throw e;
        await new Promise((r) => setTimeout(r, RETRY_DELAYS_MS[attempt]));
      }
    }
    const env = ResponseEnvelope.safeParse(reply);
    if (!env.success) {
      throw new KvmError("protocol_mismatch", `${this.transport.target} sent a reply that is not a protocol response.`);
    }
    if ("error" in env.data) {
      const e = env.data.error;
      throw new KvmError(e.code, e.message, e.details, env.data.id ?? id);
    }
    const result = method.result.safeParse(env.data.result);
    if (!result.success) {
      throw new KvmError(
        "protocol_mismatch",
        `${this.transport.target} answered ${method.name} with a result this client does not understand (is hostd a different version?): ${z.prettifyError(result.error)}`,
        undefined,
        id,
      );
    }
    return result.data as ResultOf<M>;
  }

  /**
   * Opens a streaming method (`migration.attach`): sends the request on a
   * connection of its own and, once hostd answers `{attached: true}`, hands
   * back that connection as a raw byte stream (what arrived after the reply
   * line is put back in front of it). A refusal is thrown as its KvmError.
   */
  async openStream<M extends AnyMethod>(method: M, params: ParamsIn<M>, opts: CallOptions = {}): Promise<Duplex> {
    const parsed = method.params.safeParse(params);
    if (!parsed.success) throw new KvmError("invalid_params", `${method.name}: ${z.prettifyError(parsed.error)}`, { issues: parsed.error.issues });
    const id = `s-${randomBytes(6).toString("hex")}`;
    const timeoutMs = opts.timeoutMs ?? this.defaults.timeoutMs;
    const stream = await this.transport.openStream();
    const line = await new Promise<string>((resolve, reject) => {
      let buf = Buffer.alloc(0);
      const timer = setTimeout(() => fail(new KvmError("transport_timeout", `${method.name} on ${this.transport.target} did not answer within ${Math.round(timeoutMs / 1000)} s.`)), timeoutMs);
      const fail = (e: Error) => {
        clearTimeout(timer);
        stream.off("data", onData);
        stream.destroy();
        reject(e);
      };
      const onData = (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        const nl = buf.indexOf(0x0a);
        if (nl < 0) return;
        clearTimeout(timer);
        stream.off("data", onData);
        stream.off("close", onClose);
        stream.pause();
        const rest = buf.subarray(nl + 1);
        if (rest.length > 0) stream.unshift(rest);
        resolve(buf.subarray(0, nl).toString("utf8"));
      };
      const onClose = () => fail(new KvmError("transport_disconnected", `${this.transport.target} closed the connection before answering ${method.name}.`));
      stream.on("data", onData);
      stream.once("close", onClose);
      stream.write(JSON.stringify({ id, method: method.name, params: parsed.data }) + "\n");
    });
    const env = ResponseEnvelope.safeParse(JSON.parse(line));
    if (!env.success) {
      stream.destroy();
      throw new KvmError("protocol_mismatch", `${this.transport.target} sent a reply to ${method.name} that is not a protocol response.`);
    }
    if ("error" in env.data) {
      stream.destroy();
      const e = env.data.error;
      throw new KvmError(e.code, e.message, e.details, env.data.id ?? id);
    }
    return stream;
  }

  /** A mutating call without an idempotency key lost its connection after it was sent: it is not sent again. */
  private outcomeUnknown(method: string, cause: KvmError): KvmError {
    return new KvmError(
      "transport_disconnected",
      `${cause.message} ${method} was not sent again: hostd on ${this.transport.target} does not announce the \`idempotency\` capability, so a second attempt could do it twice. Look at the object (a get, or \`pulumi refresh\`) to see whether it happened, then run it again if not; upgrading hostd makes such calls safe to retry.`,
      { ...cause.details, method, outcomeUnknown: true },
    );
  }

  /** `host.hello`, cached per client; checks the protocol version. */
  async helloOnce(): Promise<HostHello> {
    this.hello ??= this.call(hostHello, { client: "pulumi-kvm" }).then((h) => {
      if (h.protocolVersion !== PROTOCOL_VERSION) {
        throw new KvmError(
          "protocol_mismatch",
          `hostd on ${this.transport.target} speaks protocol ${h.protocolVersion}, this client speaks ${PROTOCOL_VERSION}: upgrade the older side.`,
        );
      }
      return h;
    });
    this.hello.catch(() => (this.hello = undefined));
    return this.hello;
  }

  readonly vm = {
    create: (spec: ParamsIn<typeof vmCreate>, o?: CallOptions) => this.call(vmCreate, spec, o),
    get: (name: string, o?: CallOptions) => this.call(vmGet, { name }, o),
    list: (o?: CallOptions) => this.call(vmList, {}, o),
    update: (u: ParamsIn<typeof vmUpdate>, o?: CallOptions) => this.call(vmUpdate, u, o),
    start: (name: string, o?: CallOptions) => this.call(vmStart, { name }, o),
    stop: (p: ParamsIn<typeof vmStop>, o?: CallOptions) => this.call(vmStop, p, o),
    delete: (p: ParamsIn<typeof vmDelete>, o?: CallOptions) => this.call(vmDelete, p, o),
    serialLog: (p: ParamsIn<typeof vmSerialLog>, o?: CallOptions) => this.call(vmSerialLog, p, o),
  };

  /** What happened to VMs, networks and disks lately, oldest first. */
  events(p: ParamsIn<typeof hostEvents> = {}, o?: CallOptions) {
    return this.call(hostEvents, p, o);
  }

  readonly network = {
    create: (spec: ParamsIn<typeof networkCreate>, o?: CallOptions) => this.call(networkCreate, spec, o),
    get: (name: string, o?: CallOptions) => this.call(networkGet, { name }, o),
    list: (o?: CallOptions) => this.call(networkList, {}, o),
    update: (u: ParamsIn<typeof networkUpdate>, o?: CallOptions) => this.call(networkUpdate, u, o),
    delete: (p: ParamsIn<typeof networkDelete>, o?: CallOptions) => this.call(networkDelete, p, o),
  };

  readonly disk = {
    create: (spec: ParamsIn<typeof diskCreate>, o?: CallOptions) => this.call(diskCreate, spec, o),
    get: (name: string, o?: CallOptions) => this.call(diskGet, { name }, o),
    list: (o?: CallOptions) => this.call(diskList, {}, o),
    update: (u: ParamsIn<typeof diskUpdate>, o?: CallOptions) => this.call(diskUpdate, u, o),
    delete: (p: ParamsIn<typeof diskDelete>, o?: CallOptions) => this.call(diskDelete, p, o),
  };

  readonly image = {
    list: (o?: CallOptions) => this.call(imageList, {}, o),
    prune: (sha256?: string, o?: CallOptions) => this.call(imagePrune, sha256 ? { sha256 } : {}, o),
  };

  close(): Promise<void> {
    return this.transport.close();
  }
}

/** hostd's refusal of a connection over its caller's limit, as an error to retry. */
function refusedConnection(reply: unknown): KvmError | undefined {
  const env = ResponseEnvelope.safeParse(reply);
  if (!env.success || !("error" in env.data) || env.data.error.code !== "too_many_connections") return undefined;
  const e = env.data.error;
  return new KvmError(e.code, e.message, e.details);
}

/** Writes one request line, reads one reply line, closes the stream. */
function exchange(stream: Duplex, line: string, timeoutMs: number, target: string, method: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (err: KvmError | undefined, value?: unknown) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      stream.destroy();
      if (err) reject(err);
      else resolve(value);
    };
    const timer = setTimeout(
      () => finish(new KvmError("transport_timeout", `${method} on ${target} did not answer within ${Math.round(timeoutMs / 1000)} s.`)),
      timeoutMs,
    );
    readLines(stream, {
      onLine: (l) => {
        try {
          finish(undefined, JSON.parse(l));
        } catch {
          finish(new KvmError("protocol_mismatch", `${target} sent a line that is not JSON.`));
        }
      },
      onNotUtf8: () => finish(new KvmError("protocol_mismatch", `${target} sent a line that is not valid UTF-8.`)),
      onStop: () => finish(new KvmError("protocol_mismatch", `${target} sent a reply larger than the frame limit.`)),
    });
    const onEnd = () => {
      const stderr = (stream as unknown as { remoteStderr?: () => string }).remoteStderr?.();
      finish(
        new KvmError(
          "transport_disconnected",
          `The connection to ${target} closed before ${method} answered${stderr ? `: ${stderr}` : ""}. The operation may or may not have happened on the host.`,
        ),
      );
    };
    stream.once("end", onEnd);
    stream.once("close", onEnd);
    stream.on("error", (e: Error) =>
      finish(new KvmError("transport_disconnected", `The connection to ${target} failed during ${method}: ${e.message}`)),
    );
    stream.write(line + "\n");
  });
}
