/**
 * Moving a VM (or a detached Disk) between hosts: the wire of the relayed
 * design (docs/architecture.md, "Moving between hosts").
 *
 * The client that runs Pulumi holds an SSH connection to each host. For each
 * byte stream of a move (QEMU's RAM stream, one NBD connection per disk, or a
 * disk file for an offline move) it opens one more connection to each hostd
 * and sends `migration.attach`: after its `{attached: true}` reply the
 * connection carries that stream's raw bytes, and the client pipes source ↔
 * destination. QEMU on both hosts speaks only to unix sockets in its VM's
 * directory; SSH authenticates and encrypts everything between the hosts, and
 * no host opens a TCP port.
 *
 * Until the destination runs the VM (`migration.finish`), the source is
 * authoritative; from then on, the destination. Each hostd records its side's
 * phase in the VM's row before each step, so one restarted mid-move knows
 * what it holds.
 */
import { z } from "zod";
import { HostId, Name, Owner, Timestamp } from "./common";
import { DiskInfo, DiskMoveMark, DiskSpec } from "./disk";
import { defineMethod } from "./method";
import { MigrationMark, VmInfo, VmSpec } from "./vm";

export { MigrationMark, MigrationPhase, MigrationRole } from "./vm";

export const MIGRATION_LIMITS = {
  /**
   * QEMU's own default max-bandwidth is 128 MiB/s, which would make the RAM
   * copy of a 4 GiB guest take half a minute on a link that carries far more.
   */
  defaultBandwidthMiBps: 1024,
  /** QEMU's default downtime-limit (and the target). */
  defaultDowntimeLimitMs: 300,
  /** Proxmox's timeout_migrate default is 1800 s. */
  defaultTimeoutSeconds: 1800,
} as const;

/** One stream of a move. */
export const MigrationStream = z.discriminatedUnion("kind", [
  /** QEMU's migration stream (RAM and device state). */
  z.strictObject({ kind: z.literal("ram") }),
  /** One NBD connection: the source's mirror of this disk to the destination's export. */
  z.strictObject({ kind: z.literal("nbd"), disk: Name }),
  /** An offline move: the disk's file, byte for byte. */
  z.strictObject({ kind: z.literal("file"), disk: Name }),
]);
export type MigrationStream = z.infer<typeof MigrationStream>;

/** How one disk travels: `top` copies only the overlay (the destination has the base), `full` every block. */
export const MirrorSync = z.enum(["top", "full"]);

/** A disk as the source holds it: what the destination needs to make its twin. */
export const MigratingDisk = z.strictObject({
  id: z.uuid(),
  name: Name,
  spec: DiskSpec,
  owner: Owner.nullable(),
  format: z.enum(["qcow2", "raw"]),
  virtualSizeBytes: z.int().min(0),
  /** Bytes of the file: what an offline move copies, and at most what a live `full` mirror sends. */
  actualSizeBytes: z.int().min(0),
  /** The cached base it reads through (url sources with clone), by sha256: the destination fetches the same. */
  baseSha256: z.string().nullable(),
  sync: MirrorSync,
  createdAt: Timestamp,
});
export type MigratingDisk = z.infer<typeof MigratingDisk>;

/** Where a VM's devices sit, so the destination's QEMU has the same machine (same PCI addresses, same MACs). */
export const MigratingPlacement = z.strictObject({
  nics: z.array(z.strictObject({ mac: z.string(), slot: z.int().min(0) })),
  nextNicIndex: z.int().min(0),
  diskSlots: z.record(z.string(), z.int().min(0)),
  /** The versioned machine type it runs (e.g. `pc-q35-7.2`): the destination's QEMU must have it. */
  machine: z.string().max(64),
});

/** `migration.describe` (source, read-only): the VM and its disks, for a plan and for the destination. */
export const MigrationDescription = z.strictObject({
  vm: z.strictObject({
    id: z.uuid(),
    name: Name,
    spec: VmSpec,
    owner: Owner.nullable(),
    createdAt: Timestamp,
    placement: MigratingPlacement,
    running: z.boolean(),
    memoryBytes: z.int().min(0),
  }),
  disks: z.array(MigratingDisk),
  /** The VM's own UEFI variables (NVRAM), base64; null for BIOS VMs. */
  nvram: z.string().nullable(),
  /** The accelerator the running QEMU uses: a live move needs the same on the destination. */
  accelerator: z.enum(["kvm", "tcg"]).nullable(),
  /** The CPU features a running VM with cpuModel `host` booted with (the source host's own); null otherwise. */
  hostCpuFeatures: z.array(z.string()).nullable(),
  /** Why this VM cannot move at all as it stands (null: it can). */
  moveRefusal: z.string().nullable(),
  /** Why a live move of this running VM is refused as it stands (null: it can move live). */
  liveRefusal: z.string().nullable(),
  /** The move under way, when one is. */
  migration: MigrationMark.nullable(),
});
export type MigrationDescription = z.infer<typeof MigrationDescription>;

export const migrationDescribe = defineMethod("migration.describe", z.strictObject({ name: Name }), MigrationDescription, { mutating: false });

/** `migration.begin` (source): mark the VM as moving to `toHostId`, so its streams may be attached. */
export const migrationBegin = defineMethod(
  "migration.begin",
  z.strictObject({ name: Name, id: z.uuid(), toHostId: HostId, mode: z.enum(["live", "offline"]) }),
  z.strictObject({ mark: MigrationMark }),
  { mutating: true },
);

/** `migration.incoming` (destination): make the VM's twin — its disks, its row, and (live) a paused QEMU waiting for the streams. */
export const MigrationIncoming = z.strictObject({
  description: MigrationDescription,
  mode: z.enum(["live", "offline"]),
  fromHostId: HostId,
});
export type MigrationIncoming = z.infer<typeof MigrationIncoming>;
export const migrationIncoming = defineMethod(
  "migration.incoming",
  MigrationIncoming,
  z.strictObject({ vm: VmInfo, disks: z.array(DiskInfo) }),
  { mutating: true },
);

/**
 * `migration.check` (destination, read-only): would this host take the VM? What `migration.incoming`
 * refuses before it makes anything — the name taken, a host file or network missing, the VM larger
 * than the host, too little room for its disks — asked at preview and before a move begins.
 */
export const migrationCheck = defineMethod(
  "migration.check",
  MigrationIncoming,
  z.strictObject({
    /** What the move would write to this host's disk folder, bytes (its cached base not counted). */
    neededBytes: z.int().min(0),
    freeBytes: z.int().min(0),
  }),
  { mutating: false },
);

/** `migration.send` (source): mirror the disks, copy the RAM, switch over. Returns when the source is paused for good. */
export const MigrationSend = z.strictObject({
  name: Name,
  toHostId: HostId,
  bandwidthMiBps: z.int().min(1).max(100_000).default(MIGRATION_LIMITS.defaultBandwidthMiBps),
  downtimeLimitMs: z.int().min(1).max(60_000).default(MIGRATION_LIMITS.defaultDowntimeLimitMs),
  /** The whole move (disks and RAM) must end within this; otherwise it is aborted and the VM keeps running here. */
  timeoutSeconds: z.int().min(1).max(86_400).default(MIGRATION_LIMITS.defaultTimeoutSeconds),
});
export const MigrationSent = z.strictObject({
  /** QEMU's own count of the switchover (vCPUs stopped on the source until the destination could run). */
  downtimeMs: z.int().min(0).nullable(),
  /** From the first mirror to the switchover. */
  totalMs: z.int().min(0),
  ramBytes: z.int().min(0),
  diskBytes: z.int().min(0),
});
export type MigrationSent = z.infer<typeof MigrationSent>;
export const migrationSend = defineMethod("migration.send", MigrationSend, MigrationSent, { mutating: true });

/** `migration.finish` (destination): the streams are in; run the VM here (live) or keep it as it was (offline). */
export const migrationFinish = defineMethod("migration.finish", z.strictObject({ name: Name, running: z.boolean() }), z.strictObject({ vm: VmInfo, pauseMs: z.int().min(0).nullable() }), { mutating: true });

/** `migration.release` (source): the destination runs the VM: remove everything of it here (QEMU, taps, disks, row). */
export const migrationRelease = defineMethod("migration.release", z.strictObject({ name: Name, id: z.uuid(), toHostId: HostId }), z.strictObject({ released: z.boolean() }), { mutating: true });

/** `migration.abort` (either side): undo this side's part; the source's VM keeps (or goes back to) running here. */
export const migrationAbort = defineMethod("migration.abort", z.strictObject({ name: Name, id: z.uuid(), why: z.string().max(2000) }), z.strictObject({ aborted: z.boolean() }), { mutating: true });

/** Streaming: after `{attached: true}` the connection carries one stream's raw bytes both ways. */
export const migrationAttach = defineMethod(
  "migration.attach",
  z.strictObject({ name: Name, stream: MigrationStream }),
  z.strictObject({ attached: z.literal(true) }),
  { mutating: false },
);

// ---- a detached Disk moving by itself: always offline (no VM runs it), its file copied ----
// The same steps as a VM's offline move, driven by sdk/migrate.ts: describe and check (the plan),
// begin on the source, incoming on the destination, one file stream, finish, release; abort undoes.

/** `diskMove.describe` (source, read-only): the disk as the destination needs it, and why it cannot move by itself. */
export const diskMoveDescribe = defineMethod(
  "diskMove.describe",
  z.strictObject({ name: Name }),
  z.strictObject({
    disk: MigratingDisk,
    /** Why it cannot move by itself (attached to a VM: it moves with that VM), or null. */
    refusal: z.string().nullable(),
    migration: DiskMoveMark.nullable(),
  }),
  { mutating: false },
);

/** `diskMove.check` (destination, read-only): would this host take the disk (its name free, room for it)? */
export const diskMoveCheck = defineMethod(
  "diskMove.check",
  z.strictObject({ disk: MigratingDisk }),
  z.strictObject({ neededBytes: z.int().min(0), freeBytes: z.int().min(0) }),
  { mutating: false },
);

/** `diskMove.begin` (source): mark the disk as leaving for `toHostId`; no VM may take it, nothing may change it, until release or abort. */
export const diskMoveBegin = defineMethod(
  "diskMove.begin",
  z.strictObject({ name: Name, id: z.uuid(), toHostId: HostId }),
  z.strictObject({ mark: DiskMoveMark }),
  { mutating: true },
);

/** `diskMove.incoming` (destination): the disk's twin (same id and name), not usable until finish. */
export const diskMoveIncoming = defineMethod(
  "diskMove.incoming",
  z.strictObject({ disk: MigratingDisk, fromHostId: HostId }),
  DiskInfo,
  { mutating: true },
);

/** Streaming: the disk's file, read on the source, written on the destination. */
export const diskMoveAttach = defineMethod(
  "diskMove.attach",
  z.strictObject({ name: Name, id: z.uuid() }),
  z.strictObject({ attached: z.literal(true) }),
  { mutating: false },
);

/** `diskMove.finish` (destination): the file is in; the twin becomes an ordinary disk of this host. */
export const diskMoveFinish = defineMethod("diskMove.finish", z.strictObject({ name: Name, id: z.uuid() }), DiskInfo, { mutating: true });

/** `diskMove.release` (source): the destination has it: its file and row go here. */
export const diskMoveRelease = defineMethod("diskMove.release", z.strictObject({ name: Name, id: z.uuid(), toHostId: HostId }), z.strictObject({ released: z.boolean() }), { mutating: true });

/** `diskMove.abort` (either side): the destination's twin goes; the source's disk stays, usable again. */
export const diskMoveAbort = defineMethod("diskMove.abort", z.strictObject({ name: Name, id: z.uuid(), why: z.string().max(2000) }), z.strictObject({ aborted: z.boolean() }), { mutating: true });

export const MIGRATION_METHODS = [migrationDescribe, migrationCheck, migrationBegin, migrationIncoming, migrationSend, migrationFinish, migrationRelease, migrationAbort, migrationAttach, diskMoveDescribe, diskMoveCheck, diskMoveBegin, diskMoveIncoming, diskMoveAttach, diskMoveFinish, diskMoveRelease, diskMoveAbort] as const;
