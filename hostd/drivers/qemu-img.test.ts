/**
 * QemuImg against the real qemu-img, in a temp dir removed afterwards. The
 * lock test holds a write lock with qemu-io, as a running VM would.
 */
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "../exec";
import { QemuImg, QemuImgError, QemuImgErrorKind, readImageHeaderOf } from "./qemu-img";

const MiB = 1024 * 1024;
const img = new QemuImg();
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "qemu-img-test-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function failure(p: Promise<unknown>): Promise<QemuImgError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!(e instanceof QemuImgError)) throw new Error(`expected a QemuImgError, got ${String(e)}`);
  return e;
}

async function expectKind(p: Promise<unknown>, kind: QemuImgErrorKind): Promise<QemuImgError> {
  const e = await failure(p);
  expect(e.kind).toBe(kind);
  return e;
}

test("create qcow2 and raw, then info", async () => {
  const q = join(dir, "blank.qcow2");
  await img.create(q, { format: "qcow2", sizeBytes: 64 * MiB });
  const qi = await img.info(q);
  expect(qi).toMatchObject({ format: "qcow2", virtualSize: 64 * MiB, dirty: false });
  expect(qi.backingFile).toBeUndefined();
  expect(qi.actualSize).toBeGreaterThan(0);
  expect(qi.actualSize).toBeLessThan(MiB);

  const r = join(dir, "blank.raw");
  await img.create(r, { format: "raw", sizeBytes: 8 * MiB });
  expect(await img.info(r, { format: "raw" })).toMatchObject({ format: "raw", virtualSize: 8 * MiB });
});

test("overlay records its backing file and format, starts small, and may be larger than the base", async () => {
  const base = join(dir, "base.qcow2");
  await img.create(base, { format: "qcow2", sizeBytes: 64 * MiB });
  const ov = join(dir, "vm.qcow2");
  await img.createOverlay(ov, { backingFile: base, backingFormat: "qcow2", sizeBytes: 128 * MiB });
  const info = await img.info(ov);
  expect(info).toMatchObject({ format: "qcow2", virtualSize: 128 * MiB, backingFile: base, backingFormat: "qcow2" });
  expect(info.actualSize).toBeLessThan(MiB);

  // Without a size the overlay takes the base's.
  const ov2 = join(dir, "vm2.qcow2");
  await img.createOverlay(ov2, { backingFile: base, backingFormat: "qcow2" });
  expect((await img.info(ov2)).virtualSize).toBe(64 * MiB);
});

test("overlay: relative backing path, smaller than the base, missing base", async () => {
  const base = join(dir, "base.qcow2");
  await img.create(base, { format: "qcow2", sizeBytes: 64 * MiB });
  await expectKind(img.createOverlay(join(dir, "a.qcow2"), { backingFile: "base.qcow2", backingFormat: "qcow2" }), "invalid");
  await expectKind(img.createOverlay(join(dir, "b.qcow2"), { backingFile: base, backingFormat: "qcow2", sizeBytes: 32 * MiB }), "shrink_refused");
  await expectKind(img.createOverlay(join(dir, "c.qcow2"), { backingFile: join(dir, "nope.qcow2"), backingFormat: "qcow2" }), "not_found");
  for (const f of ["a.qcow2", "b.qcow2", "c.qcow2"]) expect(existsSync(join(dir, f))).toBe(false);
});

test("info reports a qcow2 external data file", async () => {
  const f = join(dir, "df.qcow2");
  await run("qemu-img", ["create", "-q", "-f", "qcow2", "-o", `data_file=${join(dir, "data.raw")}`, f, "1M"]);
  expect((await img.info(f)).dataFile).toBe(join(dir, "data.raw"));
  await img.create(join(dir, "plain.qcow2"), { format: "qcow2", sizeBytes: MiB });
  expect((await img.info(join(dir, "plain.qcow2"))).dataFile).toBeUndefined();
});

test("create refuses to overwrite an existing file and rejects odd sizes", async () => {
  const f = join(dir, "disk.qcow2");
  writeFileSync(f, "precious");
  await expectKind(img.create(f, { format: "qcow2", sizeBytes: MiB }), "exists");
  await expectKind(img.create(join(dir, "x.raw"), { format: "raw", sizeBytes: 1000 }), "invalid");
  await expectKind(img.create(join(dir, "y.raw"), { format: "raw", sizeBytes: 0 }), "invalid");
});

test("create in a missing directory → not_found", async () => {
  await expectKind(img.create(join(dir, "no", "such", "x.qcow2"), { format: "qcow2", sizeBytes: MiB }), "not_found");
});

test("resize grows, an equal size is a no-op, shrinking is refused", async () => {
  const f = join(dir, "disk.qcow2");
  await img.create(f, { format: "qcow2", sizeBytes: 64 * MiB });
  await img.resize(f, 96 * MiB, { format: "qcow2" });
  expect((await img.info(f)).virtualSize).toBe(96 * MiB);
  await img.resize(f, 96 * MiB, { format: "qcow2" });
  const e = await expectKind(img.resize(f, 32 * MiB, { format: "qcow2" }), "shrink_refused");
  expect(e.message).toMatch(/only grow/);
  expect((await img.info(f)).virtualSize).toBe(96 * MiB);
});

test("resize with the wrong format → invalid", async () => {
  const f = join(dir, "disk.raw");
  await img.create(f, { format: "raw", sizeBytes: MiB });
  await expectKind(img.resize(f, 2 * MiB, { format: "qcow2" }), "invalid");
});

test("convert makes a standalone copy; a failed copy leaves nothing behind", async () => {
  const base = join(dir, "base.qcow2");
  await img.create(base, { format: "qcow2", sizeBytes: 16 * MiB });
  const ov = join(dir, "ov.qcow2");
  await img.createOverlay(ov, { backingFile: base, backingFormat: "qcow2" });
  const copy = join(dir, "copy.qcow2");
  await img.convert(ov, copy, { dstFormat: "qcow2", srcFormat: "qcow2" });
  const info = await img.info(copy);
  expect(info).toMatchObject({ format: "qcow2", virtualSize: 16 * MiB });
  expect(info.backingFile).toBeUndefined();

  await expectKind(img.convert(ov, copy, { dstFormat: "raw" }), "exists");
  const bad = join(dir, "bad.raw");
  await expectKind(img.convert(join(dir, "missing.qcow2"), bad, { dstFormat: "raw" }), "not_found");
  expect(existsSync(bad)).toBe(false);
});

test("info on a missing file → not_found with an actionable message", async () => {
  const e = await expectKind(img.info(join(dir, "missing.qcow2")), "not_found");
  expect(e.message).toContain("missing.qcow2");
  expect(e.cause).toBeDefined();
});

test("a missing qemu-img binary is reported as such", async () => {
  const e = await expectKind(new QemuImg(join(dir, "no-qemu-img")).info(join(dir, "x")), "failed");
  expect(e.message).toMatch(/not found/);
});

test("every image qemu-img makes here is 0600 from its creation, whatever the umask", async () => {
  const old = process.umask(0);
  try {
    const base = join(dir, "base.qcow2");
    await img.create(base, { format: "qcow2", sizeBytes: MiB });
    await img.createOverlay(join(dir, "ov.qcow2"), { backingFile: base, backingFormat: "qcow2" });
    await img.convert(base, join(dir, "copy.raw"), { dstFormat: "raw" });
    for (const f of ["base.qcow2", "ov.qcow2", "copy.raw"]) expect([f, statSync(join(dir, f)).mode & 0o777]).toEqual([f, 0o600]);
  } finally {
    process.umask(old);
  }
});

test("a clone of a base hostd read itself never opens the base's name, nor does a resize", async () => {
  // A FIFO as the recorded base: qemu-img would hang (until its timeout) if it opened it.
  const fifo = join(dir, "swapped");
  execFileSync("mkfifo", [fifo]);
  const ov = join(dir, "ov.qcow2");
  await img.createOverlay(ov, { backingFile: fifo, backingFormat: "raw", baseVirtualSize: MiB });
  expect(await img.info(ov)).toMatchObject({ virtualSize: MiB, backingFile: fifo, backingFormat: "raw" });
  await expectKind(img.createOverlay(join(dir, "small.qcow2"), { backingFile: fifo, backingFormat: "raw", baseVirtualSize: 2 * MiB, sizeBytes: MiB }), "shrink_refused");
  await img.resize(ov, 4 * MiB, { format: "qcow2" });
  expect((await img.info(ov)).virtualSize).toBe(4 * MiB);
}, 20_000);

test("readImageHeader: qcow2 and what it refers to, formats hostd does not take, raw", async () => {
  const q = join(dir, "plain.qcow2");
  await img.create(q, { format: "qcow2", sizeBytes: 3 * MiB });
  expect(readImageHeaderOf(q)).toEqual({ format: "qcow2", virtualSize: 3 * MiB });
  await run("qemu-img", ["create", "-q", "-f", "qcow2", "-u", "-b", "/etc/shadow", "-F", "raw", join(dir, "b.qcow2"), "1M"]);
  expect(readImageHeaderOf(join(dir, "b.qcow2"))).toMatchObject({ format: "qcow2", refersTo: "a backing file" });
  await run("qemu-img", ["create", "-q", "-f", "qcow2", "-o", `data_file=${join(dir, "data.raw")}`, join(dir, "d.qcow2"), "1M"]);
  expect(readImageHeaderOf(join(dir, "d.qcow2"))).toMatchObject({ format: "qcow2", refersTo: "an external data file" });
  for (const fmt of ["vmdk", "vdi", "vhdx", "vpc", "qed"]) {
    await run("qemu-img", ["create", "-q", "-f", fmt, join(dir, `x.${fmt}`), "1M"]);
    expect(readImageHeaderOf(join(dir, `x.${fmt}`))).toEqual({ format: "other", name: fmt });
  }
  writeFileSync(join(dir, "desc.vmdk"), '# Disk DescriptorFile\nRW 2048 FLAT "/etc/shadow" 0\n');
  expect(readImageHeaderOf(join(dir, "desc.vmdk"))).toEqual({ format: "other", name: "vmdk" });
  writeFileSync(join(dir, "r.raw"), Buffer.alloc(4096, 7));
  expect(readImageHeaderOf(join(dir, "r.raw"))).toEqual({ format: "raw" });
  writeFileSync(join(dir, "tiny"), "x");
  expect(readImageHeaderOf(join(dir, "tiny"))).toEqual({ format: "raw" });
});

describe("locks", () => {
  let holder: ChildProcess | undefined;
  afterEach(async () => {
    if (holder && holder.exitCode === null) {
      const exited = new Promise((r) => holder!.once("exit", r));
      holder.kill("SIGKILL");
      await exited;
    }
    holder = undefined;
  });

  test("an image held by another process → locked; force-shared info still works", async () => {
    const f = join(dir, "busy.qcow2");
    await img.create(f, { format: "qcow2", sizeBytes: 16 * MiB });
    // qemu-io takes the same write lock a running VM does, and keeps it while sleeping.
    holder = spawn("qemu-io", ["-f", "qcow2", "-c", "sleep 20000", f], { stdio: "ignore" });

    // Wait until qemu-io has opened the image.
    const deadline = Date.now() + 10_000;
    let e: QemuImgError | undefined;
    while (Date.now() < deadline) {
      e = await img.info(f).then(
        () => undefined,
        (err: unknown) => err as QemuImgError,
      );
      if (e) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(e).toBeInstanceOf(QemuImgError);
    expect(e!.kind).toBe("locked");
    expect(e!.message).toMatch(/in use/);

    expect(await img.info(f, { shared: true })).toMatchObject({ format: "qcow2", virtualSize: 16 * MiB });
    await expectKind(img.resize(f, 32 * MiB, { format: "qcow2" }), "locked");
  });
});
