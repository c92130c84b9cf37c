/**
 * A client for qemu-guest-agent (QGA), reached through the unix socket of a
 * QEMU chardev:
 *
 *   -chardev socket,id=qga0,path=<socket>,server=on,wait=off
 *   -device virtio-serial-pci
 *   -device virtserialport,chardev=qga0,name=org.qemu.guest_agent.0
 *
 * QGA speaks QMP-style JSON but has no greeting and no capabilities
 * negotiation, and the channel is a byte pipe to the guest that outlives our
 * connections: a reply to a client that timed out, or half a command it
 * wrote, may still be sitting in it. So every session starts by
 * resynchronising: we send 0xFF (which makes the agent drop any partial
 * command it has buffered) and `guest-sync-delimited` with a random id; the
 * agent answers with a 0xFF sentinel byte and then the id. Everything before
 * the sentinel is stale and ignored, and a sentinel followed by some other
 * id is an older session's sync, also ignored.
 *
 * QEMU accepts one client at a time on the chardev socket (a second one
 * waits in the listen backlog), so each call is one short session: connect,
 * sync, one command, close. Calls on the same socket path are serialised
 * within this process; hold one GuestAgent per VM anyway.
 *
 * While the guest is booting, or has no agent, QEMU still accepts the
 * connection and the sync simply gets no answer: callers treat a `timeout`
 * as "agent not ready yet", not as a failure of the VM.
 */
import { randomInt } from "node:crypto";
import * as net from "node:net";
import { z } from "zod";
import type { Logger } from "../log";
import { KeyedMutex } from "../mutex";

/**
 * - `not_connected`: the socket cannot be reached (QEMU not running, wrong
 *   path) or closed before the agent answered.
 * - `timeout`: no answer in time; usually the agent is not running (yet).
 * - `command_failed`: the agent answered with an error (`errorClass`, `desc`).
 * - `protocol`: the agent answered something we cannot understand.
 */
export type GuestAgentErrorKind = "not_connected" | "timeout" | "command_failed" | "protocol";

/** What this driver throws; the service layer maps it to a wire error. */
export class GuestAgentError extends Error {
  override readonly name = "GuestAgentError";
  constructor(
    readonly kind: GuestAgentErrorKind,
    /** The QGA command of the call (the sync is part of every call). */
    readonly command: string,
    message: string,
    /** For `command_failed`: the agent's error class and description. */
    readonly agentError?: { class: string; desc: string },
    options?: { cause?: unknown },
  ) {
    super(`guest agent ${command}: ${message}`, options);
  }
}

/** A guest network interface, loopback excluded. */
export interface GuestInterface {
  name: string;
  /** MAC address, when the guest reports one. */
  mac?: string;
  addresses: { address: string; prefix: number; family: "ipv4" | "ipv6" }[];
}

/** What the guest says about its OS; any field may be missing (older agents, Windows). */
export interface GuestOsInfo {
  id?: string;
  name?: string;
  prettyName?: string;
  version?: string;
  versionId?: string;
  kernelRelease?: string;
  kernelVersion?: string;
  machine?: string;
}

/** How the guest should stop; `powerdown` is an orderly poweroff. */
export type GuestShutdownMode = "powerdown" | "reboot" | "halt";

export interface GuestAgentOptions {
  /**
   * Per phase: connecting and syncing must finish within this, and so must
   * the command's reply after it is sent. Default 3000 ms.
   */
  timeoutMs?: number;
  /** Debug lines for discarded stale bytes. */
  log?: Logger;
}

/** Replies larger than this are refused (a guest with very many interfaces is still far below). */
const MAX_REPLY_BYTES = 4 * 1024 * 1024;
const SENTINEL = 0xff;

const AgentErrorReply = z.object({ error: z.object({ class: z.string(), desc: z.string() }) });
const ReturnReply = z.object({ return: z.unknown() });

const Interfaces = z.array(
  z.object({
    name: z.string(),
    "hardware-address": z.string().optional(),
    "ip-addresses": z
      .array(z.object({ "ip-address-type": z.enum(["ipv4", "ipv6"]), "ip-address": z.string(), prefix: z.int().min(0).max(128) }))
      .optional(),
  }),
);
const OsInfo = z.object({
  id: z.string().optional(),
  name: z.string().optional(),
  "pretty-name": z.string().optional(),
  version: z.string().optional(),
  "version-id": z.string().optional(),
  "kernel-release": z.string().optional(),
  "kernel-version": z.string().optional(),
  machine: z.string().optional(),
});
const HostName = z.object({ "host-name": z.string() });

/** Socket paths with a session open in this process, so our own calls never queue in QEMU's backlog. */
const sessions = new KeyedMutex();

/** A qemu-guest-agent client for one VM. Stateless between calls: each call is its own connection. */
export class GuestAgent {
  private readonly timeoutMs: number;
  private readonly log?: Logger;

  constructor(
    readonly socketPath: string,
    opts: GuestAgentOptions = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? 3000;
    this.log = opts.log;
  }

  /** Resolves when the agent answers `guest-ping`. */
  async ping(): Promise<void> {
    await this.call("guest-ping");
  }

  /** The guest's interfaces and addresses (`guest-network-get-interfaces`), without loopback. */
  async interfaces(): Promise<GuestInterface[]> {
    const raw = parse("guest-network-get-interfaces", Interfaces, await this.call("guest-network-get-interfaces"));
    return raw
      .map((i) => ({
        name: i.name,
        ...(i["hardware-address"] !== undefined ? { mac: i["hardware-address"].toLowerCase() } : {}),
        addresses: (i["ip-addresses"] ?? []).map((a) => ({ address: a["ip-address"], prefix: a.prefix, family: a["ip-address-type"] })),
      }))
      .filter((i) => !isLoopback(i));
  }

  /** The guest's OS (`guest-get-osinfo`). */
  async osInfo(): Promise<GuestOsInfo> {
    const o = parse("guest-get-osinfo", OsInfo, await this.call("guest-get-osinfo"));
    const out: GuestOsInfo = {};
    const set = (k: keyof GuestOsInfo, v: string | undefined) => {
      if (v !== undefined) out[k] = v;
    };
    set("id", o.id);
    set("name", o.name);
    set("prettyName", o["pretty-name"]);
    set("version", o.version);
    set("versionId", o["version-id"]);
    set("kernelRelease", o["kernel-release"]);
    set("kernelVersion", o["kernel-version"]);
    set("machine", o.machine);
    return out;
  }

  /** The guest's hostname (`guest-get-host-name`). */
  async hostname(): Promise<string> {
    return parse("guest-get-host-name", HostName, await this.call("guest-get-host-name"))["host-name"];
  }

  /**
   * Asks the guest to shut down, reboot or halt (`guest-shutdown`). The
   * agent answers only on failure: once the command is sent, the connection
   * closing or no answer within the timeout means it was accepted. Resolves
   * when the guest has the request, not when it is down: watch QEMU for that.
   */
  async shutdown(mode: GuestShutdownMode): Promise<void> {
    await this.call("guest-shutdown", { mode }, { noReplyOnSuccess: true });
  }

  /**
   * Runs one command in its own session and returns its `return` value.
   * Exposed for commands this class does not wrap; prefer the typed methods.
   */
  execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    return this.call(command, args);
  }

  private call(command: string, args?: Record<string, unknown>, opts: { noReplyOnSuccess?: boolean } = {}): Promise<unknown> {
    return sessions.run(this.socketPath, () =>
      new Session(this.socketPath, command, this.timeoutMs, this.log).run(args, opts.noReplyOnSuccess ?? false),
    );
  }
}

function parse<T>(command: string, schema: z.ZodType<T>, value: unknown): T {
  const r = schema.safeParse(value);
  if (!r.success) {
    throw new GuestAgentError("protocol", command, `unexpected reply: ${z.prettifyError(r.error)}`, undefined, { cause: r.error });
  }
  return r.data;
}

function isLoopback(i: GuestInterface): boolean {
  if (i.name === "lo") return true;
  // Other guests (Windows: "Loopback Pseudo-Interface 1") name it differently
  // but report only loopback addresses on it.
  return i.addresses.length > 0 && i.addresses.every((a) => (a.family === "ipv4" ? a.address.startsWith("127.") : a.address === "::1"));
}

/**
 * One connection: sync, one command, close. Reads bytes itself instead of
 * using readLines because the sentinel is a raw 0xFF byte that may sit in
 * the middle of a "line" of stale bytes, which must be cut at the byte level
 * before any UTF-8 decoding.
 */
class Session {
  private readonly sock: net.Socket;
  private readonly syncId = randomInt(1, 2 ** 47);
  private readonly cmdId = `ga${randomInt(1, 2 ** 47)}`;
  /**
   * connecting → hunting (discarding bytes up to a sentinel) → syncline
   * (reading the line after it; back to hunting unless it is our sync
   * reply) → sent (our command is out, reading its reply) → done.
   */
  private phase: "connecting" | "hunting" | "syncline" | "sent" | "done" = "connecting";
  private chunks: Buffer[] = [];
  private size = 0;
  private discarded = 0;
  private timer?: NodeJS.Timeout;
  private noReplyOnSuccess = false;
  private args?: Record<string, unknown>;
  private resolve!: (v: unknown) => void;
  private reject!: (e: GuestAgentError) => void;

  constructor(
    private readonly path: string,
    private readonly command: string,
    private readonly timeoutMs: number,
    private readonly log?: Logger,
  ) {
    this.sock = new net.Socket();
  }

  run(args: Record<string, unknown> | undefined, noReplyOnSuccess: boolean): Promise<unknown> {
    this.args = args;
    this.noReplyOnSuccess = noReplyOnSuccess;
    return new Promise<unknown>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
      this.arm();
      this.sock.on("error", (e: NodeJS.ErrnoException) => this.onError(e));
      this.sock.on("close", () => this.onClose());
      this.sock.on("data", (d: Buffer) => this.onData(d));
      this.sock.connect(this.path, () => {
        if (this.phase !== "connecting") return;
        this.phase = "hunting";
        // The leading 0xFF is invalid JSON: the agent drops whatever partial
        // command an earlier client left in its parser (and answers with a
        // parse error, which arrives before the sentinel and is discarded).
        this.sock.write(
          Buffer.concat([Buffer.of(SENTINEL), Buffer.from(JSON.stringify({ execute: "guest-sync-delimited", arguments: { id: this.syncId } }) + "\n")]),
        );
      });
    });
  }

  /** (Re)starts the phase timer: one for connect + sync, a fresh one for the reply. */
  private arm(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.onTimeout(), this.timeoutMs);
  }

  private onTimeout(): void {
    if (this.phase === "sent" && this.noReplyOnSuccess) {
      this.finish(undefined);
      return;
    }
    const what =
      this.phase === "sent"
        ? `no reply within ${this.timeoutMs} ms`
        : this.phase === "connecting"
          ? `could not connect within ${this.timeoutMs} ms (is another client attached?)`
          : `no answer to guest-sync-delimited within ${this.timeoutMs} ms (agent not running yet, or another client attached)`;
    this.fail(new GuestAgentError("timeout", this.command, what));
  }

  private onError(e: NodeJS.ErrnoException): void {
    if (this.phase === "connecting") {
      this.fail(new GuestAgentError("not_connected", this.command, `cannot connect to ${this.path}: ${e.code ?? e.message}`, undefined, { cause: e }));
    }
    // Later errors (EPIPE, ECONNRESET) are followed by "close", which decides.
  }

  private onClose(): void {
    if (this.phase === "done") return;
    if (this.phase === "sent" && this.noReplyOnSuccess) {
      this.finish(undefined);
      return;
    }
    this.fail(
      new GuestAgentError(
        "not_connected",
        this.command,
        this.phase === "sent" ? "connection closed before the reply (QEMU exited?)" : "connection closed before the agent answered (QEMU exited?)",
      ),
    );
  }

  private onData(data: Buffer): void {
    let buf = data;
    while (buf.length > 0 && this.phase !== "done") {
      if (this.phase === "connecting") return;
      if (this.phase === "hunting") {
        const at = buf.indexOf(SENTINEL);
        if (at < 0) {
          this.discarded += buf.length;
          return;
        }
        this.discarded += at;
        buf = buf.subarray(at + 1);
        this.phase = "syncline";
        continue;
      }
      const nl = buf.indexOf(0x0a);
      if (this.size + (nl < 0 ? buf.length : nl) > MAX_REPLY_BYTES) {
        this.fail(new GuestAgentError("protocol", this.command, `reply larger than ${MAX_REPLY_BYTES} bytes`));
        return;
      }
      if (nl < 0) {
        this.chunks.push(buf);
        this.size += buf.length;
        return;
      }
      this.chunks.push(buf.subarray(0, nl));
      const line = Buffer.concat(this.chunks);
      this.chunks = [];
      this.size = 0;
      buf = buf.subarray(nl + 1);
      this.onLine(line);
    }
  }

  private onLine(raw: Buffer): void {
    if (this.phase === "syncline") {
      const line = raw.toString("utf8").trim();
      let msg: unknown;
      try {
        msg = JSON.parse(line);
      } catch {
        msg = undefined;
      }
      const r = ReturnReply.safeParse(msg);
      if (r.success && r.data.return === this.syncId) {
        if (this.discarded > 0) this.log?.debug("guest agent: discarded stale bytes before sync", { socket: this.path, bytes: this.discarded });
        this.send();
        return;
      }
      // Another session's sync reply (its client gave up before reading
      // it): keep hunting. (+2: its sentinel and newline.)
      this.discarded += raw.length + 2;
      this.phase = "hunting";
      return;
    }
    // phase "sent": the agent answers in order and the sync reply proved
    // nothing older is queued, so this line is the reply to our command.
    const line = raw.toString("utf8");
    if (line.trim() === "") return;
    let msg: unknown;
    try {
      msg = JSON.parse(line);
    } catch {
      this.fail(new GuestAgentError("protocol", this.command, `reply is not JSON: ${preview(raw)}`));
      return;
    }
    // Agents echo our id; one that does not (older ones) is answering us
    // anyway, because the sync proved nothing else is queued before us.
    const id = (msg as { id?: unknown } | null)?.id;
    if (id !== undefined && id !== this.cmdId) {
      this.fail(new GuestAgentError("protocol", this.command, `reply for another request (id ${JSON.stringify(id)})`));
      return;
    }
    const err = AgentErrorReply.safeParse(msg);
    if (err.success) {
      const { class: cls, desc } = err.data.error;
      this.fail(new GuestAgentError("command_failed", this.command, `${cls}: ${desc}`, { class: cls, desc }));
      return;
    }
    const ok = ReturnReply.safeParse(msg);
    if (!ok.success) {
      this.fail(new GuestAgentError("protocol", this.command, `reply has neither return nor error: ${preview(raw)}`));
      return;
    }
    this.finish(ok.data.return);
  }

  private send(): void {
    const req = this.args === undefined ? { execute: this.command, id: this.cmdId } : { execute: this.command, arguments: this.args, id: this.cmdId };
    this.phase = "sent";
    this.arm();
    this.sock.write(JSON.stringify(req) + "\n");
  }

  private finish(value: unknown): void {
    if (this.phase === "done") return;
    this.phase = "done";
    clearTimeout(this.timer);
    this.sock.destroy();
    this.resolve(value);
  }

  private fail(e: GuestAgentError): void {
    if (this.phase === "done") return;
    this.phase = "done";
    clearTimeout(this.timer);
    this.sock.destroy();
    this.reject(e);
  }
}

function preview(b: Buffer): string {
  const s = b.toString("utf8");
  return JSON.stringify(s.length > 200 ? s.slice(0, 200) + "…" : s);
}
