/**
 * Host paths are used with the caller's rights, and what hostd makes for a
 * VM is that VM's alone — against a real hostd (root) serving a group, a
 * real user of that group calling from a process of its own, real files,
 * symlinks, FIFOs and devices, and real QEMU.
 *
 * The user and group are made here (useradd/groupadd) and removed in
 * afterAll, whatever happened. hostd's group is the user's primary group: a
 * child spawned with {uid, gid} keeps no supplementary groups (libuv drops
 * them).
 */
import { execFile, execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { KvmError } from "../sdk/errors";
import { announceAccelerator, NODE, queryDb, REPO, tinyGuest } from "./fixtures/env";
import { HostdFixture } from "./fixtures/hostd";

jest.setTimeout(300_000);

const g = tinyGuest();
const kernel = { path: g.kernel, initrd: g.initrd, cmdline: g.cmdline };
const tag = randomBytes(3).toString("hex");
const GROUP = `pkvm-g-${tag}`;
const USER = `pkvm-u-${tag}`;
const MiB = 1024 * 1024;
let member: { uid: number; gid: number };
let hd: HostdFixture;
/** The test's own files; world-traversable, like a directory of images on a host. */
let w: string;
let loop: string | undefined;

function sh(cmd: string, ...args: string[]): string {
  return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
}
const f = (name: string) => path.join(w, name);

beforeAll(async () => {
  announceAccelerator();
  sh("groupadd", GROUP);
  sh("useradd", "-M", "-N", "-g", GROUP, "-d", "/nonexistent", "-s", "/usr/sbin/nologin", USER);
  member = { uid: Number(sh("id", "-u", USER)), gid: Number(sh("id", "-g", USER)) };

  w = mkdtempSync("/tmp/pkvm-paths-");
  chmodSync(w, 0o755);
  writeFileSync(f("secret.img"), Buffer.alloc(MiB, 0x5a), { mode: 0o600 });
  writeFileSync(f("public.img"), Buffer.alloc(MiB, 0x11), { mode: 0o644 });
  symlinkSync(f("secret.img"), f("to-secret"));
  symlinkSync("/etc/shadow", f("to-shadow"));
  mkdirSync(f("sub"), { mode: 0o755 });
  symlinkSync("../secret.img", f("sub/up-to-secret"));
  symlinkSync("../public.img", f("sub/up-to-public"));
  sh("mkfifo", "-m", "0666", f("fifo"));
  writeFileSync(f("blk.img"), Buffer.alloc(2 * MiB, 0x22), { mode: 0o600 });
  loop = sh("losetup", "-f", "--show", f("blk.img"));
  // The member's own directory: a private image, and a qcow2 whose backing file is /etc/shadow.
  mkdirSync(f("mine"), { mode: 0o700 });
  writeFileSync(f("mine/own.img"), Buffer.alloc(MiB, 0x33), { mode: 0o600 });
  sh("qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", f("mine/own.img"), f("mine/own.qcow2"));
  sh("qemu-img", "create", "-q", "-f", "qcow2", "-u", "-b", "/etc/shadow", "-F", "raw", f("mine/evil.qcow2"), "1M");
  for (const x of ["mine", "mine/own.img", "mine/own.qcow2", "mine/evil.qcow2"]) chownSync(f(x), member.uid, member.gid);

  hd = await HostdFixture.start({ socketGroup: member.gid });
});

afterAll(async () => {
  await hd?.cleanup();
  if (loop) spawnSync("losetup", ["-d", loop]);
  if (w) rmSync(w, { recursive: true, force: true });
  spawnSync("userdel", [USER]);
  spawnSync("groupdel", [GROUP]);
});

/** One call as the member, from a node of its own: through sdk/client.ts, or (raw) one frame past the client's own checks. */
const MEMBER_CALL = `
const [sock, method, params, mode] = process.argv.slice(1);
const out = (o) => { process.stdout.write(JSON.stringify(o)); process.exit(0); };
if (mode === "raw") {
  const s = require("node:net").createConnection(sock);
  s.on("connect", () => s.write(JSON.stringify({ id: "m1", method, params: JSON.parse(params) }) + "\\n"));
  let buf = "";
  s.on("data", (d) => { buf += d; const nl = buf.indexOf("\\n"); if (nl >= 0) out(JSON.parse(buf.slice(0, nl))); });
} else {
  const dist = process.env.PKVM_DIST;
  const { HostClient } = require(dist + "/sdk/client.js");
  const { LocalTransport } = require(dist + "/sdk/transport/local.js");
  const P = require(dist + "/sdk/protocol/index.js");
  const m = Object.values(P).find((x) => x && x.name === method && x.params);
  new HostClient(new LocalTransport(sock)).call(m, JSON.parse(params)).then((result) => out({ result }), (e) => out({ error: { code: e.code, message: e.message } }));
}`;

type Reply = { result?: Record<string, unknown>; error?: { code: string; message: string } };

async function asMember(method: string, params: unknown, o: { raw?: boolean; socket?: string } = {}): Promise<Reply> {
  const { stdout } = await promisify(execFile)(NODE, ["-e", MEMBER_CALL, o.socket ?? hd.socketPath, method, JSON.stringify(params), o.raw ? "raw" : "call"], {
    uid: member.uid,
    gid: member.gid,
    cwd: "/",
    env: { PKVM_DIST: path.join(REPO, "dist") },
    timeout: 120_000,
  });
  return JSON.parse(stdout) as Reply;
}

/** The same call as root (the test's own client); errors come back as a Reply too. */
async function asRoot(fn: () => Promise<unknown>): Promise<Reply> {
  try {
    return { result: (await fn()) as Record<string, unknown> };
  } catch (e) {
    if (e instanceof KvmError) return { error: { code: e.code, message: e.message } };
    throw e;
  }
}

/** Runs `cmd` as uid (= gid) without groups, as another VM's QEMU would be. */
function as(uid: number, cmd: string, ...args: string[]) {
  return spawnSync("setpriv", [`--reuid=${uid}`, `--regid=${uid}`, "--clear-groups", "--", cmd, ...args], { encoding: "utf8", timeout: 30_000 });
}

function owner(p: string): { uid: number; mode: number } {
  const st = statSync(p);
  return { uid: st.uid, mode: st.mode & 0o777 };
}

const hostPath = (p: string, extra: { clone?: boolean; blockDevice?: boolean } = {}) => ({ kind: "hostPath" as const, path: p, ...extra });

describe("a member of hostd's group", () => {
  test("a Disk from a host path the member cannot read is refused, in every form, and nothing is made", async () => {
    const disksDir = path.join(hd.stateDir, "disks");
    const before = readdirSync(disksDir);
    const cases: [form: string, path: string, code: string, words: RegExp, raw?: boolean][] = [
      ["a root-only file of the host", "/etc/shadow", "permission_denied", /cannot be read by uid \d+/],
      ["a 0600 root file", f("secret.img"), "permission_denied", /cannot be read by uid \d+/],
      ["a symlink to it", f("to-secret"), "permission_denied", /cannot be read by uid \d+/],
      ["a symlink to /etc/shadow", f("to-shadow"), "permission_denied", /cannot be read by uid \d+/],
      ["a symlink whose target climbs with ..", f("sub/up-to-secret"), "permission_denied", /cannot be read by uid \d+/],
      ["a path with .. (refused by hostd's schema)", `${w}/sub/../secret.img`, "invalid_params", /must not contain '\.\.'/, true],
      ["a character device", "/dev/zero", "invalid_params", /is a character device/],
      ["a block device", loop!, "permission_denied", /cannot be read by uid \d+/],
      ["a FIFO", f("fifo"), "invalid_params", /is a FIFO/],
      ["the member's own qcow2 whose backing file is /etc/shadow", f("mine/evil.qcow2"), "invalid_params", /refers to a backing file/],
    ];
    let n = 0;
    for (const [form, p, code, words, raw] of cases) {
      for (const extra of [{ clone: false }, { clone: true }, { clone: false, blockDevice: true }]) {
        const r = await asMember("disk.create", { name: `refused-${n++}`, source: hostPath(p, extra) }, { raw });
        expect([form, extra, r.error?.code]).toEqual([form, extra, code]);
        expect(r.error!.message).toMatch(words);
        if (code === "permission_denied") {
          expect(r.error!.message).toContain(p);
          expect(r.error!.message).toContain(`uid ${member.uid}`);
          expect(r.error!.message).toMatch(/Make it readable by uid \d+/);
        }
      }
    }
    // The same refusals through the client: its own copy of the schema stops the ".." form before sending.
    expect((await asMember("disk.create", { name: "dotdot", source: hostPath(`${w}/sub/../secret.img`) })).error?.code).toBe("invalid_params");
    expect((await hd.client().disk.list()).disks).toEqual([]);
    expect(readdirSync(disksDir)).toEqual(before);
    console.log(`[host-paths] uid ${member.uid} refused ${n} disk creates from ${cases.length} path forms; nothing was made`);
  });

  test("what the member can read works, resolved: copies and clones, and the new disk is 0600 root's", async () => {
    const own = await asMember("disk.create", { name: "own-copy", source: hostPath(f("mine/own.img")) });
    expect(own.result).toMatchObject({ virtualSizeBytes: MiB, backingFile: null });
    expect(owner(own.result!.path as string)).toEqual({ uid: 0, mode: 0o600 });
    // A clone records where the symlink led, not the symlink: a swap later changes nothing.
    const clone = await asMember("disk.create", { name: "public-clone", source: hostPath(f("sub/up-to-public"), { clone: true }) });
    expect(clone.result).toMatchObject({ backingFile: f("public.img"), virtualSizeBytes: MiB });
    expect(owner(clone.result!.path as string)).toEqual({ uid: 0, mode: 0o600 });
    // A qcow2 of the member's, copied to raw and to a larger qcow2, and cloned: the guest sees the same bytes.
    const asRaw = await asMember("disk.create", { name: "own-qcow2-raw", format: "raw", source: hostPath(f("mine/own.qcow2")) });
    const grown = await asMember("disk.create", { name: "own-qcow2-grown", sizeGiB: 1, source: hostPath(f("mine/own.qcow2")) });
    const qclone = await asMember("disk.create", { name: "own-qcow2-clone", source: hostPath(f("mine/own.qcow2"), { clone: true }) });
    expect(asRaw.result).toMatchObject({ format: "raw", virtualSizeBytes: MiB });
    expect(grown.result).toMatchObject({ format: "qcow2", virtualSizeBytes: 1024 * MiB, backingFile: null });
    expect(qclone.result).toMatchObject({ backingFile: f("mine/own.qcow2"), virtualSizeBytes: MiB });
    execFileSync("qemu-img", ["compare", "-q", "-f", "raw", "-F", "raw", f("mine/own.img"), asRaw.result!.path as string]);
    execFileSync("qemu-img", ["compare", "-q", "-f", "raw", "-F", "qcow2", f("mine/own.img"), qclone.result!.path as string]);
    // No private copy is left beside the disks.
    expect(readdirSync(path.join(hd.stateDir, "disks")).filter((x) => x.endsWith(".source"))).toEqual([]);
    for (const d of ["public-clone", "own-copy", "own-qcow2-raw", "own-qcow2-grown", "own-qcow2-clone"]) await hd.client().disk.delete({ name: d });
  });

  test("kernel, initrd and cdrom the member cannot read are refused, direct and through symlinks; nothing is made", async () => {
    const cases: [form: string, spec: Record<string, unknown>, code: string, words: RegExp][] = [
      ["kernel, direct", { kernel: { path: f("secret.img") } }, "permission_denied", /kernel file of VM .*cannot be read by uid/],
      ["kernel, symlink", { kernel: { path: f("to-secret") } }, "permission_denied", /cannot be read by uid/],
      ["kernel, a symlink to /etc/shadow", { kernel: { path: f("to-shadow") } }, "permission_denied", /cannot be read by uid/],
      ["initrd, direct", { kernel: { ...kernel, initrd: f("secret.img") } }, "permission_denied", /initrd file of VM .*cannot be read by uid/],
      ["initrd, symlink climbing with ..", { kernel: { ...kernel, initrd: f("sub/up-to-secret") } }, "permission_denied", /cannot be read by uid/],
      ["cdrom, direct", { cdrom: { path: "/etc/shadow" } }, "permission_denied", /cdrom file of VM .*cannot be read by uid/],
      ["cdrom, symlink", { cdrom: { path: f("to-secret") } }, "permission_denied", /cannot be read by uid/],
      ["kernel, a FIFO", { kernel: { path: f("fifo") } }, "invalid_params", /is a FIFO/],
      ["cdrom, a character device", { cdrom: { path: "/dev/zero" } }, "invalid_params", /is a character device/],
      ["cdrom, a block device", { cdrom: { path: loop! } }, "permission_denied", /cannot be read by uid/],
    ];
    let n = 0;
    for (const [form, spec, code, words] of cases) {
      const r = await asMember("vm.create", { name: `refused-${n++}`, memoryMiB: 128, ...spec });
      expect([form, r.error?.code]).toEqual([form, code]);
      expect(r.error!.message).toMatch(words);
    }
    // An update of an existing VM is checked the same way and changes nothing.
    expect((await asMember("vm.create", { name: "stays", memoryMiB: 128, running: false, kernel })).error).toBeUndefined();
    const upd = await asMember("vm.update", { name: "stays", cdrom: { path: f("to-secret") } });
    expect(upd.error?.code).toBe("permission_denied");
    expect((await hd.client().vm.get("stays")).spec.cdrom).toBeUndefined();
    expect((await hd.client().vm.list()).vms.map((v) => v.name)).toEqual(["stays"]);
    expect(hd.qemuPids()).toEqual([]);
    await hd.client().vm.delete({ name: "stays" });
    expect(readdirSync(path.join(hd.stateDir, "vms"))).toEqual([]);
  });
});

describe("root", () => {
  test("root reads what root can; FIFOs and character devices never; a block device only when asked for", async () => {
    const c = hd.client();
    expect((await asRoot(() => c.disk.create({ name: "root-secret", source: hostPath(f("secret.img")) }))).result).toMatchObject({ virtualSizeBytes: MiB });
    expect((await asRoot(() => c.disk.create({ name: "root-secret-link", source: hostPath(f("to-secret")) }))).error).toBeUndefined();
    for (const p of [f("fifo"), "/dev/zero"]) {
      for (const extra of [{}, { blockDevice: true }]) {
        expect((await asRoot(() => c.disk.create({ name: "root-refused", source: hostPath(p, extra) }))).error?.code).toBe("invalid_params");
      }
    }
    const noOption = await asRoot(() => c.disk.create({ name: "root-blk", source: hostPath(loop!) }));
    expect(noOption.error).toMatchObject({ code: "invalid_params", message: expect.stringContaining("source.blockDevice: true") });
    const copy = await asRoot(() => c.disk.create({ name: "root-blk", source: hostPath(loop!, { blockDevice: true }) }));
    expect(copy.result).toMatchObject({ virtualSizeBytes: 2 * MiB });
    // The copy holds the device's bytes.
    expect(execFileSync("qemu-img", ["compare", "-q", "-f", "raw", "-F", "qcow2", f("blk.img"), copy.result!.path as string]).length).toBe(0);
    // Even root's own qcow2 may not refer to another file.
    sh("qemu-img", "create", "-q", "-f", "qcow2", "-u", "-b", "/etc/shadow", "-F", "raw", f("root-evil.qcow2"), "1M");
    expect((await asRoot(() => c.disk.create({ name: "root-refused", source: hostPath(f("root-evil.qcow2")) }))).error?.code).toBe("invalid_params");
    expect((await c.disk.list()).disks.map((d) => d.name).sort()).toEqual(["root-blk", "root-secret", "root-secret-link"]);
    for (const d of ["root-blk", "root-secret", "root-secret-link"]) await c.disk.delete({ name: d });
  });
});

test("what hostd makes for a VM is that VM's alone: disk, NVRAM, seed, logs and sockets; another VM's user reads none of it", async () => {
  const c = hd.client();
  // The member makes it all: a disk from their own file, a UEFI VM that boots, and a second VM (its own uid).
  expect((await asMember("disk.create", { name: "data-a", source: hostPath(f("mine/own.img")) })).error).toBeUndefined();
  const created = await asMember("vm.create", {
    name: "a",
    memoryMiB: 128,
    firmware: "uefi",
    kernel,
    cloudInit: { userData: "#cloud-config\npassword: not-for-other-vms\n" },
    disks: [{ disk: "data-a" }],
  });
  expect(created.error).toBeUndefined();
  expect((await asMember("vm.create", { name: "b", memoryMiB: 128, running: false, kernel })).error).toBeUndefined();
  const a = await c.vm.get("a");
  const uidA = Number(/^Uid:\s+(\d+)/m.exec(sh("cat", `/proc/${a.pid}/status`))![1]);
  const [{ uid: uidB }] = queryDb(path.join(hd.stateDir, "hostd.db"), "SELECT uid FROM vms WHERE name = ?", "b") as [{ uid: number }];
  expect(uidB).not.toBe(uidA);

  const dir = path.join(hd.stateDir, "vms", a.id);
  expect(owner(dir)).toEqual({ uid: uidA, mode: 0o700 });
  const files: [what: string, file: string, uid: number][] = [
    ["disk", (await c.disk.get("data-a")).path, uidA],
    ["NVRAM", path.join(dir, "OVMF_VARS.fd"), uidA],
    ["cloud-init seed", path.join(dir, "seed.iso"), uidA],
    ["serial log", path.join(dir, "serial.log"), uidA],
    ["QEMU's pidfile", path.join(dir, "qemu.pid"), uidA],
    ["QEMU's log", path.join(dir, "qemu.log"), 0],
    ["QMP socket", path.join(dir, "qmp.sock"), uidA],
    ["operators' QMP socket", path.join(dir, "qmp-ops.sock"), uidA],
    ["serial console socket", path.join(dir, "serial.sock"), uidA],
    ["guest agent socket", path.join(dir, "qga.sock"), uidA],
  ];
  for (const [what, file, uid] of files) {
    const o = owner(file);
    // Owner only: 0600 for files, 0700 for QEMU's sockets (bind takes 0777 minus umask 077).
    expect([what, o.uid, o.mode & 0o077]).toEqual([what, uid, 0]);
    for (const other of [uidB, member.uid]) {
      const r = as(other, "cat", file);
      expect([what, other, r.status !== 0 && /Permission denied/.test(r.stderr)]).toEqual([what, other, true]);
    }
  }
  // VM a's own user reads its disk and NVRAM: the modes are not simply closed to everyone.
  for (const file of [files[0]![1], files[1]![1]]) expect(as(uidA, "head", "-c", "1", file).status).toBe(0);
  // The database holds the specs (cloud-init user-data): root's alone.
  expect(owner(path.join(hd.stateDir, "hostd.db"))).toEqual({ uid: 0, mode: 0o600 });
  expect(as(member.uid, "cat", path.join(hd.stateDir, "hostd.db")).status).not.toBe(0);
  console.log(`[host-paths] VM a (uid ${uidA}): ${files.length} files checked owner-only; uid ${uidB} (VM b) and uid ${member.uid} (the member) read none`);
  await c.vm.delete({ name: "a" });
  await c.vm.delete({ name: "b" });
  await c.disk.delete({ name: "data-a" });
});

test("hostd serve --host-path-root confines host paths to those directories, for the member and root alike", async () => {
  mkdirSync(f("allowed"), { mode: 0o755 });
  writeFileSync(f("allowed/ok.img"), Buffer.alloc(MiB), { mode: 0o644 });
  symlinkSync(f("public.img"), f("allowed/out"));
  const confined = await HostdFixture.start({ socketGroup: member.gid, args: ["--host-path-root", f("allowed"), "--host-path-root", path.dirname(g.kernel)] });
  try {
    const socket = confined.socketPath;
    const outside = await asMember("disk.create", { name: "outside", source: hostPath(f("public.img")) }, { socket });
    expect(outside.error).toMatchObject({ code: "invalid_params", message: expect.stringContaining("--host-path-root") });
    expect((await asMember("disk.create", { name: "via-link", source: hostPath(f("allowed/out")) }, { socket })).error?.code).toBe("invalid_params");
    expect((await asRoot(() => confined.client().disk.create({ name: "root-outside", source: hostPath("/etc/passwd") }))).error?.code).toBe("invalid_params");
    expect((await asMember("vm.create", { name: "k", memoryMiB: 128, running: false, kernel: { path: f("public.img") } }, { socket })).error?.code).toBe("invalid_params");
    expect((await asMember("disk.create", { name: "inside", source: hostPath(f("allowed/ok.img")) }, { socket })).error).toBeUndefined();
    expect((await asMember("vm.create", { name: "k", memoryMiB: 128, running: false, kernel }, { socket })).error).toBeUndefined();
    expect((await confined.client().disk.list()).disks.map((d) => d.name)).toEqual(["inside"]);
  } finally {
    await confined.cleanup();
  }
});
