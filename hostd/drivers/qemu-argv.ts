/**
 * Builds QEMU's argv from a VM's configuration. A pure function: no I/O, so
 * every flag (KVM path included, which these machines cannot run) is unit
 * tested. It sees hostd's own VM config, never wire types.
 *
 * Device layout (q35), fixed so that a device keeps its PCI address for the
 * VM's whole life — adding a disk or a cloud-init seed never renames a NIC:
 *
 *   00:02.0-7, 00:03.0-7  16 pcie-root-ports rp0..rp15 (hot-plug targets)
 *                         rp0..rp9: virtio disks (slot kept per disk), rp10..rp14: NICs,
 *                         rp15: the cloud-init seed (read-only virtio-blk). Block devices all sit
 *                         behind root ports, in slot order, so the guest names the boot disk vda
 *                         and the seed comes last.
 *   00:05.0               virtio-serial (guest agent channel)
 *   00:06.0               virtio-scsi controller (scsi disks; always there, so one hot-plugs)
 *   00:1f.2               q35's built-in AHCI: sata disks, cdrom
 */
import { VM_LIMITS } from "../../sdk/protocol/vm";
import { AcceleratorKind } from "./accel";

export interface QemuPaths {
  /** hostd's QMP socket (hostd holds the one connection to it). */
  qmp: string;
  /** A second QMP socket for operators and tests (one client per socket). */
  opsQmp: string;
  pidfile: string;
  /** Serial console: a socket to attach to, mirrored into a log file. */
  serialSocket: string;
  serialLog: string;
  /** qemu-guest-agent channel. */
  guestAgent: string;
  /** QEMU's own stdout/stderr (start-up errors). */
  log: string;
}

/**
 * PCIe root ports, planned from the protocol's limits (one number each, in VM_LIMITS):
 * one per disk (0..), then one per NIC, then the cloud-init seed's. Ports are fixed,
 * so a hot-plug never moves another device.
 */
export const DISK_SLOTS = VM_LIMITS.maxDisks;
export const FIRST_NIC_SLOT = DISK_SLOTS;
export const MAX_NICS = VM_LIMITS.maxNics;
export const SEED_SLOT = FIRST_NIC_SLOT + MAX_NICS;
export const ROOT_PORTS = SEED_SLOT + 1;
/** AHCI ports on q35's built-in controller: ide.0 .. ide.5. */
export const SATA_PORTS = 6;
/** The cdrom's device id and block node name (one cdrom, on the last AHCI port). */
export const CDROM_ID = "cdrom0";

export interface QemuDisk {
  /** Stable device id (also used by hot-plug). */
  id: string;
  /** Block node name (blockdev). */
  node: string;
  file: string;
  format: "qcow2" | "raw";
  readOnly: boolean;
  bus: "virtio" | "scsi" | "sata";
  /** virtio: root port index; scsi: SCSI id; sata: AHCI port. */
  slot: number;
  /** Serial shown to the guest (/dev/disk/by-id/virtio-<serial>); ≤ 20 chars. */
  serial: string;
  bootIndex?: number;
}

export interface QemuNic {
  id: string;
  mac: string;
  /** Root port index (FIRST_NIC_SLOT..). */
  slot: number;
  model: "virtio" | "e1000e";
  netdev:
    | {
        type: "user";
        hostForwards: { protocol: "tcp" | "udp"; hostAddress: string; hostPort: number; guestPort: number }[];
      }
    | {
        /** A persistent tap hostd made and put on the network's bridge; QEMU only opens it. */
        type: "tap";
        ifname: string;
        /** In-kernel virtio-net data path; only where /dev/vhost-net exists (QEMU aborts otherwise). */
        vhost: boolean;
        /** The network whose bridge the tap is on (hostd's bookkeeping for hot-plug; QEMU never sees it). */
        network: string;
      };
}

export interface QemuVmConfig {
  uuid: string;
  name: string;
  vcpus: number;
  memoryMiB: number;
  /** Room to hot-add CPUs up to (QEMU's maxcpus); none when absent. */
  maxVcpus?: number;
  /** Room to hot-add memory up to, in DIMMs (QEMU's maxmem and slots); none when absent. */
  maxMemoryMiB?: number;
  accel: AcceleratorKind;
  /** A versioned machine type such as `pc-q35-7.2` (q35 chipset; fixed for the VM's life: services/vm.ts). */
  machine: string;
  /** The VM's cpuModel (absent in rows from before it existed: the host's own, as then). */
  cpuModel?: string;
  kernel?: { path: string; initrd?: string; cmdline?: string };
  firmware: { type: "bios" } | { type: "uefi"; code: string; vars: string };
  disks: QemuDisk[];
  cdrom?: { file: string; bootIndex?: number };
  /** cloud-init NoCloud seed image (read-only virtio-blk). */
  seed?: string;
  nics: QemuNic[];
  guestAgent: boolean;
  paths: QemuPaths;
  /** Started to receive the VM from another host (live migration): it waits, paused, for the stream (`migrate-incoming`). */
  incoming?: boolean;
}

/** QEMU option values use ',' as separator; a literal comma is written ',,'. */
export function optValue(s: string): string {
  return s.replace(/,/g, ",,");
}

/** JSON form of -blockdev/-device: no comma escaping needed. */
const json = (o: Record<string, unknown>) => JSON.stringify(o);

export function rootPortAddr(slot: number): string {
  return `0x${(2 + Math.floor(slot / 8)).toString(16)}.${slot % 8}`;
}

/** The blockdev node and device (minus bus) QMP hot-plug also uses. */
export function blockdevOf(d: QemuDisk): Record<string, unknown> {
  return {
    driver: d.format,
    "node-name": d.node,
    "read-only": d.readOnly,
    file: { driver: "file", filename: d.file, "read-only": d.readOnly },
  };
}

export function diskDeviceOf(d: QemuDisk): Record<string, unknown> {
  const common = { id: d.id, drive: d.node, ...(d.bootIndex !== undefined && { bootindex: d.bootIndex }) };
  switch (d.bus) {
    case "virtio":
      return { driver: "virtio-blk-pci", bus: `rp${d.slot}`, serial: d.serial, ...common };
    case "scsi":
      return { driver: "scsi-hd", bus: "scsi0.0", "scsi-id": d.slot, lun: 0, serial: d.serial, ...common };
    case "sata":
      return { driver: "ide-hd", bus: `ide.${d.slot}`, serial: d.serial, ...common };
  }
}

export function nicDeviceOf(n: QemuNic): Record<string, unknown> {
  const driver = n.model === "e1000e" ? "e1000e" : "virtio-net-pci";
  return { driver, id: n.id, netdev: `${n.id}-net`, mac: n.mac, bus: `rp${n.slot}` };
}

function hostFwd(f: { protocol: string; hostAddress: string; hostPort: number; guestPort: number }): string {
  return `${f.protocol}:${f.hostAddress}:${f.hostPort}-:${f.guestPort}`;
}

/** The -netdev option value. */
export function netdevOf(n: QemuNic): string {
  if (n.netdev.type === "tap") {
    // script=no: hostd made the tap and put it on the bridge already; QEMU runs no helper scripts.
    return `tap,id=${n.id}-net,ifname=${n.netdev.ifname},script=no,downscript=no${n.netdev.vhost ? ",vhost=on" : ""}`;
  }
  const fwd = n.netdev.hostForwards.map((f) => `,hostfwd=${hostFwd(f)}`).join("");
  // restrict=on: the guest talks to nothing but the host's forwards (no route out).
  return `user,id=${n.id}-net,restrict=on${fwd}`;
}

/** The same netdev as QMP `netdev_add` arguments, for hot-plug. */
export function netdevQmpOf(n: QemuNic): Record<string, unknown> {
  if (n.netdev.type === "tap") {
    return { type: "tap", id: `${n.id}-net`, ifname: n.netdev.ifname, script: "no", downscript: "no", ...(n.netdev.vhost && { vhost: true }) };
  }
  return { type: "user", id: `${n.id}-net`, restrict: true, hostfwd: n.netdev.hostForwards.map((f) => ({ str: hostFwd(f) })) };
}

export function buildQemuArgv(c: QemuVmConfig): string[] {
  const p = c.paths;
  const argv = [
    "-name", `guest=${c.name},debug-threads=on`,
    "-uuid", c.uuid,
    "-machine", optValue(c.machine),
    "-accel", c.accel,
    "-cpu", qemuCpu(c.cpuModel, c.accel),
    "-smp", c.maxVcpus !== undefined && c.maxVcpus > c.vcpus ? `${c.vcpus},maxcpus=${c.maxVcpus}` : String(c.vcpus),
    "-m", c.maxMemoryMiB !== undefined && c.maxMemoryMiB > c.memoryMiB ? `${c.memoryMiB}M,slots=${VM_LIMITS.memorySlots},maxmem=${c.maxMemoryMiB}M` : `${c.memoryMiB}M`,
    // Nothing implicit: every device is one hostd asked for.
    "-nodefaults", "-no-user-config",
    "-display", "none",
    "-chardev", `socket,id=serial0,path=${optValue(p.serialSocket)},server=on,wait=off,logfile=${optValue(p.serialLog)},logappend=on`,
    "-serial", "chardev:serial0",
    "-chardev", `socket,id=qmp,path=${optValue(p.qmp)},server=on,wait=off`,
    "-mon", "chardev=qmp,mode=control",
    "-chardev", `socket,id=qmp-ops,path=${optValue(p.opsQmp)},server=on,wait=off`,
    "-mon", "chardev=qmp-ops,mode=control",
    "-pidfile", p.pidfile,
    // seccomp: no exec or fork (no helper scripts), no setuid, no obsolete syscalls, no
    // scheduler/affinity games. (hostd detaches QEMU itself: -daemonize forks, which this forbids.)
    "-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
    "-msg", "timestamp=on",
    // -S: the received guest runs only when hostd says so (migration.finish), after the switchover.
    ...(c.incoming ? ["-incoming", "defer", "-S"] : []),
  ];
  if (c.firmware.type === "uefi") {
    argv.push(
      "-drive", `if=pflash,format=raw,unit=0,readonly=on,file=${optValue(c.firmware.code)}`,
      "-drive", `if=pflash,format=raw,unit=1,file=${optValue(c.firmware.vars)}`,
    );
  }
  if (c.kernel) {
    argv.push("-kernel", c.kernel.path);
    if (c.kernel.initrd) argv.push("-initrd", c.kernel.initrd);
    if (c.kernel.cmdline) argv.push("-append", c.kernel.cmdline);
  }
  // Hot-plug targets. io-reserve=0: sixteen ports would otherwise exhaust the 64 KiB I/O space.
  for (let i = 0; i < ROOT_PORTS; i++) {
    const fn0 = i % 8 === 0;
    argv.push("-device", json({
      driver: "pcie-root-port", id: `rp${i}`, bus: "pcie.0", chassis: i + 1, addr: rootPortAddr(i),
      ...(fn0 && { multifunction: true }), "io-reserve": 0,
    }));
  }
  // Always, even with no scsi disk yet: the first scsi disk hot-plugs onto it (pcie.0 itself takes no hot-plug).
  argv.push("-device", json({ driver: "virtio-scsi-pci", id: "scsi0", bus: "pcie.0", addr: "0x6" }));
  for (const d of c.disks) {
    argv.push("-blockdev", json(blockdevOf(d)), "-device", json(diskDeviceOf(d)));
  }
  if (c.cdrom) {
    argv.push(
      "-blockdev", json({ driver: "raw", "node-name": CDROM_ID, "read-only": true, file: { driver: "file", filename: c.cdrom.file, "read-only": true } }),
      "-device", json({ driver: "ide-cd", id: CDROM_ID, bus: `ide.${SATA_PORTS - 1}`, drive: CDROM_ID, ...(c.cdrom.bootIndex !== undefined && { bootindex: c.cdrom.bootIndex }) }),
    );
  }
  if (c.seed) {
    // virtio-blk, not a cdrom: Debian's cloud kernel has no AHCI driver, and this works on BIOS and UEFI alike.
    argv.push(
      "-blockdev", json({ driver: "raw", "node-name": "seed", "read-only": true, file: { driver: "file", filename: c.seed, "read-only": true } }),
      "-device", json({ driver: "virtio-blk-pci", id: "seed", drive: "seed", bus: `rp${SEED_SLOT}`, serial: "cidata" }),
    );
  }
  for (const n of c.nics) {
    argv.push("-netdev", netdevOf(n), "-device", json(nicDeviceOf(n)));
  }
  if (c.guestAgent) {
    argv.push(
      "-chardev", `socket,id=qga0,path=${optValue(p.guestAgent)},server=on,wait=off`,
      "-device", json({ driver: "virtio-serial-pci", id: "vser0", bus: "pcie.0", addr: "0x5" }),
      "-device", json({ driver: "virtserialport", chardev: "qga0", name: "org.qemu.guest_agent.0" }),
    );
  }
  return argv;
}

/**
 * QEMU's `-cpu` for a VM: cpuModel `host` is the host's own CPU (KVM passes it through; TCG has
 * no host CPU to pass, `max` is its fullest); a named model is enforced, so QEMU refuses to start
 * rather than quietly give the guest less than the model (a guest that moves must see the same CPU).
 */
export function qemuCpu(cpuModel: string | undefined, accel: AcceleratorKind): string {
  if (cpuModel === undefined || cpuModel === "host") return accel === "kvm" ? "host" : "max";
  return `${optValue(cpuModel)},enforce`;
}
