/**
 * The disk service: Disks as host files with a life of their own, and the
 * per-host image cache they are made from. Disks grow (offline with
 * qemu-img, online through the VM's QMP) and are never shrunk; a disk in use
 * by a VM cannot be deleted.
 */
import { randomUUID } from "node:crypto";
import { chmodSync, mkdirSync, rmSync, statSync } from "node:fs";
import * as path from "node:path";
import { errors, KvmError } from "../../sdk/errors";
import type { DiskCreate, DiskInfo, DiskSpec, ImageInfo } from "../../sdk/protocol";
import { CachedImage, ImageCache, ImageCacheError } from "../drivers/image-cache";
import { QemuImg, QemuImgError } from "../drivers/qemu-img";
import { Logger } from "../log";
import { KeyedMutex } from "../mutex";
import { withRevert } from "../revert";
import { DiskRecord, Store } from "../store";
import { checkDeletable, retryOfOwnCreate } from "./ownership";

type Rec = DiskRecord<DiskSpec>;
const GiB = 1024 * 1024 * 1024;

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
  stateDir: string;
  log: Logger;
}

export class DiskService {
  private readonly locks = new KeyedMutex();
  private users: DiskUsers = { attachedTo: () => null, resizeOnline: async () => false };

  constructor(private readonly d: DiskServiceDeps) {
    // Traversable (not listable): a VM's QEMU opens the disks it was given (they are owned by its user).
    mkdirSync(this.dir(), { recursive: true, mode: 0o711 });
    chmodSync(this.dir(), 0o711);
  }

  /** The VM service registers itself here (the two services know each other only through this). */
  setUsers(users: DiskUsers): void {
    this.users = users;
  }

  /** A disk's record (its file and format), for the VM service. */
  record(name: string): Rec | undefined {
    return this.d.store.getDiskByName<DiskSpec>(name);
  }

  async create(params: DiskCreate): Promise<DiskInfo> {
    const { owner, ...spec } = params;
    return this.locks.run(spec.name, async () => {
      const existing = this.record(spec.name);
      if (existing) {
        retryOfOwnCreate("Disk", existing, owner, JSON.stringify(existing.spec) === JSON.stringify(spec));
        return this.info(existing);
      }
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
      return withRevert(this.d.log, "disk.create", async (r) => {
        this.d.store.insertDisk(rec);
        r.add("delete disk row", () => this.d.store.deleteDisk(rec.id));
        r.add("remove disk file", () => rmSync(rec.path, { force: true }));
        await mapDriverErrors(spec.name, () => this.materialize(rec));
        this.d.log.info("disk created", { disk: rec.name, id: rec.id, source: spec.source.kind });
        return this.info(rec);
      });
    });
  }

  /** Makes the disk file from its source. */
  private async materialize(rec: Rec): Promise<void> {
    const spec = rec.spec;
    const size = spec.sizeGiB !== undefined ? spec.sizeGiB * GiB : undefined;
    const src = spec.source;
    if (src.kind === "blank") {
      await this.d.qemuImg.create(rec.path, { format: spec.format, sizeBytes: size! });
      return;
    }
    let base: { path: string; format: string; sha256?: string };
    if (src.kind === "url") {
      const img: CachedImage = await this.d.images.ensure(src.url, src.sha256);
      base = { path: img.path, format: img.format, sha256: img.sha256 };
    } else {
      try {
        statSync(src.path);
      } catch {
        throw errors.conflict(`The image ${src.path} for disk "${spec.name}" does not exist on this host.`, { file: src.path });
      }
      base = { path: src.path, format: (await this.d.qemuImg.info(src.path, { shared: true })).format };
    }
    const baseInfo = await this.d.qemuImg.info(base.path, { shared: true });
    if (size !== undefined && size < baseInfo.virtualSize) {
      throw new KvmError(
        "invalid_params",
        `Disk "${spec.name}" asks for ${spec.sizeGiB} GiB but its image is ${gib(baseInfo.virtualSize)} GiB: a disk can only be as large as its image or larger.`,
      );
    }
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

  async get(name: string): Promise<DiskInfo> {
    return this.info(this.mustGet(name));
  }

  async list(): Promise<DiskInfo[]> {
    return Promise.all(this.d.store.listDisks<DiskSpec>().map((r) => this.info(r)));
  }

  /** Grows a disk; online (QMP block_resize) when a running VM holds it. Never shrinks. */
  async update(u: { name: string; sizeGiB: number }): Promise<{ disk: DiskInfo; online: boolean }> {
    return this.locks.run(u.name, async () => {
      const rec = this.mustGet(u.name);
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
      this.d.log.info("disk grown", { disk: rec.name, sizeGiB: u.sizeGiB, online });
      return { disk: await this.info(rec), online };
    });
  }

  async delete(p: { name: string; id?: string; owner?: string }): Promise<{ existed: boolean }> {
    return this.locks.run(p.name, async () => {
      const rec = this.record(p.name);
      if (!rec || (p.id !== undefined && rec.id !== p.id)) return { existed: false };
      checkDeletable("Disk", rec, p);
      const vm = this.users.attachedTo(p.name);
      if (vm) {
        throw errors.invalidState(
          `Disk "${p.name}" is attached to VM "${vm}": remove it from that VM's disks (or delete the VM) first.`,
          { disk: p.name, vm },
        );
      }
      rmSync(rec.path, { force: true });
      this.d.store.deleteDisk(rec.id);
      this.d.log.info("disk deleted", { disk: rec.name, id: rec.id });
      return { existed: true };
    });
  }

  // ---- images ----

  async listImages(): Promise<{ images: ImageInfo[]; downloads: { sha256: string; url: string; bytes: number; totalBytes: number | null }[] }> {
    const disks = this.d.store.listDisks<DiskSpec>();
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
    const i = await mapDriverErrors(rec.name, () => this.d.qemuImg.info(rec.path, { shared: true }));
    return {
      id: rec.id,
      name: rec.name,
      spec: rec.spec,
      owner: rec.owner,
      format: rec.format,
      path: rec.path,
      virtualSizeBytes: i.virtualSize,
      actualSizeBytes: i.actualSize,
      backingFile: i.backingFile ?? null,
      attachedTo: this.users.attachedTo(rec.name),
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
