/**
 * ImageCache against a local HTTP server on 127.0.0.1 serving a generated
 * file (with or without Range support, and able to hang up or stall
 * mid-body), real qemu-img for the format, and a temp dir removed afterwards.
 */
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "../exec";
import { Logger } from "../log";
import { ImageCache, ImageCacheError, ImageCacheErrorKind, ImageCacheOptions } from "./image-cache";
import { QemuImg } from "./qemu-img";

const MiB = 1024 * 1024;
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

const data = randomBytes(3 * MiB);
const dataSha = sha(data);

/** What the next requests get; tests flip these. */
interface ServerConfig {
  ranges: boolean;
  /** Hang up after this many body bytes, on the next request only. */
  cutAfter?: number;
  /** Send this many body bytes, then nothing, on the next request only. */
  stallAfter?: number;
  /** Trickle the body out in small chunks. */
  slow?: boolean;
  /** Served at /other. */
  other?: Buffer;
}

let server: http.Server;
let base: string;
let cfg: ServerConfig;
let requests: { url: string; range?: string }[];
let dir: string;
let lines: string[];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    requests.push({ url: req.url ?? "", ...(req.headers.range !== undefined && { range: req.headers.range }) });
    const file = req.url === "/image.raw" ? data : req.url === "/other" ? cfg.other : undefined;
    if (!file) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found");
      return;
    }
    const headers: http.OutgoingHttpHeaders = { "content-type": "application/octet-stream" };
    if (cfg.ranges) headers["accept-ranges"] = "bytes";
    let start = 0;
    let status = 200;
    const m = cfg.ranges && req.headers.range ? /^bytes=(\d+)-$/.exec(req.headers.range) : null;
    if (m) {
      start = Number(m[1]);
      if (start >= file.length) {
        res.writeHead(416, { ...headers, "content-range": `bytes */${file.length}` }).end();
        return;
      }
      status = 206;
      headers["content-range"] = `bytes ${start}-${file.length - 1}/${file.length}`;
    }
    const body = file.subarray(start);
    headers["content-length"] = body.length;
    res.writeHead(status, headers);

    if (cfg.cutAfter !== undefined) {
      const n = cfg.cutAfter;
      delete cfg.cutAfter;
      res.write(body.subarray(0, n), () => res.socket?.destroy());
      return;
    }
    if (cfg.stallAfter !== undefined) {
      const n = cfg.stallAfter;
      delete cfg.stallAfter;
      res.write(body.subarray(0, n)); // and never end
      return;
    }
    if (cfg.slow) {
      let off = 0;
      const step = () => {
        if (res.destroyed) return;
        if (off >= body.length) return void res.end();
        res.write(body.subarray(off, off + 64 * 1024));
        off += 64 * 1024;
        setTimeout(step, 5);
      };
      step();
      return;
    }
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

beforeEach(() => {
  cfg = { ranges: true };
  requests = [];
  lines = [];
  dir = mkdtempSync(join(tmpdir(), "image-cache-test-"));
});

afterEach(() => {
  server.closeAllConnections(); // stalled responses
  rmSync(dir, { recursive: true, force: true });
});

function cache(opts: ImageCacheOptions = {}): ImageCache {
  return new ImageCache(dir, new Logger({}, "debug", (l) => lines.push(l)), opts);
}

async function failure(p: Promise<unknown>, kind: ImageCacheErrorKind): Promise<ImageCacheError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!(e instanceof ImageCacheError)) throw new Error(`expected an ImageCacheError, got ${String(e)}`);
  expect(e.kind).toBe(kind);
  return e;
}

const part = () => join(dir, `${dataSha}.part`);
const noNetwork = (() => {
  throw new Error("network used");
}) as unknown as typeof fetch;

test("downloads, verifies, and installs a read-only image with metadata", async () => {
  const img = await cache().ensure(`${base}/image.raw`, dataSha);
  expect(img).toMatchObject({ sha256: dataSha, path: join(dir, `${dataSha}.img`), sizeBytes: data.length, url: `${base}/image.raw`, format: "raw" });
  expect(Date.parse(img.downloadedAt)).not.toBeNaN();
  expect(sha(readFileSync(img.path))).toBe(dataSha);
  expect(statSync(img.path).mode & 0o777).toBe(0o444);
  expect(readdirSync(dir).sort()).toEqual([`${dataSha}.img`, `${dataSha}.json`]);
  expect(requests).toEqual([{ url: "/image.raw" }]);
});

/** Makes an image with qemu-img in a scratch dir and returns its bytes. */
async function made(make: (scratch: string) => Promise<string>): Promise<Buffer> {
  const scratch = mkdtempSync(join(tmpdir(), "image-cache-src-"));
  try {
    return readFileSync(await make(scratch));
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

test("detects qcow2 images with qemu-img", async () => {
  cfg.other = await made(async (s) => {
    await new QemuImg().create(join(s, "a.qcow2"), { format: "qcow2", sizeBytes: 16 * MiB });
    return join(s, "a.qcow2");
  });
  const img = await cache().ensure(`${base}/other`, sha(cfg.other));
  expect(img.format).toBe("qcow2");
});

test("images that are not standalone qcow2 or raw → unsupported_image, nothing left behind", async () => {
  const qi = new QemuImg();
  const overlay = await made(async (s) => {
    await qi.create(join(s, "base.qcow2"), { format: "qcow2", sizeBytes: MiB });
    await qi.createOverlay(join(s, "ov.qcow2"), { backingFile: join(s, "base.qcow2"), backingFormat: "qcow2" });
    return join(s, "ov.qcow2");
  });
  const withDataFile = await made(async (s) => {
    await run("qemu-img", ["create", "-q", "-f", "qcow2", "-o", `data_file=${join(s, "data.raw")}`, join(s, "df.qcow2"), "1M"]);
    return join(s, "df.qcow2");
  });
  const vmdk = await made(async (s) => {
    await run("qemu-img", ["create", "-q", "-f", "vmdk", join(s, "x.vmdk"), "1M"]);
    return join(s, "x.vmdk");
  });
  for (const [file, said] of [
    [overlay, /refers to another file/],
    [withDataFile, /refers to another file/],
    [vmdk, /vmdk format/],
  ] as const) {
    cfg.other = file;
    const e = await failure(cache().ensure(`${base}/other`, sha(file)), "unsupported_image");
    expect(e.message).toMatch(said);
    expect(readdirSync(dir)).toEqual([]);
  }
});

test("a cached image is returned without network, and re-verified when its metadata is missing", async () => {
  const first = await cache().ensure(`${base}/image.raw`, dataSha);
  expect(await cache({ fetchImpl: noNetwork }).ensure(`${base}/image.raw`, dataSha)).toEqual(first);

  unlinkSync(join(dir, `${dataSha}.json`));
  const again = await cache({ fetchImpl: noNetwork }).ensure(`${base}/elsewhere.raw`, dataSha);
  expect(again).toMatchObject({ sha256: dataSha, sizeBytes: data.length, format: "raw", url: `${base}/elsewhere.raw` });
  expect(existsSync(join(dir, `${dataSha}.json`))).toBe(true);
  expect(requests).toHaveLength(1);
});

test("five concurrent ensure() calls share one download", async () => {
  const c = cache();
  const all = await Promise.all(Array.from({ length: 5 }, () => c.ensure(`${base}/image.raw`, dataSha)));
  expect(requests).toHaveLength(1);
  for (const img of all) expect(img).toEqual(all[0]);
});

test("wrong sha256 → checksum_mismatch naming both, nothing left behind", async () => {
  const wrong = sha(Buffer.from("something else"));
  const e = await failure(cache().ensure(`${base}/image.raw`, wrong), "checksum_mismatch");
  expect(e.message).toContain(wrong);
  expect(e.message).toContain(dataSha);
  expect(e.details).toMatchObject({ expected: wrong, actual: dataSha });
  expect(readdirSync(dir)).toEqual([]);
});

test("HTTP 404 → download_failed with the status, nothing left behind", async () => {
  const e = await failure(cache().ensure(`${base}/missing.raw`, dataSha), "download_failed");
  expect(e.details.status).toBe(404);
  expect(e.message).toMatch(/HTTP 404/);
  expect(readdirSync(dir)).toEqual([]);
});

test("unreachable server → download_failed with the errno, nothing left behind", async () => {
  const closed = http.createServer();
  await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
  const port = (closed.address() as AddressInfo).port;
  await new Promise((r) => closed.close(r));
  const e = await failure(cache().ensure(`http://127.0.0.1:${port}/image.raw`, dataSha), "download_failed");
  expect(e.details.errno).toBe("ECONNREFUSED");
  expect(readdirSync(dir)).toEqual([]);
});

test("resume: a hang-up keeps the part; the next ensure sends Range and completes", async () => {
  cfg.cutAfter = MiB;
  const c = cache();
  const e = await failure(c.ensure(`${base}/image.raw`, dataSha), "download_failed");
  expect(e.details.partKept).toBe(true);
  const kept = statSync(part()).size;
  expect(kept).toBeGreaterThan(0);
  expect(kept).toBeLessThanOrEqual(MiB);

  const img = await c.ensure(`${base}/image.raw`, dataSha);
  expect(requests).toHaveLength(2);
  expect(requests[1]!.range).toBe(`bytes=${kept}-`);
  expect(sha(readFileSync(img.path))).toBe(dataSha);
  expect(lines.some((l) => JSON.parse(l).msg === "resuming download")).toBe(true);
  expect(existsSync(part())).toBe(false);
});

test("resume hashes the whole file: a corrupt part → checksum_mismatch and the part is gone", async () => {
  writeFileSync(part(), randomBytes(MiB));
  await failure(cache().ensure(`${base}/image.raw`, dataSha), "checksum_mismatch");
  expect(requests[0]!.range).toBe(`bytes=${MiB}-`);
  expect(readdirSync(dir)).toEqual([]);
});

test("a complete part left by a crash: the server's 416 finishes it without a body", async () => {
  writeFileSync(part(), data);
  const img = await cache().ensure(`${base}/image.raw`, dataSha);
  expect(requests).toEqual([{ url: "/image.raw", range: `bytes=${data.length}-` }]);
  expect(img.sizeBytes).toBe(data.length);
});

test("a server without Range support: a hang-up deletes the part", async () => {
  cfg.ranges = false;
  cfg.cutAfter = MiB;
  const e = await failure(cache().ensure(`${base}/image.raw`, dataSha), "download_failed");
  expect(e.details.partKept).toBe(false);
  expect(readdirSync(dir)).toEqual([]);
});

test("a server without Range support: an existing part is restarted from zero", async () => {
  cfg.ranges = false;
  writeFileSync(part(), randomBytes(MiB)); // garbage: would fail the hash if appended to
  const img = await cache().ensure(`${base}/image.raw`, dataSha);
  expect(requests[0]!.range).toBe(`bytes=${MiB}-`);
  expect(sha(readFileSync(img.path))).toBe(dataSha);
  expect(lines.some((l) => JSON.parse(l).msg === "server does not support resuming; starting over")).toBe(true);
});

test("a stalled download fails, keeping the part for resume", async () => {
  cfg.stallAfter = 256 * 1024;
  const e = await failure(cache({ stallTimeoutMs: 300 }).ensure(`${base}/image.raw`, dataSha), "download_failed");
  expect(e.message).toMatch(/no data received for 0.3 s/);
  expect(e.details.partKept).toBe(true);
  expect(existsSync(part())).toBe(true);
});

test("a full disk → no_space and the part is deleted", async () => {
  if (!existsSync("/dev/full")) return;
  symlinkSync("/dev/full", part()); // every write fails with ENOSPC
  const e = await failure(cache().ensure(`${base}/image.raw`, dataSha), "no_space");
  expect(e.details.errno).toBe("ENOSPC");
  expect(readdirSync(dir)).toEqual([]);
});

test("progress is logged and exposed while downloading", async () => {
  cfg.slow = true;
  const c = cache({ progressIntervalMs: 20 });
  const p = c.ensure(`${base}/image.raw`, dataSha);
  const deadline = Date.now() + 5000;
  while (c.progress().every((x) => x.bytes === 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  const [now] = c.progress();
  expect(now).toMatchObject({ sha256: dataSha, url: `${base}/image.raw`, totalBytes: data.length });
  expect(now!.bytes).toBeGreaterThan(0);
  await failure(c.remove(dataSha), "busy");
  await p;
  expect(c.progress()).toEqual([]);
  const ticks = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === "downloading image");
  expect(ticks.length).toBeGreaterThan(0);
  expect(ticks[0]).toMatchObject({ level: "info", sha256: dataSha, totalBytes: data.length });
  expect(typeof ticks[0].percent).toBe("number");
  expect(typeof ticks[0].bytesPerSecond).toBe("number");
});

test("list, lookup, remove", async () => {
  const c = cache();
  expect(await c.list()).toEqual([]);
  expect(await c.lookup(dataSha)).toBeUndefined();
  const img = await c.ensure(`${base}/image.raw`, dataSha);
  expect(await c.list()).toEqual([img]);
  expect(await c.lookup(dataSha)).toEqual(img);
  expect(await c.remove(dataSha)).toBe(true);
  expect(await c.remove(dataSha)).toBe(false);
  expect(await c.list()).toEqual([]);
  expect(readdirSync(dir)).toEqual([]);
});

test("list() of a cache directory that does not exist yet is empty", async () => {
  expect(await new ImageCache(join(dir, "not-yet"), new Logger({}, "error", () => {})).list()).toEqual([]);
});

test("bad sha256 and non-http URLs are refused before any request", async () => {
  const c = cache();
  await failure(c.ensure(`${base}/image.raw`, dataSha.toUpperCase()), "invalid");
  await failure(c.ensure(`${base}/image.raw`, "abc"), "invalid");
  await failure(c.ensure(`ftp://127.0.0.1/image.raw`, dataSha), "invalid");
  await failure(c.ensure(`file:///etc/passwd`, dataSha), "invalid");
  await failure(c.ensure(`not a url`, dataSha), "invalid");
  await failure(c.ensure(`http://user:secret@127.0.0.1/image.raw`, dataSha), "invalid");
  await failure(c.remove("nope"), "invalid");
  expect(requests).toEqual([]);
  expect(readdirSync(dir)).toEqual([]);
});
