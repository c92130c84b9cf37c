import * as pulumi from "@pulumi/pulumi";
import type { HostOutputs } from "./host-provider";
import type { ConnectionSettings } from "./connection";
import { HOST_FIELDS } from "./fields";
import type { ArgsOf } from "./resource";

/** A Host's arguments (`HOST_FIELDS`, provider/fields.ts): its connection, and a name (default: the resource's). */
export type HostArgs = ArgsOf<typeof HOST_FIELDS>;

/** What the provider reports besides the inputs (see HostOutputs). */
const HOST_OUTPUTS = ["hostId", "target", "route", "hostname", "hostdVersion", "qemuVersion", "accelerator", "acceleratorReason", "cpus", "memoryMiB", "overcommit", "cpuFeatures", "cpuModels", "capabilities"] as const;

/**
 * A machine running hostd, named once in the program and given as `host:` to
 * Vm, Disk and Network. The stack's `kvm:*` config stays the default host.
 *
 * It is a resource (not a component) because it reads the machine: its id and
 * facts are recorded in state, so a route that later reaches another machine
 * is noticed by its id, and resources on it know the id at preview. It makes
 * nothing on the machine. Its provider is a module required by path, and the
 * connection is plain data (secret in state), so no live connection or key is
 * ever captured in a closure; each host gets its own pooled SSH connection.
 *
 * ```ts
 * const a = new kvm.Host("a", { connection: { host: "10.0.0.5", user: "root", privateKey } });
 * new kvm.Vm("web", { host: a, memoryMiB: 256, kernel: { path: "/srv/vmlinuz" } });
 * export const aId = a.hostId;
 * ```
 */
export class Host extends pulumi.dynamic.Resource {
  declare readonly name: pulumi.Output<string>;
  declare readonly connection: pulumi.Output<ConnectionSettings>;
  /** The host's id (hostd's, kept in its state directory): a host is its id, never its route. */
  declare readonly hostId: pulumi.Output<string>;
  /** Display form of the route, e.g. `root@10.0.0.5:22`. */
  declare readonly target: pulumi.Output<string>;
  declare readonly hostname: pulumi.Output<string>;
  declare readonly hostdVersion: pulumi.Output<string>;
  declare readonly qemuVersion: pulumi.Output<string>;
  /** `kvm` or `tcg`. */
  declare readonly accelerator: pulumi.Output<string>;
  declare readonly acceleratorReason: pulumi.Output<string>;
  declare readonly cpus: pulumi.Output<number | null>;
  declare readonly memoryMiB: pulumi.Output<number | null>;
  declare readonly overcommit: pulumi.Output<boolean | null>;
  /** The CPU features cpuModel `host` gives a guest on this host. */
  declare readonly cpuFeatures: pulumi.Output<string[] | null>;
  /** Named QEMU CPU models this host has every feature of: a VM with one of them starts, and moves live, between hosts that all list it. */
  declare readonly cpuModels: pulumi.Output<string[] | null>;
  declare readonly capabilities: pulumi.Output<string[]>;

  constructor(name: string, args: HostArgs, opts?: pulumi.CustomResourceOptions) {
    const inputs: Record<string, unknown> = {
      ...Object.fromEntries(HOST_OUTPUTS.map((k) => [k, undefined])),
      ...args,
      name: args.name ?? name,
      connection: pulumi.secret(args.connection ?? {}),
    };
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const provider = require("./host-provider") as pulumi.dynamic.ResourceProvider;
    super(provider, name, inputs, { ...opts, additionalSecretOutputs: [...(opts?.additionalSecretOutputs ?? []), "connection"] }, "kvm", "Host");
  }

  /**
   * What a resource's `host` input carries: each part its own output, so a
   * first preview knows the name and route though the id is not read yet.
   */
  ref(): { name: pulumi.Output<string>; hostId: pulumi.Output<string>; connection: pulumi.Output<ConnectionSettings> } {
    return { name: this.name, hostId: this.hostId, connection: this.connection };
  }
}

export type { HostOutputs };
