/**
 * What `qemu-img info` said about each disk file, kept while the file stays
 * the same file with the same size and times (device, inode, size, mtime and
 * ctime, to the nanosecond): `disk.list` runs qemu-img only for files that
 * changed since it last looked, not for every disk on every call. A guest's
 * writes change the times, so a running disk is read again as it fills;
 * hostd's own writes (a resize) forget the entry outright, in case they
 * land within one tick of the file system's clock.
 */
import { statSync } from "node:fs";
import type { ImageInfo } from "../drivers/qemu-img";

/** The parts of a file's stat that change when its contents or identity do. */
function identity(file: string): string {
  const s = statSync(file, { bigint: true });
  return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
}

export class ImageInfoCache {
  private readonly entries = new Map<string, { identity: string; info: ImageInfo }>();

  /** `read` is the driver call (qemu-img info) run for a file not seen, or changed, since the last call. */
  constructor(private readonly read: (file: string) => Promise<ImageInfo>) {}

  /** The image's info; throws what stat or `read` throws (a missing file: ENOENT), and then keeps nothing for it. */
  async info(file: string): Promise<ImageInfo> {
    let before: string;
    try {
      before = identity(file);
    } catch (e) {
      this.entries.delete(file);
      throw e;
    }
    const hit = this.entries.get(file);
    if (hit && hit.identity === before) return hit.info;
    this.entries.delete(file);
    const info = await this.read(file);
    // Kept only if the file did not change while qemu-img read it: else the next call reads it again.
    if (identityOrUndefined(file) === before) this.entries.set(file, { identity: before, info });
    return info;
  }

  /** After hostd wrote to the file (or removed it): the next info() reads it again. */
  forget(file: string): void {
    this.entries.delete(file);
  }
}

function identityOrUndefined(file: string): string | undefined {
  try {
    return identity(file);
  } catch {
    return undefined;
  }
}
