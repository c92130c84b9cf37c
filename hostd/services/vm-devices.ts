/**
 * Where a VM's devices go, and how a spec change maps onto hot-plug. Pure
 * functions over the spec and the VM's kept device placement, so the rules
 * (stable slots, stable MACs, what can change without a restart) are unit
 * tested without QEMU.
 */
import { createHash } from "node:crypto";
import type { VmDisk, VmSpec } from "../../sdk/protocol";
import { DISK_SLOTS, FIRST_NIC_SLOT, MAX_NICS, QemuDisk, QemuNic, SATA_PORTS } from "../drivers/qemu-argv";
import { VmDevices } from "../store";
import { KvmError } from "../../sdk/errors";

/** A Disk as the VM service resolves it: its file and format. */
export interface ResolvedDisk {
  name: string;
  id: string;
  file: string;
  format: "qcow2" | "raw";
}

/** Stable MAC for NIC `index` of VM `vmId`: QEMU's 52:54:00 prefix + 3 bytes of a hash. */
export function derivedMac(vmId: string, index: number): string {
  const h = createHash("sha256").update(`${vmId}/nic/${index}`).digest();
  return ["52", "54", "00", ...[h[0]!, h[1]!, h[2]!].map((b) => b.toString(16).padStart(2, "0"))].join(":");
}

export function nicMacs(vmId: string, spec: VmSpec): string[] {
  return spec.networkInterfaces.map((n, i) => n.mac ?? derivedMac(vmId, i));
}

/** Device id and block node name of a disk (the node name is QEMU's, ≤ 31 chars). */
export function diskIds(diskId: string): { id: string; node: string } {
  return { id: `disk-${diskId.slice(0, 8)}`, node: `d${diskId.replace(/-/g, "").slice(0, 16)}` };
}

/**
 * Gives every attached disk a slot on its bus, keeping the slots disks already
 * had (a disk never moves while attached) and freeing the slots of detached ones.
 */
export function assignDiskSlots(disks: VmDisk[], kept: VmDevices): Record<string, number> {
  const old = kept.diskSlots ?? {};
  const out: Record<string, number> = {};
  const limits = { virtio: DISK_SLOTS, scsi: 256, sata: SATA_PORTS - 1 };
  const keyOf = (d: VmDisk) => `${d.bus}:${d.disk}`;
  const used = { virtio: new Set<number>(), scsi: new Set<number>(), sata: new Set<number>() };
  for (const d of disks) {
    const prev = old[keyOf(d)];
    if (prev !== undefined && !used[d.bus].has(prev)) {
      out[keyOf(d)] = prev;
      used[d.bus].add(prev);
    }
  }
  for (const d of disks) {
    if (out[keyOf(d)] !== undefined) continue;
    let slot = 0;
    while (used[d.bus].has(slot)) slot++;
    if (slot >= limits[d.bus]) {
      throw new KvmError("invalid_params", `VM has more ${d.bus} disks than the ${limits[d.bus]} it can take.`);
    }
    out[keyOf(d)] = slot;
    used[d.bus].add(slot);
  }
  return out;
}

export function slotKey(d: VmDisk): string {
  return `${d.bus}:${d.disk}`;
}

/** Boot indexes: cdrom and disks in the order the spec asks for. */
export function bootIndexes(spec: VmSpec): { cdrom?: number; disks: number[] } {
  const cdromFirst = spec.cdrom !== undefined && (spec.bootOrder ? spec.bootOrder[0] === "cdrom" : true);
  const diskBase = cdromFirst ? 2 : 1;
  return {
    cdrom: spec.cdrom ? (cdromFirst ? 1 : spec.disks.length + 1) : undefined,
    disks: spec.disks.map((_, i) => diskBase + i),
  };
}

export function qemuDisks(spec: VmSpec, resolved: Map<string, ResolvedDisk>, slots: Record<string, number>): QemuDisk[] {
  const boot = bootIndexes(spec);
  return spec.disks.map((d, i) => {
    const r = resolved.get(d.disk)!;
    const ids = diskIds(r.id);
    return {
      ...ids,
      file: r.file,
      format: r.format,
      readOnly: false,
      bus: d.bus,
      slot: slots[slotKey(d)]!,
      serial: d.disk.slice(0, 20),
      // Direct kernel boot needs no boot disk.
      ...(spec.kernel === undefined && { bootIndex: boot.disks[i] }),
    };
  });
}

export function qemuNics(vmId: string, spec: VmSpec): QemuNic[] {
  if (spec.networkInterfaces.length > MAX_NICS) throw new KvmError("invalid_params", `A VM takes at most ${MAX_NICS} NICs.`);
  const macs = nicMacs(vmId, spec);
  return spec.networkInterfaces.map((n, i) => ({
    id: `nic${i}`,
    mac: macs[i]!,
    slot: FIRST_NIC_SLOT + i,
    netdev: { type: "user", hostForwards: n.portForwards },
  }));
}

export type DiskChange = { attach: VmDisk[]; detach: VmDisk[] };

/**
 * The disks to hot-plug and unplug to go from `before` to `after`, or null
 * when the change needs a restart: SATA has no hot-plug, and reordering the
 * disks that stay changes boot order.
 */
export function diskHotplugPlan(before: VmDisk[], after: VmDisk[]): DiskChange | null {
  const key = (d: VmDisk) => `${d.bus}:${d.disk}`;
  const beforeKeys = new Set(before.map(key));
  const afterKeys = new Set(after.map(key));
  const attach = after.filter((d) => !beforeKeys.has(key(d)));
  const detach = before.filter((d) => !afterKeys.has(key(d)));
  if ([...attach, ...detach].some((d) => d.bus === "sata")) return null;
  const stayBefore = before.filter((d) => afterKeys.has(key(d))).map(key);
  const stayAfter = after.filter((d) => beforeKeys.has(key(d))).map(key);
  if (stayBefore.join() !== stayAfter.join()) return null;
  return { attach, detach };
}
