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
import { execFile, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { announceAccelerator, tinyGuest, waitFor } from "./fixtures/env";
import { SerialConsole } from "./fixtures/console";
import { HostdFixture } from "./fixtures/hostd";
import { Netns } from "./fixtures/netns";
import { migrateVm, planMigration } from "../sdk/migrate";
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
