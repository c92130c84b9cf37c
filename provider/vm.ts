import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { CloudInit, KernelBoot, NetworkNic, PortForward, UserNic, VM_FIELDS, VmDisk } from "../sdk/protocol";
import type { VmOutputs } from "./vm-provider";
import { CONNECTION_FIELDS } from "./connection";
import { Disk } from "./disk";
import { Network } from "./network";
import { VM_OUTPUT_FIELDS } from "./outputs";
import { ArgsOf, DeepInput, PLACEMENT_OUTPUTS, resourceInputs, ResourceArgs, resourceOptions } from "./resource";

/** What the provider reports besides the table's fields (see VmOutputs). */
const VM_OUTPUTS = [...PLACEMENT_OUTPUTS, "vmId", ...Object.keys(VM_OUTPUT_FIELDS)];

/** How to reach hostd; every field is optional and overrides the stack's `kvm:*` config. */
export type ConnectionArgs = ArgsOf<typeof CONNECTION_FIELDS>;
export type KernelBootArgs = DeepInput<z.input<typeof KernelBoot>>;
export type CloudInitArgs = DeepInput<z.input<typeof CloudInit>>;
export type PortForwardArgs = DeepInput<z.input<typeof PortForward>>;
export type UserNicArgs = DeepInput<z.input<typeof UserNic>>;
/** A NIC on a Network: the Network resource (or a network's name on the host). */
export type NetworkNicArgs = Omit<{ [K in keyof z.input<typeof NetworkNic>]: DeepInput<z.input<typeof NetworkNic>[K]> }, "network"> & { network: pulumi.Input<string> | Network };
/** A Disk attached to a VM: the Disk resource (or a disk's name on the host) and its bus. */
export type VmDiskArgs = Omit<{ [K in keyof z.input<typeof VmDisk>]: DeepInput<z.input<typeof VmDisk>[K]> }, "disk"> & { disk: pulumi.Input<string> | Disk };

/**
 * A VM's arguments: the fields of `VM_FIELDS` (sdk/protocol/vm.ts, where each
 * is described once; the README's `kvm.Vm` table is generated from it), with
 * Disk and Network resources accepted where a disk or network name goes.
 */
export type VmArgs = Omit<ArgsOf<typeof VM_FIELDS>, "disks" | "networkInterfaces"> &
  ResourceArgs & {
    disks?: pulumi.Input<VmDiskArgs[]>;
    networkInterfaces?: pulumi.Input<(UserNicArgs | NetworkNicArgs)[]>;
  };

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
  /** The id of the host it lives on (hostd's host id; a host is its id, never the route that reaches it). */
  declare readonly hostId: pulumi.Output<string>;
  /** Where the VM lives, e.g. `root@10.0.0.5:22`. */
  declare readonly host: pulumi.Output<string>;
  /** The kvm.Host it is on (undefined: the stack's default host). */
  declare readonly hostName: pulumi.Output<string | undefined>;
  /** `running`, `paused`, `stopped` or `crashed`. */
  declare readonly state: pulumi.Output<string>;
  /** `kvm` or `tcg`. */
  declare readonly accelerator: pulumi.Output<string | null>;
  declare readonly pid: pulumi.Output<number | null>;
  declare readonly qemuStatus: pulumi.Output<string | null>;
  declare readonly lastExit: pulumi.Output<VmOutputs["lastExit"]>;
  /** MAC of each NIC, in order (stable for the VM's life). */
  declare readonly macAddresses: pulumi.Output<string[]>;
  /** Each NIC: its network, MAC, tap and current addresses. */
  declare readonly nics: pulumi.Output<VmOutputs["nics"]>;
  /** The primary IPv4 address: the first NIC's address from DHCP or the guest agent. */
  declare readonly ipAddress: pulumi.Output<string | null>;
  declare readonly ipAddresses: pulumi.Output<string[]>;
  declare readonly guestHostname: pulumi.Output<string | null>;
  declare readonly guestOs: pulumi.Output<string | null>;

  constructor(name: string, args: VmArgs, opts?: pulumi.CustomResourceOptions) {
    // Every property is listed, even when undefined: Pulumi only creates outputs for keys present here.
    // A Disk resource stands for its name on the host (and makes the VM depend on it).
    const disks = Array.isArray(args.disks)
      ? args.disks.map((d: VmDiskArgs) => ({ ...d, disk: d.disk instanceof Disk ? d.disk.name : d.disk }))
      : args.disks;
    // A Network resource stands for its name on the host (and makes the VM depend on it).
    const networkInterfaces = Array.isArray(args.networkInterfaces)
      ? args.networkInterfaces.map((n: UserNicArgs | NetworkNicArgs) =>
          "network" in n && n.network instanceof Network ? { ...n, network: n.network.name } : n,
        )
      : args.networkInterfaces;
    // Where each Disk and Network resource is, so a VM using one of another host is refused at preview.
    const used: (Disk | Network)[] = [
      ...(Array.isArray(args.disks) ? args.disks.map((d: VmDiskArgs) => d.disk).filter((d): d is Disk => d instanceof Disk) : []),
      ...(Array.isArray(args.networkInterfaces)
        ? args.networkInterfaces.map((n: UserNicArgs | NetworkNicArgs) => ("network" in n ? n.network : undefined)).filter((n): n is Network => n instanceof Network)
        : []),
    ];
    const uses = used.map((r) => ({ kind: r instanceof Disk ? "Disk" : "Network", name: r.name, ...r.placedBy }));
    const inputs = resourceInputs("kvm:Vm", name, VM_FIELDS, args, {
      disks,
      networkInterfaces,
      uses,
      ...(args.cloudInit !== undefined && { cloudInit: pulumi.secret(args.cloudInit) }),
    }, VM_OUTPUTS);
    // The provider is a module required by path: state stores only that require, never a closure.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const provider = require("./vm-provider") as pulumi.dynamic.ResourceProvider;
    super(provider, name, inputs, resourceOptions(VM_FIELDS, opts), "kvm", "Vm");
  }
}
