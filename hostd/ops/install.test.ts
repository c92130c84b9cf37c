/**
 * install/uninstall against a scratch root and a fake machine (groups,
 * systemctl); the real commands run in test/ops.test.ts.
 */
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { ExecError, ExecResult } from "../exec";
import { install, installPaths, OpsSystem, uninstall } from "./install";
import { parseManifest } from "./systemd";

class FakeMachine implements OpsSystem {
  readonly root = mkdtempSync(path.join(tmpdir(), "hostd-ops-"));
  groups = new Map<string, number>();
  calls: string[] = [];
  /** `systemctl` works offline (enable/disable make/remove the symlink), as on our machines. */
  systemctlWorks = true;
  systemd = false;
  live = false;
  private nextGid = 995;

  constructor() {
    mkdirSync(path.join(this.root, "proc/1"), { recursive: true });
    writeFileSync(path.join(this.root, "proc/1/comm"), "process_api\n");
    mkdirSync(path.join(this.root, "usr/lib/pulumi-kvm/dist/hostd"), { recursive: true });
    writeFileSync(path.join(this.root, "usr/lib/pulumi-kvm/dist/hostd/cli.js"), "");
  }

  async run(cmd: string, args: readonly string[]): Promise<ExecResult> {
    this.calls.push([cmd, ...args].join(" "));
    const fail = (code: number, stderr: string): never => {
      throw new ExecError(cmd, args, code, null, stderr);
    };
    const ok = (stdout = ""): ExecResult => ({ stdout, stderr: "" });
    const wants = installPaths(this.root).wants;
    switch (cmd) {
      case "getent": {
        const gid = this.groups.get(args[1]!);
        return gid === undefined ? fail(2, "") : ok(`${args[1]}:x:${gid}:\n`);
      }
      case "groupadd":
        this.groups.set(args[args.length - 1]!, this.nextGid--);
        return ok();
      case "groupdel":
        if (!this.groups.delete(args[0]!)) fail(6, `groupdel: group '${args[0]}' does not exist`);
        return ok();
      case "systemctl": {
        if (!this.systemctlWorks) return fail(1, "System has not been booted with systemd as init system (PID 1). Can't operate.");
        if (args[0] === "--version") return ok("systemd 252 (252.39-1~deb12u2)\n+PAM +AUDIT\n");
        const verb = args.find((a) => !a.startsWith("-"));
        if (verb === "enable" && !existsSync(wants)) {
          mkdirSync(path.dirname(wants), { recursive: true });
          symlinkSync("/etc/systemd/system/hostd.service", wants);
        }
        if (verb === "disable") rmSync(wants, { force: true });
        if (verb === "is-active") fail(3, "");
        return ok();
      }
      default:
        return fail(127, `${cmd}: not faked`);
    }
  }
  systemdRunning(): boolean {
    return this.systemd;
  }
  async socketLive(): Promise<boolean> {
    return this.live;
  }
  at(p: string): string {
    return path.join(this.root, p);
  }
  /** Every path under the root, for before/after comparisons. */
  listing(): string[] {
    const out: string[] = [];
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        out.push(path.relative(this.root, p));
        if (e.isDirectory()) walk(p);
      }
    };
    walk(this.root);
    return out.sort();
  }
}

const opts = (stateDir = "/var/lib/hostd") => ({
  stateDir,
  socket: "/run/hostd/hostd.sock",
  node: "/usr/bin/node",
  cli: "/usr/lib/pulumi-kvm/dist/hostd/cli.js",
});

let m: FakeMachine;
beforeEach(() => {
  m = new FakeMachine();
  mkdirSync(m.at("var/lib"), { recursive: true });
  mkdirSync(m.at("run"), { recursive: true });
});
afterEach(() => rmSync(m.root, { recursive: true, force: true }));

test("install makes the group, directories, tmpfiles entry and unit, and enables it; uninstall leaves nothing", async () => {
  const before = m.listing();
  const r = await install(m, opts());
  expect(r.ok).toBe(true);
  const P = installPaths(m.root);
  const unit = readFileSync(P.unit, "utf8");
  expect(unit).toContain("ExecStart=/usr/bin/node /usr/lib/pulumi-kvm/dist/hostd/cli.js serve --socket /run/hostd/hostd.sock --state-dir /var/lib/hostd --socket-group 995");
  expect(unit).toMatch(/^KillMode=process$/m);
  expect(parseManifest(unit)).toMatchObject({ group: "hostd", gid: 995, createdGroup: true });
  expect(readFileSync(P.tmpfiles, "utf8")).toMatch(/^d \/run\/hostd 0755 root root -$/m);
  expect(readlinkSync(P.wants)).toBe("/etc/systemd/system/hostd.service");
  expect(statSync(m.at("var/lib/hostd")).mode & 0o777).toBe(0o711);
  expect(existsSync(m.at("run/hostd"))).toBe(true);
  expect(m.groups.get("hostd")).toBe(995);
  // `hostd` on the PATH runs on the Node that ran install, whatever `node` the PATH finds.
  expect(readFileSync(P.command, "utf8")).toMatch(/^exec '\/usr\/bin\/node' '\/usr\/lib\/pulumi-kvm\/dist\/hostd\/cli.js' "\$@"$/m);
  expect(statSync(P.command).mode & 0o777).toBe(0o755);
  expect(m.calls).toContain("groupadd --system hostd");
  expect(m.calls).toContain(`systemctl --root=${m.root} enable hostd.service`);
  expect(r.lines.join("\n")).toMatch(/NOT started: systemd is not running on this machine \(PID 1 is process_api\)/);

  const u = await uninstall(m);
  expect(u.ok).toBe(true);
  expect(m.listing()).toEqual(before);
  expect(m.groups.size).toBe(0);
  expect(u.lines.join("\n")).toMatch(/removed state directory \/var\/lib\/hostd/);
});

test("install twice is fine: nothing is made twice, and uninstall still undoes the first install's work", async () => {
  const before = m.listing();
  await install(m, opts());
  m.calls = [];
  const r = await install(m, opts());
  expect(r.ok).toBe(true);
  expect(m.calls).not.toContain("groupadd --system hostd");
  expect(r.lines.join("\n")).toMatch(/hostd.service: unchanged/);
  expect(parseManifest(readFileSync(installPaths(m.root).unit, "utf8"))?.createdGroup).toBe(true);
  expect((await uninstall(m)).ok).toBe(true);
  expect(m.listing()).toEqual(before);
  expect(m.groups.size).toBe(0);
});

test("without a working systemctl the wants symlink is made, and removed, by hand", async () => {
  m.systemctlWorks = false;
  const before = m.listing();
  const r = await install(m, opts());
  expect(r.ok).toBe(true);
  expect(lstatSync(installPaths(m.root).wants).isSymbolicLink()).toBe(true);
  expect(r.lines.join("\n")).toMatch(/wants symlink made by hand/);
  const u = await uninstall(m);
  expect(u.ok).toBe(true);
  expect(m.listing()).toEqual(before);
});

test("a group and a state directory that existed before install are left alone by uninstall", async () => {
  m.groups.set("hostd", 1234);
  mkdirSync(m.at("var/lib/hostd"));
  writeFileSync(m.at("var/lib/hostd/notes"), "mine");
  await install(m, opts());
  expect(readFileSync(installPaths(m.root).unit, "utf8")).toContain("--socket-group 1234");
  const u = await uninstall(m);
  expect(u.ok).toBe(true);
  expect(m.groups.get("hostd")).toBe(1234);
  expect(readFileSync(m.at("var/lib/hostd/notes"), "utf8")).toBe("mine");
  expect(u.lines.join("\n")).toMatch(/state directory \/var\/lib\/hostd: existed before hostd install; left as it is/);
  expect(u.lines.join("\n")).toMatch(/group hostd: existed before hostd install/);
  expect(existsSync(installPaths(m.root).unit)).toBe(false);
});

test("a state directory with VMs or disks is kept, and uninstall says so", async () => {
  await install(m, opts());
  mkdirSync(m.at("var/lib/hostd/vms/0f3c"), { recursive: true });
  mkdirSync(m.at("var/lib/hostd/disks"), { recursive: true });
  writeFileSync(m.at("var/lib/hostd/disks/root.qcow2"), "");
  const u = await uninstall(m);
  expect(u.ok).toBe(true);
  expect(u.lines.join("\n")).toMatch(/KEPT state directory \/var\/lib\/hostd: it still holds 1 VM\(s\), 1 disk\(s\), 0 network\(s\)/);
  expect(existsSync(m.at("var/lib/hostd/disks/root.qcow2"))).toBe(true);
  // Everything else is gone.
  const P = installPaths(m.root);
  for (const p of [P.unit, P.wants, P.tmpfiles, m.at("run/hostd")]) expect(existsSync(p)).toBe(false);
  expect(m.groups.size).toBe(0);
});

test("a state directory with only a database and cached images is removed, with the parents install made", async () => {
  const before = m.listing();
  await install(m, opts("/srv/kvm/hostd"));
  writeFileSync(m.at("srv/kvm/hostd/hostd.db"), "");
  mkdirSync(m.at("srv/kvm/hostd/images"));
  mkdirSync(m.at("srv/kvm/hostd/vms"));
  expect((await uninstall(m)).ok).toBe(true);
  expect(m.listing()).toEqual(before);
});

test("reinstalling with another state directory: uninstall removes both", async () => {
  const before = m.listing();
  await install(m, opts("/var/lib/hostd"));
  await install(m, opts("/var/lib/hostd2"));
  expect(readFileSync(installPaths(m.root).unit, "utf8")).toContain("--state-dir /var/lib/hostd2");
  expect((await uninstall(m)).ok).toBe(true);
  expect(m.listing()).toEqual(before);
});

test("uninstall refuses while a hostd serves on the socket, and changes nothing", async () => {
  await install(m, opts());
  const installed = m.listing();
  m.live = true;
  const u = await uninstall(m);
  expect(u.ok).toBe(false);
  expect(u.lines.join("\n")).toMatch(/a hostd is still serving on \/run\/hostd\/hostd.sock .*stop it, then run hostd uninstall again/);
  expect(m.listing()).toEqual(installed);
  expect(m.groups.size).toBe(1);
});

test("where systemd runs: daemon-reload, enable, start; uninstall stops (VMs stay) and disables", async () => {
  m.systemd = true;
  const r = await install(m, opts());
  expect(r.ok).toBe(true);
  expect(m.calls.filter((c) => c.startsWith("systemctl"))).toEqual([
    "systemctl --version",
    "systemctl daemon-reload",
    "systemctl enable hostd.service",
    "systemctl is-active --quiet hostd.service",
    "systemctl start hostd.service",
  ]);
  m.calls = [];
  const u = await uninstall(m);
  expect(u.ok).toBe(true);
  expect(m.calls.filter((c) => c.startsWith("systemctl"))).toEqual(["systemctl stop hostd.service", "systemctl disable hostd.service", "systemctl daemon-reload"]);
  expect(u.lines.join("\n")).toMatch(/VMs keep running: KillMode=process/);
});

test("someone else's hostd.service is neither overwritten nor removed", async () => {
  const P = installPaths(m.root);
  mkdirSync(path.dirname(P.unit), { recursive: true });
  writeFileSync(P.unit, "[Service]\nExecStart=/usr/local/bin/hostd\n");
  expect((await install(m, opts())).ok).toBe(false);
  expect((await uninstall(m)).ok).toBe(false);
  expect(readFileSync(P.unit, "utf8")).toBe("[Service]\nExecStart=/usr/local/bin/hostd\n");
  expect(m.groups.size).toBe(0);
});

test("bad paths and a missing cli.js are refused before anything changes", async () => {
  const before = m.listing();
  expect((await install(m, { ...opts(), socket: "/run/my hostd/s.sock" })).lines[0]).toMatch(/--socket must not contain blanks/);
  expect((await install(m, { ...opts(), cli: "/nowhere/cli.js" })).lines[0]).toMatch(/does not exist/);
  expect(m.listing()).toEqual(before);
  expect(m.calls).toEqual([]);
});

test("uninstall when nothing is installed says so", async () => {
  const u = await uninstall(m);
  expect(u.ok).toBe(true);
  expect(u.lines).toEqual([expect.stringMatching(/hostd is not installed/)]);
});
