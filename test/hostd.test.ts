/**
 * hostd against real QEMU (tiny Debian guest, TCG here): lifecycle, restart
 * survival, in-place updates, and bad input at the API.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import * as net from "node:net";
import { cpus, totalmem } from "node:os";
import * as path from "node:path";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { isKvmError, KvmError } from "../sdk/errors";
import { procState } from "../hostd/drivers/process";
import { ovmfMissing } from "../hostd/services/vm-files";
import { cgroupPathIn, cpuHierarchies, hostCgroupFacts, qemuCgroupName, vmCgroupPlan } from "../hostd/drivers/cgroup";
import { announceAccelerator, HOSTD_CLI, NODE, queryDb, tinyGuest, waitFor, writeDb } from "./fixtures/env";
import { HostdFixture, sendFrame } from "./fixtures/hostd";

jest.setTimeout(240_000);


const g = tinyGuest();
const kernel = { path: g.kernel, initrd: g.initrd, cmdline: g.cmdline };
let hd: HostdFixture;

beforeAll(async () => {
  announceAccelerator();
  hd = await HostdFixture.start();
});
afterAll(async () => {
  if (process.env.PKVM_DEBUG) console.log(hd?.log);
  await hd?.cleanup();
});

/** Alive and not a zombie (PID 1 here reaps orphans lazily). */
function alive(pid: number): boolean {
  const st = procState(pid);
  return st !== undefined && st !== "Z" && st !== "X";
}

test("a VM boots the tiny guest to its readiness line, and delete leaves nothing", async () => {
  const c = hd.client();
  const vm = await c.vm.create({ name: "boot", memoryMiB: 128, kernel });
  expect(vm.state).toBe("running");
  expect(vm.accelerator).toMatch(/^(tcg|kvm)$/);
  expect(vm.actual).toEqual({ memoryMiB: 128, vcpus: 1 });
  await waitFor("READY on the serial console", () => /READY ip=\S+ mem=\d+ cpus=1/.test(hd.serialLog(vm.id)), 90_000);

  // Retrying the same create is not an error and does not make a second VM.
  const again = await c.vm.create({ name: "boot", memoryMiB: 128, kernel });
  expect(again.id).toBe(vm.id);
  expect(hd.qemuPids()).toHaveLength(1);

  await expect(c.vm.create({ name: "boot", memoryMiB: 256, kernel })).rejects.toMatchObject({ code: "already_exists" });

  expect(await c.vm.delete({ name: "boot" })).toEqual({ existed: true });
  expect(alive(vm.pid!)).toBe(false);
  expect(existsSync(path.join(hd.stateDir, "vms", vm.id))).toBe(false);
  expect((await c.vm.list()).vms).toEqual([]);
  expect(await c.vm.delete({ name: "boot" })).toEqual({ existed: false });
});

/** The memory cgroup directory QEMU `pid` is in (v1: its memory hierarchy; v2: the one hierarchy). */
function ownMemoryGroup(pid: number): string {
  const text = readFileSync(`/proc/${pid}/cgroup`, "utf8");
  const mounts = cpuHierarchies(hostCgroupFacts(), "memory");
  const v1 = cgroupPathIn(text, "v1", "memory");
  if (mounts.v1 && v1 !== undefined) return path.join(mounts.v1, v1);
  return path.join(mounts.v2 ?? "/sys/fs/cgroup", cgroupPathIn(text, "v2") ?? "/");
}

/** The pids in a cgroup directory. */
function cgroupPids(dir: string): number[] {
  return readFileSync(path.join(dir, "cgroup.procs"), "utf8").split("\n").filter(Boolean).map(Number);
}

test("every QEMU runs in the VMs' CPU group and hostd does not; hostd stopping with no VMs removes the group", async () => {
  // A hostd of its own: the shared one keeps running, so its group stays.
  const own = await HostdFixture.start();
  try {
    const plan = vmCgroupPlan(own.stateDir);
    console.log(`[hostd.test] VMs' CPU group here: ${JSON.stringify(plan)}`);
    // These machines have the cgroup v1 cpu hierarchy; a host without any cpu controller fails here, loudly.
    expect(plan.kind).not.toBe("none");
    if (plan.kind === "none") return;
    const c = own.client();
    const vm = await c.vm.create({ name: "grouped", memoryMiB: 128, kernel });
    expect(cgroupPids(plan.dir)).toEqual([vm.pid]);
    expect(cgroupPids(plan.dir)).not.toContain(own.pid);
    // Every thread of QEMU (vCPU, I/O) went along: the move is of the whole process.
    const tasks = readdirSync(`/proc/${vm.pid}/task`);
    expect(tasks.length).toBeGreaterThan(1);
    for (const t of tasks) {
      const cpuPath = cgroupPathIn(readFileSync(`/proc/${vm.pid}/task/${t}/cgroup`, "utf8"), plan.kind);
      expect(cpuPath).toMatch(new RegExp(`/${path.basename(plan.dir)}$`));
    }
    // And in a memory cgroup of its own, named after the VM and the pid, where nothing else runs.
    const mine = ownMemoryGroup(vm.pid!);
    expect(path.basename(mine)).toBe(qemuCgroupName(vm.id, vm.pid!));
    expect(cgroupPids(mine)).toEqual([vm.pid]);
    await c.vm.delete({ name: "grouped" });
    // The kernel lists a process in its cgroup until its last thread has exited and it is reaped,
    // a moment after hostd saw it go; then the QEMU's own group goes (the poller sweeps it if it lingered).
    await waitFor("the group to be empty", () => cgroupPids(plan.dir).length === 0, 10_000, 20);
    await waitFor("the QEMU's own group to be removed", () => !existsSync(mine), 10_000, 50);
    await own.kill("SIGTERM");
    expect(existsSync(plan.dir)).toBe(false);
    expect(existsSync(path.dirname(mine))).toBe(false);
  } finally {
    await own.cleanup();
  }
});

test("changing memory restarts the same VM in place; QMP shows the new size; a pause is reported", async () => {
  const c = hd.client();
  const vm = await c.vm.create({ name: "grow", memoryMiB: 128, kernel });
  const { vm: after, restarted } = await c.vm.update({ name: "grow", memoryMiB: 256, stopTimeoutSeconds: 30 });
  expect(restarted).toBe(true);
  expect(after.id).toBe(vm.id);
  expect(after.state).toBe("running");
  const mem = (await hd.opsQmp(vm.id, "query-memory-size-summary")) as { "base-memory": number };
  expect(mem["base-memory"]).toBe(256 * 1024 * 1024);
  expect(after.actual).toEqual({ memoryMiB: 256, vcpus: 1 });

  // hostd answers reads from what QMP events told it: an operator's pause and resume show up.
  await hd.opsQmp(vm.id, "stop");
  await waitFor("vm.get to say paused", async () => (await c.vm.get("grow")).state === "paused", 5000, 20);
  expect(await c.vm.get("grow")).toMatchObject({ qemuStatus: "paused", actual: { memoryMiB: 256, vcpus: 1 } });
  await hd.opsQmp(vm.id, "cont");
  await waitFor("vm.get to say running", async () => (await c.vm.get("grow")).qemuStatus === "running", 5000, 20);
  await c.vm.delete({ name: "grow" });
});

test("hostd killed with SIGKILL: VMs keep running and are reported correctly after restart", async () => {
  const c = hd.client();
  const a = await c.vm.create({ name: "survive-a", memoryMiB: 128, kernel });
  const b = await c.vm.create({ name: "survive-b", memoryMiB: 128, kernel });
  const stopped = await c.vm.create({ name: "survive-off", memoryMiB: 128, running: false, kernel });
  expect(stopped.state).toBe("stopped");

  await hd.kill("SIGKILL");
  expect(alive(a.pid!)).toBe(true);
  expect(alive(b.pid!)).toBe(true);
  // While hostd is down, b's QEMU dies: the restarted hostd must notice.
  process.kill(b.pid!, "SIGKILL");
  await waitFor("b's QEMU to exit", () => !alive(b.pid!), 10_000);

  await hd.start();
  const byName = Object.fromEntries((await c.vm.list()).vms.map((v) => [v.name, v]));
  expect(byName["survive-a"]).toMatchObject({ state: "running", pid: a.pid, id: a.id, qemuStatus: "running" });
  expect(byName["survive-a"]!.actual).toEqual({ memoryMiB: 128, vcpus: 1 });
  expect(byName["survive-b"]).toMatchObject({ state: "crashed", pid: null, lastExit: { reason: "vanished" } });
  expect(byName["survive-off"]).toMatchObject({ state: "stopped", pid: null });
  // Still in the VMs' CPU group: it never left, and the restarted hostd put it there again (idempotent).
  const plan = vmCgroupPlan(hd.stateDir);
  // (b may linger as a zombie until PID 1 reaps it; the kernel still lists it then.)
  if (plan.kind !== "none") expect(cgroupPids(plan.dir).filter(alive)).toEqual([a.pid]);

  // The reattached monitor still works: a graceful stop and a start go through QMP.
  const s = await c.vm.stop({ name: "survive-a", timeoutSeconds: 30 });
  expect(s).toMatchObject({ state: "stopped", lastExit: { reason: "hostd-stop" } });
  for (const n of ["survive-a", "survive-b", "survive-off"]) await c.vm.delete({ name: n });
  expect(hd.qemuPids()).toEqual([]);
});

test("a corrupt VM row in hostd's database: hostd starts, reports the row, and serves the other VMs", async () => {
  const c = hd.client();
  await c.vm.create({ name: "row-good", memoryMiB: 96, running: false, kernel });
  const bad = await c.vm.create({ name: "row-bad", memoryMiB: 96, running: false, kernel });
  const db = path.join(hd.stateDir, "hostd.db");
  const { spec } = (queryDb(db, "SELECT spec FROM vms WHERE id = ?", bad.id) as { spec: string }[])[0]!;
  await hd.kill("SIGTERM");
  // Valid JSON of the wrong shape: only a check against the spec's schema finds it.
  writeDb(db, "UPDATE vms SET spec = ? WHERE id = ?", JSON.stringify({ ...JSON.parse(spec), memoryMiB: "a lot" }), bad.id);
  await hd.start();
  try {
    expect(hd.log).toMatch(/a row of hostd's database cannot be read.*"table":"vms".*"id":"[^"]+".*"name":"row-bad".*memoryMiB/);
    const events = (await c.events({ object: "row-bad" })).events;
    expect(events.at(-1)).toMatchObject({ level: "error", message: expect.stringContaining("cannot be read"), details: expect.objectContaining({ table: "vms", id: bad.id }) });
    expect((await c.vm.list()).vms.map((v) => v.name)).toContain("row-good");
    expect((await c.vm.list()).vms.map((v) => v.name)).not.toContain("row-bad");
    expect(await c.vm.get("row-good")).toMatchObject({ name: "row-good", state: "stopped" });
    await expect(c.vm.get("row-bad")).rejects.toMatchObject({ code: "conflict", message: expect.stringContaining("Restore hostd.db from a backup, or delete the row") });
  } finally {
    await hd.kill("SIGTERM");
    writeDb(db, "UPDATE vms SET spec = ? WHERE id = ?", spec, bad.id);
    await hd.start();
  }
  for (const n of ["row-good", "row-bad"]) await c.vm.delete({ name: n });
});

test("restartPolicy on-crash: hostd starts a killed VM again by itself; a guest power-off stays off", async () => {
  const c = hd.client();
  const vm = await c.vm.create({ name: "phoenix", memoryMiB: 128, kernel, restartPolicy: "on-crash" });
  process.kill(vm.pid!, "SIGKILL");
  const back = await waitFor("hostd to restart the VM", async () => {
    const v = await c.vm.get("phoenix");
    return v.state === "running" && v.pid !== vm.pid ? v : undefined;
  }, 30_000, 100);
  expect(back.id).toBe(vm.id);
  expect(back.lastExit).toMatchObject({ reason: "killed" });
  expect(hd.log).toContain('"msg":"restarting crashed VM (restartPolicy on-crash)"');
  // hostd said, as it recorded the kill, that it would start the VM again (no waiting needed to know).
  const exits = () => c.events({ object: "phoenix" }).then((r) => r.events.filter((e) => e.event === "vm.exited"));
  expect((await exits())[0]).toMatchObject({ details: { reason: "killed", restartsInSeconds: 1 } });
  // A stop asked of hostd is not a crash: hostd records that exit without any restart planned.
  const stopped = await c.vm.stop({ name: "phoenix", force: true });
  expect(stopped.lastExit).toMatchObject({ reason: "hostd-stop" });
  const last = (await exits()).at(-1)!;
  expect(last.details).toMatchObject({ reason: "hostd-stop" });
  expect(last.details).not.toHaveProperty("restartsInSeconds");
  expect((await c.vm.get("phoenix")).state).toBe("stopped");
  await c.vm.delete({ name: "phoenix" });
});

test("the human CLI over the API: serial log, interactive console, and the event history", async () => {
  const c = hd.client();
  const vm = await c.vm.create({ name: "watch", memoryMiB: 128, kernel });
  await waitFor("READY", () => /READY/.test(hd.serialLog(vm.id)), 120_000);
  const cli = (...args: string[]) => execFileSync(NODE, [HOSTD_CLI, ...args, "--socket", hd.socketPath], { encoding: "utf8" });
  expect(cli("vm", "log", "watch")).toMatch(/READY ip=\S+ mem=\d+ cpus=1/);

  // Attach, type a command, see its output, detach with Ctrl-].
  const con = spawn(NODE, [HOSTD_CLI, "vm", "console", "watch", "--socket", hd.socketPath], { stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  let err = "";
  con.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  con.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  await waitFor("the console to attach", () => err.includes("attached"), 10_000, 50);
  con.stdin!.write("echo CONSOLE-$((6*7))\n");
  await waitFor("the guest's answer on the console", () => out.includes("CONSOLE-42"), 20_000, 50);
  const code = new Promise((r) => con.once("exit", r));
  con.stdin!.write(Buffer.from([0x1d]));
  expect(await code).toBe(0);
  expect(err).toContain("detached");

  process.kill(vm.pid!, "SIGKILL");
  await waitFor("the exit to be recorded", async () => (await c.vm.get("watch")).state === "crashed", 10_000, 50);
  const { events } = await c.events({ object: "watch" });
  expect(events.map((e) => e.message)).toEqual(expect.arrayContaining(["VM created", "VM started", "VM exited"]));
  expect(events.find((e) => e.message === "VM exited")).toMatchObject({ level: "warn", kind: "vm", details: { reason: "killed" } });
  expect(cli("events", "--object", "watch")).toMatch(/warn +vm watch: VM exited .*reason=killed/);
  await c.vm.delete({ name: "watch" });
});

test("operator commands are API calls: start, stop, restart, kill, set and disk resize, each an event with the caller's uid", async () => {
  const c = hd.client();
  const vm = await c.vm.create({ name: "opsvm", memoryMiB: 128, kernel });
  await c.disk.create({ name: "opsdisk", sizeGiB: 1 });
  const run = (...args: string[]) => spawnSync(NODE, [HOSTD_CLI, ...args, "--socket", hd.socketPath], { encoding: "utf8" });
  const ok = (...args: string[]) => {
    const r = run(...args);
    if (r.status !== 0) throw new Error(`hostd ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
    return r.stdout;
  };
  const json = <T>(...args: string[]) => JSON.parse(ok(...args, "--json")) as T;
  type Vm = { state: string; pid: number | null; spec: { memoryMiB: number; vcpus: number; running: boolean }; lastExit: { reason: string } | null };

  // Follow the VM's events as JSON lines from the start.
  const follower = spawn(NODE, [HOSTD_CLI, "events", "--object", "opsvm", "--follow", "--json", "--socket", hd.socketPath], { stdio: ["ignore", "pipe", "pipe"] });
  let followed = "";
  follower.stdout!.on("data", (d: Buffer) => (followed += d.toString()));
  try {
    // kill: powered off at once, and the spec now says stopped (what refresh shows).
    const killed = json<{ vm: Vm }>("vm", "kill", "opsvm").vm;
    expect(killed).toMatchObject({ state: "stopped", pid: null, spec: { running: false }, lastExit: { reason: "hostd-stop" } });
    expect(alive(vm.pid!)).toBe(false);
    // The human output is a table naming the VM.
    expect(ok("vm", "start", "opsvm")).toMatch(/^NAME +STATE .*\nopsvm +running +1 +128 MiB +\d+/);
    const started = await c.vm.get("opsvm");
    expect(started).toMatchObject({ state: "running", spec: { running: true } });
    // set: memory of a running VM restarts it with the new size.
    const set = json<{ vm: Vm; restarted: boolean }>("vm", "set", "opsvm", "--memory", "160", "--timeout", "0");
    expect(set).toMatchObject({ restarted: true, vm: { state: "running", spec: { memoryMiB: 160 } } });
    expect(set.vm.pid).not.toBe(started.pid);
    const restarted = json<{ vm: Vm }>("vm", "restart", "opsvm", "--timeout", "0").vm;
    expect(restarted.state).toBe("running");
    expect(restarted.pid).not.toBe(set.vm.pid);
    expect(json<{ vm: Vm }>("vm", "stop", "opsvm", "--timeout", "0").vm).toMatchObject({ state: "stopped", spec: { running: false } });
    expect(json<{ vm: Vm }>("vm", "set", "opsvm", "--running", "true").vm).toMatchObject({ state: "running", spec: { running: true, memoryMiB: 160 } });
    const grown = json<{ disk: { virtualSizeBytes: number }; online: boolean }>("disk", "resize", "opsdisk", "2G");
    expect(grown).toMatchObject({ disk: { virtualSizeBytes: 2 * 1024 ** 3 }, online: false });

    // Mistakes: a usage error says what the flag takes (exit 2, nothing sent); hostd's errors name the object and the fix.
    const bad = run("vm", "set", "opsvm", "--vcpus", "two");
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('hostd vm set opsvm: --vcpus takes a whole number of vCPUs, got "two"');
    const missing = run("vm", "stop", "nosuch");
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain('[not_found] stopping VM "nosuch": VM "nosuch" does not exist on this host. `hostd vm list` shows the VMs on this host.');
    const shrink = run("disk", "resize", "opsdisk", "1");
    expect(shrink.status).toBe(1);
    expect(shrink.stderr).toMatch(/resizing Disk "opsdisk": /);

    // Every action is in the history with who did it (this test runs as uid ${process.getuid!()}) and its request.
    const uid = process.getuid!();
    const { events } = await c.events({ object: "opsvm" });
    const declared = events.filter((e) => e.event !== undefined);
    expect(declared.map((e) => e.event)).toEqual(["vm.started", "vm.created", "vm.exited", "vm.started", "vm.exited", "vm.started", "vm.updated", "vm.exited", "vm.started", "vm.exited", "vm.started", "vm.updated"]);
    for (const e of declared) expect({ seq: e.seq, event: e.event, uid: e.uid, req: typeof e.requestId }).toEqual({ seq: e.seq, event: e.event, uid, req: "string" });
    expect(declared.find((e) => e.event === "vm.updated")).toMatchObject({ details: { restarted: true, changed: ["memoryMiB"] } });
    expect((await c.events({ object: "opsdisk" })).events.find((e) => e.event === "disk.grown")).toMatchObject({ uid, details: { sizeGiB: 2, online: false } });
    expect(ok("events", "--object", "opsvm")).toMatch(/info +vm opsvm: VM exited +by uid \d+ +\(.*reason=hostd-stop.*req=\S+\)/);

    // Every log line of a request carries its id: the lines of the kill's request, service lines included.
    const killReq = declared[2]!.requestId!;
    const lines = hd.log.split("\n").filter((l) => l.includes(`"req":"${killReq}"`));
    expect(lines.some((l) => l.includes('"msg":"VM exited"'))).toBe(true);
    expect(lines.some((l) => l.includes('"msg":"ok"'))).toBe(true);

    // The follower saw each of them as it came, one JSON object a line.
    await waitFor("the follower to print the last update", () => followed.split("\n").filter(Boolean).some((l) => (JSON.parse(l) as { seq: number }).seq === declared.at(-1)!.seq), 10_000, 50);
    const seen = followed.split("\n").filter(Boolean).map((l) => JSON.parse(l) as { event?: string; uid?: number });
    expect(seen.filter((e) => e.event).map((e) => e.event)).toEqual(declared.map((e) => e.event));
  } finally {
    follower.kill();
    await c.vm.delete({ name: "opsvm" });
    await c.disk.delete({ name: "opsdisk" });
  }
});

test("a Disk whose file is deleted out of band: listed with its problem, its VM says why it cannot start, the owner's create makes it again", async () => {
  const c = hd.client();
  const owner = "pulumi:proj/dev/kvm:Disk/x";
  const attached = await c.disk.create({ name: "lost-att", sizeGiB: 1, owner });
  const detached = await c.disk.create({ name: "lost-det", sizeGiB: 1, owner });
  await c.disk.create({ name: "kept", sizeGiB: 1 });
  await c.vm.create({ name: "lost-vm", memoryMiB: 128, kernel, running: false, disks: [{ disk: "lost-att" }] });
  try {
    rmSync(attached.path);
    rmSync(detached.path);
    const { disks } = await c.disk.list();
    const byName = Object.fromEntries(disks.map((d) => [d.name, d]));
    expect(Object.keys(byName).sort()).toEqual(expect.arrayContaining(["kept", "lost-att", "lost-det"]));
    expect(byName["kept"]).toMatchObject({ problem: null, virtualSizeBytes: 1024 ** 3 });
    for (const n of ["lost-att", "lost-det"]) {
      expect(byName[n]).toMatchObject({ virtualSizeBytes: null, problem: expect.stringContaining(`the file of Disk "${n}" (${byName[n]!.path}) is gone`) });
    }
    expect(byName["lost-att"]!.attachedTo).toBe("lost-vm");
    const table = execFileSync(NODE, [HOSTD_CLI, "disk", "list", "--socket", hd.socketPath], { encoding: "utf8" });
    expect(table).toMatch(/^lost-det +MISSING FILE /m);
    expect(table).toMatch(/^kept +ok /m);

    const why = (await c.vm.start("lost-vm").catch((e: unknown) => e)) as KvmError;
    expect(why).toMatchObject({ code: "conflict" });
    expect(why.message).toContain('VM "lost-vm" cannot start: the file of Disk "lost-att"');
    expect((await c.vm.get("lost-vm")).state).toBe("stopped");

    // Another owner may not take the name over; the owner's create (what `up` sends after refresh) makes a new Disk.
    await expect(c.disk.create({ name: "lost-det", sizeGiB: 1, owner: "pulumi:other/dev/kvm:Disk/x" })).rejects.toMatchObject({ code: "not_owner" });
    const again = await c.disk.create({ name: "lost-att", sizeGiB: 1, owner });
    expect(again.id).not.toBe(attached.id);
    expect(again).toMatchObject({ problem: null, virtualSizeBytes: 1024 ** 3, attachedTo: "lost-vm" });
    expect(existsSync(again.path)).toBe(true);
    expect(await c.vm.start("lost-vm")).toMatchObject({ state: "running" });
  } finally {
    await c.vm.delete({ name: "lost-vm" });
    for (const n of ["lost-att", "lost-det", "kept"]) await c.disk.delete({ name: n });
  }
});

test("a NIC unplugged on the operators' QMP socket is drift in vm.get; the next update starts QEMU again with it", async () => {
  const c = hd.client();
  const vm = await c.vm.create({ name: "nicless", memoryMiB: 128, kernel, networkInterfaces: [{ type: "user" }] });
  try {
    await waitFor("READY", () => /READY/.test(hd.serialLog(vm.id)), 120_000);
    await hd.opsQmp(vm.id, "device_del", { id: "nic0" });
    const drifted = await waitFor("hostd to hear the NIC go", async () => {
      const v = await c.vm.get("nicless");
      return v.drift?.length ? v : undefined;
    }, 60_000, 100);
    expect(drifted.spec.networkInterfaces).toEqual([]);
    expect(drifted.drift).toEqual([{ field: "networkInterfaces", detail: 'QEMU no longer has NIC 0 (user; unplugged outside hostd)' }]);
    // What `pulumi up` sends after that refresh: the declared NICs again.
    const { vm: fixed, restarted } = await c.vm.update({ name: "nicless", networkInterfaces: [{ type: "user" }], stopTimeoutSeconds: 0 });
    expect(restarted).toBe(true);
    expect(fixed.pid).not.toBe(vm.pid);
    expect(fixed.drift).toEqual([]);
    expect(fixed.spec.networkInterfaces).toHaveLength(1);
    expect(fixed.nics.map((n) => n.mac)).toEqual(vm.nics.map((n) => n.mac));
  } finally {
    await c.vm.delete({ name: "nicless" });
  }
});

test("a cloud-init seed changed or deleted outside hostd is drift; an update, or the next start, rebuilds it from the spec", async () => {
  const c = hd.client();
  const cloudInit = { userData: "#cloud-config\nhostname: seeded\n" };
  const vm = await c.vm.create({ name: "seeded", memoryMiB: 128, kernel, cloudInit });
  const seed = path.join(hd.stateDir, "vms", vm.id, "seed.iso");
  const built = readFileSync(seed);
  try {
    expect(vm.drift).toEqual([]);
    writeFileSync(seed, Buffer.concat([built.subarray(0, 1024), Buffer.from("tampered")]));
    const tampered = await c.vm.get("seeded");
    expect(tampered.spec.cloudInit).toBeUndefined();
    expect(tampered.drift).toEqual([{ field: "cloudInit", detail: expect.stringContaining("the cloud-init seed is not the one hostd built for the spec") }]);
    // The update `pulumi up` sends (the declared cloudInit again) rebuilds it, without a restart.
    const fixed = await c.vm.update({ name: "seeded", cloudInit });
    expect(fixed).toMatchObject({ restarted: false, vm: { pid: vm.pid, drift: [], spec: { cloudInit } } });

    // Deleted while stopped: reported, and the next start builds it again.
    await c.vm.stop({ name: "seeded", force: true });
    rmSync(seed);
    expect((await c.vm.get("seeded")).drift).toEqual([{ field: "cloudInit", detail: "the cloud-init seed hostd built is gone (deleted outside hostd)" }]);
    const started = await c.vm.start("seeded");
    expect(started).toMatchObject({ state: "running", drift: [], spec: { cloudInit } });
    expect(existsSync(seed)).toBe(true);
  } finally {
    await c.vm.delete({ name: "seeded" });
  }
});

test("a QEMU killed out of band is reported crashed", async () => {
  const c = hd.client();
  const vm = await c.vm.create({ name: "crashy", memoryMiB: 128, kernel });
  process.kill(vm.pid!, "SIGKILL");
  await waitFor("hostd to notice", async () => (await c.vm.get("crashy")).state === "crashed", 5_000, 50);
  // Database agrees with the world.
  const [row] = queryDb(path.join(hd.stateDir, "hostd.db"), "SELECT pid, last_exit FROM vms WHERE name = ?", "crashy") as {
    pid: number | null;
    last_exit: string;
  }[];
  expect(row?.pid).toBeNull();
  // hostd started this QEMU, so it saw the exit status: a SIGKILL, and not the OOM killer's.
  expect(JSON.parse(row!.last_exit)).toMatchObject({ reason: "killed", detail: expect.stringContaining("SIGKILL") });
  const restarted = await c.vm.start("crashy");
  expect(restarted.state).toBe("running");
  // A QEMU that dies of a fatal signal of its own is a crash, named by its signal.
  process.kill(restarted.pid!, "SIGABRT");
  const aborted = await waitFor("hostd to notice the abort", async () => {
    const v = await c.vm.get("crashy");
    return v.state === "crashed" ? v : undefined;
  }, 10_000, 50);
  expect(aborted.lastExit).toMatchObject({ reason: "crashed", detail: "QEMU died of SIGABRT" });
  await c.vm.delete({ name: "crashy" });
});

test("exit reasons come from each VM's own cgroup: one OOM-killed by its memory limit, another SIGKILLed later, an operator's quit", async () => {
  const c = hd.client();
  const hog = await c.vm.create({ name: "hog", memoryMiB: 256, kernel });
  const other = await c.vm.create({ name: "other", memoryMiB: 128, kernel });
  const group = ownMemoryGroup(hog.pid!);
  expect(path.basename(group)).toBe(qemuCgroupName(hog.id, hog.pid!));
  // hostd sets no limit; the test gives the hog's group one just above what QEMU uses now. The guest is still
  // booting and touches more memory as it goes, so the kernel's OOM killer kills that QEMU, and only it.
  lowerMemoryLimit(group, 16 * 1024 * 1024);
  const oom = await waitFor("the hog to be OOM-killed", async () => {
    const v = await c.vm.get("hog");
    return v.state === "crashed" ? v : undefined;
  }, 120_000, 100);
  expect(oom.lastExit).toMatchObject({ reason: "oom-killed", detail: expect.stringContaining("OOM killer") });

  // Another VM killed afterwards is a kill, not an OOM kill: its own counter counted none.
  expect((await c.vm.get("other")).state).toBe("running");
  process.kill(other.pid!, "SIGKILL");
  const killed = await waitFor("the other VM's kill to be recorded", async () => {
    const v = await c.vm.get("other");
    return v.state === "crashed" ? v : undefined;
  }, 10_000, 50);
  expect(killed.lastExit).toMatchObject({ reason: "killed", detail: expect.stringContaining("SIGKILL") });

  // A quit sent over the VM's operators' QMP socket is the operator's, not hostd's, and no crash.
  const again = await c.vm.start("other");
  await hd.opsQmp(again.id, "quit").catch(() => undefined); // QEMU may close the socket before it replies
  const quit = await waitFor("the operator's quit to be recorded", async () => {
    const v = await c.vm.get("other");
    return v.pid === null ? v : undefined;
  }, 10_000, 50);
  expect(quit).toMatchObject({ state: "stopped", lastExit: { reason: "operator-quit" } });
  for (const n of ["hog", "other"]) await c.vm.delete({ name: n });
});

/** Gives a memory cgroup a limit `headroom` bytes above its usage now (v1 memory.limit_in_bytes, v2 memory.max). */
function lowerMemoryLimit(dir: string, headroom: number): void {
  const v1 = existsSync(path.join(dir, "memory.limit_in_bytes"));
  const usage = Number(readFileSync(path.join(dir, v1 ? "memory.usage_in_bytes" : "memory.current"), "utf8").trim());
  writeFileSync(path.join(dir, v1 ? "memory.limit_in_bytes" : "memory.max"), String(usage + headroom));
}

test("host.hello announces what this machine has: UEFI with OVMF, cloud-init with an ISO tool, user NICs with slirp, networks with their tools", async () => {
  const onPath = (prog: string) => (process.env.PATH ?? "").split(path.delimiter).some((d) => d !== "" && existsSync(path.join(d, prog)));
  const qemu = process.env.HOSTD_QEMU ?? "qemu-system-x86_64";
  const has = {
    "vm.firmware.uefi": ovmfMissing() === undefined,
    "vm.cloud-init": ["xorriso", "genisoimage", "mkisofs"].some(onPath),
    "vm.nic.user": /^user$/m.test(execFileSync(qemu, ["-netdev", "help"], { encoding: "utf8" })),
    networks: ["ip", "nft", "dnsmasq"].every(onPath),
    disks: onPath("qemu-img"),
    // Features of hostd's own protocol: always there.
    idempotency: true,
    "host.id": true,
  };
  const { capabilities } = await hd.client().helloOnce();
  for (const [cap, present] of Object.entries(has)) expect([cap, capabilities.includes(cap)]).toEqual([cap, present]);
  console.log(`[hostd] announced: ${capabilities.join(", ")}`);
});

test("capacity: one VM larger than the host is refused at create, update and start with the host's figures; VMs together may exceed it", async () => {
  const c = hd.client();
  const { capacity } = await c.helloOnce();
  expect(capacity).toEqual({ cpus: cpus().length, memoryMiB: Math.floor(totalmem() / 2 ** 20), overcommit: false });
  const { cpus: hostCpus, memoryMiB: hostMiB } = capacity!;
  const refused = async (p: Promise<unknown>, what: RegExp) => {
    const e = (await p.catch((x: unknown) => x)) as KvmError;
    expect(e).toBeInstanceOf(KvmError);
    expect(e.code).toBe("over_capacity");
    expect(e.message).toMatch(what);
    expect(e.message).toContain("--allow-overcommit");
  };
  await refused(c.vm.create({ name: "wide", vcpus: hostCpus + 1, memoryMiB: 128, kernel }), new RegExp(`${hostCpus + 1} vCPUs, but this host has ${hostCpus} CPUs`));
  await refused(c.vm.create({ name: "tall", memoryMiB: hostMiB + 1, kernel, running: false }), new RegExp(`${hostMiB + 1} MiB of memory, but this host has ${hostMiB} MiB`));
  expect((await c.vm.list()).vms.map((v) => v.name)).not.toEqual(expect.arrayContaining(["wide", "tall"]));

  // Many VMs whose sum exceeds the host are allowed: each fits on its own.
  const each = Math.ceil(hostMiB / 2);
  for (const n of ["sum-a", "sum-b", "sum-c"]) await c.vm.create({ name: n, vcpus: hostCpus, memoryMiB: each, kernel, running: false });
  await refused(c.vm.update({ name: "sum-a", vcpus: hostCpus + 1 }), /vCPUs, but this host has/);
  expect((await c.vm.get("sum-a")).spec.vcpus).toBe(hostCpus);

  // A VM made larger under a hostd that allows overcommit is refused at start by one that does not.
  const over = await HostdFixture.start({ args: ["--allow-overcommit"] });
  try {
    const oc = over.client();
    expect((await oc.helloOnce()).capacity).toMatchObject({ overcommit: true });
    const big = await oc.vm.create({ name: "big", vcpus: hostCpus + 1, memoryMiB: 128, kernel });
    expect(big).toMatchObject({ state: "running", actual: { vcpus: hostCpus + 1 } });
    await oc.vm.stop({ name: "big", force: true });
    await over.restart({ args: [] });
    await refused(over.client().vm.start("big"), /vCPUs, but this host has/);
    expect(await over.client().vm.get("big")).toMatchObject({ state: "stopped", spec: { running: false } });
  } finally {
    await over.cleanup();
  }
  for (const n of ["sum-a", "sum-b", "sum-c"]) await c.vm.delete({ name: n });
});

describe("bad input gets a structured error and creates nothing", () => {
  const bad: [string, Record<string, unknown>][] = [
    ["uppercase name", { name: "Web", kernel }],
    ["name too long", { name: "a".repeat(64), kernel }],
    ["name with injection", { name: "x; rm -rf /", kernel }],
    ["negative memory", { name: "m", memoryMiB: -1, kernel }],
    ["absurd memory", { name: "m", memoryMiB: 1e12, kernel }],
    ["fractional vcpus", { name: "m", vcpus: 1.5, kernel }],
    ["zero vcpus", { name: "m", vcpus: 0, kernel }],
    ["unknown field", { name: "m", kernel, volumes: [] }],
    ["unknown nested field", { name: "m", kernel: { ...kernel, extra: 1 } }],
    ["relative kernel path", { name: "m", kernel: { path: "vmlinuz" } }],
    ["path traversal", { name: "m", kernel: { path: "/srv/../etc/shadow" } }],
    ["comma injection into qemu options", { name: "m", kernel: { path: "/x,readonly=off" } }],
    ["command substitution", { name: "m", kernel: { path: "/$(reboot)" } }],
    ["control characters in cmdline", { name: "m", kernel: { ...kernel, cmdline: "console=ttyS0\n-device foo" } }],
    ["wrong type", { name: 7, kernel }],
    ["missing kernel", { name: "m" }],
  ];

  /** Sends one raw frame to hostd, bypassing the client's own validation. */
  const raw = (frame: string) => sendFrame(hd.socketPath, frame);

  test.each(bad)("%s: refused by hostd with invalid_params", async (_what, params) => {
    const r = await raw(JSON.stringify({ id: "t1", method: "vm.create", params }));
    expect(r.id).toBe("t1");
    expect(r.error?.code).toBe("invalid_params");
    expect(r.error?.message).not.toMatch(/\n\s+at /); // no stack trace
  });

  test.each(bad)("%s: refused by the client before sending", async (_what, params) => {
    const err = await hd.client().vm.create(params as never).catch((e: unknown) => e);
    expect(isKvmError(err, "invalid_params")).toBe(true);
  });

  test("malformed frames", async () => {
    expect((await raw("{not json")).error?.code).toBe("invalid_request");
    expect((await raw(JSON.stringify({ id: "a", method: "vm.nuke" }))).error?.code).toBe("unknown_method");
    expect((await raw(JSON.stringify({ id: "a", method: "vm.list", params: {}, extra: true }))).error?.code).toBe("invalid_request");
    expect((await raw(JSON.stringify([1, 2, 3]))).error?.code).toBe("invalid_request");
    expect((await raw("x".repeat(1024 * 1024 + 10))).error?.code).toBe("invalid_request");
  });

  test("a kernel file that does not exist: clear error, nothing left", async () => {
    const err = (await hd.client().vm.create({ name: "nokernel", kernel: { path: "/nonexistent/vmlinuz" } }).catch((e: unknown) => e)) as KvmError;
    expect(err.code).toBe("conflict");
    expect(err.message).toContain("/nonexistent/vmlinuz");
    expect(err.requestId).toBeTruthy();
  });

  test("QEMU refusing to start: qemu_failed with QEMU's words, and the create is undone", async () => {
    // A regular file hostd takes, which QEMU does not: a "kernel" of text, with an initrd.
    const notKernel = path.join(hd.dir, "not-a-kernel");
    writeFileSync(notKernel, "not a kernel\n", { mode: 0o644 });
    const err = (await hd.client().vm.create({ name: "badkernel", kernel: { path: notKernel, initrd: notKernel } }).catch((e: unknown) => e)) as KvmError;
    expect(err.code).toBe("qemu_failed");
    expect(err.message).toMatch(/qemu|kernel/i);
  });

  afterAll(async () => {
    expect((await hd.client().vm.list()).vms).toEqual([]);
    expect(hd.qemuPids()).toEqual([]);
    expect(readdirSync(path.join(hd.stateDir, "vms"))).toEqual([]);
  });
});
