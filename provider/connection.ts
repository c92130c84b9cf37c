/**
 * How the provider reaches a host: stack config (`kvm:*`), overridden field
 * by field by a resource's `connection` input. Connections are built per
 * call from plain data, so nothing live ends up in a serialized closure;
 * the SSH transport pools the real connection per host underneath.
 */
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { z } from "zod";
import { HostClient } from "../sdk/client";
import { KvmError } from "../sdk/errors";
import { HostPath } from "../sdk/protocol";
import { DEFAULT_SOCKET_PATH, LocalTransport } from "../sdk/transport/local";
import { SshTransport } from "../sdk/transport/ssh";

/** The connection settings, as stack config keys (`kvm:<key>`) or a resource's `connection` input. */
export const ConnectionSettings = z.strictObject({
  /** `ssh` (default when `host` is set) or `local` (hostd on the machine running Pulumi). */
  transport: z.enum(["ssh", "local"]).optional(),
  host: z.string().min(1).max(255).regex(/^[A-Za-z0-9.:_[\]-]+$/, "must be a host name or IP address").optional(),
  port: z.coerce.number().int().min(1).max(65535).optional(),
  user: z.string().min(1).max(64).regex(/^[A-Za-z0-9._][A-Za-z0-9._-]*$/, "must be a user name").optional(),
  /** Private key text; keep it secret (`pulumi config set --secret kvm:privateKey < key`). */
  privateKey: z.string().min(1).optional(),
  /** Path of a private key file on the machine running Pulumi. */
  privateKeyPath: z.string().min(1).optional(),
  privateKeyPassphrase: z.string().optional(),
  /** known_hosts content. */
  knownHosts: z.string().optional(),
  /** known_hosts file on the machine running Pulumi; default ~/.ssh/known_hosts. */
  knownHostsPath: z.string().min(1).optional(),
  /** Expected host key fingerprint, `SHA256:...`. */
  hostKey: z.string().regex(/^SHA256:[A-Za-z0-9+/]{43}$/, "must be an OpenSSH SHA256 fingerprint like SHA256:abc...").optional(),
  /** Accept any host key (throwaway labs only). */
  insecureSkipHostKeyCheck: z.union([z.boolean(), z.enum(["true", "false"]).transform((s) => s === "true")]).optional(),
  /** hostd's socket on the host. */
  socketPath: HostPath.optional(),
  /** argv run on the host when stream-local forwarding is refused. */
  dialCommand: z.array(z.string().min(1).max(4096)).min(1).max(32).optional(),
});
export type ConnectionSettings = z.output<typeof ConnectionSettings>;

/** Stack config keys read by `configure`. */
export const CONFIG_KEYS = Object.keys(ConnectionSettings.shape) as (keyof ConnectionSettings)[];

/** Merged settings → a client. The key material is read here, at call time, never captured. */
export function clientFor(settings: ConnectionSettings, timeoutMs = 120_000): HostClient {
  return new HostClient(transportFor(settings), { timeoutMs });
}

/** The `host` output: where a VM lives, e.g. `root@10.0.0.5:22` or `unix:/run/hostd/hostd.sock`. */
export function targetOf(s: ConnectionSettings): string {
  if (transportKind(s) === "local") return `unix:${s.socketPath ?? DEFAULT_SOCKET_PATH}`;
  return `${s.user ?? defaultUser()}@${s.host}:${s.port ?? 22}${s.socketPath ? `:${s.socketPath}` : ""}`;
}

function transportKind(s: ConnectionSettings): "ssh" | "local" {
  return s.transport ?? (s.host ? "ssh" : "local");
}

function defaultUser(): string {
  return process.env.USER ?? "root";
}

function transportFor(s: ConnectionSettings) {
  if (transportKind(s) === "local") return new LocalTransport(s.socketPath ?? DEFAULT_SOCKET_PATH);
  if (!s.host) throw new KvmError("connect_failed", "The SSH transport needs a host: set kvm:host or connection.host.");
  let privateKey: string | Buffer | undefined = s.privateKey;
  if (privateKey === undefined && s.privateKeyPath) {
    const p = s.privateKeyPath.replace(/^~(?=\/)/, homedir());
    try {
      privateKey = readFileSync(p);
    } catch (e) {
      throw new KvmError("auth_failed", `Cannot read the SSH private key ${p}: ${(e as Error).message}`);
    }
  }
  return new SshTransport({
    host: s.host,
    port: s.port,
    username: s.user ?? defaultUser(),
    privateKey,
    passphrase: s.privateKeyPassphrase,
    knownHosts: s.knownHosts,
    knownHostsPath: s.knownHostsPath?.replace(/^~(?=\/)/, homedir()),
    hostKey: s.hostKey,
    insecureSkipHostKeyCheck: s.insecureSkipHostKeyCheck,
    socketPath: s.socketPath,
    dialCommand: s.dialCommand,
  });
}
