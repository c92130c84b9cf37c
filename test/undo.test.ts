/**
 * Every multi-step change undoes itself. Each operation runs with its step
 * N failing on purpose (HOSTD_FAULT_FAIL_STEP="op=N", hostd restarted with
 * it before each run), for N = 1, 2, ... until it succeeds without the fault
 * (it has fewer than N steps). After each failure the host's inventory —
 * this hostd's QEMU processes and the devices inside them, their cgroups,
 * the links (taps, bridges), the files under the state directory, the
 * objects hostd lists, the nft ruleset — equals what it was before the operation, and no undo
 * step failed.
 *
 * Real hostd, QEMU (tiny guest, TCG here), bridges, dnsmasq and nftables,
 * all inside a network namespace this test makes.
 */
import { createHash } from "node:crypto";
import { existsSync, lstatSync, readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import type { HostClient } from "../sdk/client";
import { vmCgroupPlan } from "../hostd/drivers/cgroup";
import { announceAccelerator, tinyGuest, waitFor } from "./fixtures/env";
import { SerialConsole } from "./fixtures/console";
import { HostdFixture } from "./fixtures/hostd";
import { ip, Netns, nsExec } from "./fixtures/netns";

jest.setTimeout(600_000);

const g = tinyGuest();
const kernel = { path: g.kernel, initrd: g.initrd, cmdline: g.cmdline };
let ns: Netns;
let hd: HostdFixture;

beforeAll(async () => {
  announceAccelerator();
  ns = Netns.create();
  hd = await HostdFixture.start({ netns: ns.host });
  const c = hd.client();
  await c.network.create({ name: "lan", mode: "nat", ipv4: { cidr: "10.93.0.0/24" } });
  for (const name of ["d-create", "d-start", "d-hot", "d-attach"]) {
    await c.disk.create({ name, format: "qcow2", sizeGiB: 1, source: { kind: "blank" } });
  }
});

afterAll(async () => {
  if (process.env.PKVM_DEBUG) console.log(hd?.log);
  await hd?.cleanup();
  ns?.cleanup();
});

/** Files under the state directory: kind, owner, mode, and the content of those whose content is state. */
function files(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const f = path.join(dir, name);
      const rel = path.relative(root, f);
      // The database is compared through the API; the event history in it grows by design.
      if (/^hostd\.db/.test(rel)) continue;
      const st = lstatSync(f);
      const kind = st.isDirectory() ? "d" : st.isSocket() ? "s" : st.isFile() ? "f" : "o";
      // Logs grow, pidfiles and leases change with every QEMU and dnsmasq start: their presence is state, their content is not.
      const volatile = /\.(log|pid)$|\/leases$/.test(rel);
      const content = kind === "f" && !volatile ? ` ${createHash("sha256").update(readFileSync(f)).digest("hex").slice(0, 12)}` : "";
      out.push(`${kind} ${rel} ${st.uid}:${st.gid} ${(st.mode & 0o7777).toString(8)}${content}`);
      if (kind === "d") walk(f);
    }
  };
  walk(root);
  return out;
}

/** This hostd's QEMUs: each one's command line and the devices and block nodes QEMU has now (hot-plugged ones too). */
async function qemus(): Promise<string[]> {
  const out: string[] = [];
  for (const pid of hd.qemuPids()) {
    const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    const uuid = argv[argv.indexOf("-uuid") + 1]!;
    const devices = ((await hd.opsQmp(uuid, "qom-list", { path: "/machine/peripheral" })) as { name: string }[]).map((d) => d.name).sort();
    const nodes = ((await hd.opsQmp(uuid, "query-named-block-nodes")) as { "node-name": string }[]).map((n) => n["node-name"]).filter((n) => !n.startsWith("#")).sort();
    const netdevs = (await hd.opsQmp(uuid, "human-monitor-command", { "command-line": "info network" })) as string;
    out.push(JSON.stringify({ argv: argv.join(" "), devices, nodes, netdevs: netdevs.split("\n").filter((l) => /^\S/.test(l)).map((l) => l.split(":")[0]).sort() }));
  }
  return out.sort();
}

/** This hostd's VM cgroups: the CPU group and each QEMU's own group. */
function cgroups(): string[] {
  const plan = vmCgroupPlan(hd.stateDir);
  if (plan.kind === "none") return [];
  const roots = plan.kind === "v2" ? [plan.dir] : "dir" in plan.memory ? [plan.dir, plan.memory.dir] : [plan.dir];
  return roots.flatMap((r) => (existsSync(r) ? [r, ...readdirSync(r).filter((n) => n.startsWith("vm-")).map((n) => path.join(r, n))] : []));
}

/** What the API reports, without what changes by itself (pids, times, addresses, sizes on disk, exit history). */
async function objects(c: HostClient): Promise<unknown> {
  const [{ vms }, { disks }, { networks }] = await Promise.all([c.vm.list(), c.disk.list(), c.network.list()]);
  return {
    vms: vms.map((v) => ({ id: v.id, name: v.name, spec: v.spec, owner: v.owner, state: v.state, nics: v.nics.map(({ ipAddresses: _, ...n }) => n) })),
    disks: disks.map((d) => ({ id: d.id, name: d.name, spec: d.spec, path: d.path, virtualSizeBytes: d.virtualSizeBytes, attachedTo: d.attachedTo })),
    networks: networks.map((n) => ({ id: n.id, name: n.name, spec: n.spec, bridge: n.bridge, state: n.state, problems: n.problems, vms: n.vms })),
  };
}

async function inventory(): Promise<unknown> {
  const links = (JSON.parse(ip("-j", "-n", ns.host, "link", "show")) as { ifname: string; master?: string; mtu: number; operstate: string }[])
    .map((l) => `${l.ifname} master=${l.master ?? "-"} mtu=${l.mtu}`)
    .sort();
  return {
    qemus: await qemus(),
    cgroups: cgroups(),
    links,
    dnsmasq: ns.inventory().dnsmasq.length,
    files: files(hd.stateDir),
    objects: await objects(hd.client()),
    nft: nsExec(ns.host, "nft", ["list", "ruleset"]),
  };
}

/**
 * Runs `op` with step 1, 2, ... of `name` failing until it succeeds; after
 * each failure the inventory is what it was. Returns how many steps failed.
 */
async function failEachStep(name: string, op: (c: HostClient) => Promise<unknown>): Promise<number> {
  for (let n = 1; n < 50; n++) {
    await hd.restart({ env: { HOSTD_FAULT_FAIL_STEP: `${name}=${n}` } });
    const before = await inventory();
    const logFrom = hd.log.length;
    const err = await op(hd.client()).then(
      () => undefined,
      (e: unknown) => e,
    );
    const log = hd.log.slice(logFrom);
    expect(log).not.toContain('"msg":"undo step failed"');
    if (err === undefined) {
      console.log(`[undo] ${name}: steps 1..${n - 1} each failed and were undone; with ${n} it succeeded`);
      await hd.restart({ env: {} });
      return n - 1;
    }
    expect(err).toMatchObject({ code: "internal", message: expect.stringContaining(`FAULT INJECTION: step ${n} of ${name}`) });
    expect(await inventory()).toEqual(before);
  }
  throw new Error(`${name} never succeeded`);
}

test("vm.create: each step failing leaves nothing (no row, directory, seed, grant, tap or QEMU)", async () => {
  const steps = await failEachStep("vm.create", (c) =>
    c.vm.create({
      name: "made",
      memoryMiB: 128,
      kernel,
      disks: [{ disk: "d-create", bus: "virtio" }],
      networkInterfaces: [{ network: "lan" }],
      cloudInit: { userData: "#cloud-config\n" },
    }),
  );
  // Row, directory, seed, the VM user's grants, tap, QEMU: at least these are steps of their own.
  expect(steps).toBeGreaterThanOrEqual(6);
  await hd.client().vm.delete({ name: "made" });
});

test("vm.start: each step failing leaves the VM stopped as it was", async () => {
  const c = hd.client();
  await c.vm.create({ name: "later", memoryMiB: 128, kernel, running: false, disks: [{ disk: "d-start", bus: "virtio" }], networkInterfaces: [{ network: "lan" }] });
  expect(await failEachStep("vm.start", (c2) => c2.vm.start("later"))).toBeGreaterThanOrEqual(4);
  await c.vm.delete({ name: "later" });
});

describe("a running VM", () => {
  beforeAll(async () => {
    const vm = await hd.client().vm.create({ name: "live", memoryMiB: 128, kernel, networkInterfaces: [{ network: "lan" }] });
    // Hot-unplug (the undo of a hot-plug) needs the guest's cooperation: let it boot first.
    await waitFor("the guest to be READY", () => /READY/.test(hd.serialLog(vm.id)), 120_000);
  });

  test("vm.update that restarts it: each step failing brings the old VM back as it was", async () => {
    expect(await failEachStep("vm.update", (c) => c.vm.update({ name: "live", memoryMiB: 160, stopTimeoutSeconds: 0 }))).toBeGreaterThanOrEqual(3);
    expect((await hd.client().vm.get("live")).actual).toEqual({ memoryMiB: 160, vcpus: 1 });
    // The serial log keeps every boot: wait for READY after the last kernel banner.
    const id = (await hd.client().vm.get("live")).id;
    await waitFor("the restarted guest to be READY", () => /READY/.test(hd.serialLog(id).split("Linux version").pop()!), 120_000);
  });

  test("vm.update that hot-plugs a disk and a NIC: each step failing takes them out again", async () => {
    const steps = await failEachStep("vm.update", (c) =>
      c.vm.update({ name: "live", disks: [{ disk: "d-hot", bus: "virtio" }], networkInterfaces: [{ network: "lan" }, { network: "lan" }] }),
    );
    expect(steps).toBeGreaterThanOrEqual(6);
    const vm = await hd.client().vm.get("live");
    expect(vm.nics).toHaveLength(2);
    expect(vm.spec.disks).toEqual([{ disk: "d-hot", bus: "virtio" }]);
  });

  test("disk attach (vm.update adding a disk): each step failing unplugs it again", async () => {
    const steps = await failEachStep("vm.update", (c) =>
      c.vm.update({ name: "live", disks: [{ disk: "d-hot", bus: "virtio" }, { disk: "d-attach", bus: "virtio" }] }),
    );
    expect(steps).toBeGreaterThanOrEqual(3);
  });
});

test("vm.update that grows vCPUs and memory live: each step failing takes back what it added (QEMU's own counts as before)", async () => {
  // Room for the CPU slots undone rounds leave unused (QEMU 7.2 must not plug a slot it unplugged).
  const vm = await hd.client().vm.create({ name: "roomy", vcpus: 1, maxVcpus: 4, memoryMiB: 256, maxMemoryMiB: 512, kernel });
  await waitFor("the guest to be READY", () => /READY/.test(hd.serialLog(vm.id)), 120_000);
  const steps = await failEachStep("vm.update", async (c) => {
    // Under TCG an undone CPU plug restarts the VM (see vm.ts growLive): a guest still booting
    // would miss the next ACPI insertion, so each round starts with the guest up.
    await waitFor("the guest's shell to answer", async () => {
      const con = await SerialConsole.open(hd.stateDir, vm.id);
      try {
        return /READY/.test(await con.ok("cat /run/tiny/ready", 5_000));
      } finally {
        con.close();
      }
    }, 120_000, 500);
    try {
      return await c.vm.update({ name: "roomy", vcpus: 2, memoryMiB: 384 });
    } catch (e) {
      // Unplugged again: QEMU itself counts what it had (after the hostd restart, read afresh).
      expect((await c.vm.get("roomy")).actual).toEqual({ vcpus: 1, memoryMiB: 256 });
      throw e;
    }
  });
  // The spec, the re-read, the CPU, the DIMM's RAM and the DIMM: at least these are steps of their own.
  expect(steps).toBeGreaterThanOrEqual(4);
  expect((await hd.client().vm.get("roomy")).actual).toEqual({ vcpus: 2, memoryMiB: 384 });
  await hd.client().vm.delete({ name: "roomy" });
});

test("disk.update, network.update and network.create: each step failing leaves them as they were", async () => {
  await hd.client().vm.delete({ name: "live" });
  expect(await failEachStep("disk.update", (c) => c.disk.update({ name: "d-attach", sizeGiB: 2 }))).toBeGreaterThanOrEqual(1);
  expect(await failEachStep("network.update", (c) => c.network.update({ name: "lan", mtu: 1400 }))).toBeGreaterThanOrEqual(3);
  expect(await failEachStep("network.create", (c) => c.network.create({ name: "lab", mode: "isolated", ipv4: { cidr: "10.94.0.0/24" } }))).toBeGreaterThanOrEqual(2);
});
