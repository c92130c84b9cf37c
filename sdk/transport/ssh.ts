/**
 * SSH transport: reaches hostd's unix socket on a remote host through
 * OpenSSH stream-local forwarding (`direct-streamlocal@openssh.com`), or,
 * where the server forbids that, by running `hostd dial-stdio` on the host.
 *
 * One SSH connection per host per process is shared by every concurrent call
 * (one channel per call), reconnected on demand after a drop, and closed when
 * idle so short-lived programs can exit.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import * as net from "node:net";
import * as path from "node:path";
import { Duplex } from "node:stream";
import { Client, ClientChannel, ConnectConfig, utils as sshUtils } from "ssh2";
import { KvmError } from "../errors";
import { DEFAULT_SOCKET_PATH } from "./local";
import { checkKnownHosts, fingerprintOf, keyTypeOf } from "./known-hosts";
import { Transport } from "./types";

export interface SshOptions {
  host: string;
  /** Default 22. */
  port?: number;
  username: string;
  /** Private key (OpenSSH or PEM; ed25519, RSA, ECDSA). */
  privateKey?: string | Buffer;
  passphrase?: string;
  /** ssh-agent socket; defaults to `$SSH_AUTH_SOCK` when no private key is given. */
  agent?: string;
  /** known_hosts content to verify the host key against. */
  knownHosts?: string;
  /** known_hosts file; defaults to `~/.ssh/known_hosts` when neither `knownHosts` nor `hostKey` is given. */
  knownHostsPath?: string;
  /** Expected host key fingerprint, `SHA256:...` as printed by `ssh-keygen -lf`. */
  hostKey?: string;
  /** Accept any host key. Only for throwaway labs; says so in every error. */
  insecureSkipHostKeyCheck?: boolean;
  /** hostd's socket on the host. */
  socketPath?: string;
  /** argv run on the host for the exec fallback; default `hostd dial-stdio --socket <socketPath>`. */
  dialCommand?: string[];
  /** `auto` tries stream-local forwarding, then falls back to exec. */
  forwarding?: "auto" | "streamlocal" | "exec";
  connectTimeoutMs?: number;
  /** Close the shared connection after this long without calls. */
  idleTimeoutMs?: number;
}

/** Counters a test or benchmark can read. */
export interface SshStats {
  handshakes: number;
  channels: number;
  mode: "streamlocal" | "exec" | "unknown";
}

/** Quote one argument for a POSIX shell: the remote sshd runs exec commands through the user's shell. */
export function shellQuote(arg: string): string {
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

class SshConnection {
  readonly stats: SshStats = { handshakes: 0, channels: 0, mode: "unknown" };
  private client?: Promise<Client>;
  private inflight = 0;
  private idleTimer?: NodeJS.Timeout;
  private mode: "streamlocal" | "exec" | undefined;

  constructor(
    private readonly opts: SshOptions,
    readonly target: string,
  ) {
    if (opts.forwarding === "exec") this.mode = "exec";
    if (opts.forwarding === "streamlocal") this.mode = "streamlocal";
  }

  async openStream(): Promise<Duplex> {
    this.inflight++;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    let stream: Duplex;
    try {
      stream = await this.openChannelWithRetry();
    } catch (e) {
      this.release();
      throw e;
    }
    this.stats.channels++;
    stream.once("close", () => this.release());
    return stream;
  }

  close(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    const c = this.client;
    this.client = undefined;
    void c?.then((cl) => cl.end()).catch(() => undefined);
  }

  private release(): void {
    this.inflight--;
    if (this.inflight === 0) {
      this.idleTimer = setTimeout(() => this.close(), this.opts.idleTimeoutMs ?? 30_000);
      this.idleTimer.unref();
    }
  }

  /** A connection that died since the last call is replaced once, transparently. */
  private async openChannelWithRetry(): Promise<Duplex> {
    try {
      return await this.openChannel(await this.connect());
    } catch (e) {
      if (e instanceof KvmError && e.code === "transport_disconnected") {
        this.client = undefined;
        return this.openChannel(await this.connect());
      }
      throw e;
    }
  }

  private openChannel(client: Client): Promise<Duplex> {
    const socketPath = this.opts.socketPath ?? DEFAULT_SOCKET_PATH;
    if (this.mode === "exec") return this.openExec(client, socketPath);
    return new Promise((resolve, reject) => {
      try {
        client.openssh_forwardOutStreamLocal(socketPath, (err, stream) => {
          if (!err) {
            this.mode = "streamlocal";
            this.stats.mode = "streamlocal";
            resolve(stream);
            return;
          }
          // OpenSSH answers "open failed" both when nothing listens at the path and when forwarding
          // is disallowed, so ask the host which. A missing socket is the error, whatever the
          // forwarding setting: `hostd dial-stdio` could not reach it either (and where hostd is not
          // on the PATH it would only say "command not found").
          void this.socketOnHost(client, socketPath).then((present) => {
            if (present === false) {
              reject(this.noSocket(socketPath));
              return;
            }
            if (this.opts.forwarding !== "streamlocal") {
              // Forwarding is disallowed (or the host could not be asked): `hostd dial-stdio` works then.
              // Stay with exec only if it reaches hostd.
              this.openExec(client, socketPath).then((ch) => {
                ch.once("data", () => (this.mode = "exec"));
                resolve(ch);
              }, reject);
              return;
            }
            reject(
              new KvmError(
                "connect_failed",
                `${this.target} refused to forward to ${socketPath} (${err.message}): sshd disallows stream-local forwarding (AllowStreamLocalForwarding, AllowTcpForwarding, DisableForwarding), or hostd is not listening there. Fix that, or use forwarding "auto"/"exec".`,
                { socketPath },
              ),
            );
          });
        });
      } catch (e) {
        reject(new KvmError("transport_disconnected", `SSH connection to ${this.target} was lost: ${(e as Error).message}`));
      }
    });
  }

  /**
   * Whether `socketPath` is a socket on the host, as the SSH user sees it
   * (`test -S` in its shell); undefined when the host could not be asked
   * (exec refused, no answer).
   */
  private socketOnHost(client: Client, socketPath: string): Promise<boolean | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(undefined), this.opts.connectTimeoutMs ?? 20_000);
      const done = (v: boolean | undefined) => {
        clearTimeout(timer);
        resolve(v);
      };
      try {
        client.exec(`test -S ${shellQuote(socketPath)}`, (err, ch: ClientChannel) => {
          if (err) return done(undefined);
          ch.on("exit", (code: number | null) => done(code === 0 ? true : code === 1 ? false : undefined));
          ch.on("close", () => done(undefined));
          ch.resume();
          ch.stderr.resume();
        });
      } catch {
        done(undefined);
      }
    });
  }

  private noSocket(socketPath: string): KvmError {
    return new KvmError(
      "connect_failed",
      `hostd's socket is not at ${socketPath} on ${this.opts.host} (looked as ${this.target}): hostd is not running there, it serves another path, or ${this.opts.username} may not reach it. Run \`hostd doctor\` on the host, or set kvm:socketPath to the socket hostd serves (default ${DEFAULT_SOCKET_PATH}).`,
      { socketPath, target: this.target },
    );
  }

  private openExec(client: Client, socketPath: string): Promise<Duplex> {
    const argv = this.opts.dialCommand ?? ["hostd", "dial-stdio", "--socket", socketPath];
    const command = argv.map(shellQuote).join(" ");
    return new Promise((resolve, reject) => {
      try {
        client.exec(command, (err, channel: ClientChannel) => {
          if (err) {
            reject(new KvmError("connect_failed", `Could not run \`${argv.join(" ")}\` on ${this.target}: ${err.message}`));
            return;
          }
          this.stats.mode = "exec";
          // Keep the remote stderr: if dial-stdio fails, its words are the useful part of the error.
          let stderr = "";
          channel.stderr.on("data", (d: Buffer) => {
            if (stderr.length < 4096) stderr += d.toString();
          });
          (channel as unknown as { remoteStderr: () => string }).remoteStderr = () => stderr.trim();
          resolve(channel);
        });
      } catch (e) {
        reject(new KvmError("transport_disconnected", `SSH connection to ${this.target} was lost: ${(e as Error).message}`));
      }
    });
  }

  private connect(): Promise<Client> {
    if (this.client) return this.client;
    const p = this.handshake();
    this.client = p;
    p.catch(() => {
      if (this.client === p) this.client = undefined;
    });
    return p;
  }

  private async handshake(): Promise<Client> {
    const o = this.opts;
    const agent = o.agent ?? (o.privateKey === undefined ? process.env.SSH_AUTH_SOCK : undefined);
    if (o.privateKey === undefined && !agent) {
      throw new KvmError(
        "auth_failed",
        `No SSH credentials for ${this.target}: no private key was given and SSH_AUTH_SOCK is not set, so there is no ssh-agent to ask. Set kvm:privateKey or kvm:privateKeyPath, or start an agent (eval "$(ssh-agent)"; ssh-add) and point SSH_AUTH_SOCK at it.`,
        { target: this.target },
      );
    }
    // ssh2 reports an agent it cannot reach as a failed connection, which the client would retry as a network
    // failure; it is a credentials problem that no retry fixes, so it is found here, before any network traffic.
    if (agent) await this.agentReachable(agent, o.agent !== undefined ? "the agent option" : "SSH_AUTH_SOCK");
    return this.connectWith(agent);
  }

  private agentReachable(agent: string, from: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const s = net.createConnection(agent);
      s.once("connect", () => {
        s.destroy();
        resolve();
      });
      s.once("error", (e: NodeJS.ErrnoException) => {
        const why = e.code === "ENOENT" ? "nothing is there" : e.code === "ECONNREFUSED" ? "no agent listens on it" : e.message;
        reject(
          new KvmError(
            "auth_failed",
            `No ssh-agent at ${agent} (${from}) for ${this.target}: ${why}. Set kvm:privateKey or kvm:privateKeyPath, or start an agent (eval "$(ssh-agent)"; ssh-add) and point SSH_AUTH_SOCK at it.`,
            { target: this.target, agent, errno: e.code },
          ),
        );
      });
    });
  }

  private connectWith(agent: string | undefined): Promise<Client> {
    const o = this.opts;
    const port = o.port ?? 22;
    const verifyHost = hostKeyVerifier(o, this.target);
    return new Promise((resolve, reject) => {
      const client = new Client();
      let ready = false;
      const config: ConnectConfig = {
        host: o.host,
        port,
        username: o.username,
        readyTimeout: o.connectTimeoutMs ?? 20_000,
        keepaliveInterval: 15_000,
        keepaliveCountMax: 3,
        hostVerifier: (key: Buffer) => verifyHost.check(key),
      };
      if (o.privateKey !== undefined) {
        config.privateKey = o.privateKey;
        if (o.passphrase !== undefined) config.passphrase = o.passphrase;
      }
      if (agent) config.agent = agent;
      client.on("ready", () => {
        ready = true;
        // Calls are small request/reply exchanges: without TCP_NODELAY, Nagle's algorithm
        // holds a call's second packet until the first is ACKed, and delayed ACKs make
        // that ~40 ms per call (measured by bench/calls.ts: p50 39 ms, 2 ms without).
        client.setNoDelay(true);
        this.stats.handshakes++;
        resolve(client);
      });
      client.on("error", (err: Error & { level?: string }) => {
        if (!ready) {
          reject(this.connectError(err, verifyHost.rejection));
        }
        // After ready, errors surface as 'close'; in-flight channels end and their calls fail.
      });
      client.on("close", () => {
        if (this.client) {
          void this.client.then(
            (c) => {
              if (c === client) this.client = undefined;
            },
            () => undefined,
          );
        }
        if (!ready) reject(this.connectError(new Error("connection closed during the SSH handshake"), verifyHost.rejection));
      });
      try {
        client.connect(config);
      } catch (e) {
        reject(new KvmError("auth_failed", `Could not use the SSH private key for ${this.target}: ${(e as Error).message}`));
      }
    });
  }

  private connectError(err: Error & { level?: string; code?: string }, rejection: KvmError | undefined): KvmError {
    if (rejection) return rejection;
    if (err.level === "client-authentication") {
      const fp = userKeyFingerprint(this.opts);
      return new KvmError(
        "auth_failed",
        `SSH authentication as "${this.opts.username}" to ${this.target} failed: the server accepted none of the offered credentials${fp ? ` (key ${fp})` : ""}. Check kvm:user and kvm:privateKey, and that the public key is in that user's authorized_keys.`,
        { target: this.target, keyFingerprint: fp },
      );
    }
    if (err.level === "client-timeout") {
      return new KvmError("transport_timeout", `Timed out connecting to ${this.target} over SSH.`, { target: this.target });
    }
    return new KvmError("connect_failed", `Could not connect to ${this.target} over SSH: ${err.message}`, {
      target: this.target,
      errno: err.code,
    });
  }
}

function userKeyFingerprint(o: SshOptions): string | undefined {
  if (o.privateKey === undefined) return undefined;
  const parsed = sshUtils.parseKey(o.privateKey, o.passphrase);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key || key instanceof Error) return undefined;
  return fingerprintOf(key.getPublicSSH());
}

/** Builds the host-key check for these options; remembers why it refused a key. */
function hostKeyVerifier(o: SshOptions, target: string): { check: (key: Buffer) => boolean; rejection?: KvmError } {
  const state: { check: (key: Buffer) => boolean; rejection?: KvmError } = { check: () => false };
  const port = o.port ?? 22;
  state.check = (key: Buffer) => {
    if (o.insecureSkipHostKeyCheck) return true;
    const fp = fingerprintOf(key);
    const type = keyTypeOf(key);
    const details = { host: o.host, port, fingerprint: fp, keyType: type };
    if (o.hostKey !== undefined) {
      if (o.hostKey.trim() === fp) return true;
      state.rejection = new KvmError(
        "host_key_mismatch",
        `Host key of ${target} is ${type} ${fp}, but ${o.hostKey} was expected. Refusing to connect: the host was reinstalled or someone is in the middle. Verify the new key, then update kvm:hostKey.`,
        details,
      );
      return false;
    }
    let content = o.knownHosts;
    const file = o.knownHostsPath ?? path.join(homedir(), ".ssh", "known_hosts");
    if (content === undefined) {
      try {
        content = readFileSync(file, "utf8");
      } catch {
        content = "";
      }
    }
    const verdict = checkKnownHosts(content, o.host, port, key);
    if (verdict.ok) return true;
    const where = o.knownHosts !== undefined ? "kvm:knownHosts" : file;
    const how =
      "Check the fingerprint on the host (`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`), then add it to known_hosts or set kvm:hostKey to it.";
    state.rejection =
      verdict.reason === "unknown"
        ? new KvmError("host_key_unknown", `Host key of ${target} is not known (${type} ${fp}; looked in ${where}). ${how}`, details)
        : new KvmError(
            "host_key_mismatch",
            `Host key of ${target} has CHANGED or is revoked: it presented ${type} ${fp}, which ${where} does not list for this host. Refusing to connect. ${how}`,
            details,
          );
    return false;
  };
  return state;
}

/**
 * One SSH connection per set of options, with the number of transports that
 * use it: a transport's close() gives back its use, and only the last one
 * closes the connection (others may be in the middle of calls on it).
 */
const pool = new Map<string, { conn: SshConnection; users: number }>();

function acquire(key: string, opts: SshOptions, target: string): SshConnection {
  let entry = pool.get(key);
  if (!entry) {
    entry = { conn: new SshConnection(opts, target), users: 0 };
    pool.set(key, entry);
  }
  entry.users++;
  return entry.conn;
}

function release(key: string, conn: SshConnection): void {
  const entry = pool.get(key);
  // closeAllSshConnections() may have closed and dropped it already.
  if (!entry || entry.conn !== conn) return;
  if (--entry.users > 0) return;
  pool.delete(key);
  conn.close();
}

function poolKey(o: SshOptions): string {
  const h = createHash("sha256");
  h.update(
    JSON.stringify([
      o.host,
      o.port ?? 22,
      o.username,
      o.privateKey === undefined ? null : Buffer.from(o.privateKey).toString("base64"),
      o.passphrase ?? null,
      o.agent ?? null,
      o.knownHosts ?? null,
      o.knownHostsPath ?? null,
      o.hostKey ?? null,
      o.insecureSkipHostKeyCheck ?? false,
      o.socketPath ?? null,
      o.dialCommand ?? null,
      o.forwarding ?? "auto",
    ]),
  );
  return h.digest("hex");
}

/**
 * A transport to one host over SSH. Instances with the same options share
 * one SSH connection per process.
 */
export class SshTransport implements Transport {
  readonly target: string;
  private readonly key: string;
  private conn: SshConnection;
  /** Whether this transport holds one use of `conn` (from construction until close()). */
  private holding = true;

  constructor(private readonly opts: SshOptions) {
    this.target = `${opts.username}@${opts.host}:${opts.port ?? 22}`;
    this.key = poolKey(opts);
    this.conn = acquire(this.key, opts, this.target);
  }

  /** Counters of the shared connection behind this transport. */
  get stats(): SshStats {
    return this.conn.stats;
  }

  openStream(): Promise<Duplex> {
    // A transport used again after close() takes a use of the pool's connection again.
    if (!this.holding) {
      this.conn = acquire(this.key, this.opts, this.target);
      this.holding = true;
    }
    return this.conn.openStream();
  }

  /** Gives back this transport's use of the shared connection; the last user's close() closes it. */
  async close(): Promise<void> {
    if (!this.holding) return;
    this.holding = false;
    release(this.key, this.conn);
  }
}

/** Closes every pooled SSH connection, whoever uses it (for tests and clean process exit). */
export function closeAllSshConnections(): void {
  for (const { conn } of pool.values()) conn.close();
  pool.clear();
}
