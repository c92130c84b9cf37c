/**
 * The capabilities hostd announces in `host.hello`, probed at start: a
 * capability that needs something this host may lack (the UEFI firmware, an
 * ISO tool, QEMU's user-mode network, the network tools, qemu-img) is
 * announced only when that is there, so a client can tell before it asks for
 * a VM that would fail to start here.
 *
 * The others are features of hostd itself (its protocol and its own code)
 * and of QEMU, which hostd refuses to start without; they are always there:
 *   vm.kernel-boot, vm.list, vm.update.restart, vm.cdrom, vm.console,
 *   vm.guest-agent, vm.nic.hotplug  QEMU's own devices and QMP;
 *   idempotency, host.events, host.id, owners, host.capacity, host.cpu
 *     hostd's protocol and its database;
 *   migration  QEMU's migration and NBD server, hostd's protocol.
 */
import { existsSync } from "node:fs";
import { Capability } from "../sdk/protocol";
import { isoTool } from "./drivers/cloud-init";
import { TUN } from "./drivers/netlink";
import { run } from "./exec";
import { probeTool } from "./ops/doctor";
import { OVMF, ovmfMissing } from "./services/vm-files";

/** What the host has, of what some capabilities need. */
export interface CapabilityFacts {
  /** The OVMF firmware files are there. */
  uefi: boolean;
  /** An ISO tool builds cloud-init seeds (drivers/cloud-init.ts). */
  isoTool: boolean;
  /** QEMU was built with user-mode networking (slirp). */
  userNetdev: boolean;
  /** ip, nft and dnsmasq run: hostd can make bridges, rules and DHCP. */
  networkTools: boolean;
  /** The tun device taps are opened through. */
  tun: boolean;
  /** qemu-img runs: disks and images are made, read and resized with it. */
  qemuImg: boolean;
}

/** Each capability that depends on the host, and what it needs. */
const NEEDS: Partial<Record<Capability, (f: CapabilityFacts) => boolean>> = {
  "vm.firmware.uefi": (f) => f.uefi,
  "vm.cloud-init": (f) => f.isoTool,
  "vm.nic.user": (f) => f.userNetdev,
  networks: (f) => f.networkTools,
  "vm.nic.network": (f) => f.networkTools && f.tun,
  disks: (f) => f.qemuImg,
  "disks.grow-online": (f) => f.qemuImg,
  "vm.disks.hotplug": (f) => f.qemuImg,
  images: (f) => f.qemuImg,
};

/** Pure: the capabilities a host with `facts` announces, in the protocol's order. */
export function capabilitiesOf(facts: CapabilityFacts): Capability[] {
  return Capability.options.filter((c) => NEEDS[c]?.(facts) ?? true);
}

/** Where the probe looks; the defaults are the files and programs hostd itself uses. */
export interface CapabilityProbeOptions {
  ovmf?: { code: string; vars: string };
  tun?: string;
  qemu: string;
  programs?: { qemuImg: string; ip: string; nft: string; dnsmasq: string };
  /** Finds the ISO tool; rejects when there is none. */
  isoTool?: () => Promise<unknown>;
}

/** Reads the facts from this host (a few short program runs, in parallel). */
export async function probeCapabilityFacts(o: CapabilityProbeOptions): Promise<CapabilityFacts> {
  const programs = o.programs ?? { qemuImg: "qemu-img", ip: "ip", nft: "nft", dnsmasq: "dnsmasq" };
  const [iso, userNetdev, qemuImg, ip, nft, dnsmasq] = await Promise.all([
    (o.isoTool ?? isoTool)().then(
      () => true,
      () => false,
    ),
    qemuNetdevs(o.qemu).then((kinds) => kinds.includes("user")),
    probeTool(programs.qemuImg, ["--version"]),
    probeTool(programs.ip, ["-V"]),
    probeTool(programs.nft, ["--version"]),
    probeTool(programs.dnsmasq, ["--version"]),
  ]);
  return {
    uefi: ovmfMissing(o.ovmf ?? OVMF) === undefined,
    isoTool: iso,
    userNetdev,
    networkTools: ip.found && nft.found && dnsmasq.found,
    tun: existsSync(o.tun ?? TUN),
    qemuImg: qemuImg.found,
  };
}

/** The netdev backends this QEMU was built with (`-netdev help`); none when it cannot say. */
async function qemuNetdevs(qemu: string): Promise<string[]> {
  try {
    const { stdout } = await run(qemu, ["-netdev", "help"], { timeoutMs: 10_000 });
    return stdout
      .split("\n")
      .slice(1)
      .map((l) => l.trim())
      .filter((l) => l !== "");
  } catch {
    return [];
  }
}
