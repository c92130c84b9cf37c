/**
 * The per-host cache of base images, keyed by sha256. A base image is
 * downloaded once, checked against the sha256 the user declared, and kept
 * read-only as `<dir>/<sha256>.img` with its metadata in `<sha256>.json`;
 * VM disks are overlays or copies of it.
 *
 * The sha256 names the content, not the URL: two URLs for the same sha256
 * share one cache entry and one in-flight download, and a partial download
 * (`<sha256>.part`) can be resumed from any server that has the file.
 * Only a fully verified file ever gets the `.img` name, by an atomic rename,
 * so a crash leaves at most a `.part` behind, never a wrong image.
 */
import { createHash, Hash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { chmod, mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { z } from "zod";
import { Logger } from "../log";
import { ImageInfo, QemuImg } from "./qemu-img";

/** What went wrong, for the service layer to map; never branch on the message. */
export type ImageCacheErrorKind =
  /** A malformed sha256, or a URL that is not http(s) or carries credentials. */
  | "invalid"
  /** The download completed but its sha256 is not the declared one. */
  | "checksum_mismatch"
  /**
   * The verified file is not a standalone qcow2 or raw image: another
   * format, or a backing/data file that would make VMs read other host files.
   */
  | "unsupported_image"
  /** The server was unreachable, answered an HTTP error, stalled or hung up. */
  | "download_failed"
  /** The cache's filesystem is full. */
  | "no_space"
  /** remove() of an image that is being downloaded. */
  | "busy"
  /** Anything else (a filesystem error, qemu-img cannot read the file). */
  | "failed";

export interface ImageCacheErrorDetails {
  sha256?: string;
  url?: string;
  /** HTTP status of a failed download. */
  status?: number;
  /** errno or undici code of a failed download or write (ECONNREFUSED, UND_ERR_SOCKET, ENOSPC…). */
  errno?: string;
  /** For checksum_mismatch. */
  expected?: string;
  actual?: string;
  /** Whether a partial download was kept to resume from. */
  partKept?: boolean;
}

export class ImageCacheError extends Error {
  override readonly name = "ImageCacheError";
  constructor(
    readonly kind: ImageCacheErrorKind,
    message: string,
    readonly details: ImageCacheErrorDetails = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface CachedImage {
  sha256: string;
  /** Absolute path of the verified, read-only image. */
  path: string;
  sizeBytes: number;
  /** The URL it was downloaded from (the first one, if several name the same sha256). */
  url: string;
  /** As detected by qemu-img ("qcow2", "raw", …); pass it as the overlay's backing format. */
  format: string;
  /** ISO 8601. */
  downloadedAt: string;
}

/** One download in flight, for `hostd` CLI status output. */
export interface DownloadProgress {
  sha256: string;
  url: string;
  /** Bytes in the part file so far, including any resumed prefix. */
  bytes: number;
  /** From Content-Length or Content-Range, when the server sent one. */
  totalBytes?: number;
  /** ISO 8601. */
  startedAt: string;
}

export interface ImageCacheOptions {
  /** Injected for tests; defaults to the global fetch. */
  fetchImpl?: typeof fetch;
  /** How often a running download logs its progress. Default 2000. */
  progressIntervalMs?: number;
  /** A download that receives no data for this long fails. Default 60 000. */
  stallTimeoutMs?: number;
  qemuImg?: QemuImg;
}

const SHA256 = /^[0-9a-f]{64}$/;
const BASE_FORMATS: readonly string[] = ["qcow2", "raw"];

const Meta = z.object({
  sha256: z.string().regex(SHA256),
  url: z.string(),
  sizeBytes: z.int().nonnegative(),
  format: z.string(),
  downloadedAt: z.string(),
});
type Meta = z.infer<typeof Meta>;

/** Thrown into the fetch by the stall timer, so the catch can tell a stall from other aborts. */
class Stalled extends Error {}

export class ImageCache {
  private readonly fetch: typeof fetch;
  private readonly progressIntervalMs: number;
  private readonly stallTimeoutMs: number;
  private readonly qemuImg: QemuImg;
  /** One promise per sha256 being ensured: concurrent callers share it. */
  private readonly inflight = new Map<string, Promise<CachedImage>>();
  private readonly active = new Map<string, DownloadProgress>();

  constructor(
    readonly dir: string,
    private readonly log: Logger,
    opts: ImageCacheOptions = {},
  ) {
    this.fetch = opts.fetchImpl ?? globalThis.fetch;
    this.progressIntervalMs = opts.progressIntervalMs ?? 2000;
    this.stallTimeoutMs = opts.stallTimeoutMs ?? 60_000;
    this.qemuImg = opts.qemuImg ?? new QemuImg();
  }

  /**
   * Returns the cached image with this sha256, downloading it from `url`
   * first if needed. A cached image is returned without any network access.
   * Concurrent calls for one sha256 share one download, and its outcome.
   */
  ensure(url: string, sha256: string): Promise<CachedImage> {
    try {
      checkSha256(sha256);
      checkUrl(url, sha256);
    } catch (e) {
      return Promise.reject(e);
    }
    const running = this.inflight.get(sha256);
    if (running) return running;
    const p = this.ensureOnce(url, sha256).finally(() => this.inflight.delete(sha256));
    this.inflight.set(sha256, p);
    return p;
  }

  /**
   * The cached image with this sha256, if its file is present and has the
   * size its metadata records. Cheap: never hashes; ensure() re-verifies
   * files whose metadata is missing.
   */
  async lookup(sha256: string): Promise<CachedImage | undefined> {
    checkSha256(sha256);
    const [meta, size] = await Promise.all([this.readMeta(sha256), fileSize(this.imgPath(sha256))]);
    return meta && size === meta.sizeBytes ? this.withPath(meta) : undefined;
  }

  /** Every cached image, oldest first, from the metadata files. */
  async list(): Promise<CachedImage[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw e;
    }
    const shas = names.filter((n) => /^[0-9a-f]{64}\.json$/.test(n)).map((n) => n.slice(0, 64));
    const found = await Promise.all(shas.map((s) => this.lookup(s)));
    return found.filter((c): c is CachedImage => c !== undefined).sort((a, b) => a.downloadedAt.localeCompare(b.downloadedAt));
  }

  /**
   * Deletes a cached image, its metadata and any partial download. Whether
   * VM disks still use it as a backing file is the caller's to check first.
   * Returns whether an image was there.
   */
  async remove(sha256: string): Promise<boolean> {
    checkSha256(sha256);
    if (this.inflight.has(sha256)) {
      throw new ImageCacheError("busy", `Image ${sha256} is being downloaded; wait for the download to finish, then remove it.`, { sha256 });
    }
    const existed = (await fileSize(this.imgPath(sha256))) !== undefined;
    await Promise.all([this.imgPath(sha256), this.metaPath(sha256), this.partPath(sha256)].map((f) => rm(f, { force: true })));
    if (existed) this.log.info("removed cached image", { sha256 });
    return existed;
  }

  /** Downloads in flight, for status output. */
  progress(): DownloadProgress[] {
    return [...this.active.values()].map((p) => ({ ...p }));
  }

  private async ensureOnce(url: string, sha256: string): Promise<CachedImage> {
    try {
      await mkdir(this.dir, { recursive: true });
    } catch (e) {
      throw fsError(e, `Could not create the image cache directory ${this.dir}`, { sha256 });
    }
    const cached = await this.verifyCached(url, sha256).catch((e: unknown) => {
      throw fsError(e, `Could not check the cached image ${sha256}`, { sha256, url });
    });
    if (cached) return cached;
    return this.download(url, sha256);
  }

  /**
   * An already-cached image, checked by size against its metadata. Without
   * (matching) metadata, e.g. after a crash between rename and metadata
   * write, the file is hashed again: kept if it matches, deleted if not.
   */
  private async verifyCached(url: string, sha256: string): Promise<CachedImage | undefined> {
    const img = this.imgPath(sha256);
    const size = await fileSize(img);
    if (size === undefined) return undefined;
    const meta = await this.readMeta(sha256);
    if (meta && meta.sizeBytes === size) return this.withPath(meta);

    this.log.warn("cached image has no matching metadata; verifying it again", { sha256, sizeBytes: size });
    const actual = await hashFile(createHash("sha256"), img).then((h) => h.digest("hex"));
    if (actual !== sha256) {
      this.log.warn("cached image does not match its sha256; downloading it again", { sha256, actual });
      await Promise.all([rm(img, { force: true }), rm(this.metaPath(sha256), { force: true })]);
      return undefined;
    }
    const rec: Meta = {
      sha256,
      url: meta?.url ?? url,
      sizeBytes: size,
      format: meta?.format ?? (await this.inspect(img, sha256, url)),
      downloadedAt: meta?.downloadedAt ?? new Date().toISOString(),
    };
    await this.writeMeta(rec);
    return this.withPath(rec);
  }

  /** Downloads (or resumes) into the part file, verifies, and installs it. */
  private async download(url: string, sha256: string): Promise<CachedImage> {
    const log = this.log.child({ sha256, url: displayUrl(url) });
    const state: DownloadProgress = { sha256, url, bytes: 0, startedAt: new Date().toISOString() };
    this.active.set(sha256, state);
    let last = { at: Date.now(), bytes: 0 };
    const ticker = setInterval(() => {
      const now = Date.now();
      // Clamped: bytes drop to 0 when a server ignores the resume range.
      const rate = Math.round((Math.max(0, state.bytes - last.bytes) * 1000) / Math.max(1, now - last.at));
      last = { at: now, bytes: state.bytes };
      log.info("downloading image", {
        bytes: state.bytes,
        totalBytes: state.totalBytes,
        percent: state.totalBytes ? Math.floor((state.bytes * 1000) / state.totalBytes) / 10 : undefined,
        bytesPerSecond: rate,
      });
    }, this.progressIntervalMs);
    ticker.unref();
    const t0 = Date.now();
    try {
      const resumedFrom = (await fileSize(this.partPath(sha256))) ?? 0;
      last = { at: Date.now(), bytes: resumedFrom };
      log.info("starting image download", { resumeFrom: resumedFrom || undefined });
      const { bytes, digest } = await this.transfer(url, sha256, state, log);
      const part = this.partPath(sha256);
      if (digest !== sha256) {
        await rm(part, { force: true });
        throw new ImageCacheError(
          "checksum_mismatch",
          `The file at ${displayUrl(url)} has sha256 ${digest}, not the expected ${sha256}; ` +
            `check the image's checksum, or whether the URL now serves a different file. The download was discarded.`,
          { sha256, url, expected: sha256, actual: digest },
        );
      }
      let format: string;
      try {
        format = await this.inspect(part, sha256, url);
        await chmod(part, 0o444); // a base image must never change under its overlays
        await rename(part, this.imgPath(sha256));
      } catch (e) {
        await rm(part, { force: true });
        throw e;
      }
      const rec: Meta = { sha256, url, sizeBytes: bytes, format, downloadedAt: new Date().toISOString() };
      await this.writeMeta(rec);
      log.info("image cached", { sizeBytes: bytes, format, seconds: Math.round((Date.now() - t0) / 100) / 10 });
      return this.withPath(rec);
    } catch (e) {
      const err = e instanceof ImageCacheError ? e : fsError(e, `Could not cache the image from ${displayUrl(url)}`, { sha256, url });
      log.warn("image download failed", { kind: err.kind, error: err.message });
      throw err;
    } finally {
      clearInterval(ticker);
      this.active.delete(sha256);
    }
  }

  /**
   * Moves the bytes into the part file, hashing as they arrive. Resumes an
   * existing part with a Range request (re-hashing it first, so the digest
   * covers the whole file); starts over when the server ignores the range.
   * On failure the part is kept only if the server supports ranges.
   */
  private async transfer(url: string, sha256: string, state: DownloadProgress, log: Logger): Promise<{ bytes: number; digest: string }> {
    const part = this.partPath(sha256);
    let offset = (await fileSize(part)) ?? 0;
    // An existing part was only kept because its server supported ranges.
    let resumable = offset > 0;
    const fail = async (kind: ImageCacheErrorKind, message: string, details: ImageCacheErrorDetails, cause?: unknown): Promise<never> => {
      const keep = kind === "download_failed" && resumable;
      if (!keep) await rm(part, { force: true });
      throw new ImageCacheError(kind, message + (keep ? " The partial download was kept; retrying resumes it." : ""), { sha256, url, ...details, partKept: keep }, { cause });
    };

    for (;;) {
      let hash = createHash("sha256");
      if (offset > 0) await hashFile(hash, part);
      state.bytes = offset;
      delete state.totalBytes;

      const ac = new AbortController();
      const stall = setTimeout(() => ac.abort(new Stalled()), this.stallTimeoutMs);
      try {
        let res: Response;
        try {
          res = await this.fetch(url, { headers: offset > 0 ? { Range: `bytes=${offset}-` } : {}, signal: ac.signal, redirect: "follow" });
        } catch (e) {
          return await fail("download_failed", `Could not reach ${displayUrl(url)}: ${describeNetError(e, ac.signal, this.stallTimeoutMs)}.`, { errno: errnoOf(e) }, e);
        }

        let append = false;
        if (res.status === 206 && offset > 0) {
          const range = parseContentRange(res.headers.get("content-range"));
          if (!range || range.start !== offset) {
            await res.body?.cancel();
            log.warn("server answered a different range than requested; starting over", { requested: offset, contentRange: res.headers.get("content-range") });
            await rm(part, { force: true });
            offset = 0;
            continue;
          }
          append = true;
          resumable = true;
          if (range.total !== undefined) state.totalBytes = range.total;
          log.info("resuming download", { from: offset, totalBytes: state.totalBytes });
        } else if (res.status === 416 && offset > 0) {
          await res.body?.cancel();
          // Nothing after `offset`: the part may already be whole (a crash before the rename).
          const total = parseContentRange(res.headers.get("content-range"))?.total;
          if (total === offset) return { bytes: offset, digest: hash.digest("hex") };
          log.warn("server refused the resume range; starting over", { from: offset });
          await rm(part, { force: true });
          offset = 0;
          continue;
        } else if (res.ok) {
          if (offset > 0) log.info("server does not support resuming; starting over", { discarded: offset });
          offset = 0;
          hash = createHash("sha256");
          state.bytes = 0;
          resumable = res.headers.get("accept-ranges")?.toLowerCase() === "bytes";
          const len = Number(res.headers.get("content-length") ?? NaN);
          if (Number.isSafeInteger(len) && len >= 0) state.totalBytes = len;
        } else {
          // An error answer says nothing about range support, so an existing part is kept.
          await res.body?.cancel();
          return await fail("download_failed", `Downloading ${displayUrl(url)} failed: HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ""}.`, { status: res.status });
        }

        const out = createWriteStream(part, { flags: append ? "a" : "w", flush: true });
        let writeError: unknown;
        out.once("error", (e) => (writeError = e));
        try {
          const body = res.body ?? emptyBody();
          await pipeline(
            body,
            async function* (source: AsyncIterable<Uint8Array>) {
              for await (const chunk of source) {
                stall.refresh();
                hash.update(chunk);
                state.bytes += chunk.byteLength;
                yield chunk;
              }
            },
            out,
          );
        } catch (e) {
          if (writeError !== undefined) {
            const code = errnoOf(writeError);
            if (code === "ENOSPC") return await fail("no_space", `The image cache's filesystem (${this.dir}) is full; free some space and retry.`, { errno: code }, writeError);
            return await fail("failed", `Could not write ${part}: ${(writeError as Error).message}.`, { ...(code && { errno: code }) }, writeError);
          }
          const code = errnoOf(e);
          return await fail(
            "download_failed",
            `Downloading ${displayUrl(url)} failed after ${state.bytes} bytes: ${describeNetError(e, ac.signal, this.stallTimeoutMs)}.`,
            { errno: code },
            e,
          );
        }
        if (state.totalBytes !== undefined && state.bytes !== state.totalBytes) {
          return await fail("download_failed", `Downloading ${displayUrl(url)} ended after ${state.bytes} of ${state.totalBytes} bytes.`, {});
        }
        return { bytes: state.bytes, digest: hash.digest("hex") };
      } finally {
        clearTimeout(stall);
      }
    }
  }

  /**
   * The image's format, once it is known to be safe as a base: qcow2 or raw
   * and standalone. The file comes from elsewhere: a backing file or qcow2
   * data file in it would point VMs at files on this host.
   */
  private async inspect(path: string, sha256: string, url: string): Promise<string> {
    let info: ImageInfo;
    try {
      // Force-shared: a cached base may be open in running VMs.
      info = await this.qemuImg.info(path, { shared: true });
    } catch (e) {
      throw new ImageCacheError("failed", `qemu-img cannot read the image ${sha256}: ${(e as Error).message}`, { sha256, url }, { cause: e });
    }
    const from = `The image from ${displayUrl(url)}`;
    if (!BASE_FORMATS.includes(info.format)) {
      throw new ImageCacheError("unsupported_image", `${from} is in ${info.format} format; base images must be qcow2 or raw (convert it with qemu-img convert -O qcow2).`, { sha256, url });
    }
    if (info.backingFile !== undefined || info.dataFile !== undefined) {
      throw new ImageCacheError(
        "unsupported_image",
        `${from} refers to another file (${info.backingFile ?? info.dataFile}); base images must be standalone (flatten it with qemu-img convert).`,
        { sha256, url },
      );
    }
    return info.format;
  }

  private async readMeta(sha256: string): Promise<Meta | undefined> {
    let text: string;
    try {
      text = await readFile(this.metaPath(sha256), "utf8");
    } catch {
      return undefined;
    }
    try {
      const meta = Meta.parse(JSON.parse(text));
      return meta.sha256 === sha256 ? meta : undefined;
    } catch {
      this.log.warn("ignoring unreadable image metadata", { sha256, path: this.metaPath(sha256) });
      return undefined;
    }
  }

  /** Atomic: a reader sees the old metadata or the new, never half of it. */
  private async writeMeta(meta: Meta): Promise<void> {
    const tmp = this.metaPath(meta.sha256) + ".tmp";
    try {
      await writeFile(tmp, JSON.stringify(meta, null, 2) + "\n");
      await rename(tmp, this.metaPath(meta.sha256));
    } catch (e) {
      await rm(tmp, { force: true });
      throw fsError(e, `Could not write the metadata of image ${meta.sha256}`, { sha256: meta.sha256 });
    }
  }

  private withPath(meta: Meta): CachedImage {
    return { ...meta, path: this.imgPath(meta.sha256) };
  }
  private imgPath(sha256: string): string {
    return join(this.dir, `${sha256}.img`);
  }
  private metaPath(sha256: string): string {
    return join(this.dir, `${sha256}.json`);
  }
  private partPath(sha256: string): string {
    return join(this.dir, `${sha256}.part`);
  }
}

function checkSha256(sha256: string): void {
  if (!SHA256.test(sha256)) {
    throw new ImageCacheError("invalid", `"${sha256}" is not a sha256: expected 64 lowercase hexadecimal characters.`, { sha256 });
  }
}

function checkUrl(url: string, sha256: string): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ImageCacheError("invalid", `"${url}" is not a valid URL.`, { sha256, url });
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    throw new ImageCacheError("invalid", `Images can only be downloaded over http or https, not ${u.protocol.replace(/:$/, "")} (${displayUrl(url)}).`, { sha256 });
  }
  if (u.username || u.password) {
    // They would end up in logs and metadata; fetch refuses them anyway.
    throw new ImageCacheError("invalid", `Image URLs must not contain credentials (${displayUrl(url)}).`, { sha256 });
  }
}

/** The URL without credentials or query (which may hold signed tokens), for logs and messages. */
function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return "(invalid URL)";
  }
}

function parseContentRange(h: string | null): { start: number; total?: number } | undefined {
  const m = h ? /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(h.trim()) : null;
  if (!m) {
    const unsatisfied = h ? /^bytes \*\/(\d+)$/.exec(h.trim()) : null;
    return unsatisfied ? { start: -1, total: Number(unsatisfied[1]) } : undefined;
  }
  return { start: Number(m[1]), ...(m[2] !== "*" && { total: Number(m[2]) }) };
}

async function fileSize(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch {
    return undefined;
  }
}

async function hashFile(hash: Hash, path: string): Promise<Hash> {
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash;
}

function emptyBody(): AsyncIterable<Uint8Array> {
  return (async function* () {})();
}

/** The errno or undici code anywhere in an error's cause chain. */
function errnoOf(e: unknown): string | undefined {
  for (let cur: unknown = e, depth = 0; cur && depth < 5; cur = (cur as { cause?: unknown }).cause, depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === "string") return code;
  }
  return undefined;
}

/** The most specific message in the cause chain ("connect ECONNREFUSED …", "other side closed"), with its code. */
function describeNetError(e: unknown, signal: AbortSignal, stallMs: number): string {
  if (signal.aborted && signal.reason instanceof Stalled) return `no data received for ${stallMs / 1000} s`;
  // Duck-typed: undici's errors may come from another realm, where instanceof Error fails.
  let message = "";
  for (let cur: unknown = e, depth = 0; cur && depth < 5; cur = (cur as { cause?: unknown }).cause, depth++) {
    const m = (cur as { message?: unknown }).message;
    if (typeof m === "string" && m.trim() !== "") message = m.trim();
  }
  const code = errnoOf(e);
  if (!message) message = String(e);
  return code && !message.includes(code) ? `${message} (${code})` : message;
}

function fsError(e: unknown, what: string, details: ImageCacheErrorDetails): ImageCacheError {
  if (e instanceof ImageCacheError) return e;
  const code = errnoOf(e);
  if (code === "ENOSPC") return new ImageCacheError("no_space", `${what}: the filesystem is full; free some space and retry.`, { ...details, errno: code }, { cause: e });
  return new ImageCacheError("failed", `${what}: ${(e as Error).message ?? String(e)}`, { ...details, ...(code && { errno: code }) }, { cause: e });
}
