/**
 * Hot-plug over QMP, one sequence for every kind of device: disks, NICs and
 * memory DIMMs are each a backend (a block node, a netdev, a RAM backend)
 * and a device (disks and NICs on a PCIe root port, vm-devices.ts keeps
 * which); a CPU is a device alone. So one plug and one unplug sequence serve
 * them all. Each registers its undo, so a change that fails later takes the
 * device back out (or puts it back in).
 */
import { KvmError } from "../../sdk/errors";
import { blockdevOf, diskDeviceOf, netdevQmpOf, nicDeviceOf, QemuDisk, QemuNic } from "../drivers/qemu-argv";
import type { Reverter } from "../revert";
import type { Monitor } from "./vm-monitor";

/** How long the guest has to take a device it is given, or release one it is asked to give up. */
const UNPLUG_TIMEOUT_MS = 30_000;

/** A device QEMU can hot-plug: its backend and the device that uses it. */
export interface Pluggable {
  /** For messages: `disk "data"`, `NIC 52:54:00:12:34:56`. */
  what: string;
  /** Absent for a device that needs none (a CPU). */
  backend?: { add: QmpCommand; del: QmpCommand };
  /**
   * Plugged through ACPI (CPUs, DIMMs): the guest acknowledges the insertion
   * with _OST, and an unplug is only sent after that acknowledgement (QEMU
   * 7.2 can crash when a CPU is unplugged while the guest is still taking it).
   */
  acpi?: true;
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

/**
 * CPUs to hot-add: the first `count` free sockets/cores QEMU offers
 * (query-hotpluggable-cpus, where a slot without a qom-path is empty), lowest
 * first so the guest numbers them in order. Ids say the slot, so the same CPU
 * is the same id after a hostd restart.
 */
export async function cpuPluggables(mon: Monitor, count: number, vm: string, spent: readonly string[] = []): Promise<Pluggable[]> {
  const slots = (await mon.execute("query-hotpluggable-cpus")) as Array<{ type: string; props: Record<string, number>; "qom-path"?: string }>;
  const free = slots
    .filter((s) => s["qom-path"] === undefined)
    .map((s) => ({ ...s, id: `cpu-s${s.props["socket-id"] ?? 0}-c${s.props["core-id"] ?? 0}-t${s.props["thread-id"] ?? 0}` }))
    .filter((s) => !spent.includes(s.id))
    .sort((a, b) => slotOrder(a.props) - slotOrder(b.props));
  if (free.length < count) {
    throw new KvmError("conflict", `VM "${vm}" has room for ${free.length} more vCPU(s) on its running QEMU, not ${count}: restart it (stop and start), or raise maxVcpus (that restarts it).`, { vm });
  }
  return free.slice(0, count).map((s) => ({ what: `vCPU ${s.id}`, device: { driver: s.type, id: s.id, ...s.props }, acpi: true }));
}

function slotOrder(p: Record<string, number>): number {
  return ((p["socket-id"] ?? 0) * 4096 + (p["core-id"] ?? 0)) * 64 + (p["thread-id"] ?? 0);
}

/** A DIMM of `sizeMiB` (a RAM backend and the pc-dimm on it), named by the slot it takes. */
export function dimmPluggable(slot: number, sizeMiB: number): Pluggable {
  const id = `dimm${slot}`;
  return {
    what: `${sizeMiB} MiB memory DIMM ${id}`,
    backend: { add: { cmd: "object-add", args: { "qom-type": "memory-backend-ram", id: `${id}-ram`, size: sizeMiB * 1024 * 1024 } }, del: { cmd: "object-del", args: { id: `${id}-ram` } } },
    device: { driver: "pc-dimm", id, memdev: `${id}-ram` },
    acpi: true,
  };
}

/** The slot the next DIMM takes: one past the DIMMs the running QEMU has (query-memory-devices). */
export async function nextDimmSlot(mon: Monitor): Promise<number> {
  const devices = (await mon.execute("query-memory-devices")) as Array<{ type: string; data: { id?: string } }>;
  const used = devices.map((d) => /^dimm(\d+)$/.exec(d.data.id ?? "")?.[1]).filter((n) => n !== undefined).map(Number);
  return used.length === 0 ? 0 : Math.max(...used) + 1;
}

/** Hot-plug: the backend, then the device on it. Undo: unplug the device, then remove the backend. */
export async function hotplug(
  mon: Monitor,
  dev: Pluggable,
  vm: string,
  r: Reverter,
  o: { onPlugged?: () => void; /** Replaces the unplug as the device's undo. */ undo?: () => Promise<unknown> } = {},
): Promise<void> {
  const backend = dev.backend;
  if (backend) {
    await run(mon, backend.add, dev, vm);
    r.add(`remove the backend of ${dev.what}`, () => run(mon, backend.del, dev, vm));
  }
  await run(mon, { cmd: "device_add", args: dev.device }, dev, vm);
  o.onPlugged?.();
  if (o.undo) r.add(`start VM "${vm}" again as it was (instead of unplugging ${dev.what})`, o.undo);
  else r.add(`unplug ${dev.what}`, () => removeDevice(mon, dev, vm));
  // Hot-added CPUs and memory count once the guest has them: a guest that never answers fails the change.
  if (dev.acpi && !(await guestTook(mon, dev.device.id, UNPLUG_TIMEOUT_MS))) {
    throw new KvmError("timeout", `The guest of VM "${vm}" did not take ${dev.what} within ${UNPLUG_TIMEOUT_MS / 1000} s (it needs ACPI hot-plug support); it was taken out again.`, { vm });
  }
}

/**
 * Hot-unplug: `device_del`, wait until the guest released the device
 * (DEVICE_DELETED), then remove its backend. Undo: the backend, then the
 * device, back in the same place.
 */
export async function hotunplug(mon: Monitor, dev: Pluggable, vm: string, r: Reverter): Promise<void> {
  await removeDevice(mon, dev, vm);
  r.add(`plug ${dev.what} back`, () => run(mon, { cmd: "device_add", args: dev.device }, dev, vm));
  const backend = dev.backend;
  if (!backend) return;
  await run(mon, backend.del, dev, vm);
  r.add(`restore the backend of ${dev.what}`, () => run(mon, backend.add, dev, vm));
}

/**
 * Waits until the guest acknowledged an ACPI insertion of `id` (its _OST
 * reply, which QEMU reports in query-acpi-ospm-status as source 1, status 0).
 * False when it did not within `ms`.
 */
async function guestTook(mon: Monitor, id: string, ms: number): Promise<OspmStatus | undefined> {
  const end = Date.now() + ms;
  for (;;) {
    const took = (await ospm(mon)).find((s) => s.device === id && s.source === 1 && s.status === 0);
    if (took || Date.now() > end) return took;
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface OspmStatus {
  device?: string;
  slot: string;
  "slot-type": string;
  source: number;
  status: number;
}

function ospm(mon: Monitor): Promise<OspmStatus[]> {
  return mon.execute("query-acpi-ospm-status") as Promise<OspmStatus[]>;
}

/** `device_del` and the wait for the guest to let go (PCIe hot-unplug needs its cooperation). */
async function removeDevice(mon: Monitor, dev: Pluggable, vm: string): Promise<void> {
  if (dev.acpi) return removeAcpiDevice(mon, dev, vm);
  // Registered before the command: the event may come before its reply.
  const deleted = mon.qmp.waitEvent("DEVICE_DELETED", (ev) => ev.data?.device === dev.device.id, UNPLUG_TIMEOUT_MS);
  deleted.catch(() => undefined); // awaited below; a failed device_del must not leave it unhandled
  await run(mon, { cmd: "device_del", args: { id: dev.device.id } }, dev, vm);
  try {
    await deleted;
  } catch {
    throw notReleased(dev, vm);
  }
}

/**
 * The same for a CPU or DIMM, which the guest ejects through ACPI. Only once
 * the guest has taken it (see Pluggable.acpi); done when QEMU no longer has
 * the device (QEMU 7.2 sends no DEVICE_DELETED naming a CPU, only its lapic);
 * a guest that refuses an eject it cannot serve yet (a CPU still coming
 * online answers _OST "eject failed") is asked again while the time lasts.
 */
async function removeAcpiDevice(mon: Monitor, dev: Pluggable, vm: string): Promise<void> {
  const id = dev.device.id;
  const took = await guestTook(mon, id, UNPLUG_TIMEOUT_MS);
  await run(mon, { cmd: "device_del", args: { id } }, dev, vm);
  const end = Date.now() + UNPLUG_TIMEOUT_MS;
  while (await present(mon, id)) {
    if (Date.now() > end) throw notReleased(dev, vm);
    if (await ejectRefused(mon, id)) await mon.execute("device_del", { id }).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 100));
  }
  // Then the guest's last word on the slot (_OST eject done): the next ACPI request waits for it.
  const slotDone = (s: OspmStatus) => s.slot === took?.slot && s["slot-type"] === took["slot-type"] && s.source === 3 && s.status === 0;
  while (took && !(await ospm(mon)).some(slotDone) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
}

/** Whether QEMU still has a device of this id (one the user gave: under /machine/peripheral). */
async function present(mon: Monitor, id: string): Promise<boolean> {
  const children = (await mon.execute("qom-list", { path: "/machine/peripheral" })) as Array<{ name: string }>;
  return children.some((c) => c.name === id);
}

function notReleased(dev: Pluggable, vm: string): KvmError {
  return new KvmError("timeout", `The guest of VM "${vm}" did not release ${dev.what} within ${UNPLUG_TIMEOUT_MS / 1000} s (hot-unplug needs the guest's cooperation).`, { vm });
}

/** _OST status of an eject still being worked on (ACPI 6.x, 0x84); 0 is done, others are failures. */
const EJECT_IN_PROGRESS = 0x84;

/** The guest answered the last eject request of `id` with a failure (_OST source 3, a failure status). */
async function ejectRefused(mon: Monitor, id: string): Promise<boolean> {
  return (await ospm(mon)).some((s) => s.device === id && s.source === 3 && s.status !== 0 && s.status !== EJECT_IN_PROGRESS);
}

async function run(mon: Monitor, c: QmpCommand, dev: Pluggable, vm: string): Promise<void> {
  try {
    await mon.execute(c.cmd, c.args);
  } catch (e) {
    throw new KvmError("qemu_failed", `QEMU refused ${c.cmd} for ${dev.what} of VM "${vm}": ${(e as Error).message}`, { vm });
  }
}
