/**
 * hostd's durable state in SQLite (node:sqlite, built into Node >= 22.13:
 * no native addon to build). The database records what hostd was asked for
 * and what it last saw; the live state is always re-read from /proc and QMP.
 */
import { chmodSync, closeSync, openSync } from "node:fs";
import { DatabaseSync } from "node:sqlite";
import { z } from "zod";
import { KvmError } from "../sdk/errors";
import { DiskSpec, ExitReason, MigrationMark, NetworkSpec, VmSpec } from "../sdk/protocol";
import type { HostFile } from "./host-paths";

export interface LastExit {
  reason: ExitReason;
  at: string;
  detail?: string;
}

/** One VM as hostd stores it. `spec` is the desired spec (JSON in the row). */
export interface VmRecord<Spec = VmSpec> {
  id: string;
  name: string;
  spec: Spec;
  /** Pid of the QEMU hostd last started; null when hostd believes it is not running. */
  pid: number | null;
  accelerator: "kvm" | "tcg" | null;
  /** Set while hostd itself is stopping the VM, so its exit is attributed to hostd. */
  stopRequested: boolean;
  lastExit: LastExit | null;
  devices: VmDevices;
  /** uid and gid of the VM's QEMU; null for VMs made before hostd ran QEMU unprivileged (allocated at next start). */
  uid: number | null;
  /** Who declared it (protocol Owner); null when nobody did. */
  owner: string | null;
  createdAt: string;
  updatedAt: string;
}

interface Row {
  id: string;
  name: string;
  spec: string;
  pid: number | null;
  accelerator: string | null;
  stop_requested: number;
  last_exit: string | null;
  devices: string;
  uid: number | null;
  owner: string | null;
  created_at: string;
  updated_at: string;
}

const MIGRATIONS = [
  `CREATE TABLE vms (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL UNIQUE,
     spec TEXT NOT NULL,
     pid INTEGER,
     accelerator TEXT,
     stop_requested INTEGER NOT NULL DEFAULT 0,
     last_exit TEXT,
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL
   )`,
  `CREATE TABLE disks (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL UNIQUE,
     spec TEXT NOT NULL,
     path TEXT NOT NULL,
     format TEXT NOT NULL,
     backing_sha256 TEXT,
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL
   )`,
  // Where each device of a VM sits (PCI slots, MACs), kept for the VM's life.
  `ALTER TABLE vms ADD COLUMN devices TEXT NOT NULL DEFAULT '{}'`,
  `CREATE TABLE networks (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL UNIQUE,
     spec TEXT NOT NULL,
     bridge TEXT NOT NULL UNIQUE,
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL
   )`,
  // The unprivileged uid (and gid) each VM's QEMU runs as: one per VM, so VMs cannot read each other's files.
  `ALTER TABLE vms ADD COLUMN uid INTEGER`,
  // Replies of mutating calls by idempotency key, so a retried call is answered, not run again.
  `CREATE TABLE events (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     at TEXT NOT NULL,
     level TEXT NOT NULL,
     kind TEXT NOT NULL,
     object TEXT NOT NULL,
     message TEXT NOT NULL,
     details TEXT NOT NULL
   )`,
  `CREATE TABLE requests (
     key TEXT PRIMARY KEY,
     method TEXT NOT NULL,
     params_sha256 TEXT NOT NULL,
     reply TEXT NOT NULL,
     created_at TEXT NOT NULL
   )`,
  // Who declared each object (protocol Owner); NULL for objects made before owners, or without one.
  `ALTER TABLE vms ADD COLUMN owner TEXT`,
  `ALTER TABLE disks ADD COLUMN owner TEXT`,
  `ALTER TABLE networks ADD COLUMN owner TEXT`,
];

/** Device placement of one VM: kept so a device never moves (and a guest never renames it). */
export interface VmDevices {
  /** Root-port slot of each virtio disk, by disk name; SCSI id / SATA port for other buses. */
  diskSlots?: Record<string, number>;
  /**
   * NICs in spec order: each keeps its MAC and root port for the VM's life, so
   * removing one NIC never renames or readdresses another.
   */
  nics?: NicPlacement[];
  /** Next index for a derived MAC: never reused, so a removed NIC's MAC is not handed to a new one. */
  nextNicIndex?: number;
  /** The versioned machine type (e.g. `pc-q35-7.2`) the VM got at its first start, kept for its life and across moves. */
  machine?: string;
  /** CPU slots the running QEMU (that pid) must not plug again: an undo took their CPU out (vm.ts growLive says why). */
  spentCpuSlots?: { pid: number; ids: string[] };
  /** The kernel, initrd and cdrom as last checked for a caller (hostd/host-paths.ts): QEMU gets these resolved paths. */
  hostFiles?: VmHostFiles;
  /** sha256 of the cloud-init seed hostd last built: a seed changed or removed outside hostd is drift (vm.get reports it). */
  seedSha256?: string;
  /** A move between hosts under way on this host: this side's role and durable phase (hostd reconciles it at start). */
  migration?: MigrationMark;
}

export type VmHostFiles = Partial<Record<"kernel" | "initrd" | "cdrom", HostFile>>;

export interface NicPlacement {
  mac: string;
  /** Root-port index. */
  slot: number;
}

/** One Network as hostd stores it. */
export interface NetworkRecord<Spec = NetworkSpec> {
  id: string;
  name: string;
  spec: Spec;
  /** The bridge (created by hostd for nat/isolated; the host's own for bridge mode). */
  bridge: string;
  owner: string | null;
  createdAt: string;
  updatedAt: string;
}

interface NetworkRow {
  id: string;
  name: string;
  spec: string;
  bridge: string;
  owner: string | null;
  created_at: string;
  updated_at: string;
}

export interface DiskRecord<Spec = DiskSpec> {
  id: string;
  name: string;
  spec: Spec;
  path: string;
  format: "qcow2" | "raw";
  /** sha256 of the cached image a clone reads through. */
  backingSha256: string | null;
  owner: string | null;
  createdAt: string;
  updatedAt: string;
}

interface DiskRow {
  id: string;
  name: string;
  spec: string;
  path: string;
  format: string;
  backing_sha256: string | null;
  owner: string | null;
  created_at: string;
  updated_at: string;
}

/** One row of the event history as stored (hostd's `host.events` handler checks it against the protocol). */
export interface StoredEvent {
  seq: number;
  at: string;
  level: string;
  kind: string;
  object: string;
  message: string;
  details: Record<string, unknown>;
}

/**
 * What each JSON column holds, checked on every read: a row of another shape
 * (a disk error, a hand edit, a bug) is reported as corrupt, never cast to
 * its type. Loose where hostd may add fields: a row written by a newer hostd
 * still reads.
 */
const LastExitJson = z.object({ reason: ExitReason, at: z.string(), detail: z.string().optional() });
const HostFileJson = z.object({ asked: z.string(), path: z.string(), kind: z.enum(["file", "block"]), dev: z.string(), ino: z.string() });
const VmDevicesJson = z.looseObject({
  diskSlots: z.record(z.string(), z.int()).optional(),
  nics: z.array(z.looseObject({ mac: z.string(), slot: z.int() })).optional(),
  nextNicIndex: z.int().optional(),
  machine: z.string().optional(),
  spentCpuSlots: z.object({ pid: z.int(), ids: z.array(z.string()) }).optional(),
  hostFiles: z.partialRecord(z.enum(["kernel", "initrd", "cdrom"]), HostFileJson).optional(),
  seedSha256: z.string().optional(),
  migration: MigrationMark.optional(),
});
const EventDetailsJson = z.record(z.string(), z.unknown());

/** `text` (column `column` of a row) as `schema` says it must be; throws saying what is wrong. */
function column<T extends z.ZodType>(schema: T, text: string, columnName: string): z.output<T> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new Error(`${columnName} is not JSON: ${(e as Error).message}`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new Error(`${columnName} does not have the shape hostd writes: ${z.prettifyError(parsed.error).replace(/\n\s*/g, " ")}`);
  return parsed.data;
}

/** A text column that holds one of `values`. */
function oneOf<const V extends string>(values: readonly V[], value: string | null, columnName: string): V {
  if (!values.includes(value as V)) throw new Error(`${columnName} is ${JSON.stringify(value)}, not one of ${values.join(", ")}`);
  return value as V;
}

/** A row hostd cannot read, as {@link Store.onCorrupt} is told of it. */
export interface CorruptRow {
  table: "vms" | "disks" | "networks" | "events";
  /** The row's id (an event's seq, as text). */
  id: string;
  /** The object's name (an event's object). */
  name: string;
  why: string;
}

export class Store {
  private readonly db: DatabaseSync;

  constructor(file: string) {
    // Specs hold cloud-init user-data and the like: root's alone, though the state directory is
    // traversable. SQLite gives its -wal and -shm files the database's mode.
    closeSync(openSync(file, "a", 0o600));
    chmodSync(file, 0o600);
    this.db = new DatabaseSync(file);
    this.db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;");
    this.migrate();
  }

  private migrate(): void {
    const row = this.db.prepare("PRAGMA user_version").get() as { user_version: number };
    for (let v = row.user_version; v < MIGRATIONS.length; v++) {
      this.db.exec("BEGIN");
      try {
        this.db.exec(MIGRATIONS[v]!);
        this.db.exec(`PRAGMA user_version = ${v + 1}`);
        this.db.exec("COMMIT");
      } catch (e) {
        this.db.exec("ROLLBACK");
        throw e;
      }
    }
  }

  close(): void {
    this.db.close();
  }

  private static toRecord(r: Row): VmRecord {
    return {
      id: r.id,
      name: r.name,
      spec: column(VmSpec, r.spec, "spec"),
      pid: r.pid,
      accelerator: r.accelerator === null ? null : oneOf(["kvm", "tcg"], r.accelerator, "accelerator"),
      stopRequested: r.stop_requested === 1,
      lastExit: r.last_exit ? column(LastExitJson, r.last_exit, "last_exit") : null,
      devices: column(VmDevicesJson, r.devices, "devices"),
      uid: r.uid,
      owner: r.owner,
      createdAt: r.created_at,
      updatedAt: r.updated_at,
    };
  }

  insertVm(rec: VmRecord): void {
    this.db
      .prepare(
        `INSERT INTO vms (id, name, spec, pid, accelerator, stop_requested, last_exit, devices, uid, owner, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        rec.id,
        rec.name,
        JSON.stringify(rec.spec),
        rec.pid,
        rec.accelerator,
        rec.stopRequested ? 1 : 0,
        rec.lastExit ? JSON.stringify(rec.lastExit) : null,
        JSON.stringify(rec.devices),
        rec.uid,
        rec.owner,
        rec.createdAt,
        rec.updatedAt,
      );
  }

  /** Writes every mutable field of the record and bumps updatedAt. */
  saveVm(rec: VmRecord): void {
    rec.updatedAt = new Date().toISOString();
    this.db
      .prepare(
        `UPDATE vms SET spec = ?, pid = ?, accelerator = ?, stop_requested = ?, last_exit = ?, devices = ?, uid = ?, updated_at = ? WHERE id = ?`,
      )
      .run(
        JSON.stringify(rec.spec),
        rec.pid,
        rec.accelerator,
        rec.stopRequested ? 1 : 0,
        rec.lastExit ? JSON.stringify(rec.lastExit) : null,
        JSON.stringify(rec.devices),
        rec.uid,
        rec.updatedAt,
        rec.id,
      );
  }

  deleteVm(id: string): void {
    this.db.prepare("DELETE FROM vms WHERE id = ?").run(id);
  }

  getVmByName(name: string): VmRecord | undefined {
    const r = this.db.prepare("SELECT * FROM vms WHERE name = ?").get(name) as Row | undefined;
    return r && this.readOne("vms", "VM", r, Store.toRecord);
  }

  /** uids already given to VMs. */
  vmUids(): number[] {
    return (this.db.prepare("SELECT uid FROM vms WHERE uid IS NOT NULL").all() as { uid: number }[]).map((r) => r.uid);
  }

  /** Every VM row that reads as a record; the others are reported and left out (see {@link readAll}). */
  listVms(): VmRecord[] {
    return this.readAll("vms", this.db.prepare("SELECT * FROM vms ORDER BY name").all() as unknown as Row[], Store.toRecord);
  }

  /** Told of each row hostd cannot read, once per process (hostd logs it). */
  onCorrupt?: (row: CorruptRow) => void;
  private readonly reportedCorrupt = new Set<string>();

  private reportCorrupt(row: CorruptRow): void {
    const key = `${row.table}/${row.id}`;
    if (this.reportedCorrupt.has(key)) return;
    this.reportedCorrupt.add(key);
    this.onCorrupt?.(row);
  }

  /**
   * The rows that read as records. A row that does not (corrupt JSON, or JSON of another shape: a disk
   * error, a hand edit) is reported to `onCorrupt` and left out, so hostd keeps serving the others.
   */
  private readAll<R extends { id: string | number; name?: string; object?: string }, T>(table: CorruptRow["table"], rows: R[], read: (r: R) => T): T[] {
    return rows.flatMap((r) => {
      try {
        return [read(r)];
      } catch (e) {
        this.reportCorrupt({ table, id: String(r.id), name: r.name ?? r.object ?? "", why: (e as Error).message });
        return [];
      }
    });
  }

  /** The row asked for by name as a record; a row that does not read is reported, and the caller told what to do. */
  private readOne<R extends { id: string; name: string }, T>(table: CorruptRow["table"], kind: string, r: R, read: (r: R) => T): T {
    try {
      return read(r);
    } catch (e) {
      const why = (e as Error).message;
      this.reportCorrupt({ table, id: r.id, name: r.name, why });
      throw new KvmError(
        "conflict",
        `The record of ${kind} "${r.name}" (id ${r.id}) in hostd's database cannot be read (${why}); hostd leaves it alone and serves the others. Restore hostd.db from a backup, or delete the row.`,
        { [kind.toLowerCase()]: r.name, id: r.id, table },
      );
    }
  }

  // ---- disks ----

  private static toDisk(r: DiskRow): DiskRecord {
    return {
      id: r.id,
      name: r.name,
      spec: column(DiskSpec, r.spec, "spec"),
      path: r.path,
      format: oneOf(["qcow2", "raw"], r.format, "format"),
      backingSha256: r.backing_sha256,
      owner: r.owner,
      createdAt: r.created_at,
      updatedAt: r.updated_at,
    };
  }

  insertDisk(d: DiskRecord): void {
    this.db
      .prepare(
        `INSERT INTO disks (id, name, spec, path, format, backing_sha256, owner, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(d.id, d.name, JSON.stringify(d.spec), d.path, d.format, d.backingSha256, d.owner, d.createdAt, d.updatedAt);
  }

  saveDisk(d: DiskRecord): void {
    d.updatedAt = new Date().toISOString();
    this.db
      .prepare(`UPDATE disks SET spec = ?, path = ?, backing_sha256 = ?, updated_at = ? WHERE id = ?`)
      .run(JSON.stringify(d.spec), d.path, d.backingSha256, d.updatedAt, d.id);
  }

  deleteDisk(id: string): void {
    this.db.prepare("DELETE FROM disks WHERE id = ?").run(id);
  }

  getDiskByName(name: string): DiskRecord | undefined {
    const r = this.db.prepare("SELECT * FROM disks WHERE name = ?").get(name) as DiskRow | undefined;
    return r && this.readOne("disks", "Disk", r, Store.toDisk);
  }

  listDisks(): DiskRecord[] {
    return this.readAll("disks", this.db.prepare("SELECT * FROM disks ORDER BY name").all() as unknown as DiskRow[], Store.toDisk);
  }

  // ---- events ----

  private eventsSincePrune = 0;

  /** Records one event; keeps the newest `keep`. */
  insertEvent(e: { at: string; level: string; kind: string; object: string; message: string; details: Record<string, unknown> }, keep = 10_000): void {
    this.db
      .prepare("INSERT INTO events (at, level, kind, object, message, details) VALUES (?, ?, ?, ?, ?, ?)")
      .run(e.at, e.level, e.kind, e.object, e.message, JSON.stringify(e.details));
    if (++this.eventsSincePrune >= 100) {
      this.eventsSincePrune = 0;
      this.db.prepare("DELETE FROM events WHERE id <= (SELECT MAX(id) FROM events) - ?").run(keep);
    }
  }

  /** The newest events, oldest first; only those of `object` when given; with `after`, the oldest ones after that seq. */
  listEvents(limit: number, object?: string, after?: number): StoredEvent[] {
    const where = [...(object === undefined ? [] : ["object = ?"]), ...(after === undefined ? [] : ["id > ?"])];
    const args = [...(object === undefined ? [] : [object]), ...(after === undefined ? [] : [after])];
    const sql = `SELECT * FROM events ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY id ${after === undefined ? "DESC" : "ASC"} LIMIT ?`;
    const rows = this.db.prepare(sql).all(...args, limit) as { id: number; at: string; level: string; kind: string; object: string; message: string; details: string }[];
    if (after === undefined) rows.reverse();
    return this.readAll("events", rows, (r) => ({ seq: r.id, at: r.at, level: r.level, kind: r.kind, object: r.object, message: r.message, details: column(EventDetailsJson, r.details, "details") }));
  }

  // ---- idempotency keys ----

  getRequest(key: string): { method: string; paramsSha256: string; reply: string } | undefined {
    const r = this.db.prepare("SELECT method, params_sha256, reply FROM requests WHERE key = ?").get(key) as
      | { method: string; params_sha256: string; reply: string }
      | undefined;
    return r && { method: r.method, paramsSha256: r.params_sha256, reply: r.reply };
  }

  putRequest(key: string, method: string, paramsSha256: string, reply: string): void {
    this.db
      .prepare("INSERT OR REPLACE INTO requests (key, method, params_sha256, reply, created_at) VALUES (?, ?, ?, ?, ?)")
      .run(key, method, paramsSha256, reply, new Date().toISOString());
  }

  /** Forgets keys older than `before` (ISO time). */
  pruneRequests(before: string): number {
    return Number(this.db.prepare("DELETE FROM requests WHERE created_at < ?").run(before).changes);
  }

  // ---- networks ----

  private static toNetwork(r: NetworkRow): NetworkRecord {
    return { id: r.id, name: r.name, spec: column(NetworkSpec, r.spec, "spec"), bridge: r.bridge, owner: r.owner, createdAt: r.created_at, updatedAt: r.updated_at };
  }

  insertNetwork(n: NetworkRecord): void {
    this.db
      .prepare(`INSERT INTO networks (id, name, spec, bridge, owner, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`)
      .run(n.id, n.name, JSON.stringify(n.spec), n.bridge, n.owner, n.createdAt, n.updatedAt);
  }

  saveNetwork(n: NetworkRecord): void {
    n.updatedAt = new Date().toISOString();
    this.db.prepare(`UPDATE networks SET spec = ?, updated_at = ? WHERE id = ?`).run(JSON.stringify(n.spec), n.updatedAt, n.id);
  }

  deleteNetwork(id: string): void {
    this.db.prepare("DELETE FROM networks WHERE id = ?").run(id);
  }

  getNetworkByName(name: string): NetworkRecord | undefined {
    const r = this.db.prepare("SELECT * FROM networks WHERE name = ?").get(name) as NetworkRow | undefined;
    return r && this.readOne("networks", "Network", r, Store.toNetwork);
  }

  listNetworks(): NetworkRecord[] {
    return this.readAll("networks", this.db.prepare("SELECT * FROM networks ORDER BY name").all() as unknown as NetworkRow[], Store.toNetwork);
  }
}
