/**
 * Disk images through qemu-img: inspect, create blank disks and thin
 * copy-on-write overlays, copy, and grow. Every call goes through the one
 * exec helper; failures become a {@link QemuImgError} whose `kind` the
 * service layer maps to the error catalogue, so it never parses qemu-img's
 * stderr itself.
 *
 * Paths are resolved to absolute paths before they reach qemu-img: an
 * absolute path cannot be mistaken for an option (a leading "-") or for a
 * protocol prefix ("nbd:…", "file:…"), which qemu-img looks for before the
 * first "/".
 *
 * Every image qemu-img makes here is created by hostd first, empty, mode
 * 0600 and root's: qemu-img writes into it and keeps the mode, so a new
 * disk is never readable by others, not even for a moment. (qemu-img
 * itself would create it 0644.)
 */
import { closeSync, openSync, readSync } from "node:fs";
import { open, rm } from "node:fs/promises";
import { isAbsolute, resolve } from "node:path";
import { z } from "zod";
import { ExecError, run } from "../exec";

/** What went wrong, for the service layer to map; never branch on the message. */
export type QemuImgErrorKind =
  /** The image (or its directory, or its backing file) does not exist. */
  | "not_found"
  /** Another process (a running VM) holds the image's lock. */
  | "locked"
  /** The filesystem is full. */
  | "no_space"
  /** Bad arguments, or the file is not an image in the stated format. */
  | "invalid"
  /** The target of create/createOverlay/convert already exists; qemu-img would truncate it. */
  | "exists"
  /** A resize (or an overlay) smaller than the image: refused, it would lose data. */
  | "shrink_refused"
  /** Anything else: qemu-img's own words are in the message. */
  | "failed";

export class QemuImgError extends Error {
  override readonly name = "QemuImgError";
  constructor(
    readonly kind: QemuImgErrorKind,
    message: string,
    /** The image the operation was about. */
    readonly path: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Formats hostd creates; `info` may report others (vmdk, vdi…) for images it did not make. */
export type DiskFormat = "qcow2" | "raw";

export interface ImageInfo {
  /** qemu-img's format name: "qcow2", "raw", "vmdk", … */
  format: string;
  /** Size the guest sees, in bytes. */
  virtualSize: number;
  /** Bytes allocated on the host filesystem. */
  actualSize: number;
  /** Absolute path of the backing file, for overlays. */
  backingFile?: string;
  backingFormat?: string;
  /** qcow2 dirty flag (lazy refcounts after an unclean shutdown). */
  dirty?: boolean;
  /**
   * qcow2 external data file: the guest's data lives in this other host
   * file. An image from elsewhere carrying one (or a backing file) could
   * make a VM read arbitrary host files.
   */
  dataFile?: string;
}

// qemu-img info --output=json; unknown keys (format-specific, cluster-size…) are dropped.
const InfoJson = z.object({
  format: z.string(),
  "virtual-size": z.int().nonnegative(),
  "actual-size": z.int().nonnegative().optional(),
  "backing-filename": z.string().optional(),
  // Resolved against the overlay's directory when the recorded name is relative.
  "full-backing-filename": z.string().optional(),
  "backing-filename-format": z.string().optional(),
  "dirty-flag": z.boolean().optional(),
  // Its shape depends on the format; only qcow2's data-file is read, leniently.
  "format-specific": z.unknown().optional(),
});
const Qcow2Specific = z.object({ type: z.literal("qcow2"), data: z.object({ "data-file": z.string().optional() }) });

const SECTOR = 512;

export class QemuImg {
  constructor(readonly binary = process.env.HOSTD_QEMU_IMG ?? "qemu-img") {}

  /**
   * Reads an image's format, sizes and backing file. `shared` adds `-U`
   * (force-share), needed to inspect a disk a running VM holds locked; the
   * answer may then be slightly stale. `format` skips format probing, which
   * matters for raw disks whose guest may have written a qcow2 header.
   */
  async info(path: string, opts: { shared?: boolean; format?: string } = {}): Promise<ImageInfo> {
    const abs = resolve(path);
    const args = ["info", "--output=json"];
    if (opts.shared) args.push("-U");
    if (opts.format) args.push("-f", opts.format);
    const { stdout } = await this.exec("read", abs, [...args, "--", abs], 30_000);
    let json: unknown;
    try {
      json = JSON.parse(stdout);
    } catch {
      throw new QemuImgError("failed", `qemu-img info printed something other than JSON for ${abs}.`, abs);
    }
    const parsed = InfoJson.safeParse(json);
    if (!parsed.success) {
      throw new QemuImgError("failed", `qemu-img info for ${abs} did not have the expected fields: ${parsed.error.message}`, abs);
    }
    const j = parsed.data;
    const backingFile = j["full-backing-filename"] ?? j["backing-filename"];
    const dataFile = Qcow2Specific.safeParse(j["format-specific"]).data?.data["data-file"];
    return {
      format: j.format,
      virtualSize: j["virtual-size"],
      actualSize: j["actual-size"] ?? 0,
      ...(backingFile !== undefined && { backingFile }),
      ...(j["backing-filename-format"] !== undefined && { backingFormat: j["backing-filename-format"] }),
      ...(j["dirty-flag"] !== undefined && { dirty: j["dirty-flag"] }),
      ...(dataFile !== undefined && { dataFile }),
    };
  }

  /** Creates a blank disk. Refuses to overwrite an existing file (qemu-img would truncate it). */
  async create(path: string, opts: { format: DiskFormat; sizeBytes: number }): Promise<void> {
    const abs = resolve(path);
    checkSize(abs, opts.sizeBytes);
    await intoNewFile(abs, () => this.exec("create", abs, ["create", "-q", "-f", opts.format, "--", abs, String(opts.sizeBytes)], 60_000));
  }

  /**
   * Creates a thin copy-on-write clone of `backingFile`: reads come from the
   * base, writes land in the new qcow2. The base must then never change.
   * `backingFormat` is recorded in the overlay so QEMU never probes the base.
   * `sizeBytes` may grow the disk beyond the base; it may not shrink it.
   *
   * `baseVirtualSize`: the base's size as hostd read it itself (from a file it
   * opened for a caller). qemu-img then records `backingFile` without opening
   * it (`-u`), so a name swapped after hostd checked it is never followed by
   * root; QEMU opens it later as the VM's own user.
   */
  async createOverlay(path: string, opts: { backingFile: string; backingFormat: string; sizeBytes?: number; baseVirtualSize?: number }): Promise<void> {
    const abs = resolve(path);
    if (!isAbsolute(opts.backingFile)) {
      // qemu-img would record a relative name and resolve it against the overlay's directory.
      throw new QemuImgError("invalid", `The backing file must be an absolute path, got "${opts.backingFile}".`, abs);
    }
    const known = opts.baseVirtualSize;
    const size = opts.sizeBytes ?? known;
    if (size !== undefined) {
      checkSize(abs, size);
      // The base may be in use by other VMs' overlays: read it force-shared.
      const baseSize = known ?? (await this.info(opts.backingFile, { shared: true, format: opts.backingFormat })).virtualSize;
      if (size < baseSize) {
        throw new QemuImgError(
          "shrink_refused",
          `The disk size ${size} bytes is smaller than its base image ${opts.backingFile} (${baseSize} bytes); ` +
            `use a size of at least ${baseSize} bytes.`,
          abs,
        );
      }
    }
    const args = ["create", "-q", "-f", "qcow2", ...(known !== undefined ? ["-u"] : []), "-b", opts.backingFile, "-F", opts.backingFormat, "--", abs];
    if (size !== undefined) args.push(String(size));
    await intoNewFile(abs, () => this.exec("create", abs, args, 60_000));
  }

  /**
   * Points a qcow2 overlay at another copy of the same base, without reading
   * either (`-u`): a disk moved to another host reads through that host's
   * cached copy of the base, checked by sha256 before.
   */
  async rebaseUnsafe(path: string, opts: { backingFile: string; backingFormat: string }): Promise<void> {
    const abs = resolve(path);
    if (!isAbsolute(opts.backingFile)) throw new QemuImgError("invalid", `The backing file must be an absolute path, got "${opts.backingFile}".`, abs);
    await this.exec("rebase", abs, ["rebase", "-q", "-u", "-f", "qcow2", "-b", opts.backingFile, "-F", opts.backingFormat, "--", abs], 60_000);
  }

  /**
   * Copies `src` into a new standalone image at `dst` (no backing file), e.g.
   * a full clone of a cached base. Large images take a while: the default
   * timeout is an hour. A failed copy leaves no `dst` behind.
   */
  async convert(src: string, dst: string, opts: { dstFormat: DiskFormat; srcFormat?: string; timeoutMs?: number }): Promise<void> {
    const absSrc = resolve(src);
    const absDst = resolve(dst);
    const args = ["convert", "-q", "-O", opts.dstFormat];
    if (opts.srcFormat) args.push("-f", opts.srcFormat);
    args.push("--", absSrc, absDst);
    await intoNewFile(absDst, () => this.exec("convert", absSrc, args, opts.timeoutMs ?? 3_600_000));
  }

  /**
   * Grows a disk to `sizeBytes`. Shrinking loses the guest's data past the
   * new end, so it is refused here (and `--shrink` is never passed); an
   * equal size is a no-op. Fails with "locked" while a VM runs the disk:
   * live resizes go through QMP block_resize instead.
   */
  async resize(path: string, sizeBytes: number, opts: { format: DiskFormat }): Promise<void> {
    const abs = resolve(path);
    checkSize(abs, sizeBytes);
    const cur = await this.info(abs, { format: opts.format });
    if (sizeBytes < cur.virtualSize) {
      throw new QemuImgError(
        "shrink_refused",
        `Refusing to shrink ${abs} from ${cur.virtualSize} to ${sizeBytes} bytes: it would destroy data at the end of the disk. ` +
          `Disks can only grow; to get a smaller disk, create a new one.`,
        abs,
      );
    }
    if (sizeBytes === cur.virtualSize) return;
    // Opened without its backing file: a grow needs none, and the backing name of a clone of a
    // host path is the caller's to change (root must not follow it; QEMU opens it as the VM's user).
    const image = JSON.stringify({ driver: opts.format, file: { driver: "file", filename: abs }, ...(opts.format === "qcow2" && { backing: null }) });
    await this.exec("resize", abs, ["resize", "-q", "--", `json:${image}`, String(sizeBytes)], 60_000);
  }

  private async exec(op: Op, path: string, args: string[], timeoutMs: number): Promise<{ stdout: string }> {
    try {
      return await run(this.binary, args, { timeoutMs });
    } catch (e) {
      throw classify(op, path, e);
    }
  }
}

type Op = "read" | "create" | "convert" | "resize" | "rebase";
const verb: Record<Op, string> = { read: "read", create: "create", convert: "copy", resize: "resize", rebase: "rebase" };

/** Turns a failed qemu-img run into a typed error with a sentence a user can act on. */
function classify(op: Op, path: string, e: unknown): QemuImgError {
  if (!(e instanceof ExecError)) {
    return new QemuImgError("failed", `Could not ${verb[op]} image ${path}: ${String(e)}`, path, { cause: e });
  }
  const said = qemuImgSays(e.stderr);
  const fail = (kind: QemuImgErrorKind, message: string) => new QemuImgError(kind, message, path, { cause: e });
  if (e.exitCode === null && e.signal === null && /ENOENT/.test(e.message)) {
    return fail("failed", `qemu-img was not found ("${e.command}"); install qemu-utils or set HOSTD_QEMU_IMG.`);
  }
  if (e.signal !== null) return fail("failed", `qemu-img was stopped (${e.signal}) while trying to ${verb[op]} ${path}; it may have timed out.`);
  if (/Failed to get .*lock|Is another process using the image/i.test(e.stderr)) {
    return fail("locked", `Image ${path} is in use by another process (a running VM?); stop it first${op === "read" ? " or read it force-shared" : ""}. qemu-img said: ${said}`);
  }
  if (/No space left on device|ENOSPC/i.test(e.stderr)) {
    return fail("no_space", `The filesystem holding ${path} is full; free some space and retry. qemu-img said: ${said}`);
  }
  if (/No such file or directory/i.test(e.stderr)) {
    return fail("not_found", `Could not ${verb[op]} image ${path}: a file or directory it needs does not exist. qemu-img said: ${said}`);
  }
  if (/Permission denied/i.test(e.stderr)) {
    return fail("failed", `hostd may not access ${path} (permission denied); check the file's owner and mode. qemu-img said: ${said}`);
  }
  if (/Image is not in .* format|Unknown file format|Unknown driver|Invalid (image )?size|must be a multiple|Invalid parameter|Could not open backing image|unrecognized option|invalid option/i.test(e.stderr)) {
    return fail("invalid", `Could not ${verb[op]} image ${path}: ${said}`);
  }
  return fail("failed", `qemu-img could not ${verb[op]} ${path}: ${said || e.message}`);
}

/** stderr without the "qemu-img: " prefixes, joined on one line. */
function qemuImgSays(stderr: string): string {
  return stderr
    .split("\n")
    .map((l) => l.replace(/^qemu-img: /, "").trim())
    .filter((l) => l !== "")
    .join(" ");
}

function checkSize(path: string, sizeBytes: number): void {
  // qemu-img silently rounds up to whole sectors on create and rejects other sizes on resize: say so up front.
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0 || sizeBytes % SECTOR !== 0) {
    throw new QemuImgError("invalid", `Disk size must be a positive whole number of 512-byte sectors, got ${sizeBytes} for ${path}.`, path);
  }
}

/**
 * Creates `path` empty, 0600, refusing one that exists (qemu-img would
 * truncate it), and runs `make` to fill it; a failure leaves no file.
 */
async function intoNewFile(path: string, make: () => Promise<unknown>): Promise<void> {
  try {
    await (await open(path, "wx", 0o600)).close();
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === "EEXIST") throw new QemuImgError("exists", `${path} already exists; refusing to overwrite it. Remove it first if it is not needed.`, path);
    if (err.code === "ENOENT" || err.code === "ENOTDIR") {
      throw new QemuImgError("not_found", `Could not create image ${path}: its directory does not exist.`, path, { cause: e });
    }
    throw new QemuImgError("failed", `Could not create image ${path}: ${err.message}`, path, { cause: e });
  }
  try {
    await make();
  } catch (e) {
    // The file is the one made above, so whatever is in it is a half-written image.
    await rm(path, { force: true });
    throw e;
  }
}

/** What an image file is, read from its first bytes by hostd itself (qemu-img never probes a caller's file). */
export type ImageHeader =
  | { format: "qcow2"; virtualSize: number; /** It refers to another host file: a backing file or an external data file. */ refersTo?: string }
  | { format: "raw" }
  /** A format hostd does not take from host paths (some of them refer to other files: vmdk extents, qed backing files). */
  | { format: "other"; name: string };

const QCOW2_MAGIC = 0x514649fb;
/** qcow2 v3 incompatible feature bit: the guest's data lives in an external file. */
const QCOW2_INCOMPAT_DATA_FILE = 1n << 2n;
const OTHER_FORMATS: [string, string][] = [
  ["QED\0", "qed"],
  ["KDMV", "vmdk"],
  ["COWD", "vmdk"],
  ["# Disk DescriptorFile", "vmdk"],
  ["vhdxfile", "vhdx"],
  ["conectix", "vpc"],
  ["LUKS\xba\xbe", "luks"],
  ["WithoutFreeSpace", "parallels"],
  ["WithouFreSpacExt", "parallels"],
  ["Bochs Virtual HD Image", "bochs"],
];
const VDI_SIGNATURE = 0xbeda107f;

/**
 * Reads an image's header from an open file: qcow2 (with what it refers
 * to), a format hostd does not take, or raw (anything else).
 */
export function readImageHeader(fd: number): ImageHeader {
  const b = Buffer.alloc(512);
  const n = readSync(fd, b, 0, b.length, 0);
  const h = b.subarray(0, n);
  if (n >= 32 && h.readUInt32BE(0) === QCOW2_MAGIC) {
    const version = h.readUInt32BE(4);
    const refersTo =
      h.readBigUInt64BE(8) !== 0n
        ? "a backing file"
        : version >= 3 && n >= 80 && (h.readBigUInt64BE(72) & QCOW2_INCOMPAT_DATA_FILE) !== 0n
          ? "an external data file"
          : undefined;
    return { format: "qcow2", virtualSize: Number(h.readBigUInt64BE(24)), ...(refersTo && { refersTo }) };
  }
  const other = OTHER_FORMATS.find(([magic]) => h.subarray(0, magic.length).equals(Buffer.from(magic, "latin1")));
  if (other) return { format: "other", name: other[1] };
  if (n >= 0x44 && h.readUInt32LE(0x40) === VDI_SIGNATURE) return { format: "other", name: "vdi" };
  return { format: "raw" };
}

/** {@link readImageHeader} of a file hostd made itself. */
export function readImageHeaderOf(path: string): ImageHeader {
  const fd = openSync(path, "r");
  try {
    return readImageHeader(fd);
  } finally {
    closeSync(fd);
  }
}
