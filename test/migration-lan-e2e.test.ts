/**
 * A live move on a LAN both hosts share, as in a data centre: each host a
 * network namespace with its own hostd, its bridge `lan0` joined to one
 * switch through a veth pair, and a client namespace on the same segment.
 * Each hostd has a `bridge`-mode network on `lan0` (the admin's bridge).
 *
 * A guest on host a serves an echo service; a client on the LAN holds one
 * TCP connection to it, sending a line every 50 ms. The guest moves live to
 * host b while that goes on: the connection is never closed and goes on
 * echoing afterwards, the guest keeps its boot, address and MAC, its QEMU
 * runs in b's namespace and none in a's, its tap is on b's bridge and gone
 * from a's. Real QEMU (tiny guest, TCG here), real hostds, the SDK's move.
 */
import { ChildProcess, spawn } from "node:child_process";
import * as path from "node:path";
import * as readline from "node:readline";
import { announceAccelerator, tinyGuest, waitFor } from "./fixtures/env";
import { SerialConsole } from "./fixtures/console";
import { HostdFixture } from "./fixtures/hostd";
import { ip, Netns } from "./fixtures/netns";
import { Lan } from "./fixtures/lan";
import { migrateVm } from "../sdk/migrate";

jest.setTimeout(900_000);

const g = tinyGuest();
// The LAN has no DHCP server: the test gives the guest its address on the console.
const kernel = { path: g.kernel, initrd: g.initrd, cmdline: `${g.cmdline} tiny.dhcp=off` };
const owner = "test:migration-lan-e2e";
const nss: Netns[] = [];
let lan: Lan | undefined;
let a: HostdFixture;
let b: HostdFixture;
let probe: ChildProcess | undefined;

beforeAll(async () => {
  announceAccelerator();
  const hosts: HostdFixture[] = [];
  for (let i = 0; i < 2; i++) {
    const ns = Netns.create();
    nss.push(ns);
    hosts.push(await HostdFixture.start({ netns: ns.host }));
  }
  [a, b] = hosts as [HostdFixture, HostdFixture];
  lan = Lan.create(nss.map((n) => n.host));
  for (const hd of hosts) await hd.client().network.create({ name: "lan", mode: "bridge", bridge: lan.bridge, owner });
});

afterAll(async () => {
  probe?.kill("SIGKILL");
  for (const hd of [a, b]) await hd?.cleanup().catch((e: Error) => console.error(`cleanup of ${hd.stateDir}: ${e.message}`));
  lan?.cleanup();
  for (const ns of nss) ns.cleanup();
});

/** What the LAN client saw on its one connection (see test/fixtures/tcp-probe.js). */
interface Probe {
  connected: boolean;
  echoes: number;
  lastEcho: number;
  /** The longest time between two echoes (ms), from the client's clock. */
  maxGapMs: number;
  closed?: string;
}

/** Runs the TCP probe in the client namespace against `host:port`. */
function startProbe(ns: string, host: string, port: number): Probe {
  const seen: Probe = { connected: false, echoes: 0, lastEcho: 0, maxGapMs: 0 };
  probe = spawn("ip", ["netns", "exec", ns, process.execPath, path.join(__dirname, "fixtures", "tcp-probe.js"), host, String(port)], { stdio: ["ignore", "pipe", "inherit"] });
  readline.createInterface({ input: probe.stdout! }).on("line", (line) => {
    const [word, n, gap] = line.split(" ");
    if (word === "connected") seen.connected = true;
    else if (word === "echo") {
      seen.echoes++;
      seen.lastEcho = Number(n);
      // The first echo's gap counts from the connect, not from a previous echo.
      if (seen.echoes > 1) seen.maxGapMs = Math.max(seen.maxGapMs, Number(gap));
    } else if (word === "closed") seen.closed = line;
  });
  return seen;
}

/** Links in a host namespace whose master is `bridge`. */
function portsOf(ns: string, bridge: string): string[] {
  return (JSON.parse(ip("-j", "-n", ns, "link", "show", "master", bridge)) as { ifname: string }[]).map((l) => l.ifname).sort();
}

test("a live move keeps the guest's address, MAC and boot, and a LAN client's TCP connection goes on exchanging data", async () => {
  const ca = a.client();
  const cb = b.client();
  const vm = await ca.vm.create({ name: "web", vcpus: 1, memoryMiB: 256, kernel, networkInterfaces: [{ network: "lan" }], owner });
  const nic = vm.nics[0]!;
  expect(portsOf(nss[0]!.host, lan!.bridge)).toEqual([nic.tap, "up0"].sort());
  await waitFor("READY on the serial console", () => /READY ip=none/.test(a.serialLog(vm.id)), 180_000);
  const guestIp = lan!.address(10);
  let con = await SerialConsole.open(a.stateDir, vm.id);
  let bootId: string;
  let server: string;
  try {
    await con.ok(`ip link set eth0 up && ip addr add ${guestIp}/24 dev eth0`);
    expect((await con.ok("cat /sys/class/net/eth0/address")).trim()).toBe(nic.mac);
    bootId = (await con.ok("cat /proc/sys/kernel/random/boot_id")).trim();
    // One echo connection (busybox nc runs cat on it); its pid shows the same process serves it after the move.
    await con.ok("nc -l -p 7000 -e /bin/cat >/dev/null 2>&1 & echo $! > /tmp/server");
    server = (await con.ok("cat /tmp/server")).trim();
  } finally {
    con.close();
  }

  const seen = startProbe(lan!.client, guestIp, 7000);
  await waitFor("the LAN client's echoes", () => seen.closed ?? (seen.echoes >= 20 || undefined), 120_000, 100);
  expect(seen.closed).toBeUndefined();
  const beforeMove = seen.echoes;

  const moved = await migrateVm(ca, cb, { vm: "web", owner });
  const atSwitch = seen.echoes;
  expect(moved.vm).toMatchObject({ id: vm.id, state: "running" });

  // The same connection goes on: more echoes after the move, and it was never closed.
  await waitFor("echoes over the moved guest", () => seen.closed ?? (seen.echoes >= atSwitch + 40 || undefined), 120_000, 100);
  expect(seen.closed).toBeUndefined();
  console.log(`[migration-lan-e2e] live move on the LAN: downtime ${moved.downtimeMs} ms, guest pause ${moved.pauseMs} ms, total ${moved.totalMs} ms; the client's longest wait for an echo ${seen.maxGapMs} ms (TCG; a measurement, not a limit); ${beforeMove} echoes before, ${seen.echoes} by now`);

  // It runs in b's namespace now: its QEMU there, none in a's; its tap on b's bridge, none left on a's.
  const onB = await cb.vm.get("web");
  expect(onB).toMatchObject({ id: vm.id, state: "running" });
  expect(onB.nics.map((n) => n.mac)).toEqual([nic.mac]);
  expect(nss[1]!.processes("qemu-system")).toEqual([onB.pid]);
  expect(nss[0]!.processes("qemu-system")).toEqual([]);
  expect(portsOf(nss[1]!.host, lan!.bridge)).toEqual([onB.nics[0]!.tap, "up0"].sort());
  expect(portsOf(nss[0]!.host, lan!.bridge)).toEqual(["up0"]);
  await expect(ca.vm.get("web")).rejects.toMatchObject({ code: "not_found" });

  con = await SerialConsole.open(b.stateDir, vm.id);
  try {
    expect((await con.ok("cat /proc/sys/kernel/random/boot_id")).trim()).toBe(bootId);
    expect((await con.ok("cat /sys/class/net/eth0/address")).trim()).toBe(nic.mac);
    expect(await con.ok("ip -4 -o addr show dev eth0")).toContain(`inet ${guestIp}/24`);
    expect((await con.ok(`kill -0 ${server} && echo serving`)).trim()).toBe("serving");
  } finally {
    con.close();
  }
  probe?.kill("SIGKILL");
  probe = undefined;
  await cb.vm.delete({ name: "web" });
  expect(portsOf(nss[1]!.host, lan!.bridge)).toEqual(["up0"]);
});
