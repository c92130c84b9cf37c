/**
 * Virtual machine methods. `VmCreate` is the whole desired spec; `VmUpdate`
 * names the fields to change. Both are strict: unknown fields are errors,
 * so a typo never silently does nothing.
 */
import { z } from "zod";
import { Accelerator } from "./host";
import { HostId, HostPath, Name, Owner, Timestamp } from "./common";
import { fieldsWithEffect, fieldTable, specShape, updateShape, wellFormedText, providerShape } from "./fields";
import { defineMethod } from "./method";

export const VM_LIMITS = {
  minVcpus: 1,
  maxVcpus: 128,
  /** Below this no ordinary kernel even unpacks. */
  minMemoryMiB: 64,
  /** 1 TiB. */
  maxMemoryMiB: 1024 * 1024,
  /** x86 COMMAND_LINE_SIZE. */
  maxCmdlineBytes: 2048,
  /** Disks per VM: one PCIe root port each (virtio), and the same bound for every bus (hostd/drivers/qemu-argv.ts plans the ports from it). */
  maxDisks: 10,
  /** NICs per VM: one PCIe root port each. */
  maxNics: 5,
  /**
   * Memory is hot-added in DIMMs of whole guest memory blocks (128 MiB on
   * x86-64 Linux): a guest cannot online part of a block.
   */
  memoryHotplugStepMiB: 128,
  /** DIMM slots of a VM with room to grow: hot-adds before a restart folds them into base memory. */
  memorySlots: 8,
} as const;

export const Vcpus = z.int().min(VM_LIMITS.minVcpus).max(VM_LIMITS.maxVcpus);
export const MemoryMiB = z.int().min(VM_LIMITS.minMemoryMiB).max(VM_LIMITS.maxMemoryMiB);

/** Kernel command line: printable ASCII only, bounded by the kernel's own limit. */
export const KernelCmdline = z
  .string()
  .max(VM_LIMITS.maxCmdlineBytes)
  .regex(/^[\x20-\x7e]*$/, "must be printable ASCII without control characters");

/** Direct kernel boot: QEMU loads the kernel (and initrd) from host files. */
export const KernelBoot = z.strictObject({
  /** Path of the kernel image (bzImage) on the host. */
  path: HostPath,
  /** Path of the initrd on the host. */
  initrd: HostPath.optional(),
  cmdline: KernelCmdline.optional(),
});
export type KernelBoot = z.infer<typeof KernelBoot>;

export const DiskBus = z.enum(["virtio", "scsi", "sata"]);
export type DiskBus = z.infer<typeof DiskBus>;

/** A Disk attached to the VM. Disks are listed boot disk first. */
export const VmDisk = z.strictObject({
  /** Name of a Disk on the same host. */
  disk: Name,
  /** virtio (default; hot-pluggable), scsi (virtio-scsi; hot-pluggable) or sata (AHCI; needs a restart). */
  bus: DiskBus.default("virtio"),
});
export type VmDisk = z.output<typeof VmDisk>;

export type DiskChange = { attach: VmDisk[]; detach: VmDisk[] };

/**
 * The disks to hot-plug and unplug to go from `before` to `after`, or null
 * when the change needs a restart: SATA has no hot-plug, and reordering the
 * disks that stay changes boot order. hostd plugs by it and the preview says
 * it (the disks field's liveWhen), so they cannot disagree.
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

export const Firmware = z.enum(["bios", "uefi"]);

/** `host`, or a QEMU x86 CPU model name as `qemu-system-x86_64 -cpu help` lists them (e.g. `qemu64`, `Haswell-v4`, `EPYC-v4`). */
export const CpuModel = z
  .string()
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "must be `host` or a QEMU CPU model name such as qemu64, Haswell-v4 or EPYC-v4 (`qemu-system-x86_64 -cpu help` lists them)");

/** A unicast, locally administered-or-not MAC address in lowercase. */
export const Mac = z
  .string()
  .regex(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/, "must be a MAC address like 52:54:00:12:34:56 (lowercase hex)")
  .refine((m) => (Number.parseInt(m.slice(0, 2), 16) & 1) === 0, "must be a unicast MAC (first octet even)");

export const PortForward = z.strictObject({
  protocol: z.enum(["tcp", "udp"]).default("tcp"),
  /** Host address to listen on; loopback by default, so nothing is exposed by accident. */
  hostAddress: z.ipv4().default("127.0.0.1"),
  hostPort: z.int().min(1).max(65535),
  guestPort: z.int().min(1).max(65535),
});

/** NIC models: virtio (fast; Linux and BSD have drivers) or e1000e (for installers without virtio drivers, e.g. Windows). */
export const NicModel = z.enum(["virtio", "e1000e"]);

/**
 * A NIC on QEMU's user-mode network: private, isolated (`restrict=on`: the guest
 * reaches nothing outside), with optional port forwards into the guest.
 */
export const UserNic = z.strictObject({
  type: z.literal("user"),
  /** Default: derived from the VM's id, stable for the VM's life. */
  mac: Mac.optional(),
  model: NicModel.default("virtio"),
  portForwards: z.array(PortForward).max(16).default([]),
});

/** A NIC on a Network (a tap on its bridge). */
export const NetworkNic = z.strictObject({
  /** Name of a Network on the same host. */
  network: Name,
  /** Default: derived from the VM's id, stable for the VM's life (an update never changes it). */
  mac: Mac.optional(),
  /** A static DHCP lease: the address this NIC always gets (nat/isolated networks; inside the subnet). */
  ip: z.ipv4().optional(),
  model: NicModel.default("virtio"),
});
export const NetworkInterface = z.union([UserNic, NetworkNic]);
export type NetworkInterface = z.output<typeof NetworkInterface>;
export type UserNic = z.output<typeof UserNic>;
export type NetworkNic = z.output<typeof NetworkNic>;

/** Addresses worth reporting as a VM's: not loopback, not IPv4/IPv6 link-local. */
export function isUsableAddress(a: string): boolean {
  const l = a.toLowerCase();
  return !(l.startsWith("127.") || l === "::1" || l.startsWith("169.254.") || l.startsWith("fe80:"));
}

/** True for a NIC on a Network (as opposed to user-mode networking). */
export function isNetworkNic(n: NetworkInterface): n is NetworkNic {
  return "network" in n;
}

/** `on-crash`: hostd restarts a VM whose QEMU crashed or was killed; `never`: `pulumi up` does. */
export const RestartPolicy = z.enum(["never", "on-crash"]);

const CloudInitDoc = wellFormedText(64 * 1024);
/** cloud-init NoCloud data; hostd builds the `cidata` seed disk from it. */
export const CloudInit = z.strictObject({
  userData: CloudInitDoc,
  /** Extra meta-data (YAML); instance-id and local-hostname are filled in unless given here. */
  metaData: CloudInitDoc.optional(),
  networkConfig: CloudInitDoc.optional(),
  /**
   * cloud-init runs per-instance steps (users, keys, runcmd) again only when this changes.
   * Default: the VM's id, so changing userData alone updates the seed without re-running them.
   */
  instanceId: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, "must be 1-64 of letters, digits, . _ -").optional(),
});
export type CloudInit = z.output<typeof CloudInit>;

/** What `pulumi up` waits for after a create or update (refresh never waits). */
export const WaitFor = z.enum(["running", "agent", "ip"]);
export type WaitFor = z.infer<typeof WaitFor>;

export const BootOrder = z.array(z.enum(["cdrom", "disk"])).min(1).max(2);

/**
 * Every field of a VM, once. The spec and update schemas below, the
 * provider's inputs, the diff, hostd's restart rule and the README table
 * are all read from here (see fields.ts).
 */
export const VM_FIELDS = fieldTable({
  name: { schema: Name, required: true, doc: "VM name on the host; generated from the resource name when not given, and kept across updates.", defaultDoc: "`<namePrefix>-<hash>`, kept across updates", effect: "replace" },
  vcpus: {
    schema: Vcpus,
    default: 1,
    doc: "Virtual CPUs.",
    effect: "restart",
    effectDoc: "raised within `maxVcpus`: CPUs hot-added to the running VM; otherwise a running VM is restarted (the preview says which)",
    liveWhen: (b, a) => grows(b.vcpus, a.vcpus, b.maxVcpus) && a.maxVcpus === b.maxVcpus,
  },
  cpuModel: {
    schema: CpuModel,
    default: "host",
    doc: "The guest's CPU: `host` is this host's own (KVM: passthrough; TCG: QEMU's `max`), fastest, and moves live only to a host whose CPU offers exactly the same features; a named QEMU model (e.g. `Haswell-v4`, `EPYC-v4`, `qemu64`) is the same CPU on every host, starts only where the host offers all of it, and moves live to any such host.",
    effect: "restart",
  },
  maxVcpus: { schema: Vcpus, removable: true, doc: "vCPUs the running VM can grow to without a restart (QEMU's maxcpus).", defaultDoc: "`vcpus` (no room)", effect: "restart" },
  memoryMiB: {
    schema: MemoryMiB,
    default: 512,
    doc: "Memory in MiB.",
    effect: "restart",
    effectDoc: `raised within \`maxMemoryMiB\` by a multiple of ${VM_LIMITS.memoryHotplugStepMiB} MiB: a DIMM hot-added to the running VM; otherwise (and when lowered) a running VM is restarted (the preview says which)`,
    liveWhen: (b, a) =>
      grows(b.memoryMiB, a.memoryMiB, b.maxMemoryMiB) && a.maxMemoryMiB === b.maxMemoryMiB && ((a.memoryMiB as number) - (b.memoryMiB as number)) % VM_LIMITS.memoryHotplugStepMiB === 0,
  },
  maxMemoryMiB: {
    schema: MemoryMiB,
    removable: true,
    doc: `Memory in MiB the running VM can grow to without a restart (up to ${VM_LIMITS.memorySlots} hot-added DIMMs between restarts).`,
    defaultDoc: "`memoryMiB` (no room)",
    effect: "restart",
  },
  running: { schema: z.boolean(), default: true, doc: "Desired power state.", effect: "power", effectDoc: "start / graceful stop (guest agent or ACPI, then power-off, bounded)" },
  kernel: { schema: KernelBoot, removable: true, doc: "Direct kernel boot from host files `{ path, initrd?, cmdline? }` (skips firmware and boot loader).", effect: "restart" },
  firmware: { schema: Firmware, default: "bios", doc: "`bios` (SeaBIOS) or `uefi` (OVMF with the VM's own NVRAM, kept across restarts, removed with the VM).", effect: "restart" },
  disks: {
    schema: z.array(VmDisk).max(VM_LIMITS.maxDisks),
    default: [],
    doc: "Disks `[{ disk, bus? }]`, boot disk first; bus `virtio` (default), `scsi` or `sata`.",
    effect: "restart",
    effectDoc: "adding or removing a virtio/scsi disk on a running VM is a hot-plug (same QEMU, no other device moves); sata, or reordering the disks that stay, needs a restart (the preview says which)",
    liveWhen: (b, a) => diskHotplugPlan(b.disks as VmDisk[], a.disks as VmDisk[]) !== null,
  },
  cdrom: { schema: z.strictObject({ path: HostPath }), removable: true, doc: "A read-only ISO on the host `{ path }`, e.g. an installer; booted first by default.", effect: "restart" },
  bootOrder: { schema: BootOrder, removable: true, doc: "`cdrom` and `disk` in boot order.", defaultDoc: "cdrom first when there is one", effect: "restart" },
  networkInterfaces: {
    schema: z.array(NetworkInterface).max(VM_LIMITS.maxNics),
    default: [],
    doc: "NICs in guest order: `{ network, mac?, ip?, model? }` on a kvm.Network (a tap on its bridge; `ip` is a static DHCP lease; model `virtio` or `e1000e`), or `{ type: \"user\", portForwards? }`.",
    effect: "hotplug",
    effectDoc: "adding or removing a NIC on a running VM is a hot-plug (same QEMU); MACs are derived from the VM's id when not given and never change on update",
  },
  cloudInit: {
    schema: CloudInit,
    removable: true,
    secret: true,
    doc: "cloud-init NoCloud data `{ userData, metaData?, networkConfig?, instanceId? }` on a seed disk hostd builds; kept secret in state.",
    effect: "seed",
    effectDoc: "the seed is rewritten and read at the next boot; per-instance steps run again only when `instanceId` changes (the preview says which)",
  },
  guestAgent: { schema: z.boolean(), default: true, doc: "Add the qemu-guest-agent channel (IPs, hostname, OS, clean shutdown).", effect: "restart" },
  restartPolicy: {
    schema: RestartPolicy,
    default: "never",
    doc: "`on-crash`: hostd starts the VM again when QEMU crashes or is killed (backing off; gives up after 5 restarts in 10 minutes). `never`: the next `pulumi up` does.",
    effect: "in-place",
  },
  waitFor: {
    schema: WaitFor,
    default: "running",
    where: "provider",
    doc: "What create and update wait for: `running`, `agent` (the guest agent answers) or `ip` (an address from this boot's DHCP lease or the agent). Refresh never waits. Set PULUMI_PARALLEL above the number of VMs that wait at once.",
    effect: "none",
  },
  timeoutSeconds: { schema: z.int().min(1).max(86_400), default: 300, where: "provider", doc: "Bound on that wait, in seconds (customTimeouts do not reach dynamic providers).", effect: "none" },
  stopTimeoutSeconds: {
    schema: z.int().min(0).max(3600),
    default: 60,
    where: "provider",
    doc: "How long the guest gets to shut down (guest agent, else ACPI) when an update stops or restarts it, before it is powered off. 0 powers it off at once: for guests that ignore ACPI (firmware alone, installers).",
    effect: "none",
  },
});

/** A raise that stays within the room given (`max` undefined: none). */
function grows(before: unknown, after: unknown, max: unknown): boolean {
  return typeof before === "number" && typeof after === "number" && typeof max === "number" && after > before && after <= max;
}

/** Fields QEMU cannot change on a running VM: changing one restarts it (NICs hot-plug; disks, vCPUs and memory where their liveWhen says). */
export const VM_RESTART_FIELDS = fieldsWithEffect(VM_FIELDS, "restart");

/**
 * The desired spec of a VM. A VM needs a boot source: a kernel (direct
 * boot), a disk, or a cdrom.
 */
const VmSpecShape = z.strictObject(specShape(VM_FIELDS));

/** The provider's own settings of a VM (never sent to hostd), defaults filled in. */
export const VmProviderSettings = z.strictObject(providerShape(VM_FIELDS));

/** The rules that span fields of a spec (shared by the spec and the create params). */
function vmRules<T extends z.ZodType<z.output<typeof VmSpecShape>>>(s: T) {
  return s
    .refine((v) => v.kernel !== undefined || v.disks.length > 0 || v.cdrom !== undefined, {
    message: "a VM needs a boot source: kernel, disks or cdrom",
    path: ["kernel"],
    })
    .refine((v) => new Set(v.disks.map((d) => d.disk)).size === v.disks.length, {
      message: "a disk may be attached once",
      path: ["disks"],
    })
    .refine((v) => uniqueMacs(v.networkInterfaces), { message: "each NIC needs its own MAC address", path: ["networkInterfaces"] })
    .refine((v) => v.maxVcpus === undefined || v.maxVcpus >= v.vcpus, { message: "must be at least vcpus", path: ["maxVcpus"] })
    .refine((v) => v.maxMemoryMiB === undefined || v.maxMemoryMiB >= v.memoryMiB, { message: "must be at least memoryMiB", path: ["maxMemoryMiB"] });
}

export const VmSpec = vmRules(VmSpecShape);
export type VmSpec = z.output<typeof VmSpec>;
export type VmSpecInput = z.input<typeof VmSpec>;

/** A create: the spec, and who declares it (recorded with the VM; see {@link Owner}). */
export const VmCreate = vmRules(VmSpecShape.extend({ owner: Owner.optional() }));
export type VmCreate = z.output<typeof VmCreate>;

function uniqueMacs(nics: { mac?: string }[]): boolean {
  const macs = nics.map((n) => n.mac).filter((m) => m !== undefined);
  return new Set(macs).size === macs.length;
}

export const VmUpdate = z
  .strictObject({
    name: Name,
    ...updateShape(VM_FIELDS),
    networkInterfaces: VM_FIELDS.networkInterfaces.schema.refine(uniqueMacs, "each NIC needs its own MAC address").optional(),
    /** How long a graceful shutdown may take before power-off, when a restart is needed. */
    stopTimeoutSeconds: VM_FIELDS.stopTimeoutSeconds.schema.optional(),
  })
  .refine((u) => Object.keys(u).some((k) => k !== "name" && k !== "stopTimeoutSeconds"), {
    message: "an update must change at least one property of the VM",
  });
export type VmUpdate = z.output<typeof VmUpdate>;

export const VmState = z.enum([
  /** QEMU is running the guest. */
  "running",
  /** QEMU is alive but the guest is paused or in an error state (see qemuStatus). */
  "paused",
  /** No QEMU process; the VM was stopped (by the user, hostd or the guest). */
  "stopped",
  /** No QEMU process, and nobody asked it to stop: it crashed or was killed (see lastExit). */
  "crashed",
]);
export type VmState = z.infer<typeof VmState>;

export const ExitReason = z.enum([
  /** The guest powered itself off. */
  "guest-shutdown",
  /** hostd stopped it on request (vm.stop, vm.update restart, vm.delete). */
  "hostd-stop",
  /** Someone on the host signalled QEMU to quit (SIGTERM, SIGINT, SIGHUP). */
  "host-signal",
  /** The process vanished without a shutdown event and hostd could not learn how (it was not QEMU's parent). */
  "vanished",
  /** Killed with SIGKILL by someone on the host (not the OOM killer: QEMU's own cgroup counted no OOM kill). */
  "killed",
  /** Killed by the kernel's OOM killer (counted in the OOM-kill counter of QEMU's own cgroup). */
  "oom-killed",
  /**
   * Killed with SIGKILL, and hostd cannot tell whether by the OOM killer or by someone on the
   * host: QEMU has no cgroup of its own on this host (no memory controller hostd may use).
   */
  "killed-or-oom",
  /**
   * An operator ended QEMU with a QMP command (`quit`) on the VM's operators' socket
   * (`<state>/vms/<id>/qmp-ops.sock`); hostd's own stops are `hostd-stop`. Not a crash: it shows as `stopped`.
   */
  "operator-quit",
  /** QEMU died of a fatal signal (SIGSEGV, SIGABRT, ...) or exited with an error. */
  "crashed",
]);
export type ExitReason = z.infer<typeof ExitReason>;

/** Who this host is in a move. */
export const MigrationRole = z.enum(["source", "destination"]);

/**
 * A side's durable phase, written before each step.
 * - source: `sending` (streams attached, disks and RAM being copied; the guest runs here) →
 *   `switched-over` (live: QEMU here is paused for good and the destination has it all) → row gone.
 * - destination: `incoming` (the twin exists here and waits for the streams; its guest never ran
 *   here) → row kept as the VM's own, mark cleared, on `migration.finish`.
 */
export const MigrationPhase = z.enum(["sending", "switched-over", "incoming"]);
export type MigrationPhase = z.infer<typeof MigrationPhase>;

export const MigrationMark = z.strictObject({
  role: MigrationRole,
  phase: MigrationPhase,
  mode: z.enum(["live", "offline"]),
  peerHostId: HostId,
  since: Timestamp,
});
export type MigrationMark = z.infer<typeof MigrationMark>;

export const VmInfo = z.strictObject({
  /** hostd's id for this VM; stable for the VM's life, new if it is recreated. */
  id: z.uuid(),
  name: Name,
  spec: VmSpec,
  /** Who declared it (null: made without an owner, e.g. by hand with the CLI). */
  owner: Owner.nullable(),
  state: VmState,
  /** QMP run state (`running`, `paused`, `internal-error`, ...) when QEMU is alive. */
  qemuStatus: z.string().nullable(),
  pid: z.int().nullable(),
  accelerator: Accelerator.nullable(),
  /**
   * Where the real VM differs from the spec hostd keeps for it (a disk or NIC unplugged on the operators' QMP
   * socket, ...): `spec` above already shows the real state; each entry names the field and says what differs.
   * The next update of the VM puts the spec back (restarting it when it runs). Absent from older hostds.
   */
  drift: z.array(z.strictObject({ field: z.string(), detail: z.string() })).optional(),
  /** A move between hosts under way on this host (sdk/migrate.ts); absent or null when none. */
  migration: MigrationMark.nullable().optional(),
  /** What QEMU really has, read over QMP; null when not running. */
  actual: z
    .strictObject({
      memoryMiB: z.int(),
      vcpus: z.int(),
    })
    .nullable(),
  lastExit: z
    .strictObject({
      reason: ExitReason,
      at: Timestamp,
      detail: z.string().optional(),
    })
    .nullable(),
  /** NICs in spec order, with the addresses the VM has now (none while it is not running). */
  nics: z.array(
    z.strictObject({
      type: z.enum(["user", "network"]),
      /** The Network, for `network` NICs. */
      network: Name.nullable(),
      mac: Mac,
      model: NicModel,
      /** The host-side tap device, for `network` NICs. */
      tap: z.string().nullable(),
      /**
       * Addresses of this NIC: the DHCP lease dnsmasq granted since QEMU last started,
       * and what the guest agent reports for this MAC. Never waited for.
       */
      ipAddresses: z.array(z.string()),
    }),
  ),
  /** The first IPv4 address of the first NIC that has one (the VM's "primary" IP); null when none is known. */
  primaryIp: z.string().nullable(),
  /** What qemu-guest-agent last reported; null until it has answered. Never waited for. */
  guest: z
    .strictObject({
      hostname: z.string().nullable(),
      os: z.string().nullable(),
      interfaces: z.array(
        z.strictObject({
          name: z.string(),
          mac: z.string().nullable(),
          addresses: z.array(z.strictObject({ address: z.string(), prefix: z.int(), family: z.enum(["ipv4", "ipv6"]) })),
        }),
      ),
      at: Timestamp,
    })
    .nullable(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type VmInfo = z.infer<typeof VmInfo>;

export const VmRef = z.strictObject({ name: Name });

export const VmStop = z.strictObject({
  name: Name,
  /** Power off at once instead of asking the guest (ACPI) first. */
  force: z.boolean().default(false),
  /** How long the guest gets to shut down before it is powered off. */
  timeoutSeconds: z.int().min(0).max(3600).default(60),
});

export const VmDelete = z.strictObject({
  name: Name,
  /** Delete only if the VM still has this id (guards against deleting a namesake). */
  id: z.uuid().optional(),
  /** Delete only if the VM is this owner's (refused with `not_owner` otherwise). */
  owner: Owner.optional(),
  /** Delete only on this host (refused with `wrong_host`, naming both ids, anywhere else). */
  hostId: HostId.optional(),
});

export const vmCreate = defineMethod("vm.create", VmCreate, VmInfo, { mutating: true });

/** The end of the VM's serial console log (what the guest printed). */
export const vmSerialLog = defineMethod(
  "vm.serialLog",
  z.strictObject({ name: Name, bytes: z.int().min(1).max(1024 * 1024).default(64 * 1024) }),
  z.strictObject({ text: z.string(), truncated: z.boolean() }),
  { mutating: false },
);

/**
 * Attaches to the VM's serial console: after the `{attached: true}` reply the
 * connection carries the console's raw bytes both ways until either side
 * closes. One client at a time (QEMU's serial socket takes one).
 */
export const vmConsole = defineMethod("vm.console", VmRef, z.strictObject({ attached: z.literal(true) }), { mutating: false });
export const vmGet = defineMethod("vm.get", VmRef, VmInfo, { mutating: false });
export const vmList = defineMethod(
  "vm.list",
  z.strictObject({}),
  z.strictObject({ vms: z.array(VmInfo) }),
  { mutating: false },
);
export const vmUpdate = defineMethod(
  "vm.update",
  VmUpdate,
  z.strictObject({
    vm: VmInfo,
    /** True when QEMU was restarted to apply the change. */
    restarted: z.boolean(),
    /** Disks hot-plugged (+name) and unplugged (-name) without a restart. */
    hotplugged: z.array(z.string()),
  }),
  { mutating: true },
);
export const vmStart = defineMethod("vm.start", VmRef, VmInfo, { mutating: true });
export const vmStop = defineMethod("vm.stop", VmStop, VmInfo, { mutating: true });
export const vmDelete = defineMethod(
  "vm.delete",
  VmDelete,
  z.strictObject({ existed: z.boolean() }),
  { mutating: true },
);
