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
import { HostId, HostPath } from "../sdk/protocol";
import { fieldTable, inputShape } from "../sdk/protocol/fields";
import { DEFAULT_SOCKET_PATH, LocalTransport } from "../sdk/transport/local";
import { SshTransport } from "../sdk/transport/ssh";

/**
 * The connection settings, once: stack config keys (`kvm:<key>`), a
 * resource's `connection` input, and (later) the Terraform provider block.
 * None of them is part of a host object: a change is checked against the
 * host's id (placement.ts), never taken to mean another host.
 */
export const CONNECTION_FIELDS = fieldTable({
  transport: { schema: z.enum(["ssh", "local"]), doc: "`ssh` (default when `host` is set) or `local` (hostd on the machine running Pulumi).", effect: "route" },
  host: { schema: z.string().min(1).max(255).regex(/^[A-Za-z0-9.:_[\]-]+$/, "must be a host name or IP address"), doc: "SSH target host.", effect: "route" },
  port: { schema: z.coerce.number().int().min(1).max(65535), doc: "SSH port (default 22).", effect: "route" },
  user: { schema: z.string().min(1).max(64).regex(/^[A-Za-z0-9._][A-Za-z0-9._-]*$/, "must be a user name"), doc: "SSH user (default `$USER`).", effect: "route" },
  privateKey: { schema: z.string().min(1), secret: true, doc: "Private key text (`pulumi config set --secret kvm:privateKey < key`).", effect: "route" },
  privateKeyPath: { schema: z.string().min(1), doc: "Path of a private key file on the machine running Pulumi; otherwise SSH_AUTH_SOCK.", effect: "route" },
  privateKeyPassphrase: { schema: z.string(), secret: true, doc: "Passphrase of the private key.", effect: "route" },
  knownHosts: { schema: z.string(), doc: "known_hosts content.", effect: "route" },
  knownHostsPath: { schema: z.string().min(1), doc: "known_hosts file on the machine running Pulumi (default ~/.ssh/known_hosts).", effect: "route" },
  hostKey: { schema: z.string().regex(/^SHA256:[A-Za-z0-9+/]{43}$/, "must be an OpenSSH SHA256 fingerprint like SHA256:abc..."), doc: "Expected host key fingerprint, `SHA256:...`.", effect: "route" },
  insecureSkipHostKeyCheck: {
    schema: z.union([z.boolean(), z.enum(["true", "false"]).transform((s) => s === "true")]),
    doc: "Accept any host key (throwaway labs only).",
    effect: "route",
  },
  socketPath: { schema: HostPath, doc: "hostd's socket on the host (default /run/hostd/hostd.sock).", effect: "route" },
  dialCommand: { schema: z.array(z.string().min(1).max(4096)).min(1).max(32), doc: "argv run on the host when stream-local forwarding is refused (default `hostd dial-stdio`).", effect: "route" },
});

export const ConnectionSettings = z.strictObject(inputShape(CONNECTION_FIELDS));
export type ConnectionSettings = z.output<typeof ConnectionSettings>;

/** A host's name in the program (a `kvm.Host`'s `name`): only for messages; the host is its id. */
export const HostName = z.string().min(1).max(63).regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "must be letters, digits, '.', '_' or '-'");

/**
 * A resource's `host` input: a `kvm.Host` as its outputs hand it on. The
 * connection is the whole route to that host (the stack's `kvm:*` config is
 * not merged into it: that is the default host, another machine); `hostId`
 * is what the Host last read, unknown on a first preview.
 */
export const HostRef = z.strictObject({ name: HostName, hostId: HostId.optional(), connection: ConnectionSettings });
export type HostRef = z.output<typeof HostRef>;

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
