import * as pulumi from "@pulumi/pulumi";
import type { ConnectionSettings } from "./connection";
import type { VmOutputs } from "./vm-provider";
import { Disk } from "./disk";
import { Network } from "./network";

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

/** A Disk attached to a VM: the Disk resource (or a disk's name on the host) and its bus. */
export interface VmDiskArgs {
  disk: pulumi.Input<string> | Disk;
  /** virtio (default; hot-pluggable), scsi (hot-pluggable) or sata (restart). */
  bus?: pulumi.Input<"virtio" | "scsi" | "sata">;
}

export interface PortForwardArgs {
  protocol?: pulumi.Input<"tcp" | "udp">;
  /** Default 127.0.0.1: nothing is exposed beyond the host unless you say so. */
  hostAddress?: pulumi.Input<string>;
  hostPort: pulumi.Input<number>;
  guestPort: pulumi.Input<number>;
}

/** A NIC on QEMU's private user-mode network (isolated; port forwards in). */
export interface UserNicArgs {
  type: pulumi.Input<"user">;
  /** Default: stable, derived from the VM's id; an update never changes it. */
  mac?: pulumi.Input<string>;
  model?: pulumi.Input<"virtio" | "e1000e">;
  portForwards?: pulumi.Input<pulumi.Input<PortForwardArgs>[]>;
}

/** A NIC on a Network: the Network resource (or a network's name on the host). */
export interface NetworkNicArgs {
  network: pulumi.Input<string> | Network;
  /** Default: stable, derived from the VM's id; an update never changes it. */
  mac?: pulumi.Input<string>;
  /** A static DHCP lease (nat/isolated networks): the address this NIC always gets. */
  ip?: pulumi.Input<string>;
  /** `virtio` (default) or `e1000e` (guests without virtio drivers). */
  model?: pulumi.Input<"virtio" | "e1000e">;
}

export interface CloudInitArgs {
  /** cloud-config or script; kept secret in state. */
  userData: pulumi.Input<string>;
  metaData?: pulumi.Input<string>;
  networkConfig?: pulumi.Input<string>;
  /** Change it to make cloud-init run its per-instance steps again. Default: the VM's id. */
  instanceId?: pulumi.Input<string>;
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
  kernel?: pulumi.Input<KernelBootArgs>;
  /** `bios` (SeaBIOS, default) or `uefi` (OVMF, with the VM's own NVRAM). */
  firmware?: pulumi.Input<"bios" | "uefi">;
  /** Disks, boot disk first. Adding or removing one on a running VM hot-plugs it. */
  disks?: pulumi.Input<VmDiskArgs[]>;
  /** A read-only ISO on the host (installers). */
  cdrom?: pulumi.Input<{ path: pulumi.Input<string> }>;
  /** Default: cdrom first when there is one. */
  bootOrder?: pulumi.Input<pulumi.Input<"cdrom" | "disk">[]>;
  /** NICs, in guest order. Adding or removing one on a running VM hot-plugs it; MACs never change. */
  networkInterfaces?: pulumi.Input<(UserNicArgs | NetworkNicArgs)[]>;
  /** cloud-init NoCloud data (a `cidata` seed disk hostd builds). */
  cloudInit?: pulumi.Input<CloudInitArgs>;
  /** Add the qemu-guest-agent channel (IPs, hostname, OS, clean shutdown). Default true. */
  guestAgent?: pulumi.Input<boolean>;
  /** `on-crash`: hostd restarts the VM itself when QEMU crashes or is killed (backing off). Default `never`: the next `pulumi up` does. */
  restartPolicy?: pulumi.Input<"never" | "on-crash">;
  /**
   * What create and update wait for: `running` (default), `agent` (guest agent answers) or `ip`
   * (an address from this boot's DHCP lease or the guest agent). Refresh never waits.
   */
  waitFor?: pulumi.Input<"running" | "agent" | "ip">;
  /** Bound, in seconds, on that wait (customTimeouts do not reach dynamic providers). Default 300. */
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
  /** The id of the host it lives on (hostd's host id; a host is its id, never the route that reaches it). */
  declare readonly hostId: pulumi.Output<string>;
  declare readonly host: pulumi.Output<string>;
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
    const inputs: Record<string, unknown> = {
      name: args.name,
      namePrefix: args.namePrefix ?? name,
      // Seeds the generated name, so a create that is interrupted and run again finds what it made.
      nameSeed: `${pulumi.getProject()}/${pulumi.getStack()}/kvm:Vm/${name}`,
      vcpus: args.vcpus,
      memoryMiB: args.memoryMiB,
      running: args.running,
      kernel: args.kernel,
      firmware: args.firmware,
      disks,
      cdrom: args.cdrom,
      bootOrder: args.bootOrder,
      networkInterfaces,
      cloudInit: args.cloudInit ? pulumi.secret(args.cloudInit) : undefined,
      guestAgent: args.guestAgent,
      restartPolicy: args.restartPolicy,
      waitFor: args.waitFor,
      timeoutSeconds: args.timeoutSeconds,
      connection: args.connection,
      // Outputs the provider fills in.
      vmId: undefined,
      hostId: undefined,
      route: undefined,
      host: undefined,
      state: undefined,
      accelerator: undefined,
      pid: undefined,
      qemuStatus: undefined,
      lastExit: undefined,
      macAddresses: undefined,
      nics: undefined,
      ipAddress: undefined,
      ipAddresses: undefined,
      guestHostname: undefined,
      guestOs: undefined,
    };
    // The provider is a module required by path: state stores only that require, never a closure.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const provider = require("./vm-provider") as pulumi.dynamic.ResourceProvider;
    super(provider, name, inputs, {
      ...opts,
      // A per-resource private key and cloud-init user-data must never reach state in plain text.
      additionalSecretOutputs: [...(opts?.additionalSecretOutputs ?? []), "connection", "cloudInit"],
    }, "kvm", "Vm");
  }
}
