/**
 * Networks end to end with the real Pulumi CLI: `examples/lab` (one
 * isolated network, three tiny guests) is brought up against a real hostd
 * running inside a network namespace this test creates; the guests ping
 * each other by address and by DNS name over their serial consoles; a VM
 * that never asks for DHCP fails `waitFor: "ip"` with a useful message; and
 * `pulumi destroy` leaves nothing behind.
 */
import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { ipToInt } from "../sdk/ipv4";
import { announceAccelerator, REPO, tinyGuest } from "./fixtures/env";
import { HostdFixture } from "./fixtures/hostd";
import { Netns, nsExec } from "./fixtures/netns";
import { PulumiProject } from "./fixtures/pulumi";
import { SerialConsole } from "./fixtures/console";
import { nftTableName } from "../hostd/drivers/nft";

jest.setTimeout(900_000);

const g = tinyGuest();
/** The example program users read is the one under test. */
const PROGRAM = readFileSync(path.join(REPO, "examples", "lab", "index.ts"), "utf8");
/** Appended for one test: a guest that never runs a DHCP client. */
const SILENT_VM = `
if (cfg.getBoolean("silentVm")) {
  new kvm.Vm("silent", {
    name: \`\${prefix}-silent\`,
    memoryMiB: 128,
    kernel: { ...kernel, cmdline: \`\${kernel.cmdline} tiny.dhcp=off\` },
    networkInterfaces: [{ network: net }],
    waitFor: "ip",
    timeoutSeconds: 20,
  });
}
`;

let ns: Netns;
let hd: HostdFixture;
let p: PulumiProject;

beforeAll(async () => {
  announceAccelerator();
  ns = Netns.create();
  hd = await HostdFixture.start({ netns: ns.host });
  p = await PulumiProject.create(PROGRAM + SILENT_VM, {
    "kvm:socketPath": hd.socketPath,
    kernel: g.kernel,
    initrd: g.initrd,
    cmdline: g.cmdline,
  });
});

afterAll(async () => {
  await p?.cleanup();
  await hd?.cleanup();
  ns?.cleanup();
});

/** Everything hostd could leave behind: links, dnsmasq, nftables tables, network state files. */
function inventory() {
  return { ...ns.inventory(), networkFiles: readdirSync(path.join(hd.stateDir, "networks")) };
}

test("examples/lab: three VMs get addresses from the range and reach each other by IP and by name; destroy leaves nothing", async () => {
  const empty = inventory();
  expect(empty).toEqual({ links: [], dnsmasq: [], nftTables: [], networkFiles: [] });

  await p.up();
  const out = (await p.outputs()) as {
    ips: Record<string, string>;
    dnsNames: Record<string, string>;
    vmIds: Record<string, string>;
    network: { dhcpStart: string; dhcpEnd: string; bridge: string };
  };
  const names = Object.keys(out.ips).sort();
  expect(names).toEqual(["lab-vm1", "lab-vm2", "lab-vm3"]);
  for (const n of names) {
    const a = ipToInt(out.ips[n]!);
    expect(a).toBeGreaterThanOrEqual(ipToInt(out.network.dhcpStart));
    expect(a).toBeLessThanOrEqual(ipToInt(out.network.dhcpEnd));
  }
  expect(new Set(Object.values(out.ips)).size).toBe(3);
  // The example right after up: nothing left to do, read back from the hosts or planned (no perpetual diff).
  for (const op of ["refresh", "preview"] as const) {
    const r = await p.operation(op, { expectNoChanges: true, diff: true });
    if (r.code !== 0) console.log(r.output);
    expect(`${op} exited ${r.code}`).toBe(`${op} exited 0`);
  }

  // Each guest has configured the address it was leased...
  for (const n of names) {
    const c = await SerialConsole.open(hd.stateDir, out.vmIds[n]!);
    try {
      await c.hasAddress("eth0", out.ips[n]!);
    } finally {
      c.close();
    }
  }
  // ...and from inside each: ping the other two by address and by DNS name.
  for (const n of names) {
    const c = await SerialConsole.open(hd.stateDir, out.vmIds[n]!);
    try {
      for (const other of names.filter((x) => x !== n)) {
        await c.ok(`ping -c 1 -W 5 ${out.ips[other]}`);
        const byName = await c.ok(`ping -c 1 -W 5 ${out.dnsNames[other]}`);
        expect(byName).toContain(out.ips[other]);
      }
    } finally {
      c.close();
    }
  }
  const during = inventory();
  const taps = (await hd.client().vm.list()).vms.flatMap((v) => v.nics.map((n) => n.tap!));
  expect(taps).toHaveLength(3);
  expect(during.links).toEqual([out.network.bridge, ...taps].sort());
  expect(during.dnsmasq).toHaveLength(1);
  expect(during.nftTables).toEqual([`table inet ${nftTableName(hd.hostId)}`]);

  // A guest that never asks for DHCP: `waitFor: "ip"` fails after its timeout, naming VM, network and MAC.
  await p.setConfig("silentVm", "true");
  const t0 = Date.now();
  const failed = await p.operation("up");
  const upMs = Date.now() - t0;
  expect(failed.code).not.toBe(0);
  expect(failed.output).toMatch(/VM "lab-silent" got no IP address within 20 s: no DHCP lease from this boot for its NIC on network "lab-net" \(MAC 52:54:00(:[0-9a-f]{2}){3}/);
  expect(failed.output).toContain("The VM was deleted again");
  // Refresh reads leases without waiting for any.
  const t1 = Date.now();
  await p.mustOperation("refresh");
  console.log(`[network-e2e] failing up (20 s waitFor timeout) took ${upMs} ms; refresh after it took ${Date.now() - t1} ms`);
  expect(await hd.client().vm.get("lab-silent").catch((e: { code: string }) => e.code)).toBe("not_found");
  await p.setConfig("silentVm", "false");

  await p.mustOperation("destroy");
  expect(inventory()).toEqual(empty);
  expect(nsExec(ns.host, "nft", ["list", "ruleset"])).not.toContain("pulumi_kvm");
});

test("bad networks are refused at preview (names) or apply (subnet taken) and change nothing", async () => {
  const q = await PulumiProject.create(
    `import * as pulumi from "@pulumi/pulumi";
import * as kvm from "pulumi-kvm";
const cfg = new pulumi.Config();
new kvm.Network("first", { name: "first", mode: "isolated", ipv4: { cidr: "10.50.0.0/24" } });
if (cfg.getBoolean("extra")) {
  new kvm.Network("extra", { name: "extra", mode: "nat", ipv4: { cidr: cfg.require("extraCidr") }, bridge: cfg.get("extraBridge") });
}
`,
    { "kvm:socketPath": hd.socketPath },
  );
  try {
    await q.up();
    const before = inventory();
    expect(before.dnsmasq).toHaveLength(1);

    await q.setConfig("extra", "true");
    await q.setConfig("extraCidr", "10.50.0.128/25");
    const overlap = await q.operation("up");
    expect(overlap.code).not.toBe(0);
    expect(overlap.output).toContain('Subnet 10.50.0.128/25 of network "extra" overlaps subnet 10.50.0.0/24 of network "first"');
    expect(inventory()).toEqual(before);

    await q.setConfig("extraCidr", "10.51.0.0/24");
    await q.setConfig("extraBridge", "bridge-name-16ch");
    const long = await q.operation("preview");
    expect(long.code).not.toBe(0);
    expect(long.output).toMatch(/bridge: must be a Linux interface name: .*15 characters/);
    expect(inventory()).toEqual(before);
  } finally {
    await q.cleanup();
  }
});
