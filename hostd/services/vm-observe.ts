/**
 * The spec a running QEMU really has, from what hostd read of it (QMP and the
 * host's links), beside the spec hostd keeps. A pure function, so each kind of
 * drift is unit tested without QEMU; vm.ts reads, this compares.
 *
 * What can change under a running QEMU without hostd, and so is read back:
 * - a disk or NIC unplugged (`device_del`), or replaced by a device of another
 *   type, MAC or file under the same id, on the operators' QMP socket;
 * - the cdrom ejected or changed (`eject`, `blockdev-change-medium`);
 * - the boot order (`qom-set … bootindex`, used at the next reset);
 * - a tap moved off its network's bridge (`ip link set … nomaster|master`);
 * - a Disk's file deleted while QEMU holds it.
 * vCPUs and memory are compared in vm.ts (QEMU's own counts); the seed by hash.
 * What QEMU fixes at start (firmware, kernel, CPU model, machine) cannot change
 * under it: hostd's record of those is what runs.
 */
import { isNetworkNic, NetworkInterface, VmDisk, VmSpec } from "../../sdk/protocol";
import { CDROM_ID, QemuDisk, QemuNic } from "../drivers/qemu-argv";

/** What hostd read of a running QEMU. */
export interface Seen {
  /** Device id → QOM type (`virtio-blk-pci`, `ide-cd`, `e1000e`, ...), from /machine/peripheral. */
  devices: Map<string, string>;
  /** Block device id → the file in it (null: none, e.g. an ejected cdrom). Absent: not read. */
  media?: Map<string, string | null>;
  /** Device id → its boot index (-1: none). */
  bootIndex?: Map<string, number>;
  /** NIC device id → its MAC. */
  macs?: Map<string, string>;
  /** Tap → the bridge it is on (null: none; absent from the map: not read). */
  tapBridge?: Map<string, string | null>;
}

/** What hostd started QEMU with: the devices behind the spec's disks and NICs, and the cdrom's file. */
export interface Expected {
  /**
   * Per spec disk, in order: its device id and file, and why that file is gone when it was deleted
   * outside hostd (undefined: the Disk has no record, nothing to compare).
   */
  disks: ({ id: QemuDisk["id"]; file: QemuDisk["file"]; gone?: string } | undefined)[];
  /** Per spec NIC, in order. */
  nics: QemuNic[];
  /** The file QEMU was given as the cdrom. */
  cdromFile?: string;
  /** The Network whose bridge this is. */
  networkOnBridge: (bridge: string) => string | undefined;
}

export type Drift = { field: string; detail: string };

const DISK_BUS_OF_TYPE: Record<string, VmDisk["bus"]> = { "virtio-blk-pci": "virtio", "scsi-hd": "scsi", "ide-hd": "sata" };
const NIC_MODEL_OF_TYPE: Record<string, NetworkInterface["model"]> = { "virtio-net-pci": "virtio", e1000e: "e1000e" };

export function observeSpec(spec: VmSpec, expected: Expected, seen: Seen): { spec: VmSpec; drift: Drift[] } {
  const drift: Drift[] = [];
  const disks = observeDisks(spec, expected, seen, drift);
  const networkInterfaces = observeNics(spec, expected, seen, drift);
  let out: VmSpec = { ...spec, disks, networkInterfaces };
  out = observeCdrom(out, expected, seen, drift);
  out = observeBootOrder(spec, out, expected, seen, drift);
  return { spec: drift.length === 0 ? spec : out, drift };
}

function observeDisks(spec: VmSpec, expected: Expected, seen: Seen, drift: Drift[]): VmDisk[] {
  return spec.disks.flatMap((d, i) => {
    const q = expected.disks[i];
    if (!q) return [d];
    if (q.gone !== undefined) {
      // The guest writes to a deleted file: whatever it writes now is lost. Read as not attached, so
      // the same `up` that makes the Disk again restarts the VM onto the new file.
      drift.push({ field: "disks", detail: `${q.gone}; QEMU still holds the deleted file` });
      return [];
    }
    const type = seen.devices.get(q.id);
    if (type === undefined) {
      drift.push({ field: "disks", detail: `QEMU no longer has disk "${d.disk}" (unplugged outside hostd)` });
      return [];
    }
    const file = seen.media?.get(q.id);
    if (file !== undefined && file !== q.file) {
      drift.push({ field: "disks", detail: `the device of disk "${d.disk}" holds ${file ?? "no file"}, not the Disk's file (changed outside hostd)` });
      return [];
    }
    const bus = DISK_BUS_OF_TYPE[type];
    if (bus !== undefined && bus !== d.bus) {
      drift.push({ field: "disks", detail: `disk "${d.disk}" is on bus ${bus}, not ${d.bus} (re-plugged outside hostd)` });
      return [{ ...d, bus }];
    }
    return [d];
  });
}

function observeNics(spec: VmSpec, expected: Expected, seen: Seen, drift: Drift[]): NetworkInterface[] {
  return spec.networkInterfaces.flatMap((n, i) => {
    const q = expected.nics[i];
    if (!q) return [n];
    const kind = isNetworkNic(n) ? `network "${n.network}"` : "user";
    const what = `NIC ${i} (${kind})`;
    const type = seen.devices.get(q.id);
    if (type === undefined) {
      drift.push({ field: "networkInterfaces", detail: `QEMU no longer has NIC ${i} (${kind}; unplugged outside hostd)` });
      return [];
    }
    let nic: NetworkInterface = n;
    const model = NIC_MODEL_OF_TYPE[type];
    if (model !== undefined && model !== n.model) {
      drift.push({ field: "networkInterfaces", detail: `${what} is a ${model} NIC, not ${n.model} (re-plugged outside hostd)` });
      nic = { ...nic, model };
    }
    const mac = seen.macs?.get(q.id);
    if (mac !== undefined && mac !== q.mac) {
      drift.push({ field: "networkInterfaces", detail: `${what} has MAC ${mac}, not ${q.mac} (re-plugged outside hostd)` });
      nic = { ...nic, mac };
    }
    if (isNetworkNic(nic) && q.netdev.type === "tap") {
      const bridge = seen.tapBridge?.get(q.netdev.ifname);
      if (bridge === null) {
        drift.push({ field: "networkInterfaces", detail: `the tap ${q.netdev.ifname} of ${what} is on no bridge (taken off outside hostd)` });
        return [];
      }
      if (bridge !== undefined) {
        const on = expected.networkOnBridge(bridge);
        if (on !== nic.network) {
          drift.push({ field: "networkInterfaces", detail: `the tap ${q.netdev.ifname} of ${what} is on bridge ${bridge}${on ? ` (network "${on}")` : ", no Network's"} (moved outside hostd)` });
          if (on === undefined) return [];
          nic = { ...nic, network: on };
        }
      }
    }
    return [nic];
  });
}

function observeCdrom(spec: VmSpec, expected: Expected, seen: Seen, drift: Drift[]): VmSpec {
  if (spec.cdrom === undefined || expected.cdromFile === undefined) return spec;
  const file = seen.media?.get(CDROM_ID);
  if (file === undefined || file === expected.cdromFile) return spec;
  if (file === null) {
    drift.push({ field: "cdrom", detail: "the cdrom was ejected outside hostd" });
    const { cdrom: _gone, ...rest } = spec;
    return rest;
  }
  drift.push({ field: "cdrom", detail: `the cdrom holds ${file}, not ${expected.cdromFile} (changed outside hostd)` });
  return { ...spec, cdrom: { path: file } };
}

/** Which of cdrom and the boot disk QEMU boots first (boot indexes count from the lowest). */
function observeBootOrder(declared: VmSpec, spec: VmSpec, expected: Expected, seen: Seen, drift: Drift[]): VmSpec {
  const bootDisk = expected.disks[0];
  if (declared.kernel !== undefined || declared.cdrom === undefined || !bootDisk || !seen.bootIndex) return spec;
  const cd = seen.bootIndex.get(CDROM_ID);
  const disk = seen.bootIndex.get(bootDisk.id);
  if (cd === undefined || disk === undefined || cd < 0 || disk < 0) return spec;
  const first = cd < disk ? "cdrom" : "disk";
  const declaredFirst = declared.bootOrder?.[0] ?? "cdrom";
  if (first === declaredFirst) return spec;
  drift.push({ field: "bootOrder", detail: `QEMU boots ${first} first (boot index changed outside hostd)` });
  return { ...spec, bootOrder: first === "cdrom" ? ["cdrom", "disk"] : ["disk", "cdrom"] };
}
