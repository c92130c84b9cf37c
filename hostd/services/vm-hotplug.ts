/**
 * Hot-plug over QMP, one sequence for every kind of device: disks and NICs
 * are both a backend (a block node, a netdev) and a device on a PCIe root
 * port (vm-devices.ts keeps which), so one plug and one unplug sequence
 * serve both. Each registers its undo, so a change that fails later takes
 * the device back out (or puts it back in).
 */
import { KvmError } from "../../sdk/errors";
import { blockdevOf, diskDeviceOf, netdevQmpOf, nicDeviceOf, QemuDisk, QemuNic } from "../drivers/qemu-argv";
import type { Reverter } from "../revert";
import type { Monitor } from "./vm-monitor";

/** How long the guest has to release a device it is asked to give up. */
const UNPLUG_TIMEOUT_MS = 30_000;

/** A device QEMU can hot-plug: its backend and the device that uses it. */
export interface Pluggable {
  /** For messages: `disk "data"`, `NIC 52:54:00:12:34:56`. */
  what: string;
  backend: { add: QmpCommand; del: QmpCommand };
  /** `device_add` arguments; `id` is what DEVICE_DELETED names. */
  device: Record<string, unknown> & { id: string };
}

type QmpCommand = { cmd: string; args: Record<string, unknown> };

export function diskPluggable(name: string, d: QemuDisk): Pluggable {
  return {
    what: `disk "${name}"`,
    backend: { add: { cmd: "blockdev-add", args: blockdevOf(d) }, del: { cmd: "blockdev-del", args: { "node-name": d.node } } },
    device: { ...diskDeviceOf(d), id: d.id },
  };
}

export function nicPluggable(n: QemuNic): Pluggable {
  return {
    what: `NIC ${n.mac}`,
    backend: { add: { cmd: "netdev_add", args: netdevQmpOf(n) }, del: { cmd: "netdev_del", args: { id: `${n.id}-net` } } },
    device: { ...nicDeviceOf(n), id: n.id },
  };
}

/** Hot-plug: the backend, then the device on it. Undo: unplug the device, then remove the backend. */
export async function hotplug(mon: Monitor, dev: Pluggable, vm: string, r: Reverter): Promise<void> {
  await run(mon, dev.backend.add, dev, vm);
  r.add(`remove the backend of ${dev.what}`, () => run(mon, dev.backend.del, dev, vm));
  await run(mon, { cmd: "device_add", args: dev.device }, dev, vm);
  r.add(`unplug ${dev.what}`, () => removeDevice(mon, dev, vm));
}

/**
 * Hot-unplug: `device_del`, wait until the guest released the device
 * (DEVICE_DELETED), then remove its backend. Undo: the backend, then the
 * device, back in the same place.
 */
export async function hotunplug(mon: Monitor, dev: Pluggable, vm: string, r: Reverter): Promise<void> {
  await removeDevice(mon, dev, vm);
  r.add(`plug ${dev.what} back`, () => run(mon, { cmd: "device_add", args: dev.device }, dev, vm));
  await run(mon, dev.backend.del, dev, vm);
  r.add(`restore the backend of ${dev.what}`, () => run(mon, dev.backend.add, dev, vm));
}

/** `device_del` and the wait for the guest to let go (PCIe hot-unplug needs its cooperation). */
async function removeDevice(mon: Monitor, dev: Pluggable, vm: string): Promise<void> {
  // Registered before the command: the event may come before its reply.
  const deleted = mon.qmp.waitEvent("DEVICE_DELETED", (ev) => ev.data?.device === dev.device.id, UNPLUG_TIMEOUT_MS);
  deleted.catch(() => undefined); // awaited below; a failed device_del must not leave it unhandled
  await run(mon, { cmd: "device_del", args: { id: dev.device.id } }, dev, vm);
  try {
    await deleted;
  } catch {
    throw new KvmError(
      "timeout",
      `The guest of VM "${vm}" did not release ${dev.what} within ${UNPLUG_TIMEOUT_MS / 1000} s (PCIe hot-unplug needs the guest's cooperation).`,
      { vm },
    );
  }
}

async function run(mon: Monitor, c: QmpCommand, dev: Pluggable, vm: string): Promise<void> {
  try {
    await mon.execute(c.cmd, c.args);
  } catch (e) {
    throw new KvmError("qemu_failed", `QEMU refused ${c.cmd} for ${dev.what} of VM "${vm}": ${(e as Error).message}`, { vm });
  }
}
