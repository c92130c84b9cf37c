/**
 * Moving a VM between hosts through the SDK: two real hostds, each in a
 * network namespace of its own with its own state directory and host id,
 * real QEMU (tiny guest, TCG here). The client relays every stream (RAM,
 * each disk's NBD mirror, offline file copies) between the two hostds'
 * sockets, as the provider does over its two SSH connections.
 *
 * Live: a running guest with a local data disk moves while a loop in it
 * keeps writing to that disk; on the destination it is the same boot (boot
 * id, the loop's process), the disk holds what was written before and
 * during the move, and nothing of it is left on the source. Offline: the
 * stopped VM moves back, its disk file copied, and boots there with that
 * disk. A move to a host that has a VM of that name already, or too little
 * room for its disks, is refused and changes nothing on either host. A live
 * move cut half-way (the relay, the destination's QEMU, the source's hostd)
 * leaves the VM running on the source, and the next move completes.
 */
import { execFile, execFileSync, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as readline from "node:readline";
import * as path from "node:path";
import { announceAccelerator, tinyGuest, waitFor } from "./fixtures/env";
import { SerialConsole } from "./fixtures/console";
import { HostdFixture } from "./fixtures/hostd";
import { Netns } from "./fixtures/netns";
import { migrateVm, moveDisk, planDiskMove, planMigration } from "../sdk/migrate";
import { diskMoveBegin, diskMoveDescribe, diskMoveIncoming } from "../sdk/protocol";
import { isKvmError } from "../sdk/errors";

jest.setTimeout(900_000);

const g = tinyGuest();
const kernel = { path: g.kernel, initrd: g.initrd, cmdline: g.cmdline };
const owner = "test:migration-e2e";
const nss: Netns[] = [];
let a: HostdFixture;
let b: HostdFixture;

beforeAll(async () => {
  announceAccelerator();
  const hosts: HostdFixture[] = [];
  for (let i = 0; i < 2; i++) {
    const ns = Netns.create();
    nss.push(ns);
    hosts.push(await HostdFixture.start({ netns: ns.host }));
  }
  [a, b] = hosts as [HostdFixture, HostdFixture];
});

afterAll(async () => {
  for (const hd of [a, b]) await hd?.cleanup().catch((e: Error) => console.error(`cleanup of ${hd.stateDir}: ${e.message}`));
  for (const ns of nss) ns.cleanup();
});

/**
 * Samples the TCP sockets listening in each host's namespace until stopped
 * (async, so the relay in this process keeps flowing). A move is relayed over
 * unix sockets and the client: nothing may listen on TCP for it.
 */
function sampleTcpListeners(): { stop: () => Promise<{ samples: number; seen: string[] }> } {
  let running = true;
  let samples = 0;
  const seen = new Set<string>();
  const once = (ns: string) =>
    new Promise<void>((resolve, reject) =>
      execFile("ip", ["netns", "exec", ns, "ss", "-ltnH"], { encoding: "utf8" }, (err, out) => {
        if (err) return reject(err);
        for (const l of out.split("\n").filter((x) => x.trim())) seen.add(`${ns}: ${l.trim()}`);
        resolve();
      }),
    );
  const loop = (async () => {
    while (running) {
      await Promise.all(nss.map((n) => once(n.host)));
      samples++;
    }
  })();
  return { stop: async () => ((running = false), await loop, { samples, seen: [...seen] }) };
}

/** Waits until host `hd` logged that the move of `vmId` reached `phase` (its `vm.migrating` event). */
async function phaseReached(hd: HostdFixture, vmId: string, phase: string): Promise<void> {
  await waitFor(`the move of ${vmId} to reach ${phase}`, async () => {
    const { events } = await hd.client().events({ limit: 1000 });
    return events.some((e) => e.event === "vm.migrating" && e.details.id === vmId && e.details.phase === phase) || undefined;
  }, 120_000, 100);
}

/** VM directories hostd has in its state (a moved VM leaves none behind). */
function vmDirs(hd: HostdFixture): string[] {
  const dir = path.join(hd.stateDir, "vms");
  return existsSync(dir) ? readdirSync(dir) : [];
}

test("the two hostds are two hosts: their ids differ", async () => {
  const [ha, hb] = await Promise.all([a.client().helloOnce(), b.client().helloOnce()]);
  expect(ha.hostId).not.toBe(hb.hostId);
  expect(ha.capabilities).toContain("migration");
  expect(hb.capabilities).toContain("migration");
});

test("a running VM moves live with its local disk while the guest writes to it; then back offline", async () => {
  const ca = a.client();
  const cb = b.client();
  await ca.disk.create({ name: "data", sizeGiB: 1, owner });
  const vm = await ca.vm.create({ name: "mover", vcpus: 1, memoryMiB: 256, kernel, disks: [{ disk: "data" }], owner });
  await waitFor("READY on the serial console", () => /READY ip=\S+/.test(a.serialLog(vm.id)), 180_000);
  let con = await SerialConsole.open(a.stateDir, vm.id);
  const bootId = (await con.ok("cat /proc/sys/kernel/random/boot_id")).trim();
  await con.ok("echo before-the-move | dd of=/dev/vda bs=512 count=1 conv=sync,fsync 2>/dev/null");
  // A writer that keeps going through the move: sector 1 of the disk, then /tmp/n, counting up.
  await con.ok("(i=0; while true; do i=$((i+1)); echo $i | dd of=/dev/vda bs=512 seek=1 count=1 conv=sync,fsync 2>/dev/null; echo $i > /tmp/n; done) >/dev/null 2>&1 & echo $! > /tmp/writer");
  await waitFor("the writer to have written", async () => Number((await con.ok("cat /tmp/n 2>/dev/null || echo 0")).trim()) > 2, 60_000, 250);
  const writerPid = (await con.ok("cat /tmp/writer")).trim();
  const atStart = Number((await con.ok("cat /tmp/n")).trim());
  con.close();

  // The preview's view: what would be copied, nothing changed.
  const plan = await planMigration(ca, cb, "mover");
  expect(plan).toMatchObject({ vmId: vm.id, mode: "live", disks: [{ name: "data" }] });
  expect(plan.memoryBytes).toBe(256 * 1024 * 1024);
  expect(vmDirs(b)).toEqual([]);

  const phases: string[] = [];
  const listeners = sampleTcpListeners();
  const moved = await migrateVm(ca, cb, { vm: "mover", owner, onProgress: (p) => phases.push(p.phase) });
  const tcp = await listeners.stop();
  expect(tcp.samples).toBeGreaterThan(0);
  expect(tcp.seen).toEqual([]);
  console.log(`[migration-e2e] live move: downtime ${moved.downtimeMs} ms, guest pause ${moved.pauseMs} ms, total ${moved.totalMs} ms, ${moved.bytesSent} bytes`);
  expect(moved).toMatchObject({ vmId: vm.id, mode: "live", fromHostId: plan.fromHostId, toHostId: plan.toHostId });
  expect(moved.vm).toMatchObject({ id: vm.id, name: "mover", state: "running" });
  expect(phases).toContain("sending");

  // The source has nothing of it: no VM, no disk, no VM directory.
  await expect(ca.vm.get("mover")).rejects.toMatchObject({ code: "not_found" });
  expect((await ca.disk.list()).disks.map((d) => d.name)).not.toContain("data");
  expect(vmDirs(a)).toEqual([]);

  // The destination runs the same boot, the writer still counting, and the disk has every write.
  const onB = await cb.vm.get("mover");
  expect(onB).toMatchObject({ id: vm.id, state: "running" });
  expect(onB.spec.disks.map((d) => d.disk)).toEqual(["data"]);
  con = await SerialConsole.open(b.stateDir, vm.id);
  try {
    expect((await con.ok("cat /proc/sys/kernel/random/boot_id")).trim()).toBe(bootId);
    await waitFor("the writer to go on counting on the destination", async () => Number((await con.ok("cat /tmp/n")).trim()) > atStart + 2, 60_000, 250);
    await con.ok(`kill ${writerPid}`);
    await con.ok("sync; echo 3 > /proc/sys/vm/drop_caches");
    const last = Number((await con.ok("cat /tmp/n")).trim());
    const onDisk = (await con.ok("dd if=/dev/vda bs=512 count=2 2>/dev/null | tr -d '\\000'")).split("\n").map((l) => l.trim()).filter(Boolean);
    expect(onDisk[0]).toBe("before-the-move");
    // The writer writes the disk before /tmp/n, so the disk holds the last count or the one after it.
    expect([last, last + 1]).toContain(Number(onDisk[1]));
  } finally {
    con.close();
  }

  // Back to host a, stopped: an offline move copies the disk file, and it boots there with it.
  await cb.vm.update({ name: "mover", running: false });
  const back = await migrateVm(cb, ca, { vm: "mover", owner });
  console.log(`[migration-e2e] offline move: total ${back.totalMs} ms, ${back.bytesSent} bytes`);
  expect(back).toMatchObject({ vmId: vm.id, mode: "offline", disksCopied: [{ name: "data" }] });
  expect(back.vm).toMatchObject({ id: vm.id, state: "stopped" });
  await expect(cb.vm.get("mover")).rejects.toMatchObject({ code: "not_found" });
  expect(vmDirs(b)).toEqual([]);
  const readies = () => (a.serialLog(vm.id).match(/READY ip=/g) ?? []).length;
  const before = readies();
  await ca.vm.update({ name: "mover", running: true });
  await waitFor("READY after the offline move", () => readies() > before, 180_000);
  con = await SerialConsole.open(a.stateDir, vm.id);
  try {
    expect((await con.ok("dd if=/dev/vda bs=512 count=1 2>/dev/null | tr -d '\\000'")).trim()).toBe("before-the-move");
    expect((await con.ok("cat /proc/sys/kernel/random/boot_id")).trim()).not.toBe(bootId);
  } finally {
    con.close();
  }
  // Moved there and back, both are ordinary objects of host a again.
  await ca.vm.delete({ name: "mover" });
  await ca.disk.delete({ name: "data" });
  expect(vmDirs(a)).toEqual([]);
});

test("a move to a host that already has a VM of that name is refused and changes nothing on either host", async () => {
  const ca = a.client();
  const cb = b.client();
  const here = await ca.vm.create({ name: "taken", memoryMiB: 128, kernel, running: false, owner });
  const there = await cb.vm.create({ name: "taken", memoryMiB: 128, kernel, running: false, owner });
  const err = await migrateVm(ca, cb, { vm: "taken", owner }).catch((e: unknown) => e);
  expect(isKvmError(err)).toBe(true);
  expect((err as Error).message).toContain(`Moving VM "taken"`);
  expect(await ca.vm.get("taken")).toMatchObject({ id: here.id, state: "stopped" });
  expect(await cb.vm.get("taken")).toMatchObject({ id: there.id, state: "stopped" });
  await cb.vm.delete({ name: "taken" });
  await ca.vm.delete({ name: "taken" });
});

test("a move to a host without room for its disks is refused at the plan and before anything changes on either host", async () => {
  const ca = a.client();
  const cb = b.client();
  // 48 MiB of data in the disk; the destination's disk folder on a 96 MiB filesystem (the move keeps 64 MiB spare).
  const fill = path.join(a.stateDir, "..", `fill-${process.pid}.raw`);
  writeFileSync(fill, randomBytes(48 * 1024 * 1024));
  const disksDir = path.join(b.stateDir, "disks");
  mkdirSync(disksDir, { recursive: true });
  expect(readdirSync(disksDir)).toEqual([]);
  // In hostd's own mount namespace (`ip netns exec` gave it one; a mount out here would not reach it).
  const inHostd = (cmd: string, ...args: string[]) => execFileSync("nsenter", ["-t", String(b.pid), "-m", cmd, ...args], { encoding: "utf8" });
  inHostd("mount", "-t", "tmpfs", "-o", "size=96m", "tmpfs", disksDir);
  try {
    await ca.disk.create({ name: "big", sizeGiB: 1, source: { kind: "hostPath", path: fill }, owner });
    const vm = await ca.vm.create({ name: "roomless", memoryMiB: 128, kernel, running: false, disks: [{ disk: "big" }], owner });
    const toId = (await cb.helloOnce()).hostId;
    for (const attempt of [planMigration(ca, cb, "roomless"), migrateVm(ca, cb, { vm: "roomless", owner })]) {
      const err = await attempt.catch((e: unknown) => e);
      expect(isKvmError(err) && err.code).toBe("insufficient_space");
      expect((err as Error).message).toMatch(new RegExp(`host ${toId} does not take it: This host has \\d+ MiB free for disks .* about 4\\d MiB of "big"`));
    }
    // Nothing began: no move mark, no move event on the source; nothing on the destination.
    expect(await ca.vm.get("roomless")).toMatchObject({ id: vm.id, state: "stopped", migration: null });
    const { events } = await ca.events({ limit: 1000 });
    expect(events.filter((e) => e.details.id === vm.id && e.event?.startsWith("vm.migrat"))).toEqual([]);
    await expect(cb.vm.get("roomless")).rejects.toMatchObject({ code: "not_found" });
    expect((await cb.disk.list()).disks).toEqual([]);
    expect(inHostd("ls", "-A", disksDir)).toBe("");
  } finally {
    for (const c of [ca, cb]) {
      await c.vm.delete({ name: "roomless" }).catch(() => undefined);
      await c.disk.delete({ name: "big" }).catch(() => undefined);
    }
    inHostd("umount", disksDir);
    rmSync(fill, { force: true });
  }
});

test("a named CPU model is enforced where the VM starts and moves live (with its versioned machine type) to a host that has all of it; one this host lacks is refused, naming the features", async () => {
  const ca = a.client();
  const cb = b.client();
  const [ha, hb] = await Promise.all([ca.helloOnce(), cb.helloOnce()]);
  for (const h of [ha, hb]) {
    expect(h.capabilities).toContain("host.cpu");
    expect(h.cpu).toMatchObject({ native: "max" }); // TCG here: QEMU's fullest software CPU stands for "host"
    expect(h.cpu!.features.length).toBeGreaterThan(20);
    expect(h.cpu!.models).toContain("qemu64");
  }
  // Under TCG, QEMU 7.2 cannot give a guest all of Skylake-Server (pcid, x2apic, ...): refused before anything starts.
  expect(ha.cpu!.models).not.toContain("Skylake-Server");
  const err = await ca.vm.create({ name: "sky", memoryMiB: 128, kernel, cpuModel: "Skylake-Server", owner }).catch((e: unknown) => e);
  expect(isKvmError(err) && err.code).toBe("unsupported");
  expect((err as Error).message).toMatch(/CPU model "Skylake-Server", but this host's CPU lacks \d+ of its features \(.*pcid.*\): pick a model this host has all of \(.*qemu64/);
  await expect(ca.vm.get("sky")).rejects.toMatchObject({ code: "not_found" });

  const vm = await ca.vm.create({ name: "q64", memoryMiB: 256, kernel, cpuModel: "qemu64", owner });
  try {
    const arg = (pid: number | null, flag: string) => {
      const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      return argv[argv.indexOf(flag) + 1];
    };
    expect(arg(vm.pid, "-cpu")).toBe("qemu64,enforce");
    // The versioned machine type it first started with (not the q35 alias), kept on the destination.
    const machine = arg(vm.pid, "-machine");
    expect(machine).toMatch(/^pc-q35-\d+\.\d+$/);
    await waitFor("READY on the serial console", () => /READY ip=\S+/.test(a.serialLog(vm.id)), 180_000);
    const moved = await migrateVm(ca, cb, { vm: "q64", owner });
    expect(moved.vm).toMatchObject({ id: vm.id, state: "running", spec: { cpuModel: "qemu64" } });
    expect(arg(moved.vm.pid, "-cpu")).toBe("qemu64,enforce");
    expect(arg(moved.vm.pid, "-machine")).toBe(machine);
  } finally {
    for (const c of [ca, cb]) await c.vm.delete({ name: "q64" }).catch(() => undefined);
  }
});

test("a disk on a cached base from a URL moves live as its overlay only: the destination fetches the base into its own cache by sha256", async () => {
  // Each host downloads from a mirror on its own loopback (same URL, same bytes): nothing crosses between the namespaces but the move.
  const base = path.join(a.stateDir, "..", `base-${process.pid}.raw`);
  const marker = Buffer.alloc(512);
  marker.write("from-the-base");
  writeFileSync(base, Buffer.concat([marker, randomBytes(16 * 1024 * 1024 - 512)]));
  const sha256 = createHash("sha256").update(readFileSync(base)).digest("hex");
  const port = 20_000 + (process.pid % 20_000);
  const gets: string[][] = [[], []];
  const mirrors = nss.map((ns, i) => {
    const m = spawn("ip", ["netns", "exec", ns.host, process.execPath, path.join(__dirname, "fixtures", "serve-file.js"), base, "/base.raw", String(port)], { stdio: ["ignore", "pipe", "inherit"] });
    readline.createInterface({ input: m.stdout! }).on("line", (l) => gets[i]!.push(l));
    return m;
  });
  const ca = a.client();
  const cb = b.client();
  try {
    await waitFor("both mirrors to listen", () => gets.every((g) => g.includes("listening")) || undefined, 30_000, 50);
    await ca.disk.create({ name: "based", sizeGiB: 1, source: { kind: "url", url: `http://127.0.0.1:${port}/base.raw`, sha256, clone: true }, owner });
    const vm = await ca.vm.create({ name: "based-vm", memoryMiB: 256, kernel, disks: [{ disk: "based" }], owner });
    await waitFor("READY on the serial console", () => /READY ip=\S+/.test(a.serialLog(vm.id)), 180_000);
    let con = await SerialConsole.open(a.stateDir, vm.id);
    await con.ok("echo in-the-overlay | dd of=/dev/vda bs=512 seek=100 count=1 conv=sync,fsync 2>/dev/null");
    con.close();
    expect(gets[1]).not.toContain("GET /base.raw");

    const plan = await planMigration(ca, cb, "based-vm");
    expect(plan.disks).toEqual([expect.objectContaining({ name: "based", backing: "base-on-destination" })]);
    const moved = await migrateVm(ca, cb, { vm: "based-vm", owner });
    expect(moved.vm).toMatchObject({ id: vm.id, state: "running" });

    // b fetched the base itself, keeps it in its cache under that sha256, and holds the overlay on it.
    expect(gets[1]).toContain("GET /base.raw");
    expect((await cb.image.list()).images).toEqual([expect.objectContaining({ sha256, usedBy: ["based"] })]);
    const onB = await cb.disk.get("based");
    expect(onB.backingFile?.startsWith(b.stateDir)).toBe(true);
    expect(onB.actualSizeBytes).toBeLessThan(4 * 1024 * 1024); // the overlay: a few writes, not the 16 MiB base
    con = await SerialConsole.open(b.stateDir, vm.id);
    try {
      expect((await con.ok("dd if=/dev/vda bs=512 count=1 2>/dev/null | tr -d '\\000'")).trim()).toBe("from-the-base");
      expect((await con.ok("dd if=/dev/vda bs=512 skip=100 count=1 2>/dev/null | tr -d '\\000'")).trim()).toBe("in-the-overlay");
    } finally {
      con.close();
    }
    await cb.vm.delete({ name: "based-vm" });
    await cb.disk.delete({ name: "based" });
  } finally {
    for (const c of [ca, cb]) {
      await c.vm.delete({ name: "based-vm" }).catch(() => undefined);
      await c.disk.delete({ name: "based" }).catch(() => undefined);
      await c.image.prune().catch(() => undefined);
    }
    mirrors.forEach((m) => m.kill("SIGKILL"));
    rmSync(base, { force: true });
  }
});

describe("a detached Disk moves by itself", () => {
  const MiB = 1024 * 1024;
  let fill: string;
  beforeAll(() => {
    fill = path.join(a.stateDir, "..", `loose-${process.pid}.raw`);
    writeFileSync(fill, randomBytes(8 * MiB));
  });
  afterAll(async () => {
    rmSync(fill, { force: true });
    for (const c of [a.client(), b.client()]) {
      await c.vm.delete({ name: "holder" }).catch(() => undefined);
      for (const name of ["loose", "held"]) await c.disk.delete({ name }).catch(() => undefined);
    }
  });
  const eventsOf = async (hd: HostdFixture, id: string) => (await hd.client().events({ limit: 1000 })).events.filter((e) => e.details.id === id && e.event?.startsWith("disk.")).map((e) => e.event);

  test("its file is copied (same content, same id) and removed from the source", async () => {
    const ca = a.client();
    const cb = b.client();
    const disk = await ca.disk.create({ name: "loose", sizeGiB: 1, source: { kind: "hostPath", path: fill }, owner });
    const plan = await planDiskMove(ca, cb, "loose");
    expect(plan).toMatchObject({ diskId: disk.id, toHostId: (await cb.helloOnce()).hostId });
    expect(plan.bytes).toBeGreaterThanOrEqual(8 * MiB);
    const moved = await moveDisk(ca, cb, { disk: "loose", owner });
    expect(moved.bytesSent).toBeGreaterThanOrEqual(8 * MiB);
    expect(moved.disk).toMatchObject({ id: disk.id, name: "loose", owner, migration: null, problem: null, virtualSizeBytes: 1024 * MiB });
    expect(moved.disk.path.endsWith(".incoming")).toBe(false);
    expect(await cb.disk.get("loose")).toEqual(moved.disk);
    // Same bytes (the rest of the 1 GiB reads as zeros), gone from the source, each host's events say so.
    execFileSync("qemu-img", ["compare", "-f", "raw", "-F", "qcow2", fill, moved.disk.path]);
    await expect(ca.disk.get("loose")).rejects.toMatchObject({ code: "not_found" });
    expect(existsSync(disk.path)).toBe(false);
    expect(await eventsOf(a, disk.id)).toEqual(["disk.created", "disk.moving", "disk.moved-away"]);
    expect(await eventsOf(b, disk.id)).toEqual(["disk.received", "disk.moved-here"]);
    await cb.disk.delete({ name: "loose" });
  });

  test("a Disk a VM uses moves only with its VM: refused at the plan and the move, nothing changed", async () => {
    const ca = a.client();
    const cb = b.client();
    const held = await ca.disk.create({ name: "held", sizeGiB: 1, owner });
    await ca.vm.create({ name: "holder", memoryMiB: 128, kernel, running: false, disks: [{ disk: "held" }], owner });
    for (const attempt of [planDiskMove(ca, cb, "held"), moveDisk(ca, cb, { disk: "held", owner })]) {
      const err = await attempt.catch((e: unknown) => e);
      expect(isKvmError(err) && err.code).toBe("invalid_state");
      expect((err as Error).message).toContain(`attached to VM "holder": it moves with that VM`);
    }
    expect(await ca.disk.get("held")).toMatchObject({ id: held.id, migration: null, attachedTo: "holder" });
    await expect(cb.disk.get("held")).rejects.toMatchObject({ code: "not_found" });
    await ca.vm.delete({ name: "holder" });
    await ca.disk.delete({ name: "held" });
  });

  test("a move left half-way (its client gone, the destination's hostd restarted) holds the Disk on the source until the next move, which completes", async () => {
    const ca = a.client();
    const disk = await ca.disk.create({ name: "loose", sizeGiB: 1, source: { kind: "hostPath", path: fill }, owner });
    const [ha, hb] = await Promise.all([ca.helloOnce(), b.client().helloOnce()]);
    const desc = await ca.call(diskMoveDescribe, { name: "loose" });
    // What a client does before its copy, then it is gone.
    await ca.call(diskMoveBegin, { name: "loose", id: disk.id, toHostId: hb.hostId });
    const twin = await b.client().call(diskMoveIncoming, { disk: desc.disk, fromHostId: ha.hostId });
    expect(twin).toMatchObject({ id: disk.id, migration: { role: "destination", peerHostId: ha.hostId } });
    // Neither copy can be changed or taken meanwhile.
    expect(await ca.disk.get("loose")).toMatchObject({ migration: { role: "source", peerHostId: hb.hostId } });
    await expect(ca.disk.update({ name: "loose", sizeGiB: 2 })).rejects.toMatchObject({ code: "invalid_state", message: expect.stringContaining(`moving to host ${hb.hostId}`) });
    await expect(ca.disk.delete({ name: "loose" })).rejects.toMatchObject({ code: "invalid_state" });
    await expect(b.client().vm.create({ name: "holder", memoryMiB: 128, kernel, running: false, disks: [{ disk: "loose" }], owner })).rejects.toMatchObject({ code: "conflict", message: expect.stringContaining("still arriving") });
    // The destination's hostd restarts: the incomplete copy goes.
    await b.kill("SIGKILL");
    await b.start();
    await expect(b.client().disk.get("loose")).rejects.toMatchObject({ code: "not_found" });
    expect(readdirSync(path.join(b.stateDir, "disks")).filter((f) => f.startsWith(disk.id))).toEqual([]);
    expect(b.log).toContain('"msg":"removed a disk whose move here did not finish before hostd restarted"');
    // The next move undoes the source's half and completes.
    const moved = await moveDisk(ca, b.client(), { disk: "loose", owner });
    expect(moved.disk).toMatchObject({ id: disk.id, migration: null });
    execFileSync("qemu-img", ["compare", "-f", "raw", "-F", "qcow2", fill, moved.disk.path]);
    await expect(ca.disk.get("loose")).rejects.toMatchObject({ code: "not_found" });
    await b.client().disk.delete({ name: "loose" });
  });
});

test("a live move that cannot finish within its time (1 MiB/s, a guest dirtying its memory) is undone: the guest runs on at the source, nothing on the destination", async () => {
  const ca = a.client();
  const cb = b.client();
  const vm = await ca.vm.create({ name: "slow", memoryMiB: 256, kernel, owner });
  try {
    await waitFor("READY on the serial console", () => /READY ip=\S+/.test(a.serialLog(vm.id)), 180_000);
    const con = await SerialConsole.open(a.stateDir, vm.id);
    const bootId = (await con.ok("cat /proc/sys/kernel/random/boot_id")).trim();
    // The initramfs is in RAM: rewriting a file in it keeps dirtying pages the copy must send again.
    await con.ok("(while true; do dd if=/dev/urandom of=/tmp/dirty bs=1M count=8 2>/dev/null; done) >/dev/null 2>&1 & echo $! > /tmp/dirtier");
    const dirtier = (await con.ok("cat /tmp/dirtier")).trim();
    con.close();
    const pid = (await ca.vm.get("slow")).pid;
    const err = await migrateVm(ca, cb, { vm: "slow", owner, bandwidthMiBps: 1, timeoutMs: 8_000 }).catch((e: unknown) => e);
    expect(isKvmError(err) && err.code).toBe("migration_failed");
    expect((err as Error).message).toContain("did not happen within its time");
    expect((err as Error).message).toContain("It runs on host");
    expect(await ca.vm.get("slow")).toMatchObject({ id: vm.id, state: "running", pid, migration: null });
    await expect(cb.vm.get("slow")).rejects.toMatchObject({ code: "not_found" });
    expect(vmDirs(b)).toEqual([]);
    expect(nss[1]!.processes("qemu-system")).toEqual([]);
    const again = await SerialConsole.open(a.stateDir, vm.id);
    try {
      expect((await again.ok("cat /proc/sys/kernel/random/boot_id")).trim()).toBe(bootId);
      expect((await again.ok(`kill -0 ${dirtier} && echo dirtying`)).trim()).toBe("dirtying");
      await again.ok(`kill ${dirtier}`);
    } finally {
      again.close();
    }
    // Nothing stuck: once the guest is quiet, the next move completes.
    const moved = await migrateVm(ca, cb, { vm: "slow", owner });
    expect(moved.vm).toMatchObject({ id: vm.id, state: "running" });
    await expect(ca.vm.get("slow")).rejects.toMatchObject({ code: "not_found" });
  } finally {
    for (const c of [ca, cb]) await c.vm.delete({ name: "slow" }).catch(() => undefined);
  }
});

describe("a live move that fails half-way leaves the VM running on the source and nothing on the destination; the next move completes", () => {
  const cases: Array<[string, (vmId: string, abort: AbortController) => Promise<void>]> = [
    ["the client's relay cut during the RAM copy", async (vmId, abort) => {
      await phaseReached(a, vmId, "ram");
      abort.abort(new Error("test: relay cut"));
    }],
    ["the destination's QEMU killed during the RAM copy", async (vmId) => {
      await phaseReached(a, vmId, "ram");
      const qemus = nss[1]!.processes("qemu-system");
      expect(qemus).toHaveLength(1);
      process.kill(qemus[0]!, "SIGKILL");
    }],
    ["the source's hostd SIGKILLed during the RAM copy, then started again", async (vmId) => {
      await phaseReached(a, vmId, "ram");
      // The relay's source end was that hostd's: the move dies with it; its QEMU runs on, and the new hostd finds it.
      await a.kill("SIGKILL");
      await a.start();
    }],
  ];
  test.each(cases)("%s", async (_what, fault) => {
    const ca = a.client();
    const cb = b.client();
    const vm = await ca.vm.create({ name: "failer", vcpus: 1, memoryMiB: 256, kernel, owner });
    try {
      await waitFor("READY on the serial console", () => /READY ip=\S+/.test(a.serialLog(vm.id)), 180_000);
      const con = await SerialConsole.open(a.stateDir, vm.id);
      const bootId = (await con.ok("cat /proc/sys/kernel/random/boot_id")).trim();
      con.close();
      const pid = (await ca.vm.get("failer")).pid;
      const abort = new AbortController();
      // 1 MiB/s: the RAM copy (~100 MB) lasts long enough for the fault to land in it.
      const moving = migrateVm(ca, cb, { vm: "failer", owner, bandwidthMiBps: 1, signal: abort.signal }).catch((e: unknown) => e);
      await fault(vm.id, abort);
      const err = await moving;
      expect(isKvmError(err) && err.code).toBe("migration_failed");
      expect((err as Error).message).toContain("It runs on host");
      expect(await ca.vm.get("failer")).toMatchObject({ id: vm.id, state: "running", pid, migration: null });
      await expect(cb.vm.get("failer")).rejects.toMatchObject({ code: "not_found" });
      expect(vmDirs(b)).toEqual([]);
      expect(nss[1]!.processes("qemu-system")).toEqual([]);
      const again = await SerialConsole.open(a.stateDir, vm.id);
      try {
        expect((await again.ok("cat /proc/sys/kernel/random/boot_id")).trim()).toBe(bootId);
      } finally {
        again.close();
      }
      // Nothing stuck: the next move completes.
      const moved = await migrateVm(ca, cb, { vm: "failer", owner });
      expect(moved.vm).toMatchObject({ id: vm.id, state: "running" });
      await expect(ca.vm.get("failer")).rejects.toMatchObject({ code: "not_found" });
      await cb.vm.delete({ name: "failer" });
    } finally {
      await ca.vm.delete({ name: "failer" }).catch(() => undefined);
      await cb.vm.delete({ name: "failer" }).catch(() => undefined);
    }
  });
});
