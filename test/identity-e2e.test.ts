/**
 * Host identity end to end with the real Pulumi CLI, sshd, hostd and QEMU: a
 * host is its host id, never the route to it. Reaching the same hostd another
 * way (a socket alias, another user, another name, another port) changes
 * nothing on the host; another hostd is another host (a replacement, and a
 * delete sent there is refused); a replacement that keeps a name leaves one
 * object of that name; and a second stack never takes the first one's VM.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import * as path from "node:path";
import { procState } from "../hostd/drivers/process";
import { isKvmError } from "../sdk/errors";
import { announceAccelerator, tinyGuest } from "./fixtures/env";
import { HostdFixture } from "./fixtures/hostd";
import { PulumiProject, RunResult } from "./fixtures/pulumi";
import { freePort, SshdFixture } from "./fixtures/sshd";

jest.setTimeout(900_000);

const g = tinyGuest();
const VM = "idvm";
const DISK = "iddisk";

/** One VM and one Disk (not attached, so the test can write into its file), with explicit names. */
const PROGRAM = `import * as pulumi from "@pulumi/pulumi";
import * as kvm from "pulumi-kvm";
const cfg = new pulumi.Config();
const disk = new kvm.Disk("data", { name: "${DISK}", sizeGiB: 1, format: cfg.get("diskFormat") === "raw" ? "raw" : "qcow2" });
const vm = new kvm.Vm("web", {
  name: "${VM}",
  memoryMiB: 96,
  guestAgent: false,
  kernel: { path: cfg.require("kernel"), initrd: cfg.require("initrd"), cmdline: cfg.require("cmdline") },
});
export const vmId = vm.vmId;
export const pid = vm.pid;
export const diskId = disk.diskId;
`;

/** A local user and group made for this file only, allowed on hostd's socket through the group. */
interface LocalUser {
  name: string;
  uid: number;
  gid: number;
}

let sshd: SshdFixture;
let hd: HostdFixture;
let other: HostdFixture | undefined;
let user: LocalUser | undefined;
let groupMade: string | undefined;
let scratch: string;
let p: PulumiProject;
const projects: PulumiProject[] = [];

function makeUser(): LocalUser {
  const name = `pkvmid${randomBytes(3).toString("hex")}`;
  execFileSync("groupadd", [name]);
  groupMade = name;
  // No home, no shell, no password, but not locked ("*", not "!"): it may log in by key and forward, nothing else.
  execFileSync("useradd", ["-M", "-N", "-g", name, "-d", "/nonexistent", "-s", "/usr/sbin/nologin", "-p", "*", name]);
  const u: LocalUser = { name, uid: Number(execFileSync("id", ["-u", name], { encoding: "utf8" })), gid: Number(execFileSync("id", ["-g", name], { encoding: "utf8" })) };
  user = u;
  return u;
}

function removeUser(): void {
  // -f: sshd's per-connection children of the user may still be exiting.
  if (user) execFileSync("userdel", ["-f", user.name], { stdio: "ignore" });
  // userdel removes a group named like the user when it has no other members; else it is still here.
  if (groupMade && spawnSync("getent", ["group", groupMade]).status === 0) execFileSync("groupdel", [groupMade], { stdio: "ignore" });
}

beforeAll(async () => {
  announceAccelerator();
  scratch = mkdtempSync("/tmp/pkvm-id-");
  // Traversable by the throwaway user: the socket alias lives here.
  chmodSync(scratch, 0o711);
  const u = makeUser();
  sshd = await SshdFixture.start({ secondPort: true });
  sshd.authorizeUser(u.name, u.uid);
  hd = await HostdFixture.start({ socketGroup: u.gid });
  p = await PulumiProject.create(PROGRAM, plainConfig());
  projects.push(p);
});

/** Stack config that reaches hostd the plain way (root, 127.0.0.1, sshd's first port, the socket itself) and boots the tiny guest. */
function plainConfig(): Record<string, string | { secret: string }> {
  return {
    "kvm:host": sshd.host,
    "kvm:port": String(sshd.port),
    "kvm:user": sshd.user,
    "kvm:privateKey": { secret: sshd.userKeys.ed25519.privateKey },
    // A fingerprint holds whatever name or port reaches the host (known_hosts lines are per name and port).
    "kvm:hostKey": sshd.hostKeyFingerprint(),
    "kvm:socketPath": hd.socketPath,
    kernel: g.kernel,
    initrd: g.initrd,
    cmdline: g.cmdline,
  };
}

afterAll(async () => {
  // Stacks first (their providers hold SSH connections as the throwaway user), then hosts, sshd, the user.
  for (const x of projects) await x.cleanup().catch(() => undefined);
  await other?.cleanup();
  await hd?.cleanup();
  await sshd?.stop();
  try {
    removeUser();
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
});

function alive(pid: number | null): boolean {
  if (pid === null) return false;
  const st = procState(pid);
  return st !== undefined && st !== "Z";
}

/**
 * The counts in the `Resources:` summary Pulumi prints after a preview or an
 * update, by kind: create, update, delete, replace, same. A plan that touches
 * nothing prints only "N unchanged".
 */
function summary(r: RunResult): Record<string, number> {
  const at = r.stdout.lastIndexOf("\nResources:\n");
  if (at < 0) throw new Error(`no Resources: summary in:\n${r.output}`);
  const counts: Record<string, number> = {};
  for (const line of r.stdout.slice(at).split("\n").slice(2)) {
    const m = /^\s+(?:\+-|[+~-])?\s*(\d+) (to create|created|to update|updated|to delete|deleted|to replace|replaced|unchanged)\b/.exec(line);
    if (!m) {
      if (line.trim() === "") break;
      continue;
    }
    const kind = { "to create": "create", created: "create", "to update": "update", updated: "update", "to delete": "delete", deleted: "delete", "to replace": "replace", replaced: "replace", unchanged: "same" }[m[2]!]!;
    counts[kind] = Number(m[1]);
  }
  return counts;
}

/** No step of the plan or update makes, deletes or replaces anything. */
function expectNothingRemade(r: RunResult): void {
  expect(r.code).toBe(0);
  const s = summary(r);
  expect({ create: s.create ?? 0, delete: s.delete ?? 0, replace: s.replace ?? 0 }).toEqual({ create: 0, delete: 0, replace: 0 });
}

/**
 * Brings the stack and the host in line (refresh, then up), so that a test
 * that failed before does not fail the next one for its own reason.
 */
async function converge(): Promise<void> {
  const r = await p.operation("refresh");
  if (r.code !== 0) {
    const config = (await p.run(["config", "--show-secrets=false"])).stdout;
    throw new Error(`refresh exited ${r.code}:\n${r.output}\nstack config:\n${config}\nsshd (ports ${sshd.port}, ${sshd.port2}): ${sshd.ended ?? "running"}; its log ends:\n${sshd.log.slice(-1500)}`);
  }
  await p.up();
}

async function mustOk(r: Promise<RunResult>, what: string): Promise<RunResult> {
  const x = await r;
  if (x.code !== 0) throw new Error(`${what} exited ${x.code}:\n${x.output}`);
  return x;
}

/** What the host says about the stack's VM and Disk. */
async function onHost(h: HostdFixture) {
  const c = h.client();
  const vm = await c.vm.get(VM);
  const disk = await c.disk.get(DISK);
  return { vmId: vm.id, pid: vm.pid, state: vm.state, diskId: disk.id, diskPath: disk.path, format: disk.format };
}

function qemuIo(file: string, format: string, cmd: string, readOnly: boolean): string {
  return execFileSync("qemu-io", ["-f", format, ...(readOnly ? ["-r"] : []), "-c", cmd, file], { encoding: "utf8" });
}

/** Reads the disk's first MiB back and checks every byte is `pattern` (qemu-io prints a failure otherwise). */
function expectPattern(file: string, format: string, pattern: number): void {
  const out = qemuIo(file, format, `read -P 0x${pattern.toString(16)} 0 1M`, true);
  expect(out).not.toMatch(/verification failed|error/i);
  expect(out).toContain("read 1048576/1048576 bytes");
}

/** The connection settings, one changed per case; each case starts where the last one left the stack. */
const ROUTES: [string, () => [string, string]][] = [
  ["kvm:socketPath changed to a symlink of the same socket", () => {
    const alias = path.join(scratch, "alias.sock");
    symlinkSync(hd.socketPath, alias);
    return ["kvm:socketPath", alias];
  }],
  ["kvm:user changed to another user allowed on the socket", () => ["kvm:user", user!.name]],
  ["kvm:host changed from 127.0.0.1 to localhost", () => ["kvm:host", "localhost"]],
  ["kvm:port changed to a second port of the same sshd", () => ["kvm:port", String(sshd.port2)]],
];

describe("the same host reached another way: no replacement, nothing changes on the host", () => {
  let pattern = 0xa0;
  test.each(ROUTES)("%s", async (_label, change) => {
    await converge();
    const hostId = (await hd.client().helloOnce()).hostId;
    const before = await onHost(hd);
    expect(alive(before.pid)).toBe(true);
    // Data in the Disk, written while no VM uses it, and a raw copy of everything the guest would see.
    pattern++;
    qemuIo(before.diskPath, before.format, `write -P 0x${pattern.toString(16)} 0 1M`, false);
    const copy = path.join(scratch, `disk-${pattern}.raw`);
    execFileSync("qemu-img", ["convert", "-f", before.format, "-O", "raw", before.diskPath, copy]);

    const [key, value] = change();
    await p.setConfig(key, value);

    // Preview: nothing is made, deleted or replaced.
    const preview = await p.operation("preview", { diff: true });
    if (preview.code !== 0) console.log(preview.output);
    expectNothingRemade(preview);

    // Up: the same VM (same id, same QEMU process) and the same Disk (same id, same bytes).
    const up = await p.operation("up", { diff: true });
    if (up.code !== 0) console.log(up.output);
    expectNothingRemade(up);
    const after = await onHost(hd);
    expect(after).toEqual(before);
    expect(alive(after.pid)).toBe(true);
    expect(await p.outputs()).toMatchObject({ vmId: before.vmId, pid: before.pid, diskId: before.diskId });
    expectPattern(after.diskPath, after.format, pattern);
    execFileSync("qemu-img", ["compare", "-q", "-f", "raw", "-F", after.format, copy, after.diskPath]);
    rmSync(copy);
    // State records the host by its id, unchanged.
    expect(await p.resourceOutputs("web")).toMatchObject({ vmId: before.vmId, hostId });
    expect(await p.resourceOutputs("data")).toMatchObject({ diskId: before.diskId, hostId });

    // And then nothing is left to do, read back from the host or planned.
    await mustOk(p.operation("refresh", { diff: true, expectNoChanges: true }), "refresh --expect-no-changes");
    await mustOk(p.operation("preview", { diff: true, expectNoChanges: true }), "preview --expect-no-changes");
    expect(await onHost(hd)).toEqual(before);
  });
});

test("a host that cannot be asked for its id fails the preview and the up, and nothing is planned or deleted", async () => {
  await converge();
  const before = await onHost(hd);
  const port = (await p.run(["config", "get", "kvm:port"])).stdout.trim();
  await p.setConfig("kvm:port", String(await freePort()));
  try {
    for (const op of ["preview", "up"] as const) {
      const r = await p.operation(op, { diff: true });
      expect(r.code).not.toBe(0);
      // The engine stops at the first resource whose diff fails, the Vm or the Disk.
      expect(r.output).toMatch(/\[connect_failed\] (Vm "idvm"|Disk "iddisk"): the connection changed to /);
      expect(await onHost(hd)).toEqual(before);
    }
  } finally {
    await p.setConfig("kvm:port", port);
  }
  await mustOk(p.operation("preview", { expectNoChanges: true }), "preview --expect-no-changes");
  // The failed up (the Automation API skips its preview) saved the unreachable port as the provider's
  // config in state, and a refresh configures the provider from state: an up puts the route back there.
  expectNothingRemade(await p.operation("up"));
  expect(await onHost(hd)).toEqual(before);
  await mustOk(p.operation("refresh", { expectNoChanges: true }), "refresh --expect-no-changes");
});

describe("a replacement that keeps the name leaves one object of that name, with the new spec", () => {
  test("pulumi up --replace of the Vm and the Disk", async () => {
    await converge();
    const before = await onHost(hd);
    const up = await mustOk(p.operation("up", { diff: true, replace: [await p.urnOf("web"), await p.urnOf("data")] }), "up --replace");
    expect(summary(up)).toMatchObject({ replace: 2 });
    const c = hd.client();
    const vms = (await c.vm.list()).vms.filter((v) => v.name === VM);
    const disks = (await c.disk.list()).disks.filter((d) => d.name === DISK);
    if (vms.length !== 1 || disks.length !== 1) console.log(up.output);
    expect({ vms: vms.length, disks: disks.length }).toEqual({ vms: 1, disks: 1 });
    const out = await p.outputs();
    expect({ vmId: vms[0]!.id, diskId: disks[0]!.id }).toEqual({ vmId: out.vmId, diskId: out.diskId });
    expect(vms[0]!.id).not.toBe(before.vmId);
    expect(disks[0]!.id).not.toBe(before.diskId);
    expect(vms[0]!.state).toBe("running");
    expect(alive(vms[0]!.pid)).toBe(true);
    expect(alive(before.pid)).toBe(false);
    await mustOk(p.operation("refresh", { diff: true, expectNoChanges: true }), "refresh --expect-no-changes");
  });

  test("a Disk's format changed (which replaces it)", async () => {
    await converge();
    const before = await onHost(hd);
    expect(before.format).toBe("qcow2");
    await p.setConfig("diskFormat", "raw");
    const preview = await mustOk(p.operation("preview", { diff: true }), "preview");
    expect(summary(preview)).toMatchObject({ replace: 1 });
    expect(summary(preview).delete ?? 0).toBe(0);
    const up = await mustOk(p.operation("up", { diff: true }), "up");
    expect(summary(up)).toMatchObject({ replace: 1 });
    const disks = (await hd.client().disk.list()).disks.filter((d) => d.name === DISK);
    expect(disks).toHaveLength(1);
    expect(disks[0]!.format).toBe("raw");
    expect(disks[0]!.id).toBe((await p.outputs()).diskId);
    expect(disks[0]!.id).not.toBe(before.diskId);
    // The VM was not touched by the Disk's replacement.
    expect((await onHost(hd)).pid).toBe(before.pid);
    await mustOk(p.operation("refresh", { diff: true, expectNoChanges: true }), "refresh --expect-no-changes");
    await mustOk(p.operation("preview", { expectNoChanges: true, refresh: true }), "preview --refresh --expect-no-changes");
  });
});

test("a second stack declaring the same VM and Disk names on the host fails naming the first stack's resources, and takes nothing", async () => {
  await converge();
  const before = await onHost(hd);
  // Another stack of the same project (same program, same spec), reaching the host the plain way.
  const second = await PulumiProject.create(PROGRAM, { ...plainConfig(), diskFormat: "raw" }, { stack: "second" });
  projects.push(second);
  const up = await second.operation("up");
  expect(up.code).not.toBe(0);
  expect(up.output).toContain("[not_owner]");
  expect(up.output).toContain(`pulumi:pkvm-test/${p.stack}/kvm:Vm/web`);
  expect(up.output).toContain(`pulumi:pkvm-test/${p.stack}/kvm:Disk/data`);
  expect(await onHost(hd)).toEqual(before);
  expect(alive(before.pid)).toBe(true);

  // Destroying the second stack deletes nothing of the first's.
  await mustOk(second.operation("destroy"), "destroy of the second stack");
  expect(await onHost(hd)).toEqual(before);
  expect(alive(before.pid)).toBe(true);
  await mustOk(p.operation("refresh", { diff: true, expectNoChanges: true }), "refresh --expect-no-changes of the first stack");
});

/** A VM made by hand on `h` (no owner) with the stack's VM name and spec. */
async function namesakeOn(h: HostdFixture) {
  const vm = await h.client().vm.create({ name: VM, memoryMiB: 96, guestAgent: false, kernel: { path: g.kernel, initrd: g.initrd, cmdline: g.cmdline } });
  expect(alive(vm.pid)).toBe(true);
  return vm;
}

/** The namesake as `h` has it now: still there, the same VM, the same QEMU process. */
async function expectUntouched(h: HostdFixture, namesake: { id: string; pid: number | null }): Promise<void> {
  const now = await h.client().vm.get(VM);
  expect({ id: now.id, pid: now.pid, state: now.state }).toEqual({ id: namesake.id, pid: namesake.pid, state: "running" });
  expect(alive(now.pid)).toBe(true);
}

test("another hostd is another host: a replacement, never a namesake's adoption or deletion; a delete sent there with the recorded host id is refused", async () => {
  await converge();
  const before = await onHost(hd);
  const hostId = (await hd.client().helloOnce()).hostId;
  other = await HostdFixture.start({ socketGroup: user!.gid });
  const otherId = (await other.client().helloOnce()).hostId;
  expect(otherId).not.toBe(hostId);
  expect(await p.resourceOutputs("web")).toMatchObject({ vmId: before.vmId, hostId });
  const there = await namesakeOn(other);

  const route = (await p.run(["config", "get", "kvm:socketPath"])).stdout.trim();
  await p.setConfig("kvm:socketPath", other.socketPath);

  // The preview: both resources are replaced, and the provider says why.
  const preview = await mustOk(p.operation("preview", { diff: true }), "preview against the other hostd");
  expect(summary(preview)).toMatchObject({ replace: 2 });
  expect(preview.output).toMatch(/kvm: Vm "idvm": .*ANOTHER host.*REPLACES/);

  // A delete with the stack's recorded host id, sent to the other hostd: refused, naming both hosts, changing nothing.
  const refused = await other
    .client()
    .vm.delete({ name: VM, id: there.id, hostId })
    .then(() => undefined, (e: unknown) => e);
  expect(isKvmError(refused, "wrong_host")).toBe(true);
  expect(String(refused)).toContain(hostId);
  expect(String(refused)).toContain(otherId);
  await expectUntouched(other, there);

  // The up: the VM's create there meets the namesake and fails; the namesake is neither adopted nor deleted.
  // KNOWN GAP: kvm resources delete before they replace (see provider/resource.ts), so the VM on the first
  // host is deleted before the create on the other host is refused; a host change becomes a move in the
  // migration issue, which removes this. Not asserted either way here.
  const blocked = await p.operation("up");
  expect(blocked.code).not.toBe(0);
  expect(blocked.output).toContain("[not_owner]");
  await expectUntouched(other, there);

  // With the namesake gone, the up moves both: made on the other host, deleted on the first.
  await other.client().vm.delete({ name: VM, id: there.id });
  await p.up();
  const moved = await onHost(other);
  expect(moved.vmId).not.toBe(before.vmId);
  expect(alive(moved.pid)).toBe(true);
  expect(await p.outputs()).toMatchObject({ vmId: moved.vmId, diskId: moved.diskId });
  expect(await p.resourceOutputs("web")).toMatchObject({ hostId: otherId });
  expect(await p.resourceOutputs("data")).toMatchObject({ hostId: otherId });
  expect((await hd.client().vm.list()).vms.filter((v) => v.name === VM)).toEqual([]);
  expect((await hd.client().disk.list()).disks.filter((d) => d.name === DISK)).toEqual([]);
  expect(alive(before.pid)).toBe(false);
  await mustOk(p.operation("refresh", { diff: true, expectNoChanges: true }), "refresh --expect-no-changes");
  await mustOk(p.operation("preview", { expectNoChanges: true }), "preview --expect-no-changes");

  // A destroy while the route leads back to the first host deletes on the resources' own host, not a namesake here.
  const here = await namesakeOn(hd);
  await p.setConfig("kvm:socketPath", route);
  await mustOk(p.operation("destroy"), "destroy");
  await expectUntouched(hd, here);
  expect((await other.client().vm.list()).vms).toEqual([]);
  expect((await other.client().disk.list()).disks).toEqual([]);
});
