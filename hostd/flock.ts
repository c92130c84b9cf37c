/**
 * Whole-file locks (flock(2)) for "only one at a time" that survive no
 * holder: the kernel drops the lock when the holder's last descriptor of the
 * file closes, so a hostd killed with SIGKILL leaves nothing to clean up (a
 * pid file would be stale, and a reused pid would pass for a live hostd).
 * Node opens files with O_CLOEXEC, so QEMU and dnsmasq, which outlive hostd,
 * never inherit a lock.
 */
import { closeSync, constants, ftruncateSync, openSync, readFileSync, writeSync } from "node:fs";
import { loadNative, nativeProblem } from "./addon";

function tryFlock(fd: number): boolean {
  const addon = loadNative("peercred");
  if (!addon) throw new Error(`hostd's native module is not usable (${nativeProblem("peercred")}): build it with scripts/build-native.sh (needs cc); without flock hostd cannot make sure it is the only hostd on its state directory`);
  return addon.tryFlock(fd);
}

/** A lock this process holds on a file, until {@link release} or its death. */
export class FileLock {
  private constructor(
    readonly file: string,
    private fd: number | undefined,
  ) {}

  /** Opens (creating it with `mode`) `file` and takes its lock; undefined when another open file holds it. */
  static tryTake(file: string, mode: number): FileLock | undefined {
    // Not truncated on open: until the lock is ours, the contents are the holder's.
    const fd = openSync(file, constants.O_RDWR | constants.O_CREAT, mode);
    try {
      if (tryFlock(fd)) return new FileLock(file, fd);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
    closeSync(fd);
    return undefined;
  }

  /** Replaces the file's contents: who holds it, for whoever finds it taken. */
  write(text: string): void {
    if (this.fd === undefined) throw new Error(`${this.file}: lock already released`);
    ftruncateSync(this.fd, 0);
    writeSync(this.fd, text, 0);
  }

  release(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }
}

/**
 * Whether some process holds `file`'s lock, probed with a descriptor of our
 * own that is closed at once, and what the file says (read through that
 * descriptor: a holder that removes the file meanwhile cannot make it vanish
 * under us). Undefined when the file does not exist.
 */
export function probeLock(file: string): { held: boolean; text: string } | undefined {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
  try {
    return { held: !tryFlock(fd), text: readFileSync(fd, "utf8") };
  } finally {
    closeSync(fd);
  }
}
