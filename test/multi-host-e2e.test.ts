/**
 * Many hosts in one program, end to end: the real Pulumi CLI, two real hostds
 * (each in a network namespace of its own, with its own state directory and
 * host id), each reached through its own real sshd on loopback, real QEMU.
 *
 * One program declares two kvm.Hosts and, on each, a Network, a data Disk and
 * a Vm with the same names: `up` makes them on the right hosts (checked with
 * each hostd), the outputs name each host's id, the next preview is empty, a
 * VM that names the other host's Disk fails at preview naming both hosts, and
 * destroy leaves nothing on either.
 *
 * Then a VM with its own Disk is moved by changing its `host`: running, it
 * live-migrates (the same boot on the destination, its disk's data with it,
 * nothing left on the source); stopped, it moves back offline; a detached
 * Disk moves along by itself (copied, then removed); after each move the
 * next preview is empty. A live move whose destination QEMU dies leaves the VM
 * on its old host, where refresh finds it, and the next up completes it.
 */
import { announceAccelerator, tinyGuest, waitFor } from "./fixtures/env";
import { SerialConsole } from "./fixtures/console";
import { HostdFixture } from "./fixtures/hostd";
import { Netns } from "./fixtures/netns";
import { PulumiProject } from "./fixtures/pulumi";
import { SshdFixture } from "./fixtures/sshd";

jest.setTimeout(900_000);

const g = tinyGuest();

interface Side {
  ns: Netns;
  hd: HostdFixture;
  sshd: SshdFixture;
}
const sides: Side[] = [];

beforeAll(async () => {
  announceAccelerator();
  for (let i = 0; i < 2; i++) {
    const ns = Netns.create();
    const side: Partial<Side> = { ns };
    sides.push(side as Side);
    // Host a holds back its reply to disk.create (a fault injection of hostd's, logged loudly): its VM
    // waits on that disk, so host b's VM being made meanwhile shows the hosts' operations run in parallel.
    side.hd = await HostdFixture.start({ netns: ns.host, env: i === 0 ? { HOSTD_FAULT_REPLY_DELAY: "disk.create=30000" } : {} });
    side.sshd = await SshdFixture.start();
  }
});

afterAll(async () => {
  for (const s of sides) {
    await s.hd?.cleanup().catch((e: Error) => console.error(`cleanup of ${s.hd.stateDir}: ${e.message}`));
    await s.sshd?.stop();
    s.ns.cleanup();
  }
});

/** The stack config both programs read: each Host's own route and throwaway keys, and the tiny guest. */
function hostsConfig(a: Side, b: Side): Record<string, string | { secret: string }> {
  return {
    user: a.sshd.user,
    aKey: { secret: a.sshd.userKeys.ed25519.privateKey },
    bKey: { secret: b.sshd.userKeys.ed25519.privateKey },
    aPort: String(a.sshd.port),
    bPort: String(b.sshd.port),
    aKnownHosts: a.sshd.knownHostsLine(),
    bKnownHosts: b.sshd.knownHostsLine(),
    aSocket: a.hd.socketPath,
    bSocket: b.hd.socketPath,
    kernel: g.kernel,
    initrd: g.initrd,
    cmdline: g.cmdline,
  };
}

/**
 * The program: two Hosts from config, and on each the same names: network
 * "lan" (same subnet), disk "data", VM "web". `vmOnAUses` says which Disk
 * the VM on host a attaches ("a" is right; "b" is the other host's).
 */
function program(vmOnAUses: "a" | "b"): string {
  return `
import * as pulumi from "@pulumi/pulumi";
import * as kvm from "pulumi-kvm";

const cfg = new pulumi.Config();
const kernel = { path: cfg.require("kernel"), initrd: cfg.require("initrd"), cmdline: cfg.require("cmdline") };

function host(name: string): kvm.Host {
  return new kvm.Host(name, {
    connection: {
      host: "127.0.0.1",
      port: cfg.requireNumber(name + "Port"),
      user: cfg.require("user"),
      privateKey: cfg.requireSecret(name + "Key"),
      knownHosts: cfg.require(name + "KnownHosts"),
      socketPath: cfg.require(name + "Socket"),
    },
  });
}

const hosts = { a: host("a"), b: host("b") };
const made: Record<string, { net: kvm.Network; data: kvm.Disk }> = {};
for (const [n, h] of Object.entries(hosts)) {
  made[n] = {
    net: new kvm.Network("lan-" + n, { host: h, name: "lan", mode: "isolated", ipv4: { cidr: "10.77.0.0/24" } }),
    data: new kvm.Disk("data-" + n, { host: h, name: "data", sizeGiB: 1 }),
  };
}
const vms: Record<string, kvm.Vm> = {};
for (const [n, h] of Object.entries(hosts)) {
  const disk = n === "a" ? made[${JSON.stringify(vmOnAUses)}]!.data : made[n]!.data;
  vms[n] = new kvm.Vm("web-" + n, {
    host: h,
    name: "web",
    memoryMiB: 128,
    kernel,
    disks: [{ disk }],
    networkInterfaces: [{ network: made[n]!.net }],
    timeoutSeconds: 180,
  });
}

export const hostIds = { a: hosts.a.hostId, b: hosts.b.hostId };
export const accelerators = { a: hosts.a.accelerator, b: hosts.b.accelerator };
export const placed = Object.fromEntries(
  Object.entries(vms).map(([n, vm]) => [n, { vm: vm.hostId, vmId: vm.vmId, disk: made[n]!.data.hostId, diskId: made[n]!.data.diskId, net: made[n]!.net.hostId, hostName: vm.hostName }]),
);
`;
}

test("two hosts in one program: up places each on its host, preview is empty, a cross-host Disk is refused at preview, destroy cleans both", async () => {
  const [a, b] = sides as [Side, Side];
  expect(a.hd.hostId).not.toBe(b.hd.hostId);
  const p = await PulumiProject.create(program("a"), hostsConfig(a, b));
  try {
    const loginsBefore = [a.sshd.acceptedLogins(), b.sshd.acceptedLogins()];
    // 1. up: everything is made, each on its own host; host b's while host a's disk create is still answering.
    const up = p.startOperation("up", { diff: true });
    await waitFor("host b's VM while host a's disk.create is held back", async () => {
      const made = await Promise.all([a.hd.client().vm.list(), b.hd.client().vm.list()]);
      if (made[0].vms.length > 0) throw new Error("host a's VM was made before host b's: the hosts were not worked on in parallel");
      return made[1].vms.some((v) => v.name === "web") || undefined;
    }, 120_000, 250);
    const upDone = await up.done;
    expect(upDone.code === 0 ? "up ok" : upDone.output).toBe("up ok");
    const out = await p.outputs();
    expect(out.hostIds).toEqual({ a: a.hd.hostId, b: b.hd.hostId });
    expect((out.accelerators as Record<string, string>).a).toMatch(/^(tcg|kvm)$/);
    const placed = out.placed as Record<"a" | "b", { vm: string; vmId: string; disk: string; diskId: string; net: string; hostName: string }>;
    for (const [n, s] of [["a", a], ["b", b]] as const) {
      expect(placed[n]).toMatchObject({ vm: s.hd.hostId, disk: s.hd.hostId, net: s.hd.hostId, hostName: n });
      // Each hostd has its own VM "web", disk "data" and network "lan": the same names, other objects.
      const c = s.hd.client();
      const vm = await c.vm.get("web");
      expect(vm).toMatchObject({ id: placed[n].vmId, state: "running", spec: { disks: [{ disk: "data" }], networkInterfaces: [{ network: "lan" }] } });
      expect(await c.disk.get("data")).toMatchObject({ id: placed[n].diskId, attachedTo: "web" });
      expect((await c.network.list()).networks.map((x) => x.name)).toEqual(["lan"]);
      // Its QEMU runs in that host's namespace.
      expect(s.ns.processes("qemu-system")).toEqual([vm.pid]);
    }
    expect(placed.a.vmId).not.toBe(placed.b.vmId);
    // Each host was reached over its own SSH connection (pooled: a handful of logins for ~15 operations).
    const logins = [a.sshd.acceptedLogins() - loginsBefore[0]!, b.sshd.acceptedLogins() - loginsBefore[1]!];
    console.log(`[multi-host] SSH logins during up: host a ${logins[0]}, host b ${logins[1]}`);
    expect(logins).toEqual([1, 1]);

    // 2. The next preview is empty.
    const again = await p.operation("preview", { expectNoChanges: true, diff: true });
    expect(again.code === 0 ? "no changes" : again.output).toBe("no changes");

    // 3. The VM on host a naming host b's Disk fails at preview, naming both hosts by name and id; nothing changes.
    await p.writeProgram(program("b"));
    const cross = await p.operation("preview", { diff: true });
    expect(cross.code).not.toBe(0);
    expect(cross.output).toContain(
      `[wrong_host] Vm "web" is on host "a" (id ${a.hd.hostId}), but the Disk "data" it uses is on host "b" (id ${b.hd.hostId}): a VM can only use disks of its own host.`,
    );
    const refused = await p.operation("up", { diff: true });
    expect(refused.code).not.toBe(0);
    expect(refused.output).toContain(`[wrong_host] Vm "web" is on host "a"`);
    expect((await a.hd.client().vm.get("web")).spec.disks).toEqual([expect.objectContaining({ disk: "data" })]);
    expect(await a.hd.client().disk.get("data")).toMatchObject({ id: placed.a.diskId, attachedTo: "web" });
    expect(await b.hd.client().disk.get("data")).toMatchObject({ id: placed.b.diskId, attachedTo: "web" });
    await p.writeProgram(program("a"));
    const back = await p.operation("preview", { expectNoChanges: true, diff: true });
    expect(back.code === 0 ? "no changes" : back.output).toBe("no changes");

    // 4. destroy leaves nothing on either host.
    await p.mustOperation("destroy");
    for (const s of [a, b]) {
      const c = s.hd.client();
      expect((await c.vm.list()).vms).toEqual([]);
      expect((await c.disk.list()).disks).toEqual([]);
      expect((await c.network.list()).networks).toEqual([]);
      expect(s.ns.processes("qemu-system")).toEqual([]);
    }
  } finally {
    await p.cleanup();
  }
});

test("on a fresh stack (no host id known yet) a VM naming another host's Disk fails at preview, naming both hosts; nothing is made", async () => {
  const [a, b] = sides as [Side, Side];
  const p = await PulumiProject.create(program("b"), hostsConfig(a, b), { stack: "fresh" });
  try {
    const r = await p.operation("preview", { diff: true });
    expect(r.code).not.toBe(0);
    expect(r.output).toContain(
      `[wrong_host] Vm "web" is on host "a" (id ${a.hd.hostId}), but the Disk "data" it uses is on host "b" (id ${b.hd.hostId}): a VM can only use disks of its own host.`,
    );
    for (const s of [a, b]) {
      const c = s.hd.client();
      expect((await c.vm.list()).vms).toEqual([]);
      expect((await c.disk.list()).disks).toEqual([]);
    }
  } finally {
    await p.cleanup();
  }
});

/** One VM with its own Disk on the host named by config `moverHost`, running as config `moverRunning` says. */
const MOVER = `
import * as pulumi from "@pulumi/pulumi";
import * as kvm from "pulumi-kvm";

const cfg = new pulumi.Config();
const kernel = { path: cfg.require("kernel"), initrd: cfg.require("initrd"), cmdline: cfg.require("cmdline") };
const hosts: Record<string, kvm.Host> = {};
for (const name of ["a", "b"]) {
  hosts[name] = new kvm.Host(name, {
    connection: {
      host: "127.0.0.1",
      port: cfg.requireNumber(name + "Port"),
      user: cfg.require("user"),
      privateKey: cfg.requireSecret(name + "Key"),
      knownHosts: cfg.require(name + "KnownHosts"),
      socketPath: cfg.require(name + "Socket"),
    },
  });
}
const host = hosts[cfg.require("moverHost")]!;
const disk = new kvm.Disk("mdata", { host, name: "mdata", sizeGiB: 1 });
const vm = new kvm.Vm("mover", { host, name: "mover", memoryMiB: 128, kernel, disks: [{ disk }], running: cfg.requireBoolean("moverRunning"), timeoutSeconds: 180 });
// A Disk no VM uses: it moves by itself (copied, then removed from the old host).
const spare = new kvm.Disk("spare", { host: hosts[cfg.require("spareHost")]!, name: "spare", sizeGiB: 1 });
export const placed = { vm: vm.hostId, vmId: vm.vmId, disk: disk.hostId, diskId: disk.diskId, diskPath: disk.path, spare: spare.hostId, spareId: spare.diskId };
`;

test("changing a running VM's host in the program moves it live with its Disk (same guest, same ids), and a detached Disk by itself; stopped, it moves back offline; the next previews are empty", async () => {
  const [a, b] = sides as [Side, Side];
  const p = await PulumiProject.create(MOVER, {
    ...hostsConfig(a, b),
    moverHost: "a",
    moverRunning: "true",
    spareHost: "a",
  }, { stack: "mover" });
  type Placed = { vm: string; vmId: string; disk: string; diskId: string; diskPath: string; spare: string; spareId: string };
  try {
    await p.mustOperation("up");
    const first = (await p.outputs()).placed as Placed;
    expect(first).toMatchObject({ vm: a.hd.hostId, disk: a.hd.hostId });
    await waitFor("READY on host a", () => /READY ip=/.test(a.hd.serialLog(first.vmId)), 180_000);
    let con = await SerialConsole.open(a.hd.stateDir, first.vmId);
    const bootId = (await con.ok("cat /proc/sys/kernel/random/boot_id")).trim();
    await con.ok("echo moved-by-pulumi | dd of=/dev/vda bs=512 count=1 conv=sync,fsync 2>/dev/null");
    con.close();

    // Running, to host b (and the spare Disk too): the preview says it live-migrates and what it copies; up moves it in place.
    await p.setConfig("moverHost", "b");
    await p.setConfig("spareHost", "b");
    const pre = await p.operation("preview", { diff: true });
    expect(pre.code === 0 ? "ok" : pre.output).toBe("ok");
    expect(pre.output).toContain(`kvm: Vm "mover": live-migrates to host "b" (id ${b.hd.hostId})`);
    expect(pre.output).toMatch(new RegExp(`kvm: Disk "spare": is copied to host "b" \\(id ${b.hd.hostId}\\) \\(\\d+ bytes.*\\), then removed from host ${a.hd.hostId}`));
    expect(pre.output).not.toMatch(/\+-\s*kvm:index:Vm|replace/);
    const up = await p.operation("up", { diff: true });
    expect(up.code === 0 ? "ok" : up.output).toBe("ok");
    const moved = (await p.outputs()).placed as Placed;
    expect(moved).toMatchObject({ vm: b.hd.hostId, vmId: first.vmId, disk: b.hd.hostId, diskId: first.diskId, spare: b.hd.hostId, spareId: first.spareId });
    expect(moved.diskPath.startsWith(b.hd.stateDir)).toBe(true);
    expect((await a.hd.client().vm.list()).vms).toEqual([]);
    expect((await a.hd.client().disk.list()).disks).toEqual([]);
    expect(a.ns.processes("qemu-system")).toEqual([]);
    const onB = await b.hd.client().vm.get("mover");
    expect(onB).toMatchObject({ id: first.vmId, state: "running" });
    expect(b.ns.processes("qemu-system")).toEqual([onB.pid]);
    con = await SerialConsole.open(b.hd.stateDir, first.vmId);
    try {
      expect((await con.ok("cat /proc/sys/kernel/random/boot_id")).trim()).toBe(bootId); // the same boot: no restart
      expect((await con.ok("dd if=/dev/vda bs=512 count=1 2>/dev/null | tr -d '\\000'")).trim()).toBe("moved-by-pulumi");
    } finally {
      con.close();
    }
    const quiet = await p.operation("preview", { expectNoChanges: true, diff: true });
    expect(quiet.code === 0 ? "no changes" : quiet.output).toBe("no changes");

    // Stopped, back to host a: an offline move.
    await p.setConfig("moverRunning", "false");
    await p.mustOperation("up");
    await p.setConfig("moverHost", "a");
    await p.setConfig("spareHost", "a");
    const pre2 = await p.operation("preview", { diff: true });
    expect(pre2.output).toContain(`kvm: Vm "mover": moves offline to host "a" (id ${a.hd.hostId})`);
    expect(pre2.output).toContain(`kvm: Disk "spare": is copied to host "a" (id ${a.hd.hostId})`);
    await p.mustOperation("up");
    const home = (await p.outputs()).placed as Placed;
    expect(home).toMatchObject({ vm: a.hd.hostId, vmId: first.vmId, disk: a.hd.hostId, diskId: first.diskId, spare: a.hd.hostId, spareId: first.spareId });
    expect(await a.hd.client().vm.get("mover")).toMatchObject({ id: first.vmId, state: "stopped" });
    expect((await b.hd.client().vm.list()).vms).toEqual([]);
    expect((await b.hd.client().disk.list()).disks).toEqual([]);
    const quiet2 = await p.operation("preview", { expectNoChanges: true, diff: true });
    expect(quiet2.code === 0 ? "no changes" : quiet2.output).toBe("no changes");

    await p.mustOperation("destroy");
    for (const s of [a, b]) {
      expect((await s.hd.client().vm.list()).vms).toEqual([]);
      expect((await s.hd.client().disk.list()).disks).toEqual([]);
    }
  } finally {
    await p.cleanup();
  }
});

test("a live move through `pulumi up` whose destination QEMU dies leaves the VM running on its old host; refresh finds it there, the preview plans the move again, and the next up completes it", async () => {
  const [a, b] = sides as [Side, Side];
  // Host b holds back its reply to migration.incoming: its QEMU is up and waiting for the stream
  // meanwhile, so the test kills it at a known point of the move (no race with a fast copy).
  await b.hd.restart({ env: { HOSTD_FAULT_REPLY_DELAY: "migration.incoming=10000" } });
  const p = await PulumiProject.create(MOVER, { ...hostsConfig(a, b), moverHost: "a", moverRunning: "true", spareHost: "a" }, { stack: "failer" });
  try {
    await p.mustOperation("up");
    const first = (await p.outputs()).placed as { vmId: string; diskId: string };
    await waitFor("READY on host a", () => /READY ip=/.test(a.hd.serialLog(first.vmId)), 180_000);
    let con = await SerialConsole.open(a.hd.stateDir, first.vmId);
    const bootId = (await con.ok("cat /proc/sys/kernel/random/boot_id")).trim();
    con.close();
    const pid = (await a.hd.client().vm.get("mover")).pid;

    await p.setConfig("moverHost", "b");
    const up = p.operation("up");
    const qemu = await waitFor("the destination's QEMU to start", () => b.ns.processes("qemu-system")[0], 120_000, 50);
    process.kill(qemu, "SIGKILL");
    const failed = await up;
    expect(failed.code).not.toBe(0);
    expect(failed.output).toContain(`from host ${a.hd.hostId} to host ${b.hd.hostId} failed:`);
    expect(failed.output).toContain(`It runs on host ${a.hd.hostId}`);

    // The VM runs on at host a (the same QEMU and boot), and host b has nothing of it.
    expect(await a.hd.client().vm.get("mover")).toMatchObject({ id: first.vmId, state: "running", pid, migration: null });
    expect((await b.hd.client().vm.list()).vms).toEqual([]);
    expect((await b.hd.client().disk.list()).disks).toEqual([]);
    expect(b.ns.processes("qemu-system")).toEqual([]);
    con = await SerialConsole.open(a.hd.stateDir, first.vmId);
    try {
      expect((await con.ok("cat /proc/sys/kernel/random/boot_id")).trim()).toBe(bootId);
    } finally {
      con.close();
    }

    // State tells the truth: refresh finds both on host a; the preview plans the same move again.
    await p.mustOperation("refresh");
    expect(await p.resourceOutputs("mover")).toMatchObject({ vmId: first.vmId, hostId: a.hd.hostId, state: "running" });
    expect(await p.resourceOutputs("mdata")).toMatchObject({ diskId: first.diskId, hostId: a.hd.hostId });
    const pre = await p.operation("preview", { diff: true });
    expect(pre.code === 0 ? "ok" : pre.output).toBe("ok");
    expect(pre.output).toContain(`kvm: Vm "mover": live-migrates to host "b" (id ${b.hd.hostId})`);

    // The next up completes it: the same VM and boot on host b, nothing left on a, then an empty preview.
    await p.mustOperation("up");
    expect(await b.hd.client().vm.get("mover")).toMatchObject({ id: first.vmId, state: "running" });
    await expect(a.hd.client().vm.get("mover")).rejects.toMatchObject({ code: "not_found" });
    con = await SerialConsole.open(b.hd.stateDir, first.vmId);
    try {
      expect((await con.ok("cat /proc/sys/kernel/random/boot_id")).trim()).toBe(bootId);
    } finally {
      con.close();
    }
    const quiet = await p.operation("preview", { expectNoChanges: true, diff: true });
    expect(quiet.code === 0 ? "no changes" : quiet.output).toBe("no changes");
    await p.mustOperation("destroy");
  } finally {
    await p.cleanup();
    await b.hd.restart({ env: {} });
  }
});
