import * as pulumi from "@pulumi/pulumi";
import type { ConnectionSettings } from "./connection";
import type { VmOutputs } from "./vm-provider";

/** How to reach hostd; every field is optional and overrides the stack's `kvm:*` config. */
export type ConnectionArgs = { [K in keyof ConnectionSettings]?: pulumi.Input<ConnectionSettings[K]> };

export interface KernelBootArgs {
  /** Kernel image path on the host. */
  path: pulumi.Input<string>;
  /** initrd path on the host. */
  initrd?: pulumi.Input<string>;
  /** Kernel command line. */
  cmdline?: pulumi.Input<string>;
}

export interface VmArgs {
  /** VM name on the host (`^[a-z0-9][a-z0-9-]{0,62}$`). Default: `<namePrefix>-<random>`, stable across updates. */
  name?: pulumi.Input<string>;
  /** Prefix of the generated name. Default: the resource's name. */
  namePrefix?: pulumi.Input<string>;
  /** Virtual CPUs (1-128). Default 1. Changing it restarts a running VM in place. */
  vcpus?: pulumi.Input<number>;
  /** Memory in MiB (64 - 1048576). Default 512. Changing it restarts a running VM in place. */
  memoryMiB?: pulumi.Input<number>;
  /** Desired power state. Default true. */
  running?: pulumi.Input<boolean>;
  /** Direct kernel boot from files on the host. */
  kernel: pulumi.Input<KernelBootArgs>;
  /** Bound, in seconds, on waiting for the VM to run on create and update (customTimeouts do not reach dynamic providers). Default 300. */
  timeoutSeconds?: pulumi.Input<number>;
  /** Per-resource connection; defaults to the stack config `kvm:*`. */
  connection?: pulumi.Input<ConnectionArgs>;
}

/**
 * A QEMU/KVM virtual machine on a host running hostd.
 *
 * ```ts
 * import * as kvm from "pulumi-kvm";
 * const vm = new kvm.Vm("web", { memoryMiB: 256, kernel: { path: "/srv/vmlinuz" } });
 * export const state = vm.state;
 * ```
 */
export class Vm extends pulumi.dynamic.Resource {
  declare readonly name: pulumi.Output<string>;
  declare readonly vcpus: pulumi.Output<number>;
  declare readonly memoryMiB: pulumi.Output<number>;
  /** True while QEMU runs the VM (read from the host on refresh). */
  declare readonly running: pulumi.Output<boolean>;
  declare readonly kernel: pulumi.Output<VmOutputs["kernel"]>;
  /** hostd's id of the VM (also the resource id). */
  declare readonly vmId: pulumi.Output<string>;
  /** Where the VM lives, e.g. `root@10.0.0.5:22`. */
  declare readonly host: pulumi.Output<string>;
  /** `running`, `paused`, `stopped` or `crashed`. */
  declare readonly state: pulumi.Output<string>;
  /** `kvm` or `tcg`. */
  declare readonly accelerator: pulumi.Output<string | null>;
  declare readonly pid: pulumi.Output<number | null>;
  declare readonly qemuStatus: pulumi.Output<string | null>;
  declare readonly lastExit: pulumi.Output<VmOutputs["lastExit"]>;

  constructor(name: string, args: VmArgs, opts?: pulumi.CustomResourceOptions) {
    // Every property is listed, even when undefined: Pulumi only creates outputs for keys present here.
    const inputs: Record<string, unknown> = {
      name: args.name,
      namePrefix: args.namePrefix ?? name,
      vcpus: args.vcpus,
      memoryMiB: args.memoryMiB,
      running: args.running,
      kernel: args.kernel,
      timeoutSeconds: args.timeoutSeconds,
      connection: args.connection,
      // Outputs the provider fills in.
      vmId: undefined,
      host: undefined,
      state: undefined,
      accelerator: undefined,
      pid: undefined,
      qemuStatus: undefined,
      lastExit: undefined,
    };
    // The provider is a module required by path: state stores only that require, never a closure.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const provider = require("./vm-provider") as pulumi.dynamic.ResourceProvider;
    super(provider, name, inputs, {
      ...opts,
      // A per-resource private key must never reach state in plain text.
      additionalSecretOutputs: [...(opts?.additionalSecretOutputs ?? []), "connection"],
    }, "kvm", "Vm");
  }
}
