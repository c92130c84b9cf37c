import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { Capability } from "../sdk/protocol";
import { capabilitiesOf, CapabilityFacts, probeCapabilityFacts } from "./capabilities";

let dir: string;
beforeEach(() => (dir = mkdtempSync(path.join(tmpdir(), "caps-"))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const all: CapabilityFacts = { uefi: true, isoTool: true, userNetdev: true, networkTools: true, tun: true, qemuImg: true };

/** A file at `name` in the test's directory. */
function file(name: string, text = ""): string {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
}

/** A program that prints `out` whatever it is asked (stands in for QEMU and the tools). */
function program(name: string, out: string): string {
  const p = file(name, `#!${process.execPath}\nprocess.stdout.write(${JSON.stringify(out)});\n`);
  chmodSync(p, 0o755);
  return p;
}

test("a host with everything announces every capability", () => {
  expect(capabilitiesOf(all)).toEqual(Capability.options);
});

test.each([
  ["uefi", ["vm.firmware.uefi"]],
  ["isoTool", ["vm.cloud-init"]],
  ["userNetdev", ["vm.nic.user"]],
  ["networkTools", ["networks", "vm.nic.network"]],
  ["tun", ["vm.nic.network"]],
  ["qemuImg", ["disks", "disks.grow-online", "images", "vm.disks.hotplug"]],
] as const)("without %s, hostd does not announce %j (and announces the rest)", (fact, gone) => {
  const caps = capabilitiesOf({ ...all, [fact]: false });
  expect(Capability.options.filter((c) => !caps.includes(c)).sort()).toEqual([...gone].sort());
});

test("the probe reads the firmware files, the tun device, QEMU's netdevs and the tools where it is told", async () => {
  const tool = program("tool", "tool version 1\n");
  const present = {
    ovmf: { code: file("CODE.fd"), vars: file("VARS.fd") },
    tun: file("tun"),
    qemu: program("qemu", "Available netdev backend types:\nsocket\ntap\nuser\n"),
    programs: { qemuImg: tool, ip: tool, nft: tool, dnsmasq: tool },
    isoTool: () => Promise.resolve({}),
  };
  expect(await probeCapabilityFacts(present)).toEqual(all);

  const missing = path.join(dir, "missing");
  const absent = {
    // Only the variable store is missing: UEFI VMs cannot start without it either.
    ovmf: { code: present.ovmf.code, vars: missing },
    tun: missing,
    // A QEMU built without slirp lists no `user` backend.
    qemu: program("qemu-no-slirp", "Available netdev backend types:\nsocket\ntap\n"),
    programs: { qemuImg: missing, ip: tool, nft: tool, dnsmasq: missing },
    isoTool: () => Promise.reject(new Error("neither xorriso nor genisoimage")),
  };
  expect(await probeCapabilityFacts(absent)).toEqual({ uefi: false, isoTool: false, userNetdev: false, networkTools: false, tun: false, qemuImg: false });
  expect((await probeCapabilityFacts({ ...present, qemu: missing })).userNetdev).toBe(false);
});
