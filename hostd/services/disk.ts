/**
 * The disk service: Disks as host files with a life of their own, and the
 * per-host image cache they are made from. Disks grow (offline with
 * qemu-img, online through the VM's QMP) and are never shrunk; a disk in use
 * by a VM cannot be deleted.
 */
import { randomUUID } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, renameSync, rmSync, statfsSync } from "node:fs";
import * as path from "node:path";
import { errors, KvmError } from "../../sdk/errors";
import type { DiskCreate, DiskInfo, DiskMoveMark, DiskSpec, ImageInfo, MigratingDisk } from "../../sdk/protocol";
import type { Duplex } from "node:stream";
import { fileSink, fileSource } from "./vm-migration";
import { CachedImage, ImageCache, ImageCacheError } from "../drivers/image-cache";
import { QemuImg, QemuImgError, readImageHeader, readImageHeaderOf } from "../drivers/qemu-img";
import { Caller, HostPaths, OpenHostFile } from "../host-paths";
import { Logger } from "../log";
import { ImageInfoCache } from "./image-info-cache";
import { KeyedMutex } from "../mutex";
import { Reverter, withRevert } from "../revert";
import { DiskRecord, Store } from "../store";
import { checkDeletable, retryOfOwnCreate } from "./ownership";

type Rec = DiskRecord<DiskSpec>;
type HostPathSource = Extract<DiskSpec["source"], { kind: "hostPath" }>;
const GiB = 1024 * 1024 * 1024;
/** The end of a disk file's name while a move of that disk alone is writing it here: never a usable disk. */
const INCOMING = ".incoming";

/** A caller's image file, opened and read by hostd: its format and size. */
interface HostImage {
  file: OpenHostFile;
  format: "qcow2" | "raw";
  virtualSize: number;
}

/** What the disk service needs to know from the VM service. */
export interface DiskUsers {
  /** Name of the VM whose spec lists this disk, if any. */
  attachedTo(disk: string): string | null;
  /** Grows the disk through the running VM's QMP; false when no running VM holds it. */
  resizeOnline(disk: string, bytes: number): Promise<boolean>;
}

export interface DiskServiceDeps {
  store: Store;
  qemuImg: QemuImg;
  images: ImageCache;
  /** How a caller's host paths are checked (hostd/host-paths.ts). */
  hostPaths: HostPaths;
  stateDir: string;
  log: Logger;
}

export class DiskService {
  private readonly locks = new KeyedMutex();
  /** qemu-img's view of each disk file, read again only when the file changed (disk.list runs no qemu-img per unchanged disk). */
  private readonly infoCache = new ImageInfoCache((file) => this.d.qemuImg.info(file, { shared: true }));
  private users: DiskUsers = { attachedTo: () => null, resizeOnline: async () => false };
  /** Disks moving by themselves, by name: in memory, as the move's streams are (a restart ends the move). */
  private readonly moves = new Map<string, { id: string; mark: DiskMoveMark; written?: Promise<void> }>();

  constructor(private readonly d: DiskServiceDeps) {
    // Traversable (not listable): a VM's QEMU opens the disks it was given (they are owned by its user).
    mkdirSync(this.dir(), { recursive: true, mode: 0o711 });
    chmodSync(this.dir(), 0o711);
    this.dropUnfinishedArrivals();
  }

  /** A disk that was arriving alone when hostd stopped is incomplete: it goes (the source still has it). */
  private dropUnfinishedArrivals(): void {
    for (const rec of this.d.store.listDisks()) {
      if (!rec.path.endsWith(INCOMING)) continue;
      rmSync(rec.path, { force: true });
      this.d.store.deleteDisk(rec.id);
      this.d.log.warn("removed a disk whose move here did not finish before hostd restarted", { disk: rec.name, id: rec.id });
    }
  }

  /** Why a VM may not take the disk now (it is moving by itself), or undefined. */
  movingProblem(name: string): string | undefined {
    const m = this.moves.get(name);
    if (!m) return undefined;
    return m.mark.role === "source"
      ? `disk "${name}" is moving to host ${m.mark.peerHostId}: wait for the move, or abort it (diskMove.abort)`
      : `disk "${name}" is still arriving from host ${m.mark.peerHostId}: it is usable once the move finishes`;
  }

  /** Refuses a change to a disk that is moving by itself (the copy must be of one state of it). */
  private notMoving(name: string, what: string): void {
    const problem = this.movingProblem(name);
    if (problem) throw errors.invalidState(`Cannot ${what}: ${problem}.`, { disk: name });
  }

  /** The VM service registers itself here (the two services know each other only through this). */
  setUsers(users: DiskUsers): void {
    this.users = users;
  }

  /** A disk's record (its file and format), for the VM service. */
  record(name: string): Rec | undefined {
    return this.d.store.getDiskByName(name);
  }

  /** `caller`: who asks (the connection's peer); a host path source is read with their rights. */
  async create(params: DiskCreate, caller?: Caller): Promise<DiskInfo> {
    const { owner, ...spec } = params;
    return this.locks.run(spec.name, async () => {
      this.notMoving(spec.name, `create disk "${spec.name}"`);
      let existing = this.record(spec.name);
      if (existing && !existsSync(existing.path)) {
        // Its file was deleted outside hostd (refresh showed the Disk gone): the owner's create makes it again, under a new id.
        checkDeletable("Disk", existing, { owner });
        this.d.store.deleteDisk(existing.id);
        this.d.log.warn("forgot a disk whose file was deleted outside hostd, to create it again", { disk: existing.name, id: existing.id, path: existing.path });
        existing = undefined;
      }
      if (existing) {
        retryOfOwnCreate("Disk", existing, owner, JSON.stringify(existing.spec) === JSON.stringify(spec));
        return this.info(existing);
      }
      // Before anything is recorded: a host path the caller may not use leaves nothing behind.
      const host = spec.source.kind === "hostPath" ? await this.openHostImage(spec, spec.source, caller) : undefined;
      const id = randomUUID();
      const now = new Date().toISOString();
      const rec: Rec = {
        id,
        name: spec.name,
        spec,
        path: path.join(this.dir(), `${id}.${spec.format}`),
        format: spec.format,
        backingSha256: null,
        owner: owner ?? null,
        createdAt: now,
        updatedAt: now,
      };
      try {
        return await withRevert(this.d.log, "disk.create", async (r) => {
          this.d.store.insertDisk(rec);
          r.add("delete disk row", () => this.d.store.deleteDisk(rec.id));
          r.add("remove disk file", () => rmSync(rec.path, { force: true }));
          await mapDriverErrors(spec.name, () => (host ? this.fromHostImage(rec, host) : this.materialize(rec)));
          this.d.log.event("disk.created", rec.name, { id: rec.id, source: spec.source.kind });
          return this.info(rec);
        });
      } finally {
        host?.file.close();
      }
    });
  }

  /** Makes the disk file from a blank or url source. */
  private async materialize(rec: Rec): Promise<void> {
    const spec = rec.spec;
    const size = sizeOf(spec);
    const src = spec.source;
    if (src.kind === "blank") {
      await this.d.qemuImg.create(rec.path, { format: spec.format, sizeBytes: size! });
      return;
    }
    if (src.kind !== "url") throw errors.internal(`materialize got a ${src.kind} source`);
    const img: CachedImage = await this.d.images.ensure(src.url, src.sha256);
    const base = { path: img.path, format: img.format, sha256: img.sha256 };
    const baseInfo = await this.d.qemuImg.info(base.path, { shared: true });
    checkFits(spec, baseInfo.virtualSize);
    if (src.clone) {
      await this.d.qemuImg.createOverlay(rec.path, { backingFile: base.path, backingFormat: base.format, sizeBytes: size });
      if (base.sha256) {
        rec.backingSha256 = base.sha256;
        this.d.store.saveDisk(rec);
      }
    } else {
      await this.d.qemuImg.convert(base.path, rec.path, { dstFormat: spec.format, srcFormat: base.format });
      if (size !== undefined && size > baseInfo.virtualSize) await this.d.qemuImg.resize(rec.path, size, { format: spec.format });
    }
  }

  /**
   * Opens a host path source with the caller's rights (host-paths.ts) and
   * reads what it holds. Its format comes from its header, read by hostd:
   * qemu-img never probes a caller's file, and a qcow2 that refers to
   * another host file (a backing or external data file) is refused — root
   * would otherwise read that file for the caller.
   */
  private async openHostImage(spec: DiskSpec, src: HostPathSource, caller: Caller | undefined): Promise<HostImage> {
    const file = this.d.hostPaths.open(src.path, caller, {
      what: `the source of disk "${spec.name}"`,
      blockDevice: src.blockDevice === true,
      blockDeviceOption: "source.blockDevice: true",
    });
    try {
      const h = standaloneImage(spec.name, file, readImageHeader(file.fd));
      // raw: the size of the file or device, through the open file (qemu-img asks the device for it).
      const virtualSize = h.format === "qcow2" ? h.virtualSize : (await mapDriverErrors(spec.name, () => this.d.qemuImg.info(file.fdPath, { format: "raw" }))).virtualSize;
      checkFits(spec, virtualSize);
      return { file, format: h.format, virtualSize };
    } catch (e) {
      file.close();
      throw e;
    }
  }

  /**
   * The disk from a caller's image: a clone records its resolved path as
   * the base (QEMU opens it as the VM's own user); a copy reads the open
   * file, and for qcow2 a private copy of it checked again, since the caller
   * may rewrite their file at any moment.
   */
  private async fromHostImage(rec: Rec, host: HostImage): Promise<void> {
    const spec = rec.spec;
    const size = sizeOf(spec);
    if (spec.source.kind === "hostPath" && spec.source.clone) {
      await this.d.qemuImg.createOverlay(rec.path, { backingFile: host.file.path, backingFormat: host.format, sizeBytes: size, baseVirtualSize: host.virtualSize });
      return;
    }
    let virtualSize = host.virtualSize;
    if (host.format === "raw") {
      await this.d.qemuImg.convert(host.file.fdPath, rec.path, { srcFormat: "raw", dstFormat: spec.format });
    } else {
      const copy = `${rec.path}.source`;
      try {
        await this.d.qemuImg.convert(host.file.fdPath, copy, { srcFormat: "raw", dstFormat: "raw" });
        const h = standaloneImage(spec.name, host.file, readImageHeaderOf(copy));
        if (h.format !== "qcow2") throw errors.conflict(`The source of disk "${spec.name}", ${host.file.asked}, stopped being a qcow2 image while hostd read it; retry once it stays put.`);
        checkFits(spec, h.virtualSize);
        virtualSize = h.virtualSize;
        await this.d.qemuImg.convert(copy, rec.path, { srcFormat: "qcow2", dstFormat: spec.format });
      } finally {
        rmSync(copy, { force: true });
      }
    }
    if (size !== undefined && size > virtualSize) await this.d.qemuImg.resize(rec.path, size, { format: spec.format });
  }

  // ---- moves between hosts (the VM service's migration steps call these) ----

  /** The disk as a move needs it: how it travels (`top`: only the overlay, the destination fetches the base by sha256; `full`: every block), or why it cannot. */
  async forMove(name: string): Promise<{ rec: Rec; disk: MigratingDisk; refusal: string | null }> {
    const rec = this.mustGet(name);
    const info = await this.info(rec);
    const src = rec.spec.source;
    const disk: MigratingDisk = {
      id: rec.id,
      name: rec.name,
      spec: rec.spec,
      owner: rec.owner,
      format: rec.format,
      virtualSizeBytes: info.virtualSizeBytes ?? 0,
      actualSizeBytes: info.actualSizeBytes ?? 0,
      baseSha256: rec.backingSha256,
      sync: moveSync(rec.spec),
      createdAt: rec.createdAt,
    };
    if (info.problem) return { rec, disk, refusal: `disk "${name}": ${info.problem}` };
    if (info.migration) return { rec, disk, refusal: `disk "${name}" is moving by itself (${info.migration.role}, other host ${info.migration.peerHostId}): let that move finish or abort it` };
    if (src.kind === "hostPath" && src.clone) {
      // Its base is a file of this host that the destination does not have (and hostd may not read it for anyone there).
      return { rec, disk, refusal: `disk "${name}" is a clone of the host file ${src.path}, which the other host does not have: copy it there, or make the disk with clone: false` };
    }
    return { rec, disk, refusal: null };
  }

  /**
   * A move's destination: the disk's twin under the same id and name, ready
   * to be written by the source's mirror (live) or by its file copy
   * (offline). A `top` disk gets an empty overlay on this host's own cached
   * copy of the base (downloaded here by the source's URL and checked by
   * sha256); a `full` one an empty image of the same size. Undone on `r`.
   */
  async receive(d: MigratingDisk, r: Reverter): Promise<Rec> {
    return this.locks.run(d.name, () => this.receiveLocked(d, r, ""));
  }

  /** `receive` under the disk's lock; `suffix` ends the file's name until the copy is complete (a disk moving alone). */
  private async receiveLocked(d: MigratingDisk, r: Reverter, suffix: "" | typeof INCOMING): Promise<Rec> {
    const existing = this.twinOrFree(d);
    if (existing) return existing;
    const rec: Rec = { id: d.id, name: d.name, spec: d.spec, path: path.join(this.dir(), `${d.id}.${d.format}${suffix}`), format: d.format, backingSha256: null, owner: d.owner, createdAt: d.createdAt, updatedAt: new Date().toISOString() };
    this.d.store.insertDisk(rec);
    r.add("delete the received disk's row", () => this.d.store.deleteDisk(rec.id));
    r.add("remove the received disk's file", () => rmSync(rec.path, { force: true }));
    await mapDriverErrors(d.name, async () => {
      const src = d.spec.source;
      if (d.sync === "top" && src.kind === "url") {
        const img = await this.d.images.ensure(src.url, src.sha256);
        await this.d.qemuImg.createOverlay(rec.path, { backingFile: img.path, backingFormat: img.format, sizeBytes: d.virtualSizeBytes });
        rec.backingSha256 = img.sha256 ?? null;
        this.d.store.saveDisk(rec);
      } else {
        await this.d.qemuImg.create(rec.path, { format: d.format, sizeBytes: d.virtualSizeBytes });
      }
    });
    this.d.log.event("disk.received", rec.name, { id: rec.id, sync: d.sync });
    return rec;
  }

  /**
   * Refuses, changing nothing, moving disks this host cannot take: a disk of the same name that is
   * another one, or too little free space for what the move writes here. The first step of a move
   * and its preview ask this, so a refusal comes before anything is copied.
   */
  checkReceivable(disks: MigratingDisk[], mode: "live" | "offline"): { neededBytes: number; freeBytes: number } {
    for (const d of disks) this.twinOrFree(d);
    // A live mirror writes what is allocated (zeros are skipped); an offline copy writes the whole file,
    // which for a sparse raw file is its full size. The cached base of a `top` disk is not counted: its
    // size is known only once it is fetched (the image cache refuses then if it does not fit).
    const neededBytes = disks.reduce((sum, d) => sum + (mode === "offline" && d.format === "raw" ? d.virtualSizeBytes : d.actualSizeBytes), 0);
    const s = statfsSync(this.dir());
    const freeBytes = Number(s.bavail) * Number(s.bsize);
    if (neededBytes + MOVE_SPACE_RESERVE_BYTES > freeBytes) {
      throw new KvmError(
        "insufficient_space",
        `This host has ${mib(freeBytes)} MiB free for disks (${this.dir()}), but the move writes about ${mib(neededBytes)} MiB of ${disks.map((d) => `"${d.name}"`).join(", ")} here and keeps ${mib(MOVE_SPACE_RESERVE_BYTES)} MiB spare: free space on this host or move to another; nothing was moved.`,
        { neededBytes, freeBytes, reserveBytes: MOVE_SPACE_RESERVE_BYTES },
      );
    }
    return { neededBytes, freeBytes };
  }

  /** The moving disk's twin here (received already), or undefined when its name is free; refused when another disk has the name. */
  private twinOrFree(d: { id: string; name: string }): Rec | undefined {
    const existing = this.record(d.name);
    if (existing && existing.id !== d.id) throw errors.conflict(`This host already has a disk named "${d.name}" (id ${existing.id}): the moving disk ${d.id} cannot take its name. Rename or delete that one first.`, { disk: d.name });
    return existing;
  }

  /** An offline copy landed in the received disk's file: an overlay reads through this host's base again. */
  async finishReceive(name: string): Promise<void> {
    const rec = this.mustGet(name);
    const src = rec.spec.source;
    if (rec.backingSha256 && src.kind === "url") {
      const img = await this.d.images.ensure(src.url, src.sha256);
      await mapDriverErrors(name, () => this.d.qemuImg.rebaseUnsafe(rec.path, { backingFile: img.path, backingFormat: img.format }));
    }
    this.infoCache.forget(rec.path);
    // The copy is an image hostd can read, of the size it was.
    await mapDriverErrors(name, () => this.d.qemuImg.info(rec.path, { format: rec.format }));
  }

  /** The file an offline copy of a received disk writes (the disk's own: nothing runs it yet). */
  fileOf(name: string): string {
    return this.mustGet(name).path;
  }

  /** The source after a move: the disk lives on the other host now; its file and row go (the VM that used it is gone from here already). */
  releaseMoved(name: string, id: string): void {
    const rec = this.record(name);
    if (!rec || rec.id !== id) return;
    rmSync(rec.path, { force: true });
    this.d.store.deleteDisk(rec.id);
    this.d.log.event("disk.moved-away", rec.name, { id: rec.id });
  }

  // ---- a detached disk moving by itself (sdk/migrate.ts moveDisk drives these steps) ----

  /** The disk as the destination needs it, and why it cannot move by itself. */
  async describeForMoveAlone(name: string): Promise<{ disk: MigratingDisk; refusal: string | null; migration: DiskMoveMark | null }> {
    const m = await this.forMove(name);
    const vm = this.users.attachedTo(name);
    const refusal = vm ? `disk "${name}" is attached to VM "${vm}": it moves with that VM (change the VM's host), not by itself` : m.refusal;
    return { disk: m.disk, refusal: this.moves.has(name) ? null : refusal, migration: this.moves.get(name)?.mark ?? null };
  }

  /** The source: the disk is leaving for `toHostId`; nothing may change or take it until release or abort. */
  async beginLeaving(p: { name: string; id: string; toHostId: string }): Promise<{ mark: DiskMoveMark }> {
    return this.locks.run(p.name, async () => {
      const rec = this.mustBe(p.name, p.id);
      const cur = this.moves.get(p.name);
      if (cur?.mark.role === "source" && cur.mark.peerHostId === p.toHostId) return { mark: cur.mark };
      const { refusal } = await this.describeForMoveAlone(p.name);
      if (refusal) throw errors.invalidState(`Disk "${p.name}" cannot move: ${refusal}.`, { disk: p.name });
      const mark: DiskMoveMark = { role: "source", peerHostId: p.toHostId, since: new Date().toISOString() };
      this.moves.set(p.name, { id: rec.id, mark });
      this.d.log.event("disk.moving", rec.name, { id: rec.id, role: "source", peerHostId: p.toHostId });
      return { mark };
    });
  }

  /** The destination: the disk's twin, its file named as incomplete until finish. */
  async receiveAlone(p: { disk: MigratingDisk; fromHostId: string }): Promise<DiskInfo> {
    const d = p.disk;
    return this.locks.run(d.name, async () => {
      const cur = this.moves.get(d.name);
      if (cur?.mark.role === "destination" && cur.id === d.id) return this.info(this.mustGet(d.name));
      this.notMoving(d.name, `receive disk "${d.name}"`);
      this.checkReceivable([d], "offline");
      return withRevert(this.d.log, "diskMove.incoming", async (r) => {
        const rec = await this.receiveLocked(d, r, INCOMING);
        this.moves.set(d.name, { id: d.id, mark: { role: "destination", peerHostId: p.fromHostId, since: new Date().toISOString() } });
        r.add("forget the incoming disk's move", () => this.moves.delete(d.name));
        return this.info(rec);
      });
    });
  }

  /** The disk's one stream: its file read on the source, written on the destination. */
  openMoveStreamAlone(p: { name: string; id: string }): Duplex {
    const m = this.moves.get(p.name);
    if (!m || m.id !== p.id) throw errors.invalidState(`Disk "${p.name}" is not moving: begin the move first (diskMove.begin on the source, diskMove.incoming on the destination).`, { disk: p.name });
    const rec = this.mustBe(p.name, p.id);
    if (m.mark.role === "source") return fileSource(rec.path);
    if (m.written) throw errors.invalidState(`Disk "${p.name}" has its file stream already; abort the move and start again.`, { disk: p.name });
    const sink = fileSink(rec.path);
    m.written = sink.written;
    return sink.stream;
  }

  /** The destination: the copy landed; the twin becomes an ordinary disk of this host (same id). */
  async finishArrival(p: { name: string; id: string }): Promise<DiskInfo> {
    return this.locks.run(p.name, async () => {
      const rec = this.mustBe(p.name, p.id);
      const m = this.moves.get(p.name);
      if (!m && !rec.path.endsWith(INCOMING)) return this.info(rec); // finished already (a retry)
      if (m?.mark.role !== "destination") throw errors.invalidState(`Disk "${p.name}" is not arriving here; nothing was finished.`, { disk: p.name });
      if (!m.written) throw errors.invalidState(`Disk "${p.name}" was never copied here: attach its file stream first.`, { disk: p.name });
      await m.written;
      const final = rec.path.slice(0, -INCOMING.length);
      await withRevert(this.d.log, "diskMove.finish", async (r) => {
        renameSync(rec.path, final);
        r.add("name the file as incoming again", () => renameSync(final, rec.path));
        const incoming = rec.path;
        rec.path = final;
        r.add("keep the incoming path in the row", () => {
          rec.path = incoming;
          this.d.store.saveDisk(rec);
        });
        this.d.store.saveDisk(rec);
        await this.finishReceive(p.name);
      });
      this.moves.delete(p.name);
      this.d.log.event("disk.moved-here", rec.name, { id: rec.id, peerHostId: m.mark.peerHostId });
      return this.info(rec);
    });
  }

  /** The source, once the destination has the disk: its file and row go here. */
  async releaseLeaving(p: { name: string; id: string; toHostId: string }): Promise<{ released: boolean }> {
    return this.locks.run(p.name, async () => {
      const rec = this.record(p.name);
      if (!rec || rec.id !== p.id) return { released: false };
      const m = this.moves.get(p.name);
      if (m?.mark.role !== "source" || m.mark.peerHostId !== p.toHostId) throw errors.invalidState(`Disk "${p.name}" is not moving to host ${p.toHostId} from here; nothing was released.`, { disk: p.name });
      this.moves.delete(p.name);
      this.releaseMoved(p.name, p.id);
      return { released: true };
    });
  }

  /** Undoes this host's part of a disk's move: a destination's twin goes; a source's disk is usable again. */
  async abortMoveAlone(p: { name: string; id: string; why: string }): Promise<{ aborted: boolean }> {
    return this.locks.run(p.name, async () => {
      const m = this.moves.get(p.name);
      if (!m || m.id !== p.id) return { aborted: false };
      this.moves.delete(p.name);
      if (m.mark.role === "destination") {
        const rec = this.record(p.name);
        if (rec?.id === p.id) {
          rmSync(rec.path, { force: true });
          this.d.store.deleteDisk(rec.id);
        }
      }
      this.d.log.event("disk.move-aborted", p.name, { id: p.id, role: m.mark.role, peerHostId: m.mark.peerHostId, why: p.why }, "warn");
      return { aborted: true };
    });
  }

  /** The record named `name` when it is disk `id`; refused otherwise (another disk took the name). */
  private mustBe(name: string, id: string): Rec {
    const rec = this.mustGet(name);
    if (rec.id !== id) throw errors.conflict(`Disk "${name}" here is another disk (id ${rec.id}, not ${id}); nothing was done.`, { disk: name });
    return rec;
  }

  async get(name: string): Promise<DiskInfo> {
    return this.info(this.mustGet(name));
  }

  async list(): Promise<DiskInfo[]> {
    return Promise.all(this.d.store.listDisks().map((r) => this.info(r)));
  }

  /** Grows a disk; online (QMP block_resize) when a running VM holds it. Never shrinks. */
  async update(u: { name: string; sizeGiB: number }): Promise<{ disk: DiskInfo; online: boolean }> {
    return this.locks.run(u.name, async () => {
      const rec = this.mustGet(u.name);
      this.notMoving(u.name, `resize disk "${u.name}"`);
      const cur = await mapDriverErrors(u.name, () => this.d.qemuImg.info(rec.path, { shared: true }));
      const want = u.sizeGiB * GiB;
      if (want < cur.virtualSize) {
        throw new KvmError(
          "invalid_params",
          `Disk "${u.name}" is ${gib(cur.virtualSize)} GiB; shrinking it to ${u.sizeGiB} GiB would destroy data, so it is refused. Disks only grow.`,
          { currentGiB: gib(cur.virtualSize), requestedGiB: u.sizeGiB },
        );
      }
      const before = rec.spec;
      const online = await withRevert(this.d.log, "disk.update", async (r) => {
        rec.spec = { ...rec.spec, sizeGiB: u.sizeGiB };
        this.d.store.saveDisk(rec);
        r.add("put back the disk's previous size in its spec", () => {
          rec.spec = before;
          this.d.store.saveDisk(rec);
        });
        // Growing comes last: it cannot be undone (a disk never shrinks), so nothing may fail after it.
        if (want <= cur.virtualSize) return false;
        if (await this.users.resizeOnline(u.name, want)) return true;
        await mapDriverErrors(u.name, () => this.d.qemuImg.resize(rec.path, want, { format: rec.format }));
        return false;
      });
      this.infoCache.forget(rec.path);
      this.d.log.event("disk.grown", rec.name, { sizeGiB: u.sizeGiB, online });
      return { disk: await this.info(rec), online };
    });
  }

  async delete(p: { name: string; id?: string; owner?: string }): Promise<{ existed: boolean }> {
    return this.locks.run(p.name, async () => {
      const rec = this.record(p.name);
      if (!rec || (p.id !== undefined && rec.id !== p.id)) return { existed: false };
      checkDeletable("Disk", rec, p);
      this.notMoving(p.name, `delete disk "${p.name}"`);
      const vm = this.users.attachedTo(p.name);
      if (vm) {
        throw errors.invalidState(
          `Disk "${p.name}" is attached to VM "${vm}": remove it from that VM's disks (or delete the VM) first.`,
          { disk: p.name, vm },
        );
      }
      rmSync(rec.path, { force: true });
      this.infoCache.forget(rec.path);
      this.d.store.deleteDisk(rec.id);
      this.d.log.event("disk.deleted", rec.name, { id: rec.id });
      return { existed: true };
    });
  }

  // ---- images ----

  async listImages(): Promise<{ images: ImageInfo[]; downloads: { sha256: string; url: string; bytes: number; totalBytes: number | null }[] }> {
    const disks = this.d.store.listDisks();
    const images = (await this.d.images.list()).map((i) => ({
      sha256: i.sha256,
      url: i.url,
      path: i.path,
      format: i.format,
      sizeBytes: i.sizeBytes,
      downloadedAt: i.downloadedAt,
      usedBy: disks.filter((d) => d.backingSha256 === i.sha256).map((d) => d.name),
    }));
    const downloads = this.d.images.progress().map((p) => ({ sha256: p.sha256, url: p.url, bytes: p.bytes, totalBytes: p.totalBytes ?? null }));
    return { images, downloads };
  }

  /** Removes cached images no disk reads through (or just the one named, if unused). */
  async pruneImages(sha256?: string): Promise<{ removed: string[] }> {
    const { images } = await this.listImages();
    const removed: string[] = [];
    for (const img of images) {
      if (sha256 !== undefined && img.sha256 !== sha256) continue;
      if (img.usedBy.length > 0) {
        if (sha256 !== undefined) {
          throw errors.invalidState(`Image ${sha256} is the base of disks ${img.usedBy.join(", ")}; delete them first.`);
        }
        continue;
      }
      await this.d.images.remove(img.sha256);
      removed.push(img.sha256);
    }
    return { removed };
  }

  private async info(rec: Rec): Promise<DiskInfo> {
    // A file deleted outside hostd is reported, not an error: the other disks still list, and refresh sees this one gone.
    const missing = missingFileProblem(rec);
    const i = missing ? undefined : await mapDriverErrors(rec.name, () => this.infoCache.info(rec.path));
    return {
      id: rec.id,
      name: rec.name,
      spec: grownOutside(rec.spec, i?.virtualSize),
      owner: rec.owner,
      format: rec.format,
      path: rec.path,
      virtualSizeBytes: i?.virtualSize ?? null,
      actualSizeBytes: i?.actualSize ?? null,
      backingFile: i?.backingFile ?? null,
      attachedTo: this.users.attachedTo(rec.name),
      problem: missing ?? null,
      migration: this.moves.get(rec.name)?.mark ?? null,
      createdAt: rec.createdAt,
      updatedAt: rec.updatedAt,
    };
  }

  private mustGet(name: string): Rec {
    const rec = this.record(name);
    if (!rec) throw errors.notFound("Disk", name);
    return rec;
  }

  private dir(): string {
    return path.join(this.d.stateDir, "disks");
  }
}

function gib(bytes: number): number {
  return Math.round((bytes / GiB) * 100) / 100;
}

/**
 * The spec with the size the file really has, when it was grown outside hostd (`qemu-img resize`, QMP
 * `block_resize` on the operators' socket): refresh shows it, and the preview refuses to shrink it back.
 */
function grownOutside(spec: DiskSpec, virtualSize: number | undefined): DiskSpec {
  const declared = sizeOf(spec);
  if (virtualSize === undefined || declared === undefined || virtualSize <= declared) return spec;
  return { ...spec, sizeGiB: Math.ceil(virtualSize / GiB) };
}

function sizeOf(spec: DiskSpec): number | undefined {
  return spec.sizeGiB !== undefined ? spec.sizeGiB * GiB : undefined;
}

/** A disk is as large as its image or larger. */
function checkFits(spec: DiskSpec, imageBytes: number): void {
  const size = sizeOf(spec);
  if (size !== undefined && size < imageBytes) {
    throw new KvmError(
      "invalid_params",
      `Disk "${spec.name}" asks for ${spec.sizeGiB} GiB but its image is ${gib(imageBytes)} GiB: a disk can only be as large as its image or larger.`,
    );
  }
}

/** The qcow2 or raw image in a caller's file; other formats, and qcow2 that refers to other files, are refused. */
function standaloneImage(disk: string, f: OpenHostFile, h: ReturnType<typeof readImageHeader>): { format: "qcow2"; virtualSize: number } | { format: "raw" } {
  const of = `The source of disk "${disk}", ${f.asked}`;
  if (h.format === "other") {
    throw new KvmError("invalid_params", `${of}, is a ${h.name} image; hostd takes host images as qcow2 or raw only: convert it first (qemu-img convert -O qcow2 ${f.asked} <new file>).`, { path: f.asked });
  }
  if (h.format === "qcow2" && h.refersTo) {
    throw new KvmError(
      "invalid_params",
      `${of}, refers to ${h.refersTo}; hostd takes only standalone images from host paths (it would otherwise read that file with root's rights): flatten it first (qemu-img convert -O qcow2 ${f.asked} <new file>).`,
      { path: f.asked },
    );
  }
  return h;
}

/** Driver errors become catalogue errors here, with the disk named. */
async function mapDriverErrors<T>(disk: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof ImageCacheError) {
      const code = (
        {
          checksum_mismatch: "checksum_mismatch",
          no_space: "insufficient_space",
          download_failed: "download_failed",
          invalid: "invalid_params",
          unsupported_image: "unsupported",
          busy: "conflict",
        } as const
      )[e.kind as string] ?? "internal";
      throw new KvmError(code, `Disk "${disk}": ${e.message}`, { disk });
    }
    if (e instanceof QemuImgError) {
      const code = (
        {
          no_space: "insufficient_space",
          shrink_refused: "invalid_params",
          invalid: "invalid_params",
          locked: "conflict",
          exists: "conflict",
          not_found: "conflict",
        } as const
      )[e.kind as string] ?? "qemu_failed";
      throw new KvmError(code, `Disk "${disk}": ${e.message}`, { disk });
    }
    throw e;
  }
}

/** Why a Disk cannot be used because its file is gone, or nothing when the file is there. */
export function missingFileProblem(rec: { name: string; path: string }): string | undefined {
  if (existsSync(rec.path)) return undefined;
  return `the file of Disk "${rec.name}" (${rec.path}) is gone: it was deleted outside hostd. \`pulumi refresh\` then \`pulumi up\` creates the Disk again (empty, or from its source); or delete the Disk`;
}

/** Space a move leaves free on the destination beyond what it writes (qcow2 metadata, the host's own needs). */
const MOVE_SPACE_RESERVE_BYTES = 64 * 1024 * 1024;

function mib(bytes: number): number {
  return Math.ceil(bytes / (1024 * 1024));
}

/** How a disk travels in a move: `top` only its overlay (the destination has, or fetches, the base by sha256), `full` every block. */
export function moveSync(spec: DiskSpec): "top" | "full" {
  return spec.source.kind === "url" && spec.source.clone ? "top" : "full";
}
