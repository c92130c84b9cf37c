/**
 * Moving a VM to another host: the client's half of the relayed design
 * (sdk/protocol/migration.ts; docs/architecture.md, "Moving between hosts").
 *
 * The client holds a connection to each hostd; it asks each for its steps and
 * pipes the byte streams between them (QEMU's RAM stream and one NBD
 * connection per disk for a live move; each disk's file for an offline one),
 * so the hosts never reach each other and no host opens a port. The order
 * keeps one rule: until the destination runs the VM, the source is
 * authoritative, and any failure before that point undoes the destination
 * first, then resumes the source.
 */
import type { Duplex } from "node:stream";
import { HostClient } from "./client";
import { isKvmError, KvmError } from "./errors";
import {
  DiskInfo,
  MigratingDisk,
  diskMoveAbort,
  diskMoveAttach,
  diskMoveBegin,
  diskMoveCheck,
  diskMoveDescribe,
  diskMoveFinish,
  diskMoveIncoming,
  diskMoveRelease,
  MigrationDescription,
  MigrationMark,
  migrationAbort,
  migrationAttach,
  migrationBegin,
  migrationCheck,
  migrationDescribe,
  migrationFinish,
  migrationIncoming,
  MIGRATION_LIMITS,
  migrationRelease,
  migrationSend,
  MigrationStream,
  VmInfo,
} from "./protocol";

/** The SDK's client of one hostd. */
export type HostdClient = HostClient;

export interface MigrationProgress {
  phase: string;
  bytesSent: number;
  bytesTotal: number;
}

export interface MigrationResult {
  vmId: string;
  fromHostId: string;
  toHostId: string;
  mode: "live" | "offline";
  /** QEMU's own count of the switchover (live moves). */
  downtimeMs?: number;
  /** What the guest saw at least: QEMU's downtime plus the destination's `cont` (live moves). */
  pauseMs?: number;
  totalMs: number;
  /** Every byte relayed from the source (RAM, the mirrors' writes, file copies). */
  bytesSent: number;
  /** Of those, the RAM stream's, as QEMU counts it (live moves). */
  ramBytes?: number;
  disksCopied: Array<{ name: string; bytes: number }>;
  /** The VM as the destination reports it. */
  vm: VmInfo;
}

export interface MigrationPlan {
  vmId: string;
  fromHostId: string;
  toHostId: string;
  mode: "live" | "offline";
  /** Each disk and the bytes that would travel. */
  disks: Array<{ name: string; bytes: number; backing: "none" | "base-on-destination" }>;
  /** Guest RAM that a live move copies at least once. */
  memoryBytes: number;
  totalBytes: number;
}

export interface MigrateOptions {
  /** The VM's name on the source. */
  vm: string;
  owner: string;
  bandwidthMiBps?: number;
  downtimeLimitMs?: number;
  timeoutMs?: number;
  signal?: AbortSignal;
  onProgress?: (p: MigrationProgress) => void;
}

/** What moving a detached disk would copy. */
export interface DiskMovePlan {
  diskId: string;
  fromHostId: string;
  toHostId: string;
  bytes: number;
}

export interface DiskMoveOptions {
  /** The disk's name on the source. */
  disk: string;
  owner: string;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface DiskMoveResult {
  diskId: string;
  fromHostId: string;
  toHostId: string;
  bytesSent: number;
  /** The disk as the destination reports it. */
  disk: DiskInfo;
}

interface Sides {
  fromHostId: string;
  toHostId: string;
}

/** Refuses before anything is asked of a hostd that does not know the migration methods. */
async function bothServeMoves(src: HostdClient, dst: HostdClient, what: string): Promise<void> {
  const [a, b] = await Promise.all([src.helloOnce(), dst.helloOnce()]);
  for (const [h, side] of [[a, "source"], [b, "destination"]] as const) {
    if (!h.capabilities.includes("migration")) throw new KvmError("unsupported", `${what}: hostd on the ${side} host ${h.hostId} (version ${h.hostdVersion}) does not serve moves between hosts; upgrade it.`);
  }
}

/** The two hosts are two (by id) and, for a live move, can run each other's QEMU state (after bothServeMoves). */
async function sidesOf(src: HostdClient, dst: HostdClient, what: string, live: boolean): Promise<Sides> {
  const [a, b] = await Promise.all([src.helloOnce(), dst.helloOnce()]);
  if (a.hostId === b.hostId) throw new KvmError("invalid_params", `${what}: both routes reach the same host (id ${a.hostId}); there is nothing to move.`);
  if (live) {
    if (a.accelerator.kind !== b.accelerator.kind) {
      throw new KvmError("unsupported", `${what}: host ${a.hostId} runs QEMU with ${a.accelerator.kind} and host ${b.hostId} with ${b.accelerator.kind}; a running guest cannot move between accelerators. Stop it to move it offline.`);
    }
    if (majorMinor(a.qemuVersion) !== majorMinor(b.qemuVersion)) {
      throw new KvmError("unsupported", `${what}: host ${a.hostId} has QEMU ${a.qemuVersion} and host ${b.hostId} QEMU ${b.qemuVersion}; hostd moves running guests only between the same QEMU release (its machine type is not pinned across releases). Stop it to move it offline.`);
    }
  }
  return { fromHostId: a.hostId, toHostId: b.hostId };
}

function majorMinor(v: string): string {
  return v.split(".").slice(0, 2).join(".");
}

function refusedUnless(d: MigrationDescription, what: string): void {
  if (d.moveRefusal) throw new KvmError("invalid_state", `${what}: ${d.moveRefusal}.`);
  if (d.vm.running && d.liveRefusal) throw new KvmError("invalid_state", `${what}: ${d.liveRefusal}.`);
}

/** Refuses, before anything is asked of the source, a move the destination would not take (its name taken, no room, too small, a network missing). */
async function destinationTakes(dst: HostdClient, d: MigrationDescription, sides: Sides, what: string): Promise<void> {
  try {
    await dst.call(migrationCheck, { description: d, mode: d.vm.running ? "live" : "offline", fromHostId: sides.fromHostId });
  } catch (e) {
    if (!isKvmError(e)) throw e;
    throw new KvmError(e.code, `${what}: host ${sides.toHostId} does not take it: ${e.message}`, e.details, e.requestId);
  }
}

/** What moving `vm` would copy, or why it cannot move (nothing is changed on either host). */
export async function planMigration(src: HostdClient, dst: HostdClient, vm: string): Promise<MigrationPlan> {
  const what = `Moving VM "${vm}"`;
  await bothServeMoves(src, dst, what);
  const d = await src.call(migrationDescribe, { name: vm });
  const sides = await sidesOf(src, dst, what, d.vm.running);
  refusedUnless(d, what);
  await destinationTakes(dst, d, sides, what);
  const disks = d.disks.map((x) => ({ name: x.name, bytes: x.actualSizeBytes, backing: x.sync === "top" ? ("base-on-destination" as const) : ("none" as const) }));
  const memoryBytes = d.vm.running ? d.vm.memoryBytes : 0;
  return { vmId: d.vm.id, ...sides, mode: d.vm.running ? "live" : "offline", disks, memoryBytes, totalBytes: memoryBytes + disks.reduce((s, x) => s + x.bytes, 0) };
}

/**
 * Moves the VM (running: live, with its local disks mirrored; stopped:
 * offline, its disk files copied) from `src` to `dst`. On success it runs
 * (or stays stopped) on `dst` with the same id, name, MACs, NVRAM and seed,
 * and nothing of it is left on `src`. On failure it runs on `src` as before
 * and nothing of it is left on `dst`; the error says so.
 */
export async function migrateVm(src: HostdClient, dst: HostdClient, o: MigrateOptions): Promise<MigrationResult> {
  const what = `Moving VM "${o.vm}"`;
  const t0 = Date.now();
  await bothServeMoves(src, dst, what);
  let d = await src.call(migrationDescribe, { name: o.vm });
  if (d.migration) {
    const resumed = await resumeEarlierMove(src, dst, d, d.migration, what);
    if (resumed) return { ...resumed, totalMs: Date.now() - t0 };
    d = await src.call(migrationDescribe, { name: o.vm });
  }
  const sides = await sidesOf(src, dst, what, d.vm.running);
  refusedUnless(d, what);
  await destinationTakes(dst, d, sides, what);
  const mode = d.vm.running ? "live" : "offline";
  const id = d.vm.id;
  const timeoutMs = o.timeoutMs ?? MIGRATION_LIMITS.defaultTimeoutSeconds * 1000;
  const streams: Duplex[] = [];
  let destinationRuns = false;
  // Until the destination made its twin, a refusal keeps its own code (insufficient_space, conflict, ...);
  // once copying began, whatever broke it (a step refused by a hostd that restarted, a stream) is a failed move.
  let copying = false;
  try {
    o.signal?.throwIfAborted();
    await src.call(migrationBegin, { name: o.vm, id, toHostId: sides.toHostId, mode });
    o.onProgress?.({ phase: "incoming", bytesSent: 0, bytesTotal: 0 });
    await dst.call(migrationIncoming, { description: d, mode, fromHostId: sides.fromHostId }, { timeoutMs });
    copying = true;
    const kinds: MigrationStream[] = mode === "live" ? [{ kind: "ram" }, ...d.disks.map((x) => ({ kind: "nbd" as const, disk: x.name }))] : d.disks.map((x) => ({ kind: "file" as const, disk: x.name }));
    const relayed: Relayed[] = [];
    for (const stream of kinds) {
      // The destination's end first: it connects to QEMU's listening socket there; the source's end then listens for its QEMU.
      const b = await dst.openStream(migrationAttach, { name: o.vm, stream });
      streams.push(b);
      const a = await src.openStream(migrationAttach, { name: o.vm, stream });
      streams.push(a);
      relayed.push(relay(a, b));
    }
    const abortAll = () => streams.forEach((s) => s.destroy());
    o.signal?.addEventListener("abort", abortAll, { once: true });
    let sent: { downtimeMs: number | null; ramBytes: number; diskBytes: number } = { downtimeMs: null, ramBytes: 0, diskBytes: 0 };
    let copied: number[] = [];
    if (mode === "live") {
      o.onProgress?.({ phase: "sending", bytesSent: 0, bytesTotal: d.vm.memoryBytes });
      sent = await src.call(
        migrationSend,
        { name: o.vm, toHostId: sides.toHostId, bandwidthMiBps: o.bandwidthMiBps, downtimeLimitMs: o.downtimeLimitMs, timeoutSeconds: Math.max(1, Math.round(timeoutMs / 1000)) },
        { timeoutMs: timeoutMs + 60_000 },
      );
    } else {
      copied = await Promise.all(relayed.map((r) => r.done));
    }
    o.signal?.removeEventListener("abort", abortAll);
    const fin = await dst.call(migrationFinish, { name: o.vm, running: d.vm.running }, { timeoutMs: 120_000 });
    destinationRuns = true;
    await src.call(migrationRelease, { name: o.vm, id, toHostId: sides.toHostId });
    streams.forEach((s) => s.destroy());
    const disksCopied = d.disks.map((x, i) => ({ name: x.name, bytes: mode === "offline" ? (copied[i] ?? 0) : x.actualSizeBytes }));
    return {
      vmId: id,
      ...sides,
      mode,
      ...(sent.downtimeMs !== null && { downtimeMs: sent.downtimeMs, pauseMs: sent.downtimeMs + (fin.pauseMs ?? 0), ramBytes: sent.ramBytes }),
      totalMs: Date.now() - t0,
      // What went through the relay from the source (RAM and the mirrors' writes; zeros QEMU skips never travel).
      bytesSent: relayed.reduce((s, r) => s + r.bytes(), 0),
      disksCopied,
      vm: fin.vm,
    };
  } catch (e) {
    streams.forEach((s) => s.destroy());
    const why = e instanceof Error ? e.message : String(e);
    if (destinationRuns) {
      throw new KvmError("migration_failed", `${what}: it runs on host ${sides.toHostId} now, but host ${sides.fromHostId} could not release its copy (${why}); run the move again to clean it up.`);
    }
    // Destination first: once its copy is gone, resuming the source can never make two.
    const left: string[] = [];
    for (const host of [dst, src]) await host.call(migrationAbort, { name: o.vm, id, why }).catch((x: Error) => left.push(x.message));
    const code = !copying && e instanceof KvmError && e.code !== "internal" && e.code !== "transport_disconnected" ? e.code : "migration_failed";
    throw new KvmError(
      code,
      `${what} from host ${sides.fromHostId} to host ${sides.toHostId} failed: ${why}. It ${mode === "live" ? "runs" : "stays"} on host ${sides.fromHostId}${left.length ? `; cleaning up left something to do: ${left.join("; ")}` : "; nothing of it is left on the destination"}.`,
      e instanceof KvmError ? e.details : undefined,
    );
  }
}

/**
 * An earlier move of this VM that did not end cleanly (the client or a hostd
 * died): finish it when the destination has taken over, undo it otherwise.
 * Returns the result when the VM now lives on `dst`.
 */
async function resumeEarlierMove(src: HostdClient, dst: HostdClient, d: MigrationDescription, mark: MigrationMark, what: string): Promise<Omit<MigrationResult, "totalMs"> | undefined> {
  const there = await dst.vm.get(d.vm.name).catch((e: unknown) => (isKvmError(e, "not_found") ? undefined : Promise.reject(e)));
  const twin = there?.id === d.vm.id ? there : undefined;
  const toHostId = (await dst.helloOnce()).hostId;
  if (twin && !twin.migration && mark.peerHostId === toHostId) {
    // The destination runs it: only the source's leftovers remain.
    await src.call(migrationRelease, { name: d.vm.name, id: d.vm.id, toHostId });
    return { vmId: d.vm.id, fromHostId: (await src.helloOnce()).hostId, toHostId, mode: mark.mode, bytesSent: 0, disksCopied: [], vm: twin };
  }
  const why = `${what}: an earlier move (phase ${mark.phase}) did not finish; starting over`;
  if (twin) await dst.call(migrationAbort, { name: d.vm.name, id: d.vm.id, why });
  await src.call(migrationAbort, { name: d.vm.name, id: d.vm.id, why });
  return undefined;
}

interface Relayed {
  /** Resolves with the bytes from `a` to `b` once `a` ends. */
  done: Promise<number>;
  /** The bytes from `a` to `b` so far. */
  bytes: () => number;
}

/** Pipes two streams into each other, counting what goes from `a` to `b`. */
function relay(a: Duplex, b: Duplex): Relayed {
  let bytes = 0;
  a.on("data", (c: Buffer) => (bytes += c.length));
  a.pipe(b);
  b.pipe(a);
  const quiet = () => undefined;
  a.on("error", quiet);
  b.on("error", quiet);
  // One side gone (its hostd, its QEMU, its SSH channel) breaks the pair: the other side's QEMU must
  // see its socket close and fail its migration, not wait on a pipe nobody reads.
  // (`b` ending first is such a break too: a destination's end finishes only after all of `a` arrived.)
  a.on("close", () => !a.readableEnded && b.destroy());
  const broken = () => !a.readableEnded && a.destroy();
  b.on("end", broken);
  b.on("close", broken);
  const done = new Promise<number>((resolve, reject) => {
    b.on("finish", () => resolve(bytes));
    a.on("close", () => (a.readableEnded ? resolve(bytes) : reject(new KvmError("migration_failed", "a relayed stream broke"))));
  });
  done.catch(() => undefined); // a live move never awaits it: its streams are closed at the end
  return { done, bytes: () => bytes };
}

/** What moving the detached disk would copy, or why it cannot move (nothing is changed on either host). */
export async function planDiskMove(src: HostdClient, dst: HostdClient, disk: string): Promise<DiskMovePlan> {
  const what = `Moving disk "${disk}"`;
  await bothServeMoves(src, dst, what);
  const d = await src.call(diskMoveDescribe, { name: disk });
  const sides = await sidesOf(src, dst, what, false);
  if (d.refusal) throw new KvmError("invalid_state", `${what}: ${d.refusal}.`);
  await diskDestinationTakes(dst, d.disk, sides, what);
  return { diskId: d.disk.id, fromHostId: sides.fromHostId, toHostId: sides.toHostId, bytes: d.disk.actualSizeBytes };
}

async function diskDestinationTakes(dst: HostdClient, disk: MigratingDisk, sides: Sides, what: string): Promise<void> {
  try {
    await dst.call(diskMoveCheck, { disk });
  } catch (e) {
    if (!isKvmError(e)) throw e;
    throw new KvmError(e.code, `${what}: host ${sides.toHostId} does not take it: ${e.message}`, e.details, e.requestId);
  }
}

/**
 * Moves a detached disk (no VM uses it) from `src` to `dst`: its file is
 * copied through the client, then removed from `src`. On success the disk is
 * on `dst` with the same id and name; on failure it stays on `src`, usable,
 * and nothing of it is left on `dst`.
 */
export async function moveDisk(src: HostdClient, dst: HostdClient, o: DiskMoveOptions): Promise<DiskMoveResult> {
  const what = `Moving disk "${o.disk}"`;
  await bothServeMoves(src, dst, what);
  let d = await src.call(diskMoveDescribe, { name: o.disk });
  const sides = await sidesOf(src, dst, what, false);
  if (d.migration) {
    // An earlier move that did not end (the client died): the destination has it complete, or it starts over.
    const there = await dst.disk.get(o.disk).catch((e: unknown) => (isKvmError(e, "not_found") ? undefined : Promise.reject(e)));
    if (there?.id === d.disk.id && !there.migration) {
      await src.call(diskMoveRelease, { name: o.disk, id: d.disk.id, toHostId: sides.toHostId });
      return { diskId: d.disk.id, ...sides, bytesSent: 0, disk: there };
    }
    const why = `${what}: an earlier move did not finish; starting over`;
    for (const host of [dst, src]) await host.call(diskMoveAbort, { name: o.disk, id: d.disk.id, why });
    d = await src.call(diskMoveDescribe, { name: o.disk });
  }
  if (d.refusal) throw new KvmError("invalid_state", `${what}: ${d.refusal}.`);
  await diskDestinationTakes(dst, d.disk, sides, what);
  const id = d.disk.id;
  const streams: Duplex[] = [];
  let destinationHasIt = false;
  let copying = false;
  const timeoutMs = o.timeoutMs ?? MIGRATION_LIMITS.defaultTimeoutSeconds * 1000;
  let timedOut = false;
  const abortAll = () => streams.forEach((s) => s.destroy());
  const timer = setTimeout(() => ((timedOut = true), abortAll()), timeoutMs);
  o.signal?.addEventListener("abort", abortAll, { once: true });
  try {
    o.signal?.throwIfAborted();
    await src.call(diskMoveBegin, { name: o.disk, id, toHostId: sides.toHostId });
    await dst.call(diskMoveIncoming, { disk: d.disk, fromHostId: sides.fromHostId });
    copying = true;
    // The destination's end first (it writes the file), then the source's (it reads it).
    const b = await dst.openStream(diskMoveAttach, { name: o.disk, id });
    streams.push(b);
    const a = await src.openStream(diskMoveAttach, { name: o.disk, id });
    streams.push(a);
    const bytesSent = await relay(a, b).done;
    const disk = await dst.call(diskMoveFinish, { name: o.disk, id }, { timeoutMs: 120_000 });
    destinationHasIt = true;
    await src.call(diskMoveRelease, { name: o.disk, id, toHostId: sides.toHostId });
    return { diskId: id, ...sides, bytesSent, disk };
  } catch (e) {
    const why = timedOut ? `the copy did not end within ${Math.round(timeoutMs / 1000)} s` : e instanceof Error ? e.message : String(e);
    if (destinationHasIt) {
      throw new KvmError("migration_failed", `${what}: it is on host ${sides.toHostId} now, but host ${sides.fromHostId} could not remove its copy (${why}); run the move again to clean it up.`);
    }
    // Destination first: its incomplete copy goes before the source's disk is usable again.
    const left: string[] = [];
    for (const host of [dst, src]) await host.call(diskMoveAbort, { name: o.disk, id, why }).catch((x: Error) => left.push(x.message));
    const code = !copying && e instanceof KvmError && e.code !== "internal" && e.code !== "transport_disconnected" ? e.code : "migration_failed";
    throw new KvmError(
      code,
      `${what} from host ${sides.fromHostId} to host ${sides.toHostId} failed: ${why}. It stays on host ${sides.fromHostId}${left.length ? `; cleaning up left something to do: ${left.join("; ")}` : "; nothing of it is left on the destination"}.`,
      e instanceof KvmError ? e.details : undefined,
    );
  } finally {
    clearTimeout(timer);
    o.signal?.removeEventListener("abort", abortAll);
    streams.forEach((s) => s.destroy());
  }
}
