import { z } from "zod";
import { HostId } from "./common";
import { defineMethod } from "./method";

/**
 * Capabilities a hostd can announce. Clients check these, not version numbers,
 * before using a feature. Those that need something on the host (OVMF for
 * `vm.firmware.uefi`, an ISO tool for `vm.cloud-init`, ...) are announced
 * only where it is there (hostd/capabilities.ts).
 */
export const Capability = z.enum([
  "vm.kernel-boot",
  "vm.list",
  "vm.update.restart",
  "disks",
  "disks.grow-online",
  "images",
  "vm.disks.hotplug",
  "vm.firmware.uefi",
  "vm.cdrom",
  "vm.cloud-init",
  "vm.guest-agent",
  "vm.nic.user",
  "networks",
  "vm.nic.network",
  "vm.nic.hotplug",
  /** Mutating calls accept `idempotencyKey` in the envelope. */
  "idempotency",
  "host.events",
  "vm.console",
  /** `host.hello` reports `hostId`; deletes accept `hostId` and refuse on another host. */
  "host.id",
  /** Creates record `owner`; a name held by another owner is refused; deletes remove only the caller's own. */
  "owners",
  /** `host.hello` reports `capacity`; one VM larger than the host is refused with `over_capacity` unless it allows overcommit. */
  "host.capacity",
  /** `migration.*`: VMs (and detached Disks) move to and from this host, live or offline (sdk/migrate.ts). */
  "migration",
  /** `host.hello` reports `cpu`; VMs take `cpuModel` (`host` or a named QEMU model, enforced), checked before a start and a live move. */
  "host.cpu",
]);
export type Capability = z.infer<typeof Capability>;

export const Accelerator = z.enum(["kvm", "tcg"]);
export type Accelerator = z.infer<typeof Accelerator>;

export const AcceleratorInfo = z.strictObject({
  /** The accelerator new VMs get. */
  kind: Accelerator,
  /** Why this one was chosen, in words. */
  reason: z.string(),
  /** Set when VMs will run slower than they could, e.g. TCG on a host with /dev/kvm. */
  warning: z.string().optional(),
});
export type AcceleratorInfo = z.infer<typeof AcceleratorInfo>;

/** What one VM on this host may have at most (unless `overcommit`); VMs together may exceed it. */
export const HostCapacity = z.strictObject({
  /** The host's CPUs (online logical CPUs). */
  cpus: z.int().min(1),
  /** The host's total memory, MiB. */
  memoryMiB: z.int().min(1),
  /** hostd was started with --allow-overcommit: a VM may have more vCPUs or memory than the host. */
  overcommit: z.boolean(),
});
export type HostCapacity = z.infer<typeof HostCapacity>;

/** What this host can give guests as their CPU (capability `host.cpu`; absent from older hostds). */
export const HostCpuInfo = z.strictObject({
  /** The QEMU model behind cpuModel `host`: `host` (KVM passthrough) or `max` (TCG). */
  native: z.enum(["host", "max"]),
  /** The features cpuModel `host` gives a guest here. */
  features: z.array(z.string()),
  /** Named QEMU models this host has every feature of (a VM may start, and move live, with them). */
  models: z.array(z.string()),
});
export type HostCpuInfo = z.infer<typeof HostCpuInfo>;

export const HostHelloParams = z.strictObject({
  /** Free-form client identification for hostd's logs. */
  client: z.string().max(128).optional(),
});

export const HostHello = z.strictObject({
  /** This host's identity (kept in hostd's state directory); what the provider records and compares. */
  hostId: HostId,
  protocolVersion: z.int(),
  hostdVersion: z.string(),
  hostname: z.string(),
  capabilities: z.array(z.string()),
  accelerator: AcceleratorInfo,
  qemuVersion: z.string(),
  /** The host's capacity (capability `host.capacity`; absent from older hostds). */
  capacity: HostCapacity.optional(),
  cpu: HostCpuInfo.optional(),
});
export type HostHello = z.infer<typeof HostHello>;

export const hostHello = defineMethod("host.hello", HostHelloParams, HostHello, { mutating: false });
