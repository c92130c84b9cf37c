/**
 * Where a VM's devices go, and how a spec change maps onto hot-plug. Pure
 * functions over the spec and the VM's kept device placement, so the rules
 * (stable slots, stable MACs, what can change without a restart) are unit
 * tested without QEMU.
 */
import { createHash } from "node:crypto";
import { isNetworkNic, NetworkInterface, VmDisk, VmSpec } from "../../sdk/protocol";
import { DISK_SLOTS, FIRST_NIC_SLOT, MAX_NICS, QemuDisk, QemuNic, SATA_PORTS } from "../drivers/qemu-argv";
import { NicPlacement, VmDevices } from "../store";
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

/** Host-side tap of a VM's NIC: `kvt-` + 10 hex digits (14 characters; the kernel allows 15), stable for the NIC's life. */
export function tapName(vmId: string, mac: string): string {
  return `kvt-${createHash("sha256").update(`${vmId}/${mac}`).digest("hex").slice(0, 10)}`;
}

/** What a NIC is, for matching it across spec changes: its network (or user-mode). */
function nicKey(n: NetworkInterface): string {
  return isNetworkNic(n) ? `net:${n.network}` : "user";
}

/**
 * The placements a VM had for `before` (VMs made before placements were kept
 * used MAC `derivedMac(id, i)` and root port FIRST_NIC_SLOT + i).
 */
export function keptNics(vmId: string, before: NetworkInterface[], kept: VmDevices): { nics: NicPlacement[]; next: number } {
  if (kept.nics && kept.nics.length === before.length) return { nics: kept.nics, next: kept.nextNicIndex ?? before.length };
  return {
    nics: before.map((n, i) => ({ mac: n.mac ?? derivedMac(vmId, i), slot: FIRST_NIC_SLOT + i })),
    next: Math.max(kept.nextNicIndex ?? 0, before.length),
  };
}

/**
 * MAC and root port of every NIC of `after`, keeping those of the NICs that
 * stay: a NIC with an explicit MAC is matched by it, one without by its
 * network, in order. New NICs get the lowest free port and a fresh derived
 * MAC (indexes are never reused, so a removed NIC's MAC never comes back on
 * another NIC).
 */
export function assignNics(
  vmId: string,
  before: NetworkInterface[],
  after: NetworkInterface[],
  kept: VmDevices,
): { nics: NicPlacement[]; nextNicIndex: number } {
  if (after.length > MAX_NICS) throw new KvmError("invalid_params", `A VM takes at most ${MAX_NICS} NICs.`);
  const old = keptNics(vmId, before, kept);
  let next = old.next;
  const taken = new Set<number>();
  const out: (NicPlacement | undefined)[] = after.map(() => undefined);
  after.forEach((n, i) => {
    if (n.mac === undefined) return;
    const j = old.nics.findIndex((p, k) => !taken.has(k) && p.mac === n.mac);
    if (j >= 0) {
      taken.add(j);
      out[i] = old.nics[j];
    }
  });
  after.forEach((n, i) => {
    if (n.mac !== undefined) return;
    const j = before.findIndex((b, k) => !taken.has(k) && b.mac === undefined && nicKey(b) === nicKey(n));
    if (j >= 0) {
      taken.add(j);
      out[i] = old.nics[j];
    }
  });
  const usedSlots = new Set(out.filter((p) => p !== undefined).map((p) => p.slot));
  const usedMacs = new Set([...out.filter((p) => p !== undefined).map((p) => p.mac), ...after.flatMap((n) => (n.mac ? [n.mac] : []))]);
  return {
    nics: after.map((n, i) => {
      const have = out[i];
      if (have) return have;
      let slot = FIRST_NIC_SLOT;
      while (usedSlots.has(slot)) slot++;
      usedSlots.add(slot);
      let mac = n.mac;
      while (mac === undefined || (n.mac === undefined && usedMacs.has(mac))) mac = derivedMac(vmId, next++);
      usedMacs.add(mac);
      return { mac, slot };
    }),
    nextNicIndex: next,
  };
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

/** QEMU's view of the NICs. The device id follows the root port, so it too is stable for the NIC's life. */
export function qemuNics(vmId: string, spec: VmSpec, placements: NicPlacement[], vhost: boolean): QemuNic[] {
  return spec.networkInterfaces.map((n, i) => {
    const p = placements[i]!;
    return {
      id: `nic${p.slot - FIRST_NIC_SLOT}`,
      mac: p.mac,
      slot: p.slot,
      model: n.model,
      netdev: isNetworkNic(n)
        ? { type: "tap" as const, ifname: tapName(vmId, p.mac), vhost, network: n.network }
        : { type: "user" as const, hostForwards: n.portForwards },
    };
  });
}

/**
 * NICs to hot-unplug and hot-plug to go from `before` to `after` (both
 * QEMU's view). A NIC whose MAC, port, model, backend or network changed is replaced;
 * a NIC that only got a static ip keeps its device (the lease is dnsmasq's).
 */
export function nicHotplugPlan(before: QemuNic[], after: QemuNic[]): { attach: QemuNic[]; detach: QemuNic[] } {
  const key = (n: QemuNic) => JSON.stringify([n.id, n.mac, n.slot, n.model, n.netdev]);
  const b = new Set(before.map(key));
  const a = new Set(after.map(key));
  return { attach: after.filter((n) => !b.has(key(n))), detach: before.filter((n) => !a.has(key(n))) };
}

