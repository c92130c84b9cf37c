/**
 * The QMP side of a live move, on QEMU 7.2 (the sequence libvirt and Incus
 * use; facts in the team's notes/migration.md):
 *
 *   destination  -incoming defer -S; capabilities late-block-activate;
 *                nbd-server-start (unix socket); block-export-add per disk
 *                (writable); migrate-incoming unix:…
 *   source       capabilities pause-before-switchover; max-bandwidth and
 *                downtime-limit; per disk blockdev-add an NBD client and
 *                blockdev-mirror (copy-mode write-blocking, so it converges
 *                under guest writes) until BLOCK_JOB_READY; migrate unix:…;
 *                at pre-switchover block-job-cancel each mirror (after READY
 *                it drains and completes without pivoting the source onto the
 *                target), then migrate-continue; completed.
 *   destination  nbd-server-stop, cont.
 *
 * Every QEMU socket is a unix socket in the VM's directory; hostd joins them
 * to the client's relayed streams (migration.attach). This module only
 * speaks QMP and opens sockets; the rules (who may move what, what is
 * recorded when) are the VM service's.
 */
import { chownSync, createReadStream, createWriteStream, rmSync } from "node:fs";
import * as net from "node:net";
import { Duplex, PassThrough, Writable } from "node:stream";
import { errors, KvmError } from "../../sdk/errors";
import type { QmpClient, QmpEvent } from "../drivers/qmp";
import type { Monitor } from "./vm-monitor";

/** One disk of a live move, as QEMU names it. */
export interface MirrorDisk {
  /** The disk's name (hostd's), for messages. */
  name: string;
  /** Its block node in the VM's QEMU (the same on both hosts: the argv is the same). */
  node: string;
  /** The NBD export name on the destination. */
  exportName: string;
  /** Source only: the unix socket the NBD client connects to (hostd listens there and relays). */
  socket?: string;
  sync: "top" | "full";
}

export interface SendOptions {
  disks: MirrorDisk[];
  /** Where the source QEMU sends its migration stream (hostd listens there and relays). */
  ramSocket: string;
  bandwidthMiBps: number;
  downtimeLimitMs: number;
  deadline: number;
  signal: AbortSignal;
  /** Called before each step, to record it durably. */
  onPhase: (phase: "mirroring" | "ram" | "switched-over") => void;
}

export interface SendResult {
  downtimeMs: number | null;
  totalMs: number;
  ramBytes: number;
  diskBytes: number;
}

const MiB = 1024 * 1024;

/** The destination: export the disks and wait for the migration stream. */
export async function prepareIncoming(mon: Monitor, o: { nbdSocket: string; ramSocket: string; disks: MirrorDisk[] }): Promise<void> {
  await mon.execute("migrate-set-capabilities", {
    capabilities: [
      { capability: "events", state: true },
      // Disks stay inactive until the switchover, so the exports (written by the mirror) are the only writers.
      { capability: "late-block-activate", state: true },
    ],
  });
  if (o.disks.length > 0) {
    rmSync(o.nbdSocket, { force: true });
    // SocketAddressLegacy (QEMU 7.2): the path sits under `data`.
    await mon.execute("nbd-server-start", { addr: { type: "unix", data: { path: o.nbdSocket } } });
    for (const d of o.disks) {
      await mon.execute("block-export-add", { type: "nbd", id: `mig-${d.node}`, "node-name": d.node, name: d.exportName, writable: true });
    }
  }
  rmSync(o.ramSocket, { force: true });
  await mon.execute("migrate-incoming", { uri: `unix:${o.ramSocket}` });
}

/** The destination after the source switched over: stop the exports and run the guest. Returns how long `cont` took. */
export async function finishIncoming(mon: Monitor, o: { hadDisks: boolean; run: boolean; timeoutMs: number }): Promise<number | null> {
  await waitMigration(mon.qmp, ["completed"], o.timeoutMs, undefined, "the destination's incoming migration");
  // block-export-del refuses while the source's NBD client is attached; stopping the server drops it.
  if (o.hadDisks) await mon.execute("nbd-server-stop").catch(() => undefined);
  if (!o.run) return null;
  const t0 = Date.now();
  await mon.execute("cont");
  const pauseMs = Date.now() - t0;
  // The run state vm.get answers from follows RESUME asynchronously; read it now so the reply says running.
  await mon.readLive();
  return pauseMs;
}

/**
 * The source: mirror every disk, then copy the RAM and switch over. On any
 * failure everything started here is undone and the guest runs on (unless
 * the switchover was passed, which is reported by the phase).
 */
export async function send(mon: Monitor, o: SendOptions): Promise<SendResult> {
  const qmp = mon.qmp;
  const t0 = Date.now();
  const added: string[] = [];
  const jobs: string[] = [];
  let migrating = false;
  const left = () => Math.max(1, o.deadline - Date.now());
  const aborted = () => {
    if (o.signal.aborted) throw new KvmError("migration_failed", `the move was aborted: ${String(o.signal.reason ?? "asked to")}`);
  };
  try {
    await mon.execute("migrate-set-capabilities", {
      capabilities: [
        { capability: "events", state: true },
        // The source stops at pre-switchover, so the mirrors can end before the destination takes over.
        { capability: "pause-before-switchover", state: true },
        { capability: "auto-converge", state: true },
      ],
    });
    await mon.execute("migrate-set-parameters", { "max-bandwidth": o.bandwidthMiBps * MiB, "downtime-limit": o.downtimeLimitMs });
    o.onPhase("mirroring");
    for (const d of o.disks) {
      const target = `mig-${d.node}`;
      await mon.execute("blockdev-add", { driver: "nbd", "node-name": target, server: { type: "unix", path: d.socket }, export: d.exportName });
      added.push(target);
      const job = `mig-${d.node}`;
      const ready = qmp.waitEvent("BLOCK_JOB_READY", (ev) => ev.data?.device === job, left());
      ready.catch(() => undefined);
      await mon.execute("blockdev-mirror", { "job-id": job, device: d.node, target, sync: d.sync, "copy-mode": "write-blocking", "auto-finalize": true, "auto-dismiss": true });
      jobs.push(job);
      await raceAbort(ready, o.signal, qmp, `the mirror of disk "${d.name}" to become ready`);
      aborted();
    }
    o.onPhase("ram");
    // Waited for after `migrate`: before it, query-migrate still reports an earlier, failed move's status.
    // An event missed in between is not lost: waitMigration reads the status reached so far first.
    await mon.execute("migrate", { uri: `unix:${o.ramSocket}` });
    migrating = true;
    await waitMigration(qmp, ["pre-switchover"], left(), o.signal, "the RAM copy to converge");
    aborted();
    // vCPUs are stopped now: end the mirrors (they drain what is left), then let QEMU send the last state.
    const diskBytes = await endMirrors(qmp, jobs, left());
    jobs.length = 0;
    const done = waitMigration(qmp, ["completed"], left(), undefined, "the switchover");
    done.catch(() => undefined);
    o.onPhase("switched-over");
    await mon.execute("migrate-continue", { state: "pre-switchover" });
    await done;
    migrating = false;
    const info = (await mon.execute("query-migrate")) as { downtime?: number; ram?: { transferred?: number } };
    for (const n of added.splice(0)) await mon.execute("blockdev-del", { "node-name": n }).catch(() => undefined);
    return { downtimeMs: info.downtime ?? null, totalMs: Date.now() - t0, ramBytes: info.ram?.transferred ?? 0, diskBytes };
  } catch (e) {
    // Before the switchover: the source goes on as if nothing happened.
    if (migrating) await mon.execute("migrate_cancel").catch(() => undefined);
    for (const j of jobs) await mon.execute("block-job-cancel", { device: j, force: true }).catch(() => undefined);
    if (jobs.length > 0) await waitNoJobs(qmp, jobs, 10_000).catch(() => undefined);
    for (const n of added) await mon.execute("blockdev-del", { "node-name": n }).catch(() => undefined);
    const st = (await mon.execute("query-status").catch(() => ({ status: "unknown" }))) as { status: string };
    // A migration cancelled at pre-switchover leaves the guest paused; it runs on here.
    if (st.status === "paused" || st.status === "finish-migrate" || st.status === "postmigrate") await mon.execute("cont").catch(() => undefined);
    if (e instanceof KvmError) throw e;
    throw new KvmError("migration_failed", (e as Error).message);
  }
}

/** Cancels the (READY) mirrors at pre-switchover and waits for each to complete; returns the bytes they copied. */
async function endMirrors(qmp: QmpClient, jobs: string[], timeoutMs: number): Promise<number> {
  let bytes = 0;
  for (const job of jobs) {
    const completed = qmp.waitEvent("BLOCK_JOB_COMPLETED", (ev) => ev.data?.device === job, timeoutMs);
    completed.catch(() => undefined);
    await qmp.execute("block-job-cancel", { device: job });
    const ev = await completed;
    if (typeof ev.data?.error === "string") throw new KvmError("migration_failed", `the mirror ${job} failed at the switchover: ${ev.data.error}`);
    bytes += typeof ev.data?.offset === "number" ? ev.data.offset : 0;
  }
  return bytes;
}

async function waitNoJobs(qmp: QmpClient, jobs: string[], timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const running = (await qmp.execute("query-block-jobs")) as { device: string }[];
    if (!running.some((j) => jobs.includes(j.device))) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits for one of `states` of QEMU's migration (MIGRATION events, and query-migrate for one already reached); failed/cancelled reject. */
async function waitMigration(qmp: QmpClient, states: string[], timeoutMs: number, signal: AbortSignal | undefined, what: string): Promise<void> {
  const failedStates = ["failed", "cancelled"];
  const ev = qmp.waitEvent("MIGRATION", (e: QmpEvent) => [...states, ...failedStates].includes(String(e.data?.status)), timeoutMs);
  ev.catch(() => undefined);
  const now = (await qmp.execute("query-migrate")) as { status?: string; "error-desc"?: string };
  let status = now.status;
  if (status === undefined || ![...states, ...failedStates].includes(status)) {
    try {
      status = String((await raceAbort(ev, signal, qmp, what)).data?.status);
    } catch (e) {
      if ((e as Error).message.startsWith("no MIGRATION event")) throw new KvmError("migration_failed", `${what} did not happen within its time; the move is aborted.`);
      throw e;
    }
  }
  if (failedStates.includes(status)) {
    const q = (await qmp.execute("query-migrate").catch(() => ({}))) as { "error-desc"?: string };
    throw new KvmError("migration_failed", `QEMU's migration ${status} while waiting for ${what}${q["error-desc"] ? `: ${q["error-desc"]}` : ""}.`);
  }
}

/** `p`, or a rejection when the move is aborted (or QEMU went away) first. */
function raceAbort<T>(p: Promise<T>, signal: AbortSignal | undefined, qmp: QmpClient, what: string): Promise<T> {
  if (!signal) return p;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new KvmError("migration_failed", `the move was aborted while waiting for ${what}: ${String(signal.reason ?? "asked to")}`));
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(resolve, (e: Error) => reject(qmp.isClosed ? new KvmError("migration_failed", `QEMU went away while waiting for ${what}`) : e)).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/**
 * The source's end of one relayed stream: hostd listens on `socketPath`
 * (owned by the VM's user, so its unprivileged QEMU may connect) for QEMU's
 * one connection, and the returned stream carries its bytes. What the
 * destination sends before QEMU connects (the NBD server's greeting) waits
 * in the stream's buffer.
 */
export function listenForQemu(socketPath: string, owner: { uid: number; gid: number } | undefined): { stream: Duplex; ready: Promise<void> } {
  const toQemu = new PassThrough();
  const fromQemu = new PassThrough();
  const stream = Duplex.from({ writable: toQemu, readable: fromQemu });
  rmSync(socketPath, { force: true });
  const server = net.createServer((sock) => {
    // One connection per stream: QEMU's. Anything later is refused.
    server.close();
    rmSync(socketPath, { force: true });
    toQemu.pipe(sock);
    sock.pipe(fromQemu);
    sock.on("error", () => stream.destroy());
    // QEMU closing after its last byte is the normal end: the pipe ends `fromQemu` once all of it is
    // through (destroying the stream here lost the tail of the RAM stream: the destination failed to
    // load the last devices). The stream closes when the client closes its end.
    sock.on("close", (hadError) => hadError && stream.destroy());
    stream.on("close", () => sock.destroy());
  });
  const ready = new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, () => {
      try {
        if (owner) chownSync(socketPath, owner.uid, owner.gid);
        resolve();
      } catch (e) {
        reject(e);
      }
    });
  });
  stream.on("close", () => {
    server.close();
    rmSync(socketPath, { force: true });
  });
  return { stream, ready };
}

/** The destination's end of one relayed stream: a connection to QEMU's own listening socket. */
/** An offline copy's source end: the file's bytes, read once; whatever comes back is dropped. */
export function fileSource(file: string): Duplex {
  return Duplex.from({ readable: createReadStream(file), writable: new Writable({ write: (_c, _e, cb) => cb() }) });
}

/**
 * An offline copy's destination end: writes `file` as the bytes arrive. `written` settles when
 * all of them are on disk (or the write failed); the stream's readable side ends then, so the
 * relay knows the copy landed.
 */
export function fileSink(file: string): { stream: Duplex; written: Promise<void> } {
  const out = createWriteStream(file);
  const readable = new PassThrough();
  const written = new Promise<void>((resolve, reject) => {
    out.on("finish", () => {
      readable.end();
      resolve();
    });
    out.on("error", reject);
  });
  written.catch(() => undefined);
  return { stream: Duplex.from({ writable: out, readable }), written };
}

export async function connectToQemu(socketPath: string, what: string): Promise<net.Socket> {
  const sock = net.createConnection(socketPath);
  await new Promise<void>((resolve, reject) => {
    sock.once("connect", resolve);
    sock.once("error", (e) => reject(errors.conflict(`${what} is not open on this host (${e.message}): is the VM being received here?`)));
  });
  return sock;
}

/** The source's VM after an aborted move: whatever the move left of it in QEMU goes, and a paused guest runs on. */
export async function resumeAfterMove(mon: Monitor): Promise<void> {
  await mon.execute("migrate_cancel").catch(() => undefined);
  const jobs = (await mon.execute("query-block-jobs").catch(() => [])) as { device: string }[];
  for (const j of jobs.filter((j) => j.device.startsWith("mig-"))) await mon.execute("block-job-cancel", { device: j.device, force: true }).catch(() => undefined);
  const nodes = (await mon.execute("query-named-block-nodes", { flat: true }).catch(() => [])) as { "node-name": string }[];
  for (const n of nodes.filter((n) => n["node-name"].startsWith("mig-"))) await mon.execute("blockdev-del", { "node-name": n["node-name"] }).catch(() => undefined);
  const st = (await mon.execute("query-status")) as { status: string };
  if (st.status !== "running") await mon.execute("cont");
  await mon.readLive();
}
