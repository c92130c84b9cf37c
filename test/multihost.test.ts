/**
 * Several hostds on one machine, as our multi-host tests and containers run
 * them: real hostds, real QEMU (tiny guest, TCG here), network namespaces.
 *
 * (a) one hostd per state directory: a second one exits at once naming the
 *     first, which keeps serving; SIGKILL releases the lock (VMs still run).
 * (b) two hostds in two namespaces: disjoint VM uid ranges, and neither a
 *     create, a delete nor a restart of one changes anything of the other's.
 * (c) two hostds in one namespace: a table each, a bridge of one never taken
 *     or deleted by the other, and the legacy shared table removed only when
 *     it is provably the restarting hostd's.
 */
import { execFileSync, spawn } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import type { VmInfo } from "../sdk/protocol";
import { LEGACY_NFT_TABLE, nftTableName, renderRuleset } from "../hostd/drivers/nft";
import { linkMark } from "../hostd/drivers/netlink";
import { contains, formatRange, overlaps, readRecordedRange, UidRange } from "../hostd/uid-range";
import { announceAccelerator, HOSTD_CLI, NODE, tinyGuest, waitFor } from "./fixtures/env";
import { HostdFixture } from "./fixtures/hostd";
import { ip, Netns, nsExec } from "./fixtures/netns";

jest.setTimeout(600_000);

const g = tinyGuest();
const kernel = { path: g.kernel, initrd: g.initrd, cmdline: g.cmdline };
const hostds: HostdFixture[] = [];
const namespaces: Netns[] = [];

beforeAll(() => announceAccelerator());

afterAll(async () => {
  if (process.env.PKVM_DEBUG) for (const h of hostds) console.log(h.log);
  // Each cleanup deletes VMs and networks, kills leftover QEMUs and removes a dead hostd's claim.
  for (const h of hostds) await h.cleanup().catch((e: Error) => console.error(`cleanup of ${h.stateDir}: ${e.message}`));
  for (const n of namespaces) n.cleanup();
});

async function startHostd(o: Parameters<typeof HostdFixture.start>[0] = {}): Promise<HostdFixture> {
  const h = await HostdFixture.start(o);
  hostds.push(h);
  return h;
}

function netns(): Netns {
  const n = Netns.create();
  namespaces.push(n);
  return n;
}

/** `hostd serve` that is expected to refuse: its exit code and what it printed. */
function serveRefused(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(NODE, [HOSTD_CLI, "serve", ...args], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    p.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    p.once("exit", (code) => resolve({ code, stderr }));
  });
}

/** The uid a process runs as (real uid, from /proc). */
function uidOf(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith("Uid:"))!;
  return Number(line.split(/\s+/)[1]);
}

/** A hostd's range as it recorded it (and claimed it: it would not serve otherwise). */
function rangeOf(h: HostdFixture): UidRange {
  return readRecordedRange(h.stateDir)!;
}

async function waitReady(h: HostdFixture, vm: VmInfo): Promise<void> {
  await waitFor(`${vm.name} to be READY`, () => /READY/.test(h.serialLog(vm.id)), 180_000);
}

/** SIGTERM and a start on the same state; returns once the new hostd serves. */
async function restart(h: HostdFixture): Promise<void> {
  await h.kill("SIGTERM");
  await h.start();
}

describe("(a) one hostd per state directory", () => {
  let first: HostdFixture;
  let vm: VmInfo;

  beforeAll(async () => {
    first = await startHostd();
    // A running QEMU started by this hostd: it outlives hostd, and must not inherit its lock.
    vm = await first.client().vm.create({ name: "a-vm", memoryMiB: 128, kernel });
  });

  test("a second hostd on the same state directory exits at once, naming the first; the first keeps serving", async () => {
    const other = path.join(first.dir, "second.sock");
    const r = await serveRefused(["--socket", other, "--state-dir", first.stateDir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(`\\[conflict\\] State directory ${first.stateDir} is in use by another hostd \\(hostd pid ${first.pid}, serving ${first.socketPath}, started \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z, host id ${first.hostId}\\)`),
    );
    // It stopped before touching anything: no socket of its own, no store opened, nothing logged as serving.
    expect(r.stderr).not.toContain('"msg":"serving"');
    expect(existsSync(other)).toBe(false);
    const c = first.client();
    expect((await c.helloOnce()).hostId).toBe(first.hostId);
    expect((await c.vm.get("a-vm")).state).toBe("running");
  });

  test("SIGKILL releases the lock: hostd starts again on the same state, its VM still running as before", async () => {
    const [qemu] = first.qemuPids();
    const uid = uidOf(qemu!);
    await first.kill("SIGKILL");
    expect(first.qemuPids()).toEqual([qemu]);
    await first.start();
    const again = await first.client().vm.get("a-vm");
    expect(again).toMatchObject({ id: vm.id, state: "running", pid: qemu });
    expect(uidOf(qemu!)).toBe(uid);
    expect(contains(rangeOf(first), uid)).toBe(true);
    await first.client().vm.delete({ name: "a-vm" });
  });
});

describe("(b) two hostds in two network namespaces", () => {
  const hosts: { ns: Netns; hd: HostdFixture; vm: VmInfo }[] = [];

  beforeAll(async () => {
    for (let i = 0; i < 2; i++) {
      const ns = netns();
      const hd = await startHostd({ netns: ns.host });
      // The same network name, subnet and VM name on both: only the host ids tell them apart.
      await hd.client().network.create({ name: "lan", mode: "nat", ipv4: { cidr: "10.91.0.0/24" } });
      const vm = await hd.client().vm.create({ name: "guest", memoryMiB: 128, kernel, networkInterfaces: [{ network: "lan" }] });
      hosts.push({ ns, hd, vm });
    }
    await Promise.all(hosts.map((h) => waitReady(h.hd, h.vm)));
  });

  test("their VMs run as uids from disjoint ranges; a range that overlaps one is refused naming its hostd", async () => {
    const [a, b] = hosts.map((h) => {
      const pids = h.ns.processes("qemu-system");
      expect(pids).toHaveLength(1);
      return { uid: uidOf(pids[0]!), range: rangeOf(h.hd), hd: h.hd };
    });
    console.log(`[multihost] VM uids: host A ${a!.uid} in ${formatRange(a!.range)}, host B ${b!.uid} in ${formatRange(b!.range)}`);
    expect(overlaps(a!.range, b!.range)).toBe(false);
    expect(contains(a!.range, a!.uid)).toBe(true);
    expect(contains(b!.range, b!.uid)).toBe(true);
    expect(a!.uid).not.toBe(b!.uid);

    const r = await serveRefused(["--socket", path.join(a!.hd.dir, "third.sock"), "--state-dir", path.join(a!.hd.dir, "third"), "--vm-uid-base", String(a!.range.base + 10)]);
    rmSync(path.join(a!.hd.dir, "third"), { recursive: true, force: true });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`overlaps ${formatRange(a!.range)} of another hostd (host id ${a!.hd.hostId}, pid ${a!.hd.pid}, state directory ${a!.hd.stateDir}, socket ${a!.hd.socketPath})`);
  });

  test("each namespace has its hostd's own table and marked bridge", () => {
    for (const { ns, hd } of hosts) {
      expect(nsExec(ns.host, "nft", ["list", "tables"]).trim()).toBe(`table inet ${nftTableName(hd.hostId)}`);
      const bridge = ns.snapshot().links.find((l) => l.startsWith("kvbr-"))!;
      expect(bridge).toContain(JSON.stringify(linkMark(hd.hostId)));
    }
  });

  test("hostd doctor shows the host id and the uid range, and who holds it", () => {
    const { hd } = hosts[0]!;
    const out = JSON.parse(execFileSync(NODE, [HOSTD_CLI, "doctor", "--state-dir", hd.stateDir, "--json"], { encoding: "utf8" })) as { checks: { id: string; detail: string }[] };
    const by = (id: string) => out.checks.find((c) => c.id === id)!.detail;
    expect(by("host-id")).toBe(`${hd.hostId} (${path.join(hd.stateDir, "host-id")})`);
    expect(by("vm-uids")).toMatch(new RegExp(`^${formatRange(rangeOf(hd))}, held by hostd pid ${hd.pid} \\(socket ${hd.socketPath}\\); [1-9]\\d* other running hostd`));
  });

  test("a create, a delete and a restart of either hostd leave everything of the other's as it was", async () => {
    for (const [x, y] of [[hosts[0]!, hosts[1]!], [hosts[1]!, hosts[0]!]] as const) {
      const theirs = y.ns.snapshot();
      const mine = x.ns.snapshot();
      const range = rangeOf(x.hd);
      const c = x.hd.client();

      await c.vm.create({ name: "extra", memoryMiB: 128, kernel, networkInterfaces: [{ network: "lan" }] });
      // The snapshot sees what a create makes (a tap, a QEMU), so "unchanged" below means something.
      const grown = x.ns.snapshot();
      expect(grown.links.length).toBe(mine.links.length + 1);
      expect(grown.qemu.length).toBe(mine.qemu.length + 1);
      expect(y.ns.snapshot()).toEqual(theirs);

      await c.vm.delete({ name: "extra" });
      expect(x.ns.snapshot()).toEqual(mine);
      expect(y.ns.snapshot()).toEqual(theirs);

      await restart(x.hd);
      expect(y.ns.snapshot()).toEqual(theirs);
      // The restarted one found everything of its own as it was, in the same uid range.
      expect(x.ns.snapshot()).toEqual(mine);
      expect(rangeOf(x.hd)).toEqual(range);
      expect(x.hd.log).toMatch(new RegExp(`"msg":"VM uid range".*"base":${range.base},"count":${range.count},"source":"recorded"`));
      expect((await x.hd.client().vm.get("guest")).state).toBe("running");
    }
  });
});

describe("(c) two hostds in one network namespace", () => {
  let ns: Netns;
  let one: HostdFixture;
  let two: HostdFixture;
  const table = (h: HostdFixture) => nsExec(ns.host, "nft", ["list", "table", "inet", nftTableName(h.hostId)]);

  /** What of `two`'s a move of `one` must not change: its table, its links, its dnsmasq. */
  const twosThings = () => {
    const s = ns.snapshot();
    return { table: table(two), links: s.links.filter((l) => l.includes(JSON.stringify(linkMark(two.hostId)))), dnsmasq: dnsmasqOf(two) };
  };
  const dnsmasqOf = (h: HostdFixture) => ns.processes("dnsmasq").filter((p) => readFileSync(`/proc/${p}/cmdline`, "utf8").includes(h.stateDir + "/"));

  beforeAll(async () => {
    ns = netns();
    one = await startHostd({ netns: ns.host });
    two = await startHostd({ netns: ns.host });
    await one.client().network.create({ name: "one-net", mode: "nat", ipv4: { cidr: "10.92.0.0/24" } });
    await two.client().network.create({ name: "two-net", mode: "nat", ipv4: { cidr: "10.93.0.0/24" } });
  });

  test("each has a table of its own; restarting, adding and deleting networks on one leaves the other's table", async () => {
    expect(nsExec(ns.host, "nft", ["list", "tables"]).trim().split("\n").sort()).toEqual([`table inet ${nftTableName(one.hostId)}`, `table inet ${nftTableName(two.hostId)}`].sort());
    expect(table(one)).toContain("10.92.0.0/24");
    expect(table(one)).not.toContain("10.93.0.0/24");
    const before = twosThings();
    expect(before.table).toContain("10.93.0.0/24");
    expect(before.links).toHaveLength(1);
    expect(before.dnsmasq).toHaveLength(1);

    await restart(one);
    expect(twosThings()).toEqual(before);
    await one.client().network.create({ name: "one-more", mode: "isolated", ipv4: { cidr: "10.94.0.0/24" } });
    expect(table(one)).toContain(`${(await one.client().network.get("one-more")).bridge}`);
    expect(twosThings()).toEqual(before);
    await one.client().network.delete({ name: "one-more" });
    await one.client().network.delete({ name: "one-net" });
    // With no network left its table is gone; the other's is not.
    expect(nsExec(ns.host, "nft", ["list", "tables"]).trim()).toBe(`table inet ${nftTableName(two.hostId)}`);
    expect(twosThings()).toEqual(before);
    await one.client().network.create({ name: "one-net", mode: "nat", ipv4: { cidr: "10.92.0.0/24" } });
  });

  test("a bridge name of one's that the other now uses is neither taken over (start, health check) nor deleted", async () => {
    await one.client().network.create({ name: "named", mode: "nat", bridge: "mhbr", ipv4: { cidr: "10.95.0.0/24" } });
    // While one is down, its bridge and that bridge's dnsmasq go (as in a reboot of the namespace:
    // a dnsmasq left running would bind to the addresses of any new link of that name), and two
    // makes a network on a bridge of that name.
    await one.kill("SIGTERM");
    const [stale] = dnsmasqOf(one).filter((p) => readFileSync(`/proc/${p}/cmdline`, "utf8").includes("--interface=mhbr\0"));
    process.kill(stale!, "SIGKILL");
    await waitFor("one's dnsmasq on mhbr to exit", () => !dnsmasqOf(one).includes(stale!), 10_000);
    ip("-n", ns.host, "link", "del", "mhbr");
    await two.client().network.create({ name: "taker", mode: "nat", bridge: "mhbr", ipv4: { cidr: "10.96.0.0/24" } });
    const before = twosThings();
    expect(before.links.find((l) => l.startsWith("mhbr "))).toContain("10.96.0.1/24");

    await one.start();
    // At start and again from the health check, one finds the bridge marked by two and leaves it.
    const refusals = () => one.log.split("\n").filter((l) => l.includes('"network":"named"') && l.includes("now belongs to another hostd")).length;
    await waitFor("one's start and one health check to find mhbr taken", () => refusals() >= 2, 30_000);
    expect(twosThings()).toEqual(before);
    // Nor do one's rules for that network land on two's bridge (their drops would cut two's traffic).
    expect(table(one)).not.toContain('"mhbr"');
    const named = await one.client().network.get("named");
    expect(named.state).toBe("degraded");
    expect(named.problems).toContain(`bridge mhbr belongs to another hostd (host id ${two.hostId})`);

    expect(await one.client().network.delete({ name: "named" })).toEqual({ existed: true });
    expect(one.log).toMatch(/"msg":"left the bridge in place: it belongs to another hostd".*"bridge":"mhbr"/);
    expect(twosThings()).toEqual(before);
    expect((await two.client().network.get("taker")).state).toBe("active");
    await two.client().network.delete({ name: "taker" });
  });

  test("the legacy shared table: left when anything in it is not provably the hostd's, deleted when it is", async () => {
    const legacyFile = path.join(one.dir, "legacy.nft");
    const loadLegacy = (nets: Parameters<typeof renderRuleset>[1]) => {
      writeFileSync(legacyFile, renderRuleset(LEGACY_NFT_TABLE, nets));
      nsExec(ns.host, "nft", ["-f", legacyFile]);
    };
    const legacy = () => nsExec(ns.host, "nft", ["list", "tables"]).includes(`table inet ${LEGACY_NFT_TABLE}\n`);
    const mine = await one.client().network.get("one-net");
    const rules = { bridge: mine.bridge, cidr: mine.ipv4!.cidr, mode: "nat" as const };

    // As an older hostd with one's network and someone else's would have left it.
    loadLegacy([rules, { bridge: "kvbr-0123456789", cidr: "10.97.0.0/24", mode: "nat" }]);
    const foreign = nsExec(ns.host, "nft", ["list", "table", "inet", LEGACY_NFT_TABLE]);
    const before = twosThings();
    await restart(one);
    expect(nsExec(ns.host, "nft", ["list", "table", "inet", LEGACY_NFT_TABLE])).toBe(foreign);
    expect(one.log).toMatch(/"msg":"left the legacy firewall table alone: it is not provably this hostd's.*"foreignRules":\[[^\]]*kvbr-0123456789/);
    nsExec(ns.host, "nft", ["delete", "table", "inet", LEGACY_NFT_TABLE]);

    // Only one's own network: one's, now in its own table, so it goes.
    loadLegacy([rules]);
    await restart(one);
    expect(legacy()).toBe(false);
    expect(one.log).toMatch(/"msg":"deleted the legacy firewall table: its rules were this hostd's/);
    expect(table(one)).toContain(mine.bridge);
    expect(twosThings()).toEqual(before);
  });
});
