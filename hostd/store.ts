/**
 * hostd's durable state in SQLite (node:sqlite, built into Node >= 22.13:
 * no native addon to build). The database records what hostd was asked for
 * and what it last saw; the live state is always re-read from /proc and QMP.
 */
import { DatabaseSync } from "node:sqlite";

export interface LastExit {
  reason: "guest-shutdown" | "hostd-stop" | "host-signal" | "vanished";
  at: string;
  detail?: string;
}

/** One VM as hostd stores it. `spec` is the desired spec (JSON in the row). */
export interface VmRecord<Spec = unknown> {
  id: string;
  name: string;
  spec: Spec;
  /** Pid of the QEMU hostd last started; null when hostd believes it is not running. */
  pid: number | null;
  accelerator: "kvm" | "tcg" | null;
  /** Set while hostd itself is stopping the VM, so its exit is attributed to hostd. */
  stopRequested: boolean;
  lastExit: LastExit | null;
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
];

export class Store {
  private readonly db: DatabaseSync;

  constructor(file: string) {
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

  private static toRecord<S>(r: Row): VmRecord<S> {
    return {
      id: r.id,
      name: r.name,
      spec: JSON.parse(r.spec) as S,
      pid: r.pid,
      accelerator: r.accelerator as VmRecord["accelerator"],
      stopRequested: r.stop_requested === 1,
      lastExit: r.last_exit ? (JSON.parse(r.last_exit) as LastExit) : null,
      createdAt: r.created_at,
      updatedAt: r.updated_at,
    };
  }

  insertVm<S>(rec: VmRecord<S>): void {
    this.db
      .prepare(
        `INSERT INTO vms (id, name, spec, pid, accelerator, stop_requested, last_exit, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        rec.id,
        rec.name,
        JSON.stringify(rec.spec),
        rec.pid,
        rec.accelerator,
        rec.stopRequested ? 1 : 0,
        rec.lastExit ? JSON.stringify(rec.lastExit) : null,
        rec.createdAt,
        rec.updatedAt,
      );
  }

  /** Writes every mutable field of the record and bumps updatedAt. */
  saveVm<S>(rec: VmRecord<S>): void {
    rec.updatedAt = new Date().toISOString();
    this.db
      .prepare(
        `UPDATE vms SET spec = ?, pid = ?, accelerator = ?, stop_requested = ?, last_exit = ?, updated_at = ? WHERE id = ?`,
      )
      .run(
        JSON.stringify(rec.spec),
        rec.pid,
        rec.accelerator,
        rec.stopRequested ? 1 : 0,
        rec.lastExit ? JSON.stringify(rec.lastExit) : null,
        rec.updatedAt,
        rec.id,
      );
  }

  deleteVm(id: string): void {
    this.db.prepare("DELETE FROM vms WHERE id = ?").run(id);
  }

  getVmByName<S>(name: string): VmRecord<S> | undefined {
    const r = this.db.prepare("SELECT * FROM vms WHERE name = ?").get(name) as Row | undefined;
    return r ? Store.toRecord<S>(r) : undefined;
  }

  listVms<S>(): VmRecord<S>[] {
    return (this.db.prepare("SELECT * FROM vms ORDER BY name").all() as unknown as Row[]).map((r) => Store.toRecord<S>(r));
  }
}
