/**
 * Networks against real components, all inside network namespaces this test
 * creates: hostd runs in a "host" namespace with its bridges, taps, dnsmasq
 * and nftables; an "outside" namespace behind the host's default route runs
 * a TCP service standing in for the world. Guests (tiny Debian guest, TCG
 * here) are driven over their serial consoles.
 */
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import { KvmError } from "../sdk/errors";
import type { VmInfo } from "../sdk/protocol";
import { announceAccelerator, HOSTD_CLI, NODE, tinyGuest, waitFor } from "./fixtures/env";
import { HostdFixture } from "./fixtures/hostd";
import { ip, Netns, nsExec } from "./fixtures/netns";
import { SerialConsole } from "./fixtures/console";
import { nftTableName } from "../hostd/drivers/nft";

jest.setTimeout(300_000);

const g = tinyGuest();
const kernel = { path: g.kernel, initrd: g.initrd, cmdline: g.cmdline };
const PORT = 8080;
let ns: Netns;
let hd: HostdFixture;
let server: ChildProcess;
const consoles: SerialConsole[] = [];

beforeAll(async () => {
  announceAccelerator();
  ns = Netns.create().withOutside();
  // The "outside" service: tells each client the address it sees the connection come from.
  server = spawn("ip", ["netns", "exec", ns.outside!, NODE, "-e",
    `require("node:net").createServer((s) => s.end("from " + s.remoteAddress.replace(/^::ffff:/, "") + "\\n")).listen(${PORT}, "${ns.outsideAddr}", () => console.log("listening"))`,
  ], { stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((resolve) => server.stdout!.once("data", () => resolve()));
  hd = await HostdFixture.start({ netns: ns.host });
});

afterAll(async () => {
  for (const c of consoles) c.close();
  if (process.env.PKVM_DEBUG) console.log(hd?.log);
  await hd?.cleanup();
  server?.kill("SIGKILL");
  ns?.cleanup();
});

async function console_(vm: VmInfo): Promise<SerialConsole> {
  const c = await SerialConsole.open(hd.stateDir, vm.id);
  consoles.push(c);
  await waitFor(`${vm.name} to be READY`, () => /READY/.test(hd.serialLog(vm.id)), 120_000);
  return c;
}

/** Waits until NIC `i` of the VM reports an address (from this boot's DHCP lease). */
async function ipOf(name: string, i = 0, timeoutMs = 60_000): Promise<string> {
  const c = hd.client();
  return waitFor(`an address on NIC ${i} of ${name}`, async () => (await c.vm.get(name)).nics[i]?.ipAddresses.find((a) => !a.includes(":")), timeoutMs, 300);
}

test("conflicts are refused with a clear error before anything changes", async () => {
  const c = hd.client();
  await c.network.create({ name: "first", mode: "isolated", ipv4: { cidr: "10.70.0.0/24" } });
  ip("-n", ns.host, "link", "add", "takenbr", "type", "bridge");
  const before = ns.inventory();

  const refused = async (p: Promise<unknown>, code: string, words: RegExp) => {
    const e = (await p.then(() => undefined, (x: unknown) => x)) as KvmError;
    expect(e).toBeInstanceOf(KvmError);
    expect(e.code).toBe(code);
    expect(e.message).toMatch(words);
  };
  await refused(c.network.create({ name: "overlap", mode: "nat", ipv4: { cidr: "10.70.0.128/25" } }), "conflict", /overlaps subnet 10\.70\.0\.0\/24 of network "first"/);
  await refused(c.network.create({ name: "hostroute", mode: "nat", ipv4: { cidr: "203.0.113.0/24" } }), "conflict", /overlaps 203\.0\.113\.0\/24, the address 203\.0\.113\.1\/24 of interface veth-out/);
  await refused(c.network.create({ name: "taken", mode: "nat", bridge: "takenbr", ipv4: { cidr: "10.71.0.0/24" } }), "conflict", /"takenbr" already exists/);
  await refused(c.network.create({ name: "longname", bridge: "a-very-long-bridge-name", ipv4: { cidr: "10.72.0.0/24" } }), "invalid_params", /15 characters/);
  await refused(c.network.create({ name: "nobr", mode: "bridge", bridge: "missingbr" }), "conflict", /"missingbr" does not exist/);
  await refused(c.network.create({ name: "badrange", ipv4: { cidr: "10.73.0.0/24" }, dhcp: { start: "10.73.0.200", end: "10.73.0.100" } }), "invalid_params", /after its end/);

  expect(ns.inventory()).toEqual(before);
  expect((await c.network.list()).networks.map((n) => n.name)).toEqual(["first"]);

  // In place: isolated -> nat (rules change), a new DHCP range (dnsmasq restarts), same bridge.
  const bridge = (await c.network.get("first")).bridge;
  expect(nsExec(ns.host, "nft", ["list", "table", "inet", nftTableName(hd.hostId)])).not.toContain("masquerade");
  const upd = await c.network.update({ name: "first", mode: "nat", dhcp: { start: "10.70.0.10", end: "10.70.0.20" } });
  expect(upd).toMatchObject({ bridge, state: "active", ipv4: { dhcpStart: "10.70.0.10", dhcpEnd: "10.70.0.20" } });
  expect(nsExec(ns.host, "nft", ["list", "table", "inet", nftTableName(hd.hostId)])).toMatch(/ip saddr 10\.70\.0\.0\/24 ip daddr != 10\.70\.0\.0\/24 masquerade/);
  expect(ns.inventory().dnsmasq).toHaveLength(1);
  await refused(c.network.update({ name: "first", dhcp: { start: "10.70.0.1", end: "10.70.0.20" } }), "invalid_params", /must not include the gateway 10\.70\.0\.1/);
  expect((await c.network.get("first")).ipv4?.dhcpStart).toBe("10.70.0.10");
  // The human CLI over the same API.
  const table = execFileSync(NODE, [HOSTD_CLI, "network", "list", "--socket", hd.socketPath], { encoding: "utf8" });
  expect(table).toMatch(new RegExp(`^first\\s+nat\\s+${bridge}\\s+10\\.70\\.0\\.0/24\\s+10\\.70\\.0\\.1\\s+active`, "m"));
  await c.network.delete({ name: "first" });
  ip("-n", ns.host, "link", "del", "takenbr");
});

test("bridge mode: a VM's tap joins the host's own bridge; hostd adds nothing else and leaves the bridge", async () => {
  const c = hd.client();
  ip("-n", ns.host, "link", "add", "lanbr", "type", "bridge");
  ip("-n", ns.host, "link", "set", "lanbr", "up");
  const before = ns.inventory();
  const net = await c.network.create({ name: "lan", mode: "bridge", bridge: "lanbr" });
  expect(net).toMatchObject({ bridge: "lanbr", ipv4: null, state: "active", leases: [] });
  // No dnsmasq, no rules: the LAN's own DHCP and firewall serve bridged VMs.
  expect(ns.inventory()).toEqual(before);
  const vm = await c.vm.create({ name: "bridged", memoryMiB: 128, kernel, networkInterfaces: [{ network: "lan" }] });
  const tap = vm.nics[0]!.tap!;
  const link = (JSON.parse(ip("-j", "-n", ns.host, "link", "show", "dev", tap)) as { master?: string }[])[0]!;
  expect(link.master).toBe("lanbr");
  await c.vm.delete({ name: "bridged" });
  await c.network.delete({ name: "lan" });
  // The tap is gone with the VM; the host's bridge stays, as it was.
  expect(ns.inventory()).toEqual(before);
  ip("-n", ns.host, "link", "del", "lanbr");
});

describe("VMs on nat and isolated networks", () => {
  let a: VmInfo;
  let b: VmInfo;
  let ca: SerialConsole;
  let cb: SerialConsole;
  let empty: ReturnType<Netns["inventory"]>;

  beforeAll(async () => {
    const c = hd.client();
    empty = ns.inventory();
    await c.network.create({ name: "wan", mode: "nat", ipv4: { cidr: "10.77.0.0/24" }, domain: "wan.test", mtu: 1400 });
    await c.network.create({ name: "lab", mode: "isolated", ipv4: { cidr: "10.78.0.0/24" }, domain: "lab.test", dhcp: { start: "10.78.0.100", end: "10.78.0.150" } });
    [a, b] = await Promise.all([
      c.vm.create({ name: "a", memoryMiB: 128, kernel, networkInterfaces: [{ network: "wan" }] }),
      c.vm.create({ name: "b", memoryMiB: 128, kernel, networkInterfaces: [{ network: "lab", ip: "10.78.0.50" }] }),
    ]);
    [ca, cb] = await Promise.all([console_(a), console_(b)]);
  });

  test("DHCP gives addresses from the range, and the static lease its address", async () => {
    const ipA = await ipOf("a");
    expect(ipA).toMatch(/^10\.77\.0\.(\d+)$/);
    expect(Number(ipA.split(".")[3])).toBeGreaterThanOrEqual(2);
    expect(await ipOf("b")).toBe("10.78.0.50");
    expect(await cb.ok("ip -4 -o addr show dev eth0")).toContain("10.78.0.50/24");
    // The network's MTU is on its bridge and on the VM's tap.
    const wan = await hd.client().network.get("wan");
    const mtu = (dev: string) => (JSON.parse(ip("-j", "-n", ns.host, "link", "show", "dev", dev)) as { mtu: number }[])[0]!.mtu;
    expect([mtu(wan.bridge), mtu(a.nics[0]!.tap!)]).toEqual([1400, 1400]);
    const info = await hd.client().network.get("lab");
    expect(info.state).toBe("active");
    expect(info.vms).toEqual(["b"]);
    expect(info.leases).toContainEqual(expect.objectContaining({ ip: "10.78.0.50", mac: b.nics[0]!.mac, hostname: "b" }));
  });

  test("nat: the guest reaches a service outside through the masquerade; isolated: it cannot", async () => {
    const out = await ca.ok(`nc -w 10 ${ns.outsideAddr} ${PORT} </dev/null`);
    // The outside sees the host's address, not the guest's private one: masquerade did it.
    expect(out).toContain(`from ${ns.hostAddr}`);
    const iso = await cb.run(`nc -w 5 ${ns.outsideAddr} ${PORT} </dev/null`);
    expect(iso.exitCode).not.toBe(0);
    expect(iso.output).not.toContain("from ");
    // No default route was handed out on the isolated network...
    expect(await cb.ok("ip route")).not.toContain("default");
    // ...and a guest that adds one itself is still stopped by hostd's forwarding rules.
    await cb.ok("ip route add default via 10.78.0.1");
    const forced = await cb.run(`nc -w 5 ${ns.outsideAddr} ${PORT} </dev/null`);
    expect(forced.exitCode).not.toBe(0);
    expect(forced.output).not.toContain("from ");
    await cb.ok("ip route del default");
  });

  test("hot-plugging a NIC on another network gives it a lease there, same QEMU; names resolve", async () => {
    const c = hd.client();
    const { vm, restarted, hotplugged } = await c.vm.update({ name: "a", networkInterfaces: [{ network: "wan" }, { network: "lab" }] });
    expect(restarted).toBe(false);
    expect(vm.pid).toBe(a.pid);
    expect(vm.nics[0]!.mac).toBe(a.nics[0]!.mac);
    expect(hotplugged).toEqual([`+nic:${vm.nics[1]!.mac}`]);
    const ipLab = await ipOf("a", 1, 90_000);
    expect(ipLab).toMatch(/^10\.78\.0\.1([0-4]\d|50)$/);
    await ca.hasAddress("eth1", ipLab);
    // From inside the guests: by address, and by name through the network's DNS.
    await ca.ok("ping -c 1 -W 5 10.78.0.50");
    await ca.ok("ping -c 1 -W 5 b.lab.test");
    await cb.ok(`ping -c 1 -W 5 a.lab.test`);
    expect(await cb.ok("nslookup a.lab.test")).toContain(ipLab);
  });

  test("changing memory restarts the VM with the same MACs and addresses", async () => {
    const c = hd.client();
    const before = await c.vm.get("a");
    const ips = [await ipOf("a", 0), await ipOf("a", 1)];
    const { vm, restarted } = await c.vm.update({ name: "a", memoryMiB: 160, stopTimeoutSeconds: 20 });
    expect(restarted).toBe(true);
    expect(vm.pid).not.toBe(before.pid);
    expect(vm.nics.map((n) => n.mac)).toEqual(before.nics.map((n) => n.mac));
    // Reported only once the new boot asked for its leases again.
    expect([await ipOf("a", 0), await ipOf("a", 1)]).toEqual(ips);
    ca.close();
    ca = await console_(vm);
    a = vm;
    await ca.hasAddress("eth0", ips[0]!);
    await ca.hasAddress("eth1", ips[1]!);
  });

  test("hostd killed and restarted: VMs keep connectivity, nothing is duplicated", async () => {
    const before = ns.inventory();
    await hd.kill("SIGKILL");
    await ca.ok("ping -c 1 -W 5 10.78.0.50");
    await hd.start();
    expect(ns.inventory()).toEqual(before);
    await ca.ok("ping -c 1 -W 5 b.lab.test");
    expect((await hd.client().network.get("lab")).state).toBe("active");
  });

  test("bridges and dnsmasq removed as by a host reboot: restored, connectivity back within seconds", async () => {
    const before = ns.inventory();
    const c = hd.client();
    const bridges = (await c.network.list()).networks.map((n) => n.bridge);
    // While hostd runs: its health check notices and repairs.
    for (const p of before.dnsmasq) process.kill(p, "SIGKILL");
    for (const br of bridges) ip("-n", ns.host, "link", "del", br);
    nsExec(ns.host, "nft", ["delete", "table", "inet", nftTableName(hd.hostId)]);
    const t0 = Date.now();
    await waitFor("networks to be active again", async () => (await c.network.list()).networks.every((n) => n.state === "active"), 30_000, 250);
    await waitFor("a to reach b again", async () => (await ca.run("ping -c 1 -W 1 10.78.0.50")).exitCode === 0, 30_000, 250);
    console.log(`[network] restored by the health check; a reaches b again ${Date.now() - t0} ms after the removal`);
    expect(ns.inventory().links).toEqual(before.links);
    expect(ns.inventory().dnsmasq).toHaveLength(2);

    // With hostd down as well (the reboot case): hostd's start restores them.
    await hd.kill("SIGKILL");
    for (const p of ns.inventory().dnsmasq) process.kill(p, "SIGKILL");
    for (const br of bridges) ip("-n", ns.host, "link", "del", br);
    nsExec(ns.host, "nft", ["delete", "table", "inet", nftTableName(hd.hostId)]);
    expect((await ca.run("ping -c 1 -W 1 10.78.0.50")).exitCode).not.toBe(0);
    await hd.start();
    await waitFor("a to reach b again", async () => (await ca.run("ping -c 1 -W 1 b.lab.test")).exitCode === 0, 30_000, 250);
    const after = ns.inventory();
    expect(after.links).toEqual(before.links);
    expect(after.dnsmasq).toHaveLength(2);
    expect(after.nftTables).toEqual(before.nftTables);
    // NAT works again too.
    expect(await ca.ok(`nc -w 10 ${ns.outsideAddr} ${PORT} </dev/null`)).toContain(`from ${ns.hostAddr}`);
  });

  test("a network with VMs cannot be deleted; once they are gone nothing is left", async () => {
    const c = hd.client();
    const before = ns.inventory();
    const e = (await c.network.delete({ name: "lab" }).catch((x: unknown) => x)) as KvmError;
    expect(e.code).toBe("invalid_state");
    expect(e.message).toMatch(/still has VMs attached: "a", "b"/);
    expect(ns.inventory()).toEqual(before);

    ca.close();
    cb.close();
    await c.vm.delete({ name: "a" });
    await c.vm.delete({ name: "b" });
    await c.network.delete({ name: "lab" });
    await c.network.delete({ name: "wan" });
    expect(ns.inventory()).toEqual(empty);
    expect(nsExec(ns.host, "nft", ["list", "ruleset"])).not.toContain("pulumi_kvm");
  });
});
