/**
 * Isolation against the real thing: each VM's QEMU runs as a user of its own
 * with the seccomp sandbox on (read from /proc), one VM's user cannot read
 * another VM's disk, and the socket refuses local users outside hostd's
 * group — by its file mode, and by hostd's own peer-credential check.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { announceAccelerator, NODE, tinyGuest, waitFor } from "./fixtures/env";
import { HostdFixture } from "./fixtures/hostd";

jest.setTimeout(240_000);

const g = tinyGuest();
const kernel = { path: g.kernel, initrd: g.initrd, cmdline: g.cmdline };
/** A group and a user that exist only as numbers: nothing on the machine changes. */
const HOSTD_GID = 1_800_000_321;
const STRANGER = 1_800_000_654;
let hd: HostdFixture;

beforeAll(async () => {
  announceAccelerator();
  hd = await HostdFixture.start({ socketGroup: HOSTD_GID });
});
afterAll(async () => {
  await hd?.cleanup();
});

function status(pid: number): Record<string, string> {
  return Object.fromEntries(
    readFileSync(`/proc/${pid}/status`, "utf8")
      .split("\n")
      .filter((l) => l.includes(":"))
      .map((l) => [l.slice(0, l.indexOf(":")), l.slice(l.indexOf(":") + 1).trim()]),
  );
}

/** Runs a command as `uid` (gid = uid) with `groups`, without a shell. */
function as(uid: number, groups: number[], cmd: string, args: string[]) {
  return spawnSync("setpriv", [`--reuid=${uid}`, `--regid=${uid}`, groups.length ? `--groups=${groups.join(",")}` : "--clear-groups", "--", cmd, ...args], { encoding: "utf8", timeout: 30_000 });
}

test("each VM's QEMU runs as its own unprivileged user inside QEMU's seccomp sandbox", async () => {
  const c = hd.client();
  await c.disk.create({ name: "disk-a", sizeGiB: 1 });
  await c.disk.create({ name: "disk-b", sizeGiB: 1 });
  const [a, b] = await Promise.all([
    c.vm.create({ name: "a", memoryMiB: 128, kernel, disks: [{ disk: "disk-a" }] }),
    c.vm.create({ name: "b", memoryMiB: 128, kernel, disks: [{ disk: "disk-b" }] }),
  ]);
  const sa = status(a.pid!);
  const sb = status(b.pid!);
  const uidA = Number(sa.Uid!.split(/\s+/)[0]);
  const uidB = Number(sb.Uid!.split(/\s+/)[0]);
  for (const s of [sa, sb]) {
    const [real, eff, saved, fs] = s.Uid!.split(/\s+/).map(Number);
    expect(real).not.toBe(0);
    expect([eff, saved, fs]).toEqual([real, real, real]);
    expect(s.Seccomp).toBe("2"); // filter mode: -sandbox on
    expect(s.NoNewPrivs).toBe("1");
    expect(s.CapEff).toBe("0000000000000000");
    expect(s.CapBnd).toBe("0000000000000000");
  }
  expect(uidA).not.toBe(uidB);
  console.log(`[isolation] VM a runs as uid ${uidA}, VM b as uid ${uidB}; both Seccomp=2, NoNewPrivs=1, no capabilities`);

  // As VM a's user: its own disk is readable, b's disk and b's directory are not.
  const diskA = (await c.disk.get("disk-a")).path;
  const diskB = (await c.disk.get("disk-b")).path;
  expect(as(uidA, [], "head", ["-c", "4", diskA]).status).toBe(0);
  const denied = as(uidA, [], "head", ["-c", "4", diskB]);
  expect(denied.status).not.toBe(0);
  expect(denied.stderr).toContain("Permission denied");
  const dirB = path.join(hd.stateDir, "vms", b.id);
  expect(as(uidA, [], "ls", [dirB]).stderr).toContain("Permission denied");
  expect(as(uidA, [], "head", ["-c", "1", path.join(dirB, "serial.log")]).status).not.toBe(0);

  // A disk that leaves its VM goes back to root (hot-unplug needs the booted guest's cooperation).
  await waitFor("VM a to boot", () => /READY/.test(hd.serialLog(a.id)), 120_000);
  await c.vm.update({ name: "a", disks: [] });
  expect(as(uidA, [], "head", ["-c", "4", diskA]).status).not.toBe(0);
  // Deleting the VMs keeps the disks, owned by root.
  await c.vm.delete({ name: "a" });
  await c.vm.delete({ name: "b" });
  expect(execFileSync("stat", ["-c", "%u %a", diskA, diskB], { encoding: "utf8" }).trim().split("\n")).toEqual(["0 600", "0 600"]);
});

test("a host file QEMU's user cannot read is refused up front, with the fix in the message", async () => {
  const dir = path.join(hd.dir, "private");
  mkdirSync(dir, { mode: 0o700 });
  copyFileSync(g.kernel, path.join(dir, "vmlinuz"));
  const e = await hd.client().vm.create({ name: "hidden", memoryMiB: 128, kernel: { ...kernel, path: path.join(dir, "vmlinuz") } }).catch((x: unknown) => x);
  expect(e).toMatchObject({ code: "conflict" });
  expect((e as Error).message).toContain(`cannot be read by QEMU, which runs as an unprivileged user: directory ${dir} is not traversable by other users (chmod o+x ${dir})`);
  expect((await hd.client().vm.list()).vms).toEqual([]);
});

test("the socket refuses users outside hostd's group: by its mode, and by hostd's peer check", () => {
  const hello = (uid: number, groups: number[]) =>
    as(uid, groups, NODE, [
      "-e",
      `const s = require("node:net").createConnection(process.argv[1]);
       s.on("error", (e) => { console.log("ERROR " + e.code); process.exit(0); });
       s.on("connect", () => s.write(JSON.stringify({ id: "1", method: "host.hello", params: {} }) + "\\n"));
       s.on("data", (d) => { console.log("REPLY " + d.toString().trim()); s.destroy(); });
       s.on("close", () => process.exit(0));`,
      hd.socketPath,
    ]).stdout.trim();

  expect(execFileSync("stat", ["-c", "%a %g", hd.socketPath], { encoding: "utf8" }).trim()).toBe(`660 ${HOSTD_GID}`);
  // The kernel refuses a stranger at connect(2)...
  expect(hello(STRANGER, [])).toBe("ERROR EACCES");
  // ...a member of hostd's group gets in...
  expect(hello(STRANGER, [HOSTD_GID])).toMatch(/^REPLY \{"id":"1","result":\{.*"protocolVersion":1/);
  // ...and with the file mode loosened by mistake, hostd itself still refuses the stranger.
  chmodSync(hd.socketPath, 0o666);
  try {
    const r = hello(STRANGER, []);
    expect(r).toMatch(/^REPLY .*"code":"permission_denied"/);
    expect(r).toContain(`uid ${STRANGER}`);
  } finally {
    chmodSync(hd.socketPath, 0o660);
  }
});
