/**
 * Host paths checked as the caller, against the real kernel: real files,
 * modes, symlinks, FIFOs and devices in a throwaway directory, and the
 * native opener taking a caller's uid (a number: no account is needed).
 * Runs as root, as hostd does (setfsuid needs it).
 */
import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { KvmError } from "../sdk/errors";
import { Caller, HostPaths, HostPathUse, nativeOpenAs } from "./host-paths";

const U = 1_800_000_777;
const G = 1_800_000_778;
const user: Caller = { uid: U, gid: U, groups: [] };
const root: Caller = { uid: 0, gid: 0, groups: [] };
const use: HostPathUse = { what: 'the source of disk "d"', blockDeviceOption: "source.blockDevice: true" };
let dir: string;

beforeAll(() => {
  if (process.getuid?.() !== 0) throw new Error("hostd/host-paths.test.ts runs as root, as hostd does (it switches to callers' uids)");
  if (!nativeOpenAs()) throw new Error("dist/native/openas.node is missing: run npm run build");
  dir = mkdtempSync("/tmp/pkvm-hostpaths-");
  chmodSync(dir, 0o755);
  writeFileSync(path.join(dir, "secret"), "root only\n", { mode: 0o600 });
  writeFileSync(path.join(dir, "public"), "anyone\n", { mode: 0o644 });
  writeFileSync(path.join(dir, "group"), "group G\n", { mode: 0o640 });
  chownSync(path.join(dir, "group"), 0, G);
  writeFileSync(path.join(dir, "mine"), "U's own\n", { mode: 0o600 });
  chownSync(path.join(dir, "mine"), U, U);
  mkdirSync(path.join(dir, "closed"), { mode: 0o700 });
  writeFileSync(path.join(dir, "closed", "inside"), "world-readable in a closed directory\n", { mode: 0o644 });
  mkdirSync(path.join(dir, "sub"));
  symlinkSync("/etc/shadow", path.join(dir, "to-shadow"));
  symlinkSync("../secret", path.join(dir, "sub", "up-to-secret"));
  symlinkSync("../public", path.join(dir, "sub", "up-to-public"));
  execFileSync("mkfifo", ["-m", "0666", path.join(dir, "fifo")]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The KvmError `fn` throws. */
function refusal(fn: () => unknown): KvmError {
  try {
    fn();
  } catch (e) {
    if (e instanceof KvmError) return e;
    throw e;
  }
  throw new Error("expected a refusal");
}

const hp = () => new HostPaths();
const p = (f: string) => path.join(dir, f);

test("a caller gets what they could open themselves, resolved, as an open file", () => {
  const f = hp().open(p("sub/up-to-public"), user, use);
  try {
    expect(f).toMatchObject({ asked: p("sub/up-to-public"), path: p("public"), kind: "file", size: 7 });
    expect(execFileSync("cat", [f.fdPath], { encoding: "utf8" })).toBe("anyone\n");
  } finally {
    f.close();
  }
  expect(hp().check(p("mine"), user, use).path).toBe(p("mine"));
  expect(hp().check(p("group"), { ...user, groups: [G] }, use).path).toBe(p("group"));
});

test("what the caller cannot read is permission_denied, naming the path and the uid, in every form", () => {
  for (const [asked, caller] of [
    ["/etc/shadow", user],
    [p("secret"), user],
    [p("to-shadow"), user],
    [p("sub/up-to-secret"), user],
    [p("group"), user],
    [p("closed/inside"), user],
  ] as const) {
    const e = refusal(() => hp().open(asked, caller, use));
    expect(e.code).toBe("permission_denied");
    expect(e.message).toContain(asked);
    expect(e.message).toContain(`uid ${U}`);
    expect(e.message).toMatch(/Make it readable by uid \d+/);
  }
});

test("root callers read what root can; kinds other than regular files are refused for everyone", async () => {
  const sock = net.createServer().listen(p("socket"));
  await new Promise((r) => sock.once("listening", r));
  chmodSync(p("socket"), 0o666);
  try {
    for (const caller of [root, user]) {
      expect(refusal(() => hp().open(p("socket"), caller, use))).toMatchObject({ code: "invalid_params", message: expect.stringContaining("is a socket") });
    }
  } finally {
    sock.close();
  }
  expect(hp().check(p("secret"), root, use).path).toBe(p("secret"));
  expect(hp().check(p("to-shadow"), root, use).path).toBe("/etc/shadow");
  for (const caller of [root, user]) {
    expect(refusal(() => hp().open(p("fifo"), caller, use))).toMatchObject({ code: "invalid_params", message: expect.stringContaining("is a FIFO") });
    expect(refusal(() => hp().open("/dev/zero", caller, use))).toMatchObject({ code: "invalid_params", message: expect.stringContaining("is a character device") });
    expect(refusal(() => hp().open(dir, caller, use))).toMatchObject({ code: "invalid_params", message: expect.stringContaining("is a directory") });
  }
  // World-readable, regular, and still not data: the kernel's interface files.
  expect(refusal(() => hp().open("/proc/self/status", root, use))).toMatchObject({ code: "invalid_params", message: expect.stringContaining("proc") });
  expect(refusal(() => hp().open("/sys/kernel/mm/transparent_hugepage/enabled", root, use)).code).toBe("invalid_params");
});

test("block devices: root only, and only when asked for", () => {
  const dev = "/dev/loop0";
  if (!existsSync(dev)) throw new Error(`${dev} is missing: the test needs a block device (modprobe loop)`);
  expect(refusal(() => hp().open(dev, root, use))).toMatchObject({ code: "invalid_params", message: expect.stringContaining("source.blockDevice: true") });
  expect(hp().check(dev, root, { ...use, blockDevice: true }).kind).toBe("block");
  expect(refusal(() => hp().open(dev, user, { ...use, blockDevice: true })).code).toBe("permission_denied");
  // Not even a device the caller may open: block devices are root's.
  const loose = p("blk");
  execFileSync("mknod", ["-m", "0666", loose, "b", "7", "0"]);
  expect(refusal(() => hp().open(loose, user, { ...use, blockDevice: true }))).toMatchObject({ code: "permission_denied", message: expect.stringContaining("only from root") });
});

test("a caller hostd cannot check as themselves is a stranger: only files every user may read", () => {
  expect(hp().check(p("public"), undefined, use).path).toBe(p("public"));
  const unknown = refusal(() => hp().open(p("secret"), undefined, use));
  expect(unknown).toMatchObject({ code: "permission_denied", message: expect.stringContaining("cannot tell who is calling") });
  const noNative = new HostPaths({ openAs: null });
  expect(noNative.check(p("public"), user, use).path).toBe(p("public"));
  expect(refusal(() => noNative.open(p("mine"), user, use))).toMatchObject({ code: "permission_denied", message: expect.stringContaining("openas.node") });
});

test("a path that does not exist is a conflict, whoever asks", () => {
  expect(refusal(() => hp().open("/nonexistent/disk.img", root, use)).code).toBe("conflict");
  expect(refusal(() => hp().open("/etc/passwd/x", user, use)).code).toBe("conflict");
});

test("--host-path-root: resolved paths must lie inside", () => {
  const confined = new HostPaths({ roots: [path.join(dir, "sub")] });
  expect(refusal(() => confined.open(p("public"), root, use))).toMatchObject({ code: "invalid_params", message: expect.stringContaining("--host-path-root") });
  // A symlink inside pointing out is judged by where it leads.
  expect(refusal(() => confined.open(p("sub/up-to-public"), user, use)).code).toBe("invalid_params");
  writeFileSync(p("sub/ok"), "inside\n", { mode: 0o644 });
  expect(confined.check(p("sub/ok"), user, use).path).toBe(p("sub/ok"));
});

test("verify: the checked name must still be the checked file", () => {
  const f = p("kernel");
  writeFileSync(f, "v1", { mode: 0o644 });
  const checked = hp().check(f, user, use);
  hp().verify(checked, use);
  // Replaced by another file (a new inode), by a symlink, by a FIFO: each refused.
  writeFileSync(p("kernel.new"), "v2", { mode: 0o644 });
  renameSync(p("kernel.new"), f);
  expect(refusal(() => hp().verify(checked, use))).toMatchObject({ code: "conflict", message: expect.stringContaining("another file is there now") });
  rmSync(f);
  symlinkSync(p("public"), f);
  expect(refusal(() => hp().verify(checked, use))).toMatchObject({ code: "conflict", message: expect.stringContaining("symlink") });
  rmSync(f);
  execFileSync("mkfifo", [f]);
  expect(refusal(() => hp().verify(checked, use))).toMatchObject({ code: "conflict", message: expect.stringContaining("FIFO") });
  rmSync(f);
  expect(refusal(() => hp().verify(checked, use)).message).toContain("gone");
});
