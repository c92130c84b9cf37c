/**
 * What each resource reports besides its inputs (the field tables) and its
 * placement: one table per resource, each output with its description and
 * its type as a zod schema. The Pulumi resources list their outputs from
 * here (vm.ts, disk.ts, network.ts); the Terraform face reads them as its
 * computed attributes (terraform/schema.ts), with the types converted as the
 * inputs' are. Each key must be one of the provider module's outputs
 * (`satisfies` below), so a table cannot promise what the module never sets.
 */
import { z } from "zod";
import { DiskInfo, NetworkInfo, VmInfo } from "../sdk/protocol";
import type { DiskOutputs } from "./disk-provider";
import type { NetworkOutputs } from "./network-provider";
import type { VmOutputs } from "./vm-provider";

export interface OutputDef {
  doc: string;
  schema: z.ZodType;
}

export const VM_OUTPUT_FIELDS = {
  state: { doc: "`running`, `paused`, `stopped` or `crashed` (read from the host on refresh).", schema: z.string() },
  accelerator: { doc: "`kvm` or `tcg`: what QEMU runs the guest with.", schema: z.string().nullable() },
  pid: { doc: "QEMU's process id while it runs.", schema: z.int().nullable() },
  qemuStatus: { doc: "QEMU's own run state (`running`, `paused`, …) while it runs.", schema: z.string().nullable() },
  lastExit: { doc: "How QEMU last ended `{ reason, at, detail? }`, or null if it never did.", schema: VmInfo.shape.lastExit },
  macAddresses: { doc: "The MAC of each NIC, in order (stable for the VM's life).", schema: z.array(z.string()) },
  nics: {
    doc: "Each NIC `{ network, mac, tap, ipAddresses }`: its network, MAC, host tap and the addresses it has now.",
    schema: z.array(z.object({ network: z.string().nullable(), mac: z.string(), tap: z.string().nullable(), ipAddresses: z.array(z.string()) })),
  },
  ipAddress: { doc: "The primary IPv4 address: the first NIC's, from DHCP or the guest agent; null until known.", schema: z.string().nullable() },
  ipAddresses: { doc: "Every address of every NIC.", schema: z.array(z.string()) },
  guestHostname: { doc: "The guest's hostname, as its guest agent reports it.", schema: z.string().nullable() },
  guestOs: { doc: "The guest's OS, as its guest agent reports it.", schema: z.string().nullable() },
} satisfies { [K in keyof VmOutputs]?: OutputDef };

export const DISK_OUTPUT_FIELDS = {
  path: { doc: "The disk's file on the host.", schema: DiskInfo.shape.path },
  virtualSizeBytes: { doc: "The size the guest sees, in bytes.", schema: z.number() },
  actualSizeBytes: { doc: "The bytes the file takes on the host (a thin disk grows as the guest writes).", schema: z.number() },
  backingFile: { doc: "The cached base image a copy-on-write disk is an overlay of.", schema: DiskInfo.shape.backingFile },
  attachedTo: { doc: "The VM the disk is attached to, if any.", schema: z.string().nullable() },
} satisfies { [K in keyof DiskOutputs]?: OutputDef };

export const NETWORK_OUTPUT_FIELDS = {
  bridgeName: { doc: "The bridge VMs are attached to (generated for nat/isolated when not given).", schema: z.string() },
  gateway: { doc: "The host's address on the network.", schema: z.string().nullable() },
  dhcpStart: { doc: "The first address DHCP hands out.", schema: z.string().nullable() },
  dhcpEnd: { doc: "The last address DHCP hands out.", schema: z.string().nullable() },
  state: { doc: "`active`, or `degraded` with the reasons in `problems` (read from the host on refresh).", schema: NetworkInfo.shape.state },
  problems: { doc: "What is not in place when the network is degraded.", schema: NetworkInfo.shape.problems },
  vms: { doc: "The VMs with a NIC on it.", schema: NetworkInfo.shape.vms },
} satisfies { [K in keyof NetworkOutputs]?: OutputDef };

export type OutputTable = Record<string, OutputDef>;
